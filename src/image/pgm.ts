/**
 * Netpbm grey images (PGM, P5 binary and P2 text), the format of the ORL faces. sharp/libvips
 * builds do not all read PGM, and the format is small enough to parse exactly here.
 */
import { badInput } from '../errors.js';

export interface GreyImage {
  width: number;
  height: number;
  /** Row-major grey levels scaled to 0..255. */
  data: Uint8Array;
}

export function decodePgm(bytes: Uint8Array, name = 'image'): GreyImage {
  let pos = 0;
  const token = (): string => {
    for (;;) {
      while (pos < bytes.length && /\s/.test(String.fromCharCode(bytes[pos]))) pos++;
      if (bytes[pos] === 0x23) {
        while (pos < bytes.length && bytes[pos] !== 0x0a) pos++; // '#' comment to end of line
        continue;
      }
      break;
    }
    const start = pos;
    while (pos < bytes.length && !/\s/.test(String.fromCharCode(bytes[pos]))) pos++;
    if (start === pos) throw badInput(`${name}: truncated PGM header`);
    return String.fromCharCode(...bytes.subarray(start, pos));
  };
  const magic = token();
  if (magic !== 'P5' && magic !== 'P2')
    throw badInput(`${name}: not a PGM file (magic "${magic.slice(0, 2)}")`);
  const width = Number(token());
  const height = Number(token());
  const maxVal = Number(token());
  const ok = (v: number, hi: number) => Number.isInteger(v) && v > 0 && v <= hi;
  if (!ok(width, 1 << 15) || !ok(height, 1 << 15) || !ok(maxVal, 65535)) {
    throw badInput(`${name}: bad PGM header (${width}x${height}, max ${maxVal})`);
  }
  const n = width * height;
  const data = new Uint8Array(n);
  const scale = 255 / maxVal;
  if (magic === 'P5') {
    pos++; // exactly one whitespace byte separates header and raster
    const bpp = maxVal < 256 ? 1 : 2;
    if (bytes.length - pos < n * bpp) throw badInput(`${name}: truncated PGM raster`);
    for (let i = 0; i < n; i++) {
      const v = bpp === 1 ? bytes[pos + i] : (bytes[pos + 2 * i] << 8) | bytes[pos + 2 * i + 1];
      data[i] = Math.round(v * scale);
    }
  } else {
    for (let i = 0; i < n; i++) data[i] = Math.round(Number(token()) * scale);
  }
  return { width, height, data };
}

/** Box-filter downscale by an integer factor (averages each f x f block). */
export function downscale(img: GreyImage, f: number): GreyImage {
  const width = Math.floor(img.width / f);
  const height = Math.floor(img.height / f);
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let dy = 0; dy < f; dy++)
        for (let dx = 0; dx < f; dx++) s += img.data[(y * f + dy) * img.width + x * f + dx];
      data[y * width + x] = Math.round(s / (f * f));
    }
  }
  return { width, height, data };
}
