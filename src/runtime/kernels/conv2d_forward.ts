/**
 * Conv2D on wasm: Winograd for stride-1 3x3 convs with enough channels (winograd.ts), else an
 * im2col GEMM on our GEMM (gemm.ts), which outruns the backend's XNNPACK conv on the dlib ResNet's
 * layers (bench/gemm_probe.ts). Stride-1 input gradients are such convs too
 * (conv2d_backprop_input.ts calls Conv2D). NCHW, dilations and non-float32 go to the backend's own.
 *
 *   y[(n, oy, ox), co] = sum_(ky, kx, ci) xpad[n, oy*s + ky, ox*s + kx, ci] W[(ky, kx, ci), co]
 *
 * The output rows run in chunks whose im2col block (wasm/conv.c's im2col_t, [taps, pixels]) holds
 * about CHUNK_BYTES, so it is still in cache when the GEMM reads it transposed in place; a 1x1
 * stride-1 unpadded conv reads x itself.
 */
import {
  backend_util,
  getKernel,
  util,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { allocate, convWasm, disposeInfos, heapOffset, type BackendWasm } from './util.js';
import { gemm, packB } from './gemm.js';
import { winogradConv2D, winogradPlan } from './winograd.js';
import { convPlan } from './conv_plan.js';

/** im2col bytes per chunk of output rows. */
let chunkBytes = 1024 * 1024;

/** For tests: lower the chunk to run several. Returns the previous value. */
export function setConvChunkBytes(bytes: number): number {
  const old = chunkBytes;
  chunkBytes = bytes;
  return old;
}

export function gemmConv2D(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const [n, h, w, ci] = x.shape as [number, number, number, number];
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const co = filter.shape[3]!;
  const taps = kh * kw * ci;
  const y = allocate(backend, [n, oh, ow, co]);
  const temps: TensorInfo[] = [];
  try {
    const wp = packB(backend, heapOffset(backend, filter), taps, co);
    temps.push(wp);
    const { top: pt, left: pl } = info.padInfo;
    if (
      kh === 1 &&
      kw === 1 &&
      info.strideHeight === 1 &&
      info.strideWidth === 1 &&
      pt === 0 &&
      pl === 0 &&
      oh === h &&
      ow === w
    ) {
      const a = { at: heapOffset(backend, x), rowStride: ci, depthStride: 1 };
      gemm(backend, a, wp, heapOffset(backend, y), co, n * h * w, ci, co);
      return y;
    }
    const totalRows = n * oh;
    const chunk = Math.max(1, Math.min(totalRows, Math.floor(chunkBytes / (4 * taps * ow))));
    const block = allocate(backend, [taps, chunk * ow]);
    temps.push(block);
    const conv = convWasm(backend);
    for (let r0 = 0; r0 < totalRows; r0 += chunk) {
      const r1 = Math.min(r0 + chunk, totalRows);
      const p = (r1 - r0) * ow;
      const at = heapOffset(backend, block);
      conv.im2col_t(
        heapOffset(backend, x),
        at,
        r0,
        r1,
        h,
        w,
        ci,
        kh,
        kw,
        oh,
        ow,
        info.strideHeight,
        info.strideWidth,
        pt,
        pl,
      );
      gemm(
        backend,
        { at, rowStride: 1, depthStride: p },
        wp,
        heapOffset(backend, y) + 4 * r0 * ow * co,
        co,
        p,
        taps,
        co,
      );
    }
    return y;
  } catch (e) {
    disposeInfos(backend, y);
    throw e;
  } finally {
    disposeInfos(backend, ...temps);
  }
}

let backendConv2D: KernelFunc | undefined;

/** The backend's own Conv2D (XNNPACK), for benches that compare against it. */
export function xnnpackConv2D(backend: BackendWasm, x: TensorInfo, filter: TensorInfo): TensorInfo {
  if (!backendConv2D) throw new Error('xnnpackConv2D: register the training kernels first');
  const attrs = { strides: 1, pad: 'valid', dilations: 1, dataFormat: 'NHWC' };
  return backendConv2D({ inputs: { x, filter }, backend: backend as never, attrs }) as TensorInfo;
}

/** Wraps the backend's registered Conv2D; call after tfjs-backend-wasm registered its own. */
export function conv2DKernel(): KernelConfig | undefined {
  const original = getKernel('Conv2D', 'wasm');
  if (!original) return undefined;
  const inner = original.kernelFunc;
  backendConv2D = inner;
  const kernelFunc: KernelFunc = (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs ?? {};
    const backend = args.backend as unknown as BackendWasm;
    if (util.sizeFromShape(x.shape) === 0 || util.sizeFromShape(filter.shape) === 0) return inner(args);
    const wino = winogradPlan(x, filter, attrs);
    if (wino) return winogradConv2D(backend, x, filter, wino);
    const plan = convPlan(x, filter, attrs);
    if (plan && plan.outHeight > 0 && plan.outWidth > 0) return gemmConv2D(backend, x, filter, plan);
    return inner(args);
  };
  return { ...original, kernelFunc };
}
