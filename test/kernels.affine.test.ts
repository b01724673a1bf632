/**
 * dlib's conv tail as one op (backbones/affine_act.ts): the wasm kernels (runtime/kernels/affine.ts,
 * wasm/affine.c) against the same op's composite of tf ops on the cpu backend, forward and every
 * gradient, with and without ReLU and the residual, channel counts with a tail past the SIMD
 * lanes, rows across the 64-row summation blocks; and the composite's gradients against tf's
 * autodiff of the plain expression, so neither side is checked only against itself.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '../src/runtime/kernels/index.js';
import { registerTfjsGradients } from '../src/runtime/kernels/util.js';
import { hasAffineKernels } from '../src/runtime/kernels/affine.js';
import { affineAct } from '../src/backbones/affine_act.js';
import { relErr, seededUniform } from './helpers.js';

// float32 sums over up to 600 rows in either order; a wrong mask, scale or sum is off by far more.
const TOL = 2e-5;

before(async () => {
  registerTrainingKernels();
  await registerTfjsGradients();
  await tf.setBackend('wasm');
  await tf.ready();
});

interface Result {
  y: Float32Array;
  grads: Float32Array[];
}

/** y and the gradients of sum(y * w) with respect to z, bias, scale, shift (and the residual). */
function run(shape: number[], relu: boolean, withResidual: boolean, plain = false): Result {
  return tf.tidy(() => {
    const c = shape[shape.length - 1]!;
    const n = shape.reduce((p, q) => p * q);
    const z = tf.tensor(seededUniform(1, n), shape);
    const bias = tf.tensor1d(seededUniform(2, c));
    // Scales of both signs, so the ReLU mask and the sign of dz both matter.
    const scale = tf.tensor1d(seededUniform(3, c).map((v) => 2 * v));
    const shift = tf.tensor1d(seededUniform(4, c));
    const r = tf.tensor(seededUniform(5, n), shape);
    const weight = tf.tensor(seededUniform(6, n), shape);
    const apply = (...xs: tf.Tensor[]) => {
      const [zz, b, s, t, rr] = xs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor?];
      if (!plain) return affineAct(zz, { bias: b, scale: s, shift: t }, relu, rr);
      let y = tf.add(tf.mul(tf.add(zz, b), s), t);
      if (rr) y = tf.add(y, rr);
      return relu ? tf.relu(y) : y;
    };
    const inputs = withResidual ? [z, bias, scale, shift, r] : [z, bias, scale, shift];
    const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(apply(...xs), weight)))(inputs);
    return {
      y: apply(...inputs).dataSync() as Float32Array,
      grads: grads.map((g) => g.dataSync() as Float32Array),
    };
  });
}

function close(got: Result, want: Result, label: string): void {
  assert.equal(got.grads.length, want.grads.length, label);
  const ey = relErr(got.y, want.y);
  assert.ok(ey <= TOL, `${label}: y rel err ${ey}`);
  const names = ['dz', 'dbias', 'dscale', 'dshift', 'dresidual'];
  got.grads.forEach((g, i) => {
    const e = relErr(g, want.grads[i]!);
    assert.ok(e <= TOL, `${label}: ${names[i]} rel err ${e}`);
  });
}

const SHAPES = [
  [2, 5, 7, 6],
  [3, 9, 11, 8],
  [600, 3],
];

test('the wasm backend has the kernels, cpu keeps the composite', () => {
  assert.equal(hasAffineKernels('wasm'), true);
  assert.equal(hasAffineKernels('cpu'), false);
});

test('wasm kernels match the composite on cpu and tf autodiff: forward and every gradient', async () => {
  for (const shape of SHAPES)
    for (const relu of [true, false])
      for (const res of [false, true]) {
        const label = `[${shape}] relu=${relu} residual=${res}`;
        await tf.setBackend('cpu');
        const composite = run(shape, relu, res);
        const autodiff = run(shape, relu, res, true);
        await tf.setBackend('wasm');
        const kernel = run(shape, relu, res);
        close(composite, autodiff, `${label} composite vs autodiff`);
        close(kernel, composite, `${label} wasm vs composite`);
        // The forward is the same float32 operations in the same order: equal to the bit.
        assert.deepEqual(kernel.y, composite.y, `${label}: forward bits`);
      }
});

test('bad shapes are refused with the expected shape', async () => {
  await tf.setBackend('wasm');
  const z = tf.zeros([2, 3, 4]);
  assert.throws(
    () => affineAct(z, { bias: tf.zeros([3]), scale: tf.ones([4]), shift: tf.zeros([4]) }, true),
    /bias must be float32 \[4\]/,
  );
  assert.throws(
    () =>
      affineAct(
        z,
        { bias: tf.zeros([4]), scale: tf.ones([4]), shift: tf.zeros([4]) },
        true,
        tf.zeros([2, 3, 5]),
      ),
    /residual must be float32 \[2,3,4\]/,
  );
  z.dispose();
});
