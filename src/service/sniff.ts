/**
 * What an upload is, by its first bytes (magic numbers), never by its name or declared type: a file
 * called face.jpg holding a script is refused before any decoder sees it.
 */
import { ServiceError } from './errors.js';

export type ImageType = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';

const ascii = (b: Uint8Array, at: number, s: string): boolean =>
  b.length >= at + s.length && [...s].every((c, i) => b[at + i] === c.charCodeAt(0));

/** The image format of `bytes`, or null when it is none the decoder takes. */
export function sniffImage(bytes: Uint8Array): ImageType | null {
  if (bytes.length < 12) return null;
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (ascii(bytes, 0, '\x89PNG\r\n\x1a\n')) return 'png';
  if (ascii(bytes, 0, 'RIFF') && ascii(bytes, 8, 'WEBP')) return 'webp';
  if (ascii(bytes, 0, 'GIF87a') || ascii(bytes, 0, 'GIF89a')) return 'gif';
  if (ascii(bytes, 0, 'II*\0') || ascii(bytes, 0, 'MM\0*')) return 'tiff';
  // ISO BMFF: 'ftyp' at 4, then the brand (sharp's prebuilt libvips reads AVIF, not HEIC).
  if (ascii(bytes, 4, 'ftyp') && (ascii(bytes, 8, 'avif') || ascii(bytes, 8, 'avis'))) return 'avif';
  return null;
}

/** Throws UNSUPPORTED_MEDIA naming the upload unless its bytes are an image. */
export function requireImage(bytes: Uint8Array, label: string): ImageType {
  const type = sniffImage(bytes);
  if (!type)
    throw new ServiceError(
      'UNSUPPORTED_MEDIA',
      `${label}: not an image (JPEG, PNG, WebP, GIF, TIFF or AVIF, judged by its content)`,
    );
  return type;
}
