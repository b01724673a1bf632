/**
 * Conv2DBackpropInput (dx of a conv) for the wasm backend, on the backend's XNNPACK Conv2D.
 *
 * Forward: y[oh] = sum_kh xpad[oh*s + kh] W[kh]  (per axis; xpad = x shifted by padTop).
 * So dxpad[u] = sum over (oh, kh) with oh*s + kh = u of dy[oh] W[kh]. Split u = s*a + r
 * (sub-pixel / polyphase identity): kh = r + s*j, oh = a - j, hence
 *   Z[a, r] = sum_{j<J} dy[a - j] W[r + s*j],  J = ceil(K / s),
 * a stride-1 correlation of dy with the J-tap filter G[j'] = W[r + s*(J-1-j')] (rotated 180°,
 * in/out channels swapped), computed for all s*s phases at once as s*s*Ci output channels.
 * A depth-to-space shuffle puts phase r at u = s*a + r, keeping u in [padTop, padTop + H) (one
 * pass of wasm/conv.c). No work is spent on the zeros a dilated dy would hold; for s = 2
 * and K = 3 the combined filter is 2x2 with 16 taps per phase quad instead of 9 (zero taps).
 */
import { backend_util, type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import {
  allocate,
  convGeometry,
  convWasm,
  disposeInfos,
  heapF32,
  heapOffset,
  runWasmKernel,
  viewAs,
  type BackendWasm,
} from './util.js';

/** Per-axis geometry of the phase-combined correlation. */
interface AxisPlan {
  s: number; // stride
  taps: number; // J = ceil(K / s)
  padBefore: number; // conv padding of dy (>= 0)
  padAfter: number;
  rows: number; // conv output length (phase blocks)
  crop: number; // first wanted sample of the shuffled output, padTop - s*aStart
}

function planAxis(inLen: number, outLen: number, k: number, s: number, padTop: number): AxisPlan {
  const taps = Math.ceil(k / s);
  const a0 = Math.floor(padTop / s); // first phase block that holds a wanted sample
  const a1 = Math.floor((padTop + inLen - 1) / s); // last one
  const padBefore = Math.max(taps - 1 - a0, 0);
  const padAfter = Math.max(a1 - (outLen - 1), 0);
  const rows = outLen + padBefore + padAfter - taps + 1;
  const aStart = taps - 1 - padBefore; // block index of conv output row 0
  return { s, taps, padBefore, padAfter, rows, crop: padTop - s * aStart };
}

/** G[jh, jw, co, (rh*sw + rw)*Ci + ci] = W[rh + sh*(Jh-1-jh), rw + sw*(Jw-1-jw), ci, co], else 0. */
function phaseFilter(backend: BackendWasm, filter: TensorInfo, h: AxisPlan, w: AxisPlan): TensorInfo {
  const [kh, kw, ci, co] = filter.shape;
  const phases = h.s * w.s;
  const g = allocate(backend, [h.taps, w.taps, co, phases * ci]);
  const src = heapF32(backend, filter);
  const dst = heapF32(backend, g);
  dst.fill(0);
  for (let jh = 0; jh < h.taps; jh++) {
    for (let rh = 0; rh < h.s; rh++) {
      const fh = rh + h.s * (h.taps - 1 - jh);
      if (fh >= kh) continue;
      for (let jw = 0; jw < w.taps; jw++) {
        for (let rw = 0; rw < w.s; rw++) {
          const fw = rw + w.s * (w.taps - 1 - jw);
          if (fw >= kw) continue;
          const srcBase = (fh * kw + fw) * ci * co;
          const dstBase = (jh * w.taps + jw) * co * phases * ci + (rh * w.s + rw) * ci;
          for (let c = 0; c < ci; c++) {
            for (let o = 0; o < co; o++) dst[dstBase + o * phases * ci + c] = src[srcBase + c * co + o];
          }
        }
      }
    }
  }
  return g;
}

export function conv2dBackpropInputWasm(
  backend: BackendWasm,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: NamedAttrMap,
): TensorInfo {
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = convGeometry('Conv2DBackpropInput', inputShape, filter.shape, attrs);
  const [n, inH, inW, ci] = inputShape;
  const h = planAxis(inH, info.outHeight, info.filterHeight, info.strideHeight, info.padInfo.top);
  const w = planAxis(inW, info.outWidth, info.filterWidth, info.strideWidth, info.padInfo.left);

  const temps: TensorInfo[] = [];
  try {
    const g = phaseFilter(backend, filter, h, w);
    temps.push(g);
    const pad: backend_util.ExplicitPadding = [
      [0, 0],
      [h.padBefore, h.padAfter],
      [w.padBefore, w.padAfter],
      [0, 0],
    ];
    const z = runWasmKernel(
      backend,
      'Conv2D',
      { x: dy, filter: g },
      { strides: 1, dilations: 1, pad, dataFormat: 'NHWC' },
    );
    if (h.s === 1 && w.s === 1 && h.crop === 0 && w.crop === 0 && h.rows === inH && w.rows === inW)
      return viewAs(z, inputShape);
    // Phase r of block a goes to u = s*a + r, then the crop: one pass (wasm/conv.c).
    temps.push(z);
    const dx = allocate(backend, inputShape);
    convWasm(backend).depth_to_space_crop(
      heapOffset(backend, z),
      heapOffset(backend, dx),
      n,
      h.rows,
      w.rows,
      h.s,
      w.s,
      ci,
      inH,
      inW,
      h.crop,
      w.crop,
    );
    return dx;
  } finally {
    disposeInfos(backend, ...temps);
  }
}

export const Conv2DBackpropInputConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs;
    if (!dy || !filter) throw new Error('Conv2DBackpropInput needs inputs dy and filter');
    return conv2dBackpropInputWasm(backend as unknown as BackendWasm, dy, filter, attrs ?? {});
  },
};
