/**
 * Data of the toy experiment (paper Fig. 3: 8 identities, 2-D features). Real faces when the
 * ORL set is at hand (40 people x 10 grey 92x112 photos, taken 8 people, halved to 46x56),
 * else a generated set of 8 "identities": smooth random templates seen under shift, contrast
 * and noise, so the command runs on any machine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePgm, downscale } from '../image/pgm.js';
import { gaussian, rng } from '../util/random.js';
import { badInput } from '../errors.js';

export const TOY_HEIGHT = 56;
export const TOY_WIDTH = 46;

export interface ToyData {
  source: 'orl' | 'synthetic';
  identities: string[];
  /** N x H x W grey images in 0..255. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
}

/** Loads identities s1..sK of the ORL faces from `dir` (its s<k>/<i>.pgm layout). */
export function loadOrlToy(dir: string, classes = 8): ToyData {
  const identities: string[] = [];
  const images: number[][] = [];
  const labels: number[] = [];
  for (let k = 1; k <= classes; k++) {
    const id = `s${k}`;
    const folder = join(dir, id);
    if (!existsSync(folder)) throw badInput(`ORL folder ${dir} has no ${id}/`);
    identities.push(id);
    for (let i = 1; i <= 10; i++) {
      const file = join(folder, `${i}.pgm`);
      if (!existsSync(file)) continue;
      const img = downscale(decodePgm(readFileSync(file), file), 2);
      if (img.width !== TOY_WIDTH || img.height !== TOY_HEIGHT) {
        throw badInput(`${file}: expected a 92x112 ORL image, got ${img.width * 2}x${img.height * 2}`);
      }
      images.push(Array.from(img.data));
      labels.push(k - 1);
    }
  }
  return pack('orl', identities, images, labels);
}

/** A generated stand-in: per identity a template of random Gaussian blobs, per sample a jittered view. */
export function syntheticToy(classes = 8, perClass = 16, seed = 7): ToyData {
  const random = rng(seed);
  const H = TOY_HEIGHT;
  const W = TOY_WIDTH;
  const identities: string[] = [];
  const images: number[][] = [];
  const labels: number[] = [];
  for (let c = 0; c < classes; c++) {
    identities.push(`synthetic-${c + 1}`);
    const blobs = Array.from({ length: 7 }, () => ({
      y: 8 + random() * (H - 16),
      x: 6 + random() * (W - 12),
      r: 3 + random() * 7,
      a: (random() - 0.3) * 160,
    }));
    for (let s = 0; s < perClass; s++) {
      const dy = gaussian(random) * 1.5;
      const dx = gaussian(random) * 1.5;
      const contrast = 0.8 + 0.4 * random();
      const img = new Array<number>(H * W);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          let v = 90;
          for (const b of blobs) {
            const d2 = (y - b.y - dy) ** 2 + (x - b.x - dx) ** 2;
            v += b.a * Math.exp(-d2 / (2 * b.r * b.r));
          }
          img[y * W + x] = Math.min(255, Math.max(0, v * contrast + gaussian(random) * 12));
        }
      }
      images.push(img);
      labels.push(c);
    }
  }
  return pack('synthetic', identities, images, labels);
}

function pack(
  source: ToyData['source'],
  identities: string[],
  images: number[][],
  labels: number[],
): ToyData {
  const n = images.length;
  const out = new Float32Array(n * TOY_HEIGHT * TOY_WIDTH);
  images.forEach((img, i) => out.set(img, i * TOY_HEIGHT * TOY_WIDTH));
  return {
    source,
    identities,
    images: out,
    labels: Int32Array.from(labels),
    count: n,
    height: TOY_HEIGHT,
    width: TOY_WIDTH,
  };
}

/**
 * A batch with the usual face augmentation: horizontal flip, a shift of up to `shift` pixels
 * (zero fill) and brightness/contrast jitter; normalised as InsightFace does, (x - 127.5) / 127.5.
 */
export function toyBatch(
  data: ToyData,
  indices: number[],
  random: (() => number) | null,
  shift = 3,
): { x: Float32Array; y: Int32Array } {
  const H = data.height;
  const W = data.width;
  const x = new Float32Array(indices.length * H * W);
  const y = new Int32Array(indices.length);
  indices.forEach((idx, b) => {
    y[b] = data.labels[idx];
    const src = data.images.subarray(idx * H * W, (idx + 1) * H * W);
    const flip = random ? random() < 0.5 : false;
    const sy = random ? Math.round((random() * 2 - 1) * shift) : 0;
    const sx = random ? Math.round((random() * 2 - 1) * shift) : 0;
    const gain = random ? 0.85 + 0.3 * random() : 1;
    const bias = random ? (random() - 0.5) * 30 : 0;
    const base = b * H * W;
    for (let r = 0; r < H; r++) {
      const rr = r - sy;
      for (let c = 0; c < W; c++) {
        const cc0 = c - sx;
        const cc = flip ? W - 1 - cc0 : cc0;
        const v = rr >= 0 && rr < H && cc >= 0 && cc < W ? src[rr * W + cc] * gain + bias : 0;
        x[base + r * W + c] = (v - 127.5) / 127.5;
      }
    }
  });
  return { x, y };
}
