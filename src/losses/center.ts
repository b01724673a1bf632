/**
 * Center loss (Wen et al., ECCV 2016): L_C = 1/2 * mean_i ||x_i - c_{y_i}||^2 on raw
 * (unnormalised) features; the mean over the batch is the Caffe layer's normalisation.
 * Centres are not learned by gradient but by Wen's rule (Eq. 4):
 * c_j <- c_j - alpha * sum_{i: y_i = j} (c_j - x_i) / (1 + n_j).
 */
import { tf } from './tf.js';
import { oneHotRows } from './math.js';
import { badShape } from '../errors.js';
import { checkCount, checkLabels, checkNonEmpty, checkRange, checkRank2 } from './validate.js';

export function centerLoss(features: tf.Tensor2D, labels: tf.Tensor1D, centers: tf.Tensor2D): tf.Scalar {
  const [n, d] = checkRank2(features, 'centerLoss features');
  const [c, dc] = checkRank2(centers, 'centerLoss centers');
  if (d !== dc) throw badShape(`centerLoss: features have ${d} columns, centres ${dc}`);
  checkNonEmpty(n, 'centerLoss');
  checkLabels(labels, n, c, 'centerLoss');
  return tf.tidy(() => {
    // No gradient to the centres is intended (see CenterLoss.update), so gather is fine here.
    const own = tf.gather(centers, tf.cast(labels, 'int32'));
    return tf.div(tf.mean(tf.sum(tf.square(tf.sub(features, own)), 1)), 2) as tf.Scalar;
  });
}

export class CenterLoss {
  /** C x d, not trainable: updated by update(). */
  readonly centers: tf.Variable;
  readonly alpha: number;

  constructor(opts: {
    numClasses: number;
    featureSize: number;
    alpha?: number;
    initialCenters?: tf.Tensor2D;
  }) {
    checkCount(opts.numClasses, 'CenterLoss: numClasses');
    checkCount(opts.featureSize, 'CenterLoss: featureSize');
    this.alpha = opts.alpha ?? 0.5;
    checkRange(this.alpha, 0, 1.000001, 'CenterLoss: alpha');
    const init = opts.initialCenters
      ? opts.initialCenters.clone()
      : tf.zeros([opts.numClasses, opts.featureSize]);
    this.centers = tf.variable(init, false);
  }

  loss(features: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
    return centerLoss(features, labels, this.centers as tf.Tensor2D);
  }

  /** One step of Wen's centre update with this batch. */
  update(features: tf.Tensor2D, labels: tf.Tensor1D): void {
    const [n, d] = checkRank2(features, 'CenterLoss.update features');
    const [c, dc] = this.centers.shape;
    if (d !== dc) throw badShape(`CenterLoss.update: features have ${d} columns, centres ${dc}`);
    checkNonEmpty(n, 'CenterLoss.update');
    checkLabels(labels, n, c, 'CenterLoss.update');
    tf.tidy(() => {
      const hot = oneHotRows(labels, c);
      const count = tf.expandDims(tf.sum(hot, 0), 1);
      const sumX = tf.matMul(hot, features, true, false);
      const delta = tf.div(tf.sub(tf.mul(count, this.centers), sumX), tf.add(count, 1));
      this.centers.assign(tf.sub(this.centers, tf.mul(delta, this.alpha)));
    });
  }

  dispose(): void {
    this.centers.dispose();
  }
}
