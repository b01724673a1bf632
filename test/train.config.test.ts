import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArcfaceError } from '../src/errors.js';
import { loadTrainConfig, parseTrainConfig, totalSteps } from '../src/train/config.js';
import { lrAt, type ScheduleParams } from '../src/train/schedule.js';

const base = { data: { train: 'faces/' } };
const bad = (json: unknown, re: RegExp) =>
  assert.throws(
    () => parseTrainConfig(json, 'run.json'),
    (e: unknown) => e instanceof ArcfaceError && e.code === 'BAD_CONFIG' && re.test(e.message),
  );

test('defaults: arcface_torch recipe (SGD 0.1, momentum 0.9, wd 5e-4 on all, poly 2, clip 5)', () => {
  const c = parseTrainConfig(base, 'run.json');
  assert.equal(c.lr, 0.1);
  assert.equal(c.momentum, 0.9);
  assert.equal(c.weightDecay, 5e-4);
  assert.equal(c.weightDecayOn, 'all');
  assert.deepEqual(c.schedule, { type: 'poly', power: 2 });
  assert.equal(c.clipNorm, 5);
  // Every loss parameter in effect is recorded, defaults included.
  assert.deepEqual(c.loss, { name: 'arcface', s: 64, m: 0.5, easyMargin: false, straightThrough: false });
  assert.equal(c.epochs, 20);
  assert.equal(c.steps, null);
  assert.deepEqual(c.data, { train: 'faces/', validation: null, flip: true });
  assert.equal(totalSteps({ ...c, accumulate: 2 }, 101), Math.floor((20 * 101) / 2));
});

test('unknown keys and out-of-range values name the key and the file', () => {
  bad({ ...base, lrr: 0.1 }, /^run\.json: unknown key "lrr"/);
  bad({ ...base, loss: { name: 'arcface', margin: 0.5 } }, /run\.json: unknown key "loss\.margin"/);
  bad({ ...base, lr: -1 }, /run\.json: "lr" must be > 0, got -1/);
  bad({ ...base, momentum: 1.5 }, /"momentum" must be <= 1/);
  bad({ ...base, batchSize: 2.5 }, /"batchSize" must be an integer/);
  bad({ ...base, weightDecayOn: 'some' }, /"weightDecayOn" must be one of "all", "weights-only"/);
  bad({ ...base, schedule: { type: 'step', milestones: [20, 10] } }, /"schedule\.milestones" must increase/);
  bad({ ...base, schedule: { type: 'cosine' } }, /"schedule\.type" must be one of/);
  bad({ ...base, epochs: 2, steps: 10 }, /"steps" and "epochs" are both given/);
  bad({ ...base, steps: 10, warmupSteps: 10 }, /"warmupSteps" \(10\) must be below the 10 training steps/);
  bad(
    { ...base, loss: { name: 'combined', m1: 1, m2: 0.3 } },
    /run\.json: "loss": combined: give m1, m2 and m3/,
  );
  bad({ ...base, loss: { name: 'softmax', m: 0.5 } }, /"loss\.m" does not apply to "softmax"/);
  bad({}, /"data" is required/);
  bad({ data: {} }, /"data\.train" must be a non-empty string/);
});

test('loadTrainConfig resolves data paths from the file and reports bad JSON', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arcface-cfg-'));
  const p = join(dir, 'c.json');
  writeFileSync(
    p,
    JSON.stringify({ data: { train: 'set' }, steps: 100, schedule: { type: 'step', milestones: [50, 80] } }),
  );
  const c = loadTrainConfig(p);
  assert.equal(c.data.train, join(dir, 'set'));
  assert.deepEqual(c.schedule, { type: 'step', milestones: [50, 80], gamma: 0.1 });
  writeFileSync(p, '{"data": ');
  assert.throws(() => loadTrainConfig(p), new RegExp(`${p}: not valid JSON`));
  rmSync(dir, { recursive: true });
});

test('poly schedule: PolyScheduler.get_lr by hand (warmup 10 of 100, power 2)', () => {
  const p: ScheduleParams = {
    lr: 0.1,
    warmupSteps: 10,
    totalSteps: 100,
    schedule: { type: 'poly', power: 2 },
  };
  assert.equal(lrAt(0, p), 0);
  assert.equal(lrAt(5, p), 0.05);
  assert.equal(lrAt(10, p), 0.1);
  assert.ok(Math.abs(lrAt(55, p) - 0.1 * 0.25) < 1e-15); // (1 - 45/90)^2 = 0.25
  assert.ok(Math.abs(lrAt(99, p) - 0.1 / 8100) < 1e-15); // (1/90)^2
  assert.equal(lrAt(100, p), 0);
  assert.ok(Math.abs(lrAt(7, { ...p, warmupSteps: 0 }) - 0.08649) < 1e-15); // 0.1 * 0.93^2
});

test('step schedule: the paper (0.1, /10 at 20k and 28k of 32k)', () => {
  const p: ScheduleParams = {
    lr: 0.1,
    warmupSteps: 0,
    totalSteps: 32000,
    schedule: { type: 'step', milestones: [20000, 28000], gamma: 0.1 },
  };
  assert.equal(lrAt(0, p), 0.1);
  assert.equal(lrAt(19999, p), 0.1);
  assert.ok(Math.abs(lrAt(20000, p) - 0.01) < 1e-15);
  assert.ok(Math.abs(lrAt(27999, p) - 0.01) < 1e-15);
  assert.ok(Math.abs(lrAt(28000, p) - 0.001) < 1e-15);
  assert.equal(lrAt(500, { ...p, warmupSteps: 1000 }), 0.05);
  assert.throws(() => lrAt(-1, p), /step must be an integer >= 0/);
});
