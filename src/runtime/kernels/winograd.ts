/**
 * Conv2D on wasm with Winograd F(2x2, 3x3) for stride-1 3x3 convolutions (wasm/winograd.c has
 * the transforms): 16 GEMMs of [tiles, Ci] x [Ci, Co] on our GEMM (gemm.ts), 2.25x fewer
 * multiplies than the direct conv. Stride-1 input gradients are such
 * convs too (conv2d_backprop_input.ts calls Conv2D). conv2d_forward.ts chooses between this and
 * the plain im2col GEMM.
 *
 * The 16 planes are separate tensors; images run in chunks so the planes stay within PLANE_BYTES.
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, disposeInfos, heapOffset, wasmOnHeap, type BackendWasm } from './util.js';
import { winogradWasmBase64 } from './winograd_wasm.js';
import { gemm, packB } from './gemm.js';
import { convPlan } from './conv_plan.js';

interface WinogradWasm {
  wino_filter(w: number, u: number, c: number, co: number): void;
  wino_input(x: number, v: number, ...dims: number[]): void;
  wino_output(m: number, y: number, ...dims: number[]): void;
  wino_dy(dy: number, e: number, ...dims: number[]): void;
  wino_filter_grad(p: number, dw: number, c: number, co: number): void;
}

/**
 * Channels (in and out) from which Winograd is faster, measured on the dlib / IResNet layers with
 * both on our GEMM (gemm.ts): forward, 32 channels at 35x35 (batch 16) ran 4.9 ms against 8.4 ms
 * for the im2col GEMM, 64 at 17x17 3.7 against 7.0 (dlib step 593 -> 550 ms); the weight gradient
 * won already at 32 (6.2 against 8.8 ms).
 */
export const MIN_CHANNELS = { forward: 32, filterGrad: 16 } as const;
/** Upper bound of the 16 input-transform planes of one chunk of images (bytes). */
let planeBytes = 64 * 1024 * 1024;

/** For tests: lower the bound to run several chunks. Returns the previous value. */
export function setWinogradBudget(bytes: number): number {
  const old = planeBytes;
  planeBytes = bytes;
  return old;
}

/** The conv geometry when Winograd applies, else undefined. */
export function winogradPlan(
  x: TensorInfo,
  filter: TensorInfo,
  attrs: Record<string, unknown>,
  minChannels: number = MIN_CHANNELS.forward,
): backend_util.Conv2DInfo | undefined {
  const info = convPlan(x, filter, attrs);
  if (!info || info.strideHeight !== 1 || info.strideWidth !== 1) return undefined;
  const [kh, kw, ci, co] = filter.shape;
  if (kh !== 3 || kw !== 3 || ci! < minChannels || co! < minChannels) return undefined;
  if (info.padInfo.top < 0 || info.padInfo.left < 0 || info.outHeight < 1 || info.outWidth < 1)
    return undefined;
  return info;
}

/** GEMM depth (tiles) of one dW chunk: about this many bytes of a dy plane, as in conv2d_backprop_filter.ts. */
const DW_CHUNK_BYTES = 512 * 1024;

/**
 * dW of a conv winogradPlan accepts (wasm/winograd.c's wino_dy, wino_filter_grad): per chunk of
 * images, the 16 products V_xi^T E_xi are summed into P (gemm.ts reads V transposed in place and
 * accumulates), then dW = G^T P G.
 */
export function winogradBackpropFilter(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const [n, h, w, ci] = x.shape;
  const co = dy.shape[3];
  const { outHeight: oh, outWidth: ow } = info;
  const th = Math.ceil(oh / 2);
  const tw = Math.ceil(ow / 2);
  const byDepth = Math.floor(DW_CHUNK_BYTES / (4 * co * th * tw));
  const byPlanes = Math.floor(planeBytes / (16 * th * tw * Math.max(ci, co) * 4));
  const chunk = Math.max(1, Math.min(n, byDepth, byPlanes));
  const k = wasmOnHeap<WinogradWasm>(backend, 'winograd', winogradWasmBase64);
  const acc: TensorInfo[] = [];
  const temps: TensorInfo[] = [];
  try {
    for (let b0 = 0; b0 < n; b0 += chunk) {
      const nb = Math.min(chunk, n - b0);
      const tiles = nb * th * tw;
      const v = planes(backend, [tiles, ci]);
      const e = planes(backend, [tiles, co]);
      temps.push(...v.planes, v.table, ...e.planes, e.table);
      const dims = [nb, h, w, ci, th, tw, info.padInfo.top, info.padInfo.left];
      k.wino_input(heapOffset(backend, x) + 4 * b0 * h * w * ci, heapOffset(backend, v.table), ...dims);
      k.wino_dy(
        heapOffset(backend, dy) + 4 * b0 * oh * ow * co,
        heapOffset(backend, e.table),
        nb,
        oh,
        ow,
        co,
        th,
        tw,
      );
      for (let i = 0; i < 16; i++) {
        // P_xi += V_xi^T E_xi: V read transposed in place (rows ci with stride 1, depth tiles).
        const e16 = packB(backend, heapOffset(backend, e.planes[i]!), tiles, co);
        temps.push(e16);
        if (!acc[i]) acc[i] = allocate(backend, [ci, co]);
        const a = { at: heapOffset(backend, v.planes[i]!), rowStride: 1, depthStride: ci };
        gemm(backend, a, e16, heapOffset(backend, acc[i]), co, ci, tiles, co, b0 > 0);
      }
      disposeInfos(backend, ...temps.splice(0));
    }
    const table = pointerTable(backend, acc);
    temps.push(table);
    const dw = allocate(backend, [3, 3, ci, co]);
    k.wino_filter_grad(heapOffset(backend, table), heapOffset(backend, dw), ci, co);
    return dw;
  } finally {
    disposeInfos(backend, ...acc, ...temps);
  }
}

/** Allocates 16 tensors of `shape` and a table of their heap offsets (an int32 tensor). */
function planes(backend: BackendWasm, shape: number[]): { planes: TensorInfo[]; table: TensorInfo } {
  const ps = Array.from({ length: 16 }, () => allocate(backend, shape));
  return { planes: ps, table: pointerTable(backend, ps) };
}

function pointerTable(backend: BackendWasm, ts: TensorInfo[]): TensorInfo {
  const table = allocate(backend, [ts.length], 'int32');
  const view = backend.typedArrayFromHeap(table) as Int32Array;
  ts.forEach((t, i) => (view[i] = heapOffset(backend, t)));
  return table;
}

export function winogradConv2D(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
) {
  const [n, h, w, ci] = x.shape;
  const co = filter.shape[3];
  const { outHeight: oh, outWidth: ow } = info;
  const th = Math.ceil(oh / 2);
  const tw = Math.ceil(ow / 2);
  const perImage = 16 * th * tw * Math.max(ci, co) * 4;
  const chunk = Math.max(1, Math.min(n, Math.floor(planeBytes / perImage)));
  const k = wasmOnHeap<WinogradWasm>(backend, 'winograd', winogradWasmBase64);
  const temps: TensorInfo[] = [];
  const y = allocate(backend, [n, oh, ow, co]);
  try {
    const u = planes(backend, [ci, co]);
    temps.push(...u.planes, u.table);
    k.wino_filter(heapOffset(backend, filter), heapOffset(backend, u.table), ci, co);
    const packedU = u.planes.map((p) => packB(backend, heapOffset(backend, p), ci, co));
    temps.push(...packedU);
    for (let b0 = 0; b0 < n; b0 += chunk) {
      const nb = Math.min(chunk, n - b0);
      const tiles = nb * th * tw;
      const v = planes(backend, [tiles, ci]);
      const chunkTemps: TensorInfo[] = [...v.planes, v.table];
      try {
        k.wino_input(
          heapOffset(backend, x) + 4 * b0 * h * w * ci,
          heapOffset(backend, v.table),
          nb,
          h,
          w,
          ci,
          th,
          tw,
          info.padInfo.top,
          info.padInfo.left,
        );
        const m = v.planes.map((p, i) => {
          const out = allocate(backend, [tiles, co]);
          const a = { at: heapOffset(backend, p), rowStride: ci, depthStride: 1 };
          gemm(backend, a, packedU[i]!, heapOffset(backend, out), co, tiles, ci, co);
          return out;
        });
        chunkTemps.push(...m);
        const mt = pointerTable(backend, m);
        chunkTemps.push(mt);
        k.wino_output(
          heapOffset(backend, mt),
          heapOffset(backend, y) + 4 * b0 * oh * ow * co,
          nb,
          oh,
          ow,
          co,
          th,
          tw,
        );
      } finally {
        disposeInfos(backend, ...chunkTemps);
      }
    }
    return y;
  } catch (e) {
    disposeInfos(backend, y);
    throw e;
  } finally {
    disposeInfos(backend, ...temps);
  }
}
