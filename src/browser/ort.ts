/**
 * onnxruntime-web behind the interface the shared graph-running code takes (runtime/ort_api.ts).
 * The wasm files come from `arcface serve` (`wasmPaths`, /lib/ort/), never a CDN. Threads only where
 * the page is cross-origin isolated (SharedArrayBuffer); WebGPU only when asked for and the browser
 * has it, loaded then (a second, larger runtime), with wasm as the fallback for ops it lacks.
 */
import * as ortWasm from 'onnxruntime-web/wasm';
import { badInput } from '../errors.js';
import { notUsable, type OrtApi } from '../runtime/ort_api.js';

export type Backend = 'wasm' | 'webgpu';

export interface WebOrtOptions {
  /** Where the onnxruntime-web .wasm files are served (a URL ending in /). */
  wasmPaths: string;
  /** 'wasm' (default) or 'webgpu'. */
  backend?: Backend;
  /** wasm threads (default: up to 4 when cross-origin isolated; always 1 otherwise); the first call's hold. */
  threads?: number;
}

export interface WebOrt extends OrtApi {
  readonly backend: Backend;
  readonly threads: number;
}

type OrtWeb = typeof ortWasm;

/** The threads onnxruntime-web can use on this page. */
export function usableThreads(asked?: number): number {
  if (asked !== undefined && !(Number.isInteger(asked) && asked >= 1))
    throw badInput(`threads must be a positive integer, got ${asked}`);
  if (!globalThis.crossOriginIsolated) return 1; // no SharedArrayBuffer: one thread
  return asked ?? Math.max(1, Math.min(4, globalThis.navigator?.hardwareConcurrency ?? 1));
}

/** The GPU a WebGPU session would run on, if the browser gives one. */
async function gpuAdapter(): Promise<unknown> {
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)?.gpu;
  if (!gpu) throw badInput('backend webgpu: this browser has no WebGPU (navigator.gpu); use wasm');
  return gpu.requestAdapter().catch(() => null);
}

/** The threads each runtime was started with: they are fixed when its wasm first loads. */
const started = new Map<OrtWeb, number>();
/** The WebGPU session being created, if any: the next waits for it (see open()). */
let webgpuOpening: Promise<void> = Promise.resolve();

export async function webOrt(opts: WebOrtOptions): Promise<WebOrt> {
  const backend = opts.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'webgpu')
    throw badInput(`backend "${backend as string}": use wasm or webgpu`);
  // onnxruntime-web would quietly drop the WebGPU provider and run on wasm: say so instead.
  if (backend === 'webgpu' && !(await gpuAdapter()))
    throw badInput(
      'backend webgpu: the browser gives no GPU adapter (navigator.gpu.requestAdapter()); use wasm',
    );
  const ort: OrtWeb = backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : ortWasm;
  const asked = usableThreads(opts.threads);
  const threads = started.get(ort) ?? asked;
  if (!started.has(ort)) {
    started.set(ort, threads);
    ort.env.wasm.wasmPaths = opts.wasmPaths;
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'error';
  }
  const executionProviders = backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'];
  const create = async (model: { bytes: Uint8Array; name: string }) => {
    try {
      return await ort.InferenceSession.create(model.bytes, {
        executionProviders,
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
    } catch (err) {
      throw notUsable(model.name, err);
    }
  };
  return {
    backend,
    threads,
    Tensor: ort.Tensor,
    // onnxruntime-web's WebGPU provider refuses a session while another is being created ("another
    // WebGPU EP inference session is being created", bench/results/browser_speed.md): one at a time.
    open: (model) => {
      if (backend !== 'webgpu') return create(model);
      const made = webgpuOpening.then(() => create(model));
      webgpuOpening = made.then(
        () => undefined,
        () => undefined,
      );
      return made;
    },
  };
}
