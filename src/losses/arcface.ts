/**
 * ArcFace (paper Eq. 3): target logit s * cos(theta + m).
 *
 * Paper-exact (default): cos(theta + m) = cos*cos(m) - sin*sin(m), sin = sqrt((1-c)(1+c)),
 * so the margin term carries its full gradient. Once theta + m > pi, cos(theta + m) turns
 * back up and would reward a larger angle; as InsightFace does, the target then becomes
 * cos(theta) - m*sin(m) (threshold th = cos(pi - m), mm = sin(pi - m)*m), a CosFace-like
 * penalty that keeps the target decreasing in theta (with a small downward step at pi - m).
 * `easyMargin`: margin only where cos > 0, plain cos elsewhere (InsightFace's option; the
 * target jumps back up by sin(m) at 90 degrees, so it is not monotone there).
 *
 * `straightThrough`: the current arcface_torch recipe. Values cos(acos(c) + m) with no
 * fallback (not monotone past pi - m), computed without autograd, so the gradient w.r.t. the
 * target cosine is the identity: the loss is differentiated as if it were Norm-Softmax.
 */
import { tf } from './tf.js';
import { makeMarginLoss, type MarginLoss, type TargetFn } from './margin.js';
import { safeAcos, sinFromCos, unaryCustomGrad, whereGreater } from './math.js';
import { badConfig, checkRange } from './validate.js';

export interface ArcFaceOptions {
  m?: number;
  s?: number;
  easyMargin?: boolean;
  straightThrough?: boolean;
}

export function arcFaceTarget(m: number, easyMargin = false): TargetFn {
  const cosM = Math.cos(m);
  const sinM = Math.sin(m);
  const th = Math.cos(Math.PI - m);
  const mm = Math.sin(Math.PI - m) * m;
  return (c) => {
    const shifted = tf.sub(tf.mul(c, cosM), tf.mul(sinFromCos(c), sinM));
    if (easyMargin) return whereGreater(c, 0, shifted, c);
    return whereGreater(c, th, shifted, tf.sub(c, mm));
  };
}

/** Value cos(theta + m), gradient 1 (straight-through estimator). */
export function straightThroughTarget(m: number): TargetFn {
  const st = unaryCustomGrad((c) => ({
    value: tf.cos(tf.add(safeAcos(c), m)),
    gradFunc: (dy) => tf.clone(dy),
  }));
  return (c) => st(c);
}

export function arcFace(opts: ArcFaceOptions = {}): MarginLoss {
  const m = opts.m ?? 0.5;
  checkRange(m, 0, Math.PI, 'arcface: m');
  if (opts.straightThrough && opts.easyMargin)
    throw badConfig('arcface: easyMargin does not apply to straightThrough');
  const f = opts.straightThrough ? straightThroughTarget(m) : arcFaceTarget(m, opts.easyMargin);
  const s = opts.s ?? 64;
  const params = {
    s,
    m,
    easyMargin: opts.easyMargin ?? false,
    straightThrough: opts.straightThrough ?? false,
  };
  return makeMarginLoss('arcface', s, f, { params });
}
