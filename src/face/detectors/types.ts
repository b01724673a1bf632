/**
 * The detector contract every backend (face-api's SSD, YuNet, SCRFD, RetinaFace) implements, so
 * the aligner and the CLI never care which one found the face.
 */
import type { RgbImage } from '../../image/types.js';
import type { Face } from '../types.js';

export type DetectorKind = 'faceapi' | 'yunet' | 'scrfd' | 'retinaface';

export const DETECTOR_KINDS: readonly DetectorKind[] = ['faceapi', 'yunet', 'scrfd', 'retinaface'];

export interface DetectOptions {
  /** Drop detections scoring below this (default: the detector's own, see `Detector.defaults`). */
  scoreThreshold?: number;
  /** IoU above which the lower-scoring of two boxes is suppressed (default: the detector's own). */
  nmsIou?: number;
  /** Drop boxes whose shorter side is below this many pixels of the original image (default 0). */
  minFaceSize?: number;
  /**
   * 'all' (default) keeps every face; 'largest' the one with the largest box area; 'center' the
   * one maximising area - 2 * (distance of the box centre to the image centre)^2, InsightFace's
   * `SCRFD.detect(max_num=1)` rule: a big face wins unless a slightly smaller one is much more central.
   */
  keep?: 'all' | 'largest' | 'center';
  /** Return at most this many faces, the highest scoring (applied after `keep`). */
  maxFaces?: number;
}

export interface Detector {
  readonly kind: DetectorKind;
  /** Human-readable model name, e.g. the ONNX file's base name. */
  readonly name: string;
  readonly defaults: Required<Pick<DetectOptions, 'scoreThreshold' | 'nmsIou'>>;
  /**
   * Faces in `img`'s pixel coordinates, landmarks in the ArcFace order (left eye, right eye, nose,
   * left mouth corner, right mouth corner; left = smaller x on an upright face), score descending.
   */
  detect(img: RgbImage, opts?: DetectOptions): Promise<Face[]>;
  dispose(): Promise<void>;
}
