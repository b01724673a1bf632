import type { KernelConfig } from '@tensorflow/tfjs-core';

/** Conv2DBackpropFilter for tfjs-backend-wasm (placeholder until implemented). */
export const Conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: () => {
    throw new Error('Conv2DBackpropFilter on wasm: not implemented yet');
  },
};
