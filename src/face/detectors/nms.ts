/**
 * Greedy non-maximum suppression, as in every detector's reference code (py_cpu_nms in
 * Pytorch_Retinaface, SCRFD.nms in InsightFace, cv::dnn::NMSBoxes for YuNet), on continuous
 * coordinates: area = (x2 - x1)(y2 - y1), without the legacy "+1" of pixel-inclusive boxes.
 */
import type { Box } from '../types.js';

export function boxArea(b: Box): number {
  return Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
}

/** Intersection over union in [0, 1]; 0 when either box is empty. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = boxArea(a) + boxArea(b) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Indices of the boxes kept, highest score first. Stable: equal scores keep input order, so the
 * result does not depend on the sort implementation. A box is dropped when its IoU with an already
 * kept box is strictly greater than `iouThreshold`.
 */
export function nms(boxes: readonly Box[], scores: ArrayLike<number>, iouThreshold: number): number[] {
  if (boxes.length !== scores.length)
    throw new RangeError(`nms: ${boxes.length} boxes but ${scores.length} scores`);
  const order = boxes.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const keep: number[] = [];
  for (const i of order) {
    if (keep.every((k) => iou(boxes[k], boxes[i]) <= iouThreshold)) keep.push(i);
  }
  return keep;
}
