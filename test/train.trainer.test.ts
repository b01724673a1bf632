import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { ArcfaceError } from '../src/errors.js';
import { MarginHead, arcFace } from '../src/losses/index.js';
import { parseTrainConfig, type TrainConfig } from '../src/train/config.js';
import { listCheckpoints, readCheckpoint } from '../src/train/checkpoint.js';
import { readLog } from '../src/train/log.js';
import { train } from '../src/train/trainer.js';
import type { Batch, BatchSource, TrainableModel } from '../src/train/types.js';
import { rng } from '../src/util/random.js';
import { relErr } from './helpers.js';

const H = 4;
const W = 4;
const C = 1;
const CLASSES = 4;
const EMB = 8;

/** Tiny MLP with dropout (seeded by the trainer) and a running mean updated in training (like BN statistics). */
function tinyModel(seed = 3): TrainableModel & { dispose(): void } {
  const w1 = tf.variable(tf.randomNormal([H * W * C, 16], 0, 0.5, 'float32', seed), true);
  const b1 = tf.variable(tf.zeros([16]), true);
  const w2 = tf.variable(tf.randomNormal([16, EMB], 0, 0.5, 'float32', seed + 1), true);
  const mean = tf.variable(tf.zeros([16]), false);
  return {
    trainable: [w1, b1, w2],
    namedWeights: () =>
      new Map([
        ['fc1.weight', w1],
        ['fc1.bias', b1],
        ['fc2.weight', w2],
        ['running_mean', mean],
      ]),
    apply(x, training, s) {
      return tf.tidy(() => {
        const flat = tf.reshape(x, [x.shape[0], H * W * C]) as tf.Tensor2D;
        let hdn = tf.relu(tf.add(tf.matMul(flat, w1 as tf.Tensor2D), b1)) as tf.Tensor2D;
        if (training) {
          mean.assign(tf.add(tf.mul(mean, 0.9), tf.mul(tf.mean(hdn, 0), 0.1)));
          hdn = tf.dropout(hdn, 0.25, undefined, s) as tf.Tensor2D;
        }
        return tf.matMul(hdn, w2 as tf.Tensor2D);
      });
    },
    dispose: () => tf.dispose([w1, b1, w2, mean]),
  };
}

/** Seeded synthetic batches: the order of an epoch depends on (seed, epoch) only. */
function source(
  batchesPerEpoch = 4,
  batch = 6,
  poison?: (epoch: number, index: number) => boolean,
): BatchSource {
  return {
    batchesPerEpoch,
    imageShape: [H, W, C],
    async *epoch(e, opts) {
      for (let i = opts?.fromBatch ?? 0; i < batchesPerEpoch; i++) {
        const r = rng(1000 * e + i + 7);
        const labels = Int32Array.from({ length: batch }, () => Math.floor(r() * CLASSES));
        const images = new Float32Array(batch * H * W * C);
        labels.forEach((l, k) => {
          for (let j = 0; j < H * W * C; j++)
            images[k * H * W * C + j] = (j % CLASSES === l ? 1 : 0) + 0.3 * r();
        });
        if (poison?.(e, i)) images[0] = NaN;
        yield { images, labels } satisfies Batch;
      }
    },
  };
}

function config(over: Record<string, unknown> = {}): TrainConfig {
  return parseTrainConfig(
    {
      backbone: 'tiny',
      embeddingSize: EMB,
      loss: { name: 'arcface', s: 8, m: 0.3 },
      batchSize: 6,
      steps: 6,
      lr: 0.1,
      warmupSteps: 2,
      clipNorm: 1,
      checkpointEvery: 2,
      validateEvery: 0,
      logEvery: 1,
      seed: 11,
      data: { train: 'synthetic' },
      ...over,
    },
    'test-config',
  );
}

function setup() {
  const model = tinyModel();
  const head = new MarginHead({
    numClasses: CLASSES,
    embeddingSize: EMB,
    loss: arcFace({ s: 8, m: 0.3 }),
    seed: 5,
  });
  return { model, head, dispose: () => (model.dispose(), head.dispose()) };
}

function weights(m: TrainableModel, head: MarginHead): Float32Array[] {
  return [
    ...[...m.namedWeights().values()].map((v) => v.dataSync() as Float32Array),
    head.weight.dataSync() as Float32Array,
  ];
}

const tmp = () => mkdtempSync(join(tmpdir(), 'arcface-train-'));

test('stop at 3 (signal) and resume = straight run, bit for bit, with accumulation, dropout and epochs crossed', async () => {
  await initRuntime();
  const cfg = config({ accumulate: 2, steps: 6, checkpointEvery: 0 }); // 12 micro-batches: 3 epochs of 4
  const straightDir = tmp();
  const a = setup();
  const ra = await train({
    config: cfg,
    runDir: straightDir,
    model: a.model,
    head: a.head,
    data: source(),
    catchSignals: false,
  });
  assert.equal(ra.stopped, 'done');
  assert.equal(ra.step, 6);
  assert.equal(ra.epoch, 3);
  const straight = weights(a.model, a.head);
  a.dispose();

  const dir = tmp();
  const b = setup();
  const ac = new AbortController();
  const rb = await train({
    config: cfg,
    runDir: dir,
    model: b.model,
    head: b.head,
    data: source(),
    signal: ac.signal,
    catchSignals: false,
    onProgress: (p) => p.step === 3 && ac.abort(),
  });
  b.dispose();
  assert.equal(rb.stopped, 'signal');
  assert.equal(rb.step, 3);
  assert.equal(readCheckpoint(rb.checkpoint).index.step, 3);
  assert.equal(readCheckpoint(rb.checkpoint).index.epoch, 1); // 6 micro-batches read: epoch 1, batch 2
  assert.equal(readCheckpoint(rb.checkpoint).index.batchInEpoch, 2);

  // Resume into fresh variables with other initial values: everything must come from the checkpoint.
  const c = {
    model: tinyModel(99),
    head: new MarginHead({
      numClasses: CLASSES,
      embeddingSize: EMB,
      loss: arcFace({ s: 8, m: 0.3 }),
      seed: 77,
    }),
  };
  const rc = await train({
    config: cfg,
    runDir: dir,
    model: c.model,
    head: c.head,
    data: source(),
    resume: true,
    catchSignals: false,
  });
  assert.equal(rc.stopped, 'done');
  assert.equal(rc.step, 6);
  const resumed = weights(c.model, c.head);
  resumed.forEach((w, i) => assert.deepEqual(w, straight[i], `tensor ${i} differs after resume`));
  assert.equal(rc.loss, ra.loss);
  c.model.dispose();
  c.head.dispose();

  // The log reads as one run: steps 1..6 once each, a resume line.
  const log = readLog(join(dir, 'log.jsonl'));
  assert.deepEqual(
    log.filter((e) => e.type === 'step').map((e) => e.step),
    [1, 2, 3, 4, 5, 6],
  );
  assert.ok(log.some((e) => e.type === 'resume' && e.step === 3));
  rmSync(straightDir, { recursive: true });
  rmSync(dir, { recursive: true });
});

test('checkpoints every N steps keep the newest K; lr follows the schedule; memory stays flat', async () => {
  await initRuntime();
  const dir = tmp();
  const s = setup();
  const lrs: number[] = [];
  const tensors: number[] = [];
  const vals: number[] = [];
  const r = await train({
    config: config({ steps: 6, checkpointEvery: 2, keepCheckpoints: 2, validateEvery: 3 }),
    runDir: dir,
    model: s.model,
    head: s.head,
    data: source(),
    catchSignals: false,
    validate: async () => {
      vals.push(1);
      return { accuracy: 0.5, std: 0.1 };
    },
    onProgress: (p) => {
      lrs.push(p.lr);
      tensors.push(tf.memory().numTensors);
      assert.equal(p.totalSteps, 6);
      assert.ok(p.etaSec >= 0 && p.samplesPerSec > 0);
    },
  });
  // poly, warmup 2 of 6: 0, 0.05, then 0.1 * (1 - (t - 2) / 4)^2 for t = 2..5
  const expect = [0, 0.05, 0.1, 0.1 * 0.75 ** 2, 0.1 * 0.5 ** 2, 0.1 * 0.25 ** 2];
  lrs.forEach((lr, i) => assert.ok(Math.abs(lr - expect[i]) < 1e-12, `lr at step ${i}: ${lr}`));
  // Momentum buffers appear at the first step; after that no step leaves a tensor behind.
  assert.deepEqual(tensors.slice(1), Array(5).fill(tensors[1]));
  assert.deepEqual(
    listCheckpoints(join(dir, 'checkpoints')).map((c) => c.step),
    [4, 6],
  );
  assert.equal(r.checkpoint, join(dir, 'checkpoints', 'step-000006'));
  assert.equal(vals.length, 2); // step 3 and the end
  assert.equal(readLog(join(dir, 'log.jsonl')).filter((e) => e.type === 'val').length, 2);
  assert.ok(!readdirSync(join(dir, 'checkpoints')).some((n) => n.startsWith('.')), 'no temp folder left');
  // A fresh run into a folder holding one is refused.
  await assert.rejects(
    train({
      config: config(),
      runDir: dir,
      model: s.model,
      head: s.head,
      data: source(),
      catchSignals: false,
    }),
    /already holds a run/,
  );
  s.dispose();
  rmSync(dir, { recursive: true });
});

test('a NaN batch stops training with a clear error and the last good checkpoint stays', async () => {
  await initRuntime();
  const dir = tmp();
  const s = setup();
  const before = tf.memory().numTensors;
  await assert.rejects(
    train({
      config: config({ steps: 6, checkpointEvery: 2 }),
      runDir: dir,
      model: s.model,
      head: s.head,
      data: source(4, 6, (e, i) => e === 0 && i === 3), // step 4
      catchSignals: false,
    }),
    (e: unknown) =>
      e instanceof ArcfaceError &&
      e.code === 'BAD_INPUT' &&
      /step 4 \(epoch 0, batch 3\)/.test(e.message) &&
      /step-000002/.test(e.message),
  );
  assert.equal(tf.memory().numTensors, before, 'no tensor leaked by the failed step');
  assert.deepEqual(
    listCheckpoints(join(dir, 'checkpoints')).map((c) => c.step),
    [2],
  );
  const log = readLog(join(dir, 'log.jsonl'));
  assert.equal(log.at(-1)?.type, 'stop');
  s.dispose();
  rmSync(dir, { recursive: true });
});

test('a NaN loss (corrupted centres) stops before the update; never a non-finite checkpoint', async () => {
  await initRuntime();
  const dir = tmp();
  const s = setup();
  const data = source();
  const corrupting: BatchSource = {
    ...data,
    epoch: (e, o) =>
      (async function* () {
        let i = o?.fromBatch ?? 0;
        for await (const b of data.epoch(e, o)) {
          if (e === 0 && i++ === 2) s.head.weight.assign(tf.fill(s.head.weight.shape, NaN));
          yield b;
        }
      })(),
  };
  await assert.rejects(
    train({
      config: config({ checkpointEvery: 1 }),
      runDir: dir,
      model: s.model,
      head: s.head,
      data: corrupting,
      catchSignals: false,
    }),
    /step 3 .*(loss|gradient norm) is NaN.*step-000002/,
  );
  const cps = listCheckpoints(join(dir, 'checkpoints'));
  assert.deepEqual(
    cps.map((c) => c.step),
    [1, 2],
  );
  for (const c of cps)
    for (const g of Object.values(readCheckpoint(c.path).values))
      for (const t of g.values()) assert.ok(t.values.every(Number.isFinite));
  s.dispose();
  rmSync(dir, { recursive: true });
});

test('resume refuses another architecture and another config, naming what differs', async () => {
  await initRuntime();
  const dir = tmp();
  const s = setup();
  await train({
    config: config({ steps: 3 }),
    runDir: dir,
    model: s.model,
    head: s.head,
    data: source(),
    catchSignals: false,
  });
  await assert.rejects(
    train({
      config: config({ steps: 3, lr: 0.2 }),
      runDir: dir,
      model: s.model,
      head: s.head,
      data: source(),
      resume: true,
      catchSignals: false,
    }),
    /another config: "lr" is 0.1 in .*config.json, 0.2 now/,
  );
  const wide = new MarginHead({ numClasses: CLASSES + 1, embeddingSize: EMB, loss: arcFace(), seed: 1 });
  await assert.rejects(
    train({
      config: config({ steps: 3 }),
      runDir: dir,
      model: s.model,
      head: wide,
      data: source(),
      resume: true,
      catchSignals: false,
    }),
    (e: unknown) =>
      e instanceof ArcfaceError &&
      e.code === 'BAD_CONFIG' &&
      /another architecture.*"weight" is \[4, 8\] there, \[5, 8\] here/.test(e.message),
  );
  wide.dispose();
  s.dispose();
  assert.ok(existsSync(join(dir, 'config.json')));
  rmSync(dir, { recursive: true });
});

test('freezeBackboneSteps: the head trains alone (backbone and its running statistics untouched), then all; resume inside and after the frozen phase is bit-exact', async () => {
  await initRuntime();
  const cfg = config({
    accumulate: 2,
    steps: 6,
    warmupSteps: 0,
    checkpointEvery: 0,
    freezeBackboneSteps: 3,
    backboneLrScale: 0.1,
  });
  const a = setup();
  const initial = weights(a.model, a.head).map((w) => w.slice());
  const seen: Float32Array[][] = [];
  const straightDir = tmp();
  await train({
    config: cfg,
    runDir: straightDir,
    model: a.model,
    head: a.head,
    data: source(),
    catchSignals: false,
    onProgress: () => seen.push(weights(a.model, a.head).map((w) => w.slice())),
  });
  const straight = weights(a.model, a.head).map((w) => w.slice());
  a.dispose();
  const nb = initial.length - 1; // the model's tensors, then the head's
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < nb; i++)
      assert.deepEqual(seen[s]![i], initial[i], `step ${s + 1}: model tensor ${i} moved while frozen`);
    assert.notDeepEqual(
      seen[s]![nb],
      s === 0 ? initial[nb] : seen[s - 1]![nb],
      `step ${s + 1}: the head did not train`,
    );
  }
  for (let i = 0; i < nb; i++)
    assert.notDeepEqual(seen[3]![i], initial[i], `step 4: model tensor ${i} still frozen`);

  // The same run stopped at 2 (frozen) and at 4 (training all), each resumed into fresh variables.
  for (const stopAt of [2, 4]) {
    const dir = tmp();
    const b = setup();
    const ac = new AbortController();
    await train({
      config: cfg,
      runDir: dir,
      model: b.model,
      head: b.head,
      data: source(),
      signal: ac.signal,
      catchSignals: false,
      onProgress: (p) => p.step === stopAt && ac.abort(),
    });
    b.dispose();
    const c = setup();
    const rc = await train({
      config: cfg,
      runDir: dir,
      model: c.model,
      head: c.head,
      data: source(),
      resume: true,
      catchSignals: false,
    });
    assert.equal(rc.step, 6);
    weights(c.model, c.head).forEach((w, i) =>
      assert.deepEqual(w, straight[i], `stop at ${stopAt}: tensor ${i} differs`),
    );
    c.dispose();
    rmSync(dir, { recursive: true });
  }
  rmSync(straightDir, { recursive: true });
});

test('backboneLrScale: the backbone moves at the scaled rate on its first step (momentum buffer = d)', async () => {
  await initRuntime();
  // One step from the same start, scale 1 vs 0.25, no decay, no clipping: the backbone's update
  // (p - p') is exactly lr * g in both, so the two updates differ by the scale.
  const run = async (scale: number) => {
    const m = setup();
    const before = weights(m.model, m.head).map((w) => w.slice());
    const cfg = config({
      steps: 1,
      warmupSteps: 0,
      weightDecay: 0,
      clipNorm: null,
      checkpointEvery: 0,
      backboneLrScale: scale,
    });
    const dir = tmp();
    await train({
      config: cfg,
      runDir: dir,
      model: m.model,
      head: m.head,
      data: source(),
      catchSignals: false,
    });
    const after = weights(m.model, m.head);
    const deltas = before.map((w, i) => Array.from(w, (x, k) => x - after[i]![k]!));
    m.dispose();
    rmSync(dir, { recursive: true });
    return deltas;
  };
  const full = await run(1);
  const quarter = await run(0.25);
  const probe = tinyModel();
  const names = [...probe.namedWeights().keys()];
  probe.dispose();
  const nb = full.length - 1;
  for (let i = 0; i < nb; i++) {
    if (names[i] === 'running_mean') {
      assert.deepEqual(quarter[i], full[i], 'a running statistic is not scaled');
      continue;
    }
    assert.ok(
      relErr(
        quarter[i]!.map((x) => x * 4),
        full[i]!,
      ) < 1e-4,
      `model tensor ${i}`,
    );
  }
  assert.ok(relErr(quarter[nb]!, full[nb]!) < 1e-6, 'the head keeps the full rate');
});
