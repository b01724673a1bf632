/**
 * The dlib ResNet as a trainable tfjs backbone (src/backbones/dlib_resnet.ts) against the inference
 * model it must reproduce: with face-api's weights loaded, its embeddings of real dlib chips (face-api
 * detection, alignment 'dlib' as the default recogniser makes them) match the onnx Embedder's
 * (no flip-sum, both unit-normalised) to cosine >= 0.9999; and one backward pass gives every
 * trainable variable a finite, non-zero gradient.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createDlibResnet,
  DLIB_RESNET_DIM,
  DLIB_RESNET_MEAN,
  DLIB_RESNET_SIZE,
  DLIB_RESNET_STD,
  loadDlibResnetWeights,
  loadPretrainedDlibResnet,
  type DlibResnetBackbone,
} from '../src/backbones/dlib_resnet.js';
import { alignFace } from '../src/face/align.js';
import { FaceApiDetector } from '../src/face/detectors/index.js';
import { decodeImage } from '../src/image/decode.js';
import type { RgbImage } from '../src/image/types.js';
import { Embedder, fillInput } from '../src/models/embedder.js';
import { resolveModel } from '../src/models/resolve.js';
import { getModel } from '../src/models/zoo.js';
import { initRuntime, tf } from '../src/runtime/backend.js';
import type { TrainableModel } from '../src/train/types.js';
import { DEEPFACE, SHARED, skipUnless } from './helpers.js';

const EXAMPLES = join(SHARED, 'data/faces/face_recognition/examples');
const PHOTOS = [
  join(DEEPFACE, 'img1.jpg'),
  join(DEEPFACE, 'img3.jpg'),
  join(EXAMPLES, 'obama.jpg'),
  join(EXAMPLES, 'biden.jpg'),
];
const SKIP = skipUnless(PHOTOS, 'deepface and face_recognition example photos');
const manifest = getModel('dlib-resnet-v1');

/** The chips as the backbone's input: the manifest's normalisation, in NHWC. */
function batch(chips: RgbImage[]): tf.Tensor4D {
  const size = DLIB_RESNET_SIZE * DLIB_RESNET_SIZE * 3;
  const data = new Float32Array(chips.length * size);
  chips.forEach((c, i) => fillInput(c, { ...manifest.input, layout: 'nhwc' }, data, i * size));
  return tf.tensor4d(data, [chips.length, DLIB_RESNET_SIZE, DLIB_RESNET_SIZE, 3]);
}

function unit(v: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(v);
  const n = Math.hypot(...out);
  return out.map((x) => x / n);
}

describe('dlib-resnet backbone', () => {
  let bb: DlibResnetBackbone;
  before(async () => {
    await initRuntime();
    bb = createDlibResnet();
  });
  after(() => bb?.dispose());

  it("uses the inference model's pre-processing (150x150 RGB, (v - mean) / 255)", () => {
    const { input } = manifest;
    assert.equal(input.width, DLIB_RESNET_SIZE);
    assert.equal(input.height, DLIB_RESNET_SIZE);
    assert.equal(input.color, 'rgb');
    assert.deepEqual(input.mean, [...DLIB_RESNET_MEAN]);
    assert.deepEqual(input.std, [DLIB_RESNET_STD, DLIB_RESNET_STD, DLIB_RESNET_STD]);
    assert.deepEqual(manifest.alignment, { template: 'dlib', padding: 0.25 });
    assert.equal(manifest.output?.dim, DLIB_RESNET_DIM);
  });

  it('rejects bad input and incomplete weights', () => {
    assert.throws(() => bb.apply(tf.zeros([1, 112, 112, 3])), /NHWC \[N, 150, 150, 3\]/);
    assert.throws(() => loadDlibResnetWeights(bb, new Map()), /"conv32_down\/conv\/filters" is missing/);
  });

  it('with face-api weights, matches the onnx Embedder on real dlib chips (cosine >= 0.9999)', async (t) => {
    if (SKIP) return t.skip(SKIP);
    await loadPretrainedDlibResnet(bb);
    const detector = await FaceApiDetector.open();
    const chips: RgbImage[] = [];
    try {
      for (const p of PHOTOS) {
        const img = await decodeImage(p);
        const faces = await detector.detect(img);
        assert.ok(faces.length > 0, `${p}: no face`);
        chips.push(alignFace(img, faces[0]!, { alignment: manifest.alignment }).image);
      }
    } finally {
      detector.dispose();
    }
    const embedder = await Embedder.load(await resolveModel('dlib-resnet-v1'), { threads: 1 });
    let ref: Float32Array[];
    try {
      assert.equal(embedder.engine, 'onnx');
      ref = await embedder.embed(chips, { flip: false });
    } finally {
      await embedder.dispose();
    }
    const x = batch(chips);
    const y = bb.apply(x);
    const got = y.arraySync() as number[][];
    tf.dispose([x, y]);
    const cosines = got.map((g, i) => {
      const a = unit(g);
      const b = unit(ref[i]!);
      return a.reduce((s, v, k) => s + v * b[k]!, 0);
    });
    t.diagnostic(
      `1 - cosine on backend ${tf.getBackend()}: ${cosines.map((c) => (1 - c).toExponential(1)).join(', ')}`,
    );
    cosines.forEach((c, i) => assert.ok(c >= 0.9999, `${PHOTOS[i]}: cosine ${c}`));
    // Different people must not look alike: the comparison is not between constant vectors.
    const a = unit(got[0]!);
    const b = unit(got[2]!);
    assert.ok(a.reduce((s, v, k) => s + v * b[k]!, 0) < 0.9, 'img1 and obama embed alike');
  });

  it('one backward pass gives every trainable variable a finite, non-zero gradient', () => {
    // The trainer's model contract (checked by the compiler): trainable, namedWeights, apply.
    const model: TrainableModel = bb;
    assert.equal(model.trainable.length, model.namedWeights().size);
    const x = tf.randomUniform(
      [2, DLIB_RESNET_SIZE, DLIB_RESNET_SIZE, 3],
      -0.5,
      0.5,
      'float32',
      7,
    ) as tf.Tensor4D;
    const r = tf.randomNormal([2, DLIB_RESNET_DIM], 0, 1, 'float32', 8);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(bb.apply(x, true), r)) as tf.Scalar,
      bb.trainable,
    );
    try {
      assert.ok(Number.isFinite(value.dataSync()[0]));
      assert.equal(Object.keys(grads).length, bb.trainable.length);
      for (const v of bb.trainable) {
        const g = grads[v.name]!.dataSync();
        assert.ok(g.every(Number.isFinite), `${v.name}: non-finite gradient`);
        assert.ok(
          g.some((e) => e !== 0),
          `${v.name}: all-zero gradient`,
        );
      }
    } finally {
      tf.dispose([x, r, value, ...Object.values(grads)]);
    }
  });
});
