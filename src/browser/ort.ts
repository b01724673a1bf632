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
  /** wasm threads (default: up to 4 when cross-origin isolated; always 1 otherwise). */
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

export async function webOrt(opts: WebOrtOptions): Promise<WebOrt> {
  const backend = opts.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'webgpu')
    throw badInput(`backend "${backend as string}": use wasm or webgpu`);
  if (backend === 'webgpu' && !(globalThis.navigator && 'gpu' in globalThis.navigator))
    throw badInput('backend webgpu: this browser has no WebGPU (navigator.gpu); use wasm');
  const ort: OrtWeb = backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : ortWasm;
  const threads = usableThreads(opts.threads);
  // Global to each runtime, read when its wasm is first loaded: the first recogniser's settings hold.
  ort.env.wasm.wasmPaths = opts.wasmPaths;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  const executionProviders = backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'];
  return {
    backend,
    threads,
    Tensor: ort.Tensor,
    async open(model) {
      try {
        return await ort.InferenceSession.create(model.bytes, {
          executionProviders,
          graphOptimizationLevel: 'all',
          logSeverityLevel: 3,
        });
      } catch (err) {
        throw notUsable(model.name, err);
      }
    },
  };
}
