/**
 * Pick a decision threshold for a deployment from labelled pairs. Thresholds are points of the
 * exact ROC (src/eval/roc.ts): a pair is "same" when `score >= threshold`.
 */
import { lastAtFar, rocCurve, type Roc } from './roc.js';

export interface Calibration {
  threshold: number;
  /** Rates measured on the calibration pairs at that threshold. */
  far: number;
  tar: number;
  accuracy: number;
}

function atPoint(roc: Roc, k: number, positives: number, negatives: number): Calibration {
  // From integer counts, so the accuracy is exactly (TP + TN) / n.
  const correct = Math.round(roc.tar[k] * positives) + Math.round((1 - roc.far[k]) * negatives);
  const accuracy = correct / (positives + negatives);
  return { threshold: roc.thresholds[k], far: roc.far[k], tar: roc.tar[k], accuracy };
}

function counts(same: ArrayLike<boolean>): { positives: number; negatives: number } {
  let positives = 0;
  for (let i = 0; i < same.length; i++) if (same[i]) positives++;
  return { positives, negatives: same.length - positives };
}

/**
 * The smallest threshold whose impostor acceptance is at most `far`: the most permissive
 * operating point that still meets the FAR on these pairs. +Infinity (accept nothing) when every
 * finite threshold lets through more impostors than allowed.
 */
export function thresholdForFar(
  scores: ArrayLike<number>,
  same: ArrayLike<boolean>,
  far: number,
): Calibration {
  const roc = rocCurve(scores, same);
  const k = lastAtFar(roc, far);
  const { positives, negatives } = counts(same);
  return atPoint(roc, k, positives, negatives);
}

/**
 * The threshold with the highest accuracy (TP + TN) / n on these pairs; among equally accurate
 * points the strictest (highest) one, as np.argmax over an ascending distance grid does.
 */
export function thresholdForAccuracy(scores: ArrayLike<number>, same: ArrayLike<boolean>): Calibration {
  const roc = rocCurve(scores, same);
  const { positives, negatives } = counts(same);
  let best = 0;
  let bestCorrect = -1;
  for (let k = 0; k < roc.far.length; k++) {
    // Integer counts, so equal accuracies compare equal.
    const correct = Math.round(roc.tar[k] * positives) + Math.round((1 - roc.far[k]) * negatives);
    if (correct > bestCorrect) {
      bestCorrect = correct;
      best = k;
    }
  }
  return atPoint(roc, best, positives, negatives);
}
