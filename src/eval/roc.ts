/**
 * The exact ROC of a set of similarity scores (cosines: higher = more alike). A pair is accepted
 * when `score >= threshold`; the curve has one point per distinct score, so tied scores move
 * FAR and TAR together (one diagonal step) instead of in an arbitrary order. Same points as
 * sklearn's `roc_curve(same, scores, drop_intermediate=False)`, except that the first threshold
 * (nothing accepted) is +Infinity rather than max + 1.
 */
import { badInput } from '../errors.js';

export interface Roc {
  /** False accept rate (impostor pairs accepted / impostor pairs), ascending from 0 to 1. */
  far: Float64Array;
  /** True accept rate (genuine pairs accepted / genuine pairs), non-decreasing from 0 to 1. */
  tar: Float64Array;
  /** Point k accepts scores >= thresholds[k]; descending, thresholds[0] = +Infinity. */
  thresholds: Float64Array;
}

/** Checks scores and labels the way every protocol here needs them; returns the class counts. */
export function checkScores(
  scores: ArrayLike<number>,
  same: ArrayLike<boolean>,
  what = 'scores',
): { positives: number; negatives: number } {
  if (scores.length !== same.length)
    throw badInput(`${what}: ${scores.length} scores but ${same.length} same/different labels`);
  let positives = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) throw badInput(`${what}[${i}] is ${scores[i]}, not a finite number`);
    if (same[i]) positives++;
  }
  const negatives = scores.length - positives;
  if (positives === 0 || negatives === 0)
    throw badInput(
      `${what}: need at least one same and one different pair (got ${positives} same, ${negatives} different)`,
    );
  return { positives, negatives };
}

/** Indices of the scores, highest score first (ties in input order: the order does not matter). */
export function orderDescending(scores: ArrayLike<number>): Uint32Array {
  const idx = new Uint32Array(scores.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return idx.sort((a, b) => scores[b] - scores[a] || a - b);
}

export function rocCurve(scores: ArrayLike<number>, same: ArrayLike<boolean>): Roc {
  const { positives, negatives } = checkScores(scores, same);
  const order = orderDescending(scores);
  const far = [0];
  const tar = [0];
  const thresholds = [Infinity];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    if (same[i]) tp++;
    else fp++;
    // Emit a point only after the last of a run of equal scores.
    if (k + 1 < order.length && scores[order[k + 1]] === scores[i]) continue;
    far.push(fp / negatives);
    tar.push(tp / positives);
    thresholds.push(scores[i]);
  }
  return {
    far: Float64Array.from(far),
    tar: Float64Array.from(tar),
    thresholds: Float64Array.from(thresholds),
  };
}

/** Area under the ROC by the trapezoid rule (= the Mann-Whitney probability, ties counting 1/2). */
export function rocAuc(roc: Roc): number {
  let area = 0;
  for (let k = 1; k < roc.far.length; k++)
    area += (roc.far[k] - roc.far[k - 1]) * (roc.tar[k] + roc.tar[k - 1]) * 0.5;
  return area;
}

/**
 * Equal error rate: where the piecewise-linear ROC crosses FAR = 1 - TAR (FAR = FRR), the usual
 * `brentq(lambda x: 1 - x - interp1d(far, tar)(x), 0, 1)`. The threshold is that of the first
 * ROC point at or past the crossing (the first operating point where FAR >= FRR).
 */
export function equalErrorRate(roc: Roc): { eer: number; threshold: number } {
  const { far, tar, thresholds } = roc;
  // g = FAR - FRR rises from -1 to +1 along the curve.
  const g = (k: number) => far[k] + tar[k] - 1;
  let k = 0;
  while (k < far.length - 1 && g(k) < 0) k++;
  if (k === 0 || g(k) === 0) return { eer: far[k], threshold: thresholds[k] };
  const t = -g(k - 1) / (g(k) - g(k - 1));
  return { eer: far[k - 1] + t * (far[k] - far[k - 1]), threshold: thresholds[k] };
}

/**
 * TAR at a target FAR: the operating point with the most genuine accepts whose FAR does not
 * exceed the target (no interpolation between points, so the FAR is really met on this data);
 * of several points with that TAR, the one with the lowest FAR (highest threshold).
 * When even the strictest finite threshold exceeds the target, TAR is 0 at threshold +Infinity.
 */
export function tarAtFar(roc: Roc, far: number): { tar: number; far: number; threshold: number } {
  const k = lastAtFar(roc, far);
  let j = k;
  while (j > 0 && roc.tar[j - 1] === roc.tar[k]) j--;
  return { tar: roc.tar[j], far: roc.far[j], threshold: roc.thresholds[j] };
}

/** Index of the last (most permissive) ROC point with FAR <= far. */
export function lastAtFar(roc: Roc, far: number): number {
  if (!(far >= 0 && far <= 1)) throw badInput(`target FAR ${far} is not in [0, 1]`);
  // Binary search: far is non-decreasing along the curve.
  let lo = 0;
  let hi = roc.far.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (roc.far[mid] <= far) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
