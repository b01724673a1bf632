/**
 * The margin-loss contract (paper section 2): a function of cos(theta) that replaces the
 * target logit and scales by s. Every loss goes through `makeMarginLoss`, so `target()` (the
 * curves of the paper's Fig. 4) and `logits()` (training) run the same code.
 */
import { tf } from './tf.js';
import { checkLabels, checkPositive, checkRank2 } from './validate.js';
import { oneHotRows, pickTargets } from './math.js';

export interface MarginLoss {
  readonly name: string;
  readonly scale: number;
  /** cos theta (N x C, values in [-1,1]) and int32 labels (N) -> scaled logits (N x C), target column replaced. */
  logits(cos: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor2D;
  /** The unscaled target logit f(cos theta) applied elementwise (same code path as logits). */
  target(cos: tf.Tensor): tf.Tensor;
  /** Advances a training schedule (SphereFace's lambda); heads call it once per forward. */
  step?(): void;
  /** Every parameter in effect, defaults filled in (a run's config.json records them). */
  readonly params?: Readonly<Record<string, number | boolean>>;
}

/** f maps the target cosines (any shape) to the target logits; it must not dispose its input. */
export type TargetFn = (cos: tf.Tensor) => tf.Tensor;

export function makeMarginLoss(
  name: string,
  scale: number,
  f: TargetFn,
  extra: Partial<MarginLoss> = {},
): MarginLoss {
  checkPositive(scale, `${name}: scale s`);
  return {
    name,
    scale,
    target: (cos) => tf.tidy(() => f(cos)),
    logits: (cos, labels) => replaceTarget(name, cos, labels, f, scale),
    ...extra,
  };
}

/**
 * s * (cos + onehot * (f(cos_y) - cos_y)): f runs on the N target cosines only (not on all
 * N x C, which at C = 100k would cost more than the matmul), and non-target columns keep
 * gradient exactly s. This is the one-hot update of InsightFace's MXNet train.py.
 */
export function replaceTarget(
  name: string,
  cos: tf.Tensor2D,
  labels: tf.Tensor1D,
  f: TargetFn,
  scale: number,
): tf.Tensor2D {
  const [n, c] = checkRank2(cos, `${name}.logits cos`);
  checkLabels(labels, n, c, `${name}.logits`);
  return tf.tidy(() => {
    const hot = oneHotRows(labels, c);
    const t = pickTargets(cos, hot);
    const delta = tf.expandDims(tf.sub(f(t), t), 1);
    const out = tf.add(cos, tf.mul(hot, delta));
    return (scale === 1 ? out : tf.mul(out, scale)) as tf.Tensor2D;
  });
}
