/**
 * The wasm Conv2DBackpropInput / Conv2DBackpropFilter kernels against the cpu backend's, on the
 * IResNet / MobileFaceNet conv shapes, plus tf.grads of a small conv net and a leak check.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '../src/runtime/kernels/index.js';
import { registerTfjsGradients } from '../src/runtime/kernels/util.js';
import { setIm2colBudget } from '../src/runtime/kernels/conv2d_backprop_filter.js';
import { relErr, seededUniform } from './helpers.js';

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];
type Pad = 'same' | 'valid' | number | Pad4;
interface Case {
  n: number;
  size: number;
  ci: number;
  co: number;
  k: number;
  s: number;
  pad: Pad;
  round?: 'floor' | 'round' | 'ceil';
}

const TOL = 1e-5;

/** dx and dW for one case on the current backend, through the public ops. */
function gradients(cs: Case, seed: number): { dx: Float32Array; dw: Float32Array } {
  const xShape: [number, number, number, number] = [cs.n, cs.size, cs.size, cs.ci];
  const wShape: [number, number, number, number] = [cs.k, cs.k, cs.ci, cs.co];
  return tf.tidy(() => {
    const x = tf.tensor4d(seededUniform(seed, cs.n * cs.size * cs.size * cs.ci), xShape);
    const w = tf.tensor4d(seededUniform(seed + 1, cs.k * cs.k * cs.ci * cs.co), wShape);
    const yShape = tf.conv2d(x, w, cs.s, cs.pad, 'NHWC', 1, cs.round).shape;
    const dy = tf.tensor4d(
      seededUniform(
        seed + 2,
        yShape.reduce((a, b) => a * b),
      ),
      yShape,
    );
    const dx = tf.conv2dTranspose(dy, w, xShape, cs.s, cs.pad, cs.round);
    const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
      strides: cs.s,
      pad: cs.pad,
      dataFormat: 'NHWC',
      dimRoundingMode: cs.round,
      filterShape: wShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

async function check(cs: Case, seed: number): Promise<void> {
  await tf.setBackend('cpu');
  const want = gradients(cs, seed);
  await tf.setBackend('wasm');
  const got = gradients(cs, seed);
  const label = JSON.stringify(cs);
  const ex = relErr(got.dx, want.dx);
  const ew = relErr(got.dw, want.dw);
  assert.ok(ex <= TOL, `dx ${label}: rel err ${ex}`);
  assert.ok(ew <= TOL, `dW ${label}: rel err ${ew}`);
}

before(async () => {
  registerTrainingKernels();
  await registerTfjsGradients();
  assert.ok(await tf.setBackend('wasm'));
});

const PAD1: Pad4 = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];
const PAD_ASYM: Pad4 = [
  [0, 0],
  [0, 2],
  [1, 0],
  [0, 0],
];

test('3x3 conv gradients match cpu (sizes 112/56/28/15/7, stride 1/2, same/valid/explicit)', async () => {
  const cases: Case[] = [
    { n: 1, size: 112, ci: 3, co: 16, k: 3, s: 2, pad: 'same' },
    { n: 4, size: 56, ci: 16, co: 16, k: 3, s: 1, pad: 'same' },
    { n: 1, size: 56, ci: 16, co: 64, k: 3, s: 2, pad: PAD1 },
    { n: 4, size: 28, ci: 64, co: 64, k: 3, s: 2, pad: 'same' },
    { n: 4, size: 15, ci: 64, co: 64, k: 3, s: 2, pad: 'valid' },
    { n: 1, size: 15, ci: 16, co: 16, k: 3, s: 1, pad: 'valid' },
    { n: 4, size: 7, ci: 128, co: 128, k: 3, s: 1, pad: 'same' },
    { n: 1, size: 15, ci: 16, co: 3, k: 3, s: 2, pad: PAD_ASYM },
    { n: 4, size: 16, ci: 16, co: 16, k: 3, s: 2, pad: 'valid' },
    { n: 1, size: 28, ci: 3, co: 16, k: 3, s: 1, pad: 1 },
    { n: 1, size: 16, ci: 16, co: 16, k: 3, s: 2, pad: 0, round: 'ceil' },
    { n: 2, size: 31, ci: 3, co: 8, k: 7, s: 2, pad: 'valid' }, // the dlib ResNet's stem
  ];
  for (const [i, cs] of cases.entries()) await check(cs, 100 + i);
});

test('1x1 conv gradients match cpu (stride 1 and 2 projections)', async () => {
  const cases: Case[] = [
    { n: 4, size: 7, ci: 128, co: 64, k: 1, s: 1, pad: 'valid' },
    { n: 4, size: 14, ci: 64, co: 128, k: 1, s: 2, pad: 'same' },
    { n: 1, size: 15, ci: 16, co: 64, k: 1, s: 2, pad: 'valid' },
    { n: 1, size: 56, ci: 64, co: 16, k: 1, s: 1, pad: 'same' },
  ];
  for (const [i, cs] of cases.entries()) await check(cs, 200 + i);
});

test('dW in chunks of output rows that cross image boundaries equals the one-shot result', async () => {
  const old = setIm2colBudget(64 * 1024); // 7 of 15 output rows per chunk in the first case
  try {
    await check({ n: 4, size: 15, ci: 16, co: 16, k: 3, s: 1, pad: 'same' }, 300);
    await check({ n: 3, size: 14, ci: 16, co: 8, k: 3, s: 2, pad: 'valid' }, 301);
  } finally {
    setIm2colBudget(old);
  }
});

test('unsupported attributes throw clear errors', async () => {
  await tf.setBackend('wasm');
  const dy = tf.zeros([1, 4, 4, 2]);
  const w = tf.zeros([3, 3, 2, 2]);
  const x = tf.zeros([1, 4, 4, 2]);
  const base = { strides: 1, pad: 'same' };
  assert.throws(
    () =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
        ...base,
        dataFormat: 'NCHW',
        inputShape: [1, 4, 4, 2],
      } as tf.NamedAttrMap),
    /NHWC only/,
  );
  assert.throws(
    () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        ...base,
        dataFormat: 'NHWC',
        dilations: 2,
        filterShape: [3, 3, 2, 2],
      } as tf.NamedAttrMap),
    /dilations 1 only/,
  );
  tf.dispose([dy, w, x]);
});

/** A small conv net: 3x3 s2 -> relu -> 3x3 s1 -> relu -> 1x1 -> mean square. */
function netGrads(seed: number): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(seededUniform(seed, 2 * 15 * 15 * 3), [2, 15, 15, 3]);
    const w1 = tf.tensor4d(seededUniform(seed + 1, 3 * 3 * 3 * 8), [3, 3, 3, 8]);
    const w2 = tf.tensor4d(seededUniform(seed + 2, 3 * 3 * 8 * 8), [3, 3, 8, 8]);
    const w3 = tf.tensor4d(seededUniform(seed + 3, 8 * 4), [1, 1, 8, 4]);
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor): tf.Tensor => {
      const h1 = tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'));
      const h2 = tf.relu(tf.conv2d(h1, c as tf.Tensor4D, 1, PAD1));
      return tf.mean(tf.square(tf.conv2d(h2, d as tf.Tensor4D, 1, 'valid')));
    };
    return tf
      .grads(f)([x, w1, w2, w3])
      .map((g) => g.dataSync() as Float32Array);
  });
}

test('tf.grads of a small conv net: wasm equals cpu', async () => {
  await tf.setBackend('cpu');
  const want = netGrads(7);
  await tf.setBackend('wasm');
  const got = netGrads(7);
  for (let i = 0; i < want.length; i++)
    assert.ok(relErr(got[i], want[i]) <= TOL, `grad ${i}: ${relErr(got[i], want[i])}`);
});

test('no tensor or wasm-memory leak over 100 SGD steps (GEMM, Winograd and strided paths)', async () => {
  await tf.setBackend('wasm');
  const backend = tf.backend() as unknown as BackendWasm;
  const x = tf.tensor4d(seededUniform(1, 4 * 16 * 16 * 3), [4, 16, 16, 3]);
  const w1 = tf.variable(tf.tensor4d(seededUniform(2, 3 * 3 * 3 * 8), [3, 3, 3, 8]));
  const w2 = tf.variable(tf.tensor4d(seededUniform(3, 3 * 3 * 8 * 64), [3, 3, 8, 64]));
  // 64 channels in and out: Winograd forward, input gradient and weight gradient.
  const w3 = tf.variable(tf.tensor4d(seededUniform(4, 3 * 3 * 64 * 64), [3, 3, 64, 64]));
  const ws = [w1, w2, w3];
  const loss = (): tf.Scalar => {
    const h = tf.relu(tf.conv2d(x, w1 as tf.Tensor4D, 2, 'same'));
    const h2 = tf.relu(tf.conv2d(h, w2 as tf.Tensor4D, 1, 'same'));
    return tf.mean(tf.square(tf.conv2d(h2, w3 as tf.Tensor4D, 1, 'same')));
  };
  const step = (): void => {
    const { value, grads } = tf.variableGrads(loss, ws);
    tf.tidy(() => ws.forEach((w) => w.assign(tf.sub(w, tf.mul(grads[w.name]!, 0.01)))));
    tf.dispose([value, ...Object.values(grads)]);
  };
  const snapshot = () => ({
    tensors: tf.memory().numTensors,
    bytes: tf.memory().numBytes,
    dataIds: backend.dataIdMap.numDataIds(),
    heap: (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.length,
  });
  for (let i = 0; i < 5; i++) step();
  const first = snapshot();
  for (let i = 0; i < 100; i++) step();
  assert.deepEqual(snapshot(), first);
  tf.dispose([x, ...ws]);
});
