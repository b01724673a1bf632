/**
 * Conv2DBackpropFilter (dW of a conv) for the wasm backend: a transposed im2col plus one GEMM on
 * the backend's XNNPACK BatchMatMul.
 *
 *   dW[kh, kw, ci, co] = sum_{n, oh, ow} xpad[n, oh*s + kh, ow*s + kw, ci] dy[n, oh, ow, co]
 *                      = (A * dy)[(kh, kw, ci), co],  A[(kh, kw, ci), p] = xpad[.. p ..],
 * with p = (n, oh, ow) and dy read as [P, Co]: the GEMM output is dW in its own layout. A is
 * built by wasm/conv.c; it holds KH*KW copies of x, so large batches run in chunks of images
 * whose partial products are summed (dW is linear in the batch).
 */
import { type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import {
  allocate,
  convGeometry,
  convWasm,
  disposeInfos,
  heapOffset,
  runWasmKernel,
  slice,
  viewAs,
  type BackendWasm,
} from './util.js';

/** Upper bound for one chunk's im2col buffer (bytes); tests lower it to exercise chunking. */
let im2colBytes = 256 * 1024 * 1024;

export function setIm2colBudget(bytes: number): number {
  const old = im2colBytes;
  im2colBytes = bytes;
  return old;
}

export function conv2dBackpropFilterWasm(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: NamedAttrMap,
): TensorInfo {
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = convGeometry('Conv2DBackpropFilter', x.shape, filterShape, attrs);
  const [n, h, w, c] = x.shape;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const co = filterShape[3];
  const rows = kh * kw * c;
  const perImage = oh * ow;
  const chunk = Math.max(1, Math.min(n, Math.floor(im2colBytes / (4 * rows * perImage))));
  const wasm = convWasm(backend);

  let acc: TensorInfo | undefined;
  const temps: TensorInfo[] = [];
  try {
    for (let b0 = 0; b0 < n; b0 += chunk) {
      const nb = Math.min(chunk, n - b0);
      const a = allocate(backend, [rows, nb * perImage]);
      temps.push(a);
      const xOff = heapOffset(backend, x) + 4 * b0 * h * w * c;
      wasm.im2col_t(
        xOff,
        heapOffset(backend, a),
        nb,
        h,
        w,
        c,
        kh,
        kw,
        oh,
        ow,
        info.strideHeight,
        info.strideWidth,
        info.padInfo.top,
        info.padInfo.left,
      );
      let dyc = dy;
      if (nb !== n) {
        dyc = slice(backend, viewAs(dy, [n, perImage * co]), [b0, 0], [nb, perImage * co]);
        temps.push(dyc);
      }
      const part = runWasmKernel(
        backend,
        'BatchMatMul',
        { a, b: viewAs(dyc, [nb * perImage, co]) },
        { transposeA: false, transposeB: false },
      );
      disposeInfos(backend, ...temps.splice(0));
      if (!acc) acc = part;
      else {
        const sum = runWasmKernel(backend, 'Add', { a: acc, b: part });
        disposeInfos(backend, acc, part);
        acc = sum;
      }
    }
    if (!acc) throw new Error('Conv2DBackpropFilter: empty batch');
    const out = viewAs(acc, filterShape);
    acc = undefined;
    return out;
  } finally {
    disposeInfos(backend, acc, ...temps);
  }
}

export const Conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs;
    if (!x || !dy) throw new Error('Conv2DBackpropFilter needs inputs x and dy');
    return conv2dBackpropFilterWasm(backend as unknown as BackendWasm, x, dy, attrs ?? {});
  },
};
