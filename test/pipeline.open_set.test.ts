/**
 * How FaceRecognizer picks an identification threshold (given, the user's calibrated one, FPIR over
 * the model's FAR table, or the verify threshold for models without a table) and what a score's
 * FAR is; the models ship with the package, so nothing here needs ../shared.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { farAt, openSetThreshold } from '../src/eval/far.js';
import { saveThreshold } from '../src/models/user_config.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';

process.env.ARCFACE_HOME = mkdtempSync(join(tmpdir(), 'arcface-open-set-'));

test('the default: FPIR 1% over the gallery from its FAR table; --fpir and -t change it; far() reads the table', async () => {
  const rec = await FaceRecognizer.create();
  try {
    const table = rec.farTable!;
    assert.ok(table, 'the default has a FAR table');
    let last = -Infinity;
    for (const n of [1, 2, 10, 100, 1000, 100000]) {
      const r = rec.openSetThreshold(n);
      assert.equal(r.rule, 'fpir');
      assert.equal(r.fpir, 0.01);
      assert.equal(r.enrolled, n);
      assert.equal(r.threshold, openSetThreshold(table, n, 0.01));
      assert.ok(r.threshold > last, `N=${n}: ${r.threshold} rises with the gallery`);
      last = r.threshold;
    }
    // One enrolled face: the threshold is the one whose FAR is 1%.
    assert.ok(Math.abs(farAt(table, rec.openSetThreshold(1).threshold) - 0.01) < 1e-9);
    assert.ok(rec.openSetThreshold(10, { fpir: 0.001 }).threshold > rec.openSetThreshold(10).threshold);
    assert.deepEqual(rec.openSetThreshold(10, { threshold: 0.5 }).rule, 'given');
    // far() falls as the score rises; scores above any impostor's are tiny, below all of them ~1.
    assert.ok(rec.far(0.99)! < rec.far(0.95)! && rec.far(0.95)! < rec.far(0.9)!);
    assert.ok(rec.far(0.5)! > 0.5);
    // A calibrated "identify" threshold in the user's config wins over the table, unless --fpir is given.
    saveThreshold(rec.manifest.name, 'identify', 0.97);
    assert.deepEqual(
      { ...rec.openSetThreshold(10), fpir: null },
      { threshold: 0.97, rule: 'calibrated', fpir: null, enrolled: 10 },
    );
    assert.equal(rec.openSetThreshold(10, { fpir: 0.01 }).rule, 'fpir');
  } finally {
    await rec.dispose();
  }
});

test('a model without a FAR table identifies at its verify threshold, and reports no FAR', async () => {
  const rec = await FaceRecognizer.create({ model: 'arcface-mbf-celeba' });
  try {
    assert.equal(rec.farTable, undefined);
    const r = rec.openSetThreshold(1000);
    assert.deepEqual(r, { threshold: rec.threshold, rule: 'verify', fpir: null, enrolled: 1000 });
    assert.equal(rec.far(0.9), null);
  } finally {
    await rec.dispose();
  }
});

test('bad FPIR targets are refused before any model loads', async () => {
  for (const fpir of [0, 1, 1.5, -0.1, NaN])
    await assert.rejects(FaceRecognizer.create({ fpir }), /fpir must be a rate in \(0, 1\)/);
});
