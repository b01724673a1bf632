/**
 * face-api's nets rebuilt as ONNX (src/convert/faceapi_*.ts) against face-api's own tfjs forward
 * passes on the same input tensors: the SSD's decoded boxes and scores, the landmark net's 136
 * values, the tiny detector's grid. On generated images (always) and on real photos from
 * ../shared (skipped when absent). Also: our resize (faceapi_sample.ts) against face-api's
 * padToSquare + resizeBilinear, and whole detections against face-api's locateFaces.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { faceApiSquare, landmarks68 } from '../src/face/detectors/faceapi_landmarks.js';
import { FaceApiNets } from '../src/face/detectors/faceapi_nets.js';
import { FaceApiOnnxDetector } from '../src/face/detectors/faceapi_onnx.js';
import { sampleRegion } from '../src/face/detectors/faceapi_sample.js';
import type { Point } from '../src/face/types.js';
import { decodeImage } from '../src/image/decode.js';
import { rgbImage, type RgbImage } from '../src/image/types.js';
import { tf } from '../src/runtime/backend.js';
import { loadFaceApi } from '../src/runtime/faceapi.js';
import { rng } from '../src/util/random.js';

const SHARED = fileURLToPath(new URL('../../shared', import.meta.url));
const PHOTOS = [
  'data/faces/deepface/tests/unit/dataset/img1.jpg',
  'data/faces/openface/images/examples/longoria-cooper.jpg',
  'data/faces/compreface/embedding-calculator/sample_images/016_8.jpg',
].map((p) => join(SHARED, p));
const NO_PHOTOS = PHOTOS.every((p) => existsSync(p)) ? false : `${SHARED}: the shared face photos are absent`;

type Api = any; // face-api's node-wasm bundle (CommonJS, typed loosely here)

/** A photo-like generated image: smooth colour gradients, a bright ellipse and seeded noise. */
function generated(width: number, height: number, seed: number): RgbImage {
  const img = rgbImage(width, height);
  const random = rng(seed);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const inside = ((x - width / 2) / (width / 4)) ** 2 + ((y - height / 2) / (height / 3)) ** 2 < 1;
      for (let c = 0; c < 3; c++) {
        const base = inside ? 200 - 30 * c : (x * (c + 1) + y * (3 - c)) % 256;
        img.data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, base + (random() - 0.5) * 40));
      }
    }
  return img;
}

/** NHWC float tensor data -> NCHW. */
function toNchw(x: Float32Array | Int32Array, h: number, w: number, n = 1): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let i = 0; i < w; i++)
        for (let c = 0; c < 3; c++) out[((b * 3 + c) * h + y) * w + i] = x[((b * h + y) * w + i) * 3 + c];
  return out;
}

function worst(a: Point[], b: Point[]): number {
  return Math.max(...a.map((p, k) => Math.hypot(p[0] - b[k][0], p[1] - b[k][1])));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('face-api nets as ONNX', () => {
  let api: Api;
  let ssd: Api;
  let landmarkNet: Api;
  let tiny: Api;
  const nets = new FaceApiNets();

  before(async () => {
    api = await loadFaceApi();
    const { faceApiModelDir } = await import('../src/face/detectors/faceapi_dir.js');
    const dir = faceApiModelDir();
    ssd = new api.SsdMobilenetv1();
    landmarkNet = new api.FaceLandmark68Net();
    tiny = new api.TinyFaceDetector();
    await ssd.loadFromDisk(dir);
    await landmarkNet.loadFromDisk(dir);
    await tiny.loadFromDisk(dir);
  });

  after(async () => {
    ssd?.dispose();
    landmarkNet?.dispose();
    tiny?.dispose();
    await nets.release();
  });

  /** face-api's batch tensor for an image: padToSquare (bottom/right or centred) + resizeBilinear. */
  function batchTensor(img: RgbImage, size: number, centre: boolean): { nhwc: Float32Array } {
    const t = tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');
    try {
      const b = new api.NetInput([t]).toBatchTensor(size, centre);
      const nhwc = b.dataSync() as Float32Array;
      b.dispose();
      return { nhwc: Float32Array.from(nhwc) };
    } finally {
      t.dispose();
    }
  }

  async function compareSsd(nhwc: Float32Array): Promise<void> {
    const input = tf.tensor4d(nhwc, [1, 512, 512, 3]);
    const ref = ssd.forwardInput(await api.toNetInput(input));
    const refBoxes = ref.boxes[0].dataSync();
    const refScores = ref.scores[0].dataSync();
    const mine = await nets.ssd(toNchw(nhwc, 512, 512));
    input.dispose();
    ref.boxes.forEach((t: Api) => t.dispose());
    ref.scores.forEach((t: Api) => t.dispose());
    assert.equal(mine.scores.length, 5118);
    assert.ok(maxAbsDiff(mine.boxes, refBoxes) < 1e-4, `boxes differ by ${maxAbsDiff(mine.boxes, refBoxes)}`);
    assert.ok(
      maxAbsDiff(mine.scores, refScores) < 1e-4,
      `scores differ by ${maxAbsDiff(mine.scores, refScores)}`,
    );
  }

  /** `nhwc` holds `n` crops of 112 x 112 (face-api takes a batch as an array of 3D tensors). */
  async function compareLandmarks(nhwc: Float32Array, n: number): Promise<void> {
    const size = 112 * 112 * 3;
    const crops = Array.from({ length: n }, (_, i) =>
      tf.tensor3d(nhwc.subarray(i * size, (i + 1) * size), [112, 112, 3]),
    );
    const refT = landmarkNet.runNet(await api.toNetInput(crops));
    const ref = refT.dataSync();
    refT.dispose();
    crops.forEach((c) => c.dispose());
    const mine = await nets.landmarks(toNchw(nhwc, 112, 112, n), n);
    assert.equal(mine.length, n * 136);
    assert.ok(maxAbsDiff(mine, ref) < 1e-4, `landmarks differ by ${maxAbsDiff(mine, ref)}`);
  }

  async function compareTiny(nhwc: Float32Array, size: number): Promise<void> {
    const input = tf.tensor4d(nhwc, [1, size, size, 3]);
    const refT = tiny.forwardInput(await api.toNetInput(input), size);
    const ref = refT.dataSync(); // NHWC [1, g, g, 25]
    refT.dispose();
    input.dispose();
    const grid = await nets.tiny(toNchw(nhwc, size, size), size, size);
    const g = size / 32;
    const mine = new Float32Array(ref.length);
    for (let c = 0; c < 25; c++) for (let i = 0; i < g * g; i++) mine[i * 25 + c] = grid[c * g * g + i];
    assert.ok(maxAbsDiff(mine, ref) < 1e-3, `tiny grid differs by ${maxAbsDiff(mine, ref)}`);
  }

  describe('on generated images', () => {
    it('SSD MobileNet V1: all 5,118 decoded boxes and scores', async () => {
      await compareSsd(batchTensor(generated(300, 200, 1), 512, false).nhwc);
    });

    it('68-point landmark net: a batch of two crops', async () => {
      const a = batchTensor(generated(90, 120, 2), 112, true).nhwc;
      const b = batchTensor(generated(150, 150, 3), 112, true).nhwc;
      const both = new Float32Array(a.length + b.length);
      both.set(a);
      both.set(b, a.length);
      await compareLandmarks(both, 2);
    });

    it('tiny face detector at 416 and 288', async () => {
      await compareTiny(batchTensor(generated(400, 300, 4), 416, false).nhwc, 416);
      await compareTiny(batchTensor(generated(200, 260, 5), 288, false).nhwc, 288);
    });

    it("our canvas resize equals face-api's padToSquare + resizeBilinear", () => {
      for (const [w, h, size, centre] of [
        [300, 200, 512, false],
        [700, 1000, 512, false],
        [90, 121, 112, true],
      ] as const) {
        const img = generated(w, h, w + h);
        const ref = batchTensor(img, size, centre).nhwc;
        const side = Math.max(w, h);
        // face-api puts the odd pixel of centred padding after the image: round(diff / 2) after.
        const before = centre ? side - w - Math.round((side - w) / 2) : 0;
        const top = centre ? side - h - Math.round((side - h) / 2) : 0;
        const mine = new Float32Array(3 * size * size);
        sampleRegion(img, { x: -before, y: -top, width: side, height: side }, size, size, mine);
        // TF computes the source coordinate in float32: 1e-5 px there is 0.003 grey levels on an edge.
        const d = maxAbsDiff(mine, toNchw(ref, size, size));
        assert.ok(d < 0.01, `${w}x${h} -> ${size}: differs by ${d} grey levels`);
      }
    });
  });

  describe('on real photos', { skip: NO_PHOTOS }, () => {
    it('SSD and landmark nets on the photos and their face crops', async () => {
      for (const path of PHOTOS) {
        const img = await decodeImage(path);
        await compareSsd(batchTensor(img, 512, false).nhwc);
        // face-api's own crops of its detections
        const t = tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');
        const dets = await ssd.locateFaces(t, { minConfidence: 0.5 });
        assert.ok(dets.length > 0, `${path}: face-api found no face`);
        for (const det of dets) {
          const c = det.box.clipAtImageBorders(img.width, img.height);
          const crop = tf.slice3d(t, [c.y, c.x, 0], [c.height, c.width, 3]);
          const b = new api.NetInput([crop]).toBatchTensor(112, true);
          await compareLandmarks(Float32Array.from(b.dataSync()), 1);
          b.dispose();
          crop.dispose();
        }
        t.dispose();
      }
    });

    it('tiny face detector on the photos', async () => {
      for (const path of PHOTOS)
        await compareTiny(batchTensor(await decodeImage(path), 416, false).nhwc, 416);
    });

    it("whole detections: face-api's SSD settings give face-api's faces and landmarks", async () => {
      const det = await FaceApiOnnxDetector.open({
        passes: [{ net: 'ssd' }],
        scoreThreshold: 0.5,
        landmarkPasses: 1,
      });
      try {
        for (const path of PHOTOS) {
          const img = await decodeImage(path);
          const t = tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');
          const ref = await ssd.locateFaces(t, { minConfidence: 0.5 });
          const mine = await det.detect(img);
          assert.equal(mine.length, ref.length, path);
          for (const r of ref) {
            const m = mine.find((f) => Math.abs(f.score - r.score) < 1e-4);
            assert.ok(m, `${path}: no face scoring ${r.score}`);
            const b = r.box;
            const box = [m.box.x1, m.box.y1, m.box.x2, m.box.y2];
            const refBox = [b.x, b.y, b.x + b.width, b.y + b.height];
            // face-api maps the short side back through its rounded resized size (round(w * 512 /
            // max(w, h))); the exact scale used here puts edges up to 0.1% of the photo apart.
            const tol = 1e-3 * Math.max(img.width, img.height);
            assert.ok(maxAbsDiff(box, refBox) < tol, `${path}: box [${box}] vs [${refBox}]`);
            // Landmarks. face-api crops the box clipped to the photo and floored, pads it to a square
            // (the odd pixel after) and maps back as if padded evenly; fed that same square, ours
            // agree to face-api's half-pixel inconsistency. The detector's own square keeps the
            // unclipped box's centre: within 10% of the eye distance of face-api's points.
            const c = b.clipAtImageBorders(img.width, img.height);
            const crop = tf.slice3d(t, [c.y, c.x, 0], [c.height, c.width, 3]);
            const marks = await landmarkNet.detectLandmarks(crop);
            crop.dispose();
            const refPts: Point[] = marks.positions.map((p: Api): Point => [p.x + c.x, p.y + c.y]);
            const sq = faceApiSquare(
              { x1: b.x, y1: b.y, x2: b.x + b.width, y2: b.y + b.height },
              img.width,
              img.height,
            );
            assert.deepEqual(sq.visible, { x: c.x, y: c.y, width: c.width, height: c.height });
            const [same] = await landmarks68(nets, img, [sq]);
            assert.ok(worst(same, refPts) < 0.6, `${path}: same crop, ${worst(same, refPts)} px apart`);
            const iod = Math.hypot(refPts[36][0] - refPts[45][0], refPts[36][1] - refPts[45][1]);
            assert.equal(m.landmarks68!.length, 68);
            const w = worst(m.landmarks68!, refPts);
            assert.ok(w < 0.1 * iod, `${path}: a landmark ${w.toFixed(2)} px from face-api's`);
          }
          t.dispose();
        }
      } finally {
        await det.dispose();
      }
    });
  });
});
