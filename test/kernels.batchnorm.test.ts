/**
 * The wasm training-mode batch-norm kernels (runtime/kernels/batch_norm.ts, wasm/bn.c) against the
 * composite of tf ops that fusedBatchNorm runs on the cpu backend: output, running statistics and
 * every gradient, with and without the PReLU, on odd shapes (channels not a multiple of 4, row
 * counts across the 64-row summation blocks, batch 1, BatchNorm1d) and a MobileFaceNet-sized one.
 * Also: the zero-copy Identity shares data and frees it once, and a bad shape is refused.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '../src/runtime/kernels/index.js';
import { registerTfjsGradients } from '../src/runtime/kernels/util.js';
import { BN_TRAIN, hasBatchNormKernels } from '../src/runtime/kernels/batch_norm.js';
import { fusedBatchNorm, type BatchNormWeights } from '../src/backbones/layers.js';
import { relErr, seededUniform } from './helpers.js';

/*
 * Both sides compute in float32 and differ in summation order only: the cpu composite sums each
 * channel's m values one after another, the kernel in 64-term float32 blocks added in float64.
 * Measured: at most 6.2e-7 (relative to each output's largest value) across the cases. 1e-5, the
 * other kernel tests' bound, leaves room for other inputs; a wrong or dropped term (m for m - 1, a
 * missing mean(dy) in dx) moves an output by 1e-2 or more.
 */
const TOL = 1e-5;

interface Result {
  [k: string]: Float32Array;
}

function run(shape: number[], prelu: boolean, seed: number): Result {
  const c = shape[shape.length - 1];
  const size = shape.reduce((a, b) => a * b, 1);
  const v = (s: number, n: number, lo = -1, hi = 1) =>
    Float32Array.from(seededUniform(s, n), (u) => lo + ((u + 1) / 2) * (hi - lo));
  const variable = (init: tf.Tensor1D, trainable = true): tf.Variable<tf.Rank.R1> => {
    const out = tf.variable(init, trainable);
    init.dispose(); // the variable keeps its own reference to the data
    return out;
  };
  const bn: BatchNormWeights = {
    weight: variable(tf.tensor1d(v(seed + 1, c, 0.5, 1.5))),
    bias: variable(tf.tensor1d(v(seed + 2, c))),
    runningMean: variable(tf.zeros([c]) as tf.Tensor1D, false),
    runningVar: variable(tf.ones([c]) as tf.Tensor1D, false),
    eps: 1e-5,
    momentum: 0.1,
  };
  const alpha = prelu ? variable(tf.tensor1d(v(seed + 3, c, 0, 0.5))) : undefined;
  // Shifted and scaled per element so channels have a mean far from 0 (as real activations).
  const x = tf.tidy(() => tf.add(tf.mul(tf.tensor(v(seed, size), shape), 3), 5));
  const r = tf.tensor(v(seed + 4, size), shape);
  const vars = [bn.weight, bn.bias, ...(alpha ? [alpha] : [])];
  let z: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    z = fusedBatchNorm(x, bn, alpha);
    return tf.sum(tf.mul(tf.keep(z), r));
  }, vars);
  const dx = tf.grad((xin: tf.Tensor) => tf.sum(tf.mul(fusedBatchNorm(xin, bn, alpha), r)))(x);
  const out: Result = {
    z: z!.dataSync() as Float32Array,
    dx: dx.dataSync() as Float32Array,
    dGamma: grads[bn.weight.name].dataSync() as Float32Array,
    dBeta: grads[bn.bias.name].dataSync() as Float32Array,
    runningMean: bn.runningMean.dataSync() as Float32Array,
    runningVar: bn.runningVar.dataSync() as Float32Array,
  };
  if (alpha) out.dAlpha = grads[alpha.name].dataSync() as Float32Array;
  tf.dispose([value, x, r, z!, dx, ...Object.values(grads), ...vars, bn.runningMean, bn.runningVar]);
  return out;
}

async function check(shape: number[], prelu: boolean, seed: number): Promise<void> {
  await tf.setBackend('cpu');
  const want = run(shape, prelu, seed);
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  const got = run(shape, prelu, seed);
  assert.equal(tf.memory().numTensors, before, `[${shape}]: tensors leaked`);
  for (const k of Object.keys(want)) {
    const e = relErr(got[k], want[k]);
    if (process.env.BN_ERR) console.log(`[${shape}] ${prelu} ${k} ${e.toExponential(2)}`);
    assert.ok(e <= TOL, `[${shape}] prelu ${prelu}: ${k} rel err ${e}`);
  }
}

before(async () => {
  await registerTfjsGradients();
  registerTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

test('batch norm (+ PReLU) kernels match the cpu composite on odd shapes and BatchNorm1d', async () => {
  const shapes = [
    [2, 5, 7, 13], // 70 rows: one full 64-row block and a tail; channels 8 + 4 + 1
    [1, 3, 3, 6], // batch 1
    [3, 9, 9, 3], // fewer channels than a SIMD lane
    [7, 21], // BatchNorm1d
    [32, 512], // the embedding BN
  ];
  let seed = 1;
  for (const s of shapes) for (const prelu of [false, true]) await check(s, prelu, (seed += 10));
});

test('batch norm kernels on a MobileFaceNet layer shape (4 x 28 x 28 x 128)', async () => {
  await check([4, 28, 28, 128], true, 99);
});

test('the wasm kernel is what runs on wasm, and bad shapes are refused', async () => {
  assert.ok(hasBatchNormKernels('wasm') && !hasBatchNormKernels('cpu'));
  await tf.setBackend('wasm');
  const x = tf.ones([4, 6]);
  const g = tf.ones([5]);
  assert.throws(
    () => tf.engine().runKernel(BN_TRAIN, { x, gamma: g, beta: g }, {}),
    /gamma must have shape \[6\]/,
  );
  tf.dispose([x, g]);
});

test('zero-copy Identity: a clone shares the data and the data lives until the last reference goes', async () => {
  await tf.setBackend('wasm');
  const ids = () => tf.engine().backend.numDataIds();
  const before = ids();
  const a = tf.tensor1d([1, 2, 3]);
  const b = tf.clone(a);
  assert.equal(ids(), before + 1, 'the clone allocated');
  a.dispose();
  assert.deepEqual([...b.dataSync()], [1, 2, 3]);
  b.dispose();
  assert.equal(ids(), before, 'the data was not freed');
});
