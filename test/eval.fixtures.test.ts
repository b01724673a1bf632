/**
 * src/eval against test/fixtures/eval.json (tools/reference/eval_reference.py: an independent
 * numpy implementation of InsightFace's verification protocol, sklearn's roc_curve and
 * roc_auc_score, brentq for the EER, brute-force calibration and identification). Counts-based
 * numbers (accuracies, rates) must agree to 1e-12; the EER (root finding) to 1e-9.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { equalErrorRate, rocAuc, rocCurve, tarAtFar } from '../src/eval/roc.js';
import { evaluateVerification } from '../src/eval/verification.js';
import { thresholdForAccuracy, thresholdForFar } from '../src/eval/calibrate.js';
import { evaluateIdentification } from '../src/eval/identification.js';

const fx = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/eval.json'), 'utf8'));

function close(actual: number, expected: number, tol: number, what: string): void {
  if (Number.isNaN(expected)) return assert.ok(Number.isNaN(actual), `${what}: ${actual}, expected NaN`);
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual}, expected ${expected}`);
}

function closeArray(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) close(actual[i], expected[i], tol, `${what}[${i}]`);
}

describe('verification vs the numpy/sklearn reference', () => {
  for (const c of fx.verification) {
    test(`${c.name}: ${c.scores.length} pairs, ${c.folds} folds`, () => {
      const roc = rocCurve(c.scores, c.same);
      if (c.roc.far) {
        closeArray(roc.far, c.roc.far, 1e-15, 'far');
        closeArray(roc.tar, c.roc.tar, 1e-15, 'tar');
        closeArray(roc.thresholds.subarray(1), c.roc.thresholds, 0, 'thresholds');
        assert.equal(roc.thresholds[0], Infinity);
      }
      close(rocAuc(roc), c.roc.auc, 1e-12, 'auc');
      close(equalErrorRate(roc).eer, c.roc.eer, 1e-9, 'eer');
      for (const [key, want] of Object.entries<any>(c.roc.tarAtFar)) {
        const got = tarAtFar(roc, Number(key));
        close(got.tar, want.tar, 0, `tar@${key}`);
        close(got.far, want.far, 0, `far@${key}`);
        assert.equal(got.threshold, want.threshold ?? Infinity, `threshold@${key}`);
      }

      for (const grid of ['insightface', 'exact'] as const) {
        const want = c[grid];
        const r = evaluateVerification(c.scores, c.same, { folds: c.folds, thresholds: grid });
        const what = `${grid}`;
        closeArray(r.foldAccuracies, want.foldAccuracies, 1e-12, `${what} fold accuracies`);
        closeArray(r.foldThresholds, want.foldThresholds, 1e-12, `${what} fold thresholds`);
        close(r.accuracy, want.accuracy, 1e-12, `${what} accuracy`);
        close(r.std, want.std, 1e-12, `${what} std`);
        close(r.bestThreshold, want.bestThreshold, 1e-12, `${what} best threshold`);
        close(r.bestAccuracy, want.bestAccuracy, 1e-12, `${what} best accuracy`);
        assert.deepEqual(Object.keys(r.tarAtFar), Object.keys(want.tarAtFar));
        for (const [key, w] of Object.entries<any>(want.tarAtFar)) {
          close(r.tarAtFar[key].tar, w.tar, 1e-12, `${what} VAL@${key}`);
          close(r.tarAtFar[key].std, w.std, 1e-12, `${what} VAL std@${key}`);
          close(r.tarAtFar[key].far, w.far, 1e-12, `${what} FAR@${key}`);
        }
        close(r.auc, c.roc.auc, 1e-12, `${what} auc`);
        close(r.eer, c.roc.eer, 1e-9, `${what} eer`);
        close(r.rocTarAtFar['1e-2'].tar, c.roc.tarAtFar['1e-2'].tar, 0, `${what} ROC TAR@1e-2`);
      }

      for (const key of ['1e-1', '1e-2']) {
        const got = thresholdForFar(c.scores, c.same, Number(key));
        assert.deepEqual(got, c.calibration[key], `thresholdForFar ${key}`);
      }
      const acc = thresholdForAccuracy(c.scores, c.same);
      assert.equal(acc.threshold, c.calibration.accuracy.threshold);
      close(acc.accuracy, c.calibration.accuracy.accuracy, 1e-15, 'calibrated accuracy');
      close(acc.far, c.calibration.accuracy.far, 1e-15, 'calibrated far');
      close(acc.tar, c.calibration.accuracy.tar, 1e-15, 'calibrated tar');
    });
  }

  test('the InsightFace grids have the lengths of np.arange(0, 4, 0.01) and (0, 4, 0.001)', () => {
    assert.deepEqual(fx.grid_len, { acc: 400, val: 4000 });
    // Every best threshold of the insightface grid is 1 - t/2 for some t = i * 0.01, i < 400.
    const c = fx.verification[0];
    const r = evaluateVerification(c.scores, c.same);
    for (const t of r.foldThresholds) {
      const i = Math.round((2 - 2 * t) / 0.01);
      assert.ok(
        i >= 0 && i < fx.grid_len.acc && Math.abs(1 - (i * 0.01) / 2 - t) < 1e-15,
        `${t} on the grid`,
      );
    }
  });
});

test('identification: CMC and DIR@FPIR vs the numpy reference', () => {
  const id = fx.identification;
  const gallery = id.gallery.map((g: any) => ({
    identity: g.identity,
    embedding: Float32Array.from(g.embedding),
  }));
  const probes = id.probes.map((p: any) => ({
    identity: p.identity,
    embedding: Float32Array.from(p.embedding),
  }));
  const r = evaluateIdentification(gallery, probes, { fpirs: [0.1, 0.05, 0.01] });
  assert.equal(r.mated, id.mated);
  assert.equal(r.distractors, id.distractors);
  closeArray(r.cmc, id.cmc, 1e-15, 'cmc');
  assert.equal(r.rank1, id.cmc[0]);
  assert.equal(r.rank5, id.cmc[4]);
  assert.deepEqual(Object.keys(r.dirAtFpir), Object.keys(id.dirAtFpir));
  for (const [key, w] of Object.entries<any>(id.dirAtFpir)) {
    close(r.dirAtFpir[key].dir, w.dir, 1e-15, `DIR@${key}`);
    close(r.dirAtFpir[key].fpir, w.fpir, 1e-15, `FPIR@${key}`);
    close(r.dirAtFpir[key].threshold, w.threshold, 1e-9, `threshold@${key}`);
  }
  // Map input gives the same answer as the list input.
  const map = new Map<string, Float32Array[]>();
  for (const g of gallery) map.set(g.identity, [...(map.get(g.identity) ?? []), g.embedding]);
  assert.deepEqual(evaluateIdentification(map, probes, { fpirs: [0.1, 0.05, 0.01] }), r);
});
