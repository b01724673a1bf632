/**
 * A trainable margin head (InsightFace's FC7 + margin): normalise embeddings and class
 * centres, cos = x W^T clamped to [-1, 1] (as arcface_torch's PartialFC), margin, scale,
 * softmax cross-entropy.
 */
import { tf } from './tf.js';
import type { MarginLoss } from './margin.js';
import { l2Normalize } from './math.js';
import { softmaxCrossEntropy } from './cross_entropy.js';
import { badShape } from '../errors.js';
import { checkCount, checkFinite, checkLabels, checkNonEmpty, checkRank2 } from './validate.js';

export interface HeadOutput {
  loss: tf.Scalar;
  logits: tf.Tensor2D;
  cos: tf.Tensor2D;
}

export interface HeadGradients {
  loss: number;
  dEmbeddings: tf.Tensor2D;
  dWeight: tf.Tensor2D;
}

export interface MarginHeadOptions {
  numClasses: number;
  embeddingSize: number;
  loss: MarginLoss;
  seed?: number;
  /** Initial class centres (C x d, any norm); copied. Default N(0, 0.01) as arcface_torch. */
  initialWeight?: tf.Tensor2D;
}

/** Checks a batch of embeddings: 2-D, N > 0, d columns, finite. Returns N. */
export function checkEmbeddings(embeddings: tf.Tensor2D, d: number, what: string): number {
  const [n, cols] = checkRank2(embeddings, `${what} embeddings`);
  checkNonEmpty(n, what);
  if (cols !== d) throw badShape(`${what}: embeddings have ${cols} columns, the head expects ${d}`);
  checkFinite(embeddings, `${what} embeddings`);
  return n;
}

export function makeWeight(
  rows: number,
  d: number,
  seed: number | undefined,
  init: tf.Tensor2D | undefined,
  what: string,
): tf.Variable {
  if (init) {
    const [r, c] = checkRank2(init, `${what} initialWeight`);
    if (r !== rows || c !== d)
      throw badShape(`${what}: initialWeight is [${r}, ${c}], expected [${rows}, ${d}]`);
    return tf.variable(init.clone(), true);
  }
  return tf.variable(tf.randomNormal([rows, d], 0, 0.01, 'float32', seed), true);
}

export class MarginHead {
  readonly weight: tf.Variable;
  readonly loss: MarginLoss;
  readonly numClasses: number;
  readonly embeddingSize: number;

  constructor(opts: MarginHeadOptions) {
    checkCount(opts.numClasses, 'MarginHead: numClasses');
    checkCount(opts.embeddingSize, 'MarginHead: embeddingSize');
    this.numClasses = opts.numClasses;
    this.embeddingSize = opts.embeddingSize;
    this.loss = opts.loss;
    this.weight = makeWeight(
      opts.numClasses,
      opts.embeddingSize,
      opts.seed,
      opts.initialWeight,
      'MarginHead',
    );
  }

  /** cos(theta) between the normalised embeddings and class centres, clamped to [-1, 1]. */
  cosine(embeddings: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const x = l2Normalize(embeddings);
      const w = l2Normalize(this.weight as tf.Tensor2D);
      return tf.clipByValue(tf.matMul(x, w, false, true), -1, 1) as tf.Tensor2D;
    });
  }

  /** Embeddings are normalised inside. The caller disposes the three tensors. */
  forward(embeddings: tf.Tensor2D, labels: tf.Tensor1D): HeadOutput {
    const n = checkEmbeddings(embeddings, this.embeddingSize, 'MarginHead.forward');
    checkLabels(labels, n, this.numClasses, 'MarginHead.forward');
    const out = tf.tidy(() => {
      const cos = this.cosine(embeddings);
      const logits = this.loss.logits(cos, labels);
      return { loss: softmaxCrossEntropy(logits, labels), logits, cos };
    });
    this.loss.step?.();
    return out;
  }

  /** Loss value and its gradients w.r.t. the raw embeddings and the raw weight. */
  gradients(embeddings: tf.Tensor2D, labels: tf.Tensor1D): HeadGradients {
    return headGradients(this, embeddings, labels);
  }

  dispose(): void {
    this.weight.dispose();
  }
}

/** Shared by every head: d loss / d embeddings and d loss / d weight in one backward pass. */
export function headGradients(
  head: { weight: tf.Variable; forward(e: tf.Tensor2D, l: tf.Tensor1D): HeadOutput },
  embeddings: tf.Tensor2D,
  labels: tf.Tensor1D,
): HeadGradients {
  const { value, grads } = tf.valueAndGrads(
    (e: tf.Tensor, _w: tf.Tensor) => head.forward(e as tf.Tensor2D, labels).loss,
  )([embeddings, head.weight]);
  const loss = value.dataSync()[0];
  value.dispose();
  return { loss, dEmbeddings: grads[0] as tf.Tensor2D, dWeight: grads[1] as tf.Tensor2D };
}
