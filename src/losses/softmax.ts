/**
 * Plain Softmax (paper Eq. 1): a fully connected layer with bias on unnormalised embeddings.
 * `softmaxCurve()` is its target logit for the curves (the identity, cos theta); it is not a
 * way to train Softmax, which needs the bias and the norms: use SoftmaxHead.
 */
import { tf } from './tf.js';
import { makeMarginLoss, type MarginLoss } from './margin.js';
import { l2Normalize } from './math.js';
import { softmaxCrossEntropy } from './cross_entropy.js';
import { checkEmbeddings, makeWeight, type HeadGradients, type HeadOutput } from './head.js';
import { checkCount, checkLabels } from './validate.js';

export function softmaxCurve(opts: { s?: number } = {}): MarginLoss {
  return makeMarginLoss('softmax', opts.s ?? 1, (c) => tf.clone(c));
}

export class SoftmaxHead {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly numClasses: number;
  readonly embeddingSize: number;

  constructor(opts: {
    numClasses: number;
    embeddingSize: number;
    seed?: number;
    initialWeight?: tf.Tensor2D;
  }) {
    checkCount(opts.numClasses, 'SoftmaxHead: numClasses');
    checkCount(opts.embeddingSize, 'SoftmaxHead: embeddingSize');
    this.numClasses = opts.numClasses;
    this.embeddingSize = opts.embeddingSize;
    this.weight = makeWeight(
      opts.numClasses,
      opts.embeddingSize,
      opts.seed,
      opts.initialWeight,
      'SoftmaxHead',
    );
    this.bias = tf.variable(tf.zeros([opts.numClasses]), true);
  }

  /** Trainable variables by checkpoint key. */
  namedWeights(): Map<string, tf.Variable> {
    return new Map([
      ['weight', this.weight],
      ['bias', this.bias],
    ]);
  }

  /** logits = x W^T + b on raw embeddings; `cos` is the angle-only view, for monitoring. */
  forward(embeddings: tf.Tensor2D, labels: tf.Tensor1D): HeadOutput {
    const n = checkEmbeddings(embeddings, this.embeddingSize, 'SoftmaxHead.forward');
    checkLabels(labels, n, this.numClasses, 'SoftmaxHead.forward');
    return tf.tidy(() => {
      const logits = tf.add(
        tf.matMul(embeddings, this.weight as tf.Tensor2D, false, true),
        this.bias,
      ) as tf.Tensor2D;
      const cos = tf.clipByValue(
        tf.matMul(l2Normalize(embeddings), l2Normalize(this.weight as tf.Tensor2D), false, true),
        -1,
        1,
      ) as tf.Tensor2D;
      return { loss: softmaxCrossEntropy(logits, labels), logits, cos };
    });
  }

  gradients(embeddings: tf.Tensor2D, labels: tf.Tensor1D): HeadGradients & { dBias: tf.Tensor1D } {
    const { value, grads } = tf.valueAndGrads(
      (e: tf.Tensor, _w: tf.Tensor, _b: tf.Tensor) => this.forward(e as tf.Tensor2D, labels).loss,
    )([embeddings, this.weight, this.bias]);
    const loss = value.dataSync()[0];
    value.dispose();
    return {
      loss,
      dEmbeddings: grads[0] as tf.Tensor2D,
      dWeight: grads[1] as tf.Tensor2D,
      dBias: grads[2] as tf.Tensor1D,
    };
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}
