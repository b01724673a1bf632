/**
 * A photo as the recognition pipeline reads it: `image`, what detection runs on, is the whole photo
 * or, for a large JPEG, a reduced decode of it, and `region` decodes the photo's own pixels where a
 * face needs more resolution than the reduced copy holds.
 *
 * Why: decoding cost follows the pixels that come out of libvips more than the file: a 12 MP JPEG
 * takes ~100 ms to decode whole and ~70 ms to 2048 px (bench/pipeline.ts; from a 3x reduction on,
 * libvips also shrinks in the DCT). Detection reads a 512x512 canvas; the aligned crop is 150x150
 * (or 112x112) and needs the photo's own pixels only for faces too small in the reduced copy.
 *
 * Coordinates: pixel i of `image` covers the photo's pixels around (i + 0.5) * k - 0.5 (pixel
 * centres, libvips' convention), k = photo size / reduced size per axis.
 */
import type { Sharp } from 'sharp';
import { decodePixels, readImageHeader, type DecodeOptions } from './decode.js';
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

export interface SourceOptions extends DecodeOptions {
  /** The longest side a large JPEG is decoded at for detection (default DETECT_SIDE; 0 = whole). */
  detectSide?: number;
}

/**
 * The photo in a file or buffer: a large JPEG decoded at `detectSide`, anything else whole. The
 * header is checked against the pixel cap first, with decodeImage's messages.
 */
export async function decodeSource(
  input: string | Uint8Array,
  opts: SourceOptions = {},
): Promise<ImageSource> {
  const header = await readImageHeader(input, opts);
  const { format, autoOrient } = header.meta;
  const { width, height } = autoOrient ?? header.meta;
  const side = opts.detectSide ?? DETECT_SIDE;
  const k = Math.max(width, height) / side;
  if (!(side > 0 && format === 'jpeg' && k >= MIN_REDUCTION)) return sourceOf(await decodePixels(header));
  const w = Math.max(1, Math.round(width / k));
  const h = Math.max(1, Math.round(height / k));
  // fastShrinkOnLoad: the DCT shrinks by up to the whole factor, lanczos3 does the rest.
  const image = await decodePixels(header, (s) => s.resize(w, h, { fit: 'fill', fastShrinkOnLoad: true }));
  const patches: Patch[] = [];
  return {
    width,
    height,
    image,
    async region(rect) {
      const r = clip(rect, width, height);
      const hit = patches.find((p) => contains(p, r));
      if (hit) return hit;
      const extract = (s: Sharp): Sharp =>
        s.extract({ left: r.x1, top: r.y1, width: r.x2 - r.x1 + 1, height: r.y2 - r.y1 + 1 });
      const patch = { image: await decodePixels(header, extract), x: r.x1, y: r.y1 };
      patches.push(patch);
      return patch;
    },
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
