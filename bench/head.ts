/**
 * ArcFace head forward + backward (N = 128, d = 512, C = 10k and 100k): ours on tfjs-wasm vs
 * PyTorch 1.13 CPU with one thread (bench/torch/head.py, spawned when a python3 with torch is
 * found). Rounds alternate ours / PyTorch so load from other processes hits both; each round
 * takes the median of its runs, the report the median of the rounds.
 * Run: node --import tsx bench/head.ts [--rounds 3] [--runs 3]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { MarginHead, arcFace } from '../src/losses/index.js';

const N = 128;
const D = 512;
const CLASSES = [10_000, 100_000];
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 3);
const RUNS = arg('runs', 3);

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function findTorchPython(): string | undefined {
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return py;
  }
  return undefined;
}

function oursRound(head: MarginHead, x: tf.Tensor2D, y: tf.Tensor1D): number {
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    const g = head.gradients(x, y); // wasm kernels run synchronously: done on return
    times.push(performance.now() - t0);
    tf.dispose([g.dEmbeddings, g.dWeight]);
  }
  return median(times);
}

function torchRound(py: string, c: number): { ms: number; version: string } {
  const script = fileURLToPath(new URL('./torch/head.py', import.meta.url));
  const res = spawnSync(py, [script, String(N), String(D), String(c), String(RUNS)], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`bench/torch/head.py failed: ${res.stderr}`);
  const out = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as {
    torch: string;
    times_ms: number[];
  };
  return { ms: median(out.times_ms), version: out.torch };
}

const info = await initRuntime('wasm');
const py = findTorchPython();
console.log(
  `tfjs ${info.tfjsVersion} ${info.backend} simd=${info.simd} threads=${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')}; ` +
    (py ? `PyTorch via ${py}, 1 thread` : 'PyTorch: no python3 with torch found, ours only'),
);
console.log(
  `N=${N} d=${D}, ArcFace (m 0.5, s 64, paper-exact), forward+backward; ${ROUNDS} rounds x ${RUNS} runs`,
);
for (const c of CLASSES) {
  const head = new MarginHead({ numClasses: c, embeddingSize: D, loss: arcFace(), seed: 1 });
  const x = tf.randomNormal([N, D], 0, 1, 'float32', 2) as tf.Tensor2D;
  const y = tf.randomUniform([N], 0, c, 'int32', 3) as tf.Tensor1D;
  const warm = head.gradients(x, y);
  tf.dispose([warm.dEmbeddings, warm.dWeight]);
  const ours: number[] = [];
  const theirs: number[] = [];
  let version = '';
  for (let r = 0; r < ROUNDS; r++) {
    ours.push(oursRound(head, x, y));
    if (py) {
      const t = torchRound(py, c);
      theirs.push(t.ms);
      version = t.version;
    }
  }
  const o = median(ours);
  const line = `C=${c.toLocaleString('en')}: ours ${o.toFixed(1)} ms (rounds ${ours.map((v) => v.toFixed(0)).join('/')})`;
  if (py) {
    const t = median(theirs);
    console.log(
      `${line} | PyTorch ${version} ${t.toFixed(1)} ms (rounds ${theirs.map((v) => v.toFixed(0)).join('/')}) | ours/PyTorch ${(o / t).toFixed(2)}`,
    );
  } else {
    console.log(line);
  }
  tf.dispose([x, y]);
  head.dispose();
}
