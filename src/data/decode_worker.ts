/**
 * Batch decoding, run in a worker thread by the loader (or in-thread with `workers: 0`): decode
 * each crop with sharp, check it is size x size, normalise and mirror it into one Float32Array
 * that goes back by transfer, not copy. A file that fails is reported by slot, never thrown, so one
 * bad crop costs one image and not the run.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { decodeCrop, normaliseInto, type Normalisation } from './dataset.js';

export interface DecodeJob {
  id: number;
  files: string[];
  flips: boolean[];
  size: number;
  /** Default (v - 127.5) / 127.5. */
  norm?: Normalisation;
}

export interface DecodeResult {
  id: number;
  /** files.length * size * size * 3 floats, NHWC; failed slots are left at zero. */
  images: Float32Array;
  failed: { slot: number; message: string }[];
}

export async function decodeBatch(job: DecodeJob): Promise<DecodeResult> {
  const { id, files, flips, size } = job;
  const per = size * size * 3;
  const images = new Float32Array(files.length * per);
  const failed: DecodeResult['failed'] = [];
  // sharp decodes on libuv's pool, so the files of a batch decode in parallel.
  const decoded = await Promise.allSettled(files.map((f) => decodeCrop(f, size)));
  decoded.forEach((r, slot) => {
    if (r.status === 'fulfilled') normaliseInto(images, slot * per, r.value, size, flips[slot], job.norm);
    else failed.push({ slot, message: String((r.reason as Error)?.message ?? r.reason) });
  });
  return { id, images, failed };
}

/** The flag the loader passes in workerData, so importing this file elsewhere starts nothing. */
export const WORKER_FLAG = 'arcfaceDecodeWorker';

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | undefined)?.[WORKER_FLAG]) {
  const port = parentPort;
  // One job at a time, in arrival order: memory stays at one batch per worker.
  let chain = Promise.resolve();
  port.on('message', (job: DecodeJob) => {
    chain = chain.then(async () => {
      try {
        const r = await decodeBatch(job);
        port.postMessage(r, [r.images.buffer as ArrayBuffer]);
      } catch (err) {
        port.postMessage({ id: job.id, error: String((err as Error)?.message ?? err) });
      }
    });
  });
}
