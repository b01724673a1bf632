/**
 * Images in the page into the pipeline's pixels: a URL, a Blob (a File from an <input>), an
 * ImageBitmap, ImageData or an RgbImage. Encoded images are decoded by the browser
 * (createImageBitmap, EXIF orientation applied), read back through a canvas as 8-bit RGB with alpha
 * flattened onto black, as sharp does in Node (image/decode.ts); the same size caps apply
 * (image/limits.ts), and a large JPEG is read as the Node pipeline reads it: detection on a copy
 * reduced to DETECT_SIDE, the photo's own pixels where a face needs them (image/source_core.ts).
 */
import { ArcfaceError, badInput } from '../errors.js';
import { DEFAULT_MAX_PIXELS, sizeProblem } from '../image/limits.js';
import { reducedSize, regionsOf, sourceOf, type ImageSource } from '../image/source_core.js';
import { rgbImage, type RgbImage } from '../image/types.js';

export type BrowserImage = string | URL | Blob | ImageBitmap | ImageData | RgbImage;

export interface DecodeOptions {
  /** Refuse images with more pixels (default 50 MP, as in Node). */
  maxPixels?: number;
  /** The longest side a large JPEG is decoded at for detection (default DETECT_SIDE; 0 = whole). */
  detectSide?: number;
}

/** A decoded photo; release() frees the full-resolution bitmap a reduced source keeps for its regions. */
export interface DecodedSource {
  source: ImageSource;
  name: string;
  release(): void;
}

export function isRgbImage(x: unknown): x is RgbImage {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as RgbImage).data instanceof Uint8Array &&
    Number.isInteger((x as RgbImage).width) &&
    Number.isInteger((x as RgbImage).height)
  );
}

const hasImageData = typeof ImageData !== 'undefined';
const hasBitmap = typeof ImageBitmap !== 'undefined';

/** A name for messages. */
export function describe(input: BrowserImage): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  if (typeof File !== 'undefined' && input instanceof File) return input.name || 'file';
  if (input instanceof Blob) return `${input.type || 'blob'} of ${input.size} bytes`;
  if (hasImageData && input instanceof ImageData) return `${input.width}x${input.height} ImageData`;
  if (hasBitmap && input instanceof ImageBitmap) return `${input.width}x${input.height} ImageBitmap`;
  return `${(input as RgbImage).width}x${(input as RgbImage).height} image`;
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!;
}

function checkSize(width: number, height: number, name: string, maxPixels: number): void {
  const over = sizeProblem(width, height, maxPixels);
  if (over) throw badInput(`${name}: ${over}`);
}

type Canvas2D = OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;

function context(width: number, height: number): Canvas2D {
  const canvas =
    typeof OffscreenCanvas !== 'undefined'
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement('canvas'), { width, height });
  // willReadFrequently: a CPU canvas, so getImageData reads back exactly what was drawn.
  const ctx = canvas.getContext('2d', { willReadFrequently: true, alpha: false }) as Canvas2D | null;
  if (!ctx) throw new ArcfaceError('BACKEND', 'this browser gives no 2D canvas to read pixels with');
  return ctx;
}

/** RGBA bytes to RGB, alpha flattened onto black (sharp's flatten in Node). */
function rgbOf(rgba: Uint8ClampedArray, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    const a = rgba[i + 3]!;
    if (a === 255) {
      out[j] = rgba[i]!;
      out[j + 1] = rgba[i + 1]!;
      out[j + 2] = rgba[i + 2]!;
    } else {
      out[j] = Math.round((rgba[i]! * a) / 255);
      out[j + 1] = Math.round((rgba[i + 1]! * a) / 255);
      out[j + 2] = Math.round((rgba[i + 2]! * a) / 255);
    }
  }
  return rgbImage(width, height, out);
}

/** A rectangle of a bitmap, pixel for pixel (no resampling), on black. */
function pixels(src: ImageBitmap, x: number, y: number, width: number, height: number): RgbImage {
  const ctx = context(width, height);
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(src, x, y, width, height, 0, 0, width, height);
  return rgbOf(ctx.getImageData(0, 0, width, height).data, width, height);
}

async function isJpeg(blob: Blob): Promise<boolean> {
  const b = new Uint8Array(await blob.slice(0, 3).arrayBuffer());
  return b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

async function blobOf(input: string | URL): Promise<Blob> {
  const name = typeof input === 'string' ? input : input.href;
  let res: Response;
  try {
    res = await fetch(input);
  } catch (err) {
    throw badInput(`${name}: cannot fetch (${firstLine(err)})`);
  }
  if (!res.ok)
    throw new ArcfaceError(res.status === 404 ? 'NOT_FOUND' : 'BAD_INPUT', `${name}: HTTP ${res.status}`);
  return res.blob();
}

async function decodeBlob(blob: Blob, name: string): Promise<ImageBitmap> {
  if (blob.size === 0) throw badInput(`${name}: empty file (0 bytes)`);
  try {
    return await createImageBitmap(blob, { imageOrientation: 'from-image' });
  } catch (err) {
    throw badInput(`${name}: not a readable image (${firstLine(err)})`);
  }
}

/** The whole image as RgbImage pixels (no reduction): detect() and aligned crops. */
export async function decodeImage(input: BrowserImage, opts: DecodeOptions = {}): Promise<RgbImage> {
  const d = await decodeSource(input, { ...opts, detectSide: 0 });
  d.release();
  return d.source.image;
}

/** The image as the pipeline reads it (a large JPEG reduced for detection, its pixels on demand). */
export async function decodeSource(input: BrowserImage, opts: DecodeOptions = {}): Promise<DecodedSource> {
  const name = describe(input);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const whole = (image: RgbImage): DecodedSource => ({ source: sourceOf(image), name, release() {} });
  if (isRgbImage(input)) {
    if (input.data.length !== input.width * input.height * 3)
      throw badInput(
        `${name}: data has ${input.data.length} bytes, RGB needs ${input.width * input.height * 3}`,
      );
    return whole(input);
  }
  if (hasImageData && input instanceof ImageData) {
    checkSize(input.width, input.height, name, maxPixels);
    return whole(rgbOf(input.data, input.width, input.height));
  }
  if (hasBitmap && input instanceof ImageBitmap) {
    checkSize(input.width, input.height, name, maxPixels);
    return whole(pixels(input, 0, 0, input.width, input.height));
  }
  let blob: Blob;
  if (typeof input === 'string' || input instanceof URL) blob = await blobOf(input);
  else if (input instanceof Blob) blob = input;
  else
    throw badInput(
      `an image must be a URL, a Blob or File, an ImageBitmap, ImageData or {width, height, data}; got ${typeof input}`,
    );
  const full = await decodeBlob(blob, name);
  try {
    checkSize(full.width, full.height, name, maxPixels);
    const { width, height } = full;
    const size = reducedSize(width, height, await isJpeg(blob), opts.detectSide);
    if (!size) {
      const image = pixels(full, 0, 0, width, height);
      full.close();
      return whole(image);
    }
    const small = await createImageBitmap(full, {
      resizeWidth: size.width,
      resizeHeight: size.height,
      resizeQuality: 'high',
    });
    const image = pixels(small, 0, 0, small.width, small.height);
    small.close();
    const region = regionsOf(width, height, async (r) =>
      pixels(full, r.x1, r.y1, r.x2 - r.x1 + 1, r.y2 - r.y1 + 1),
    );
    return { source: { width, height, image, region }, name, release: () => full.close() };
  } catch (err) {
    full.close();
    throw err;
  }
}

/** Resize with the browser's high-quality scaler (the aligned-crop and centre-crop paths only). */
export async function resizeRgb(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0, j = 0; j < img.data.length; i += 4, j += 3) {
    rgba[i] = img.data[j]!;
    rgba[i + 1] = img.data[j + 1]!;
    rgba[i + 2] = img.data[j + 2]!;
    rgba[i + 3] = 255;
  }
  const bitmap = await createImageBitmap(new ImageData(rgba, img.width, img.height), {
    resizeWidth: width,
    resizeHeight: height,
    resizeQuality: 'high',
  });
  try {
    return pixels(bitmap, 0, 0, width, height);
  } finally {
    bitmap.close();
  }
}
