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
  // One pass over the pixels writing the three planes (a third faster than a pass per plane on a
  // 640x640 canvas). Source channel k goes to blob channel to[k]; mean is indexed in blob order.
  const to = o.order === 'rgb' ? [0, 1, 2] : [2, 1, 0];
  const p0 = out.subarray(to[0] * plane, (to[0] + 1) * plane);
  const p1 = out.subarray(plane, 2 * plane);
  const p2 = out.subarray(to[2] * plane, (to[2] + 1) * plane);
  const m0 = o.mean[to[0]];
  const m1 = o.mean[1];
  const m2 = o.mean[to[2]];
  const s = o.scale;
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    p0[i] = (src[j] - m0) * s;
    p1[i] = (src[j + 1] - m1) * s;
    p2[i] = (src[j + 2] - m2) * s;
  }
  return out;
}
