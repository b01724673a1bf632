import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { createBackbone, type Backbone } from '../src/backbones/index.js';
import { ArcfaceError } from '../src/errors.js';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { parseTrainConfig, type TrainConfig } from '../src/train/config.js';
import { headFromConfig } from '../src/train/head.js';
import { readLog } from '../src/train/log.js';
import { checkParallel, combineRunningStats, GradientPool, splitContiguous } from '../src/train/parallel.js';
import { runTraining } from '../src/train/run.js';
import { lossIteration, train } from '../src/train/trainer.js';
import { headWeights, type BatchSource, type TrainableHead } from '../src/train/types.js';
import { rng } from '../src/util/random.js';
import { relErr } from './helpers.js';

const S = 112;
const CLASSES = 5;
const EMB = 32;
const BATCH = 2;

// accumulate 3 over 2 workers: chunks of 2 and 1 micro-batches, so the BN combination sees
// unequal k_w. SphereFace with lambda annealing: each micro-batch has its own iteration.
function config(over: Record<string, unknown> = {}): TrainConfig {
  return parseTrainConfig(
    {
      backbone: 'mobilefacenet',
      embeddingSize: EMB,
      loss: { name: 'sphereface', s: 16, lambda: { base: 1000, gamma: 0.5, lambdaMin: 5 } },
      batchSize: BATCH,
      accumulate: 3,
      steps: 2,
      lr: 0.05,
      warmupSteps: 0,
      checkpointEvery: 0,
      validateEvery: 0,
      logEvery: 1,
      seed: 7,
      data: { train: 'synthetic' },
      ...over,
    },
    'test-config',
  );
}

/** Random images, labels fixed by (epoch, batch). */
function source(): BatchSource {
  return {
    batchesPerEpoch: 6,
    imageShape: [S, S, 3],
    async *epoch(e, opts) {
      for (let i = opts?.fromBatch ?? 0; i < 6; i++) {
        const r = rng(100 * e + i + 1);
        const images = Float32Array.from({ length: BATCH * S * S * 3 }, () => r() * 2 - 1);
        const labels = Int32Array.from({ length: BATCH }, () => Math.floor(r() * CLASSES));
        yield { images, labels };
      }
    },
  };
}

function snapshot(model: Backbone, head: TrainableHead): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, v] of model.namedWeights()) out.set(`backbone/${k}`, (v.dataSync() as Float32Array).slice());
  for (const [k, v] of headWeights(head)) out.set(`head/${k}`, (v.dataSync() as Float32Array).slice());
  return out;
}

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'arcface-parallel-'));
  dirs.push(d);
  return d;
};
let pool: GradientPool;

before(async () => {
  await initRuntime();
  pool = await GradientPool.start({ config: config(), numClasses: CLASSES, workers: 2 });
});
after(async () => {
  await pool?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('2 gradient workers = in-process: every weight, BN running statistic, loss and loss iteration', async () => {
  const cfg = config();
  const runs = [];
  for (const gradients of [undefined, pool]) {
    const model = createBackbone({ name: 'mobilefacenet', embeddingSize: EMB, seed: cfg.seed });
    const head = headFromConfig(cfg, CLASSES);
    const runDir = tmp();
    const r = await train({
      config: cfg,
      runDir,
      model,
      head,
      data: source(),
      catchSignals: false,
      gradients,
    });
    assert.equal(r.step, 2);
    runs.push({
      weights: snapshot(model, head),
      iteration: lossIteration(head)!.iteration,
      losses: readLog(join(runDir, 'log.jsonl'))
        .filter((l) => l.type === 'step')
        .map((l) => (l as { loss: number }).loss),
    });
    model.dispose();
    tf.dispose([...headWeights(head).values()]);
  }
  const [local, par] = runs;
  // 6 forward passes each advance SphereFace's iteration once, in both runs.
  assert.equal(local.iteration, 6);
  assert.equal(par.iteration, 6);
  assert.equal(par.losses.length, 2);
  // The workers run the same float32 kernels on the same inputs; what differs is rounding: the
  // BN statistics are combined in float64 (vs float32 EMA updates), and after two SGD steps
  // those ~1e-7 differences stay well under 1e-5 relative.
  par.losses.forEach((l, k) => assert.ok(Math.abs(l - local.losses[k]) <= 1e-5 * Math.abs(local.losses[k])));
  let bnChecked = 0;
  for (const [key, a] of local.weights) {
    const b = par.weights.get(key)!;
    const e = relErr(b, a);
    assert.ok(e < 1e-5, `${key}: relative error ${e}`);
    if (key.endsWith('running_var')) {
      bnChecked++;
      // The statistics did move (the comparison is not of untouched initial values).
      assert.ok(a.some((x) => x !== 1));
    }
  }
  assert.ok(bnChecked > 10);
  assert.equal(par.weights.size, local.weights.size);
});

test('BN running statistics combined over unequal chunks = the sequential EMA', () => {
  const m = 0.1;
  const r = rng(3);
  const r0 = Float32Array.from({ length: 7 }, () => r() * 4 - 2);
  const batches = Array.from({ length: 6 }, () => Float32Array.from({ length: 7 }, () => r() * 4 - 2));
  const ema = (start: Float32Array, bs: Float32Array[]) => {
    const out = Float64Array.from(start);
    for (const b of bs) for (let i = 0; i < out.length; i++) out[i] = (1 - m) * out[i] + m * b[i];
    return Float32Array.from(out);
  };
  const sequential = ema(r0, batches);
  for (const sizes of [splitContiguous(6, 4), [6], [1, 5], [3, 0, 3]]) {
    let at = 0;
    const parts = sizes.map((count) => {
      const values = ema(r0, batches.slice(at, at + count));
      at += count;
      return { values, count };
    });
    const combined = combineRunningStats(r0, parts, m);
    assert.ok(relErr(combined, sequential) < 1e-6, `sizes [${sizes}]`);
  }
  // The naive average of the workers' results is not it (the test can tell).
  const halves = [ema(r0, batches.slice(0, 3)), ema(r0, batches.slice(3))];
  const mean = halves[0].map((x, i) => (x + halves[1][i]) / 2);
  assert.ok(relErr(mean, sequential) > 1e-3);
});

test('contiguous chunks differ by at most 1', () => {
  assert.deepEqual(splitContiguous(5, 2), [3, 2]);
  assert.deepEqual(splitContiguous(6, 4), [2, 2, 1, 1]);
  assert.deepEqual(splitContiguous(1, 3), [1, 0, 0]);
});

test('a worker error rejects compute with its message; the pool stays usable', async () => {
  const cfg = config();
  const model = createBackbone({ name: 'mobilefacenet', embeddingSize: EMB, seed: cfg.seed });
  const head = headFromConfig(cfg, CLASSES);
  const params = new Map<string, tf.Variable>();
  const state = new Map<string, tf.Variable>();
  const trainable = new Set(model.trainable);
  for (const [k, v] of model.namedWeights()) (trainable.has(v) ? params : state).set(`backbone/${k}`, v);
  for (const [k, v] of headWeights(head)) params.set(`head/${k}`, v);
  const images = new Float32Array(BATCH * S * S * 3);
  const micro = (labels: number[], img = images) => ({
    images: img,
    labels: Int32Array.from(labels),
    seed: 1,
    lossIteration: 0,
  });
  try {
    // Label 9 of 5 classes, in the second worker's micro-batch (index 1 of the step).
    await assert.rejects(
      pool.compute(params, state, [micro([0, 1]), micro([9, 1])], [S, S, 3]),
      (e: unknown) =>
        e instanceof ArcfaceError &&
        /^gradient worker 1: .*9/.test(e.message) &&
        (e as { microBatch?: number }).microBatch === 1,
    );
    // Images that do not fit the shape: tfjs's own error comes back.
    await assert.rejects(
      pool.compute(params, state, [micro([0, 1], new Float32Array(5)), micro([0, 1])], [S, S, 3]),
      /gradient worker 0: .*shape/i,
    );
    // Both workers still compute after their errors.
    const ok = await pool.compute(params, state, [micro([0, 1]), micro([2, 3])], [S, S, 3]);
    assert.equal(ok.losses.length, 2);
    assert.ok(ok.losses.every(Number.isFinite));
    assert.equal(ok.grads.size, params.size);
    tf.dispose([...ok.grads.values()]);
    // A model the workers did not build is refused before any work.
    const wrong = new Map([...params].slice(1));
    await assert.rejects(pool.compute(wrong, state, [micro([0, 1])], [S, S, 3]), /workers' model has/);
  } finally {
    model.dispose();
    tf.dispose([...headWeights(head).values()]);
  }
});

test('a dead worker rejects compute; --parallel beyond accumulate is a clear BAD_CONFIG', async () => {
  const cfg = config();
  const dying = await GradientPool.start({ config: cfg, numClasses: CLASSES, workers: 1 });
  // Internal access: killing the thread is the only way to test a worker that dies.
  await (dying as unknown as { slots: { worker: Worker }[] }).slots[0].worker.terminate();
  await assert.rejects(dying.compute(new Map(), new Map(), [], [S, S, 3]), /gradient worker 0 stopped/);
  await dying.close();

  assert.throws(
    () => checkParallel(3, 2),
    (e: unknown) =>
      e instanceof ArcfaceError &&
      e.code === 'BAD_CONFIG' &&
      /--parallel 3 needs accumulate >= 3, but accumulate is 2/.test(e.message),
  );
  assert.throws(() => checkParallel(0, 2), /integer >= 1/);
  // runTraining refuses before opening the (absent) data.
  await assert.rejects(
    runTraining({ config: config({ accumulate: 2 }), runDir: tmp(), parallel: 3 }),
    (e: unknown) => e instanceof ArcfaceError && e.code === 'BAD_CONFIG' && /accumulate is 2/.test(e.message),
  );
});

test('the trainer names the batch whose forward failed in a worker, as in-process', async () => {
  const cfg = config();
  const bad = source();
  const data: BatchSource = {
    ...bad,
    async *epoch(e, opts) {
      let i = opts?.fromBatch ?? 0;
      for await (const b of bad.epoch(e, opts)) {
        if (i++ === 2) b.labels[0] = 9; // not one of the 5 classes
        yield b;
      }
    },
  };
  const model = createBackbone({ name: 'mobilefacenet', embeddingSize: EMB, seed: cfg.seed });
  const head = headFromConfig(cfg, CLASSES);
  try {
    await assert.rejects(
      train({ config: cfg, runDir: tmp(), model, head, data, catchSignals: false, gradients: pool }),
      /^ArcfaceError: training stopped at step 1 \(epoch 0, batch 2\): gradient worker 1: /,
    );
  } finally {
    model.dispose();
    tf.dispose([...headWeights(head).values()]);
  }
});

test('a head-only warm-up step on 2 workers = in-process: the backbone and its BN statistics stay put, the head moves', async () => {
  const cfg = config({ steps: 1, freezeBackboneSteps: 0 });
  const frozen = config({ steps: 2, freezeBackboneSteps: 1 });
  const runs = [];
  for (const gradients of [undefined, pool]) {
    const model = createBackbone({ name: 'mobilefacenet', embeddingSize: EMB, seed: cfg.seed });
    const head = headFromConfig(frozen, CLASSES);
    const start = snapshot(model, head);
    const afterStep: Map<string, Float32Array>[] = [];
    await train({
      config: frozen,
      runDir: tmp(),
      model,
      head,
      data: source(),
      catchSignals: false,
      gradients,
      onProgress: () => afterStep.push(snapshot(model, head)),
    });
    runs.push(afterStep);
    for (const [key, v] of afterStep[0]!) {
      if (key.startsWith('backbone/')) assert.deepEqual(v, start.get(key), `${key} moved in the frozen step`);
      else assert.notDeepEqual(v, start.get(key), `${key} did not train`);
    }
    // Step 2 trains everything: the BN statistics move again.
    assert.ok(
      [...afterStep[1]!].some(
        ([k, v]) => k.endsWith('running_var') && v.some((x, i) => x !== start.get(k)![i]),
      ),
    );
    model.dispose();
    tf.dispose([...headWeights(head).values()]);
  }
  for (const [s, local] of runs[0]!.entries())
    for (const [key, a] of local) assert.ok(relErr(runs[1]![s]!.get(key)!, a) < 1e-5, `step ${s + 1} ${key}`);
});
