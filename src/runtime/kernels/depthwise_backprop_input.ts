import { util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
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
  const m = geo.multiplier;
  // Multiplier m: one partial per output channel ([.., C*m]), then summed per input channel.
  const part = m === 1 ? dx : backend.makeOutput([...geo.info.inShape.slice(0, 3), geo.dims[3]], 'float32');
  // Offsets are read after makeOutput, which may grow (not move) the heap.
  k.backprop_input(
    heapOffset(backend, dy),
    heapOffset(backend, filter),
    heapOffset(backend, part),
    ...geo.dims,
  );
  if (part !== dx) {
    k.sum_groups(heapOffset(backend, part), heapOffset(backend, dx), util.sizeFromShape(geo.info.inShape), m);
    backend.disposeData(part.dataId);
  }
  return dx;
}

export const DepthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: NAME,
  backendName: 'wasm',
  kernelFunc: backpropInput as unknown as KernelFunc,
};
