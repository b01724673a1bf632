/**
 * The default detector (`faceapi`: face-api's nets on onnxruntime, faceapi_onnx.ts) on real photos
 * from ../shared: a face in every example photo of deepface, face_recognition and openface and in
 * nearly every CelebA photo of a sample, the five points in ArcFace order and derived from the 68,
 * the options; and its errors, which need no photos.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ArcfaceError } from '../src/errors.js';
import {
  createDetector,
  FaceApiOnnxDetector,
  FACEAPI_DEFAULTS,
  type Detector,
} from '../src/face/detectors/index.js';
import type { Face, Point } from '../src/face/types.js';
import { decodeImage } from '../src/image/decode.js';
import { rgbImage } from '../src/image/types.js';

const SHARED = fileURLToPath(new URL('../../shared', import.meta.url));
const FACES = join(SHARED, 'data/faces');
const CELEBA = join(SHARED, 'data/train/celeba-subset/Celeb');
const FOLDERS = ['deepface/tests/unit/dataset', 'face_recognition/examples', 'openface/images/examples'].map(
  (f) => join(FACES, f),
);
const NO_PHOTOS = FOLDERS.every(existsSync) ? false : `${FACES}: the shared face photos are absent`;

function photos(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? photos(join(dir, e.name)) : /\.(jpe?g|png)$/i.test(e.name) ? [join(dir, e.name)] : [],
    )
    .sort();
}

/** Upright-face sanity of the five points and their agreement with the 68. */
function checkPoints(f: Face, where: string): void {
  const [le, re, nose, lm, rm] = f.landmarks;
  assert.ok(le[0] < re[0] && lm[0] < rm[0], `${where}: left/right swapped`);
  const eyeY = (le[1] + re[1]) / 2;
  const mouthY = (lm[1] + rm[1]) / 2;
  assert.ok(eyeY < nose[1] && nose[1] < mouthY, `${where}: nose not between eyes and mouth`);
  const p = f.landmarks68;
  assert.ok(p && p.length === 68, `${where}: landmarks68 missing`);
  const mean = (a: number, b: number): Point => {
    const s = p.slice(a, b + 1);
    return [s.reduce((t, q) => t + q[0], 0) / s.length, s.reduce((t, q) => t + q[1], 0) / s.length];
  };
  for (const [got, want] of [
    [le, mean(36, 41)],
    [re, mean(42, 47)],
    [nose, p[30]],
    [lm, p[48]],
    [rm, p[54]],
  ])
    assert.ok(Math.hypot(got[0] - want[0], got[1] - want[1]) < 1e-9, `${where}: five points not from the 68`);
}

describe('faceapi (default) on real photos', { skip: NO_PHOTOS }, () => {
  let det: Detector;
  before(async () => {
    det = await createDetector('faceapi');
  });
  after(async () => {
    await det?.dispose();
  });

  it('is face-api on onnxruntime with the measured defaults', () => {
    assert.ok(det instanceof FaceApiOnnxDetector);
    assert.equal(det.kind, 'faceapi');
    assert.match(det.name, /^face-api .*landmark68.*\(onnxruntime\)$/);
    assert.equal(det.defaults.scoreThreshold, FACEAPI_DEFAULTS.scoreThreshold);
  });

  it("finds a face in every photo of deepface's, face_recognition's and openface's examples", async () => {
    const missed: string[] = [];
    let n = 0;
    for (const dir of FOLDERS)
      for (const path of photos(dir)) {
        const faces = await det.detect(await decodeImage(path));
        n++;
        if (!faces.length) missed.push(path.slice(FACES.length + 1));
        // The most confident face of a one-person photo is upright and frontal enough.
        if (faces.length) checkPoints(faces[0], path.slice(FACES.length + 1));
        for (const f of faces) assert.equal(f.landmarks68?.length, 68);
      }
    assert.ok(n >= 90, `only ${n} photos`);
    assert.deepEqual(missed, []);
  });

  it('finds both or all faces of group photos, and keep / maxFaces pick among them', async () => {
    for (const [rel, min] of [
      ['openface/images/examples/longoria-cooper.jpg', 2],
      ['face_recognition/examples/two_people.jpg', 2],
      ['face_recognition/examples/knn_examples/test/obama_and_biden.jpg', 2],
      ['deepface/tests/unit/dataset/couple.jpg', 2],
    ] as const) {
      const img = await decodeImage(join(FACES, rel));
      const all = await det.detect(img);
      assert.ok(all.length >= min, `${rel}: ${all.length} faces`);
      const area = (f: Face) => (f.box.x2 - f.box.x1) * (f.box.y2 - f.box.y1);
      const [largest, ...rest] = await det.detect(img, { keep: 'largest' });
      assert.equal(rest.length, 0);
      assert.equal(area(largest), Math.max(...all.map(area)));
      assert.equal((await det.detect(img, { maxFaces: 1 })).length, 1);
      assert.ok(
        all.every((f, i) => i === 0 || f.score <= all[i - 1].score),
        'score descending',
      );
    }
  });

  it('finds a face in at least 98 of 100 CelebA photos (spread over the 4,809)', async (t) => {
    if (!existsSync(CELEBA)) return t.skip(`${CELEBA} absent`);
    const all = photos(CELEBA);
    const sample = Array.from({ length: 100 }, (_, i) => all[Math.floor((i * all.length) / 100)]);
    const missed: string[] = [];
    for (const path of sample) if (!(await det.detect(await decodeImage(path))).length) missed.push(path);
    assert.ok(missed.length <= 2, `no face in ${missed.join(', ')}`);
  });
});

describe('faceapi (default) without photos', () => {
  let det: FaceApiOnnxDetector;
  before(async () => {
    det = await FaceApiOnnxDetector.open();
  });
  after(async () => {
    await det?.dispose();
  });

  it('finds nothing in a flat grey image', async () => {
    const img = rgbImage(320, 240);
    img.data.fill(128);
    assert.deepEqual(await det.detect(img), []);
  });

  it('refuses a malformed image and bad options, naming them', async () => {
    const bad = async (p: Promise<unknown>, re: RegExp) =>
      assert.rejects(p, (err: ArcfaceError) => {
        assert.equal(err.code, 'BAD_INPUT');
        assert.match(err.message, re);
        return true;
      });
    await bad(det.detect({ width: 10, height: 10, data: new Uint8Array(12) }), /image data has 12 bytes/);
    await bad(det.detect({ width: 0, height: 10, data: new Uint8Array(0) }), /image size 0x10/);
    const img = rgbImage(64, 64);
    await bad(det.detect(img, { scoreThreshold: 1.5 }), /scoreThreshold: 1.5/);
    await bad(det.detect(img, { keep: 'biggest' as never }), /keep: "biggest"/);
    await bad(FaceApiOnnxDetector.open({ passes: [] }), /at least one/);
    await bad(
      FaceApiOnnxDetector.open({ passes: [{ net: 'tiny', size: 100 }] }),
      /size: 100 is not a multiple of 32/,
    );
    await bad(FaceApiOnnxDetector.open({ passes: [{ net: 'ssd', pad: 0.5 }] }), /pad: 0.5/);
    await bad(FaceApiOnnxDetector.open({ landmarkPasses: 3 as never }), /landmarkPasses: 3/);
  });

  it('refuses to run after dispose()', async () => {
    const d = await FaceApiOnnxDetector.open();
    await d.dispose();
    await d.dispose(); // twice is fine
    await assert.rejects(d.detect(rgbImage(32, 32)), /after dispose/);
  });
});
