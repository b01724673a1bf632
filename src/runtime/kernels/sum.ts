/**
 * Sum over leading axes on wasm. Bias, scale and broadcast-add gradients reduce NHWC tensors over
 * N, H and W; the backend's Sum first transposes the tensor so those axes come last (a full copy
 * through a slow generic transpose), then reduces. Read as [m, c], the same sums are column sums:
 * one streaming pass of wasm/bn.c (64-row float32 blocks added in float64). Any other reduction
 * goes to the backend's kernel unchanged.
 */
import { getKernel, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, disposeInfos, heapOffset, wasmOnHeap, type BackendWasm } from './util.js';
import { bnWasmBase64 } from './bn_wasm.js';

interface ColumnSum {
  column_sum(x: number, out: number, acc: number, m: number, c: number): void;
}

/** k when `axis` is exactly the leading axes 0..k-1 of a rank-`rank` tensor with 0 < k < rank, else 0. */
export function leadingAxes(axis: number | number[], rank: number): number {
  const axes = util
    .parseAxisParam(
      axis,
      [...Array(rank)].map(() => 1),
    )
    .sort((a, b) => a - b);
  const k = axes.length;
  return k > 0 && k < rank && axes.every((a, i) => a === i) ? k : 0;
}

/** Wraps the backend's registered Sum; call after tfjs-backend-wasm registered its own. */
export function leadingAxesSum(): KernelConfig | undefined {
  const original = getKernel('Sum', 'wasm');
  if (!original) return undefined;
  const inner = original.kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const x = args.inputs.x as TensorInfo;
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims?: boolean };
    const k = leadingAxes(axis, x.shape.length);
    if (x.dtype !== 'float32' || k === 0 || util.sizeFromShape(x.shape) === 0) return inner(args);
    const backend = args.backend as unknown as BackendWasm;
    const rest = x.shape.slice(k);
    const c = util.sizeFromShape(rest);
    const m = util.sizeFromShape(x.shape) / c;
    const out = allocate(backend, keepDims ? [...x.shape.slice(0, k).map(() => 1), ...rest] : rest);
    const acc = allocate(backend, [2 * c]); // c doubles
    wasmOnHeap<ColumnSum>(backend, 'bn', bnWasmBase64).column_sum(
      heapOffset(backend, x),
      heapOffset(backend, out),
      heapOffset(backend, acc),
      m,
      c,
    );
    disposeInfos(backend, acc);
    return out;
  };
  return { ...original, kernelFunc };
}
