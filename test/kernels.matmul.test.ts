import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initRuntime } from '../src/runtime/backend.js';
import { rng, gaussian } from '../src/util/random.js';
import { relErr } from './helpers.js';

const random = rng(11);
const data = (n: number) => Float32Array.from({ length: n }, () => gaussian(random));

async function onBoth(f: () => tf.Tensor): Promise<[Float32Array, Float32Array, number[]]> {
  await tf.setBackend('cpu');
  const ref = f();
  const r = (await ref.data()) as Float32Array;
  const shape = ref.shape;
  ref.dispose();
  await tf.setBackend('wasm');
  const out = f();
  const w = (await out.data()) as Float32Array;
  assert.deepEqual(out.shape, shape);
  out.dispose();
  return [w, r, shape];
}

test('matMul with transposed operands on wasm equals cpu (2-D, batched, broadcast, odd sizes)', async () => {
  await initRuntime('wasm');
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[128, 512], [1000, 512], false, true],
    [[300, 128], [300, 512], true, false],
    [[7, 13], [5, 7], true, true],
    [[3, 6, 5], [3, 6, 9], true, false],
    [[2, 4, 9, 5], [2, 4, 11, 5], false, true],
    [[1, 10, 3], [4, 3, 10], true, true],
    [[33, 1], [33, 17], true, false],
  ];
  for (const [sa, sb, ta, tb] of cases) {
    const a = data(sa.reduce((p, v) => p * v, 1));
    const b = data(sb.reduce((p, v) => p * v, 1));
    const [w, r] = await onBoth(() => tf.matMul(tf.tensor(a, sa), tf.tensor(b, sb), ta, tb));
    assert.ok(relErr(w, r) <= 1e-5, `${sa} x ${sb} (${ta}, ${tb}): ${relErr(w, r)}`);
  }
});

test('fused matMul (bias + relu) with transposed operands on wasm equals cpu', async () => {
  await initRuntime('wasm');
  const a = data(40 * 24);
  const b = data(24 * 16);
  const bias = data(16);
  for (const [ta, tb] of [
    [true, false],
    [false, true],
    [true, true],
  ]) {
    const [w, r] = await onBoth(() =>
      tf.fused.matMul({
        a: tf.tensor2d(a, ta ? [24, 40] : [40, 24]),
        b: tf.tensor2d(b, tb ? [16, 24] : [24, 16]),
        transposeA: ta,
        transposeB: tb,
        bias: tf.tensor1d(bias),
        activation: 'relu',
      }),
    );
    assert.ok(relErr(w, r) <= 1e-5, `fused (${ta}, ${tb})`);
  }
});

test('transposed matMul frees its temporaries and the gradient of a dense layer matches cpu', async () => {
  await initRuntime('wasm');
  const x = data(64 * 32);
  const wt = data(32 * 10);
  const grads = async () => {
    const g = tf.grads((xs: tf.Tensor, ws: tf.Tensor) =>
      tf.sum(tf.square(tf.matMul(xs as tf.Tensor2D, ws as tf.Tensor2D))),
    );
    const [gx, gw] = g([tf.tensor2d(x, [64, 32]), tf.tensor2d(wt, [32, 10])]);
    return [(await gx.data()) as Float32Array, (await gw.data()) as Float32Array];
  };
  await tf.setBackend('cpu');
  const ref = await grads();
  await tf.setBackend('wasm');
  const got = await grads();
  assert.ok(relErr(got[0], ref[0]) <= 1e-5 && relErr(got[1], ref[1]) <= 1e-5);
  const a = tf.tensor2d(x, [64, 32]);
  const b = tf.tensor2d(wt, [32, 10]);
  const backend = tf.backend() as unknown as { dataIdMap: { numDataIds(): number } };
  const before = [tf.memory().numTensors, backend.dataIdMap.numDataIds()];
  for (let i = 0; i < 50; i++)
    tf.tidy(() => tf.matMul(tf.matMul(a, a, true, false), b, false, false).dataSync());
  assert.deepEqual([tf.memory().numTensors, backend.dataIdMap.numDataIds()], before);
});
