/**
 * Checks every store applies to embeddings: the model they came from, their length, unit norm, and
 * their byte form (float32 little-endian, the BLOB in SQLite and the file format of `gallery export`).
 */
import { endianness } from 'node:os';
import { badInput, badShape } from '../errors.js';
import type { Gallery } from './types.js';

const LITTLE = endianness() === 'LE';

/** Embeddings of two models never mix: a clear error naming both. */
export function checkModel(gallery: Pick<Gallery, 'name' | 'model'>, model: string, action: string): void {
  if (model !== gallery.model)
    throw badInput(
      `${action}: the embedding comes from model '${model}' but gallery '${gallery.name}' holds ` +
        `embeddings of model '${gallery.model}' (cosines between two models mean nothing; use that ` +
        `model, or reindex the gallery with the new one)`,
    );
}

/** A unit-norm copy of `v`, after checking its length against the gallery's and that it can be normalised. */
export function unitEmbedding(v: Float32Array, dim: number, what: string): Float32Array {
  if (!(v instanceof Float32Array)) throw badInput(`${what}: the embedding must be a Float32Array`);
  if (v.length !== dim)
    throw badShape(`${what}: embedding of length ${v.length}, the gallery's model makes ${dim}`);
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  if (!Number.isFinite(s) || s === 0) throw badInput(`${what}: the embedding is zero or not finite`);
  const inv = 1 / Math.sqrt(s);
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = v[i] * inv;
  return out;
}

/** float32 little-endian bytes of `v`. */
export function embeddingToBytes(v: Float32Array): Buffer {
  if (LITTLE) return Buffer.from(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  const b = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) b.writeFloatLE(v[i], i * 4);
  return b;
}

/** The Float32Array stored as float32 little-endian `bytes` (copied: BLOBs need not be 4-byte aligned). */
export function embeddingFromBytes(bytes: Uint8Array, what: string): Float32Array {
  if (bytes.length % 4 !== 0) throw badShape(`${what}: an embedding of ${bytes.length} bytes is not float32`);
  const out = new Float32Array(bytes.length / 4);
  if (LITTLE) new Uint8Array(out.buffer).set(bytes);
  else {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
  }
  return out;
}

/** Dot product of `a` with row `row` of the row-major matrix `m` (both unit norm: the cosine). */
export function dotRow(a: Float32Array, m: Float32Array, row: number): number {
  const d = a.length;
  const o = row * d;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < d; i += 4) {
    s0 += a[i] * m[o + i];
    s1 += a[i + 1] * m[o + i + 1];
    s2 += a[i + 2] * m[o + i + 2];
    s3 += a[i + 3] * m[o + i + 3];
  }
  for (; i < d; i++) s0 += a[i] * m[o + i];
  return s0 + s1 + s2 + s3;
}
