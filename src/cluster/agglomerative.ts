/**
 * Agglomerative clustering with average linkage on the kNN graph: start from singletons, merge the
 * two clusters of highest average cosine while it is at least the link threshold and they share no
 * photo (cannot-link). Only kNN pairs are known; an unknown pair counts as `unseen` (the caller's:
 * the median of the faces' k-th neighbour cosines, an upper bound for most such pairs, capped at
 * what strangers typically score), so big clusters still pay for the pairs they have not seen
 * instead of merging as single linkage would. Lazy max-heap: an
 * entry is stale once either side has merged since it was pushed.
 */
import type { Links } from './links.js';
import { PhotoSets } from './rules.js';
import type { KnnGraph } from './types.js';

class Heap {
  private readonly items: { s: number; a: number; b: number; va: number; vb: number }[] = [];
  get size(): number {
    return this.items.length;
  }
  push(x: { s: number; a: number; b: number; va: number; vb: number }): void {
    const h = this.items;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.s >= h[i]!.s) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }
  pop(): { s: number; a: number; b: number; va: number; vb: number } {
    const h = this.items;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.s > h[m]!.s) m = l;
        if (r < h.length && h[r]!.s > h[m]!.s) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}

/** The median of each face's k-th neighbour cosine: what an unseen pair is taken to score. */
export function unseenCosine(g: KnnGraph): number {
  const kth: number[] = [];
  for (let i = 0; i < g.n; i++) {
    const s = g.score[i * g.k + g.k - 1]!;
    if (Number.isFinite(s)) kth.push(s);
  }
  if (!kth.length) return -1;
  kth.sort((a, b) => a - b);
  return kth[kth.length >> 1]!;
}

export function agglomerative(links: Links, photo: Int32Array, link: number, unseen: number): Int32Array {
  const { n, offset, to, cosine } = links;
  const size = new Int32Array(n).fill(1);
  const version = new Int32Array(n);
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  // Per live cluster: neighbour cluster -> [sum of known cosines, known pairs].
  const adj: Map<number, [number, number]>[] = Array.from({ length: n }, () => new Map());
  const photos = new PhotoSets();
  for (let i = 0; i < n; i++) {
    photos.add(i, photo[i]!);
    for (let p = offset[i]!; p < offset[i + 1]!; p++) adj[i]!.set(to[p]!, [cosine[p]!, 1]);
  }
  const avg = (a: number, b: number, e: [number, number]) => {
    const pairs = size[a]! * size[b]!;
    return (e[0] + (pairs - e[1]) * unseen) / pairs;
  };
  const heap = new Heap();
  for (let a = 0; a < n; a++)
    for (const [b, e] of adj[a]!) if (a < b) heap.push({ s: avg(a, b, e), a, b, va: 0, vb: 0 });
  while (heap.size) {
    const { s, a, b, va, vb } = heap.pop();
    if (s < link) break;
    if (version[a] !== va || version[b] !== vb || parent[a] !== a || parent[b] !== b) continue;
    if (photos.clash(a, b)) continue;
    // Keep the bigger map; fold the smaller one into it and into its neighbours.
    const [keep, gone] = adj[a]!.size >= adj[b]!.size ? [a, b] : [b, a];
    parent[gone] = keep;
    photos.merge(keep, gone);
    const km = adj[keep]!;
    km.delete(gone);
    for (const [x, e] of adj[gone]!) {
      if (x === keep) continue;
      const xm = adj[x]!;
      xm.delete(gone);
      const cur = km.get(x);
      const sum: [number, number] = cur ? [cur[0] + e[0], cur[1] + e[1]] : [e[0], e[1]];
      km.set(x, sum);
      xm.set(keep, sum);
    }
    adj[gone] = new Map();
    size[keep] = size[keep]! + size[gone]!;
    version[keep]!++;
    for (const [x, e] of km)
      heap.push({ s: avg(keep, x, e), a: keep, b: x, va: version[keep]!, vb: version[x]! });
  }
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i]!;
    return i;
  };
  return Int32Array.from({ length: n }, (_, i) => root(i));
}
