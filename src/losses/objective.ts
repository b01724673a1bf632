/**
 * ArcFace plus one of the paper's metric terms (Table 2: ArcFace+Intra, ArcFace+Inter,
 * ArcFace+Triplet): loss = CE(margin logits) + sum of weight * term, each weight default 1.
 */
import { tf } from './tf.js';
import type { HeadOutput } from './head.js';
import type { MarginLoss } from './margin.js';
import { intraLoss } from './intra.js';
import { interLoss } from './inter.js';
import { tripletLoss, type TripletOptions } from './triplet.js';

export interface ObjectiveTerms {
  intra?: number;
  inter?: number;
  triplet?: TripletOptions & { weight?: number };
}

export interface ObjectiveOutput extends HeadOutput {
  /** Unweighted parts: ce and each configured term. The caller disposes them. */
  parts: Record<string, tf.Scalar>;
}

/** What the objective needs of its head: MarginHead, SoftmaxHead or SubCenterArcFaceHead. */
export interface ObjectiveHead {
  readonly weight: tf.Variable;
  readonly loss?: MarginLoss;
  namedWeights?(): Map<string, tf.Variable>;
  forward(embeddings: tf.Tensor2D, labels: tf.Tensor1D): HeadOutput;
  dispose(): void;
}

export class CombinedObjective {
  constructor(
    readonly head: ObjectiveHead,
    readonly terms: ObjectiveTerms,
  ) {}

  /** The head's class centres and loss, so the objective trains wherever a head does. */
  get weight(): tf.Variable {
    return this.head.weight;
  }

  get loss(): MarginLoss | undefined {
    return this.head.loss;
  }

  namedWeights(): Map<string, tf.Variable> {
    return this.head.namedWeights?.() ?? new Map([['weight', this.head.weight]]);
  }

  dispose(): void {
    this.head.dispose();
  }

  forward(embeddings: tf.Tensor2D, labels: tf.Tensor1D): ObjectiveOutput {
    const base = this.head.forward(embeddings, labels);
    const parts: Record<string, tf.Scalar> = { ce: base.loss };
    const weighted: tf.Scalar[] = [];
    const { intra, inter, triplet } = this.terms;
    if (intra !== undefined) {
      parts.intra = intraLoss(base.cos, labels);
      weighted.push(tf.mul(parts.intra, intra));
    }
    if (inter !== undefined) {
      parts.inter = interLoss(this.head.weight as tf.Tensor2D, labels);
      weighted.push(tf.mul(parts.inter, inter));
    }
    if (triplet !== undefined) {
      parts.triplet = tripletLoss(embeddings, labels, triplet);
      weighted.push(tf.mul(parts.triplet, triplet.weight ?? 1));
    }
    const loss = tf.addN([base.loss, ...weighted]) as tf.Scalar;
    tf.dispose(weighted);
    return { loss, logits: base.logits, cos: base.cos, parts };
  }

  gradients(
    embeddings: tf.Tensor2D,
    labels: tf.Tensor1D,
  ): { loss: number; dEmbeddings: tf.Tensor2D; dWeight: tf.Tensor2D } {
    const { value, grads } = tf.valueAndGrads(
      (e: tf.Tensor, _w: tf.Tensor) => this.forward(e as tf.Tensor2D, labels).loss,
    )([embeddings, this.head.weight]);
    const loss = value.dataSync()[0];
    value.dispose();
    return { loss, dEmbeddings: grads[0] as tf.Tensor2D, dWeight: grads[1] as tf.Tensor2D };
  }
}
