/**
 * The FAR table (src/eval/far.ts) against what it summarises: on Gaussian impostor scores the
 * table's FAR matches the exact normal tail where it is measured and errs high (towards "unknown")
 * where it extrapolates; thresholds invert farAt; the open-set threshold holds FPIR on simulated
 * strangers against galleries of several sizes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildFarTable,
  checkFarTable,
  farAt,
  farForFpir,
  fpirAt,
  openSetThreshold,
  thresholdAtFar,
} from '../src/eval/far.js';
import { gaussian, rng } from '../src/util/random.js';

/** P(Z >= z) for a standard normal (Abramowitz-Stegun 7.1.26 on erfc, |error| < 1.5e-7 absolute). */
function normalTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erfc =
    t *
    (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) *
    Math.exp(-x * x);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

const SIGMA = 0.08;
const MU = 0.02;
function impostors(n: number, seed = 7): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => MU + SIGMA * gaussian(r));
}

test('FAR table on Gaussian impostors: within sampling error of the normal tail where measured, above it where extrapolated', () => {
  const n = 400_000;
  const t = buildFarTable(impostors(n));
  checkFarTable(t, 'table');
  assert.equal(t.pairs, n);
  assert.ok(Math.abs(t.measuredTo - 10 / n) < 1e-12);
  for (let i = 0; i < t.far.length; i++) {
    const exact = normalTail((t.cosine[i]! - MU) / SIGMA);
    if (t.far[i]! >= 1e-3) {
      // Binomial sampling error of a count f*n is about sqrt(f*n): 5 of those, plus what rounding
      // the cosine to 1e-5 moves the tail by (the density times 1e-5).
      const z = (t.cosine[i]! - MU) / SIGMA;
      const rounding = (Math.exp((-z * z) / 2) / Math.sqrt(2 * Math.PI) / SIGMA) * 1e-5;
      const tol = 5 * Math.sqrt(t.far[i]! / n) + rounding;
      assert.ok(Math.abs(exact - t.far[i]!) <= tol, `far ${t.far[i]}: exact tail ${exact}`);
    }
    if (t.far[i]! < t.measuredTo)
      assert.ok(
        exact <= t.far[i]!,
        `extrapolated ${t.far[i]} at ${t.cosine[i]}: exact tail ${exact} must not exceed it`,
      );
  }
});

test('empirical FAR at each measured threshold never exceeds its grid FAR', () => {
  const scores = impostors(50_000, 3);
  const t = buildFarTable(scores);
  for (let i = 0; i < t.far.length && t.far[i]! >= t.measuredTo; i++) {
    const accepted = scores.filter((s) => s >= t.cosine[i]!).length;
    assert.ok(accepted / scores.length <= t.far[i]! + 1e-12, `far ${t.far[i]}: accepted ${accepted}`);
  }
});

test('farAt and thresholdAtFar are inverse and monotone; farAt is exact at grid points', () => {
  const t = buildFarTable(impostors(100_000, 11));
  for (let i = 0; i < t.far.length; i++) {
    assert.ok(Math.abs(farAt(t, t.cosine[i]!) / t.far[i]! - 1) < 1e-9 || t.cosine[i] === t.cosine[i - 1]);
    assert.ok(Math.abs(thresholdAtFar(t, t.far[i]!) - t.cosine[i]!) < 1e-9);
  }
  let last = Infinity;
  for (let s = -0.5; s <= 1; s += 0.01) {
    const f = farAt(t, s);
    assert.ok(f <= last + 1e-15 && f > 0 && f <= 1, `farAt(${s}) = ${f}`);
    last = f;
    if (f < 0.5 && f > 1e-12) assert.ok(Math.abs(thresholdAtFar(t, f) - s) < 1e-6, `round trip at ${s}`);
  }
});

test('open-set threshold: strangers against N faces are named at about the target FPIR, and it grows with N', () => {
  const t = buildFarTable(impostors(400_000, 5));
  const r = rng(99);
  let previous = -Infinity;
  for (const n of [1, 10, 100]) {
    const th = openSetThreshold(t, n, 0.01);
    assert.ok(th > previous, `threshold rises with the gallery: N=${n} ${th}`);
    previous = th;
    // Fresh strangers, each compared with N independent enrolled faces.
    const trials = 40_000;
    let named = 0;
    for (let k = 0; k < trials; k++) {
      let best = -Infinity;
      for (let j = 0; j < n; j++) best = Math.max(best, MU + SIGMA * gaussian(r));
      if (best >= th) named++;
    }
    const fpir = named / trials;
    assert.ok(fpir <= 0.01 + 4 * Math.sqrt(0.01 / trials), `N=${n}: FPIR ${fpir}`);
    assert.ok(fpir >= 0.005, `N=${n}: FPIR ${fpir} should be near the 1% target, not far below`);
    assert.ok(Math.abs(fpirAt(t, th, n) - 0.01) < 1e-3);
  }
});

test('farForFpir: 1 - (1 - fpir)^(1/n), about fpir/n', () => {
  assert.ok(Math.abs(farForFpir(0.01, 1) - 0.01) < 1e-15);
  const f = farForFpir(0.01, 1000);
  assert.ok(Math.abs(1 - (1 - f) ** 1000 - 0.01) < 1e-12);
  assert.ok(Math.abs(f / (0.01 / 1000) - 1) < 0.01);
});

test('bad input: too few or non-finite scores, FAR/FPIR out of range, malformed tables', () => {
  assert.throws(() => buildFarTable([0.1, 0.2]), /too few/);
  assert.throws(() => buildFarTable([...impostors(1000), NaN]), /finite/);
  const t = buildFarTable(impostors(10_000));
  assert.throws(() => thresholdAtFar(t, 0), /FAR must be in/);
  assert.throws(() => farAt(t, NaN), /finite/);
  assert.throws(() => farForFpir(1.5, 10), /FPIR/);
  assert.throws(() => farForFpir(0.01, 0), /gallery size/);
  assert.throws(() => checkFarTable({ ...t, cosine: [...t.cosine].reverse() }, 'x'), /ascending/);
  assert.throws(() => checkFarTable({ ...t, far: t.far.slice(1) }, 'x'), /same length/);
});
