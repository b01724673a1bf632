/**
 * A fake webcam for Chromium (--use-file-for-fake-video-capture): a YUV4MPEG2 video (4:2:0, BT.601
 * studio range, what Chromium's file capture reads) made of photos, each shown for some frames and
 * drifting a few pixels a frame as a face in front of a camera does. Chromium loops the file.
 */
import { writeFileSync } from 'node:fs';
import sharp from 'sharp';

export interface Scene {
  /** A photo: its top square (where a portrait's face is), letterboxed into the frame. */
  file: string;
  frames: number;
  /** Where in the frame the letterboxed photo sits (default centre). */
  place?: 'left' | 'centre' | 'right';
}

/** Writes the video; returns its length in seconds. Width and height must be even. */
export async function writeY4m(
  path: string,
  scenes: Scene[],
  { width = 320, height = 240, fps = 5, drift = 12 } = {},
): Promise<number> {
  if (width % 2 || height % 2) throw new Error(`y4m 4:2:0 needs an even size, got ${width}x${height}`);
  const parts: Buffer[] = [Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`)];
  const W = width + drift;
  const H = height + drift;
  for (const scene of scenes) {
    // Once per photo, a little larger than the frame; each frame is a window moving across it.
    const img = sharp(await sharp(scene.file).rotate().toBuffer());
    const { width: w, height: h } = await img.metadata();
    const rgb = await img
      .extract({ left: 0, top: 0, width: w!, height: Math.min(h!, w!) }) // a portrait's top square
      .resize(W, H, { fit: 'contain', background: '#000', position: scene.place ?? 'centre' }) // letterboxed
      .removeAlpha()
      .raw()
      .toBuffer();
    for (let f = 0; f < scene.frames; f++) {
      const phase = f % (2 * drift);
      const dx = phase < drift ? phase : 2 * drift - phase; // back and forth
      const dy = Math.floor(dx / 2);
      parts.push(Buffer.from('FRAME\n'), i420(rgb, W, dx, dy, width, height));
    }
  }
  writeFileSync(path, Buffer.concat(parts));
  return scenes.reduce((n, s) => n + s.frames, 0) / fps;
}

/** The width x height window at (x0, y0) of an RGB image `stride` pixels wide, as I420 planes. */
function i420(rgb: Buffer, stride: number, x0: number, y0: number, width: number, height: number): Buffer {
  const out = Buffer.alloc((width * height * 3) / 2);
  const u0 = width * height;
  const v0 = u0 + (width * height) / 4;
  const px = (x: number, y: number) => ((y0 + y) * stride + x0 + x) * 3;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = px(x, y);
      const [r, g, b] = [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!];
      out[y * width + x] = Math.round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255);
    }
  // Chroma: the mean of each 2x2 block.
  for (let y = 0; y < height; y += 2)
    for (let x = 0; x < width; x += 2) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [ddx, ddy] of [
        [0, 0],
        [1, 0],
        [0, 1],
        [1, 1],
      ]) {
        const i = px(x + ddx!, y + ddy!);
        r += rgb[i]! / 4;
        g += rgb[i + 1]! / 4;
        b += rgb[i + 2]! / 4;
      }
      const c = (y / 2) * (width / 2) + x / 2;
      out[u0 + c] = Math.round(128 + (-37.797 * r - 74.203 * g + 112 * b) / 255);
      out[v0 + c] = Math.round(128 + (112 * r - 93.786 * g - 18.214 * b) / 255);
    }
  return out;
}
