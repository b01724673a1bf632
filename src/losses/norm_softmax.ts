/** Norm-Softmax (NormFace, paper Eq. 2): logits s * cos(theta), no margin. */
import { tf } from './tf.js';
import { makeMarginLoss, type MarginLoss } from './margin.js';

export function normSoftmax(opts: { s?: number } = {}): MarginLoss {
  const s = opts.s ?? 64;
  return makeMarginLoss('norm-softmax', s, (c) => tf.clone(c), { params: { s } });
}
