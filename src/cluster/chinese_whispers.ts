/**
 * Chinese Whispers (Biemann 2006), as dlib's `chinese_whispers` clusters faces: every face starts
 * as its own label; in seeded random order each face takes the label with the largest summed link
 * weight among its neighbours; repeat until a pass changes nothing (or `iterations` passes). Here a
 * face may not take a label that already holds another face of its photo (cannot-link).
 */
import { rng, shuffle } from '../util/random.js';
import type { Links } from './links.js';
import { PhotoSets } from './rules.js';

export interface ChineseWhispersOptions {
  /** Passes over all faces at most (dlib: 100 iterations). */
  iterations?: number;
  seed?: number;
}

export function chineseWhispers(
  links: Links,
  photo: Int32Array,
  opts: ChineseWhispersOptions = {},
): Int32Array {
  const { n, offset, to, weight } = links;
  const label = Int32Array.from({ length: n }, (_, i) => i);
  const photos = new PhotoSets();
  for (let i = 0; i < n; i++) photos.add(i, photo[i]!);
  const random = rng(opts.seed ?? 1);
  const order = Array.from({ length: n }, (_, i) => i);
  const sum = new Map<number, number>();
  for (let pass = 0; pass < (opts.iterations ?? 100); pass++) {
    let changed = 0;
    for (const i of shuffle(order, random)) {
      if (offset[i] === offset[i + 1]) continue;
      sum.clear();
      for (let p = offset[i]!; p < offset[i + 1]!; p++) {
        const l = label[to[p]!]!;
        sum.set(l, (sum.get(l) ?? 0) + weight[p]!);
      }
      let best = label[i]!;
      let bestW = sum.get(best) ?? 0;
      for (const [l, w] of sum)
        if (w > bestW && l !== label[i] && !photos.has(l, photo[i]!)) {
          best = l;
          bestW = w;
        }
      if (best !== label[i]) {
        photos.remove(label[i]!, photo[i]!);
        photos.add(best, photo[i]!);
        label[i] = best;
        changed++;
      }
    }
    if (!changed) break;
  }
  return label;
}
