/**
 * dlib's ResNet recogniser from face-api's tfjs weights, converted to ONNX (src/convert/), against
 * face-api's own tfjs code as the independent reference: the weights reader against face-api's
 * loaded params, the ONNX graph against FaceRecognitionNet's forward pass on real face crops
 * (../shared photos, cropped around face-api's detection) and on synthetic images, and the
 * Embedder's two engines against each other.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { dlibResnetToOnnx, DLIB_DIM, DLIB_INPUT, DLIB_OUTPUT } from '../src/convert/dlib_resnet.js';
import { readTfjsWeights, type TfjsWeight } from '../src/convert/tfjs_weights.js';
import { ArcfaceError } from '../src/errors.js';
import { FaceApiDetector, faceApiModelDir } from '../src/face/detectors/index.js';
import { decodeImage } from '../src/image/decode.js';
import { rgbImage, type RgbImage } from '../src/image/types.js';
import { Embedder, fillInput } from '../src/models/embedder.js';
import { loadFaceApi } from '../src/runtime/faceapi.js';
import { resolveModel } from '../src/models/resolve.js';
import { getModel } from '../src/models/zoo.js';
import { tf } from '../src/runtime/backend.js';
import { openSession, ort } from '../src/runtime/onnx.js';
import { rng } from '../src/util/random.js';

type FaceApi = Awaited<ReturnType<typeof loadFaceApi>>;

const SIZE = 150;
const NAME = 'face_recognition_model';
const SHARED = fileURLToPath(new URL('../../shared/data/faces', import.meta.url));
const PHOTOS = [
  'deepface/tests/unit/dataset/img1.jpg',
  'face_recognition/examples/obama.jpg',
  'face_recognition/examples/biden.jpg',
].map((p) => join(SHARED, p));
const NO_PHOTOS = PHOTOS.every(existsSync)
  ? false
  : `${SHARED} (deepface, face_recognition photos) not found: the shared face photos are absent`;

/** Seeded uniform noise. */
function noise(seed: number): RgbImage {
  const r = rng(seed);
  return rgbImage(
    SIZE,
    SIZE,
    Uint8Array.from({ length: SIZE * SIZE * 3 }, () => Math.floor(r() * 256)),
  );
}

/** Smooth ramps, one direction per channel (and a seeded phase), full 0..255 range. */
function gradient(seed: number): RgbImage {
  const img = rgbImage(SIZE, SIZE);
  const phase = rng(seed)() * 255;
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++) {
      const i = (y * SIZE + x) * 3;
      img.data[i] = Math.round((x / (SIZE - 1)) * 255);
      img.data[i + 1] = Math.round((y / (SIZE - 1)) * 255);
      img.data[i + 2] = Math.round((phase + ((x + y) / (2 * SIZE - 2)) * 255) % 256);
    }
  return img;
}

/** A square around the largest detected face, 1.3x its box, clamped to the photo, to 150x150. */
async function faceCrop(detector: FaceApiDetector, path: string): Promise<RgbImage> {
  const img = await decodeImage(path);
  const faces = await detector.detect(img);
  assert.ok(faces.length > 0, `${path}: no face found`);
  const { box } = faces.reduce((a, b) =>
    (a.box.x2 - a.box.x1) * (a.box.y2 - a.box.y1) >= (b.box.x2 - b.box.x1) * (b.box.y2 - b.box.y1) ? a : b,
  );
  const side = Math.min(img.width, img.height, Math.round(1.3 * Math.max(box.x2 - box.x1, box.y2 - box.y1)));
  const clamp = (v: number, hi: number) => Math.max(0, Math.min(hi, Math.round(v)));
  const left = clamp((box.x1 + box.x2 - side) / 2, img.width - side);
  const top = clamp((box.y1 + box.y2 - side) / 2, img.height - side);
  const { data } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .extract({ left, top, width: side, height: side })
    .resize(SIZE, SIZE, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return rgbImage(SIZE, SIZE, new Uint8Array(data));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('dlib-resnet-v1: tfjs weights -> ONNX', () => {
  let api: FaceApi;
  let net: InstanceType<FaceApi['FaceRecognitionNet']>;
  let weights: Map<string, TfjsWeight>;
  let session: ort.InferenceSession;
  const manifest = getModel('dlib-resnet-v1');
  const dir = faceApiModelDir();

  before(async () => {
    api = await loadFaceApi();
    net = new api.FaceRecognitionNet();
    await net.loadFromDisk(join(dir, `${NAME}-weights_manifest.json`));
    weights = await readTfjsWeights(dir, NAME);
    // onnxruntime itself, straight from the bytes (not through openSession).
    session = await ort.InferenceSession.create(dlibResnetToOnnx(weights), { intraOpNumThreads: 1 });
  });
  after(async () => {
    net?.dispose();
    await session?.release();
  });

  /** face-api's forward on raw pixels (its own pre-processing) vs the ONNX graph on fillInput's tensor. */
  async function compare(images: RgbImage[]): Promise<number> {
    const pixels = images.map((im) => tf.tensor3d(im.data, [SIZE, SIZE, 3], 'int32'));
    let ref: Float32Array[];
    try {
      ref = (await net.computeFaceDescriptor(pixels as never)) as Float32Array[];
    } finally {
      tf.dispose(pixels);
    }
    const size = 3 * SIZE * SIZE;
    const input = new Float32Array(images.length * size);
    images.forEach((im, i) => fillInput(im, manifest.input, input, i * size));
    const out = await session.run({
      [DLIB_INPUT]: new ort.Tensor('float32', input, [images.length, 3, SIZE, SIZE]),
    });
    const got = out[DLIB_OUTPUT];
    assert.deepEqual(got.dims, [images.length, DLIB_DIM]);
    assert.equal(ref.length, images.length);
    const data = got.data as Float32Array;
    let worst = 0;
    ref.forEach((r, i) => {
      assert.equal(r.length, DLIB_DIM);
      // A degenerate reference (all zeros) would make the comparison vacuous.
      assert.ok(Math.hypot(...r) > 0.1, `image ${i}: face-api's descriptor is near zero`);
      worst = Math.max(worst, maxAbsDiff(data.subarray(i * DLIB_DIM, (i + 1) * DLIB_DIM), r));
    });
    return worst;
  }

  it("reads the same weights as face-api's own loader", () => {
    const params = net.getParamList();
    assert.equal(weights.size, params.length);
    for (const { path, tensor } of params) {
      const w = weights.get(path);
      assert.ok(w, `${path}: missing from readTfjsWeights`);
      assert.deepEqual(w.shape, tensor.shape, path);
      const want = tensor.dataSync() as Float32Array;
      const at = w.data.findIndex((v, i) => v !== want[i]);
      assert.equal(at, -1, `${path}[${at}]: ${w.data[at]} vs face-api ${want[at]}`);
    }
  });

  it("matches face-api's forward pass on seeded noise and gradients (batch of 5)", async (t) => {
    const worst = await compare([noise(1), noise(2), gradient(3), gradient(4), rgbImage(SIZE, SIZE)]);
    t.diagnostic(`max |onnx - face-api| = ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-4, `max abs difference ${worst}`);
  });

  it("matches face-api's forward pass on real face crops", async (t) => {
    if (NO_PHOTOS) return t.skip(NO_PHOTOS);
    const detector = await FaceApiDetector.open();
    let crops: RgbImage[];
    try {
      crops = [];
      for (const p of PHOTOS) crops.push(await faceCrop(detector, p));
    } finally {
      detector.dispose();
    }
    const worst = await compare(crops);
    t.diagnostic(`max |onnx - face-api| = ${worst.toExponential(2)} on ${crops.length} crops`);
    assert.ok(worst <= 1e-4, `max abs difference ${worst}`);
    // One at a time too: batch 1 must give the same numbers as inside a batch.
    for (const c of crops) assert.ok((await compare([c])) <= 1e-4);
  });

  it('the Embedder gives unit 128-d embeddings, the same on engines onnx and tfjs', async () => {
    const model = await resolveModel('dlib-resnet-v1');
    assert.equal(model.manifest.format, 'tfjs');
    const faces = [noise(5), gradient(6), noise(7)];
    if (!NO_PHOTOS) {
      const detector = await FaceApiDetector.open();
      try {
        faces.push(await faceCrop(detector, PHOTOS[1]), await faceCrop(detector, PHOTOS[2]));
      } finally {
        detector.dispose();
      }
    }
    const onnx = await Embedder.load(model, { threads: 1 });
    const tfjs = await Embedder.load(model, { engine: 'tfjs' });
    try {
      assert.equal(onnx.engine, 'onnx');
      assert.equal(tfjs.engine, 'tfjs');
      for (const flip of [true, false]) {
        // batchSize 2: chunks of 2 faces (4 runs with their flips), a short last chunk.
        const a = await onnx.embed(faces, { flip, batchSize: 2 });
        const b = await tfjs.embed(faces, { flip });
        assert.equal(a.length, faces.length);
        a.forEach((e, i) => {
          assert.equal(e.length, DLIB_DIM);
          assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-5, `face ${i}: norm ${Math.hypot(...e)}`);
          const cos = dot(e, b[i]) / Math.hypot(...b[i]);
          assert.ok(cos > 0.99999, `face ${i} (flip ${flip}): cosine onnx/tfjs ${cos}`);
        });
        if (!flip) {
          // Without flip the embedding is face-api's descriptor, normalised.
          const px = faces.map((f) => tf.tensor3d(f.data, [SIZE, SIZE, 3], 'int32'));
          const ref = (await net.computeFaceDescriptor(px as never)) as Float32Array[];
          tf.dispose(px);
          ref.forEach((r, i) => {
            const n = Math.hypot(...r);
            assert.ok(
              maxAbsDiff(
                a[i],
                Float32Array.from(r, (v) => v / n),
              ) < 1e-5,
              `face ${i}`,
            );
          });
        }
      }
      // The flip-sum really uses the mirror image: a noise face's embedding changes with it.
      const [withFlip] = await onnx.embed([faces[0]], { flip: true });
      const [without] = await onnx.embed([faces[0]], { flip: false });
      assert.ok(dot(withFlip, without) < 0.9999);
    } finally {
      await onnx.dispose();
      await tfjs.dispose();
    }
  });

  it('refuses engine tfjs for an ONNX model, and an unknown engine', async () => {
    const onnxModel = {
      manifest: { ...getModel('dlib-resnet-v1'), format: 'onnx' as const },
      path: 'x.onnx',
    };
    await assert.rejects(Embedder.load(onnxModel, { engine: 'tfjs' }), (e: unknown) => {
      assert.ok(e instanceof ArcfaceError && e.code === 'BAD_INPUT' && /engine "tfjs"/.test(e.message));
      return true;
    });
    const model = await resolveModel('dlib-resnet-v1');
    await assert.rejects(Embedder.load(model, { engine: 'torch' as never }), /unknown engine "torch"/);
  });

  it('openSession from bytes: the name in its errors, as for a file', async () => {
    await assert.rejects(
      openSession({ bytes: new Uint8Array(0), name: 'mem:empty' }),
      /mem:empty: model is empty/,
    );
    await assert.rejects(
      openSession({ bytes: new TextEncoder().encode('not a model'), name: 'mem:junk' }),
      (e: unknown) =>
        e instanceof ArcfaceError &&
        e.code === 'BAD_INPUT' &&
        /^mem:junk: not a usable ONNX model/.test(e.message),
    );
  });
});
