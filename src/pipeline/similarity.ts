/** Cosine similarity and angle between L2-normalised embeddings (the ArcFace paper's theta). */
import { badShape } from '../errors.js';

export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw badShape(`embeddings differ in size: ${a.length} vs ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  // Normalise again: embeddings read back from JSON or a database may carry rounding.
  const d = Math.sqrt(na * nb);
  return d > 0 ? Math.max(-1, Math.min(1, dot / d)) : 0;
}

export function angleDegrees(cos: number): number {
  return (Math.acos(Math.max(-1, Math.min(1, cos))) * 180) / Math.PI;
}

/** All-pairs cosine matrix (row-major n x n) for a small set. */
export function similarityMatrix(embs: Float32Array[]): Float64Array {
  const n = embs.length;
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    m[i * n + i] = 1;
    for (let j = i + 1; j < n; j++) m[i * n + j] = m[j * n + i] = cosine(embs[i]!, embs[j]!);
  }
  return m;
}
