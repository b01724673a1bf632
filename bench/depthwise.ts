/**
 * Depthwise-conv training cost on the wasm backend vs PyTorch 1.13 CPU, MobileFaceNet shapes, batch 32.
 *
 *   node --import tsx bench/depthwise.ts [reps]      (BENCH_BATCH=32 by default)
 *
 * Per shape: forward (the backend's XNNPACK kernel), our DepthwiseConv2dNativeBackpropInput and
 * -Filter (wasm/depthwise.c), and, to weigh the alternative design, the same gradients composed
 * from backend ops (XNNPACK depthwise on zero-dilated padded dy with the rotated filter; per-tap
 * strided slice x dy summed). Medians over `reps` runs: the machine is shared.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '../src/runtime/kernels/index.js';

interface Shape {
  name: string;
  n: number;
  size: number;
  c: number;
  k: number;
  stride: number;
  pad: number;
}

const reps = Number(process.argv[2] ?? 9);
const n = Number(process.env.BENCH_BATCH ?? 32);
// InsightFace MobileFaceNet: every depthwise layer (3x3, explicit pad 1) and the GDC head.
const shapes: Shape[] = [
  { name: 'dw 56x56x64 s1', n, size: 56, c: 64, k: 3, stride: 1, pad: 1 },
  { name: 'dw 56x56x128 s2', n, size: 56, c: 128, k: 3, stride: 2, pad: 1 },
  { name: 'dw 28x28x128 s1', n, size: 28, c: 128, k: 3, stride: 1, pad: 1 },
  { name: 'dw 28x28x256 s2', n, size: 28, c: 256, k: 3, stride: 2, pad: 1 },
  { name: 'dw 14x14x256 s1', n, size: 14, c: 256, k: 3, stride: 1, pad: 1 },
  { name: 'dw 14x14x512 s2', n, size: 14, c: 512, k: 3, stride: 2, pad: 1 },
  { name: 'dw 7x7x256 s1', n, size: 7, c: 256, k: 3, stride: 1, pad: 1 },
  { name: 'GDC 7x7x512 valid', n, size: 7, c: 512, k: 7, stride: 1, pad: 0 },
];

function medianMs(fn: () => void): number {
  fn(); // warm-up
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[t.length >> 1];
}

/** dx as XNNPACK depthwise conv of zero-dilated, padded dy with the 180-degree rotated filter. */
function composedInput(s: Shape, dy: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, oh, ow, c] = dy.shape;
    let d: tf.Tensor4D = dy;
    if (s.stride > 1) {
      const z = tf.pad(tf.reshape(dy, [s.n, oh, 1, ow, 1, c]), [
        [0, 0],
        [0, 0],
        [0, s.stride - 1],
        [0, 0],
        [0, s.stride - 1],
        [0, 0],
      ]);
      const full = tf.reshape(z, [s.n, oh * s.stride, ow * s.stride, c]);
      d = tf.slice(
        full,
        [0, 0, 0, 0],
        [s.n, (oh - 1) * s.stride + 1, (ow - 1) * s.stride + 1, c],
      ) as tf.Tensor4D;
    }
    const lo = s.k - 1 - s.pad;
    const hi = s.size + s.k - 1 - lo - d.shape[1];
    const padded = tf.pad(d, [
      [0, 0],
      [lo, hi],
      [lo, hi],
      [0, 0],
    ]);
    return tf.depthwiseConv2d(padded, tf.reverse(w, [0, 1]), 1, 'valid');
  });
}

/** dW tap by tap: strided slice of padded x times dy, summed over N, H, W. */
function composedFilter(s: Shape, x: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, oh, ow] = dy.shape;
    const p = s.pad;
    const xp = tf.pad(x, [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ]);
    const taps: tf.Tensor[] = [];
    for (let ky = 0; ky < s.k; ky++) {
      for (let kx = 0; kx < s.k; kx++) {
        const end = [s.n, ky + (oh - 1) * s.stride + 1, kx + (ow - 1) * s.stride + 1, s.c];
        const xs = tf.stridedSlice(xp, [0, ky, kx, 0], end, [1, s.stride, s.stride, 1]);
        taps.push(tf.sum(tf.mul(xs, dy), [0, 1, 2]));
      }
    }
    return tf.reshape(tf.stack(taps), [s.k, s.k, s.c, 1]);
  });
}

function relErr(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i] - y[i]));
    den = Math.max(den, Math.abs(y[i]));
  }
  return num / den;
}

interface Ours {
  fwd: number;
  input: number;
  filter: number;
  compInput: number;
  compFilter: number;
}

function benchWasm(s: Shape): Ours {
  const x = tf.randomNormal([s.n, s.size, s.size, s.c]) as tf.Tensor4D;
  const w = tf.randomNormal([s.k, s.k, s.c, 1]) as tf.Tensor4D;
  const y = tf.depthwiseConv2d(x, w, s.stride, s.pad);
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  const attrs = { strides: s.stride, pad: s.pad, dilations: 1 };
  const eng = tf.engine();
  const input = () =>
    eng.runKernel(
      'DepthwiseConv2dNativeBackpropInput',
      { dy, filter: w },
      { ...attrs, inputShape: x.shape },
    ) as tf.Tensor;
  const filter = () =>
    eng.runKernel(
      'DepthwiseConv2dNativeBackpropFilter',
      { x, dy },
      { ...attrs, filterShape: w.shape },
    ) as tf.Tensor;
  // The composed variants must agree with ours, or the comparison means nothing.
  tf.tidy(() => {
    const e = [relErr(composedInput(s, dy, w), input()), relErr(composedFilter(s, x, dy), filter())];
    if (e.some((v) => !(v < 1e-4))) throw new Error(`${s.name}: composed vs ours rel err ${e}`);
  });
  const out: Ours = {
    fwd: medianMs(() => tf.dispose(tf.depthwiseConv2d(x, w, s.stride, s.pad))),
    input: medianMs(() => tf.dispose(input())),
    filter: medianMs(() => tf.dispose(filter())),
    compInput: medianMs(() => tf.dispose(composedInput(s, dy, w))),
    compFilter: medianMs(() => tf.dispose(composedFilter(s, x, dy))),
  };
  tf.dispose([x, w, y, dy]);
  return out;
}

interface TorchTimes {
  fwd: number;
  input: number;
  filter: number;
}
interface TorchRow {
  name: string;
  nchw: TorchTimes;
  nhwc: TorchTimes;
}

function findTorchPython(): string | undefined {
  // A pyenv shim may shadow the Debian python3 that has python3-torch.
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return py;
  }
  return undefined;
}

function benchTorch(py: string): Map<string, TorchRow> {
  const script = fileURLToPath(new URL('./torch/depthwise.py', import.meta.url));
  const r = spawnSync(py, [script, JSON.stringify(shapes), String(reps)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`PyTorch bench failed: ${r.stderr}`);
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TorchRow);
  return new Map(rows.map((row) => [row.name, row]));
}

const f = (v: number) => v.toFixed(2).padStart(8);
const r = (a: number, b: number) => `${(a / b).toFixed(2)}x`.padStart(7);

async function main(): Promise<void> {
  registerTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
  console.log(
    `wasm backend, SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, batch ${n}, median of ${reps}`,
  );
  const ours = new Map(shapes.map((s) => [s.name, benchWasm(s)]));
  const py = findTorchPython();
  const torch = py ? benchTorch(py) : undefined;
  if (!torch) console.log('PyTorch: absent (no python3 with `import torch`), ratios omitted');
  else console.log(`PyTorch 1 thread via ${py}: per op the faster of NCHW and channels_last (both listed)`);

  const head = ['shape'.padEnd(18), '  fwd', ' bwd-in', 'bwd-flt', '| composed: in', ' flt'];
  if (torch) head.push('| torch fwd', '  in', ' flt', '| ours/torch fwd', '  in', ' flt');
  console.log(head.join('   '));
  let sumOurs = 0;
  let sumTorch = 0;
  for (const s of shapes) {
    const o = ours.get(s.name)!;
    const cols = [s.name.padEnd(18), f(o.fwd), f(o.input), f(o.filter), '|', f(o.compInput), f(o.compFilter)];
    const t = torch?.get(s.name);
    if (t) {
      const best = (k: keyof TorchTimes) => Math.min(t.nchw[k], t.nhwc[k]);
      cols.push('|', f(best('fwd')), f(best('input')), f(best('filter')));
      cols.push('|', r(o.fwd, best('fwd')), r(o.input, best('input')), r(o.filter, best('filter')));
      sumOurs += o.fwd + o.input + o.filter;
      sumTorch += best('fwd') + best('input') + best('filter');
    }
    console.log(cols.join(' '));
  }
  if (torch) {
    console.log(
      `total fwd+bwd: ours ${sumOurs.toFixed(1)} ms, torch ${sumTorch.toFixed(1)} ms (${r(sumOurs, sumTorch)})`,
    );
    console.log('torch detail (ms, fwd/in/flt): NCHW | channels_last');
    for (const t of torch.values()) {
      const g = (x: TorchTimes) => [x.fwd, x.input, x.filter].map((v) => v.toFixed(2)).join('/');
      console.log(`  ${t.name.padEnd(18)} ${g(t.nchw)} | ${g(t.nhwc)}`);
    }
  }
}

await main();
