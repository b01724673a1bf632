/**
 * What the trainer needs from a backbone and a data loader: small interfaces that
 * src/backbones (Backbone) and src/data (the loader) satisfy, so the trainer's mechanics are
 * tested with a tiny model and in-memory batches.
 */
import type { tf } from '../runtime/backend.js';
import type { HeadOutput, MarginLoss } from '../losses/index.js';

export interface TrainableModel {
  /** Variables the optimizer updates. */
  trainable: tf.Variable[];
  /**
   * Every variable of the model by a stable name: the checkpoint's keys. Includes state that is
   * not trained by SGD (BN running statistics), which checkpoints carry too.
   */
  namedWeights(): Map<string, tf.Variable>;
  /**
   * NHWC images -> [N, embeddingSize]. `seed` (training only) seeds anything random in the
   * forward pass (dropout), drawn by the trainer from its checkpointed stream so a resumed run
   * repeats it. A model without randomness ignores it.
   */
  apply(x: tf.Tensor4D, training: boolean, seed?: number): tf.Tensor2D;
}

/**
 * A classification head the trainer optimises with the backbone: MarginHead, SoftmaxHead,
 * SubCenterArcFaceHead, or a CombinedObjective around one.
 */
export interface TrainableHead {
  /** Class centres (checkpoint key "weight"). */
  readonly weight: tf.Variable;
  /** The margin loss, when the head has one (SphereFace's annealing step is checkpointed). */
  readonly loss?: MarginLoss;
  /** Every trainable variable by checkpoint key; absent: just {weight}. */
  namedWeights?(): Map<string, tf.Variable>;
  forward(embeddings: tf.Tensor2D, labels: tf.Tensor1D): HeadOutput;
}

/** The head's variables by checkpoint key. */
export function headWeights(head: TrainableHead): Map<string, tf.Variable> {
  return head.namedWeights?.() ?? new Map([['weight', head.weight]]);
}

export interface Batch {
  /** N x H x W x C, normalised, row-major NHWC. */
  images: Float32Array;
  labels: Int32Array;
}

export interface BatchSource {
  /** Batches one epoch yields (the trainer counts epochs and steps with it). */
  readonly batchesPerEpoch: number;
  /** [H, W, C] of every image. */
  readonly imageShape: readonly [number, number, number];
  /**
   * The batches of epoch `e` in an order that depends only on (seed, e), starting at batch
   * `fromBatch` (a resumed run): exact resume needs the same batches in the same order.
   */
  epoch(e: number, opts?: { fromBatch?: number }): AsyncIterable<Batch>;
}
