/** Write a plot as SVG, or as PNG rasterised by sharp (librsvg), chosen by the file extension. */
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp from 'sharp';
import { badInput } from '../errors.js';

export async function writePlot(path: string, svg: string): Promise<void> {
  const ext = extname(path).toLowerCase();
  if (ext === '.svg') return writeFile(path, svg);
  if (ext === '.png') {
    let png: Buffer;
    try {
      png = await sharp(Buffer.from(svg)).png().toBuffer();
    } catch (err) {
      throw badInput(`${path}: cannot rasterise the plot (${String((err as Error).message).split('\n')[0]})`);
    }
    return writeFile(path, png);
  }
  throw badInput(`${path}: plots are written as .svg or .png, not '${ext || 'no extension'}'`);
}
