import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { Sgd } from '../src/train/sgd.js';
import { clipByGlobalNorm, globalNorm } from '../src/train/clip.js';
import { relErr } from './helpers.js';

interface Fixture {
  momentum: number;
  weightDecay: number;
  maxNorm: number;
  shapes: Record<string, number[]>;
  init: Record<string, number[]>;
  steps: {
    lr: number;
    norm: number;
    grads: Record<string, number[]>;
    clipped: Record<string, number[]>;
    params: Record<string, number[]>;
    buffers: Record<string, number[]>;
  }[];
}

const fx = JSON.parse(readFileSync(new URL('./fixtures/sgd.json', import.meta.url), 'utf8')) as Fixture;
const names = Object.keys(fx.shapes);

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('SGD + clip_grad_norm_ match torch.optim.SGD over 5 steps with a changing lr', async () => {
  await initRuntime();
  const params = new Map(names.map((n) => [n, tf.variable(tf.tensor(fx.init[n], fx.shapes[n]))]));
  const sgd = new Sgd({ momentum: fx.momentum, weightDecay: fx.weightDecay });
  for (const [k, s] of fx.steps.entries()) {
    const raw = names.map((n) => tf.tensor(s.grads[n], fx.shapes[n]));
    const { grads, norm, scale } = clipByGlobalNorm(raw, fx.maxNorm);
    assert.ok(Math.abs(norm - s.norm) / s.norm < 1e-6, `step ${k}: norm ${norm} vs torch ${s.norm}`);
    assert.equal(scale < 1, s.norm > fx.maxNorm, `step ${k}: clipped iff norm > max`);
    grads.forEach((g, i) =>
      assert.ok(maxAbs(g.dataSync(), s.clipped[names[i]]) < 1e-6, `step ${k} clip ${names[i]}`),
    );
    sgd.step(params, new Map(names.map((n, i) => [n, grads[i]])), s.lr);
    for (const n of names) {
      assert.ok(maxAbs(params.get(n)!.dataSync(), s.params[n]) < 1e-6, `step ${k}: param ${n}`);
      assert.ok(maxAbs(sgd.buffers.get(n)!.dataSync(), s.buffers[n]) < 1e-6, `step ${k}: buffer ${n}`);
    }
    tf.dispose([...raw, ...grads]);
  }
  sgd.dispose();
  for (const p of params.values()) p.dispose();
});

test('SGD state export/import continues bit-identically', async () => {
  await initRuntime();
  const mk = () => new Map(names.map((n) => [n, tf.variable(tf.tensor(fx.init[n], fx.shapes[n]))]));
  const grads = fx.steps.map((s) => new Map(names.map((n) => [n, tf.tensor(s.grads[n], fx.shapes[n])])));
  const a = mk();
  const sa = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
  for (const g of grads) sa.step(a, g, 0.1);
  const b = mk();
  const sb = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
  for (const g of grads.slice(0, 2)) sb.step(b, g, 0.1);
  const state = sb.exportState();
  sb.dispose();
  const sc = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
  sc.importState(state);
  for (const g of grads.slice(2)) sc.step(b, g, 0.1);
  for (const n of names) assert.deepEqual(b.get(n)!.dataSync(), a.get(n)!.dataSync(), n);
  for (const m of [a, b]) for (const p of m.values()) p.dispose();
  for (const g of grads) tf.dispose([...g.values()]);
  sa.dispose();
  sc.dispose();
});

test('weight decay applies only where decays() says so; first step buffer = g + wd * p', async () => {
  await initRuntime();
  const w = tf.variable(tf.tensor2d([[1, -2]]));
  const b = tf.variable(tf.tensor1d([3]));
  const params = new Map<string, tf.Variable>([
    ['w', w],
    ['b', b],
  ]);
  const sgd = new Sgd({ momentum: 0.9, weightDecay: 0.1, decays: (_n, v) => v.rank > 1 });
  const g = new Map<string, tf.Tensor>([
    ['w', tf.tensor2d([[0.5, 0.5]])],
    ['b', tf.tensor1d([1])],
  ]);
  sgd.step(params, g, 1);
  // w: d = 0.5 + 0.1 * p -> [0.6, 0.3]; p - d = [0.4, -2.3]. b: no decay, 3 - 1 = 2.
  assert.ok(relErr(w.dataSync(), [0.4, -2.3]) < 1e-6);
  assert.deepEqual(Array.from(b.dataSync()), [2]);
  sgd.step(params, g, 1);
  // b: buf = 0.9 * 1 + 1 = 1.9 -> 2 - 1.9 = 0.1
  assert.ok(Math.abs(b.dataSync()[0] - 0.1) < 1e-6);
  assert.equal(globalNorm([tf.tensor1d([3]), tf.tensor1d([4])]), 5);
  sgd.dispose();
  tf.dispose([w, b, ...g.values()]);
});

test('lrScale: a parameter steps at its own multiple of lr; its momentum buffer stays lr-free (torch param groups)', async () => {
  await initRuntime();
  const a = tf.variable(tf.tensor1d([1, 2]));
  const b = tf.variable(tf.tensor1d([1, 2]));
  const params = new Map<string, tf.Variable>([
    ['backbone/a', a],
    ['head/b', b],
  ]);
  const sgd = new Sgd({
    momentum: 0.5,
    weightDecay: 0,
    lrScale: (k) => (k.startsWith('backbone/') ? 0.1 : 1),
  });
  const g = new Map<string, tf.Tensor>([
    ['backbone/a', tf.tensor1d([1, -1])],
    ['head/b', tf.tensor1d([1, -1])],
  ]);
  sgd.step(params, g, 0.2);
  sgd.step(params, g, 0.2);
  // buf: 1 then 0.5 * 1 + 1 = 1.5 (same for both); a moves by 0.02 * (1 + 1.5), b by 0.2 * (1 + 1.5).
  assert.ok(relErr(a.dataSync(), [1 - 0.05, 2 + 0.05]) < 1e-6);
  assert.ok(relErr(b.dataSync(), [1 - 0.5, 2 + 0.5]) < 1e-6);
  const bufs = sgd.exportState().buffers;
  assert.deepEqual(Array.from(bufs.get('backbone/a')!.values), [1.5, -1.5]);
  assert.deepEqual(Array.from(bufs.get('head/b')!.values), [1.5, -1.5]);
  sgd.dispose();
  tf.dispose([a, b, ...g.values()]);
});
