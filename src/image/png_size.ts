/**
 * A PNG's width and height from its header (the IHDR chunk, bytes 16-23), without decoding: how a
 * crop read from a file is sized up before anything inflates it (a 30000x30000 PNG is a few KB of
 * zlib and gigabytes of pixels).
 */
const MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** null when the bytes do not start like a PNG (signature, then an IHDR chunk of 13 bytes). */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length < 24 || !MAGIC.every((b, i) => bytes[i] === b)) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ihdr = String.fromCharCode(bytes[12]!, bytes[13]!, bytes[14]!, bytes[15]!);
  if (dv.getUint32(8) !== 13 || ihdr !== 'IHDR') return null;
  const width = dv.getUint32(16);
  const height = dv.getUint32(20);
  return width > 0 && height > 0 ? { width, height } : null;
}
