import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initRuntime } from '../src/runtime/backend.js';
import { runToy } from '../src/toy/experiment.js';

test('toy: ArcFace opens a wider angular gap and tighter classes than Softmax (generated faces)', async () => {
  await initRuntime('wasm');
  const r = runToy({ orlDir: null, steps: 600, views: 3, seed: 1 });
  assert.equal(r.source, 'synthetic');
  assert.equal(r.softmax.labels.length, r.images * 4);
  for (const run of [r.softmax, r.arcface]) {
    assert.ok(Number.isFinite(run.finalLoss));
    assert.ok(run.accuracy > 0.8, `${run.loss}: accuracy ${run.accuracy}`);
    // features are on the unit circle
    for (let i = 0; i < run.features.length; i += 2) {
      assert.ok(Math.abs(Math.hypot(run.features[i], run.features[i + 1]) - 1) < 1e-4);
    }
  }
  assert.ok(
    r.arcface.minGapDeg > r.softmax.minGapDeg + 2,
    `gap arcface ${r.arcface.minGapDeg} vs softmax ${r.softmax.minGapDeg}`,
  );
  assert.ok(r.arcface.maxClassSpreadDeg < r.softmax.maxClassSpreadDeg);
});
