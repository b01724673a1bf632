/**
 * Training throughput of the real backbones: one ArcFace step (backbone forward + backward, the
 * margin head over C classes, global-norm clipping, momentum SGD with weight decay) on tfjs-wasm,
 * against the same step in PyTorch 1.13 CPU (bench/torch/train_speed.py, the backbone definitions
 * the parity tests use) at the same batch and thread count, rounds alternating so that other load
 * hits both alike. Prints samples/s and ours / PyTorch (the issue's target: >= 0.5).
 *
 *   node --import tsx bench/train_speed.ts [--models mobilefacenet,iresnet18,dlib-resnet] [--batch 32]
 *        [--steps 3] [--rounds 3] [--classes 1000]
 *
 * dlib-resnet is the default recogniser's network as the fine-tuning backbone (150x150 input,
 * 128-d embedding; PyTorch's copy of it is in bench/torch/train_speed.py).
 *
 * Ours is one wasm thread per process; `--threads 1` for PyTorch matches it. `arcface train
 * --parallel 2` runs two such processes' worth of work (see bench/train_parallel.ts); compare it with
 * `--threads 2` here.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { createBackbone, createDlibResnet, DLIB_RESNET, type BackboneName } from '../src/backbones/index.js';
import { MarginHead, arcFace } from '../src/losses/index.js';
import { Sgd } from '../src/train/sgd.js';
import { clipByGlobalNorm } from '../src/train/clip.js';
import { heapInfo } from '../src/runtime/memory.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const BATCH = Number(opt('batch', '32'));
const STEPS = Number(opt('steps', '3'));
const ROUNDS = Number(opt('rounds', '3'));
const CLASSES = Number(opt('classes', '1000'));
const THREADS = Number(opt('threads', '1'));

/** Child process: STEPS timed steps of one model after a warm-up; prints {ms: [...], heapGiB}. */
async function child(model: BackboneName | typeof DLIB_RESNET): Promise<void> {
  await initRuntime('wasm');
  const dlib = model === DLIB_RESNET;
  const net = dlib ? createDlibResnet() : createBackbone({ name: model });
  const size = dlib ? 150 : 112;
  const head = new MarginHead({
    numClasses: CLASSES,
    embeddingSize: dlib ? 128 : 512,
    loss: arcFace({ s: 64, m: 0.5 }),
    seed: 1,
  });
  const params = new Map<string, tf.Variable>();
  for (const [name, v] of net.namedWeights()) if (net.trainable.includes(v)) params.set(name, v);
  params.set('head', head.weight);
  const vars = [...params.values()];
  const key = new Map(vars.map((v, i) => [v.name, [...params.keys()][i]]));
  const sgd = new Sgd({ momentum: 0.9, weightDecay: 5e-4 });
  const x = tf.randomUniform([BATCH, size, size, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
  const y = tf.tensor1d(
    Array.from({ length: BATCH }, (_, i) => (i * 7919) % CLASSES),
    'int32',
  );
  const step = () => {
    const { value, grads } = tf.variableGrads(() => {
      const r = head.forward(net.apply(x, true), y);
      tf.dispose([r.logits, r.cos]);
      return r.loss;
    }, vars);
    value.dataSync();
    const named = new Map(Object.entries(grads).map(([n, g]) => [key.get(n)!, g]));
    const backboneKeys = [...named.keys()].filter((k) => k !== 'head');
    const clipped = clipByGlobalNorm(
      backboneKeys.map((k) => named.get(k)!),
      5,
    );
    if (clipped.scale !== 1) backboneKeys.forEach((k, i) => named.set(k, clipped.grads[i]));
    sgd.step(params, named, 0.01);
    tf.dispose([value, ...Object.values(grads), ...(clipped.scale !== 1 ? clipped.grads : [])]);
  };
  step();
  const ms: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const t0 = performance.now();
    step();
    ms.push(performance.now() - t0);
  }
  console.log(JSON.stringify({ ms, heapGiB: heapInfo().heapBytes / 1024 ** 3 }));
}

function findTorchPython(): string | undefined {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  return candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}

function lastJson(out: string): Record<string, unknown> | undefined {
  const line = out
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  return line ? JSON.parse(line) : undefined;
}

function runOurs(model: string): number[] | undefined {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), ...args, '--child', model],
    { encoding: 'utf8' },
  );
  const j = lastJson(r.stdout);
  if (r.status !== 0 || !j) {
    console.log(
      `  ours failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`,
    );
    return undefined;
  }
  return j.ms as number[];
}

function runTorch(python: string, model: string): number[] | undefined {
  const script = fileURLToPath(new URL('./torch/train_speed.py', import.meta.url));
  const r = spawnSync(
    python,
    [script, model, String(BATCH), String(STEPS), String(CLASSES), String(THREADS)],
    {
      encoding: 'utf8',
    },
  );
  const j = lastJson(r.stdout);
  if (r.status !== 0 || !j) {
    console.log(`  PyTorch failed: ${r.stderr.trim().slice(-400)}`);
    return undefined;
  }
  return j.ms as number[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function parent(): void {
  const models = opt('models', 'mobilefacenet,iresnet18').split(',') as BackboneName[];
  const python = findTorchPython();
  console.log(
    `ArcFace training step, batch ${BATCH}, ${CLASSES} classes, ${STEPS} timed steps x ${ROUNDS} rounds; ` +
      `ours: tfjs-wasm, 1 thread; PyTorch ${python ? `(${python})` : 'absent'}: ${THREADS} thread(s)`,
  );
  for (const model of models) {
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const a = runOurs(model);
      if (a) ours.push(...a);
      const b = python ? runTorch(python, model) : undefined;
      if (b) theirs.push(...b);
    }
    if (!ours.length) continue;
    const oursSps = (BATCH * 1000) / median(ours);
    let line = `${model.padEnd(14)} ours ${median(ours).toFixed(0)} ms/step = ${oursSps.toFixed(1)} samples/s`;
    if (theirs.length) {
      const torchSps = (BATCH * 1000) / median(theirs);
      line += `; PyTorch ${median(theirs).toFixed(0)} ms/step = ${torchSps.toFixed(1)} samples/s; ours / PyTorch = ${(oursSps / torchSps).toFixed(2)}`;
    }
    console.log(line);
  }
}

const ci = args.indexOf('--child');
if (ci >= 0) await child(args[ci + 1] as BackboneName | typeof DLIB_RESNET);
else parent();
