/**
 * dlib's face chip, the crop dlib's ResNet face recogniser (dlib_face_recognition_resnet_model_v1)
 * was trained on: `extract_image_chip(img, get_face_chip_details(det, 150, 0.25))`. Re-implemented
 * from the behaviour of dlib 19.24's dlib/image_transforms/interpolation.h and image_pyramid.h:
 *
 * 1. Fit the least-squares similarity chip -> image from dlib's mean face shape (placed in the chip
 *    at (padding + m) / (2 padding + 1) * size) to the detected points: the 33 points 27-54 and 60-64
 *    of a 68-point detection (dlib skips the jaw, the brows and the lower lip), or for this project's
 *    5 points, the same mean face's eye centres, nose tip and mouth corners.
 * 2. Keep only its angle, its scale s and where it sends the chip's centre: dlib's chip rect is
 *    size*s image pixels wide, and its corners, size*s - 1 pixels apart, go to chip pixels 0 and
 *    size - 1. So the chip's scale is (size-1)/(size*s - 1) per image pixel, not the fit's 1/s: for
 *    faces much larger than the chip the fitted positions shrink by (size-1)/size towards the
 *    chip's corner (0, 0); for a face at chip scale (s = 1) they move by half a pixel instead.
 * 3. When the rect is more than twice the chip, sample from a pyramid_down<2> level (5-tap binomial
 *    filter, every other pixel) of the image around the face, as dlib does against aliasing, with
 *    dlib's level coordinates: p/2 - (1.25, 0.75), where the filter is centred on p/2 - (1, 1), so
 *    each level shifts the content by a quarter of its pixel (kept: the recogniser was trained on
 *    those chips).
 * 4. Bilinear sampling, pixel centres at integers; a chip pixel with any of its 4 taps outside the
 *    image is black.
 *
 * The sampling itself is this project's OpenCV-exact warpAffine (weights in 1/32 pixel, rounded),
 * where dlib computes in double and truncates: chips agree with dlib's to about half a grey level on
 * average and 1-2 levels at most (test/face.dlib_chip.test.ts).
 */
import { badInput } from '../errors.js';
import { rgbImage, type RgbImage } from '../image/types.js';
import { warpAffine } from '../image/warp.js';
import type { Landmarks5, Point } from './types.js';
import { applyAffine, estimateSimilarity, invertAffine, type Affine } from './umeyama.js';

/**
 * dlib's mean face shape for the 33 points get_face_chip_details fits, in the unit face square,
 * keyed by iBUG index (0-based). Data from dlib's dlib/image_transforms/interpolation.h
 * (get_face_chip_details, `mean_face_shape_x/y`), Copyright Davis E. King, Boost Software License 1.0.
 */
const MEAN_FACE: ReadonlyArray<readonly [index: number, x: number, y: number]> = [
  [27, 0.490127, 0.203352],
  [28, 0.490127, 0.307009],
  [29, 0.490127, 0.409805],
  [30, 0.490127, 0.515625],
  [31, 0.36688, 0.587326],
  [32, 0.426036, 0.609345],
  [33, 0.490127, 0.628106],
  [34, 0.554217, 0.609345],
  [35, 0.613373, 0.587326],
  [36, 0.121737, 0.216423],
  [37, 0.187122, 0.178758],
  [38, 0.265825, 0.179852],
  [39, 0.334606, 0.231733],
  [40, 0.260918, 0.245099],
  [41, 0.182743, 0.244077],
  [42, 0.645647, 0.231733],
  [43, 0.714428, 0.179852],
  [44, 0.793132, 0.178758],
  [45, 0.858516, 0.216423],
  [46, 0.79751, 0.244077],
  [47, 0.719335, 0.245099],
  [48, 0.254149, 0.780233],
  [49, 0.340985, 0.745405],
  [50, 0.428858, 0.727388],
  [51, 0.490127, 0.742578],
  [52, 0.551395, 0.727388],
  [53, 0.639268, 0.745405],
  [54, 0.726104, 0.780233],
  [60, 0.290379, 0.784792],
  [61, 0.428096, 0.778746],
  [62, 0.490127, 0.785343],
  [63, 0.552157, 0.778746],
  [64, 0.689874, 0.784792],
];

/** The iBUG indices (0-based) of a 68-point detection that dlib's chip fit uses, in fit order. */
export const DLIB_CHIP_INDICES: readonly number[] = Object.freeze(MEAN_FACE.map(([i]) => i));

const meanPoint = (index: number): Point => {
  const row = MEAN_FACE.find(([i]) => i === index)!;
  return [row[1], row[2]];
};
const mean = (pts: Point[]): Point => [
  pts.reduce((s, p) => s + p[0], 0) / pts.length,
  pts.reduce((s, p) => s + p[1], 0) / pts.length,
];
/** The mean face's 5 points in this project's order (image-left eye first). */
const MEAN_FACE5: readonly Point[] = [
  mean([36, 37, 38, 39, 40, 41].map(meanPoint)),
  mean([42, 43, 44, 45, 46, 47].map(meanPoint)),
  meanPoint(30),
  meanPoint(48),
  meanPoint(54),
];

function checkShape(size: number, padding: number, who: string): void {
  if (!Number.isInteger(size) || size < 2)
    throw badInput(`${who}: size must be an integer of at least 2 (chip side in pixels), got ${size}`);
  if (typeof padding !== 'number' || !Number.isFinite(padding) || padding < 0)
    throw badInput(
      `${who}: padding must be a finite number >= 0 (0.25 for dlib's recogniser), got ${padding}`,
    );
}

/** Where dlib's fit places a unit-face point in the chip, in dlib's order of operations. */
const toFit = ([x, y]: Point, size: number, padding: number): Point => [
  ((padding + x) / (2 * padding + 1)) * size,
  ((padding + y) / (2 * padding + 1)) * size,
];

/**
 * The chip-side points of dlib's fit for a 68-point detection, in the order of DLIB_CHIP_INDICES:
 * (padding + m) / (2 padding + 1) * size for each mean-face point m.
 */
export function dlibChipPoints(size = 150, padding = 0.25): Point[] {
  checkShape(size, padding, 'dlibChipPoints');
  return MEAN_FACE.map(([, x, y]) => toFit([x, y], size, padding));
}

/**
 * Where the 5 points (eye centres, nose tip, mouth corners) of dlib's mean face land in the chip,
 * in chip pixels: the fitted positions times (size - 1) / size, the limit for faces much larger
 * than the chip. For size 150 and padding 0.25: (47.23, 46.29), (99.81, 46.29), (73.52, 76.05),
 * (50.08, 102.34), (96.96, 102.34). (A face at exactly chip scale lands up to 0.2 px further out.)
 */
export function dlibTemplate5(size = 150, padding = 0.25): Landmarks5 {
  checkShape(size, padding, 'dlibTemplate5');
  const k = (size - 1) / size;
  return MEAN_FACE5.map((p) => {
    const [x, y] = toFit(p, size, padding);
    return [x * k, y * k];
  }) as Landmarks5;
}

/** dlib's drectangle: inclusive corners, so its width is r - l + 1. */
export interface DRect {
  l: number;
  t: number;
  r: number;
  b: number;
}

export interface DlibChipGeometry {
  /** Image -> chip, as dlib's get_mapping_to_chip (what map_det_to_chip applies). */
  matrix: Affine;
  /** dlib's chip_details.rect (left, top, right, bottom) and angle (radians). */
  rect: DRect;
  angle: number;
}

function checkLandmarks(landmarks: readonly Point[], who: string): void {
  if (!Array.isArray(landmarks) || (landmarks.length !== 68 && landmarks.length !== 5))
    throw badInput(
      `${who}: expected 68 iBUG landmarks or 5 (eye centres, nose tip, mouth corners), got ` +
        `${Array.isArray(landmarks) ? landmarks.length : typeof landmarks}`,
    );
  landmarks.forEach((p, i) => {
    if (!Array.isArray(p) || p.length !== 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1]))
      throw badInput(
        `${who}: landmark ${i} of ${landmarks.length} is ${Array.isArray(p) ? `(${p.join(', ')})` : String(p)}, ` +
          `not a pair of finite numbers`,
      );
  });
}

/** get_face_chip_details + get_mapping_to_chip for 68 points (dlib's fit) or this project's 5. */
export function dlibChipGeometry(landmarks: readonly Point[], size = 150, padding = 0.25): DlibChipGeometry {
  checkShape(size, padding, 'dlib chip');
  checkLandmarks(landmarks, 'dlib chip');
  const fit =
    landmarks.length === 68
      ? estimateSimilarity(
          dlibChipPoints(size, padding),
          DLIB_CHIP_INDICES.map((i) => landmarks[i]),
        )
      : estimateSimilarity(
          MEAN_FACE5.map((p) => toFit(p, size, padding)),
          landmarks,
        );
  // chip_details(chip_points, img_points, dims): angle and scale of the fit's (1, 0) column, and a
  // rect of size*scale centred where the fit sends the chip's centre (centered_drect: width - 1).
  const angle = Math.atan2(fit[3], fit[0]);
  const scale = Math.hypot(fit[0], fit[3]);
  const [cx, cy] = applyAffine(fit, [size / 2, size / 2]);
  const half = (size * scale - 1) / 2;
  if (!(half > 0))
    throw badInput(
      `dlib chip: the face is too small: a ${size}x${size} chip would cover ${(size * scale).toFixed(3)} ` +
        `image pixels (the landmarks nearly coincide)`,
    );
  const rect = { l: cx - half, t: cy - half, r: cx + half, b: cy + half };
  // get_mapping_to_chip: the rect's corners, turned by the angle about its centre, go to (0, 0),
  // (size-1, 0) and (size-1, size-1); that affine is this similarity.
  const k = (size - 1) / (rect.r - rect.l);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const mx = (rect.l + rect.r) / 2;
  const my = (rect.t + rect.b) / 2;
  const c0 = (size - 1) / 2;
  const matrix: Affine = [
    k * cos,
    k * sin,
    c0 - k * (cos * mx + sin * my),
    -k * sin,
    k * cos,
    c0 - k * (-sin * mx + cos * my),
  ];
  return { matrix, rect, angle };
}

/** The image -> chip affine of dlib's face chip, as dlib's get_mapping_to_chip(get_face_chip_details(...)). */
export function dlibChipMatrix(landmarks: readonly Point[], size = 150, padding = 0.25): Affine {
  return dlibChipGeometry(landmarks, size, padding).matrix;
}

// ---- extract_image_chip ----

const rectDown = (r: DRect): DRect => ({
  l: r.l / 2 - 1.25,
  t: r.t / 2 - 0.75,
  r: r.r / 2 - 1.25,
  b: r.b / 2 - 0.75,
});
const area = (r: DRect): number => (r.t > r.b || r.l > r.r ? 0 : (r.r - r.l + 1) * (r.b - r.t + 1));

/** The rect's corners turned by `angle` about its centre: tl, tr, bl, br. */
function turnedCorners(r: DRect, angle: number): Point[] {
  const cx = (r.l + r.r) / 2;
  const cy = (r.t + r.b) / 2;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const turn = (x: number, y: number): Point => [
    cos * (x - cx) - sin * (y - cy) + cx,
    sin * (x - cx) + cos * (y - cy) + cy,
  ];
  return [turn(r.l, r.t), turn(r.r, r.t), turn(r.l, r.b), turn(r.r, r.b)];
}

/** A rectangle of pixels (inclusive), as dlib's rectangle. */
export interface IRect {
  l: number;
  t: number;
  r: number;
  b: number;
}

/**
 * pyramid_down<2> on the window `win` of `src`: rows and columns filtered by [1 4 6 4 1] in integers,
 * every other one kept ((n - 3) / 2 of them, output pixel i centred on input 2i + 2), sum / 256
 * truncated. null where dlib gives an empty image (8 pixels or fewer on a side).
 */
export function pyramidDown2(
  src: RgbImage,
  win: IRect = { l: 0, t: 0, r: src.width - 1, b: src.height - 1 },
): RgbImage | null {
  const w = win.r - win.l + 1;
  const h = win.b - win.t + 1;
  if (w <= 8 || h <= 8) return null;
  const tw = Math.floor((w - 3) / 2);
  const oh = Math.floor((h - 3) / 2);
  const s = src.data;
  const stride = src.width * 3;
  const temp = new Uint16Array(h * tw * 3); // at most 16 * 255
  for (let r = 0; r < h; r++) {
    let p = (win.t + r) * stride + win.l * 3;
    let o = r * tw * 3;
    for (let c = 0; c < tw; c++, p += 6)
      for (let k = 0; k < 3; k++, o++)
        temp[o] = s[p + k] + 4 * s[p + 3 + k] + 6 * s[p + 6 + k] + 4 * s[p + 9 + k] + s[p + 12 + k];
  }
  const out = rgbImage(tw, oh);
  const d = out.data;
  const row = tw * 3;
  for (let dr = 0; dr < oh; dr++) {
    const t0 = 2 * dr * row; // rows 2dr .. 2dr + 4, centred on 2dr + 2
    const o = dr * row;
    for (let i = 0; i < row; i++)
      d[o + i] =
        (temp[t0 + i] +
          4 * temp[t0 + row + i] +
          6 * temp[t0 + 2 * row + i] +
          4 * temp[t0 + 3 * row + i] +
          temp[t0 + 4 * row + i]) >>
        8;
  }
  return out;
}

/** drectangle -> rectangle in dlib: each side rounded half up. */
const roundRect = (r: DRect): IRect => ({
  l: Math.floor(r.l + 0.5),
  t: Math.floor(r.t + 0.5),
  r: Math.floor(r.r + 0.5),
  b: Math.floor(r.b + 0.5),
});

export interface DlibChip {
  image: RgbImage;
  /** Image -> chip (dlib's get_mapping_to_chip). */
  matrix: Affine;
  /** The pyramid_down<2> level sampled: 0 = the image itself, n = downscaled n times. */
  level: number;
}

/**
 * dlib's extract_image_chip(img, get_face_chip_details(det, size, padding)) with bilinear
 * interpolation, for 68 iBUG landmarks or this project's 5 points.
 */
export function dlibChip(img: RgbImage, landmarks: readonly Point[], size = 150, padding = 0.25): DlibChip {
  const { matrix, rect, angle } = dlibChipGeometry(landmarks, size, padding);
  const chipArea = size * size;
  // No turn and exactly chip-sized: dlib copies the rounded rect.
  if (angle === 0 && rect.b - rect.t + 1 === size && rect.r - rect.l + 1 === size) {
    const box = roundRect(rect);
    if (box.r - box.l + 1 === size && box.b - box.t + 1 === size)
      return { image: copyRect(img, box), matrix, level: 0 };
  }

  // How deep a pyramid, and the image window it is built on: the turned rect grown by 2 pixels
  // per level (2, 6, 14 ...), clipped to the image.
  let grow = 2;
  for (let r = rectDown(rect); area(r) > chipArea; r = rectDown(r)) grow = grow * 2 + 2;
  const corners = turnedCorners(rect, angle);
  const xs = corners.map((p) => p[0]);
  const ys = corners.map((p) => p[1]);
  const box = roundRect({
    l: Math.max(Math.min(...xs) - grow, 0),
    t: Math.max(Math.min(...ys) - grow, 0),
    r: Math.min(Math.max(...xs) + grow, img.width - 1),
    b: Math.min(Math.max(...ys) + grow, img.height - 1),
  });
  const black = (): DlibChip => ({ image: rgbImage(size, size), matrix, level: 0 });
  if (box.l > box.r || box.t > box.b) return black(); // the face is wholly outside the image

  let level = 0;
  let r: DRect = { l: rect.l - box.l, t: rect.t - box.t, r: rect.r - box.l, b: rect.b - box.t };
  while (area(rectDown(r)) > chipArea) {
    level++;
    r = rectDown(r);
  }
  let source: RgbImage | null;
  if (level === 0) source = copyRect(img, box);
  else {
    source = pyramidDown2(img, box);
    for (let i = 1; i < level && source; i++) source = pyramidDown2(source);
  }
  if (!source) return { ...black(), level }; // dlib's pyramid ends in an empty image

  // Chip -> source: chip corners (0, 0), (size-1, 0), (0, size-1) onto the turned rect's tl, tr, bl.
  const [tl, tr, bl] = turnedCorners(r, angle);
  const n = size - 1;
  const toSource: Affine = [
    (tr[0] - tl[0]) / n,
    (bl[0] - tl[0]) / n,
    tl[0],
    (tr[1] - tl[1]) / n,
    (bl[1] - tl[1]) / n,
    tl[1],
  ];
  const image = warpAffine(source, invertAffine(toSource), size, size);
  blackenOutside(image, source, toSource);
  return { image, matrix, level };
}

/** The pixels of `img` in `box`; outside the image, black. */
function copyRect(img: RgbImage, box: IRect): RgbImage {
  const out = rgbImage(box.r - box.l + 1, box.b - box.t + 1);
  for (let y = Math.max(box.t, 0); y <= Math.min(box.b, img.height - 1); y++) {
    const x0 = Math.max(box.l, 0);
    const x1 = Math.min(box.r, img.width - 1);
    if (x1 < x0) break;
    out.data.set(
      img.data.subarray((y * img.width + x0) * 3, (y * img.width + x1 + 1) * 3),
      ((y - box.t) * out.width + (x0 - box.l)) * 3,
    );
  }
  return out;
}

/**
 * dlib's interpolate_bilinear gives up (background, black) when any of the 4 taps is outside,
 * where OpenCV's BORDER_CONSTANT blends the inside taps with black.
 */
function blackenOutside(chip: RgbImage, source: RgbImage, toSource: Affine): void {
  const [a, b, c, d, e, f] = toSource;
  for (let y = 0; y < chip.height; y++)
    for (let x = 0; x < chip.width; x++) {
      const sx = Math.floor(a * x + b * y + c);
      const sy = Math.floor(d * x + e * y + f);
      if (!(sx >= 0 && sy >= 0 && sx + 1 < source.width && sy + 1 < source.height))
        chip.data.fill(0, (y * chip.width + x) * 3, (y * chip.width + x) * 3 + 3);
    }
}
