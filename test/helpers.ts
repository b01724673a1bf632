/** Shared by the kernel tests: seeded data and the relative error they compare with. */
import assert from 'node:assert/strict';
import { rng } from '../src/util/random.js';

/** Uniform values in [-1, 1) from a seed (mulberry32), reproducible across runs and backends. */
export function seededUniform(seed: number, len: number): Float32Array {
  const random = rng(seed);
  return Float32Array.from({ length: len }, () => random() * 2 - 1);
}

/** max |a - b| / max |b| (the absolute error when b is all zeros). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}
