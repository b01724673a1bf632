/**
 * The wasm MaxPoolGrad (runtime/kernels/max_pool_grad.ts, wasm/pool.c) against the cpu backend's,
 * on the dlib ResNet's 3x3/2 'valid' pool and on padded, odd and tied cases: after a ReLU many
 * windows hold equal maxima, and both must send the gradient to the same (first) one.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '../src/runtime/kernels/index.js';
import { registerTfjsGradients } from '../src/runtime/kernels/util.js';
import { relErr, seededUniform } from './helpers.js';

type Pad = 'same' | 'valid' | number;

/** dx of sum(maxPool(relu(x)) * r), through the public ops (MaxPoolGrad via the registered gradient). */
function grad(shape: number[], k: number, s: number, pad: Pad, seed: number): Float32Array {
  return tf.tidy(() => {
    const size = shape.reduce((a, b) => a * b, 1);
    const x = tf.relu(tf.tensor4d(seededUniform(seed, size), shape as [number, number, number, number]));
    const outShape = tf.maxPool(x as tf.Tensor4D, k, s, pad).shape;
    const r = tf.tensor(
      seededUniform(
        seed + 1,
        outShape.reduce((a, b) => a * b, 1),
      ),
      outShape,
    );
    const g = tf.grad((xin: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xin as tf.Tensor4D, k, s, pad), r)))(x);
    return g.dataSync() as Float32Array;
  });
}

async function check(shape: number[], k: number, s: number, pad: Pad, seed: number): Promise<void> {
  await tf.setBackend('cpu');
  const want = grad(shape, k, s, pad, seed);
  await tf.setBackend('wasm');
  const got = grad(shape, k, s, pad, seed);
  const label = `[${shape}] ${k}x${k}/${s} ${pad}`;
  // Routing: the same elements receive gradient (a tie broken the other way moves a whole value).
  const routed = (a: Float32Array) => [...a].map((v) => v !== 0);
  assert.deepEqual(routed(got), routed(want), `${label}: gradient routed elsewhere`);
  // Where windows overlap an element sums up to 4 dy values: cpu in float64 then rounded once,
  // the kernel in float32 (measured: 1 ulp apart at most).
  assert.ok(relErr(got, want) <= 1e-6, `${label}: rel err ${relErr(got, want)}`);
}

before(async () => {
  await registerTfjsGradients();
  registerTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

test('MaxPoolGrad matches cpu, ties after ReLU included', async () => {
  await check([2, 15, 15, 32], 3, 2, 'valid', 1); // the dlib ResNet's pool, smaller
  await check([1, 9, 11, 5], 3, 2, 'same', 2); // padding, odd sizes, 4 + 1 channels
  await check([2, 8, 8, 3], 2, 2, 'valid', 3); // disjoint windows, fewer channels than a lane
  await check([1, 7, 7, 8], 3, 1, 1, 4); // overlapping stride-1 windows: dy values accumulate
});
