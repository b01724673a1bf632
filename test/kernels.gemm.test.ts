/**
 * Our GEMM (runtime/kernels/gemm.ts, wasm/gemm.c) in both builds, relaxed-SIMD FMA and plain
 * multiply + add, against a float64 product: sizes that leave partial 6x8 tiles, depths across
 * the 256-deep blocks, A read transposed through its strides, accumulation, an empty depth; and
 * the Conv2D it serves (conv2d_forward.ts) against the cpu backend: 7x7 stride 2, 1x1 with and
 * without padding, negative (cropping) explicit padding as the strided input gradients use,
 * several chunks of output rows.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '../src/runtime/kernels/index.js';
import {
  gemm,
  gemmVariant,
  packB,
  relaxedSimdAvailable,
  setGemmVariant,
  setGemmTileRows,
  gemmTileRows,
  type GemmVariant,
} from '../src/runtime/kernels/gemm.js';
import { setConvChunkBytes } from '../src/runtime/kernels/conv2d_forward.js';
import { convPlan } from '../src/runtime/kernels/conv_plan.js';
import { winogradPlan } from '../src/runtime/kernels/winograd.js';
import {
  allocate,
  disposeInfos,
  heapF32,
  heapOffset,
  type BackendWasm,
} from '../src/runtime/kernels/util.js';
import { relErr, seededUniform } from './helpers.js';

// float32 sums of up to ~1,500 products of values in [-1, 1] against a float64 sum: measured
// below 2e-6 relative to the largest entry; a wrong tile, stride or panel is off by 1e-1 or more.
const TOL = 1e-5;

const variants: GemmVariant[] = relaxedSimdAvailable() ? ['fma', 'plain'] : ['plain'];

let backend: BackendWasm;
before(async () => {
  registerTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
  backend = tf.backend() as unknown as BackendWasm;
});
after(() => {
  setGemmVariant(undefined);
  setGemmTileRows(undefined);
});

/** C = A B (+ C0) in float64; A is [m, k] row-major. */
function reference(a: Float32Array, b: Float32Array, m: number, k: number, n: number, c0?: Float32Array) {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = c0 ? c0[i * n + j]! : 0;
      for (let t = 0; t < k; t++) s += a[i * k + t]! * b[t * n + j]!;
      c[i * n + j] = s;
    }
  return c;
}

function runGemm(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  opts: { transposed?: boolean; c0?: Float32Array } = {},
): Float32Array {
  // A stored as given ([m, k]) or transposed ([k, m]) and read through the strides.
  const stored = opts.transposed ? new Float32Array(m * k) : a;
  if (opts.transposed)
    for (let i = 0; i < m; i++) for (let t = 0; t < k; t++) stored[t * m + i] = a[i * k + t]!;
  const ta = allocate(backend, [Math.max(1, m * k)]);
  const tb = allocate(backend, [Math.max(1, k * n)]);
  const tc = allocate(backend, [m * n]);
  heapF32(backend, ta).set(stored);
  heapF32(backend, tb).set(b);
  heapF32(backend, tc).set(opts.c0 ?? new Float32Array(m * n).fill(Number.NaN));
  const packed = packB(backend, heapOffset(backend, tb), k, n);
  const strides = opts.transposed ? { rowStride: 1, depthStride: m } : { rowStride: k, depthStride: 1 };
  gemm(
    backend,
    { at: heapOffset(backend, ta), ...strides },
    packed,
    heapOffset(backend, tc),
    n,
    m,
    k,
    n,
    !!opts.c0,
  );
  const out = heapF32(backend, tc).slice();
  disposeInfos(backend, ta, tb, tc, packed);
  return out;
}

test('relaxed-SIMD FMA is chosen where the engine validates it (Node 22 and later)', () => {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 22) assert.equal(relaxedSimdAvailable(), true, `Node ${process.versions.node}`);
  assert.equal(
    gemmVariant(),
    process.env.ARCFACE_WASM_FMA === '0' || !relaxedSimdAvailable() ? 'plain' : 'fma',
  );
  if (!relaxedSimdAvailable()) assert.throws(() => setGemmVariant('fma'), /relaxed-SIMD/);
  // 6x8 only where it was measured faster: the FMA build on V8 13+ (Node 24).
  const v8 = Number(process.versions.v8.split('.')[0]);
  assert.equal(gemmTileRows(), gemmVariant() === 'fma' && v8 >= 13 ? 6 : 4);
});

for (const [v, rows] of variants.flatMap((v) => ([4, 6] as const).map((r) => [v, r] as const))) {
  test(`GEMM (${v}, ${rows}x8 tile) equals a float64 product: partial tiles, deep blocks, transposed A, accumulation`, () => {
    setGemmVariant(v);
    setGemmTileRows(rows);
    let seed = 1;
    for (const [m, k, n] of [
      [1, 1, 1],
      [6, 8, 8],
      [7, 3, 9],
      [13, 300, 17],
      [64, 513, 24],
      [5, 1000, 3],
    ] as const) {
      const a = seededUniform(seed++, m * k);
      const b = seededUniform(seed++, k * n);
      const want = reference(a, b, m, k, n);
      for (const transposed of [false, true]) {
        const e = relErr(runGemm(a, b, m, k, n, { transposed }), want);
        assert.ok(e <= TOL, `${m}x${k}x${n} transposed=${transposed}: rel err ${e}`);
      }
      const c0 = seededUniform(seed++, m * n);
      const e = relErr(runGemm(a, b, m, k, n, { c0 }), reference(a, b, m, k, n, c0));
      assert.ok(e <= TOL, `${m}x${k}x${n} accumulate: rel err ${e}`);
    }
    // Depth 0: C = 0, or C unchanged when accumulating.
    assert.deepEqual([...runGemm(new Float32Array(0), new Float32Array(0), 2, 0, 3)], [0, 0, 0, 0, 0, 0]);
    const c0 = new Float32Array([1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...runGemm(new Float32Array(0), new Float32Array(0), 2, 0, 3, { c0 })], [...c0]);
  });

  test(`GEMM (${v}) is deterministic: the same call, and either tile, give the same bits`, () => {
    setGemmVariant(v);
    const a = seededUniform(11, 37 * 700);
    const b = seededUniform(12, 700 * 19);
    setGemmTileRows(6);
    const six = runGemm(a, b, 37, 700, 19);
    assert.deepEqual(six, runGemm(a, b, 37, 700, 19));
    // Every element sums over k in the same order in both tiles: the choice never changes a bit.
    setGemmTileRows(4);
    assert.deepEqual(runGemm(a, b, 37, 700, 19), six);
    setGemmTileRows(undefined);
  });
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

/** Explicit NHWC padding: top, bottom, left, right (negative crops). */
const pads = (t: number, b: number, l: number, r: number): Pad => [
  [0, 0],
  [t, b],
  [l, r],
  [0, 0],
];

function conv(xs: number[], ws: number[], pad: Pad, stride: number, seed: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(
      seededUniform(
        seed,
        xs.reduce((p, q) => p * q),
      ),
      xs as [number, number, number, number],
    );
    const w = tf.tensor4d(
      seededUniform(
        seed + 1,
        ws.reduce((p, q) => p * q),
      ),
      ws as [number, number, number, number],
    );
    return tf.conv2d(x, w, stride, pad).dataSync() as Float32Array;
  });
}

for (const v of variants) {
  test(`Conv2D on the GEMM (${v}) matches cpu: 7x7/2, 1x1 padded or not, cropping pads, row chunks`, async () => {
    setGemmVariant(v);
    const cases: [number[], number[], Pad, number][] = [
      [[2, 23, 21, 3], [7, 7, 3, 10], 'same', 2],
      [[1, 9, 9, 5], [1, 1, 5, 7], 'valid', 1],
      [[1, 9, 9, 5], [1, 1, 5, 7], pads(0, 1, 1, 0), 1],
      // Padding or cropping after the image only: the output is not x's shape.
      [[1, 9, 9, 5], [1, 1, 5, 7], pads(0, 1, 0, 1), 1],
      [[1, 9, 9, 5], [1, 1, 5, 7], pads(0, -1, 0, -2), 1],
      [[2, 9, 8, 6], [1, 1, 6, 4], 'valid', 2],
      [[1, 10, 11, 3], [2, 2, 3, 16], pads(0, -1, -1, 0), 1],
      [[3, 12, 13, 17], [3, 3, 17, 9], 'same', 1],
      [[2, 15, 15, 32], [3, 3, 32, 32], pads(1, 2, 0, 1), 2],
    ];
    for (const [i, [xs, ws, pad, s]] of cases.entries()) {
      const x = { dataId: {}, shape: xs, dtype: 'float32' as const };
      const f = { dataId: {}, shape: ws, dtype: 'float32' as const };
      const attrs = { strides: s, pad, dilations: 1 };
      assert.ok(convPlan(x, f, attrs), `case ${i}: the GEMM path applies`);
      assert.equal(winogradPlan(x, f, attrs), undefined, `case ${i}: not a Winograd conv`);
      await tf.setBackend('cpu');
      const want = conv(xs, ws, pad, s, 100 + i);
      await tf.setBackend('wasm');
      for (const chunk of [1 << 20, 256]) {
        const old = setConvChunkBytes(chunk);
        try {
          const e = relErr(conv(xs, ws, pad, s, 100 + i), want);
          assert.ok(e <= TOL, `case ${i} ${JSON.stringify([xs, ws, pad, s])} chunk ${chunk}: rel err ${e}`);
        } finally {
          setConvChunkBytes(old);
        }
      }
    }
  });
}

test('the GEMM path leaves NCHW and dilated convs to the backend', () => {
  const x = { dataId: {}, shape: [1, 8, 8, 4], dtype: 'float32' as const };
  const f = { dataId: {}, shape: [3, 3, 4, 4], dtype: 'float32' as const };
  assert.equal(convPlan(x, f, { strides: 1, pad: 'same', dilations: 2 }), undefined);
  assert.equal(convPlan(x, f, { strides: 1, pad: 'same', dataFormat: 'NCHW' }), undefined);
  assert.equal(convPlan({ ...x, dtype: 'int32' }, f, { strides: 1, pad: 'same' }), undefined);
});
