/**
 * MaxPoolGrad for the wasm backend in one pass of wasm/pool.c (the backend's took 75 ms of a
 * 1.2 s dlib ResNet step on its one 3x3/2 pool). Same choice of maximum as the cpu backend: the
 * first in row-major window order, which matters after a ReLU, where windows tie at 0.
 */
import { backend_util, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, heapOffset, wasmOnHeap, type BackendWasm } from './util.js';
import { poolWasmBase64 } from './pool_wasm.js';

interface PoolWasm {
  max_pool_grad(x: number, dy: number, dx: number, ...dims: number[]): void;
}

export const MaxPoolGradConfig: KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend: b, attrs }) => {
    const backend = b as unknown as BackendWasm;
    const { dy, input } = inputs as Record<string, TensorInfo | undefined>;
    if (!dy || !input) throw new Error('MaxPoolGrad needs inputs dy and input');
    if (dy.dtype !== 'float32' || input.dtype !== 'float32')
      throw new Error('MaxPoolGrad on wasm: needs float32');
    const a = attrs as {
      filterSize: number | [number, number];
      strides: number | [number, number];
      pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
    };
    const info = backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      a.filterSize,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
    );
    if (info.outShape.join() !== dy.shape.join())
      throw new Error(`MaxPoolGrad on wasm: dy [${dy.shape}] != pool output [${info.outShape}]`);
    const dx = allocate(backend, input.shape);
    const [n, h, w, c] = input.shape;
    wasmOnHeap<PoolWasm>(backend, 'pool', poolWasmBase64).max_pool_grad(
      heapOffset(backend, input),
      heapOffset(backend, dy),
      heapOffset(backend, dx),
      n,
      h,
      w,
      c,
      info.filterHeight,
      info.filterWidth,
      info.outHeight,
      info.outWidth,
      info.strideHeight,
      info.strideWidth,
      info.padInfo.top,
      info.padInfo.left,
    );
    return dx;
  },
};
