/**
 * Training-mode batch norm (+ the PReLU after it) as two wasm kernels, forward and backward, run
 * by backbones/layers.ts's fusedBatchNorm when the backend is wasm (other backends keep the
 * composite of tf ops, which these kernels are tested against). The arithmetic is wasm/bn.c's.
 *
 *   ArcfaceBatchNormTrain      {x, gamma, beta[, alpha]}, {epsilon}
 *                              -> [z, xhat, mean, variance (biased), invStd]
 *   ArcfaceBatchNormTrainGrad  {dz, xhat, gamma, beta, invStd[, alpha]}
 *                              -> [dx, dGamma, dBeta[, dAlpha]]
 * x is any rank >= 2 with channels last (NHWC, or [N, C] for BatchNorm1d).
 */
import { getKernel, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, disposeInfos, heapOffset, wasmOnHeap, type BackendWasm } from './util.js';
import { bnWasmBase64 } from './bn_wasm.js';

export const BN_TRAIN = 'ArcfaceBatchNormTrain';
export const BN_TRAIN_GRAD = 'ArcfaceBatchNormTrainGrad';

interface BnWasm {
  bn_forward(...args: number[]): void;
  bn_backward(...args: number[]): void;
}

/** True when the kernels are registered for `backend` (the wasm backend after registerTrainingKernels). */
export function hasBatchNormKernels(backend: string): boolean {
  return getKernel(BN_TRAIN, backend) !== undefined && getKernel(BN_TRAIN_GRAD, backend) !== undefined;
}

function rows(x: TensorInfo): { m: number; c: number } {
  if (x.shape.length < 2) throw new Error(`${BN_TRAIN}: needs rank >= 2, got [${x.shape}]`);
  const c = x.shape[x.shape.length - 1];
  return { m: x.shape.reduce((p, d) => p * d, 1) / c, c };
}

function checkVectors(kernel: string, c: number, vs: Record<string, TensorInfo | undefined>): void {
  for (const [name, v] of Object.entries(vs)) {
    if (v && (v.shape.length !== 1 || v.shape[0] !== c))
      throw new Error(`${kernel}: ${name} must have shape [${c}], got [${v.shape}]`);
    if (v && v.dtype !== 'float32') throw new Error(`${kernel}: ${name} must be float32`);
  }
}

export const BatchNormTrainConfig: KernelConfig = {
  kernelName: BN_TRAIN,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend: b, attrs }) => {
    const backend = b as unknown as BackendWasm;
    const { x, gamma, beta, alpha } = inputs as Record<string, TensorInfo | undefined>;
    if (!x || !gamma || !beta) throw new Error(`${BN_TRAIN} needs x, gamma and beta`);
    const { m, c } = rows(x);
    checkVectors(BN_TRAIN, c, { x: undefined, gamma, beta, alpha });
    const z = allocate(backend, x.shape);
    const xhat = allocate(backend, x.shape);
    const mean = allocate(backend, [c]);
    const variance = allocate(backend, [c]);
    const invStd = allocate(backend, [c]);
    const scratch = allocate(backend, [2 * c]); // c doubles
    if (m > 0 && c > 0) {
      const off = (t: TensorInfo | undefined) => (t ? heapOffset(backend, t) : 0);
      wasmOnHeap<BnWasm>(backend, 'bn', bnWasmBase64).bn_forward(
        off(x),
        off(gamma),
        off(beta),
        off(alpha),
        off(z),
        off(xhat),
        off(mean),
        off(variance),
        off(invStd),
        off(scratch),
        m,
        c,
        (attrs?.epsilon as number) ?? 1e-5,
      );
    }
    disposeInfos(backend, scratch);
    return [z, xhat, mean, variance, invStd];
  },
};

export const BatchNormTrainGradConfig: KernelConfig = {
  kernelName: BN_TRAIN_GRAD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend: b }) => {
    const backend = b as unknown as BackendWasm;
    const { dz, xhat, gamma, beta, invStd, alpha } = inputs as Record<string, TensorInfo | undefined>;
    if (!dz || !xhat || !gamma || !beta || !invStd)
      throw new Error(`${BN_TRAIN_GRAD} needs dz, xhat, gamma, beta and invStd`);
    if (dz.shape.join() !== xhat.shape.join())
      throw new Error(`${BN_TRAIN_GRAD}: dz [${dz.shape}] and xhat [${xhat.shape}] differ`);
    const { m, c } = rows(xhat);
    checkVectors(BN_TRAIN_GRAD, c, { gamma, beta, invStd, alpha });
    const dx = allocate(backend, xhat.shape);
    const dGamma = allocate(backend, [c]);
    const dBeta = allocate(backend, [c]);
    const dAlpha = alpha ? allocate(backend, [c]) : undefined;
    const scratch = allocate(backend, [9 * c]); // 3c doubles, then 3c floats
    const off = (t: TensorInfo | undefined) => (t ? heapOffset(backend, t) : 0);
    if (m > 0 && c > 0) {
      wasmOnHeap<BnWasm>(backend, 'bn', bnWasmBase64).bn_backward(
        off(dz),
        off(xhat),
        off(gamma),
        off(beta),
        off(alpha),
        off(invStd),
        off(dx),
        off(dGamma),
        off(dBeta),
        off(dAlpha),
        off(scratch),
        m,
        c,
      );
    }
    disposeInfos(backend, scratch);
    return dAlpha ? [dx, dGamma, dBeta, dAlpha] : [dx, dGamma, dBeta];
  },
};
