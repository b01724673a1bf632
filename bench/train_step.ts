/**
 * One training step (forward + backward + SGD) of a small 6-conv net at 112x112x3, batch 32, on
 * tfjs-wasm with our conv-gradient kernels, against the same net in PyTorch (CPU, 1 thread; the
 * wasm backend is single-threaded), spawned from here when python3 can import torch.
 *
 *   node --import tsx bench/train_step.ts [--rounds 3] [--steps 5] [--batch 32] [--naive]
 *
 * --naive also times the step with tfjs 4.22's own (naive) Conv2DBackpropInput; tfjs has no
 * Conv2DBackpropFilter for wasm at all, so that run keeps ours for dW.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '../src/runtime/kernels/index.js';
import { registerTfjsGradients } from '../src/runtime/kernels/util.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const STEPS = opt('steps', 5);
const ROUNDS = opt('rounds', 3);
const BATCH = opt('batch', 32);
const SIZE = 112;
const EMB = 512;
const LR = 1e-3;
// [in, out, stride] per 3x3 conv with padding 1 (as PyTorch's padding=1), each + ReLU.
const LAYERS: [number, number, number][] = [
  [3, 32, 2],
  [32, 32, 1],
  [32, 64, 2],
  [64, 64, 1],
  [64, 128, 2],
  [128, 128, 1],
];
const PAD1: [[number, number], [number, number], [number, number], [number, number]] = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function makeNet(): { vars: tf.Variable[]; step: () => number } {
  const he = (shape: number[], fanIn: number): tf.Variable =>
    tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 1), Math.sqrt(2 / fanIn)));
  const convs = LAYERS.map(([ci, co]) => he([3, 3, ci, co], 9 * ci));
  const fc = he([LAYERS[LAYERS.length - 1][1], EMB], LAYERS[LAYERS.length - 1][1]);
  const vars = [...convs, fc];
  const x = tf.randomNormal([BATCH, SIZE, SIZE, 3], 0, 1, 'float32', 2);
  const target = tf.randomNormal([BATCH, EMB], 0, 1, 'float32', 3);
  const loss = (): tf.Scalar => {
    let h = x as tf.Tensor4D;
    LAYERS.forEach(([, , s], i) => {
      h = tf.relu(tf.conv2d(h, convs[i] as tf.Tensor4D, s, PAD1));
    });
    const out = tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, fc as tf.Tensor2D);
    return tf.mean(tf.square(tf.sub(out, target)));
  };
  const step = (): number => {
    const { value, grads } = tf.variableGrads(loss, vars);
    tf.tidy(() => {
      for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], LR)));
    });
    const l = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return l;
  };
  return { vars, step };
}

function timeSteps(step: () => number, steps: number, warmup = 2): number[] {
  for (let i = 0; i < warmup; i++) step();
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    ms.push(performance.now() - t0);
  }
  return ms;
}

async function breakdown(step: () => number): Promise<void> {
  const info = await tf.profile(() => {
    step();
  });
  const byKernel = new Map<string, { ms: number; n: number }>();
  for (const k of info.kernels) {
    const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += k.kernelTimeMs as number;
    e.n++;
    byKernel.set(k.name, e);
  }
  const total = [...byKernel.values()].reduce((a, e) => a + e.ms, 0);
  console.log(`per-kernel breakdown of one profiled step (sum ${total.toFixed(0)} ms):`);
  for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)) {
    console.log(
      `  ${name.padEnd(22)} ${e.ms.toFixed(1).padStart(7)} ms  ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  x${e.n}`,
    );
  }
}

function findTorchPython(): string | undefined {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  return candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}

function runTorch(python: string): number[] | undefined {
  const script = fileURLToPath(new URL('./torch/train_step.py', import.meta.url));
  const r = spawnSync(python, [script, String(BATCH), String(STEPS)], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`PyTorch run failed: ${r.stderr}`);
    return undefined;
  }
  const res = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { torch: string; ms: number[] };
  return res.ms;
}

async function main(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
  const backend = tf.backend() as unknown as BackendWasm;
  const naiveInput = tf.getKernel('Conv2DBackpropInput', 'wasm');
  registerTrainingKernels();
  await registerTfjsGradients();
  console.log(
    `tfjs ${tf.version_core} wasm (simd ${String(tf.env().getBool('WASM_HAS_SIMD_SUPPORT'))}), batch ${BATCH}, ` +
      `${ROUNDS} rounds alternating ours / PyTorch (other load on the machine hits both alike)`,
  );

  const net = makeNet();
  const python = findTorchPython();
  if (!python) console.log('PyTorch: absent (no python3 that can `import torch`; set PYTHON=...)');
  const ours: number[] = [];
  const torch: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const o = timeSteps(net.step, STEPS, r === 0 ? 2 : 0);
    ours.push(...o);
    const line = [`round ${r + 1}: ours ${o.map((m) => m.toFixed(0)).join(' ')} ms`];
    const t = python ? runTorch(python) : undefined;
    if (t) {
      torch.push(...t);
      ratios.push(median(o) / median(t));
      line.push(`| PyTorch ${t.map((m) => m.toFixed(0)).join(' ')} ms`);
    }
    console.log(line.join(' '));
  }
  const oursMs = median(ours);
  await breakdown(net.step);

  if (args.includes('--naive') && naiveInput) {
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel(naiveInput);
    naiveInput.setupFunc?.(backend as unknown as tf.KernelBackend);
    const naive = timeSteps(net.step, 1, 0);
    console.log(`tfjs-wasm with tfjs's naive Conv2DBackpropInput: ${naive[0].toFixed(0)} ms/step`);
  }
  tf.dispose(net.vars);

  if (torch.length) {
    const t = median(torch);
    console.log(
      `per step (median): ours ${oursMs.toFixed(0)} ms, PyTorch ${t.toFixed(0)} ms, ` +
        `ratio ours/PyTorch ${(oursMs / t).toFixed(2)} (median of per-round ratios ${median(ratios).toFixed(2)})`,
    );
  } else console.log(`per step (median): ours ${oursMs.toFixed(0)} ms`);
}

await main();
