/**
 * Angular triplet loss (paper Eq. 7) on normalised embeddings:
 * mean over mined triplets of [acos(x_a . x_p) + m - acos(x_a . x_n)]_+.
 *
 * Mining runs on the batch's angles without gradient, then the loss is differentiated through
 * the chosen pairs only.
 * - 'batch-hard': per anchor, its farthest positive and nearest negative (anchors lacking
 *   either are skipped).
 * - 'semi-hard' (FaceNet): per anchor-positive pair, the nearest negative farther than the
 *   positive (inside the margin band if one is); if every negative is nearer than the
 *   positive, the farthest of them.
 * Ties pick the lower index. A batch with no valid triplet gives 0 with zero gradient.
 */
import { tf } from './tf.js';
import { l2Normalize, oneHotRows, safeAcos } from './math.js';
import { badConfig, checkLabels, checkNonEmpty, checkRank2 } from './validate.js';

export type TripletMining = 'batch-hard' | 'semi-hard';

export interface TripletOptions {
  /** Angular margin in radians (default 0.35). */
  margin?: number;
  mining?: TripletMining;
}

/** Triplets as index arrays (anchor, positive, negative), from an N x N angle matrix. */
export function mineTriplets(
  angles: ArrayLike<number>,
  labels: Int32Array,
  mining: TripletMining,
): [number[], number[], number[]] {
  const n = labels.length;
  const a: number[] = [];
  const p: number[] = [];
  const q: number[] = [];
  const at = (i: number, j: number): number => angles[i * n + j];
  for (let i = 0; i < n; i++) {
    const pos: number[] = [];
    const neg: number[] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      (labels[j] === labels[i] ? pos : neg).push(j);
    }
    if (pos.length === 0 || neg.length === 0) continue;
    if (mining === 'batch-hard') {
      const hp = pos.reduce((b, j) => (at(i, j) > at(i, b) ? j : b));
      const hn = neg.reduce((b, j) => (at(i, j) < at(i, b) ? j : b));
      a.push(i);
      p.push(hp);
      q.push(hn);
      continue;
    }
    for (const j of pos) {
      const dap = at(i, j);
      let pick = -1;
      for (const k of neg) if (at(i, k) > dap && (pick < 0 || at(i, k) < at(i, pick))) pick = k;
      if (pick < 0) pick = neg.reduce((b, k) => (at(i, k) > at(i, b) ? k : b));
      a.push(i);
      p.push(j);
      q.push(pick);
    }
  }
  return [a, p, q];
}

export function tripletLoss(
  embeddings: tf.Tensor2D,
  labels: tf.Tensor1D,
  opts: TripletOptions = {},
): tf.Scalar {
  const margin = opts.margin ?? 0.35;
  const mining = opts.mining ?? 'batch-hard';
  if (!Number.isFinite(margin) || margin < 0)
    throw badConfig(`tripletLoss: margin must be >= 0, got ${margin}`);
  if (mining !== 'batch-hard' && mining !== 'semi-hard')
    throw badConfig(`tripletLoss: unknown mining "${mining}"`);
  const [n] = checkRank2(embeddings, 'tripletLoss embeddings');
  checkNonEmpty(n, 'tripletLoss');
  const ys = checkLabels(labels, n, undefined, 'tripletLoss');
  return tf.tidy(() => {
    const x = l2Normalize(embeddings);
    const cos = tf.matMul(x, x, false, true).dataSync();
    const angles = Float64Array.from(cos, (c) => Math.acos(Math.min(1, Math.max(-1, c))));
    const [a, p, q] = mineTriplets(angles, ys, mining);
    if (a.length === 0) return tf.mul(tf.sum(x), 0) as tf.Scalar;
    // Rows picked by one-hot matmuls: gather's gradient needs a kernel wasm lacks.
    const rows = (idx: number[]): tf.Tensor2D => tf.matMul(oneHotRows(tf.tensor1d(idx, 'int32'), n), x);
    const xa = rows(a);
    const thetaAP = safeAcos(tf.sum(tf.mul(xa, rows(p)), 1));
    const thetaAN = safeAcos(tf.sum(tf.mul(xa, rows(q)), 1));
    return tf.mean(tf.relu(tf.sub(tf.add(thetaAP, margin), thetaAN)));
  });
}
