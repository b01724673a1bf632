/**
 * dlib's conv-layer tail, y = act((z + bias) * scale + shift [+ residual]), as two wasm kernels,
 * forward and backward, run by backbones/affine_act.ts when the backend is wasm (other backends
 * keep the composite of tf ops, which these kernels are tested against). Arithmetic: wasm/affine.c.
 *
 *   ArcfaceAffineAct      {z, bias, scale, shift[, residual]}, {relu}  -> y
 *   ArcfaceAffineActGrad  {dy, z, y, bias, scale}, {relu, withResidual}
 *                         -> [dz, dbias, dscale, dshift[, dresidual]]
 */
import { getKernel, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, disposeInfos, heapOffset, wasmOnHeap, type BackendWasm } from './util.js';
import { affineWasmBase64 } from './affine_wasm.js';

export const AFFINE_ACT = 'ArcfaceAffineAct';
export const AFFINE_ACT_GRAD = 'ArcfaceAffineActGrad';

interface AffineWasm {
  affine_forward(...args: number[]): void;
  affine_backward(...args: number[]): void;
}

/** True when the kernels are registered for `backend` (the wasm backend after registerTrainingKernels). */
export function hasAffineKernels(backend: string): boolean {
  return getKernel(AFFINE_ACT, backend) !== undefined && getKernel(AFFINE_ACT_GRAD, backend) !== undefined;
}

function geometry(kernel: string, z: TensorInfo, vectors: Record<string, TensorInfo>) {
  if (z.shape.length < 2 || z.dtype !== 'float32')
    throw new Error(`${kernel}: needs float32 of rank >= 2, got ${z.dtype} [${z.shape}]`);
  const c = z.shape[z.shape.length - 1]!;
  for (const [name, v] of Object.entries(vectors))
    if (v.shape.length !== 1 || v.shape[0] !== c || v.dtype !== 'float32')
      throw new Error(`${kernel}: ${name} must be float32 [${c}], got ${v.dtype} [${v.shape}]`);
  return { m: c === 0 ? 0 : z.shape.reduce((p, d) => p * d, 1) / c, c };
}

function sameShape(kernel: string, z: TensorInfo, others: Record<string, TensorInfo | undefined>) {
  for (const [name, t] of Object.entries(others))
    if (t && (t.shape.join() !== z.shape.join() || t.dtype !== 'float32'))
      throw new Error(`${kernel}: ${name} must be float32 [${z.shape}], got ${t.dtype} [${t.shape}]`);
}

export const AffineActConfig: KernelConfig = {
  kernelName: AFFINE_ACT,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend: b, attrs }) => {
    const backend = b as unknown as BackendWasm;
    const { z, bias, scale, shift, residual } = inputs as Record<string, TensorInfo | undefined>;
    if (!z || !bias || !scale || !shift) throw new Error(`${AFFINE_ACT} needs z, bias, scale and shift`);
    const { m, c } = geometry(AFFINE_ACT, z, { bias, scale, shift });
    sameShape(AFFINE_ACT, z, { residual });
    const y = allocate(backend, z.shape);
    if (m > 0) {
      const off = (t: TensorInfo | undefined) => (t ? heapOffset(backend, t) : 0);
      wasmOnHeap<AffineWasm>(backend, 'affine', affineWasmBase64).affine_forward(
        off(z),
        off(residual),
        off(bias),
        off(scale),
        off(shift),
        off(y),
        m,
        c,
        attrs?.relu ? 1 : 0,
      );
    }
    return y;
  },
};

export const AffineActGradConfig: KernelConfig = {
  kernelName: AFFINE_ACT_GRAD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend: b, attrs }) => {
    const backend = b as unknown as BackendWasm;
    const { dy, z, y, bias, scale } = inputs as Record<string, TensorInfo | undefined>;
    if (!dy || !z || !y || !bias || !scale)
      throw new Error(`${AFFINE_ACT_GRAD} needs dy, z, y, bias and scale`);
    const { m, c } = geometry(AFFINE_ACT_GRAD, z, { bias, scale });
    sameShape(AFFINE_ACT_GRAD, z, { dy, y });
    const dz = allocate(backend, z.shape);
    const dr = attrs?.withResidual ? allocate(backend, z.shape) : undefined;
    const dbias = allocate(backend, [c]);
    const dscale = allocate(backend, [c]);
    const dshift = allocate(backend, [c]);
    const acc = allocate(backend, [4 * c]); // 2c doubles
    const off = (t: TensorInfo | undefined) => (t ? heapOffset(backend, t) : 0);
    wasmOnHeap<AffineWasm>(backend, 'affine', affineWasmBase64).affine_backward(
      off(dy),
      off(z),
      off(y),
      off(bias),
      off(scale),
      off(dz),
      off(dr),
      off(dbias),
      off(dscale),
      off(dshift),
      off(acc),
      m,
      c,
      attrs?.relu ? 1 : 0,
    );
    disposeInfos(backend, acc);
    return dr ? [dz, dbias, dscale, dshift, dr] : [dz, dbias, dscale, dshift];
  },
};
