/**
 * The link graph: the kNN graph's pairs at or above the scale's link cosine, made symmetric (i is
 * j's neighbour or j is i's), in compressed rows. Every algorithm reads this, never the embeddings.
 */
import type { Scale } from './scale.js';
import type { KnnGraph } from './types.js';

export interface Links {
  n: number;
  /** Row i's links are at offset[i] .. offset[i + 1]. */
  offset: Int32Array;
  to: Int32Array;
  cosine: Float32Array;
  weight: Float32Array;
}

export function buildLinks(g: KnnGraph, scale: Scale): Links {
  const { n, k } = g;
  const pairs = new Map<number, number>(); // i * n + j (i < j) -> cosine
  for (let i = 0; i < n; i++)
    for (let t = 0; t < k; t++) {
      const j = g.index[i * k + t]!;
      const c = g.score[i * k + t]!;
      if (j < 0 || j === i || !(c >= scale.link)) continue;
      const key = i < j ? i * n + j : j * n + i;
      if (!pairs.has(key)) pairs.set(key, c);
    }
  const degree = new Int32Array(n + 1);
  for (const key of pairs.keys()) {
    degree[Math.floor(key / n)]!++;
    degree[key % n]!++;
  }
  const offset = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) offset[i + 1] = offset[i]! + degree[i]!;
  const fill = offset.slice(0, n);
  const to = new Int32Array(offset[n]!);
  const cosine = new Float32Array(offset[n]!);
  const weight = new Float32Array(offset[n]!);
  // Sorted keys: each row's links come out in a fixed order, so seeded runs repeat exactly.
  for (const key of [...pairs.keys()].sort((a, b) => a - b)) {
    const i = Math.floor(key / n);
    const j = key % n;
    const c = pairs.get(key)!;
    const w = scale.weight(c);
    for (const [a, b] of [
      [i, j],
      [j, i],
    ] as const) {
      const p = fill[a]!++;
      to[p] = b;
      cosine[p] = c;
      weight[p] = w;
    }
  }
  return { n, offset, to, cosine, weight };
}
