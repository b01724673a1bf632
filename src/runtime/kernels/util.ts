/**
 * Helpers for wasm kernels built out of the wasm backend's own kernels (XNNPACK conv, transpose,
 * slice). Kernels are called directly through the kernel registry, not through tf ops: the
 * engine then neither records them on the gradient tape nor counts their outputs as tensors, and
 * every intermediate is a bare TensorInfo that the caller must free with `disposeInfos`.
 */
import {
  backend_util,
  getKernel,
  type DataType,
  type KernelBackend,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convWasmBase64 } from './conv_wasm.js';
import { ensureGradients } from '../gradients.js';

export type { BackendWasm };

/** Runs `name` as registered for the wasm backend, on TensorInfos it already holds. */
export function runWasmKernel(
  backend: BackendWasm,
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const kernel = getKernel(name, 'wasm');
  if (!kernel) throw new Error(`wasm kernel ${name} is not registered`);
  const out = kernel.kernelFunc({ inputs, attrs, backend: backend as unknown as KernelBackend });
  if (Array.isArray(out)) throw new Error(`wasm kernel ${name} returned several outputs`);
  return out;
}

/** Same data, another row-major shape (a free reshape). Dispose the original, not the view. */
export function viewAs(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/** Allocates an uninitialised tensor on the wasm heap. */
export function allocate(backend: BackendWasm, shape: number[], dtype: DataType = 'float32'): TensorInfo {
  return backend.makeOutput(shape, dtype);
}

/**
 * Float32 view of a tensor in the wasm heap. Valid only until the next allocation (the heap may
 * grow and detach the buffer), so take it right before use.
 */
export function heapF32(backend: BackendWasm, t: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

export function disposeInfos(backend: BackendWasm, ...ts: (TensorInfo | undefined)[]): void {
  for (const t of ts) if (t) backend.disposeData(t.dataId);
}

export function transpose(backend: BackendWasm, t: TensorInfo, perm: number[]): TensorInfo {
  return runWasmKernel(backend, 'Transpose', { x: t }, { perm });
}

export function slice(backend: BackendWasm, t: TensorInfo, begin: number[], size: number[]): TensorInfo {
  return runWasmKernel(backend, 'Slice', { x: t }, { begin, size });
}

/** Throws for the conv attributes these kernels do not implement (NCHW, dilations > 1). */
export function checkConvAttrs(kernel: string, attrs: NamedAttrMap): void {
  const fmt = attrs.dataFormat as string | undefined;
  if (fmt !== undefined && fmt !== 'NHWC' && fmt !== 'channelsLast') {
    throw new Error(`${kernel} on wasm supports dataFormat NHWC only, got ${fmt}`);
  }
  const d = attrs.dilations as number | [number, number] | undefined;
  const ds = d === undefined ? [] : typeof d === 'number' ? [d] : d;
  if (ds.some((v) => v !== 1))
    throw new Error(`${kernel} on wasm supports dilations 1 only, got ${String(d)}`);
}

type Shape4 = [number, number, number, number];

/** Checks the attributes (checkConvAttrs) and decodes the conv geometry both conv gradients need. */
export function convGeometry(
  kernel: string,
  xShape: number[],
  filterShape: number[],
  attrs: NamedAttrMap,
): backend_util.Conv2DInfo {
  checkConvAttrs(kernel, attrs);
  return backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    attrs.strides as number | [number, number],
    1,
    attrs.pad as backend_util.ExplicitPadding | 'same' | 'valid',
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
}

/** tfjs-core's gradients (see runtime/gradients.ts); kept as the name the kernel tests use. */
export async function registerTfjsGradients(): Promise<void> {
  await ensureGradients();
}

/** Exports of wasm/conv.c (pointers are byte offsets in the backend heap). */
export interface ConvWasm {
  im2col_t(
    x: number,
    out: number,
    r0: number,
    r1: number,
    h: number,
    w: number,
    c: number,
    kh: number,
    kw: number,
    oh: number,
    ow: number,
    sh: number,
    sw: number,
    pt: number,
    pl: number,
  ): void;
  transpose_last2(src: number, dst: number, batch: number, rows: number, cols: number): void;
  scatter_phase(z: number, dx: number, ...dims: number[]): void;
  add_into(acc: number, part: number, count: number): void;
}

const SHADOW_STACK_BYTES = 64 * 1024;
const compiled = new Map<string, WebAssembly.Module>();
const instances = new WeakMap<WebAssembly.Memory, Map<string, WebAssembly.Exports>>();

/**
 * One of our wasm modules (wasm/NAME.c, embedded as base64) instantiated on the backend's own
 * memory (one instance per backend heap), so it reads and writes tensors in place. Its shadow
 * stack, should clang ever spill to one, is moved into a block malloc'ed from the backend instead
 * of the default low addresses the backend owns.
 */
export function wasmOnHeap<T>(backend: BackendWasm, name: string, base64: string): T {
  const mod = backend.wasm as unknown as {
    asm?: { memory?: WebAssembly.Memory };
    _malloc(n: number): number;
  };
  const memory = mod.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory))
    throw new Error(`${name} kernels: cannot reach the wasm backend memory`);
  let byName = instances.get(memory);
  if (!byName) instances.set(memory, (byName = new Map()));
  let inst = byName.get(name);
  if (!inst) {
    let module = compiled.get(name);
    if (!module) compiled.set(name, (module = new WebAssembly.Module(Buffer.from(base64, 'base64'))));
    ({ exports: inst } = new WebAssembly.Instance(module, { env: { memory } }));
    (inst.__stack_pointer as WebAssembly.Global).value = mod._malloc(SHADOW_STACK_BYTES) + SHADOW_STACK_BYTES;
    byName.set(name, inst);
  }
  return inst as unknown as T;
}

/** wasm/conv.c on the backend's heap. */
export function convWasm(backend: BackendWasm): ConvWasm {
  return wasmOnHeap<ConvWasm>(backend, 'conv', convWasmBase64);
}

/** Byte offset of a tensor's data in the backend heap. */
export function heapOffset(backend: BackendWasm, t: TensorInfo): number {
  const d = backend.dataIdMap.get(t.dataId);
  if (!d) throw new Error('conv kernels: tensor has no wasm data');
  return d.memoryOffset;
}
