/**
 * Where the five landmarks go in an aligned crop. ArcFace models are trained on 112x112 crops made
 * by warping the detected landmarks onto this fixed template (InsightFace `arcface_dst`).
 */
import { badInput } from '../errors.js';
import type { Landmarks5 } from './types.js';

/** The 112x112 ArcFace template: left eye, right eye, nose tip, left and right mouth corner. */
export const ARCFACE_TEMPLATE: Landmarks5 = deepFreeze([
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
]);

export interface AlignmentTemplate {
  points: Landmarks5;
  width: number;
  height: number;
}

/**
 * The template for a crop size: 112x112; 112 high by 96 wide (InsightFace's older
 * face_preprocess.py crop, the template with x - 8); and squares of k*112 or k*128, by the rule of
 * InsightFace utils/face_align.py `estimate_norm`: size % 112 == 0 scales by size/112, otherwise
 * size % 128 == 0 scales by size/128 and shifts x by 8*size/128 (112 wins when both hold, e.g. 896).
 * A number is a square side; in the object form a missing side defaults to the other one, and
 * both default to 112.
 */
export function alignmentTemplate(
  opts: { width?: number; height?: number } | number = {},
): AlignmentTemplate {
  const width = typeof opts === 'number' ? opts : (opts.width ?? opts.height ?? 112);
  const height = typeof opts === 'number' ? opts : (opts.height ?? opts.width ?? 112);
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const)
    if (!Number.isInteger(v) || v <= 0)
      throw badInput(`alignment template: ${name} must be a positive integer, got ${v}`);
  if (width === 96 && height === 112) return { points: mapPoints(1, -8), width, height };
  if (width !== height)
    throw badInput(
      `alignment template: no template for ${width}x${height} (width x height); use 112x112, ` +
        `96x112 or a square whose side is a multiple of 112 or 128`,
    );
  if (width % 112 === 0) return { points: mapPoints(width / 112, 0), width, height };
  if (width % 128 === 0) return { points: mapPoints(width / 128, (8 * width) / 128), width, height };
  throw badInput(
    `alignment template: a ${width}x${width} crop is not a multiple of 112 or 128 ` +
      `(ArcFace crops are 112x112, 96x112, or k*112 and k*128 squares)`,
  );
}

function mapPoints(ratio: number, dx: number): Landmarks5 {
  return ARCFACE_TEMPLATE.map(([x, y]) => [x * ratio + dx, y * ratio]) as Landmarks5;
}

/** Frozen so a caller cannot move the template for every later alignment. */
function deepFreeze(points: Landmarks5): Landmarks5 {
  for (const p of points) Object.freeze(p);
  Object.freeze(points);
  return points;
}
