/**
 * The wasm Sum over leading axes (runtime/kernels/sum.ts) against the cpu backend's Sum, and the
 * reductions it must leave to the backend's own kernel (other axes, int32, all axes).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '../src/runtime/kernels/index.js';
import { leadingAxes } from '../src/runtime/kernels/sum.js';
import { relErr, seededUniform } from './helpers.js';

/*
 * Float32 sums in another order: the cpu backend adds m values one after another, the kernel in
 * 64-term blocks added in float64. Inputs are offset (mean 3) so a sum is far from 0 and the
 * relative error is that of summation, at most ~m * 6e-8 for cpu's order (m <= 3,136 here); a
 * wrong row or column would be off by a whole term (>= 1e-3 relative).
 */
const TOL = 2e-5;

function sums(shape: number[], axis: number | number[], keepDims: boolean, seed: number): Float32Array {
  return tf.tidy(() => {
    const size = shape.reduce((a, b) => a * b, 1);
    const x = tf.add(tf.tensor(seededUniform(seed, size), shape), 3);
    const s = tf.sum(x, axis, keepDims);
    return s.dataSync() as Float32Array;
  });
}

async function check(shape: number[], axis: number | number[], keepDims = false, seed = 1): Promise<void> {
  await tf.setBackend('cpu');
  const want = sums(shape, axis, keepDims, seed);
  await tf.setBackend('wasm');
  const got = sums(shape, axis, keepDims, seed);
  const e = relErr(got, want);
  assert.ok(e <= TOL, `[${shape}] axis ${JSON.stringify(axis)}: rel err ${e}`);
}

before(async () => {
  registerTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

test('leadingAxes recognises exactly the leading-axes reductions', () => {
  assert.equal(leadingAxes([0, 1, 2], 4), 3);
  assert.equal(leadingAxes([2, 0, 1], 4), 3);
  assert.equal(leadingAxes([-4, -3], 4), 2);
  assert.equal(leadingAxes(0, 2), 1);
  assert.equal(leadingAxes([1, 2], 4), 0); // not leading
  assert.equal(leadingAxes([0, 1], 2), 0); // all axes: the backend's path has no transpose
  assert.equal(leadingAxes([0, 2], 3), 0);
});

test('Sum over leading axes matches cpu (NHWC bias gradients, odd sizes, keepDims, 2-d)', async () => {
  await check([2, 5, 7, 13], [0, 1, 2]); // 70 rows, 13 channels
  await check([4, 28, 28, 64], [0, 1, 2], false, 2); // 3,136 rows
  await check([2, 5, 7, 13], [0, 1, 2], true, 3);
  await check([7, 21], 0, false, 4);
  await check([3, 4, 5, 6], [0, 1], false, 5); // [12, 30]
  await check([1, 1, 1, 9], [0, 1, 2], false, 6); // one row
});

test('other reductions keep the backend kernel and still match cpu', async () => {
  await check([3, 4, 5, 6], [1, 2], false, 7);
  await check([3, 4, 5], [0, 1, 2], false, 8);
  await tf.setBackend('wasm');
  const s = tf.sum(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), 0);
  assert.equal(s.dtype, 'int32');
  assert.deepEqual([...s.dataSync()], [4, 6]);
  s.dispose();
});
