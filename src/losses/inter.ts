/**
 * Inter-Loss (paper Eq. 6): push class centres apart by angle,
 * -(1 / (pi N (C-1))) * sum_i sum_{j != y_i} acos(W_{y_i} . W_j), on normalised centres.
 * Zero (with zero gradient) when C = 1: there is no other centre.
 */
import { tf } from './tf.js';
import { l2Normalize, oneHotRows, safeAcos } from './math.js';
import { checkLabels, checkNonEmpty, checkRank2 } from './validate.js';

export function interLoss(weight: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const [c] = checkRank2(weight, 'interLoss weight');
  const n = labels.size;
  checkNonEmpty(n, 'interLoss');
  checkLabels(labels, n, c, 'interLoss');
  return tf.tidy(() => {
    const w = l2Normalize(weight);
    if (c === 1) return tf.mul(tf.sum(w), 0) as tf.Scalar;
    const hot = oneHotRows(labels, c);
    // W_{y_i} by a one-hot matmul: gather's gradient needs a kernel wasm lacks.
    const gram = tf.matMul(tf.matMul(hot, w), w, false, true);
    const angles = tf.mul(safeAcos(gram), tf.sub(1, hot));
    return tf.div(tf.sum(angles), -Math.PI * n * (c - 1)) as tf.Scalar;
  });
}
