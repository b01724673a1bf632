/**
 * The heads a config can ask for (the paper's Table 2 rows): plain Softmax (biased FC), the margin
 * losses, and ArcFace plus intra / inter / triplet terms; their variables train and checkpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { ArcfaceError } from '../src/errors.js';
import { CombinedObjective, MarginHead, SoftmaxHead } from '../src/losses/index.js';
import { parseTrainConfig } from '../src/train/config.js';
import { headFromConfig } from '../src/train/head.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { train } from '../src/train/trainer.js';
import { headWeights, type BatchSource, type TrainableModel } from '../src/train/types.js';
import { rng } from '../src/util/random.js';

const cfg = (loss: unknown, over: Record<string, unknown> = {}) =>
  parseTrainConfig(
    {
      backbone: 'tiny',
      embeddingSize: 8,
      loss,
      batchSize: 6,
      steps: 4,
      lr: 0.05,
      checkpointEvery: 0,
      validateEvery: 0,
      logEvery: 1,
      data: { train: 'x' },
      ...over,
    },
    'test.json',
  );

const badConfig = (loss: unknown, pattern: RegExp) =>
  assert.throws(
    () => cfg(loss),
    (e: unknown) => e instanceof ArcfaceError && e.code === 'BAD_CONFIG' && pattern.test(e.message),
  );

test('config: softmax takes no scale or margin; terms are non-negative weights', () => {
  assert.deepEqual(cfg({ name: 'softmax' }).loss, { name: 'softmax' });
  badConfig({ name: 'softmax', s: 64 }, /"loss\.s" does not apply to "softmax"/);
  badConfig({ name: 'softmax', inter: 1 }, /"loss\.inter" needs a normalised head/);
  badConfig({ name: 'arcface', intra: -1 }, /"loss\.intra" must be >= 0, got -1/);
  badConfig(
    { name: 'arcface', tripletMargin: 0.3 },
    /"loss\.tripletMargin" is given without "loss\.triplet"/,
  );
  badConfig({ name: 'arcface', triplet: 1, tripletMargin: 4 }, /"loss\.tripletMargin" must be <= 3\.14/);
  assert.deepEqual(cfg({ name: 'arcface', m: 0.4, triplet: 2, tripletMargin: 0.35 }).loss, {
    name: 'arcface',
    s: 64,
    m: 0.4,
    easyMargin: false,
    straightThrough: false,
    triplet: 2,
    tripletMargin: 0.35,
  });
  // Defaults are written out: config.json alone says what was trained.
  assert.deepEqual(cfg({ name: 'cm2' }).loss, { name: 'cm2', s: 64, m1: 0.9, m2: 0.4, m3: 0.15 });
  assert.deepEqual(cfg({ name: 'sphereface' }).loss, { name: 'sphereface', s: 64, m1: 1.35 });
});

test('headFromConfig: the head class and the variables it trains', async () => {
  await initRuntime();
  const soft = headFromConfig(cfg({ name: 'softmax' }), 5);
  assert.ok(soft instanceof SoftmaxHead);
  assert.deepEqual([...headWeights(soft).keys()], ['weight', 'bias']);
  const arc = headFromConfig(cfg({ name: 'cosface' }), 5);
  assert.ok(arc instanceof MarginHead);
  assert.equal(arc.loss?.name, 'cosface');
  assert.deepEqual([...headWeights(arc).keys()], ['weight']);
  const combined = headFromConfig(cfg({ name: 'arcface', intra: 1, inter: 0.5 }), 5);
  assert.ok(combined instanceof CombinedObjective);
  assert.deepEqual(combined.terms, { intra: 1, inter: 0.5 });
  assert.equal(combined.weight, (combined as CombinedObjective).head.weight);
  for (const h of [soft, arc, combined]) h.dispose();
});

test('CombinedObjective loss = CE + weighted terms (ArcFace+Intra: + theta_y / pi, Eq. 5)', async () => {
  await initRuntime();
  const conf = cfg({ name: 'arcface', intra: 2 });
  const objective = headFromConfig(conf, 4) as CombinedObjective;
  const plain = headFromConfig(cfg({ name: 'arcface' }), 4) as MarginHead;
  plain.weight.assign(objective.weight);
  const r = rng(5);
  const e = tf.tensor2d(
    Array.from({ length: 3 * 8 }, () => r() - 0.5),
    [3, 8],
  );
  const y = tf.tensor1d([0, 2, 3], 'int32');
  const a = objective.forward(e, y);
  const b = plain.forward(e, y);
  // theta_y from the head's own cosines, independently of intraLoss.
  const cos = (await b.cos.array()) as number[][];
  const meanTheta = [0, 2, 3].reduce((s, c, i) => s + Math.acos(cos[i][c]), 0) / 3;
  const ce = (await b.loss.data())[0];
  assert.ok(Math.abs((await a.loss.data())[0] - (ce + (2 * meanTheta) / Math.PI)) < 1e-4);
  tf.dispose([e, y, a.loss, a.logits, a.cos, ...Object.values(a.parts), b.loss, b.logits, b.cos]);
  objective.dispose();
  plain.dispose();
});

/** A linear embedder on 2x2x1 images. */
function linearModel(seed: number): TrainableModel & { dispose(): void } {
  const w = tf.variable(tf.randomNormal([4, 8], 0, 0.5, 'float32', seed), true);
  return {
    trainable: [w],
    namedWeights: () => new Map([['w', w]]),
    apply: (x) => tf.tidy(() => tf.matMul(tf.reshape(x, [x.shape[0], 4]) as tf.Tensor2D, w as tf.Tensor2D)),
    dispose: () => w.dispose(),
  };
}

const data: BatchSource = {
  batchesPerEpoch: 2,
  imageShape: [2, 2, 1],
  async *epoch(e, opts) {
    for (let i = opts?.fromBatch ?? 0; i < 2; i++) {
      const r = rng(100 * e + i + 1);
      const labels = Int32Array.from({ length: 6 }, () => Math.floor(r() * 3));
      const images = Float32Array.from(
        { length: 24 },
        (_, k) => (k % 4 === labels[k >> 2] ? 1 : 0) + 0.2 * r(),
      );
      yield { images, labels };
    }
  },
};

test('trainer: a Softmax head trains and checkpoints its bias; a combined objective trains', async () => {
  await initRuntime();
  for (const loss of [{ name: 'softmax' }, { name: 'arcface', s: 8, triplet: 1 }]) {
    const dir = mkdtempSync(join(tmpdir(), 'arcface-heads-'));
    try {
      const conf = cfg(loss);
      const model = linearModel(1);
      const head = headFromConfig(conf, 3);
      const before = new Map([...headWeights(head)].map(([k, v]) => [k, v.dataSync().slice()]));
      const result = await train({ config: conf, runDir: dir, model, head, data, catchSignals: false });
      assert.equal(result.step, 4);
      const saved = readCheckpoint(result.checkpoint).values.head;
      assert.deepEqual([...saved.keys()].sort(), [...before.keys()].sort());
      for (const [k, v] of headWeights(head)) {
        const now = v.dataSync();
        assert.ok(
          now.some((x, i) => x !== before.get(k)![i]),
          `${loss.name}: head ${k} was not updated`,
        );
        assert.deepEqual([...saved.get(k)!.values], [...now], `${loss.name}: checkpoint of head ${k}`);
      }
      model.dispose();
      head.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
