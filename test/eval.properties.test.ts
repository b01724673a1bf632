/**
 * Properties of the evaluation code that hold for any data: ROC shape and AUC as the
 * Mann-Whitney probability, the exact threshold search never losing to the InsightFace grid,
 * calibrated thresholds meeting their FAR, fold layout, interpolation, identification on
 * separable data, and errors that name the bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { equalErrorRate, rocAuc, rocCurve, tarAtFar } from '../src/eval/roc.js';
import { evaluateVerification, kFoldRanges, slinearAt } from '../src/eval/verification.js';
import { thresholdForAccuracy, thresholdForFar } from '../src/eval/calibrate.js';
import { evaluateIdentification, fpirThreshold, nextUp, scoreMatrix } from '../src/eval/identification.js';
import { gaussian, rng } from '../src/util/random.js';

/** Scores rounded to 0.02 (many ties), genuine shifted up by `gap`. */
function synthetic(seed: number, n: number, gap: number) {
  const r = rng(seed);
  const same = Array.from({ length: n }, () => r() < 0.45);
  const scores = same.map((s) => Math.round((0.2 * gaussian(r) + (s ? gap : 0)) / 0.02) * 0.02);
  return { scores, same };
}

test('ROC: (0,0) to (1,1), monotone, one point per distinct score; AUC = P(genuine > impostor) + P(tie)/2', () => {
  for (const seed of [1, 2, 3]) {
    const { scores, same } = synthetic(seed, 300 + seed * 37, 0.25);
    const roc = rocCurve(scores, same);
    assert.equal(roc.far.length, new Set(scores).size + 1);
    assert.deepEqual([roc.far[0], roc.tar[0], roc.far.at(-1), roc.tar.at(-1)], [0, 0, 1, 1]);
    for (let k = 1; k < roc.far.length; k++) {
      assert.ok(roc.far[k] >= roc.far[k - 1] && roc.tar[k] >= roc.tar[k - 1], `monotone at ${k}`);
      assert.ok(roc.thresholds[k] < roc.thresholds[k - 1]);
    }
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < scores.length; i++)
      for (let j = 0; j < scores.length; j++)
        if (same[i] && !same[j]) {
          pairs++;
          wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
        }
    assert.ok(Math.abs(rocAuc(roc) - wins / pairs) < 1e-12);
  }
});

test('perfect separation: AUC 1, EER 0, accuracy 1 in every fold; reversed scores: AUC 0', () => {
  const same = Array.from({ length: 40 }, (_, i) => i % 2 === 0);
  // Genuine scores all equal: the protocol picks the strictest threshold that passes the
  // training folds' genuine pairs, which a lower genuine score in the test fold would fail.
  const scores = same.map((s, i) => (s ? 0.7 : 0.1 + i * 1e-3));
  const r = evaluateVerification(scores, same);
  assert.equal(r.auc, 1);
  assert.equal(r.eer, 0);
  assert.deepEqual(r.foldAccuracies, Array(10).fill(1));
  assert.equal(r.std, 0);
  assert.equal(r.rocTarAtFar['1e-4'].tar, 1);
  assert.equal(equalErrorRate(rocCurve(scores, same)).threshold, 0.7);
  assert.equal(
    rocAuc(
      rocCurve(
        scores.map((s) => -s),
        same,
      ),
    ),
    0,
  );
});

test('the exact threshold search is never less accurate than the InsightFace grid', () => {
  for (const seed of [4, 5, 6, 7]) {
    const { scores, same } = synthetic(seed, 501, 0.2);
    const grid = evaluateVerification(scores, same, { thresholds: 'insightface' });
    const exact = evaluateVerification(scores, same, { thresholds: 'exact' });
    assert.ok(exact.bestAccuracy >= grid.bestAccuracy);
    // On all pairs, the exact search finds the same optimum as calibration on the exact ROC.
    assert.equal(exact.bestAccuracy, thresholdForAccuracy(scores, same).accuracy);
    // The same pairs are accepted by the midpoint threshold and by calibration's score threshold.
    const cal = thresholdForAccuracy(scores, same);
    assert.deepEqual(
      scores.map((s) => s > exact.bestThreshold),
      scores.map((s) => s >= cal.threshold),
    );
  }
});

test('TAR@FAR and thresholdForFar never exceed the target FAR; one step more permissive would', () => {
  const { scores, same } = synthetic(8, 800, 0.3);
  const roc = rocCurve(scores, same);
  for (const far of [0.3, 0.1, 0.05, 0.01, 1e-3]) {
    const t = tarAtFar(roc, far);
    assert.ok(t.far <= far);
    const c = thresholdForFar(scores, same, far);
    assert.ok(c.far <= far && c.tar === t.tar);
    const neg = same.filter((s) => !s).length;
    const accepted = scores.filter((s, i) => !same[i] && s >= c.threshold).length;
    assert.equal(accepted / neg, c.far);
    const lower = Math.max(...scores.filter((s) => s < c.threshold));
    const more = scores.filter((s, i) => !same[i] && s >= lower).length;
    assert.ok(more / neg > far, `next threshold ${lower} passes ${more}/${neg}`);
  }
});

test('folds are sklearn KFold without shuffle; K = 1 trains and tests on all pairs', () => {
  assert.deepEqual(
    kFoldRanges(13, 5).map(([a, b]) => b - a),
    [3, 3, 3, 2, 2],
  );
  assert.deepEqual(kFoldRanges(6000, 10)[3], [1800, 2400]);
  const { scores, same } = synthetic(9, 97, 0.3);
  const one = evaluateVerification(scores, same, { folds: 1 });
  assert.equal(one.foldAccuracies[0], one.bestAccuracy);
  const r = evaluateVerification(scores, same, { folds: 97 });
  assert.equal(r.foldAccuracies.length, 97);
});

test("slinearAt follows scipy's degree-1 B-spline, repeated x taking the last y of the run", () => {
  const x = [0, 0, 0, 0.25, 0.5, 0.5, 1];
  const y = [0, 1, 2, 3, 4, 5, 6];
  assert.equal(slinearAt(x, y, 0), 2);
  assert.equal(slinearAt(x, y, 0.125), 2.5);
  assert.equal(slinearAt(x, y, 0.5), 5);
  assert.equal(slinearAt(x, y, 0.75), 5.5);
  assert.equal(slinearAt(x, y, 1), 6);
});

test('verification input errors name the input', () => {
  assert.throws(
    () => evaluateVerification([0.1, 0.2], [true]),
    /scores: 2 scores but 1 same\/different labels/,
  );
  assert.throws(() => evaluateVerification([0.1, NaN], [true, false]), /scores\[1\] is NaN/);
  assert.throws(
    () => evaluateVerification([0.1, 0.2], [true, true]),
    /at least one same and one different pair \(got 2 same, 0 different\)/,
  );
  assert.throws(
    () => evaluateVerification([0.1, 0.2], [true, false], { folds: 3 }),
    /folds: 3 must be an integer from 1 to the number of pairs \(2\)/,
  );
  assert.throws(() => evaluateVerification([0.1, 0.2], [true, false], { folds: 1, fars: [0] }), /fars: 0/);
  assert.throws(() => rocCurve([Infinity, 0], [true, false]), /scores\[0\] is Infinity/);
});

function unit(r: () => number, d: number, centre?: Float32Array, noise = 0): Float32Array {
  const v = new Float32Array(d);
  let s = 0;
  for (let k = 0; k < d; k++) {
    v[k] = centre ? centre[k] + noise * gaussian(r) : gaussian(r);
    s += v[k] * v[k];
  }
  for (let k = 0; k < d; k++) v[k] /= Math.sqrt(s);
  return v;
}

test('scoreMatrix equals plain dot products for sizes off the 4 x 4 block', () => {
  const r = rng(10);
  const a = Array.from({ length: 7 }, () => unit(r, 13));
  const b = Array.from({ length: 10 }, () => unit(r, 13));
  const s = scoreMatrix(a, b);
  for (let i = 0; i < 7; i++)
    for (let j = 0; j < 10; j++) {
      let d = 0;
      for (let k = 0; k < 13; k++) d += a[i][k] * b[j][k];
      assert.ok(Math.abs(s[i * 10 + j] - d) < 1e-12);
    }
});

test('identification: well separated identities give rank-1 = 1 and DIR = 1 at every FPIR', () => {
  const r = rng(11);
  const d = 32;
  const centres = Array.from({ length: 9 }, () => unit(r, d));
  const gallery = centres.flatMap((c, i) =>
    [0, 1].map(() => ({ identity: `p${i}`, embedding: unit(r, d, c, 0.02) })),
  );
  const probes = centres.map((c, i) => ({ identity: `p${i}`, embedding: unit(r, d, c, 0.02) }));
  const outsiders = Array.from({ length: 30 }, (_, i) => ({ identity: `x${i}`, embedding: unit(r, d) }));
  const res = evaluateIdentification(gallery, [...probes, ...outsiders], { fpirs: [0.1, 0.01] });
  assert.equal(res.rank1, 1);
  assert.equal(res.cmc.length, 9);
  assert.equal(res.mated, 9);
  assert.equal(res.distractors, 30);
  assert.equal(res.dirAtFpir['1e-1'].dir, 1);
  assert.equal(res.dirAtFpir['1e-1'].fpir, 0.1);
  assert.equal(res.dirAtFpir['1e-2'].fpir, 0);
});

test('FPIR thresholds are order statistics; ties and k = 0 move just above the tied score', () => {
  assert.deepEqual(fpirThreshold([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0], 0.2), {
    threshold: 0.8,
    fpir: 0.2,
  });
  // 0.8 is tied with the third score: allowing 2 of 10 must exclude both 0.8s.
  assert.deepEqual(fpirThreshold([0.9, 0.8, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0], 0.2), {
    threshold: 0.9,
    fpir: 0.1,
  });
  assert.deepEqual(fpirThreshold([0.9, 0.9, 0.1], 0.5), { threshold: nextUp(0.9), fpir: 0 });
  assert.deepEqual(fpirThreshold([0.5, 0.4], 0.01), { threshold: nextUp(0.5), fpir: 0 });
  assert.ok(nextUp(0.5) > 0.5 && nextUp(0.5) - 0.5 < 1e-15 && nextUp(-0.5) > -0.5);
});

test('identification input errors name the input', () => {
  const e = new Float32Array([1, 0, 0]);
  assert.throws(
    () =>
      evaluateIdentification(
        [{ identity: 'a', embedding: new Float32Array([3, 0, 0]) }],
        [{ identity: 'a', embedding: e }],
      ),
    /gallery\[0\] is not L2-normalised \(norm 3\.00000\)/,
  );
  assert.throws(
    () =>
      evaluateIdentification(
        [{ identity: 'a', embedding: e }],
        [{ identity: 'a', embedding: new Float32Array([1, 0]) }],
      ),
    /probes\[0\] has 2 dimensions, expected 3/,
  );
  assert.throws(
    () => evaluateIdentification([{ identity: 'a', embedding: e }], [{ identity: 'b', embedding: e }]),
    /none of the probe identities is enrolled/,
  );
});
