/**
 * A photo in a file or buffer as the recognition pipeline reads it (source_core.ts), decoded by
 * sharp.
 *
 * Why reduce: decoding cost follows the pixels that come out of libvips more than the file: a 12 MP
 * JPEG takes ~100 ms to decode whole and ~70 ms to 2048 px (bench/pipeline.ts; from a 3x reduction
 * on, libvips also shrinks in the DCT). Detection reads a 512x512 canvas; the aligned crop is
 * 150x150 (or 112x112) and needs the photo's own pixels only for faces too small in the reduced copy.
 */
import type { Sharp } from 'sharp';
import { decodePixels, readImageHeader, type DecodeOptions } from './decode.js';
import { reducedSize, regionsOf, sourceOf, type ImageSource } from './source_core.js';

export {
  DETECT_SIDE,
  isReduced,
  sourceOf,
  type ImageSource,
  type Patch,
  type PixelRect,
} from './source_core.js';

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
  const size = reducedSize(width, height, format === 'jpeg', opts.detectSide);
  if (!size) return sourceOf(await decodePixels(header));
  // fastShrinkOnLoad: the DCT shrinks by up to the whole factor, lanczos3 does the rest.
  const image = await decodePixels(header, (s) =>
    s.resize(size.width, size.height, { fit: 'fill', fastShrinkOnLoad: true }),
  );
  const region = regionsOf(width, height, (r) =>
    decodePixels(header, (s: Sharp) =>
      s.extract({ left: r.x1, top: r.y1, width: r.x2 - r.x1 + 1, height: r.y2 - r.y1 + 1 }),
    ),
  );
  return { width, height, image, region };
}
