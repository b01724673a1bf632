/**
 * Identity without a copy for the wasm backend. The engine clones (runs Identity on) every tensor
 * it saves for a gradient, and the backend's Identity copies the data: in a MobileFaceNet step
 * that was a full copy of every saved activation. Tensor data is immutable, so sharing it, with
 * the reference count the backend already keeps (its Reshape does the same), is enough.
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from './util.js';

export const IdentityConfig: KernelConfig = {
  kernelName: 'Identity',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const x = inputs.x as TensorInfo;
    (backend as unknown as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  },
};
