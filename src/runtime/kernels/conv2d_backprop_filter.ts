/**
 * Conv2DBackpropFilter (dW of a conv) for the wasm backend: a transposed im2col plus our GEMM
 * (gemm.ts).
 *
 *   dW[kh, kw, ci, co] = sum_{n, oh, ow} xpad[n, oh*s + kh, ow*s + kw, ci] dy[n, oh, ow, co]
 *                      = (A * dy)[(kh, kw, ci), co],  A[(kh, kw, ci), p] = xpad[.. p ..],
 * with p = (n, oh, ow) and dy read as [P, Co]: the GEMM output is dW in its own layout.
 *
 * The GEMM's depth is P, tens of thousands to millions; streamed whole it falls out of L2
 * (measured with XNNPACK: 7 GFLOP/s for IResNet's 112x112 layer against 20 for the forward
 * conv). So P runs in chunks of whole output rows holding about CHUNK_BYTES of dy, each chunk's
 * product added into dW in place (dW is linear in P); wasm/conv.c builds each chunk's A, so A
 * never holds more than a chunk either.
 */
import { backend_util, type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import {
  allocate,
  convGeometry,
  convWasm,
  disposeInfos,
  heapOffset,
  viewAs,
  type BackendWasm,
} from './util.js';
import { gemm, packB } from './gemm.js';
import { MIN_CHANNELS, winogradBackpropFilter, winogradPlan } from './winograd.js';

/** dy bytes per GEMM chunk: measured best at 256-512 KiB for the IResNet / MobileFaceNet shapes. */
const CHUNK_BYTES = 512 * 1024;

/** Upper bound for one chunk's im2col buffer (bytes); tests lower it to exercise chunking. */
let im2colBytes = 256 * 1024 * 1024;

export function setIm2colBudget(bytes: number): number {
  const old = im2colBytes;
  im2colBytes = bytes;
  return old;
}

export function conv2dBackpropFilterWasm(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: NamedAttrMap,
): TensorInfo {
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = convGeometry('Conv2DBackpropFilter', x.shape, filterShape, attrs);
  // Stride-1 3x3 with enough channels: Winograd (winograd.ts), 16 multiplies per 2x2 tile, not 36.
  const wino = winogradPlan(x, { ...x, shape: filterShape }, attrs, MIN_CHANNELS.filterGrad);
  if (wino && dy.shape.join() === wino.outShape.join()) return winogradBackpropFilter(backend, x, dy, wino);
  return im2colBackpropFilter(backend, x, dy, filterShape, info);
}

/** dW by the transposed im2col and GEMM, for any conv convGeometry accepts. */
export function im2colBackpropFilter(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: [number, number, number, number],
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const [n, h, w, c] = x.shape;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const co = filterShape[3];
  const rows = kh * kw * c;
  const totalRows = n * oh; // output rows over the whole batch
  const byDepth = Math.floor(CHUNK_BYTES / (4 * co * ow));
  const byBuffer = Math.floor(im2colBytes / (4 * rows * ow));
  const chunk = Math.max(1, Math.min(totalRows, byDepth, byBuffer));
  const wasm = convWasm(backend);

  let acc: TensorInfo | undefined;
  const temps: TensorInfo[] = [];
  try {
    for (let r0 = 0; r0 < totalRows; r0 += chunk) {
      const r1 = Math.min(r0 + chunk, totalRows);
      const p = (r1 - r0) * ow;
      const a = allocate(backend, [rows, p]);
      temps.push(a);
      wasm.im2col_t(
        heapOffset(backend, x),
        heapOffset(backend, a),
        r0,
        r1,
        h,
        w,
        c,
        kh,
        kw,
        oh,
        ow,
        info.strideHeight,
        info.strideWidth,
        info.padInfo.top,
        info.padInfo.left,
      );
      // The chunk's rows of dy are contiguous: packed straight from dy.
      const dyc = packB(backend, heapOffset(backend, dy) + 4 * r0 * ow * co, p, co);
      temps.push(dyc);
      acc ??= allocate(backend, [rows, co]);
      gemm(
        backend,
        { at: heapOffset(backend, a), rowStride: p, depthStride: 1 },
        dyc,
        heapOffset(backend, acc),
        co,
        rows,
        p,
        co,
        r0 > 0,
      );
      disposeInfos(backend, ...temps.splice(0));
    }
    if (!acc) throw new Error('Conv2DBackpropFilter: empty batch');
    const out = viewAs(acc, filterShape);
    acc = undefined;
    return out;
  } finally {
    disposeInfos(backend, acc, ...temps);
  }
}

export const Conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs;
    if (!x || !dy) throw new Error('Conv2DBackpropFilter needs inputs x and dy');
    return conv2dBackpropFilterWasm(backend as unknown as BackendWasm, x, dy, attrs ?? {});
  },
};
