/**
 * A photo as the recognition pipeline reads it: `image`, what detection runs on, is the whole photo
 * or, for a large JPEG, a reduced decode of it, and `region` decodes the photo's own pixels where a
 * face needs more resolution than the reduced copy holds. The decoders live elsewhere (sharp in Node,
 * image/source.ts; the browser's, browser/decode.ts); the contract and the reduction rule are here,
 * with no Node import, so both read a photo the same way.
 *
 * Coordinates: pixel i of `image` covers the photo's pixels around (i + 0.5) * k - 0.5 (pixel
 * centres, libvips' convention), k = photo size / reduced size per axis.
 */
import type { RgbImage } from './types.js';

/**
 * The longest side large JPEGs are decoded at for detection: at 2048 face-api's SSD scores move by
 * at most 0.04 from the whole photo's, at 1280 by up to 0.18 (bench/detect_scale.ts).
 */
export const DETECT_SIDE = 2048;
/** Photos whose longest side is under this many times DETECT_SIDE are decoded whole: too little to save. */
const MIN_REDUCTION = 1.5;

/** An integer rectangle of the photo, inclusive corners. */
export interface PixelRect {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** Pixels of the photo at full resolution; (x, y) is the patch's top-left corner in the photo. */
export interface Patch {
  image: RgbImage;
  x: number;
  y: number;
}

export interface ImageSource {
  /** The photo's size after EXIF rotation. */
  readonly width: number;
  readonly height: number;
  /** What detection runs on: the photo, or a reduced decode of it. */
  readonly image: RgbImage;
  /** Full-resolution pixels covering `rect` clipped to the photo (possibly more). */
  region(rect: PixelRect): Promise<Patch>;
}

/** An image already decoded: `image` is the photo and every region is all of it (no copy). */
export function sourceOf(img: RgbImage): ImageSource {
  const all: Patch = { image: img, x: 0, y: 0 };
  return { width: img.width, height: img.height, image: img, region: async () => all };
}

export function isReduced(s: ImageSource): boolean {
  return s.image.width !== s.width || s.image.height !== s.height;
}

/**
 * The size a photo is decoded at for detection, or null to decode it whole: only JPEGs (whose
 * decoders shrink cheaply) at least MIN_REDUCTION times `side` (0: never reduce).
 */
export function reducedSize(
  width: number,
  height: number,
  jpeg: boolean,
  side = DETECT_SIDE,
): { width: number; height: number } | null {
  const k = Math.max(width, height) / side;
  if (!(side > 0 && jpeg && k >= MIN_REDUCTION)) return null;
  return { width: Math.max(1, Math.round(width / k)), height: Math.max(1, Math.round(height / k)) };
}

/**
 * A reduced source's regions: `decode` gives the photo's pixels in a clipped rect; patches already
 * decoded are reused when they cover a new rect.
 */
export function regionsOf(
  width: number,
  height: number,
  decode: (r: PixelRect) => Promise<RgbImage>,
): (rect: PixelRect) => Promise<Patch> {
  const patches: Patch[] = [];
  return async (rect) => {
    const r = clip(rect, width, height);
    const hit = patches.find((p) => contains(p, r));
    if (hit) return hit;
    const patch = { image: await decode(r), x: r.x1, y: r.y1 };
    patches.push(patch);
    return patch;
  };
}

/** The rect grown to whole pixels and clipped to the photo (at least one pixel). */
function clip(r: PixelRect, width: number, height: number): PixelRect {
  const c = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  const x1 = c(Math.floor(r.x1), width - 1);
  const y1 = c(Math.floor(r.y1), height - 1);
  return {
    x1,
    y1,
    x2: Math.max(x1, c(Math.ceil(r.x2), width - 1)),
    y2: Math.max(y1, c(Math.ceil(r.y2), height - 1)),
  };
}

function contains(p: Patch, r: PixelRect): boolean {
  return r.x1 >= p.x && r.y1 >= p.y && r.x2 < p.x + p.image.width && r.y2 < p.y + p.image.height;
}
