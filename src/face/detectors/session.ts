/** What the three ONNX detectors share: reading the input size and running one image. */
import { badInput } from '../../errors.js';
import type { RgbImage } from '../../image/types.js';
import { inputShape, ort } from '../../runtime/onnx.js';
import type { BlobOptions } from './blob.js';
import type { Letterbox } from './letterbox.js';
import { letterboxBlob, type BlobBuffers } from './resize_blob.js';

/** [width, height] when the model fixes them, else null (dynamic axes). */
export function fixedInputSize(session: ort.InferenceSession): [number, number] | null {
  const shape = inputShape(session);
  const h = shape[2];
  const w = shape[3];
  return typeof w === 'number' && typeof h === 'number' && w > 0 && h > 0 ? [w, h] : null;
}

/** Run a [1, 3, height, width] blob; outputs by name. Errors name the model file. */
export async function runBlob(
  session: ort.InferenceSession,
  path: string,
  blob: Float32Array,
  width: number,
  height: number,
): Promise<Record<string, ort.Tensor>> {
  const input = new ort.Tensor('float32', blob, [1, 3, height, width]);
  try {
    return await session.run({ [session.inputNames[0]]: input });
  } catch (err) {
    const msg = String((err as Error)?.message ?? err).split('\n')[0];
    throw badInput(`${path}: inference on a ${width}x${height} input failed (${msg})`);
  } finally {
    input.dispose();
  }
}

/**
 * Letterbox `img` straight into a blob from `buffers` (one fused resize pass, see resize_blob.ts),
 * run it, and give the buffer back once onnxruntime is done reading it.
 */
export async function runLetterboxed(
  session: ort.InferenceSession,
  path: string,
  img: RgbImage,
  g: Letterbox,
  o: BlobOptions,
  buffers: BlobBuffers,
): Promise<Record<string, ort.Tensor>> {
  const blob = buffers.take(3 * g.width * g.height);
  try {
    return await runBlob(session, path, letterboxBlob(img, g, o, blob), g.width, g.height);
  } finally {
    buffers.give(blob);
  }
}

/** The float data of an output, checked to hold `count` rows of `cols` values ([1,N,k] or [N,k]). */
export function rows(
  t: ort.Tensor | undefined,
  count: number,
  cols: number,
  what: string,
  path: string,
): Float32Array {
  if (!t || !(t.data instanceof Float32Array))
    throw badInput(`${path}: output ${what} is missing or not float32`);
  if (t.data.length !== count * cols)
    throw badInput(
      `${path}: output ${what} has shape [${t.dims.join(',')}], expected ${count} rows of ${cols} ` +
        '(is this the right detector kind for this model?)',
    );
  return t.data;
}

export function modelName(path: string): string {
  return path
    .split(/[\\/]/)
    .pop()!
    .replace(/\.onnx$/i, '');
}
