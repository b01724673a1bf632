/**
 * The wasm depthwise-conv gradient kernels against the cpu backend's, on the MobileFaceNet shapes.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '../src/runtime/kernels/index.js';
import { relErr, seededUniform } from './helpers.js';

type Pad =
  'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  n: number;
  size: number;
  c: number;
  k: number;
  stride: number;
  pad: Pad;
  m?: number;
  round?: 'floor' | 'round' | 'ceil';
}

const TOL = 1e-5;

/** Runs both gradient kernels for one case on the current backend. */
function gradients(cs: Case, seed: number): { dx: Float32Array; dw: Float32Array } {
  const m = cs.m ?? 1;
  const xShape: [number, number, number, number] = [cs.n, cs.size, cs.size, cs.c];
  const wShape: [number, number, number, number] = [cs.k, cs.k, cs.c, m];
  const attrs = {
    strides: cs.stride,
    pad: cs.pad,
    dilations: 1,
    ...(cs.round ? { dimRoundingMode: cs.round } : {}),
  };
  return tf.tidy(() => {
    const x = tf.tensor4d(
      seededUniform(
        seed,
        xShape.reduce((p, d) => p * d),
      ),
      xShape,
    );
    const w = tf.tensor4d(
      seededUniform(
        seed + 1,
        wShape.reduce((p, d) => p * d),
      ),
      wShape,
    );
    const outShape = tf.depthwiseConv2d(x, w, cs.stride, cs.pad, 'NHWC', 1, cs.round).shape;
    const dy = tf.tensor(
      seededUniform(
        seed + 2,
        outShape.reduce((p, d) => p * d),
      ),
      outShape,
    );
    const eng = tf.engine();
    const dx = eng.runKernel(
      'DepthwiseConv2dNativeBackpropInput',
      { dy, filter: w },
      {
        ...attrs,
        inputShape: xShape,
      },
    ) as tf.Tensor;
    const dw = eng.runKernel(
      'DepthwiseConv2dNativeBackpropFilter',
      { x, dy },
      {
        ...attrs,
        filterShape: wShape,
      },
    ) as tf.Tensor;
    assert.deepEqual(dx.shape, xShape);
    assert.deepEqual(dw.shape, wShape);
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

async function compare(cs: Case, seed: number): Promise<void> {
  await tf.setBackend('cpu');
  const want = gradients(cs, seed);
  await tf.setBackend('wasm');
  const got = gradients(cs, seed);
  const e = [relErr(got.dx, want.dx), relErr(got.dw, want.dw)];
  assert.ok(e[0] <= TOL && e[1] <= TOL, `${JSON.stringify(cs)}: rel err dx ${e[0]}, dw ${e[1]}`);
}

/**
 * tfjs-core's Node entry registers no gradients (the @tensorflow/tfjs union package does, and its
 * ESM gradient files do not load under Node). The block below needs these few; each is the same
 * on both backends, so only the depthwise kernels under test differ. Kept if already registered.
 */
function ensureGradients(): void {
  const run = (name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap) =>
    tf.engine().runKernel(name, inputs, attrs) as tf.Tensor;
  const grads: tf.GradConfig[] = [
    {
      kernelName: 'DepthwiseConv2dNative',
      inputsToSave: ['x', 'filter'],
      gradFunc: (dy, [x, filter], attrs) => ({
        x: () =>
          run(
            'DepthwiseConv2dNativeBackpropInput',
            { dy: dy as tf.Tensor, filter },
            { ...attrs, inputShape: x.shape },
          ),
        filter: () =>
          run(
            'DepthwiseConv2dNativeBackpropFilter',
            { x, dy: dy as tf.Tensor },
            { ...attrs, filterShape: filter.shape },
          ),
      }),
    },
    {
      kernelName: 'Relu',
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.cast(tf.greater(x, 0), 'float32')) }),
    },
    {
      kernelName: 'Reshape',
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as tf.Tensor, x.shape) }),
    },
    {
      kernelName: 'BatchMatMul',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, [a, b]) => ({
        a: () => tf.matMul(dy as tf.Tensor, b, false, true),
        b: () => tf.matMul(a, dy as tf.Tensor, true, false),
      }),
    },
    {
      kernelName: 'Square',
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.mul(x, 2)) }),
    },
    {
      kernelName: 'Mean', // over all axes only, as used below
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({ x: () => tf.div(tf.mul(tf.onesLike(x), dy as tf.Tensor), x.size) }),
    },
  ];
  for (const g of grads) if (!tf.getGradient(g.kernelName)) tf.registerGradient(g);
}

before(async () => {
  ensureGradients();
  registerTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

const sizes = [56, 28, 15, 7];
const pads: Pad[] = [
  'same',
  'valid',
  1,
  [
    [0, 0],
    [1, 1],
    [1, 1],
    [0, 0],
  ],
];
const channels = [8, 64, 128];

test('3x3 depthwise gradients match cpu (sizes 56/28/15/7, stride 1/2, same/valid/explicit)', async () => {
  let i = 0;
  for (const size of sizes) {
    for (const stride of [1, 2]) {
      for (const pad of pads) {
        // Rotate channels and batch so every value meets every size, keeping the run short.
        const c = channels[i % 3];
        const n = size >= 56 && c === 128 ? 1 : [1, 4][(i >> 1) % 2];
        await compare({ n, size, c, k: 3, stride, pad }, 100 + i++);
      }
    }
  }
});

test('channel tails and batch 4 on 56x56', async () => {
  await compare({ n: 4, size: 56, c: 64, k: 3, stride: 2, pad: 'same' }, 7);
  await compare({ n: 2, size: 9, c: 21, k: 3, stride: 1, pad: 'same' }, 8); // 16 + 4 + 1 lanes
  await compare({ n: 1, size: 6, c: 3, k: 3, stride: 2, pad: 1 }, 9);
});

test('GDC: 7x7 valid depthwise on 7x7x512', async () => {
  await compare({ n: 4, size: 7, c: 512, k: 7, stride: 1, pad: 'valid' }, 11);
});

test('dimRoundingMode, asymmetric explicit padding, channel multiplier 2', async () => {
  await compare({ n: 2, size: 8, c: 8, k: 3, stride: 2, pad: 0, round: 'ceil' }, 21);
  await compare({ n: 2, size: 8, c: 8, k: 3, stride: 2, pad: 0, round: 'floor' }, 22);
  const asym: Pad = [
    [0, 0],
    [0, 2],
    [1, 0],
    [0, 0],
  ];
  await compare({ n: 2, size: 10, c: 12, k: 3, stride: 2, pad: asym }, 23);
  await compare({ n: 2, size: 9, c: 6, k: 3, stride: 1, pad: 'same', m: 2 }, 24);
  await compare({ n: 1, size: 7, c: 5, k: 3, stride: 2, pad: 1, m: 2 }, 26); // 4 + 1 channel pairs
  // MobileFaceNet's 64-group conv (2 in, 2 out per group) runs as this, at 56x56.
  await compare({ n: 2, size: 28, c: 128, k: 3, stride: 1, pad: 1, m: 2 }, 27);
  await compare({ n: 1, size: 10, c: 4, k: 5, stride: 2, pad: 'valid', m: 3 }, 25);
});

test('dilations other than 1 are refused clearly', async () => {
  await tf.setBackend('wasm');
  tf.tidy(() => {
    const x = tf.ones([1, 8, 8, 4]);
    const dy = tf.ones([1, 8, 8, 4]);
    const attrs = { strides: 1, pad: 'same', dilations: 2, filterShape: [3, 3, 4, 1] };
    assert.throws(
      () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs),
      /dilations/,
    );
  });
});

/** Depthwise 3x3 -> relu -> pointwise (as a matMul, so only our kernels are needed) -> loss. */
function block(x: tf.Tensor4D, dwf: tf.Tensor4D, pw: tf.Tensor2D, stride: number): tf.Scalar {
  const h = tf.relu(tf.depthwiseConv2d(x, dwf, stride, 'same'));
  const [n, oh, ow, c] = h.shape;
  return tf.mean(tf.square(tf.matMul(tf.reshape(h, [n * oh * ow, c]), pw)));
}

function blockGrads(stride: number): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(seededUniform(1, 2 * 14 * 14 * 16), [2, 14, 14, 16]);
    const dwf = tf.tensor4d(seededUniform(2, 3 * 3 * 16), [3, 3, 16, 1]);
    const pw = tf.tensor2d(seededUniform(3, 16 * 24), [16, 24]);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      block(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor2D, stride),
    )([x, dwf, pw]);
    return g.map((t) => t.dataSync() as Float32Array);
  });
}

test('tf.grads of a depthwise-separable block: wasm equals cpu', async () => {
  for (const stride of [1, 2]) {
    await tf.setBackend('cpu');
    const want = blockGrads(stride);
    await tf.setBackend('wasm');
    const got = blockGrads(stride);
    for (let i = 0; i < want.length; i++)
      assert.ok(relErr(got[i], want[i]) <= TOL, `grad ${i}, stride ${stride}`);
  }
});

test('no tensor or heap leak over 100 training steps', async () => {
  await tf.setBackend('wasm');
  const x = tf.tensor4d(seededUniform(4, 4 * 14 * 14 * 32), [4, 14, 14, 32]);
  const dwf = tf.variable(tf.tensor4d(seededUniform(5, 3 * 3 * 32), [3, 3, 32, 1]));
  const pw = tf.variable(tf.tensor2d(seededUniform(6, 32 * 32), [32, 32]));
  const opt = tf.train.sgd(0.01);
  const step = () => opt.minimize(() => block(x, dwf, pw, 2), false, [dwf, pw]);
  step(); // the optimizer keeps its iteration counter etc. from the first step on
  const before = tf.memory();
  for (let i = 0; i < 100; i++) step();
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors);
  assert.equal(after.numBytes, before.numBytes);
  const loss = block(x, dwf, pw, 2);
  assert.ok(Number.isFinite(loss.dataSync()[0]));
  tf.dispose([loss, x, dwf, pw]);
  opt.dispose();
});

test('forward depthwise conv with channel multiplier 2 and 3 (m = 1 on repeated channels) matches cpu', async () => {
  const cases: [number[], number[], number, 'same' | 'valid' | number][] = [
    [[2, 9, 9, 6], [3, 3, 6, 2], 1, 'same'],
    [[1, 10, 7, 5], [3, 3, 5, 2], 2, 'valid'], // 4 + 1 channels, stride 2
    [[2, 8, 8, 4], [5, 5, 4, 3], 1, 2],
    [[2, 28, 28, 128], [3, 3, 128, 2], 1, 1], // MobileFaceNet's 64-group conv
  ];
  for (const [i, [xs, ws, stride, pad]] of cases.entries()) {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(
          seededUniform(
            40 + i,
            xs.reduce((a, b) => a * b),
          ),
          xs as [number, number, number, number],
        );
        const w = tf.tensor4d(
          seededUniform(
            50 + i,
            ws.reduce((a, b) => a * b),
          ),
          ws as [number, number, number, number],
        );
        return tf.depthwiseConv2d(x, w, stride, pad).dataSync() as Float32Array;
      });
    await tf.setBackend('cpu');
    const want = run();
    await tf.setBackend('wasm');
    const got = run();
    assert.ok(relErr(got, want) <= TOL, `[${xs}] * [${ws}]: rel err ${relErr(got, want)}`);
  }
});
