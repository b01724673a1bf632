/**
 * BatchMatMul and _FusedMatMul on wasm with transposed operands. The backend runs
 * transposeA/transposeB through a slow path (measured here: x W^T for 128x512 by 10000x512
 * 388 ms and G^T x 812 ms, against 50 ms for the plain product), and every dense layer's
 * gradient asks for one of them. So a transposed operand is first materialised by a SIMD
 * transpose (wasm/conv.c transpose_last2, a few ms for 20 MB) and the backend's own kernel then
 * runs on plain operands. Plain calls go straight through.
 */
import { getKernel, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { allocate, convWasm, disposeInfos, heapOffset, type BackendWasm } from './util.js';

function transposeLast2(backend: BackendWasm, t: TensorInfo): TensorInfo {
  const shape = t.shape;
  const rows = shape[shape.length - 2];
  const cols = shape[shape.length - 1];
  const batch = shape.slice(0, -2).reduce((p, v) => p * v, 1);
  const out = allocate(backend, [...shape.slice(0, -2), cols, rows], t.dtype);
  if (rows * cols * batch > 0) {
    convWasm(backend).transpose_last2(heapOffset(backend, t), heapOffset(backend, out), batch, rows, cols);
  }
  return out;
}

/** Wraps the backend's registered `name` kernel; call after tfjs-backend-wasm registered its own. */
export function plainOperandMatMul(name: 'BatchMatMul' | '_FusedMatMul'): KernelConfig | undefined {
  const original = getKernel(name, 'wasm');
  if (!original) return undefined;
  const inner = original.kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const { transposeA, transposeB } = args.attrs as { transposeA?: boolean; transposeB?: boolean };
    if (!transposeA && !transposeB) return inner(args);
    const backend = args.backend as unknown as BackendWasm;
    const a = args.inputs.a as TensorInfo;
    const b = args.inputs.b as TensorInfo;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return inner(args);
    const at = transposeA ? transposeLast2(backend, a) : a;
    const bt = transposeB ? transposeLast2(backend, b) : b;
    try {
      return inner({
        ...args,
        inputs: { ...args.inputs, a: at, b: bt },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
    } finally {
      disposeInfos(backend, transposeA ? at : undefined, transposeB ? bt : undefined);
    }
  };
  return {
    kernelName: name,
    backendName: 'wasm',
    kernelFunc,
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
  };
}
