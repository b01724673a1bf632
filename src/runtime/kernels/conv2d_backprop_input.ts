/**
 * Conv2DBackpropInput (dx of a conv) for the wasm backend, on the backend's XNNPACK Conv2D.
 *
 * Forward: y[oh] = sum_kh xpad[oh*s + kh] W[kh]  (per axis; xpad = x shifted by padTop).
 * So dxpad[u] = sum over (oh, kh) with oh*s + kh = u of dy[oh] W[kh]. Split u = s*a + r
 * (sub-pixel / polyphase identity): kh = r + s*j, oh = a - j, hence
 *   Z_r[a] = sum_{j<J_r} dy[a - j] W[r + s*j],  J_r = ceil((K - r) / s),
 * a stride-1 correlation of dy with the J_r-tap filter G_r[j'] = W[r + s*(J_r-1-j')] (rotated
 * 180°, in/out channels swapped). Each of the s*s phases is its own conv with its own tap count
 * (for K = 3, s = 2: 2x2, 2x1, 1x2 and 1x1, the 9 taps of the filter and no zero tap; a 1x1
 * stride-2 projection has one phase and leaves the other three zero), written into dx at
 * u = s*a + r - padTop by one pass of wasm/conv.c. A dilated dy would multiply 3/4 zeros; the
 * earlier phase-combined filter (all phases as one 2x2 conv) still spent 7 of its 16 taps on them.
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

/** Geometry of phase r along one axis. */
interface PhasePlan {
  taps: number; // J_r (0: this phase of dx is all zeros)
  padBefore: number; // conv padding of dy (>= 0)
  padAfter: number;
  rows: number; // conv output length
  first: number; // first conv output row that lands in dx
  dst: number; // its dx index
  count: number; // dx samples of this phase
}

function planPhase(
  inLen: number,
  outLen: number,
  k: number,
  s: number,
  padTop: number,
  r: number,
): PhasePlan {
  const taps = Math.max(Math.ceil((k - r) / s), 0);
  const aLo = Math.max(Math.ceil((padTop - r) / s), 0); // first block whose u = s*a + r >= padTop
  const aHi = Math.floor((padTop + inLen - 1 - r) / s); // last one inside dx
  const count = Math.max(aHi - aLo + 1, 0);
  const dst = s * aLo + r - padTop;
  if (taps === 0 || count === 0) return { taps, padBefore: 0, padAfter: 0, rows: 0, first: 0, dst, count };
  const padBefore = Math.max(taps - 1 - aLo, 0);
  const padAfter = Math.max(aHi - (outLen - 1), 0);
  const rows = outLen + padBefore + padAfter - taps + 1;
  const aStart = taps - 1 - padBefore; // block index of conv output row 0
  return { taps, padBefore, padAfter, rows, first: aLo - aStart, dst, count };
}

/** G[jh, jw, co, ci] = W[rh + sh*(Jh-1-jh), rw + sw*(Jw-1-jw), ci, co]. */
function phaseFilter(
  backend: BackendWasm,
  filter: TensorInfo,
  sh: number,
  sw: number,
  rh: number,
  rw: number,
  th: number,
  tw: number,
): TensorInfo {
  const [, kw, ci, co] = filter.shape;
  const g = allocate(backend, [th, tw, co, ci]);
  const src = heapF32(backend, filter);
  const dst = heapF32(backend, g);
  for (let jh = 0; jh < th; jh++) {
    const fh = rh + sh * (th - 1 - jh);
    for (let jw = 0; jw < tw; jw++) {
      const fw = rw + sw * (tw - 1 - jw);
      const srcBase = (fh * kw + fw) * ci * co;
      const dstBase = (jh * tw + jw) * co * ci;
      for (let c = 0; c < ci; c++) {
        for (let o = 0; o < co; o++) dst[dstBase + o * ci + c] = src[srcBase + c * co + o];
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
  const { strideHeight: sh, strideWidth: sw } = info;
  const plans: [PhasePlan, PhasePlan][] = [];
  for (let rh = 0; rh < sh; rh++) {
    const ph = planPhase(inH, info.outHeight, info.filterHeight, sh, info.padInfo.top, rh);
    for (let rw = 0; rw < sw; rw++)
      plans.push([ph, planPhase(inW, info.outWidth, info.filterWidth, sw, info.padInfo.left, rw)]);
  }

  const temps: TensorInfo[] = [];
  let dx: TensorInfo | undefined;
  try {
    for (const [i, [h, w]] of plans.entries()) {
      if (h.count === 0 || w.count === 0) continue;
      if (!dx && sh * sw > 1) dx = allocate(backend, inputShape);
      if (h.taps === 0 || w.taps === 0) continue; // zeros, filled below
      const g = phaseFilter(backend, filter, sh, sw, Math.floor(i / sw), i % sw, h.taps, w.taps);
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
      temps.push(z);
      // Stride 1: z is dx when no row or column falls outside it.
      if (!dx && h.first === 0 && w.first === 0 && h.rows === inH && w.rows === inW) {
        temps.pop();
        return viewAs(z, inputShape);
      }
      dx ??= allocate(backend, inputShape);
      convWasm(backend).scatter_phase(
        heapOffset(backend, z),
        heapOffset(backend, dx),
        n,
        h.rows,
        w.rows,
        ci,
        inH,
        inW,
        sh,
        sw,
        h.dst,
        w.dst,
        h.count,
        w.count,
        h.first,
        w.first,
      );
      disposeInfos(backend, ...temps.splice(0));
    }
    dx ??= allocate(backend, inputShape);
    if (plans.some(([h, w]) => h.count > 0 && w.count > 0 && (h.taps === 0 || w.taps === 0)))
      zeroPhases(backend, dx, plans, sh, sw);
    const out = dx;
    dx = undefined;
    return out;
  } finally {
    disposeInfos(backend, dx, ...temps);
  }
}

/** Zeros the dx samples of phases no filter tap reaches (K < s, as a 1x1 stride-2 projection). */
function zeroPhases(
  backend: BackendWasm,
  dx: TensorInfo,
  plans: [PhasePlan, PhasePlan][],
  sh: number,
  sw: number,
): void {
  const [n, hh, ww, c] = dx.shape;
  const d = heapF32(backend, dx);
  for (const [h, w] of plans) {
    if (h.count === 0 || w.count === 0 || (h.taps > 0 && w.taps > 0)) continue;
    for (let b = 0; b < n; b++)
      for (let i = 0; i < h.count; i++)
        for (let j = 0; j < w.count; j++) {
          const at = ((b * hh + h.dst + sh * i) * ww + w.dst + sw * j) * c;
          d.fill(0, at, at + c);
        }
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
