/** Shared by the losses tests: fixture loading, tolerant comparison, backend loop. */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/losses/tf.js';

export const BACKENDS = ['wasm', 'cpu'] as const;

export function loadFixture(name: string): any {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));
}

export function flat(v: unknown): number[] {
  return Array.isArray(v) ? v.flatMap(flat) : [v as number];
}

/**
 * |actual - expected| <= rtol*|expected| + atol, elementwise. atol defaults to atolFrac of the
 * array's largest magnitude: float32 results that are sums or differences of terms as large as
 * that carry absolute errors of that order, whatever the size of the result.
 */
export function assertClose(
  actual: ArrayLike<number> | number,
  expected: unknown,
  what: string,
  opts: { rtol?: number; atolFrac?: number; atol?: number } = {},
): void {
  const e = flat(expected);
  const a = typeof actual === 'number' ? [actual] : Array.from(actual);
  assert.equal(a.length, e.length, `${what}: length ${a.length} vs ${e.length}`);
  const rtol = opts.rtol ?? 1e-5;
  const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const atol = opts.atol ?? (opts.atolFrac ?? 1e-6) * Math.max(scale, 1e-30);
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < e.length; i++) {
    if (!Number.isFinite(a[i])) assert.fail(`${what}[${i}] is ${a[i]}`);
    const ratio = Math.abs(a[i] - e[i]) / (rtol * Math.abs(e[i]) + atol);
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worstRatio > 1) {
    assert.fail(
      `${what}[${worst}]: got ${a[worst]}, expected ${e[worst]} (${worstRatio.toFixed(2)}x tolerance)`,
    );
  }
}

export function maxAbs(v: unknown): number {
  return flat(v).reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}

export function t2(v: number[][]): tf.Tensor2D {
  return tf.tensor2d(v, undefined, 'float32');
}

export function labelsOf(v: number[]): tf.Tensor1D {
  return tf.tensor1d(v, 'int32');
}

export function read(t: tf.Tensor): Float32Array {
  const v = t.dataSync() as Float32Array;
  return v;
}

/** Deterministic float32-representable normals (mulberry32 + Box-Muller). */
export function randn(seed: number, n: number, scale = 1): number[] {
  let a = seed >>> 0;
  const uni = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = Math.sqrt(-2 * Math.log(uni() + 1e-12)) * Math.cos(2 * Math.PI * uni());
    out.push(Math.fround(r * scale));
  }
  return out;
}

export function rows(v: number[], d: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < v.length; i += d) out.push(v.slice(i, i + d));
  return out;
}

// Run directly (node --test runs each file on its own), this file checks its comparator.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  test('assertClose rejects what it should', () => {
    assertClose([1, 2], [1, 2 + 1e-6], 'ok');
    assert.throws(() => assertClose([1, 2], [1, 2.001], 'off'), /off\[1\]/);
    assert.throws(() => assertClose([NaN], [1], 'nan'), /nan\[0\] is NaN/);
    assert.throws(() => assertClose([1], [1, 2], 'len'), /length/);
  });
}
