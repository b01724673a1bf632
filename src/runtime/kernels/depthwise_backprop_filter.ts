import { util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
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
  const m = geo.multiplier;
  // Multiplier m: x with each channel repeated m times lines up with dy's C*m channels.
  let xm = x;
  if (m > 1) {
    xm = backend.makeOutput([...x.shape.slice(0, 3), geo.dims[3]], 'float32');
    k.repeat_each(heapOffset(backend, x), heapOffset(backend, xm), util.sizeFromShape(x.shape), m);
  }
  k.backprop_filter(heapOffset(backend, xm), heapOffset(backend, dy), heapOffset(backend, dw), ...geo.dims);
  if (xm !== x) backend.disposeData(xm.dataId);
  return dw;
}

export const DepthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: NAME,
  backendName: 'wasm',
  kernelFunc: backpropFilter as unknown as KernelFunc,
};
