/**
 * Every detector on CompreFace's embedding-calculator/sample_images (../shared; 18 photos, 46 faces
 * annotated by their nose point in annotations.py, read at run time). Bounds are the measured
 * counts minus one face of slack (see bench/detect_quality.ts for the table). Also: landmark
 * sanity, agreement between detectors, EXIF orientation, bad model files, face-api's tensors.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { ArcfaceError } from '../src/errors.js';
import { matchToPoints, median, parseNoseAnnotations } from '../src/face/detectors/evaluate.js';
import {
  createDetector,
  FaceApiDetector,
  YuNetDetector,
  type Detector,
  type DetectorKind,
} from '../src/face/detectors/index.js';
import type { Face, Point } from '../src/face/types.js';
import { decodeImage } from '../src/image/decode.js';
import type { RgbImage } from '../src/image/types.js';
import { tf } from '../src/runtime/backend.js';

const SHARED = fileURLToPath(new URL('../../shared', import.meta.url));
const IMAGES = join(SHARED, 'data/faces/compreface/embedding-calculator/sample_images');
const MODELS = join(SHARED, 'models/detectors');
const NO_IMAGES = existsSync(join(IMAGES, 'annotations.py'))
  ? false
  : `${IMAGES} not found: the shared face photos are absent`;

interface Spec {
  kind: DetectorKind;
  rel?: string;
  /** face-api's own tfjs path instead of the default onnxruntime one. */
  tfjs?: boolean;
  /**
   * Measured on the 46 faces: faceapi (onnxruntime default) 46, faceapi tfjs 44, YuNet 43, SCRFD
   * 46, RetinaFace 46; FP 0, 0, 0, 0-1, 1.
   */
  minMatched: number;
  maxFp: number;
}
const SPECS: Spec[] = [
  { kind: 'faceapi', minMatched: 45, maxFp: 1 },
  { kind: 'faceapi', tfjs: true, minMatched: 43, maxFp: 1 },
  { kind: 'yunet', rel: 'yunet/face_detection_yunet_2023mar.onnx', minMatched: 42, maxFp: 1 },
  { kind: 'yunet', rel: 'yunet/face_detection_yunet_2026may.onnx', minMatched: 42, maxFp: 1 },
  { kind: 'scrfd', rel: 'scrfd/scrfd_500m.onnx', minMatched: 45, maxFp: 1 },
  { kind: 'scrfd', rel: 'scrfd/scrfd_2.5g.onnx', minMatched: 45, maxFp: 2 },
  { kind: 'retinaface', rel: 'retinaface/retinaface_mnet025.onnx', minMatched: 45, maxFp: 2 },
];
const label = (s: Spec) => s.rel ?? (s.tfjs ? `${s.kind} tfjs` : s.kind);
const modelPath = (s: Spec) => (s.rel ? join(MODELS, s.rel) : undefined);
const skipFor = (s: Spec): string | false =>
  NO_IMAGES || (s.rel && !existsSync(join(MODELS, s.rel)) ? `${join(MODELS, s.rel!)} not found` : false);

/** Per detector label, per file: faces and their match against the annotated noses. */
type Results = Map<string, Map<string, { faces: Face[]; match: ReturnType<typeof matchToPoints> }>>;

describe('detectors on CompreFace sample_images', { skip: NO_IMAGES }, () => {
  const results: Results = new Map();
  let noses: Map<string, Point[]>;
  let expected = 0;

  before(async () => {
    noses = parseNoseAnnotations(readFileSync(join(IMAGES, 'annotations.py'), 'utf8'));
    expected = [...noses.values()].reduce((n, p) => n + p.length, 0);
    const dets: [Spec, Detector][] = [];
    for (const s of SPECS)
      if (!skipFor(s))
        dets.push([s, await createDetector(s.kind, modelPath(s), s.tfjs ? { faceapi: 'tfjs' } : {})]);
    // Image-major, so only one 36 MP photo is held at a time.
    for (const file of noses.keys()) {
      const img = await decodeImage(join(IMAGES, file));
      for (const [s, det] of dets) {
        const faces = await det.detect(img);
        if (!results.has(label(s))) results.set(label(s), new Map());
        results.get(label(s))!.set(file, { faces, match: matchToPoints(faces, noses.get(file)!) });
      }
    }
    for (const [, det] of dets) await det.dispose();
  });

  it('annotations cover 18 photos and 46 faces, 017_0.jpg having none', () => {
    assert.equal(noses.size, 18);
    assert.equal(expected, 46);
    assert.deepEqual(noses.get('017_0.jpg'), []);
    for (const [file, pts] of noses) {
      const n = file.match(/_(\d+)\./)?.[1];
      assert.equal(pts.length, n === undefined ? 1 : Number(n), file); // A/B/C files: one person
    }
  });

  for (const s of SPECS) {
    it(
      `${label(s)}: recall >= ${s.minMatched}/46, <= ${s.maxFp} false positives`,
      { skip: skipFor(s) },
      () => {
        const per = [...results.get(label(s))!.values()];
        const matched = per.reduce((n, r) => n + r.match.pairs.length, 0);
        const fp = per.reduce((n, r) => n + r.match.unmatched.length, 0);
        assert.ok(matched >= s.minMatched, `matched ${matched}/${expected}`);
        assert.ok(fp <= s.maxFp, `${fp} false positives`);
        assert.equal(results.get(label(s))!.get('017_0.jpg')!.faces.length, 0, 'a face found in 017_0.jpg');
        // measured medians 2.6-5.2% of the box size
        const err = median(per.flatMap((r) => r.match.relNoseError));
        assert.ok(err < 0.08, `median nose error ${(100 * err).toFixed(1)}% of the box size`);
      },
    );

    it(
      `${label(s)}: landmarks are ordered, inside the box, nose between eyes and mouth`,
      { skip: skipFor(s) },
      () => {
        for (const [file, { faces, match }] of results.get(label(s))!) {
          for (const [fi] of match.pairs) {
            const {
              box,
              landmarks: [le, re, nose, lm, rm],
              score,
            } = faces[fi];
            const where = `${file} face at ${Math.round(box.x1)},${Math.round(box.y1)}`;
            assert.ok(score >= 0 && score <= 1, where);
            assert.ok(le[0] < re[0] && lm[0] < rm[0], `${where}: left/right swapped`);
            const eyeY = (le[1] + re[1]) / 2;
            const mouthY = (lm[1] + rm[1]) / 2;
            assert.ok(eyeY < nose[1] && nose[1] < mouthY, `${where}: nose not between eyes and mouth`);
            const mx = 0.1 * (box.x2 - box.x1);
            const my = 0.1 * (box.y2 - box.y1);
            for (const [x, y] of [le, re, nose, lm, rm])
              assert.ok(
                x > box.x1 - mx && x < box.x2 + mx && y > box.y1 - my && y < box.y2 + my,
                `${where}: landmark outside the box`,
              );
          }
        }
      },
    );
  }

  it('detectors agree on eye centres (within a fraction of the inter-ocular distance)', (t) => {
    const labels = [...results.keys()];
    if (labels.length < 2) return t.skip('fewer than two detectors ran');
    const eyesOf = (l: string) => {
      const m = new Map<string, [Point, Point]>();
      for (const [file, { faces, match }] of results.get(l)!)
        for (const [fi, ai] of match.pairs)
          m.set(`${file}#${ai}`, [faces[fi].landmarks[0], faces[fi].landmarks[1]]);
      return m;
    };
    for (let i = 0; i < labels.length; i++)
      for (let j = i + 1; j < labels.length; j++) {
        const a = eyesOf(labels[i]);
        const b = eyesOf(labels[j]);
        const rel: number[] = [];
        for (const [key, [l1, r1]] of a) {
          const other = b.get(key);
          if (!other) continue;
          const iod = Math.hypot(r1[0] - l1[0], r1[1] - l1[1]);
          rel.push(Math.max(dist(l1, other[0]), dist(r1, other[1])) / iod);
        }
        // measured: medians 0.05-0.12, worst single face 0.45 (a small, turned face)
        const pair = `${labels[i]} vs ${labels[j]}`;
        assert.ok(rel.length >= 40, `${pair}: only ${rel.length} faces in common`);
        assert.ok(median(rel) < 0.2, `${pair}: median eye disagreement ${median(rel).toFixed(2)} x IOD`);
        assert.ok(
          Math.max(...rel) < 0.6,
          `${pair}: worst eye disagreement ${Math.max(...rel).toFixed(2)} x IOD`,
        );
      }
  });

  it('YuNet: 2023mar has a fixed 640x640 input, 2026may a dynamic one rounded up to 32', async (t) => {
    const fixed = join(MODELS, 'yunet/face_detection_yunet_2023mar.onnx');
    const dynamic = join(MODELS, 'yunet/face_detection_yunet_2026may.onnx');
    if (!existsSync(fixed) || !existsSync(dynamic)) return t.skip('YuNet models absent');
    const a = (await createDetector('yunet', fixed)) as YuNetDetector;
    const b = (await createDetector('yunet', dynamic, { inputSize: 960 })) as YuNetDetector;
    try {
      assert.deepEqual(a.fixedSize, [640, 640]);
      assert.equal(b.fixedSize, null);
      const g = b.geometry(4912, 7360);
      assert.deepEqual([g.contentWidth, g.contentHeight, g.width, g.height], [640, 960, 640, 960]);
      const g2 = b.geometry(819, 546);
      assert.deepEqual([g2.contentWidth, g2.contentHeight, g2.width, g2.height], [960, 640, 960, 640]);
      const g3 = a.geometry(819, 546);
      assert.deepEqual([g3.contentWidth, g3.contentHeight, g3.width, g3.height], [640, 426, 640, 640]);
      const img = await decodeImage(join(IMAGES, '000_5.jpg'));
      const faces = await b.detect(img); // at 960: the same five faces
      assert.equal(matchToPoints(faces, noses.get('000_5.jpg')!).pairs.length, 5);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });
});

describe('EXIF orientation', { skip: NO_IMAGES }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'arcface-exif-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a photo stored sideways with orientation 6 is detected in the upright frame', async () => {
    const file = '010_2.jpg';
    const upright = await decodeImage(join(IMAGES, file));
    // Store the pixels rotated a quarter turn anticlockwise and tag them "rotate 90 clockwise to
    // display" (EXIF 6), as a phone held upright does.
    const path = join(dir, 'sideways.jpg');
    await sharp(upright.data, { raw: { width: upright.width, height: upright.height, channels: 3 } })
      .rotate(270)
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toFile(path);
    const meta = await sharp(path).metadata();
    assert.deepEqual([meta.width, meta.height, meta.orientation], [upright.height, upright.width, 6]);
    const img = await decodeImage(path);
    assert.deepEqual([img.width, img.height], [upright.width, upright.height]);

    const det = await createDetector('faceapi');
    try {
      const faces = await det.detect(img);
      const m = matchToPoints(
        faces,
        parseNoseAnnotations(readFileSync(join(IMAGES, 'annotations.py'), 'utf8')).get(file)!,
      );
      assert.equal(m.pairs.length, 2, 'both annotated noses inside detected boxes of the upright frame');
      assert.equal(m.unmatched.length, 0);
      for (const f of faces) assert.ok(f.landmarks[0][0] < f.landmarks[1][0], 'eyes in upright order');
    } finally {
      await det.dispose();
    }
  });
});

describe('bad model files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'arcface-badmodel-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a file that is not ONNX is refused with its path, for every ONNX kind', async () => {
    const path = join(dir, 'not-a-model.onnx');
    await writeFile(path, 'this is a text file, not a protobuf\n');
    for (const kind of ['yunet', 'scrfd', 'retinaface'] as const) {
      await assert.rejects(createDetector(kind, path), (err: ArcfaceError) => {
        assert.equal(err.code, 'BAD_INPUT');
        assert.ok(err.message.includes(path) && /not a usable ONNX model/.test(err.message), err.message);
        return true;
      });
    }
    await assert.rejects(createDetector('scrfd', join(dir, 'missing.onnx')), (err: ArcfaceError) => {
      assert.equal(err.code, 'NOT_FOUND');
      assert.ok(err.message.includes(join(dir, 'missing.onnx')));
      return true;
    });
  });

  const wrong: [DetectorKind, string, RegExp][] = [
    [
      'scrfd',
      'retinaface/retinaface_mnet025.onnx',
      /not an SCRFD model with keypoints \(expected 9 outputs.*it has 3/,
    ],
    ['yunet', 'scrfd/scrfd_500m.onnx', /not a YuNet model \(outputs cls_8, .* are missing/],
    ['retinaface', 'yunet/face_detection_yunet_2023mar.onnx', /not a RetinaFace model \(expected 3 outputs/],
    ['scrfd', 'yunet/face_detection_yunet_2023mar.onnx', /not an SCRFD model .*it has 12/],
  ];
  for (const [kind, rel, re] of wrong) {
    const path = join(MODELS, rel);
    it(
      `${rel} opened as ${kind} is refused, naming the file`,
      { skip: !existsSync(path) && `${path} absent` },
      async () => {
        await assert.rejects(createDetector(kind, path), (err: ArcfaceError) => {
          assert.equal(err.code, 'BAD_INPUT');
          assert.ok(err.message.startsWith(`${path}: `), err.message);
          assert.match(err.message, re);
          return true;
        });
      },
    );
  }
});

describe('faceapi detector (tfjs)', { skip: NO_IMAGES }, () => {
  it('shares the runtime tfjs engine and leaks no tensors over repeated calls', async () => {
    const det = await FaceApiDetector.open();
    const img: RgbImage = await decodeImage(join(IMAGES, '000_5.jpg'));
    try {
      const { createRequire } = await import('node:module');
      const faceapi = createRequire(import.meta.url)('@vladmandic/face-api/dist/face-api.node-wasm.js');
      assert.equal(faceapi.tf.getBackend(), tf.getBackend());
      const first = await det.detect(img);
      const n0 = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        const again = await det.detect(img);
        assert.deepEqual(again, first, 'same image, same faces');
      }
      assert.equal(tf.memory().numTensors, n0, 'tensors leaked by detect()');
      assert.equal(first.length, 5);
      // keep policies on real output: one face, and it is one of the five
      const [largest] = await det.detect(img, { keep: 'largest' });
      const area = (f: Face) => (f.box.x2 - f.box.x1) * (f.box.y2 - f.box.y1);
      assert.equal(area(largest), Math.max(...first.map(area)));
      assert.equal((await det.detect(img, { maxFaces: 2 })).length, 2);
    } finally {
      const before = tf.memory().numTensors;
      await det.dispose();
      assert.ok(tf.memory().numTensors < before, 'dispose() released the weights');
    }
    await assert.rejects(det.detect(img), /after dispose/);
  });
});

function dist(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}
