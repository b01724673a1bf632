/** Shape and label checks shared by the losses: fail early with an ArcfaceError, not a NaN later. */
import { tf } from './tf.js';
import { badInput, badLabels, badShape, ArcfaceError } from '../errors.js';

export function badConfig(message: string): ArcfaceError {
  return new ArcfaceError('BAD_CONFIG', message);
}

export function checkRank2(t: tf.Tensor, what: string): [number, number] {
  if (!(t instanceof tf.Tensor)) throw badInput(`${what}: expected a tf.Tensor`);
  if (t.rank !== 2) throw badShape(`${what}: expected a 2-D tensor, got shape [${t.shape.join(', ')}]`);
  if (t.dtype !== 'float32') throw badInput(`${what}: expected float32, got ${t.dtype}`);
  return [t.shape[0] as number, t.shape[1] as number];
}

export function checkNonEmpty(n: number, what: string): void {
  if (n === 0) throw badShape(`${what}: empty batch (N = 0); a mean over no samples is undefined`);
}

/**
 * Labels must be a 1-D tensor of length n holding integers in [0, numClasses) (numClasses
 * undefined: any integer >= 0). int32 is expected; float32 holding whole numbers is accepted.
 * Reads the labels back (N numbers), returning them for callers that mine on the CPU.
 */
export function checkLabels(
  labels: tf.Tensor,
  n: number,
  numClasses: number | undefined,
  what: string,
): Int32Array {
  if (!(labels instanceof tf.Tensor)) throw badLabels(`${what}: labels must be a tf.Tensor1D`);
  if (labels.rank !== 1)
    throw badLabels(`${what}: labels must be 1-D, got shape [${labels.shape.join(', ')}]`);
  if (labels.size !== n) throw badLabels(`${what}: ${labels.size} labels for a batch of ${n}`);
  if (labels.dtype !== 'int32' && labels.dtype !== 'float32') {
    throw badLabels(`${what}: labels must be int32, got ${labels.dtype}`);
  }
  const values = labels.dataSync();
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isInteger(v)) throw badLabels(`${what}: label ${i} is ${v}, not an integer`);
    if (v < 0 || (numClasses !== undefined && v >= numClasses)) {
      const range = numClasses === undefined ? '>= 0' : `in [0, ${numClasses})`;
      throw badLabels(`${what}: label ${i} is ${v}, expected ${range}`);
    }
    out[i] = v;
  }
  return out;
}

/** NaN or infinite embeddings would silently poison the class centres through the gradient. */
export function checkFinite(t: tf.Tensor, what: string): void {
  const v = t.dataSync();
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw badInput(`${what}: element ${i} is ${v[i]} (inputs must be finite)`);
  }
}

export function checkPositive(v: number, what: string): void {
  if (!(Number.isFinite(v) && v > 0)) throw badConfig(`${what} must be a positive number, got ${v}`);
}

export function checkRange(v: number, lo: number, hi: number, what: string): void {
  if (!(Number.isFinite(v) && v >= lo && v < hi))
    throw badConfig(`${what} must be in [${lo}, ${hi}), got ${v}`);
}

export function checkCount(v: number, what: string): void {
  if (!(Number.isInteger(v) && v > 0)) throw badConfig(`${what} must be a positive integer, got ${v}`);
}
