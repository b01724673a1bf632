import type { KernelConfig } from '@tensorflow/tfjs-core';

/** DepthwiseConv2dNativeBackpropFilter for tfjs-backend-wasm (placeholder until implemented). */
export const DepthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: () => {
    throw new Error('DepthwiseConv2dNativeBackpropFilter on wasm: not implemented yet');
  },
};
