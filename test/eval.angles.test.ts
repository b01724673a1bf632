/**
 * The paper's angle statistics (src/eval/angles.ts) on vectors whose angles are known by
 * construction: points on a circle, embedded in a higher dimension and rotated, with arbitrary
 * norms (only directions count).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  angleStatistics,
  classCentres,
  meanIntraAngle,
  meanMinAngle,
  meanPairedAngle,
} from '../src/eval/angles.js';
import { ArcfaceError } from '../src/errors.js';
import { rng } from '../src/util/random.js';

const D = 6;
const rad = (deg: number) => (deg * Math.PI) / 180;

/** A random rotation of R^D (Gram-Schmidt on Gaussian-ish columns): angles are invariant under it. */
function rotation(seed: number): number[][] {
  const r = rng(seed);
  const q: number[][] = [];
  while (q.length < D) {
    const v = Array.from({ length: D }, () => r() - 0.5);
    for (const u of q) {
      const dot = v.reduce((s, x, k) => s + x * u[k]!, 0);
      for (let k = 0; k < D; k++) v[k] -= dot * u[k]!;
    }
    const n = Math.hypot(...v);
    q.push(v.map((x) => x / n));
  }
  return q;
}

const R = rotation(3);
/** The direction at `deg` in the plane of the first two axes, rotated, times `norm`. */
function at(deg: number, norm = 1): Float32Array {
  const p = [Math.cos(rad(deg)), Math.sin(rad(deg)), 0, 0, 0, 0];
  return Float32Array.from({ length: D }, (_, i) => norm * R.reduce((s, row, k) => s + row[i]! * p[k]!, 0));
}

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-4, `${what}: ${a} vs ${b}`);

test('class centres, intra angles and minimum angles match the construction', () => {
  // Class 0 at 0 +- 10 degrees, class 1 at 90 +- 20, class 2 at 200 +- 5, norms all different.
  const features = [at(-10, 3), at(10, 0.2), at(70, 5), at(110, 1), at(195, 7), at(205, 0.5)];
  const labels = [0, 0, 1, 1, 2, 2];
  const centres = classCentres(features, labels, 3);
  close(meanPairedAngle(centres, [at(0), at(90), at(200)]), 0, 'centres');
  close(meanIntraAngle(features, labels, centres), (10 + 10 + 20 + 20 + 5 + 5) / 6, 'intra');
  // Nearest centres: 0->90 (90), 90->0 (90), 200->90 (110).
  close(meanMinAngle(centres), (90 + 90 + 110) / 3, 'inter');
});

test('a class of one feature adds no zero to the intra angle', () => {
  const features = [at(0), at(40), at(100)];
  const labels = [0, 0, 1];
  const centres = classCentres(features, labels, 2);
  close(meanIntraAngle(features, labels, centres), 20, 'intra');
  assert.throws(() => meanIntraAngle([at(0)], [0], classCentres([at(0)], [0], 1)), ArcfaceError);
});

test('angleStatistics: W-EC, W-Inter and the train / test angles', () => {
  const weights = [at(5, 2), at(60), at(180, 9)];
  const train = {
    features: [at(-10), at(10), at(80), at(100), at(170), at(190)],
    labels: [0, 0, 1, 1, 2, 2],
  };
  const test = { features: [at(30), at(50), at(300), at(310)], labels: [0, 0, 1, 1], numClasses: 2 };
  const s = angleStatistics({ weights, train, test });
  close(s.wEc, (5 + 30 + 0) / 3, 'W-EC');
  close(s.wInter, (55 + 55 + 120) / 3, 'W-Inter');
  close(s.intra1, (10 + 10 + 10 + 10 + 10 + 10) / 6, 'Intra1');
  close(s.inter1, (90 + 90 + 90) / 3, 'Inter1');
  close(s.intra2, (10 + 10 + 5 + 5) / 4, 'Intra2');
  close(s.inter2, 95, 'Inter2');
});

test('bad input is refused with a clear error', () => {
  assert.throws(() => classCentres([at(0), at(1)], [0], 1), /2 features but 1 labels/);
  assert.throws(() => classCentres([at(0)], [3], 2), /label 3 of feature 0/);
  assert.throws(() => classCentres([new Float32Array(D)], [0], 1), /no direction/);
  assert.throws(() => meanMinAngle([at(0), null]), /2 or more vectors/);
  assert.throws(() => classCentres([at(0), new Float32Array(3)], [0, 0], 1), /3 dimensions/);
});
