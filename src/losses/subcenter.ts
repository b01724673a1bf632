/**
 * Sub-center ArcFace (Deng et al., ECCV 2020): K centres per class, cos(theta_j) = max over
 * the class's K sub-centres, then the ArcFace margin. Noisy faces gather on non-dominant
 * sub-centres, so after training the dominant sub-centre (the one most of a class's samples
 * are nearest to) and the angle to it are what data cleaning needs.
 *
 * Weight layout: row j*K + k is sub-centre k of class j (InsightFace's MXNet layout).
 */
import { tf } from './tf.js';
import type { MarginLoss } from './margin.js';
import { arcFace } from './arcface.js';
import { l2Normalize, oneHotRows } from './math.js';
import { softmaxCrossEntropy } from './cross_entropy.js';
import { checkEmbeddings, headGradients, makeWeight, type HeadGradients, type HeadOutput } from './head.js';
import { checkCount, checkLabels } from './validate.js';

export interface SubCenterOptions {
  numClasses: number;
  embeddingSize: number;
  /** Sub-centres per class (paper default 3). */
  k?: number;
  /** Margin applied after the max (default arcFace()). */
  loss?: MarginLoss;
  seed?: number;
  initialWeight?: tf.Tensor2D;
}

export class SubCenterArcFaceHead {
  readonly weight: tf.Variable;
  readonly loss: MarginLoss;
  readonly numClasses: number;
  readonly embeddingSize: number;
  readonly k: number;
  /** counts[j*K + k]: training samples of class j whose nearest own sub-centre was k. */
  private readonly counts: Float64Array;

  constructor(opts: SubCenterOptions) {
    checkCount(opts.numClasses, 'SubCenterArcFaceHead: numClasses');
    checkCount(opts.embeddingSize, 'SubCenterArcFaceHead: embeddingSize');
    this.k = opts.k ?? 3;
    checkCount(this.k, 'SubCenterArcFaceHead: k');
    this.numClasses = opts.numClasses;
    this.embeddingSize = opts.embeddingSize;
    this.loss = opts.loss ?? arcFace();
    this.weight = makeWeight(
      opts.numClasses * this.k,
      opts.embeddingSize,
      opts.seed,
      opts.initialWeight,
      'SubCenterArcFaceHead',
    );
    this.counts = new Float64Array(opts.numClasses * this.k);
  }

  /** N x C x K cosines to every sub-centre, clamped to [-1, 1]. */
  subCosine(embeddings: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const all = tf.matMul(l2Normalize(embeddings), l2Normalize(this.weight as tf.Tensor2D), false, true);
      return tf.reshape(tf.clipByValue(all, -1, 1), [embeddings.shape[0], this.numClasses, this.k]);
    });
  }

  /** Class cosines: max over each class's sub-centres. */
  cosine(embeddings: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.max(this.subCosine(embeddings), 2) as tf.Tensor2D);
  }

  forward(embeddings: tf.Tensor2D, labels: tf.Tensor1D): HeadOutput {
    const n = checkEmbeddings(embeddings, this.embeddingSize, 'SubCenterArcFaceHead.forward');
    const ys = checkLabels(labels, n, this.numClasses, 'SubCenterArcFaceHead.forward');
    const { out, nearest } = tf.tidy(() => {
      const sub = this.subCosine(embeddings);
      const cos = tf.max(sub, 2) as tf.Tensor2D;
      const logits = this.loss.logits(cos, labels);
      const own = tf.sum(tf.mul(sub, tf.expandDims(oneHotRows(labels, this.numClasses), 2)), 1);
      return { out: { loss: softmaxCrossEntropy(logits, labels), logits, cos }, nearest: tf.argMax(own, 1) };
    });
    const idx = nearest.dataSync();
    nearest.dispose();
    for (let i = 0; i < n; i++) this.counts[ys[i] * this.k + idx[i]] += 1;
    this.loss.step?.();
    return out;
  }

  gradients(embeddings: tf.Tensor2D, labels: tf.Tensor1D): HeadGradients {
    return headGradients(this, embeddings, labels);
  }

  /**
   * Per class, the sub-centre most of its samples seen by forward() were nearest to; -1 for a
   * class never seen. Ties go to the lower index.
   */
  dominantCenters(): Int32Array {
    const out = new Int32Array(this.numClasses).fill(-1);
    for (let j = 0; j < this.numClasses; j++) {
      let best = 0;
      for (let k = 0; k < this.k; k++) {
        const c = this.counts[j * this.k + k];
        if (c > best) {
          best = c;
          out[j] = k;
        }
      }
    }
    return out;
  }

  resetCounts(): void {
    this.counts.fill(0);
  }

  /** For each sample, the index (0..K-1) of its own class's nearest sub-centre. */
  nearestSubCenters(embeddings: tf.Tensor2D, labels: tf.Tensor1D): Int32Array {
    const n = checkEmbeddings(embeddings, this.embeddingSize, 'SubCenterArcFaceHead.nearestSubCenters');
    checkLabels(labels, n, this.numClasses, 'SubCenterArcFaceHead.nearestSubCenters');
    const t = tf.tidy(() => {
      const own = tf.sum(
        tf.mul(this.subCosine(embeddings), tf.expandDims(oneHotRows(labels, this.numClasses), 2)),
        1,
      );
      return tf.argMax(own, 1);
    });
    const out = Int32Array.from(t.dataSync());
    t.dispose();
    return out;
  }

  /**
   * Angle (radians) of each sample to its class's dominant sub-centre, for the paper's
   * cleaning step (drop samples beyond ~75 degrees). NaN for a class with no dominant centre.
   */
  anglesToDominant(embeddings: tf.Tensor2D, labels: tf.Tensor1D): Float64Array {
    const n = checkEmbeddings(embeddings, this.embeddingSize, 'SubCenterArcFaceHead.anglesToDominant');
    const ys = checkLabels(labels, n, this.numClasses, 'SubCenterArcFaceHead.anglesToDominant');
    const dom = this.dominantCenters();
    const sub = this.subCosine(embeddings);
    const v = sub.dataSync();
    sub.dispose();
    const out = new Float64Array(n);
    const stride = this.numClasses * this.k;
    for (let i = 0; i < n; i++) {
      const k = dom[ys[i]];
      out[i] = k < 0 ? NaN : Math.acos(Math.min(1, Math.max(-1, v[i * stride + ys[i] * this.k + k])));
    }
    return out;
  }

  dispose(): void {
    this.weight.dispose();
  }
}
