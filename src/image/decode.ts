/**
 * Decode any image sharp reads (JPEG, PNG, WebP, GIF, TIFF, AVIF...) into an RgbImage, with the
 * EXIF orientation applied, alpha flattened onto black and grey expanded to three channels.
 * A pixel cap guards against decompression bombs: the header is read before any pixel is.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { ArcfaceError, badInput } from '../errors.js';
import { DEFAULT_MAX_PIXELS, sizeProblem } from './limits.js';
import { rgbImage, type RgbImage } from './types.js';

export { DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE, maxSideFor, sizeProblem } from './limits.js';

export interface DecodeOptions {
  /** Refuse images with more pixels than this (width x height, before decoding). */
  maxPixels?: number;
  /** Refuse images with a longer side (before decoding; default maxSideFor(maxPixels)). */
  maxSide?: number;
  /** A name for error messages when the input is a buffer. */
  name?: string;
}

export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  return decodePixels(await readImageHeader(input, opts));
}

/** An image's bytes and header, read and checked against the pixel cap before any pixel is decoded. */
export interface ImageHeader {
  bytes: Uint8Array;
  name: string;
  maxPixels: number;
  meta: Metadata;
}

export async function readImageHeader(
  input: string | Uint8Array,
  opts: DecodeOptions = {},
): Promise<ImageHeader> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const name = typeof input === 'string' ? input : (opts.name ?? 'image buffer');
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    try {
      bytes = await readFile(input);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new ArcfaceError('NOT_FOUND', `${name}: no such file`);
      throw badInput(`${name}: cannot read (${(err as Error).message})`);
    }
  } else bytes = input;
  if (bytes.length === 0) throw badInput(`${name}: empty file (0 bytes)`);

  let meta: Metadata;
  try {
    // limitInputPixels false here: we check the header ourselves to give a clearer message.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw badInput(`${name}: not a readable image (${firstLine(err)})`);
  }
  if (!meta.width || !meta.height) throw badInput(`${name}: image has no size`);
  const over = sizeProblem(meta.width, meta.height, maxPixels, opts.maxSide);
  if (over)
    throw badInput(
      `${name}: ${over}` +
        (meta.width * meta.height > maxPixels ? ' (raise it with --max-pixels if the file is trusted)' : ''),
    );
  return { bytes, name, maxPixels, meta };
}

/**
 * The pixels of a checked image, EXIF-rotated; `shape` adds an operation on the rotated image (a
 * resize, which libvips runs as shrink-on-load on JPEGs, or an extract).
 */
export async function decodePixels(h: ImageHeader, shape?: (s: Sharp) => Sharp): Promise<RgbImage> {
  try {
    const rotated = sharp(h.bytes, { limitInputPixels: h.maxPixels, failOn: 'error' }).rotate(); // EXIF orientation
    const { data, info } = await (shape ? shape(rotated) : rotated)
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return rgbImage(info.width, info.height, new Uint8Array(data.buffer, data.byteOffset, data.length));
  } catch (err) {
    throw badInput(`${h.name}: cannot decode (${firstLine(err)}); the file may be truncated or corrupt`);
  }
}

/** Resize with sharp (bilinear on the RGB bytes); used for detector inputs and thumbnails. */
export async function resizeRgb(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return rgbImage(info.width, info.height, new Uint8Array(data.buffer, data.byteOffset, data.length));
}

/** Encode to PNG or JPEG by the file extension (for `arcface align -o DIR`). */
export async function encodeImage(img: RgbImage, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  return format === 'png' ? s.png().toBuffer() : s.jpeg({ quality: 95 }).toBuffer();
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!;
}
