/**
 * The wasm backend's heap is one WebAssembly.Memory of at most 4 GiB (wasm32 addressing).
 * Past it, emscripten aborts: the call throws "RuntimeError: Aborted()" and the backend is
 * dead for the rest of the process. So we check ahead where the size is known (a batch, a
 * head's weight matrix) and turn a late abort into an error that says what happened.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArcfaceError } from '../errors.js';

/** wasm32 limit of tfjs-backend-wasm's heap (emscripten MAXIMUM_MEMORY = 4 GiB). */
export const WASM_HEAP_LIMIT = 4 * 1024 ** 3;
/** Headroom kept free for the allocator's fragmentation and the kernels' scratch buffers. */
const HEADROOM = 0.9;

export interface HeapInfo {
  backend: string;
  /** Bytes held by live tensors. */
  tensorBytes: number;
  /** Current size of the wasm memory (grows, never shrinks); 0 off wasm. */
  heapBytes: number;
  /** Hard limit; Infinity off wasm. */
  limitBytes: number;
}

export function heapInfo(): HeapInfo {
  const backend = tf.getBackend();
  const tensorBytes = tf.memory().numBytes;
  if (backend !== 'wasm') return { backend, tensorBytes, heapBytes: 0, limitBytes: Infinity };
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return {
    backend,
    tensorBytes,
    heapBytes: wasm?.HEAPU8?.buffer.byteLength ?? 0,
    limitBytes: WASM_HEAP_LIMIT,
  };
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/**
 * Throws OUT_OF_MEMORY when `bytes` more (an estimate of what the next step allocates at its
 * peak) cannot fit beside the live tensors. `what` names the work, e.g. "a batch of 128".
 */
export function assertFits(bytes: number, what: string): void {
  const info = heapInfo();
  if (!Number.isFinite(info.limitBytes)) return;
  const budget = info.limitBytes * HEADROOM;
  if (info.tensorBytes + bytes > budget) {
    throw new ArcfaceError(
      'OUT_OF_MEMORY',
      `${what} needs about ${gib(bytes)} but the wasm heap has ${gib(budget - info.tensorBytes)} left ` +
        `(limit ${gib(info.limitBytes)}, ${gib(info.tensorBytes)} in live tensors). ` +
        'Use a smaller batch (with gradient accumulation), fewer classes per head, or the tensorflow backend.',
    );
  }
}

/** Rewrites emscripten's bare "Aborted()" into an error that says the heap ran out. */
export function explainBackendError(err: unknown): unknown {
  const msg = err instanceof Error ? err.message : String(err);
  if (/Aborted\(\)/.test(msg) && tf.getBackend() === 'wasm') {
    return new ArcfaceError(
      'OUT_OF_MEMORY',
      'the wasm backend aborted, almost certainly out of memory (its heap stops at 4 GiB); ' +
        'the backend cannot be used again in this process. Use a smaller batch or the tensorflow backend.',
    );
  }
  return err;
}
