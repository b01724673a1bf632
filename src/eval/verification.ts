/**
 * The LFW / CFP / AgeDB verification protocol of InsightFace
 * (recognition/arcface_torch/eval/verification.py: calculate_roc, calculate_accuracy,
 * calculate_val, calculate_val_far), on cosine similarities of pairs:
 *
 * - K folds in file order (sklearn KFold without shuffle: the first n % K folds one pair bigger;
 *   K = 1 trains and tests on everything, as InsightFace's LFold does).
 * - Accuracy: on each fold, the threshold with the best accuracy on the other K - 1 folds
 *   (first best in grid order) is applied to the held-out fold; mean and population std.
 * - TAR@FAR ("VAL"): per fold, the threshold is interpolated from the training folds' FAR
 *   curve (scipy interp1d kind='slinear'), then TAR and FAR are measured on the test fold.
 *
 * InsightFace thresholds squared L2 distances of normalised embeddings, d = 2 - 2 cos, with
 * "same" when d < t on the grid t = 0, 0.01, ..., 3.99 (0.001 steps for VAL). `'insightface'`
 * reproduces exactly that on d = 2 - 2 * score; `'exact'` uses every midpoint between distinct
 * scores instead (plus one threshold above and one below them all). Thresholds are reported
 * as cosines: accept when score > threshold.
 */
import { badInput } from '../errors.js';
import { checkScores, equalErrorRate, rocAuc, rocCurve, tarAtFar, type Roc } from './roc.js';

export type ThresholdGrid = 'insightface' | 'exact';

export interface VerificationOptions {
  /** Number of folds, 10 for LFW. */
  folds?: number;
  thresholds?: ThresholdGrid;
  /** Target FARs for TAR@FAR, default [1e-1, 1e-2, 1e-3, 1e-4]. */
  fars?: number[];
}

export interface FoldTarAtFar {
  /** Mean over folds of the test-fold TAR (InsightFace's val_mean). */
  tar: number;
  /** Population std over folds (val_std). */
  std: number;
  /** Mean over folds of the test-fold FAR actually reached (far_mean). */
  far: number;
}

export interface VerificationResult {
  pairs: number;
  folds: number;
  grid: ThresholdGrid;
  /** Mean test-fold accuracy and its population std (np.std). */
  accuracy: number;
  std: number;
  foldAccuracies: number[];
  /** Cosine threshold chosen on the training folds of each fold. */
  foldThresholds: number[];
  /** Best threshold and its accuracy on all pairs at once (same grid). */
  bestThreshold: number;
  bestAccuracy: number;
  auc: number;
  eer: number;
  eerThreshold: number;
  /** InsightFace calculate_val per target FAR, keyed "1e-1", "1e-2", ...; NaN when a test fold lacks a class. */
  tarAtFar: Record<string, FoldTarAtFar>;
  /** TAR@FAR on the exact ROC of all pairs (src/eval/roc.ts tarAtFar). */
  rocTarAtFar: Record<string, { tar: number; far: number; threshold: number }>;
  roc: Roc;
}

/** "1e-1", "1e-3", "5e-4": the key of a FAR in result records. */
export function farKey(far: number): string {
  return far.toExponential();
}

/** sklearn KFold(n_splits=k, shuffle=False) test ranges [start, end). */
export function kFoldRanges(n: number, k: number): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  for (let f = 0; f < k; f++) {
    const size = Math.floor(n / k) + (f < n % k ? 1 : 0);
    out.push([start, start + size]);
    start += size;
  }
  return out;
}

/** numpy arange(0, stop, step) for positive step: values i * step, ceil(stop / step) of them. */
function arange(stop: number, step: number): Float64Array {
  const n = Math.ceil(stop / step);
  return Float64Array.from({ length: n }, (_, i) => i * step);
}

/** Distances (accept when key < t), the ascending threshold grids, and the map back to cosine. */
interface Space {
  keys: Float64Array;
  accGrid: Float64Array;
  valGrid: Float64Array;
  /** Threshold used when no training threshold reaches the target FAR (InsightFace: 0.0). */
  noAccept: number;
  toCosine: (t: number) => number;
}

function space(scores: ArrayLike<number>, grid: ThresholdGrid): Space {
  const n = scores.length;
  if (grid === 'insightface') {
    const keys = Float64Array.from({ length: n }, (_, i) => 2 - 2 * scores[i]);
    return {
      keys,
      accGrid: arange(4, 0.01),
      valGrid: arange(4, 0.001),
      noAccept: 0,
      toCosine: (t) => 1 - t / 2,
    };
  }
  const keys = Float64Array.from({ length: n }, (_, i) => -scores[i]);
  const u = Float64Array.from(new Set(keys)).sort();
  const t = new Float64Array(u.length + 1);
  t[0] = u[0] - 1;
  for (let i = 1; i < u.length; i++) t[i] = (u[i - 1] + u[i]) / 2;
  t[u.length] = u[u.length - 1] + 1;
  return { keys, accGrid: t, valGrid: t, noAccept: -Infinity, toCosine: (x) => -x };
}

/**
 * For each threshold of an ascending grid, how many genuine (tp) and impostor (fp) pairs of a
 * subset (the pairs `keep` accepts: the training folds) have key < threshold, in one sweep over
 * `order`, all pairs sorted by key ascending.
 */
function acceptCounts(
  sp: Space,
  grid: Float64Array,
  order: Uint32Array,
  same: ArrayLike<boolean>,
  keep: (i: number) => boolean,
): { tp: Int32Array; fp: Int32Array; positives: number; negatives: number } {
  const tp = new Int32Array(grid.length);
  const fp = new Int32Array(grid.length);
  let positives = 0;
  let negatives = 0;
  for (const i of order) {
    if (!keep(i)) continue;
    if (same[i]) positives++;
    else negatives++;
  }
  let j = 0;
  let a = 0;
  let b = 0;
  for (let g = 0; g < grid.length; g++) {
    const t = grid[g];
    for (; j < order.length && sp.keys[order[j]] < t; j++) {
      const i = order[j];
      if (!keep(i)) continue;
      if (same[i]) a++;
      else b++;
    }
    tp[g] = a;
    fp[g] = b;
  }
  return { tp, fp, positives, negatives };
}

/** Index of the first threshold with the most correct decisions (np.argmax). */
function bestIndex(c: { tp: Int32Array; fp: Int32Array; negatives: number }): number {
  let best = 0;
  let bestCorrect = -1;
  for (let g = 0; g < c.tp.length; g++) {
    const correct = c.tp[g] + c.negatives - c.fp[g];
    if (correct > bestCorrect) {
      bestCorrect = correct;
      best = g;
    }
  }
  return best;
}

/** Genuine/impostor pairs in [from, to) (a test fold) with key < t. */
function countBelow(sp: Space, same: ArrayLike<boolean>, t: number, from: number, to: number) {
  let tp = 0;
  let fp = 0;
  let positives = 0;
  for (let i = from; i < to; i++) {
    if (same[i]) positives++;
    if (sp.keys[i] >= t) continue;
    if (same[i]) tp++;
    else fp++;
  }
  return { tp, fp, positives, negatives: to - from - positives };
}

/**
 * scipy interp1d(x, y, kind='slinear')(xv) for non-decreasing x with repeats, as scipy evaluates
 * it: a degree-1 B-spline with knots [x0, x..., xlast] by de Boor, on the interval whose left
 * knot is the last x <= xv (so a run of equal x yields the y of its last member).
 */
export function slinearAt(x: ArrayLike<number>, y: ArrayLike<number>, xv: number): number {
  const n = x.length;
  let j = 0;
  while (j + 1 < n && x[j + 1] <= xv) j++;
  if (j === n - 1) j = n - 2;
  const xa = x[j];
  const xb = x[j + 1];
  if (xa === xb) return 0; // scipy's de Boor zeroes a zero-length interval
  const w = 1 / (xb - xa);
  return 0 + y[j] * (w * (xb - xv)) + y[j + 1] * (w * (xv - xa));
}

function meanStd(v: number[]): { mean: number; std: number } {
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
  return { mean, std };
}

export function evaluateVerification(
  scores: ArrayLike<number>,
  same: ArrayLike<boolean>,
  opts: VerificationOptions = {},
): VerificationResult {
  const n = scores.length;
  checkScores(scores, same);
  const k = opts.folds ?? 10;
  if (!Number.isInteger(k) || k < 1 || k > n)
    throw badInput(`folds: ${k} must be an integer from 1 to the number of pairs (${n})`);
  const grid = opts.thresholds ?? 'insightface';
  if (grid !== 'insightface' && grid !== 'exact')
    throw badInput(`thresholds: '${grid}' is not 'insightface' or 'exact'`);
  const fars = opts.fars ?? [1e-1, 1e-2, 1e-3, 1e-4];
  for (const f of fars) if (!(f > 0 && f <= 1)) throw badInput(`fars: ${f} is not in (0, 1]`);

  const sp = space(scores, grid);
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => sp.keys[a] - sp.keys[b] || a - b);
  const ranges = k === 1 ? [[0, n] as [number, number]] : kFoldRanges(n, k);
  // LFold(n_splits=1) trains on the test set itself.
  const trainOf = ([a, b]: [number, number]) => (k === 1 ? () => true : (i: number) => i < a || i >= b);

  const foldAccuracies: number[] = [];
  const foldThresholds: number[] = [];
  for (const r of ranges) {
    const t = sp.accGrid[bestIndex(acceptCounts(sp, sp.accGrid, order, same, trainOf(r)))];
    const c = countBelow(sp, same, t, r[0], r[1]);
    foldAccuracies.push((c.tp + c.negatives - c.fp) / (r[1] - r[0]));
    foldThresholds.push(sp.toCosine(t));
  }
  const acc = meanStd(foldAccuracies);

  const tarAtFarFolds: Record<string, FoldTarAtFar> = {};
  const trainCounts = ranges.map((r) => acceptCounts(sp, sp.valGrid, order, same, trainOf(r)));
  for (const target of fars) {
    const vals: number[] = [];
    const farsReached: number[] = [];
    ranges.forEach((r, f) => {
      const c = trainCounts[f];
      const farTrain = Float64Array.from(c.fp, (v) => v / c.negatives);
      let t = sp.noAccept;
      if (farTrain.reduce((m, v) => Math.max(m, v), -Infinity) >= target)
        t = slinearAt(farTrain, sp.valGrid, target);
      const test = countBelow(sp, same, t, r[0], r[1]);
      // Python raises ZeroDivisionError on a test fold without one class; we report NaN.
      vals.push(test.positives ? test.tp / test.positives : NaN);
      farsReached.push(test.negatives ? test.fp / test.negatives : NaN);
    });
    const v = meanStd(vals);
    tarAtFarFolds[farKey(target)] = { tar: v.mean, std: v.std, far: meanStd(farsReached).mean };
  }

  const all = acceptCounts(sp, sp.accGrid, order, same, () => true);
  const best = bestIndex(all);
  const roc = rocCurve(scores, same);
  const eer = equalErrorRate(roc);
  const rocTarAtFar: VerificationResult['rocTarAtFar'] = {};
  for (const f of fars) rocTarAtFar[farKey(f)] = tarAtFar(roc, f);
  return {
    pairs: n,
    folds: k,
    grid,
    accuracy: acc.mean,
    std: acc.std,
    foldAccuracies,
    foldThresholds,
    bestThreshold: sp.toCosine(sp.accGrid[best]),
    bestAccuracy: (all.tp[best] + all.negatives - all.fp[best]) / n,
    auc: rocAuc(roc),
    eer: eer.eer,
    eerThreshold: eer.threshold,
    tarAtFar: tarAtFarFolds,
    rocTarAtFar,
    roc,
  };
}
