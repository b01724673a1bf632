/**
 * How usable a detected face is for recognition, from what detection and alignment already give:
 * the eye distance in the photo's pixels, the sharpness of the aligned crop, the head pose read from
 * the 5 landmarks, and the detector's score. Blurry or tiny enrolment crops are what make a gallery
 * name strangers (Frigate's 22x28 px crops), so enroll gates on these and identify reports them.
 *
 * Each measure maps to a sub-score in [0, 1] by a ramp from its `bad` value (0) to its `good` value
 * (1); the combined score is the lowest sub-score, so "below the minimum" always names one measure
 * and the value it would need. Defaults chosen by bench/quality_erc.ts (bench/results/quality_erc.md).
 */
import type { Alignment } from '../models/manifest.js';
import type { RgbImage } from '../image/types.js';
import { warpAffine } from '../image/warp.js';
import { dlibTemplate5 } from './dlib_chip.js';
import { alignmentTemplate, ARCFACE_TEMPLATE } from './template.js';
import type { Face, Landmarks5, Point } from './types.js';
import { estimateSimilarity } from './umeyama.js';

export type QualityMeasure = 'interOcular' | 'sharpness' | 'yaw' | 'pitch' | 'detScore';
export const QUALITY_MEASURES: readonly QualityMeasure[] = [
  'interOcular',
  'sharpness',
  'yaw',
  'pitch',
  'detScore',
];

export interface FaceQuality {
  /** Combined score in [0, 1]: the lowest of the measures' sub-scores. */
  score: number;
  /** Distance between the eye centres in pixels of the original photo. */
  interOcular: number;
  /** Variance of the Laplacian of the inner face, grey levels², on the canonical 112x112 crop. */
  sharpness: number;
  /** Degrees, + = nose towards the image's right; 0 frontal. */
  yaw: number;
  /** Degrees, + = face turned up; 0 frontal. */
  pitch: number;
  detScore: number;
  /** The measure with the lowest sub-score (what the combined score is). */
  weakest: QualityMeasure;
}

/** A ramp: the sub-score is 0 at `bad`, 1 at `good` (pose: of the absolute angle). */
export interface Ramp {
  bad: number;
  good: number;
}

export type QualityRamps = Record<QualityMeasure, Ramp>;

/** Chosen on CelebA by bench/quality_erc.ts; see bench/results/quality_erc.md. */
export const DEFAULT_QUALITY_RAMPS: Readonly<QualityRamps> = Object.freeze({
  interOcular: { bad: 13, good: 51 },
  sharpness: { bad: 23, good: 99 },
  yaw: { bad: 76, good: 33 },
  pitch: { bad: 49, good: 28 },
  detScore: { bad: 0.3, good: 0.6 },
});

/** Enroll refuses faces whose combined score is below this (0: no gate). */
export const DEFAULT_MIN_QUALITY = 0.2;

// ---- pose -------------------------------------------------------------------------------------

/**
 * The face model the pose is read with, in units of half the eye distance (eyes at x = ±1, depth 0):
 * the nose tip NOSE_DEPTH in front of the eye plane (the OpenCV head-pose model's 135 mm for a 150 mm
 * half eye distance: 0.9), and where it sits between the eye and mouth lines on a frontal face
 * (NOSE_DROP: the median over CelebA's calibration half with the default detector, face-api, whose
 * nose point sits lower than the ArcFace template's 0.495; bench/quality_erc.ts prints it).
 * EYE_TO_MOUTH is the ArcFace template's eye-mouth distance.
 */
export const NOSE_DEPTH = 0.9;
const T = ARCFACE_TEMPLATE;
const HALF_IOD = (T[1][0] - T[0][0]) / 2;
const EYE_TO_MOUTH = (T[3][1] + T[4][1] - (T[0][1] + T[1][1])) / 2 / HALF_IOD;
export const NOSE_DROP = 0.58;

/**
 * Yaw and pitch from the 5 landmarks, orthographic projection, roll removed by the eye line:
 *   h = unit(right eye - left eye), v = h turned 90° (down), E = eye midpoint, M = mouth midpoint,
 *   dx = (nose - E)·h / (iod / 2),  t = (nose - E)·v / (M - E)·v
 *   yaw = atan(dx / NOSE_DEPTH),  pitch = atan((NOSE_DROP - t) · EYE_TO_MOUTH / NOSE_DEPTH)
 * A nose tip NOSE_DEPTH in front of the eyes moves sideways by NOSE_DEPTH·sin(yaw) while the eyes
 * shrink by cos(yaw), and up by NOSE_DEPTH·sin(pitch) while the eye-mouth distance shrinks by cos(pitch).
 */
export function headPose(lm: Landmarks5): { yaw: number; pitch: number } {
  const { dx, t } = poseRatios(lm);
  const deg = (x: number) => (Math.atan(x) * 180) / Math.PI;
  return { yaw: deg(dx / NOSE_DEPTH), pitch: deg(((NOSE_DROP - t) * EYE_TO_MOUTH) / NOSE_DEPTH) };
}

/** headPose's two ratios: the nose's sideways offset in half eye distances, and its drop t. */
export function poseRatios(lm: Landmarks5): { dx: number; t: number } {
  const [l, r, n, ml, mr] = lm;
  const hx = r[0] - l[0];
  const hy = r[1] - l[1];
  const iod = Math.hypot(hx, hy) || 1e-9;
  const h: Point = [hx / iod, hy / iod];
  const v: Point = [-h[1], h[0]];
  const e: Point = [(l[0] + r[0]) / 2, (l[1] + r[1]) / 2];
  const m: Point = [(ml[0] + mr[0]) / 2, (ml[1] + mr[1]) / 2];
  const dot = (p: Point, q: Point) => p[0] * q[0] + p[1] * q[1];
  const ne: Point = [n[0] - e[0], n[1] - e[1]];
  const down = dot([m[0] - e[0], m[1] - e[1]], v) || 1e-9;
  return { dx: dot(ne, h) / (iod / 2), t: dot(ne, v) / down };
}

export function interOcular(lm: Landmarks5): number {
  return Math.hypot(lm[1][0] - lm[0][0], lm[1][1] - lm[0][1]);
}

// ---- sharpness --------------------------------------------------------------------------------

/** The inner face of the canonical 112x112 ArcFace crop (brows to below the mouth): no background. */
const INNER = { x1: 28, y1: 36, x2: 84, y2: 100 };

/**
 * A model's aligned crop re-warped onto the 112x112 ArcFace template, so crops of every model
 * (dlib's 150 chip, ArcFace 112, 224...) are measured at the same scale over the same face region.
 */
export function canonicalCrop(crop: RgbImage, alignment: Alignment = { template: 'arcface' }): RgbImage {
  const from: Landmarks5 =
    alignment.template === 'dlib'
      ? dlibTemplate5(crop.width, alignment.padding)
      : alignmentTemplate({ width: crop.width, height: crop.height }).points;
  if (alignment.template === 'arcface' && crop.width === 112 && crop.height === 112) return crop;
  return warpAffine(crop, estimateSimilarity(from, ARCFACE_TEMPLATE), 112, 112);
}

/** Variance of the 4-neighbour Laplacian of the grey image (BT.601) over `region` (default: all). */
export function laplacianVariance(
  img: RgbImage,
  region = { x1: 0, y1: 0, x2: img.width, y2: img.height },
): number {
  const { width: w, data } = img;
  const grey = (x: number, y: number) => {
    const o = (y * w + x) * 3;
    return 0.299 * data[o]! + 0.587 * data[o + 1]! + 0.114 * data[o + 2]!;
  };
  const x1 = Math.max(1, region.x1);
  const y1 = Math.max(1, region.y1);
  const x2 = Math.min(img.width - 1, region.x2);
  const y2 = Math.min(img.height - 1, region.y2);
  let s = 0;
  let s2 = 0;
  let n = 0;
  for (let y = y1; y < y2; y++)
    for (let x = x1; x < x2; x++) {
      const l = grey(x - 1, y) + grey(x + 1, y) + grey(x, y - 1) + grey(x, y + 1) - 4 * grey(x, y);
      s += l;
      s2 += l * l;
      n++;
    }
  if (n === 0) return 0;
  const mean = s / n;
  return s2 / n - mean * mean;
}

/** Sharpness of a model's aligned crop: the Laplacian variance of its canonical crop's inner face. */
export function cropSharpness(crop: RgbImage, alignment?: Alignment): number {
  return laplacianVariance(canonicalCrop(crop, alignment), INNER);
}

// ---- combined --------------------------------------------------------------------------------

/** The sub-score of one measure's value on its ramp (pose measures by their absolute angle). */
export function subScore(
  measure: QualityMeasure,
  value: number,
  ramps: QualityRamps = DEFAULT_QUALITY_RAMPS,
): number {
  const { bad, good } = ramps[measure];
  const v = measure === 'yaw' || measure === 'pitch' ? Math.abs(value) : value;
  const s = (v - bad) / (good - bad);
  return Number.isFinite(s) ? Math.min(1, Math.max(0, s)) : 0;
}

/** The value a measure needs for a sub-score of q (pose: the largest absolute angle allowed). */
export function limitFor(
  measure: QualityMeasure,
  q: number,
  ramps: QualityRamps = DEFAULT_QUALITY_RAMPS,
): number {
  const { bad, good } = ramps[measure];
  return bad + q * (good - bad);
}

export type QualityMeasures = Omit<FaceQuality, 'score' | 'weakest'>;

/** The combined score of a face's measures, and which measure it comes from. */
export function combine(m: QualityMeasures, ramps: QualityRamps = DEFAULT_QUALITY_RAMPS): FaceQuality {
  let weakest: QualityMeasure = 'interOcular';
  let score = Infinity;
  for (const k of QUALITY_MEASURES) {
    const s = subScore(k, m[k], ramps);
    if (s < score) [score, weakest] = [s, k];
  }
  return { score, ...m, weakest };
}

/** Every measure of a detected face and its aligned crop (the model's, with the model's alignment). */
export function faceQuality(
  face: Face,
  crop: RgbImage,
  alignment?: Alignment,
  ramps: QualityRamps = DEFAULT_QUALITY_RAMPS,
): FaceQuality {
  const { yaw, pitch } = headPose(face.landmarks);
  return combine(
    {
      interOcular: interOcular(face.landmarks),
      sharpness: cropSharpness(crop, alignment),
      yaw,
      pitch,
      detScore: face.score,
    },
    ramps,
  );
}

const UNITS: Record<QualityMeasure, (v: number) => string> = {
  interOcular: (v) => `${v.toFixed(1)} px`,
  sharpness: (v) => v.toFixed(1),
  yaw: (v) => `${v.toFixed(1)}°`,
  pitch: (v) => `${v.toFixed(1)}°`,
  detScore: (v) => v.toFixed(3),
};

const NAMES: Record<QualityMeasure, string> = {
  interOcular: 'eye distance',
  sharpness: 'sharpness',
  yaw: 'yaw',
  pitch: 'pitch',
  detScore: 'detector score',
};

/**
 * Why a face is below `minQuality` (null: it is not, or the gate is off with 0): the weakest
 * measure, its value and the limit it must reach, e.g. "sharpness 8.2 is below 67.5".
 */
export function qualityShortfall(
  q: FaceQuality,
  minQuality: number,
  ramps: QualityRamps = DEFAULT_QUALITY_RAMPS,
): { measure: QualityMeasure; value: number; limit: number; message: string } | null {
  if (!(minQuality > 0) || q.score >= minQuality) return null;
  const measure = q.weakest;
  const value = q[measure];
  const limit = limitFor(measure, minQuality, ramps);
  const pose = measure === 'yaw' || measure === 'pitch';
  const fmt = UNITS[measure];
  const message =
    `low quality ${q.score.toFixed(2)} < ${minQuality}: ${NAMES[measure]} ${fmt(value)} is ` +
    (pose ? `beyond ±${fmt(limit)}` : `below ${fmt(limit)}`);
  return { measure, value, limit, message };
}
