/**
 * Combined margin (paper Eq. 4): target logit s * (cos(m1*theta + m2) - m3), the paper's
 * CM1 = (1, 0.3, 0.2) and CM2 = (0.9, 0.4, 0.15). Gradients flow through theta = acos(cos).
 *
 * Monotone over theta in [0, pi]: cos(phi) with phi = m1*theta + m2 is replaced by
 * SphereFace's extension (-1)^k cos(phi) - 2k, phi in [k*pi, (k+1)*pi]. It equals cos(phi)
 * while phi <= pi and keeps decreasing, continuously, beyond. (ArcFace's own fallback,
 * cos - m*sin(m), is used by arcFace(); combinedMargin(1, m, 0) differs from it only where
 * theta + m > pi.) With (m1, 0, 0) this is SphereFace without lambda.
 */
import { tf } from './tf.js';
import { makeMarginLoss, type MarginLoss } from './margin.js';
import { monotoneCosOfAngle } from './math.js';
import { checkPositive, checkRange } from './validate.js';

export interface CombinedMarginOptions {
  m1: number;
  m2: number;
  m3: number;
  s?: number;
  name?: string;
}

export function combinedMargin(opts: CombinedMarginOptions): MarginLoss {
  const { m1, m2, m3 } = opts;
  checkPositive(m1, 'combined: m1');
  checkRange(m2, 0, Math.PI, 'combined: m2');
  checkRange(m3, 0, 2, 'combined: m3');
  const f = (c: tf.Tensor): tf.Tensor => tf.sub(monotoneCosOfAngle(c, m1, m2), m3);
  const s = opts.s ?? 64;
  return makeMarginLoss(opts.name ?? 'combined', s, f, { params: { s, m1, m2, m3 } });
}
