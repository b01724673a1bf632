/** Norm-Softmax (NormFace, paper Eq. 2): logits s * cos(theta), no margin. */
import { tf } from './tf.js';
import { makeMarginLoss, type MarginLoss } from './margin.js';

export function normSoftmax(opts: { s?: number } = {}): MarginLoss {
  return makeMarginLoss('norm-softmax', opts.s ?? 64, (c) => tf.clone(c));
}
