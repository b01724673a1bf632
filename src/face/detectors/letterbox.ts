/**
 * Fit an image into a detector's input canvas keeping its aspect ratio, padding the rest with
 * black (pixel value 0) at the bottom and right, as InsightFace's SCRFD.detect and OpenCV's
 * FaceDetectorYN (copyMakeBorder bottom/right) do, and map the detector's output back.
 */
import { resizeRgb } from '../../image/decode.js';
import { rgbImage, type RgbImage } from '../../image/types.js';
import type { Box, Face, Landmarks5, Point } from '../types.js';

export interface Letterbox {
  /** The canvas the network sees. */
  width: number;
  height: number;
  /** The resized image inside it, at (0, 0). */
  contentWidth: number;
  contentHeight: number;
  /** contentWidth / source width and contentHeight / source height (equal up to rounding). */
  scaleX: number;
  scaleY: number;
}

/**
 * Geometry only. The content is the largest size with the source's aspect ratio that fits in
 * width x height, rounded down (SCRFD's `int(new_height / im_ratio)`), at least 1 pixel.
 */
export function letterboxGeometry(
  srcWidth: number,
  srcHeight: number,
  width: number,
  height: number,
): Letterbox {
  const s = Math.min(width / srcWidth, height / srcHeight);
  const contentWidth = Math.max(1, Math.min(width, Math.floor(srcWidth * s + 1e-9)));
  const contentHeight = Math.max(1, Math.min(height, Math.floor(srcHeight * s + 1e-9)));
  return {
    width,
    height,
    contentWidth,
    contentHeight,
    scaleX: contentWidth / srcWidth,
    scaleY: contentHeight / srcHeight,
  };
}

/**
 * Resize `img` into the letterbox and pad with zeros, as an image (sharp's resize, anti-aliased when
 * reducing). The detectors do not use it: letterboxBlob (resize_blob.ts) makes their input in one
 * pass with cv2.resize's convention, which is what the models were fed.
 */
export async function letterbox(img: RgbImage, g: Letterbox): Promise<RgbImage> {
  const content = await resizeRgb(img, g.contentWidth, g.contentHeight);
  if (g.contentWidth === g.width && g.contentHeight === g.height) return content;
  const out = rgbImage(g.width, g.height);
  const row = g.contentWidth * 3;
  for (let y = 0; y < g.contentHeight; y++) {
    out.data.set(content.data.subarray(y * row, (y + 1) * row), y * g.width * 3);
  }
  return out;
}

/** A point of the network's canvas in the source image (continuous pixel coordinates). */
export function toSource(g: Letterbox, p: Point): Point {
  return [p[0] / g.scaleX, p[1] / g.scaleY];
}

/** A point of the source image on the network's canvas. */
export function toCanvas(g: Letterbox, p: Point): Point {
  return [p[0] * g.scaleX, p[1] * g.scaleY];
}

export function boxToSource(g: Letterbox, b: Box): Box {
  return { x1: b.x1 / g.scaleX, y1: b.y1 / g.scaleY, x2: b.x2 / g.scaleX, y2: b.y2 / g.scaleY };
}

export function faceToSource(g: Letterbox, f: Face): Face {
  return {
    box: boxToSource(g, f.box),
    score: f.score,
    landmarks: f.landmarks.map((p) => toSource(g, p)) as Landmarks5,
  };
}
