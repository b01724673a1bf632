/**
 * Intra-Loss (paper Eq. 5): pull each sample towards its class centre by the angle itself,
 * (1 / (pi N)) * sum_i theta_{y_i}. The paper adds it to Norm-Softmax (L5 = L2 + this) or to
 * ArcFace (Table 2, "ArcFace+Intra"); see CombinedObjective.
 */
import { tf } from './tf.js';
import { oneHotRows, pickTargets, safeAcos } from './math.js';
import { checkLabels, checkNonEmpty, checkRank2 } from './validate.js';

export function intraLoss(cos: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const [n, c] = checkRank2(cos, 'intraLoss cos');
  checkNonEmpty(n, 'intraLoss');
  checkLabels(labels, n, c, 'intraLoss');
  return tf.tidy(() => tf.div(tf.mean(safeAcos(pickTargets(cos, oneHotRows(labels, c)))), Math.PI));
}
