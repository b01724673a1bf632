/**
 * Where one training step's time goes: every wasm kernel call is timed (wrapped in the kernel
 * registry, so gradients' kernels count too) and summed per kernel name and phase (forward =
 * inside the loss function, backward = gradient computation, update = clipping + SGD); convs are
 * also split by shape. Same step as bench/train_speed.ts.
 *
 *   node --import tsx bench/train_profile.ts [--model mobilefacenet|iresnet18|dlib-resnet] [--batch 32]
 *        [--steps 2] [--top 25]
 */
import {
  getKernelsForBackend,
  registerKernel,
  unregisterKernel,
  type KernelConfig,
} from '@tensorflow/tfjs-core';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { createBackbone, createDlibResnet, type BackboneName } from '../src/backbones/index.js';
import { MarginHead, arcFace } from '../src/losses/index.js';
import { Sgd } from '../src/train/sgd.js';
import { clipByGlobalNorm } from '../src/train/clip.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const MODEL = opt('model', 'mobilefacenet');
const BATCH = Number(opt('batch', '32'));
const STEPS = Number(opt('steps', '2'));
const TOP = Number(opt('top', '25'));

await initRuntime('wasm');
let phase = 'setup';
const totals = new Map<string, { ms: number; calls: number }>();
const add = (key: string, ms: number) => {
  const t = totals.get(key) ?? { ms: 0, calls: 0 };
  t.ms += ms;
  t.calls++;
  totals.set(key, t);
};
const CONVS = new Set([
  'Conv2D',
  'FusedConv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2D',
  'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
]);
for (const k of getKernelsForBackend('wasm')) {
  const inner = k.kernelFunc;
  const wrapped: KernelConfig = {
    ...k,
    kernelFunc: (a) => {
      const t0 = performance.now();
      const out = inner(a);
      const ms = performance.now() - t0;
      if (phase !== 'timed-fwd' && phase !== 'timed-bwd' && phase !== 'timed-upd') return out;
      const p = phase.slice(6);
      add(`${p} ${k.kernelName}`, ms);
      add(`${p} (all)`, ms);
      if (CONVS.has(k.kernelName)) {
        const shapes = Object.values(a.inputs).map((t) => `[${t!.shape}]`);
        const at = a.attrs as Record<string, unknown>;
        add(`${p} ${k.kernelName} ${shapes.join(' ')} s${String(at.strides)}`, ms);
      }
      return out;
    },
  };
  unregisterKernel(k.kernelName, 'wasm');
  registerKernel(wrapped);
}

const size = MODEL === 'dlib-resnet' ? 150 : 112;
const net = MODEL === 'dlib-resnet' ? createDlibResnet() : createBackbone({ name: MODEL as BackboneName });
const dim = MODEL === 'dlib-resnet' ? 128 : 512;
const head = new MarginHead({
  numClasses: 1000,
  embeddingSize: dim,
  loss: arcFace({ s: 64, m: 0.5 }),
  seed: 1,
});
const vars = [...net.trainable, head.weight];
const params = new Map<string, tf.Variable>(vars.map((v) => [v.name, v]));
const sgd = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
const x = tf.randomUniform([BATCH, size, size, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
const y = tf.tensor1d(
  Array.from({ length: BATCH }, (_, i) => (i * 7919) % 1000),
  'int32',
);
let timed = false;
const step = () => {
  const pre = timed ? 'timed-' : '';
  const { value, grads } = tf.variableGrads(() => {
    phase = `${pre}fwd`;
    const r = head.forward(net.apply(x, true), y);
    tf.dispose([r.logits, r.cos]);
    phase = `${pre}bwd`;
    return r.loss;
  }, vars);
  value.dataSync();
  phase = `${pre}upd`;
  const named = new Map(Object.entries(grads));
  const keys = [...named.keys()].filter((k) => k !== head.weight.name);
  const clipped = clipByGlobalNorm(
    keys.map((k) => named.get(k)!),
    5,
  );
  if (clipped.scale !== 1) keys.forEach((k, i) => named.set(k, clipped.grads[i]));
  sgd.step(params, named, 0.01);
  tf.dispose([value, ...Object.values(grads), ...(clipped.scale !== 1 ? clipped.grads : [])]);
  phase = 'idle';
};
step();
timed = true;
const t0 = performance.now();
for (let i = 0; i < STEPS; i++) step();
const stepMs = (performance.now() - t0) / STEPS;
console.log(`${MODEL} batch ${BATCH}: ${stepMs.toFixed(0)} ms/step (mean of ${STEPS})`);
const rows = [...totals.entries()].map(([k, v]) => ({ k, ms: v.ms / STEPS, calls: v.calls / STEPS }));
for (const p of ['fwd', 'bwd', 'upd'])
  console.log(`  ${p}: ${(rows.find((r) => r.k === `${p} (all)`)?.ms ?? 0).toFixed(0)} ms in kernels`);
const byName = rows.filter((r) => r.k.split(' ').length === 2 && !r.k.endsWith('(all)'));
console.log('\nby kernel:');
for (const r of byName.sort((a, b) => b.ms - a.ms).slice(0, TOP))
  console.log(
    `  ${r.ms.toFixed(1).padStart(8)} ms ${((r.ms / stepMs) * 100).toFixed(1).padStart(5)}%  ${String(r.calls).padStart(4)}x  ${r.k}`,
  );
console.log('\nconvs by shape:');
for (const r of rows
  .filter((r) => r.k.split(' ').length > 2)
  .sort((a, b) => b.ms - a.ms)
  .slice(0, TOP))
  console.log(
    `  ${r.ms.toFixed(1).padStart(8)} ms ${((r.ms / stepMs) * 100).toFixed(1).padStart(5)}%  ${String(r.calls).padStart(4)}x  ${r.k}`,
  );
