/**
 * The wasm Conv2D's Winograd F(2x2, 3x3) path (runtime/kernels/winograd.ts, wasm/winograd.c)
 * against the cpu backend's direct conv: odd sizes (odd output rows and columns leave half tiles),
 * 'same' / 'valid' / explicit and asymmetric padding, batch 1, channel counts not a multiple of
 * 4, several image chunks; and the convs it must leave to the backend.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '../src/runtime/kernels/index.js';
import { MIN_CHANNELS, setWinogradBudget, winogradPlan } from '../src/runtime/kernels/winograd.js';
import { relErr, seededUniform } from './helpers.js';

/*
 * Winograd's transforms add and subtract up to 4 inputs before and after the products, so its
 * float32 rounding differs from the direct sum's by a few ulps per term. Measured: at most
 * 2.5e-6 relative to the largest output (512 channels); 1e-5 is the other conv kernels' bound.
 * A wrong transform coefficient or a misplaced tile moves outputs by 1e-1 or more.
 */
const TOL = 1e-5;

type Pad =
  'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

function conv(xs: number[], ws: number[], pad: Pad, seed: number, stride = 1): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(
      seededUniform(
        seed,
        xs.reduce((a, b) => a * b),
      ),
      xs as [number, number, number, number],
    );
    const w = tf.tensor4d(
      seededUniform(
        seed + 1,
        ws.reduce((a, b) => a * b),
      ),
      ws as [number, number, number, number],
    );
    return tf.conv2d(x, w, stride, pad).dataSync() as Float32Array;
  });
}

async function check(xs: number[], ws: number[], pad: Pad, seed: number, stride = 1): Promise<void> {
  await tf.setBackend('cpu');
  const want = conv(xs, ws, pad, seed, stride);
  await tf.setBackend('wasm');
  const got = conv(xs, ws, pad, seed, stride);
  const e = relErr(got, want);
  assert.ok(e <= TOL, `[${xs}] * [${ws}] pad ${JSON.stringify(pad)} stride ${stride}: rel err ${e}`);
}

before(async () => {
  registerTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

test('Winograd applies to stride-1 3x3 NHWC float32 convs with enough channels only', () => {
  const t = (shape: number[], dtype: 'float32' | 'int32' = 'float32') => ({ dataId: {}, shape, dtype });
  const x = t([2, 9, 9, 64]);
  const w = t([3, 3, 64, 64]);
  assert.ok(winogradPlan(x, w, { strides: 1, pad: 'same', dilations: 1 }));
  assert.ok(winogradPlan(x, w, { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC' }));
  assert.equal(winogradPlan(x, w, { strides: 2, pad: 'same' }), undefined);
  assert.equal(winogradPlan(x, w, { strides: 1, pad: 'same', dilations: 2 }), undefined);
  assert.equal(winogradPlan(x, w, { strides: 1, pad: 'same', dataFormat: 'NCHW' }), undefined);
  assert.equal(winogradPlan(x, t([5, 5, 64, 64]), { strides: 1, pad: 'same' }), undefined);
  // Below the forward threshold in channels: the GEMM conv; the weight gradient's is lower.
  const few = MIN_CHANNELS.forward - 8;
  assert.equal(winogradPlan(t([2, 9, 9, few]), t([3, 3, few, 64]), { strides: 1, pad: 'same' }), undefined);
  assert.ok(
    winogradPlan(t([2, 9, 9, few]), t([3, 3, few, 64]), { strides: 1, pad: 'same' }, MIN_CHANNELS.filterGrad),
  );
  assert.equal(winogradPlan(t([2, 9, 9, 64], 'int32'), w, { strides: 1, pad: 'same' }), undefined);
});

test('Winograd conv matches cpu: odd sizes, same / valid / explicit / asymmetric padding, batch 1, channel tails', async () => {
  await check([2, 9, 11, 64], [3, 3, 64, 66], 'same', 1); // odd rows and columns: half tiles
  await check([1, 8, 8, 67], [3, 3, 67, 64], 'valid', 2); // 6x6 output, 67 = 16 x 4 + 3 channels
  await check([3, 7, 7, 64], [3, 3, 64, 65], 1, 3);
  const asym: Pad = [
    [0, 0],
    [0, 2],
    [2, 1],
    [0, 0],
  ];
  await check([2, 10, 9, 65], [3, 3, 65, 64], asym, 4);
  await check([1, 3, 3, 64], [3, 3, 64, 64], 'valid', 5); // one output pixel
  await check([2, 14, 14, 128], [3, 3, 128, 128], 'same', 6); // an IResNet / dlib layer, scaled down
});

test('several image chunks give the one-shot result', async () => {
  const old = setWinogradBudget(16 * 1024); // under one image's planes: one image per chunk
  try {
    await check([3, 9, 9, 64], [3, 3, 64, 64], 'same', 7);
  } finally {
    setWinogradBudget(old);
  }
});

test('convs Winograd does not take still match cpu (stride 2, few channels)', async () => {
  await check([2, 9, 9, 64], [3, 3, 64, 64], 'same', 8, 2);
  await check([2, 9, 9, 32], [3, 3, 32, 32], 'same', 9);
});

/** dW of a conv through the kernel, on the current backend. */
function filterGrad(xs: number[], co: number, pad: Pad, seed: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(
      seededUniform(
        seed,
        xs.reduce((a, b) => a * b),
      ),
      xs as [number, number, number, number],
    );
    const w = tf.zeros([3, 3, xs[3], co]) as tf.Tensor4D;
    const yShape = tf.conv2d(x, w, 1, pad).shape;
    const dy = tf.tensor(
      seededUniform(
        seed + 1,
        yShape.reduce((a, b) => a * b),
      ),
      yShape,
    );
    const attrs = { strides: 1, pad, dataFormat: 'NHWC', dilations: 1, filterShape: [3, 3, xs[3], co] };
    return (
      tf
        .engine()
        .runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor
    ).dataSync() as Float32Array;
  });
}

test('Winograd weight gradient (from 16 channels) matches cpu: odd sizes, padding kinds, channel tails, image chunks', async () => {
  const cases: [number[], number, Pad][] = [
    [[2, 9, 11, 16], 18, 'same'],
    [[1, 8, 8, 21], 16, 'valid'],
    [
      [3, 10, 9, 17],
      16,
      [
        [0, 0],
        [0, 2],
        [2, 1],
        [0, 0],
      ],
    ],
    [[4, 17, 17, 64], 64, 'same'], // the dlib ResNet's 17x17 layers, batch 4
  ];
  const old = setWinogradBudget(64 * 1024); // the last case: one image per chunk, sums across chunks
  try {
    for (const [i, [xs, co, pad]] of cases.entries()) {
      await tf.setBackend('cpu');
      const want = filterGrad(xs, co, pad, 20 + i);
      await tf.setBackend('wasm');
      const got = filterGrad(xs, co, pad, 20 + i);
      const e = relErr(got, want);
      assert.ok(e <= TOL, `dW [${xs}] -> ${co} pad ${JSON.stringify(pad)}: rel err ${e}`);
    }
  } finally {
    setWinogradBudget(old);
  }
});
