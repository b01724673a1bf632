/**
 * Conv2DBackpropFilter (dW of a conv) for the wasm backend, on the backend's XNNPACK Conv2D.
 *
 * dW[kh, kw, ci, co] = sum_{n, oh, ow} xpad[n, oh*s + kh, ow*s + kw, ci] dy[n, oh, ow, co].
 * Read with ci as the batch, n as the input channel and dy as the filter, this is itself a conv:
 *   x' = x as [Ci, H, W, N],  f' = dy as [OH, OW, N, Co],  dilation = stride, stride 1,
 *   out[ci, kh, kw, co] = sum_{oh, ow, n} x'pad[ci, kh + s*oh, kw + s*ow, n] f'[oh, ow, n, co],
 * whose output [Ci, KH, KW, Co] is dW up to a cheap (filter-sized) transpose.
 */
import { backend_util, type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { checkConvAttrs, disposeInfos, runWasmKernel, slice, transpose, viewAs, type BackendWasm } from './util.js';

export function conv2dBackpropFilterWasm(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: NamedAttrMap,
): TensorInfo {
  checkConvAttrs('Conv2DBackpropFilter', attrs);
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    attrs.strides as number | [number, number],
    1,
    attrs.pad as backend_util.ExplicitPadding | 'same' | 'valid',
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const [n, inH, inW, ci] = x.shape;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const co = filterShape[3];
  // Padding after is whatever makes the output exactly K long; when negative (rows the forward
  // conv never read), pad 0 and drop the surplus output rows instead.
  const afterH = kh + (oh - 1) * sh - inH - info.padInfo.top;
  const afterW = kw + (ow - 1) * sw - inW - info.padInfo.left;
  const outKh = kh + Math.max(-afterH, 0);
  const outKw = kw + Math.max(-afterW, 0);

  const temps: TensorInfo[] = [];
  try {
    const xt = transpose(backend, viewAs(x, [n, inH * inW, ci]), [2, 1, 0]);
    temps.push(xt);
    const dyt = transpose(backend, viewAs(dy, [n, oh * ow, co]), [1, 0, 2]);
    temps.push(dyt);
    const pad: backend_util.ExplicitPadding = [
      [0, 0],
      [info.padInfo.top, Math.max(afterH, 0)],
      [info.padInfo.left, Math.max(afterW, 0)],
      [0, 0],
    ];
    let out = runWasmKernel(
      backend,
      'Conv2D',
      { x: viewAs(xt, [ci, inH, inW, n]), filter: viewAs(dyt, [oh, ow, n, co]) },
      { strides: 1, dilations: [sh, sw], pad, dataFormat: 'NHWC' },
    );
    if (outKh !== kh || outKw !== kw) {
      temps.push(out);
      out = slice(backend, out, [0, 0, 0, 0], [ci, kh, kw, co]);
    }
    temps.push(out);
    // [Ci, KH*KW, Co] -> [KH*KW, Ci, Co]
    return viewAs(transpose(backend, viewAs(out, [ci, kh * kw, co]), [1, 0, 2]), filterShape);
  } finally {
    disposeInfos(backend, ...temps);
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
