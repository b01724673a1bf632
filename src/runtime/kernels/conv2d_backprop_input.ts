import type { KernelConfig } from '@tensorflow/tfjs-core';

/** Conv2DBackpropInput for tfjs-backend-wasm (placeholder until implemented). */
export const Conv2DBackpropInputConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: () => {
    throw new Error('Conv2DBackpropInput on wasm: not implemented yet');
  },
};
