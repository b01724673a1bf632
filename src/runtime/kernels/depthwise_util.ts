/**
 * Shared plumbing for the wasm depthwise-conv gradient kernels: the geometry both need and the
 * loader of wasm/depthwise.c, a module that runs on the backend's own linear memory.
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ArcfaceError } from '../../errors.js';
import { depthwiseWasmBase64 } from './depthwise_wasm.js';

type Kernel = (a: number, b: number, out: number, ...dims: number[]) => void;

export interface DepthwiseWasm {
  backprop_input: Kernel;
  backprop_filter: Kernel;
  /** dst[i] = sum_{j<m} src[i*m + j], i < count */
  sum_groups(src: number, dst: number, count: number, m: number): void;
  /** dst[i*m + j] = src[i] */
  repeat_each(src: number, dst: number, count: number, m: number): void;
}

/** The emscripten module fields we rely on (not in tfjs's typings). */
interface EmscriptenModule {
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
  _malloc(bytes: number): number;
}

const STACK_BYTES = 64 * 1024;
let compiled: WebAssembly.Module | undefined;
// One instance per backend memory: a re-created wasm backend gets a fresh heap.
const instances = new WeakMap<WebAssembly.Memory, DepthwiseWasm>();

export function depthwiseWasm(backend: BackendWasm): DepthwiseWasm {
  const mod = backend.wasm as unknown as EmscriptenModule;
  const memory = mod.asm?.memory ?? mod.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new ArcfaceError('BACKEND', 'depthwise gradients: cannot reach the wasm backend memory');
  }
  if (memory.buffer instanceof SharedArrayBuffer) {
    // The module imports a non-shared memory; the threaded backend build would need a second variant.
    throw new ArcfaceError(
      'BACKEND',
      'depthwise gradients: the multi-threaded wasm backend is not supported',
    );
  }
  let inst = instances.get(memory);
  if (!inst) {
    compiled ??= new WebAssembly.Module(Buffer.from(depthwiseWasmBase64, 'base64'));
    const { exports } = new WebAssembly.Instance(compiled, { env: { memory } });
    // The C code is built to need no shadow stack; should a rebuild ever spill, it must land in a
    // block we own rather than at address 64K of the backend's heap. Never freed: one per backend.
    const sp = exports.__stack_pointer as WebAssembly.Global;
    sp.value = mod._malloc(STACK_BYTES) + STACK_BYTES;
    inst = exports as unknown as DepthwiseWasm;
    instances.set(memory, inst);
  }
  return inst;
}

/** Byte offset of a tensor's data in the backend heap. */
export function heapOffset(backend: BackendWasm, t: TensorInfo): number {
  const offset = backend.dataIdMap.get(t.dataId)?.memoryOffset;
  if (offset == null) throw new ArcfaceError('BACKEND', 'depthwise gradients: tensor has no wasm data');
  return offset;
}

export interface DepthwiseAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Conv geometry, as ints in the order the C kernels take after their three pointers. */
export interface DepthwiseGeometry {
  info: backend_util.Conv2DInfo;
  multiplier: number;
  /**
   * n, h, w, c*m, kh, kw, oh, ow, sh, sw, padTop, padLeft: the m = 1 kernels' arguments, on c*m
   * channels when m > 1 (see wasm/depthwise.c's sum_groups).
   */
  dims: number[];
}

export function depthwiseGeometry(
  kernel: string,
  xShape: readonly number[],
  filterShape: readonly number[],
  dyShape: readonly number[],
  attrs: DepthwiseAttrs,
): DepthwiseGeometry {
  const dilations = attrs.dilations ?? 1;
  const [dh, dw] = typeof dilations === 'number' ? [dilations, dilations] : dilations;
  if (dh !== 1 || dw !== 1) {
    throw new ArcfaceError('BAD_CONFIG', `${kernel} on wasm: dilations must be 1, got [${dh}, ${dw}]`);
  }
  if (xShape.length !== 4 || filterShape.length !== 4 || dyShape.length !== 4) {
    throw new ArcfaceError('BAD_SHAPE', `${kernel} on wasm: expected rank-4 NHWC tensors`);
  }
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  // The C code trusts these shapes with raw heap offsets: a mismatch would corrupt the heap.
  if (filterShape[2] !== xShape[3]) {
    throw new ArcfaceError(
      'BAD_SHAPE',
      `${kernel} on wasm: filter in-channels ${filterShape[2]} != input channels ${xShape[3]}`,
    );
  }
  if (info.padInfo.top < 0 || info.padInfo.left < 0) {
    throw new ArcfaceError('BAD_CONFIG', `${kernel} on wasm: negative padding is not supported`);
  }
  if (info.outShape.some((d, i) => d !== dyShape[i])) {
    throw new ArcfaceError(
      'BAD_SHAPE',
      `${kernel} on wasm: dy shape [${dyShape.join(',')}] != conv output [${info.outShape.join(',')}]`,
    );
  }
  const m = info.outChannels / info.inChannels;
  const { batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth } = info;
  const { outHeight, outWidth, strideHeight, strideWidth, padInfo } = info;
  const dims = [batchSize, inHeight, inWidth, inChannels * m, filterHeight, filterWidth];
  dims.push(outHeight, outWidth, strideHeight, strideWidth, padInfo.top, padInfo.left);
  return { info, multiplier: m, dims };
}

export function assertFloat32(kernel: string, ...ts: TensorInfo[]): void {
  for (const t of ts) {
    if (t.dtype !== 'float32')
      throw new ArcfaceError('BAD_INPUT', `${kernel} on wasm: needs float32, got ${t.dtype}`);
  }
}
