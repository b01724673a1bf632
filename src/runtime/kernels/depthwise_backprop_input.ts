import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  assertFloat32,
  depthwiseGeometry,
  depthwiseWasm,
  heapOffset,
  type DepthwiseAttrs,
} from './depthwise_util.js';

const NAME = 'DepthwiseConv2dNativeBackpropInput';

/** dx of a depthwise conv, computed in place on the wasm heap by wasm/depthwise.c. */
function backpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: BackendWasm;
  attrs: DepthwiseAttrs & { inputShape: number[] };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  assertFloat32(NAME, dy, filter);
  const geo = depthwiseGeometry(NAME, attrs.inputShape, filter.shape, dy.shape, attrs);
  const k = depthwiseWasm(backend);
  const dx = backend.makeOutput(geo.info.inShape, 'float32');
  // Offsets are read after makeOutput, which may grow (not move) the heap.
  const run = geo.multiplier === 1 ? k.backprop_input : k.backprop_input_mult;
  run(heapOffset(backend, dy), heapOffset(backend, filter), heapOffset(backend, dx), ...geo.dims);
  return dx;
}

export const DepthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: NAME,
  backendName: 'wasm',
  kernelFunc: backpropInput as unknown as KernelFunc,
};
