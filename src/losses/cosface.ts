/** CosFace / AM-Softmax (paper Eq. 4 with m1 = 1, m2 = 0): target logit s * (cos(theta) - m3). */
import { tf } from './tf.js';
import { makeMarginLoss, type MarginLoss } from './margin.js';
import { checkRange } from './validate.js';

export function cosFace(opts: { m3?: number; s?: number } = {}): MarginLoss {
  const m3 = opts.m3 ?? 0.35;
  checkRange(m3, 0, 2, 'cosface: m3');
  const s = opts.s ?? 64;
  return makeMarginLoss('cosface', s, (c) => tf.sub(c, m3), { params: { s, m3 } });
}
