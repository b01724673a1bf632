/**
 * The project's own f32 GEMM (wasm/gemm.c) for the conv kernels: a 6x8 or 4x8 register tile over B
 * packed in 8-column panels, with A read through two strides so a transposed operand (Winograd's
 * V^T, an im2col_t block read as [pixels, taps]) costs no copy, and an accumulate flag so chunked
 * sums (dW over the batch) add in place.
 *
 * Two builds of the same C: `fma` uses f32x4.relaxed_madd, which V8 lowers to one FMA on CPUs that
 * have it (the multiply-add pair is the GEMM's whole inner loop: 1.2-1.5x here), and `plain` the
 * f32x4 multiply and add every wasm SIMD engine has. Relaxed SIMD validates by default from V8
 * 11.4: Node 22 and 24; Node 20 (V8 11.3) only with --experimental-wasm-relaxed-simd, so there the
 * plain build runs. Either is deterministic on one machine (resume and --parallel stay bit-exact);
 * fused and unfused results differ in the last bits, so two CPUs may not agree to the bit.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, heapOffset, wasmOnHeap, type BackendWasm } from './util.js';
import { gemmWasmBase64 } from './gemm_wasm.js';
import { gemmFmaWasmBase64 } from './gemm_fma_wasm.js';

/** C (+)= A B over B packed by gemm_pack_b (wasm/gemm.c's gemm_packed6 / gemm_packed4). */
type GemmPacked = (
  a: number,
  rs: number,
  ks: number,
  packed: number,
  c: number,
  ldc: number,
  m: number,
  k: number,
  n: number,
  accumulate: number,
) => void;

interface GemmWasm {
  gemm_pack_b(b: number, k: number, n: number, ldb: number, packed: number): void;
  gemm_packed6: GemmPacked;
  gemm_packed4: GemmPacked;
}

export type GemmVariant = 'fma' | 'plain';

let fmaValid: boolean | undefined;

/** Whether this engine validates relaxed-SIMD (the fma build), checked once. */
export function relaxedSimdAvailable(): boolean {
  fmaValid ??= WebAssembly.validate(Buffer.from(gemmFmaWasmBase64, 'base64'));
  return fmaValid;
}

let forced: GemmVariant | undefined =
  process.env.ARCFACE_WASM_FMA === '0' ? 'plain' : process.env.ARCFACE_WASM_FMA === '1' ? 'fma' : undefined;

/** The build in use: fma where the engine has relaxed SIMD (ARCFACE_WASM_FMA=0 forces plain). */
export function gemmVariant(): GemmVariant {
  if (forced === 'fma' && !relaxedSimdAvailable())
    throw new Error(
      `ARCFACE_WASM_FMA=1: this Node (${process.version}, V8 ${process.versions.v8}) does not validate relaxed-SIMD; Node 22 and later do. Unset it or set 0.`,
    );
  return forced ?? (relaxedSimdAvailable() ? 'fma' : 'plain');
}

/** For tests and benches: force a build (undefined: choose as gemmVariant does). Returns the previous. */
export function setGemmVariant(v: GemmVariant | undefined): GemmVariant | undefined {
  if (v === 'fma' && !relaxedSimdAvailable())
    throw new Error('relaxed-SIMD FMA: this Node (V8) does not validate it; Node 22 and later do');
  const old = forced;
  forced = v;
  return old;
}

let forcedRows: 4 | 6 | undefined;
const V8_MAJOR = Number(process.versions.v8?.split('.')[0] ?? 0);

/**
 * Rows of the register tile (wasm/gemm.c): 6 for the FMA build on V8 13 and later (Node 24), 4
 * elsewhere. Measured by bench/gemm.ts: V8 12.4 (Node 22) spills the 6x8 tile's accumulators
 * (FMA 32-39 GFLOP/s against 50-54 for 4x8); V8 13.6 runs 6x8 FMA at 55-62 against 48-54; the
 * plain build is faster as 4x8 on both (42-45 against 37-39). Results do not depend on it.
 */
export function gemmTileRows(): 4 | 6 {
  if (forcedRows) return forcedRows;
  return gemmVariant() === 'fma' && V8_MAJOR >= 13 ? 6 : 4;
}

/** For tests and benches: force the tile's rows (undefined: choose as gemmTileRows does). */
export function setGemmTileRows(rows: 4 | 6 | undefined): 4 | 6 | undefined {
  const old = forcedRows;
  forcedRows = rows;
  return old;
}

function gemmModule(backend: BackendWasm): GemmWasm {
  return gemmVariant() === 'fma'
    ? wasmOnHeap<GemmWasm>(backend, 'gemm_fma', gemmFmaWasmBase64)
    : wasmOnHeap<GemmWasm>(backend, 'gemm', gemmWasmBase64);
}

/** B[K, N] (row stride ldb floats, at byte offset `b` of the heap) packed for gemm(). */
export function packB(backend: BackendWasm, b: number, k: number, n: number, ldb = n): TensorInfo {
  const packed = allocate(backend, [Math.ceil(n / 8) * 8 * k]);
  gemmModule(backend).gemm_pack_b(b, k, n, ldb, heapOffset(backend, packed));
  return packed;
}

export interface GemmOperandA {
  /** Byte offset in the heap of A[0, 0]. */
  at: number;
  /** Float strides of A's rows and of its depth: A[r, k] = at[r*rowStride + k*depthStride]. */
  rowStride: number;
  depthStride: number;
}

/**
 * C[M, N] = A[M, K] B[K, N] (or C += A B with accumulate), C at byte offset `c` with row stride
 * ldc floats and B from packB. Offsets are taken right before the call: nothing here allocates.
 */
export function gemm(
  backend: BackendWasm,
  a: GemmOperandA,
  packed: TensorInfo,
  c: number,
  ldc: number,
  m: number,
  k: number,
  n: number,
  accumulate = false,
): void {
  if (m === 0 || n === 0) return;
  if (k === 0) {
    // An empty sum: C = 0 (or unchanged); the wasm loop would leave C as it was.
    if (!accumulate) {
      const heap = new Float32Array((backend.wasm as unknown as { HEAPF32: Float32Array }).HEAPF32.buffer);
      for (let r = 0; r < m; r++) heap.fill(0, c / 4 + r * ldc, c / 4 + r * ldc + n);
    }
    return;
  }
  const mod = gemmModule(backend);
  const run = gemmTileRows() === 6 ? mod.gemm_packed6 : mod.gemm_packed4;
  run(a.at, a.rowStride, a.depthStride, heapOffset(backend, packed), c, ldc, m, k, n, accumulate ? 1 : 0);
}
