/**
 * DBSCAN (Ester et al. 1996) on the link graph, as Immich and PhotoPrism group faces: a face with
 * at least `minPoints` faces within the link threshold (itself counted) is a core; clusters grow
 * from cores through their linked faces, and a non-core face joins the first cluster that reaches
 * it. Cannot-link: a face is not added to a cluster that already holds a face of its photo (it
 * stays free for another). Faces no cluster reaches are noise (-1).
 */
import type { Links } from './links.js';
import { PhotoSets } from './rules.js';

export function dbscan(links: Links, photo: Int32Array, minPoints: number): Int32Array {
  const { n, offset, to, cosine } = links;
  const label = new Int32Array(n).fill(-1);
  const photos = new PhotoSets();
  const core = (i: number) => offset[i + 1]! - offset[i]! + 1 >= minPoints;
  let next = 0;
  for (let s = 0; s < n; s++) {
    if (label[s]! >= 0 || !core(s)) continue;
    const c = next++;
    label[s] = c;
    photos.add(c, photo[s]!);
    const queue = [s];
    while (queue.length) {
      const i = queue.shift()!;
      if (!core(i)) continue;
      // Nearest first, so cannot-link keeps the closer of two faces of one photo.
      const row: number[] = [];
      for (let p = offset[i]!; p < offset[i + 1]!; p++) row.push(p);
      row.sort((a, b) => cosine[b]! - cosine[a]!);
      for (const p of row) {
        const j = to[p]!;
        if (label[j]! >= 0 || photos.has(c, photo[j]!)) continue;
        label[j] = c;
        photos.add(c, photo[j]!);
        queue.push(j);
      }
    }
  }
  return label;
}
