/**
 * Large JPEGs decoded at detection scale (src/image/source.ts) and faces mapped back to the photo
 * (src/pipeline/scaled_faces.ts): generated images check the geometry, the full-resolution regions,
 * EXIF rotation, the pixel cap and the crops; real photos from ../shared (12 MP JPEGs made here at
 * run time) check that detection, landmarks and the dlib chips stay those of the whole photo.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { alignFace } from '../src/face/align.js';
import { FaceApiOnnxDetector } from '../src/face/detectors/faceapi_onnx.js';
import type { Detector } from '../src/face/detectors/types.js';
import type { Face, Landmarks5, Point } from '../src/face/types.js';
import { decodeImage } from '../src/image/decode.js';
import { decodeSource, isReduced, sourceOf, type ImageSource } from '../src/image/source.js';
import { rgbImage, type RgbImage } from '../src/image/types.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { alignFaces, detectFaces } from '../src/pipeline/scaled_faces.js';
import { cosine } from '../src/pipeline/similarity.js';
import { RecognitionService } from '../src/service/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'arcface-source-'));

/** A textured photo (so resampling shows): smooth waves plus deterministic noise. */
function texture(width: number, height: number): RgbImage {
  const img = rgbImage(width, height);
  let seed = 12345;
  for (let y = 0, o = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++, o++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const wave = 60 * Math.sin(x / (7 + 3 * c)) * Math.cos(y / 11) + 40 * Math.sin((x + 2 * y) / 97);
        img.data[o] = Math.max(0, Math.min(255, Math.round(128 + wave + ((seed >>> 24) % 31) - 15)));
      }
  return img;
}

const jpeg = (img: RgbImage, f: (s: Sharp) => Sharp = (s) => s): Promise<Buffer> =>
  f(sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }))
    .jpeg({ quality: 92 })
    .toBuffer();

function crop(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  const out = rgbImage(w, h);
  for (let r = 0; r < h; r++)
    out.data.set(
      img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + w) * 3),
      r * w * 3,
    );
  return out;
}

function meanAbsDiff(a: RgbImage, b: RgbImage): number {
  assert.deepEqual([a.width, a.height], [b.width, b.height]);
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(a.data[i]! - b.data[i]!);
  return s / a.data.length;
}

/** A face given by its 5 points only: eyes `eye` pixels apart, turned by `deg`, centred at (cx, cy). */
function face5(cx: number, cy: number, eye: number, deg = 0): Face {
  const c = Math.cos((deg * Math.PI) / 180);
  const s = Math.sin((deg * Math.PI) / 180);
  const p = (u: number, v: number): Point => [cx + eye * (c * u - s * v), cy + eye * (s * u + c * v)];
  const landmarks = [p(-0.5, -0.4), p(0.5, -0.4), p(0, 0.1), p(-0.4, 0.6), p(0.4, 0.6)] as Landmarks5;
  const box = { x1: cx - eye, y1: cy - eye, x2: cx + eye, y2: cy + eye };
  return { box, score: 1, landmarks };
}

let big: { img: RgbImage; bytes: Buffer } | undefined;
/** 4000 x 3000, the 12 MP case, decoded once as the reference. */
async function bigPhoto(): Promise<{ img: RgbImage; bytes: Buffer }> {
  if (!big) {
    const bytes = await jpeg(texture(4000, 3000));
    big = { img: await decodeImage(bytes), bytes };
  }
  return big;
}

test('small photos and other formats are decoded whole, as decodeImage does', async () => {
  const small = texture(800, 600);
  const j = await decodeSource(await jpeg(small));
  assert.equal(isReduced(j), false);
  assert.deepEqual([j.width, j.height, j.image.width], [800, 600, 800]);
  // A PNG has no shrink-on-load: whole, even when large.
  const png = await sharp(texture(3200, 400).data, { raw: { width: 3200, height: 400, channels: 3 } })
    .png()
    .toBuffer();
  const p = await decodeSource(png);
  assert.equal(isReduced(p), false);
  assert.deepEqual((await p.region({ x1: 10, y1: 10, x2: 20, y2: 20 })).image, p.image);
  // detectSide 0: every photo whole.
  const { bytes } = await bigPhoto();
  assert.equal(isReduced(await decodeSource(bytes, { detectSide: 0 })), false);
});

test('a 12 MP JPEG: 2048 px for detection, full-resolution regions equal the whole decode', async () => {
  const { img, bytes } = await bigPhoto();
  const s = await decodeSource(bytes);
  assert.deepEqual([s.width, s.height, s.image.width, s.image.height], [4000, 3000, 2048, 1536]);
  // The reduced copy is the photo resampled, pixel centres aligned: compare with sharp's resize of the whole.
  const ref = await sharp(img.data, { raw: { width: 4000, height: 3000, channels: 3 } })
    .resize(2048, 1536, { fit: 'fill' })
    .raw()
    .toBuffer();
  assert.ok(meanAbsDiff(s.image, rgbImage(2048, 1536, new Uint8Array(ref))) < 2);
  const r = await s.region({ x1: 1000.5, y1: 2400, x2: 1599, y2: 2999 });
  assert.deepEqual([r.x, r.y, r.image.width, r.image.height], [1000, 2400, 600, 600]);
  assert.deepEqual(r.image.data, crop(img, 1000, 2400, 600, 600).data);
  // A rect inside a region already decoded is served from it; one outside the photo is clipped.
  assert.equal(await s.region({ x1: 1100, y1: 2500, x2: 1200, y2: 2600 }), r);
  const edge = await s.region({ x1: -50, y1: -50, x2: 99, y2: 49 });
  assert.deepEqual([edge.x, edge.y, edge.image.width, edge.image.height], [0, 0, 100, 50]);
});

test('EXIF rotation: the photo is upright in the reduced copy, in regions and in sizes', async () => {
  const { img, bytes } = await bigPhoto();
  // Orientation 6 = shown turned 90 degrees clockwise: store the upright photo turned back.
  const turned = await sharp(bytes)
    .rotate(270)
    .withMetadata({ orientation: 6 })
    .jpeg({ quality: 92 })
    .toBuffer();
  const s = await decodeSource(turned);
  assert.deepEqual([s.width, s.height, s.image.width, s.image.height], [4000, 3000, 2048, 1536]);
  const upright = await decodeSource(bytes);
  assert.ok(meanAbsDiff(s.image, upright.image) < 3, 'the reduced copy is the upright photo');
  const whole = await decodeImage(turned);
  const r = await s.region({ x1: 3000, y1: 100, x2: 3399, y2: 399 });
  assert.deepEqual(r.image.data, crop(whole, 3000, 100, 400, 300).data);
  assert.ok(meanAbsDiff(r.image, crop(img, 3000, 100, 400, 300)) < 4);
});

test('the pixel cap and unreadable files: decodeImage messages, before any decoding', async () => {
  const { bytes } = await bigPhoto();
  const message = async (f: () => Promise<unknown>) =>
    f().then(
      () => 'no error',
      (e: Error) => e.message,
    );
  for (const [input, opts] of [
    [bytes, { maxPixels: 5_000_000, name: 'big.jpg' }],
    [bytes.subarray(0, 100), { name: 'cut.jpg' }],
    [bytes.subarray(0, bytes.length / 2), { name: 'half.jpg' }],
    [join(tmp, 'absent.jpg'), {}],
    [new Uint8Array(0), {}],
  ] as const) {
    const want = await message(() => decodeImage(input, opts));
    assert.notEqual(want, 'no error');
    assert.equal(await message(() => decodeSource(input, opts)), want);
  }
  assert.match(
    await message(() => decodeSource(bytes, { maxPixels: 5_000_000 })),
    /4000x3000 is 12\.0 megapixels, over the 5\.0 MP limit/,
  );
});

test('faces found on the reduced copy come back in the photo pixels; minFaceSize is the photo pixels', async () => {
  const { bytes } = await bigPhoto();
  const s = await decodeSource(bytes);
  const k = 4000 / 2048;
  let seen: number | undefined;
  const fake: Detector = {
    kind: 'yunet',
    name: 'fake',
    defaults: { scoreThreshold: 0.5, nmsIou: 0.4 },
    async detect(img, opts) {
      assert.equal(img, s.image);
      seen = opts?.minFaceSize;
      return [face5(100, 200, 40)];
    },
    async dispose() {},
  };
  const [f] = await detectFaces(fake, s, { minFaceSize: 60 });
  assert.ok(Math.abs(seen! - 60 / k) < 1e-9);
  const up = (v: number) => (v + 0.5) * k - 0.5;
  assert.ok(Math.abs(f!.box.x1 - up(60)) < 1e-9 && Math.abs(f!.box.y2 - up(240)) < 1e-9);
  assert.ok(Math.abs(f!.landmarks[2][0] - up(100)) < 1e-9);
  // A source that is not reduced goes straight to the detector.
  const whole = sourceOf(rgbImage(10, 10));
  assert.equal((await detectFaces({ ...fake, detect: async () => [] }, whole)).length, 0);
});

test('crops: from the photo pixels (bit for bit) when the reduced copy is too coarse, else close to them', async () => {
  const { img, bytes } = await bigPhoto();
  const s = await decodeSource(bytes);
  const fetched: number[] = [];
  const counted: ImageSource = { ...s, region: (r) => (fetched.push(r.x2 - r.x1), s.region(r)) };
  const dlib = (im: RgbImage, f: Face) =>
    alignFace(im, f, { size: 150, alignment: { template: 'dlib', padding: 0.25 } });
  const arcface = (im: RgbImage, f: Face) => alignFace(im, f);
  const small = [face5(700, 900, 40), face5(3990, 20, 36, 30), face5(2000, 2950, 30, -20)]; // edges, turned
  const large = [face5(1500, 1500, 300), face5(2600, 1200, 500, 15)];
  for (const align of [dlib, arcface]) {
    fetched.length = 0;
    const crops = await alignFaces(counted, [...small, ...large], align);
    assert.equal(fetched.length, 1, 'one region for all the small faces');
    small.forEach((f, i) => assert.deepEqual(crops[i]!.data, align(img, f).image.data, `small face ${i}`));
    large.forEach((f, i) => {
      const d = meanAbsDiff(crops[small.length + i]!, align(img, f).image);
      assert.ok(d < 4, `large face ${i}: mean difference ${d.toFixed(2)} grey levels`);
    });
  }
  // An already decoded image: the crops are align's own.
  const whole = sourceOf(img);
  assert.deepEqual((await alignFaces(whole, [large[0]!], dlib))[0]!.data, dlib(img, large[0]!).image.data);
});

// ---- real photos -------------------------------------------------------------------------------

const SHARED = join(import.meta.dirname, '../../shared');
const SAMPLES = join(SHARED, 'data/faces/compreface/embedding-calculator/sample_images');
const skip = existsSync(SAMPLES)
  ? false
  : '../shared (CompreFace sample photos) is absent: real-photo checks of the reduced decode skipped';

/** A 12 MP JPEG: the sample photo scaled to cover 4000 x 3000, centred on (fx, fy) of the original. */
async function twelveMp(name: string, fx = 0.5, fy = 0.5): Promise<Buffer> {
  const src = readFileSync(join(SAMPLES, name));
  const m = await sharp(src).rotate().metadata();
  const [w0, h0] = [m.autoOrient.width, m.autoOrient.height];
  const k = Math.max(4000 / w0, 3000 / h0);
  const [w, h] = [Math.round(w0 * k), Math.round(h0 * k)];
  const left = Math.min(w - 4000, Math.max(0, Math.round(fx * w - 2000)));
  const top = Math.min(h - 3000, Math.max(0, Math.round(fy * h - 1500)));
  return sharp(src)
    .rotate()
    .resize(w, h)
    .extract({ left, top, width: 4000, height: 3000 })
    .jpeg({ quality: 90 })
    .toBuffer();
}

const eyeDistance = (f: Face) =>
  Math.hypot(f.landmarks[1][0] - f.landmarks[0][0], f.landmarks[1][1] - f.landmarks[0][1]);

/** Every face of `a` has one in `b` with nearly the same box and landmarks (68-point mean, / eye distance). */
function sameFaces(a: Face[], b: Face[], label: string): number[] {
  assert.equal(b.length, a.length, `${label}: faces found`);
  return a.map((fa) => {
    const fb = b.reduce((best, f) =>
      Math.hypot(f.box.x1 - fa.box.x1, f.box.y1 - fa.box.y1) <
      Math.hypot(best.box.x1 - fa.box.x1, best.box.y1 - fa.box.y1)
        ? f
        : best,
    );
    const side = fa.box.x2 - fa.box.x1;
    for (const k of ['x1', 'y1', 'x2', 'y2'] as const)
      assert.ok(Math.abs(fa.box[k] - fb.box[k]) < 0.06 * side, `${label}: box ${k}`);
    const p = fa.landmarks68!;
    const q = fb.landmarks68!;
    return (
      p.reduce((s, pt, i) => s + Math.hypot(pt[0] - q[i]![0], pt[1] - q[i]![1]), 0) / 68 / eyeDistance(fa)
    );
  });
}

test('real 12 MP photos: the faces, landmarks and chips of the whole photo', { skip }, async (t) => {
  const rec = await FaceRecognizer.create();
  const whole = await FaceRecognizer.create({ detectSide: 0 });
  t.after(async () => {
    await rec.dispose();
    await whole.dispose();
  });
  const det = await rec.detector();

  await t.test('a portrait (36 MP original): one face, chips within a few grey levels', async () => {
    const bytes = await twelveMp('003_A.jpg', 3210 / 6988, 1382 / 4664);
    const full = await decodeImage(bytes);
    const s = await rec.source(bytes);
    assert.ok(isReduced(s));
    const a = await det.detect(full);
    const b = await detectFaces(det, s);
    const lm = sameFaces(a, b, '003_A');
    assert.ok(lm[0]! < 0.03, `landmarks moved ${lm[0]!.toFixed(4)} eye distances`);
    // The same landmarks: the chip from the reduced copy against the whole photo's chip.
    const [same] = await rec.alignAll(s, a);
    const d = meanAbsDiff(same!, rec.align(full, a[0]!));
    assert.ok(d < 3.5, `chip from the reduced copy: mean difference ${d.toFixed(2)} grey levels`);
    // End to end, through the public API, against detectSide 0.
    const [e1, e2] = [await rec.embed(bytes), await whole.embed(bytes)];
    assert.deepEqual([e1.width, e1.height], [4000, 3000]);
    assert.ok(cosine(e1.embedding, e2.embedding) > 0.999);
  });

  await t.test('small faces (a group photo at 12 MP): landmarks and chips from full resolution', async () => {
    const bytes = await twelveMp('016_8.jpg');
    const full = await decodeImage(bytes);
    const s = await rec.source(bytes);
    const a = await det.detect(full);
    const b = await detectFaces(det, s);
    assert.ok(a.length >= 8);
    const lm = sameFaces(a, b, '016_8 x5').sort((x, y) => x - y);
    assert.ok(
      lm[lm.length >> 1]! < 0.02,
      `landmarks: median ${lm[lm.length >> 1]!.toFixed(4)} eye distances`,
    );
    // Small in the reduced copy (under the landmark net's 112 pixels): their landmarks are the
    // net's on the photo's own pixels.
    const small = b.filter((f) => Math.max(f.box.x2 - f.box.x1, f.box.y2 - f.box.y1) < (112 * 4000) / 2048);
    assert.ok(small.length >= 2, `${small.length} small faces`);
    const again = await (det as FaceApiOnnxDetector).landmarks(
      full,
      small.map((f) => f.box),
    );
    small.forEach((f, i) =>
      f.landmarks68!.forEach((p, k) => {
        const q = again[i]!.landmarks68[k]!;
        assert.ok(Math.abs(p[0] - q[0]) < 0.01 && Math.abs(p[1] - q[1]) < 0.01, `face ${i} point ${k}`);
      }),
    );
    // With the same landmarks, every chip is the whole photo's, bit for bit (all these faces are small).
    const crops = await rec.alignAll(s, a);
    a.forEach((f, i) => assert.deepEqual(crops[i]!.data, rec.align(full, f).data));
    const all = await rec.embedAll(bytes);
    const ref = await whole.embedAll(bytes);
    const cos = ref.map((r) => Math.max(...all.map((x) => cosine(x.embedding, r.embedding))));
    assert.ok(Math.min(...cos) > 0.99, `embeddings: cosine ${Math.min(...cos).toFixed(4)} at worst`);
  });

  await t.test('a rotated JPEG (EXIF orientation 6): faces in the upright photo pixels', async () => {
    const upright = await twelveMp('001_A.jpg', 2109 / 4912, 2261 / 7360);
    const turned = await sharp(upright)
      .rotate(270)
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 90 })
      .toBuffer();
    const file = join(tmp, 'turned.jpg');
    writeFileSync(file, turned);
    const a = await rec.locate(upright);
    const b = await rec.locate(file);
    assert.deepEqual([b.source.width, b.source.height], [4000, 3000]);
    sameFaces(a.faces, b.faces, 'turned');
    const [ca, cb] = [await rec.alignAll(a.source, a.faces), await rec.alignAll(b.source, b.faces)];
    assert.ok(meanAbsDiff(ca[0]!, cb[0]!) < 4);
  });

  await t.test('the service: sizes and boxes of the photo, the pixel cap from the header', async () => {
    const bytes = await twelveMp('006_A.jpg', 1864 / 3880, 3041 / 5184);
    const svc = new RecognitionService(undefined as never, rec); // detect() needs no store
    const r = await svc.detect({ bytes, label: '006_A 12 MP' });
    assert.deepEqual([r.width, r.height], [4000, 3000]);
    sameFaces(await det.detect(await decodeImage(bytes)), r.faces, 'service');
    const capped = new RecognitionService(undefined as never, rec, { maxPixels: 10_000_000 });
    await assert.rejects(
      capped.detect({ bytes, label: 'big' }),
      /big: 4000x3000 is over the 10\.0 megapixel limit/,
    );
  });
});
