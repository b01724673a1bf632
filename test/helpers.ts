/** Shared by the tests: seeded data, the relative error kernels compare with, and error checks. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ArcfaceError } from '../src/errors.js';
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

/** `fn` throws an ArcfaceError BAD_INPUT whose message matches `pattern`. */
export function expectBadInput(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ArcfaceError, `expected an ArcfaceError, got ${String(err)}`);
    assert.equal(err.code, 'BAD_INPUT');
    assert.match(err.message, pattern);
    return true;
  });
}

/** ../shared (beside the repo, never copied into it): photos and models other projects published. */
export const SHARED = join(import.meta.dirname, '../../shared');
/** deepface's unit-test photos (img1~img2 same person, img3 another). */
export const DEEPFACE = join(SHARED, 'data/faces/deepface/tests/unit/dataset');
/** A photo with no face in it. */
export const NOFACE = join(SHARED, 'data/faces/compreface/embedding-calculator/sample_images/017_0.jpg');
/** InsightFace's MobileFaceNet (int8): the fast recogniser of the service tests. */
export const W600K = join(SHARED, 'models/recognizers/w600k-mbf-int8/w600k_mbf_int8.onnx');

/** false when every path exists, else a skip message naming what the tests need. */
export function skipUnless(paths: string[], what: string): false | string {
  return paths.every(existsSync) ? false : `../shared (${what}) is absent: tests skipped`;
}

/** A multipart/form-data body by hand: files (Buffer, with a file name) and text fields. */
export function multipartBody(parts: [string, Buffer | string, string?][], boundary: string): Buffer {
  const chunks: Buffer[] = [];
  for (const [name, value, filename] of parts) {
    const disp = filename ? `; filename="${filename}"` : '';
    const type = filename ? 'Content-Type: application/octet-stream\r\n' : '';
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"${disp}\r\n${type}\r\n`),
    );
    chunks.push(Buffer.isBuffer(value) ? value : Buffer.from(value));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}
