/**
 * Face alignment. ArcFace (the default): InsightFace's norm_crop, the least-squares similarity from
 * the 5 detected landmarks to the ArcFace template, then an OpenCV-exact bilinear warp to the crop
 * size. dlib: dlib's face chip (get_face_chip_details + extract_image_chip, face/dlib_chip.ts), from
 * the 68 iBUG points when the detector gives them, else from the 5.
 */
import { badInput } from '../errors.js';
import { rgbImage, type RgbImage } from '../image/types.js';
import { warpAffine } from '../image/warp.js';
import type { Alignment } from '../models/manifest.js';
import { dlibChip } from './dlib_chip.js';
import { alignmentTemplate } from './template.js';
import type { Face, Landmarks5, Point } from './types.js';
import { estimateSimilarity, type Affine } from './umeyama.js';

export interface AlignOptions {
  /** Square crop side: ArcFace 112 (the default), 224, 128, 256...; dlib chips any, default 150. */
  size?: number;
  /** Non-square crops: only 96 wide x 112 high exists (see alignmentTemplate); dlib chips are square. */
  width?: number;
  height?: number;
  /** Which crop: the ArcFace template (the default) or dlib's chip (a model manifest's `alignment`). */
  alignment?: Alignment;
}

export interface AlignedFace {
  image: RgbImage;
  /** Source image -> crop, as passed to cv2.warpAffine. */
  matrix: Affine;
}

const LANDMARK_NAMES = ['left eye', 'right eye', 'nose', 'left mouth corner', 'right mouth corner'];

/**
 * Warps a face onto the crop a recogniser expects. `face` is a detection (its 5 landmarks, and for
 * dlib chips its 68 when present) or the landmarks themselves: 5 for ArcFace, 5 or 68 for dlib.
 */
export function alignFace(
  img: RgbImage,
  face: Face | Landmarks5 | readonly Point[],
  opts: AlignOptions = {},
): AlignedFace {
  const isFace = typeof face === 'object' && face !== null && !Array.isArray(face);
  const alignment = opts.alignment ?? { template: 'arcface' };
  if (alignment.template === 'dlib') {
    const points = isFace ? ((face as Face).landmarks68 ?? (face as Face).landmarks) : face;
    return alignDlib(img, points as readonly Point[], opts, alignment.padding);
  }
  if (alignment.template !== 'arcface')
    throw badInput(
      `alignFace: unknown alignment template ${JSON.stringify((alignment as { template: unknown }).template)} ` +
        `(known: "arcface", "dlib")`,
    );
  const landmarks = (isFace ? (face as Face).landmarks : face) as Landmarks5;
  if (!Array.isArray(landmarks) || landmarks.length !== 5)
    throw badInput(
      `alignFace: expected 5 landmarks (eyes, nose, mouth corners), got ${Array.isArray(landmarks) ? landmarks.length : typeof landmarks}`,
    );
  landmarks.forEach((p, i) => {
    if (!Array.isArray(p) || p.length !== 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1]))
      throw badInput(
        `alignFace: landmark ${i} (${LANDMARK_NAMES[i]}) is ${Array.isArray(p) ? `(${p.join(', ')})` : String(p)}, ` +
          `not a pair of finite numbers`,
      );
  });
  const { size, width, height } = opts;
  if (
    size !== undefined &&
    ((width !== undefined && width !== size) || (height !== undefined && height !== size))
  )
    throw badInput(`alignFace: size ${opts.size} conflicts with width ${opts.width} / height ${opts.height}`);
  const template = alignmentTemplate(size ?? { width, height });
  const matrix = estimateSimilarity(landmarks, template.points);
  return { image: warpAffine(img, matrix, template.width, template.height), matrix };
}

function alignDlib(
  img: RgbImage,
  points: readonly Point[],
  opts: AlignOptions,
  padding: number,
): AlignedFace {
  const size = opts.size ?? opts.width ?? opts.height ?? 150;
  for (const [name, v] of [
    ['width', opts.width],
    ['height', opts.height],
  ] as const)
    if (v !== undefined && v !== size)
      throw badInput(
        `alignFace: dlib chips are square, but ${name} is ${v} and the ${opts.size !== undefined ? 'size' : 'other side'} ${size}`,
      );
  const { image, matrix } = dlibChip(img, points, size, padding);
  return { image, matrix };
}

/**
 * The fallback when no face is found: the largest centred square, resized to size x size with
 * bilinear interpolation in cv2.resize's INTER_LINEAR convention (pixel centres at +0.5, edge pixels
 * repeated, no anti-aliasing), so results agree with cv2.resize to one grey level.
 *
 * InsightFace's face_preprocess.preprocess (used when aligning LFW/CFP/AgeDB without a detection)
 * crops 6.25% off each side, grows that box by a 44 px margin and resizes to 112x112 without keeping
 * the aspect ratio. We keep the aspect ratio instead (a non-square photo is not stretched) and do not
 * depend on the image's pixel size for the margin; for the usual near-square face photos the two
 * crops are close.
 */
export function centerCrop(img: RgbImage, size = 112): RgbImage {
  if (!Number.isInteger(size) || size <= 0)
    throw badInput(`centerCrop: size must be a positive integer, got ${size}`);
  const side = Math.min(img.width, img.height);
  const x0 = Math.floor((img.width - side) / 2);
  const y0 = Math.floor((img.height - side) / 2);
  const scale = side / size;
  // Per output column/row: the first source index (absolute) and the weight of the next one.
  const taps = (origin: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } => {
    const i0 = new Int32Array(size);
    const i1 = new Int32Array(size);
    const f = new Float64Array(size);
    for (let d = 0; d < size; d++) {
      const s = (d + 0.5) * scale - 0.5;
      let k = Math.floor(s);
      let t = s - k;
      if (k < 0) [k, t] = [0, 0];
      if (k >= side - 1) [k, t] = [side - 1, 0];
      i0[d] = origin + k;
      i1[d] = origin + Math.min(k + 1, side - 1);
      f[d] = t;
    }
    return { i0, i1, f };
  };
  const xs = taps(x0);
  const ys = taps(y0);
  const out = rgbImage(size, size);
  const src = img.data;
  const dst = out.data;
  const stride = img.width * 3;
  let o = 0;
  for (let y = 0; y < size; y++) {
    const r0 = ys.i0[y] * stride;
    const r1 = ys.i1[y] * stride;
    const fy = ys.f[y];
    for (let x = 0; x < size; x++, o += 3) {
      const c0 = xs.i0[x] * 3;
      const c1 = xs.i1[x] * 3;
      const fx = xs.f[x];
      for (let k = 0; k < 3; k++) {
        const top = src[r0 + c0 + k] + (src[r0 + c1 + k] - src[r0 + c0 + k]) * fx;
        const bottom = src[r1 + c0 + k] + (src[r1 + c1 + k] - src[r1 + c0 + k]) * fx;
        dst[o + k] = Math.round(top + (bottom - top) * fy);
      }
    }
  }
  return out;
}
