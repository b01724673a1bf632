/**
 * DepthwiseConv2dNative with a channel multiplier m > 1 on wasm: the backend's kernel runs it
 * several times slower than m = 1 (MobileFaceNet's 64-group conv, m = 2 at 56x56: 200-350 ms of a
 * 4.8 s step). Output channel c*m + j is x[c] filtered by w[c, j], which is an m = 1 depthwise
 * conv over x with each channel repeated m times (wasm/depthwise.c repeat_each) and the filter
 * [KH, KW, C, M] read as [KH, KW, C*M, 1]: the backend's own fast path.
 */
import { getKernel, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { depthwiseWasm, heapOffset } from './depthwise_util.js';
import { viewAs } from './util.js';

/** Wraps the backend's registered DepthwiseConv2dNative; call after tfjs-backend-wasm registered it. */
export function multiplierDepthwise(): KernelConfig | undefined {
  const original = getKernel('DepthwiseConv2dNative', 'wasm');
  if (!original) return undefined;
  const inner = original.kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const m = filter.shape[3];
    if (m === 1 || x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4)
      return inner(args);
    const backend = args.backend as unknown as BackendWasm;
    const [kh, kw, c] = filter.shape;
    const xm = backend.makeOutput([...x.shape.slice(0, 3), c * m], 'float32');
    try {
      depthwiseWasm(backend).repeat_each(
        heapOffset(backend, x),
        heapOffset(backend, xm),
        util.sizeFromShape(x.shape),
        m,
      );
      return inner({ ...args, inputs: { x: xm, filter: viewAs(filter, [kh, kw, c * m, 1]) } });
    } finally {
      backend.disposeData(xm.dataId);
    }
  };
  return { ...original, kernelFunc };
}
