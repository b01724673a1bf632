/** RgbImage (interleaved HWC bytes) to the planar NCHW float32 blob ONNX detectors take. */
import type { RgbImage } from '../../image/types.js';

export interface BlobOptions {
  /** Channel order of the blob: 'bgr' for OpenCV-trained models (YuNet, RetinaFace). */
  order: 'rgb' | 'bgr';
  /** Subtracted per blob channel (in blob order), before `scale`. */
  mean: readonly [number, number, number];
  /** Multiplied after subtracting the mean. */
  scale: number;
}

export function toBlob(img: RgbImage, o: BlobOptions): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  const src = img.data;
  for (let c = 0; c < 3; c++) {
    const from = o.order === 'rgb' ? c : 2 - c;
    const m = o.mean[c];
    const dst = c * plane;
    for (let i = 0; i < plane; i++) out[dst + i] = (src[i * 3 + from] - m) * o.scale;
  }
  return out;
}
