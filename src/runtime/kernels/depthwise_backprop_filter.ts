import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  assertFloat32,
  depthwiseGeometry,
  depthwiseWasm,
  heapOffset,
  type DepthwiseAttrs,
} from './depthwise_util.js';

const NAME = 'DepthwiseConv2dNativeBackpropFilter';

/** dW of a depthwise conv, computed in place on the wasm heap by wasm/depthwise.c. */
function backpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: DepthwiseAttrs & { filterShape: number[] };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  assertFloat32(NAME, x, dy);
  const geo = depthwiseGeometry(NAME, x.shape, attrs.filterShape, dy.shape, attrs);
  const k = depthwiseWasm(backend);
  const dw = backend.makeOutput(attrs.filterShape, 'float32');
  const run = geo.multiplier === 1 ? k.backprop_filter : k.backprop_filter_mult;
  run(heapOffset(backend, x), heapOffset(backend, dy), heapOffset(backend, dw), ...geo.dims);
  return dw;
}

export const DepthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: NAME,
  backendName: 'wasm',
  kernelFunc: backpropFilter as unknown as KernelFunc,
};
