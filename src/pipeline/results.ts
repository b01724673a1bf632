/**
 * What recognition returns, and 1:1 verification's rule, with no Node import: the Node pipeline
 * (recognizer.ts) and the browser build (src/browser/) give the same shapes, verdicts and errors.
 */
import { ArcfaceError, badInput } from '../errors.js';
import { farAt, type FarTable } from '../eval/far.js';
import type { Face } from '../face/types.js';
import { angleDegrees, cosine } from './similarity.js';

export type NoFacePolicy = 'error' | 'center-crop' | 'skip';

export interface EmbedOptions {
  /** Which face when there are several (default 'largest'). */
  keep?: 'largest' | 'center';
  /** The image is already an aligned face crop: skip detection (resized to the model size if needed). */
  aligned?: boolean;
  /** No face found: throw (default), embed a centre crop (InsightFace's eval fallback), or return null. */
  noFace?: NoFacePolicy;
}

export interface FaceEmbedding {
  embedding: Float32Array;
  /** The detected face, absent for aligned inputs and the centre-crop fallback. */
  face?: Face;
  /** How the crop was made. */
  crop: 'aligned' | 'detected' | 'center-crop';
  /** The image's size after EXIF rotation. */
  width: number;
  height: number;
}

/** The numbers of a comparison: the cosine, what it means, and the verdict at `threshold`. */
export interface Verdict {
  similarity: number;
  /** The false-accept rate of this similarity on the model's impostor distribution (null: no table). */
  far: number | null;
  /** Angle between the embeddings in degrees (arccos of the similarity). */
  angle: number;
  threshold: number;
  same: boolean;
}

export interface Verification extends Verdict {
  a: FaceEmbedding;
  b: FaceEmbedding;
}

export class NoFaceError extends ArcfaceError {
  constructor(readonly source: string) {
    super('BAD_INPUT', `${source}: no face found`);
    this.name = 'NoFaceError';
  }
}

/** Same person when the cosine reaches the threshold; `table` gives the score its false-accept rate. */
export function verdict(a: Float32Array, b: Float32Array, threshold: number, table?: FarTable): Verdict {
  const similarity = cosine(a, b);
  return {
    similarity,
    far: table ? farAt(table, similarity) : null,
    angle: angleDegrees(similarity),
    threshold,
    same: similarity >= threshold,
  };
}

/** verify() on a model without a threshold. */
export function noThreshold(model: string): ArcfaceError {
  return badInput(
    `no verification threshold is known for model ${model}: pass --threshold, ` +
      `or calibrate one on your labelled pairs with "arcface calibrate"`,
  );
}
