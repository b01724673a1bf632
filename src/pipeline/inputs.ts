/** Where images come from: a path, encoded bytes, or pixels; and folders of them. */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ArcfaceError, badInput } from '../errors.js';
import { decodeImage } from '../image/decode.js';
import type { RgbImage } from '../image/types.js';

export type ImageInput = string | Uint8Array | RgbImage;

export const IMAGE_EXTENSIONS = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
  '.bmp',
  '.pgm',
  '.ppm',
]);

export function isRgbImage(x: unknown): x is RgbImage {
  return typeof x === 'object' && x !== null && 'data' in x && 'width' in x && 'height' in x;
}

export function describeInput(input: ImageInput): string {
  if (typeof input === 'string') return input;
  if (isRgbImage(input)) return `${input.width}x${input.height} image`;
  return 'image buffer';
}

export async function loadImage(input: ImageInput, maxPixels?: number): Promise<RgbImage> {
  if (isRgbImage(input)) return input;
  return decodeImage(input, { maxPixels });
}

/** Image files under `dir` (recursively), sorted, so runs are reproducible. */
export async function listImages(dir: string, recursive = true): Promise<string[]> {
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw new ArcfaceError('NOT_FOUND', `${dir}: no such folder`);
  }
  if (!st.isDirectory()) throw badInput(`${dir}: not a folder`);
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (recursive) await walk(p);
      } else if (IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/** Expand arguments that name folders into the images inside them. */
export async function expandImageArgs(args: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    let st;
    try {
      st = await stat(a);
    } catch {
      out.push(a); // reported per file later, so a batch goes on past it
      continue;
    }
    if (st.isDirectory()) out.push(...(await listImages(a)));
    else out.push(a);
  }
  return out;
}
