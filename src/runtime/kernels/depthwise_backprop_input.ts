import type { KernelConfig } from '@tensorflow/tfjs-core';

/** DepthwiseConv2dNativeBackpropInput for tfjs-backend-wasm (placeholder until implemented). */
export const DepthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: () => {
    throw new Error('DepthwiseConv2dNativeBackpropInput on wasm: not implemented yet');
  },
};
