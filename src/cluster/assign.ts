/**
 * Incremental clustering: new faces join the existing clusters or form new ones, without
 * re-clustering what is there. Each new face votes over its linked existing neighbours (summed link
 * weights per cluster; strongest first, a cluster holding a face of its photo refused), and the new
 * faces that join no existing cluster are clustered among themselves together with the existing
 * singletons they link to (a new photo can make a person of faces that were alone). Existing
 * clusters are never split or renumbered; new clusters get ids above the largest existing one.
 */
import { clusterLabels, type ClusterOptions, checkFaces, DEFAULT_K } from './cluster.js';
import { neighbourSource, toMatrix, type NeighbourSource } from './neighbours.js';
import { finalise, photoIndex } from './rules.js';
import type { Assignment, ClusterFaces } from './types.js';

export interface Existing {
  faces: ClusterFaces;
  /** Their clusters (null: singleton). */
  clusters: Assignment;
  /** Neighbours among the existing faces (default: built from their embeddings). */
  source?: NeighbourSource;
}

export interface AssignResult {
  /** A cluster per new face. */
  added: Assignment;
  /** Existing singletons that now belong to a new cluster: position in `existing` -> cluster. */
  joined: Map<number, number>;
}

export function assign(newFaces: ClusterFaces, existing: Existing, opts: ClusterOptions): AssignResult {
  checkFaces(newFaces);
  checkFaces(existing.faces);
  const m = newFaces.ids.length;
  const e = existing.faces.ids.length;
  const k = opts.k ?? DEFAULT_K;
  const photo = photoIndex([...existing.faces.photos, ...newFaces.photos]);
  // Which photos each existing cluster holds (cannot-link), and the next free cluster id.
  const held = new Map<number, Set<number>>();
  let nextId = 0;
  existing.clusters.forEach((c, i) => {
    if (c === null) return;
    if (!held.has(c)) held.set(c, new Set());
    held.get(c)!.add(photo[i]!);
    nextId = Math.max(nextId, c + 1);
  });
  const added: Assignment = new Array<number | null>(m).fill(null);
  const singletonsLinked = new Set<number>();
  if (e > 0 && m > 0) {
    const source = existing.source ?? neighbourSource(existing.faces.embeddings);
    const g = source.search(toMatrix(newFaces.embeddings).matrix, Math.min(k, e));
    const votes: { face: number; cluster: number; w: number }[] = [];
    for (let f = 0; f < m; f++) {
      const sum = new Map<number, number>();
      for (let t = 0; t < g.k; t++) {
        const j = g.index[f * g.k + t]!;
        const c = g.score[f * g.k + t]!;
        if (j < 0 || !(c >= opts.scale.link)) continue;
        const cl = existing.clusters[j];
        if (cl === null || cl === undefined) singletonsLinked.add(j);
        else sum.set(cl, (sum.get(cl) ?? 0) + opts.scale.weight(c));
      }
      for (const [cluster, w] of sum) votes.push({ face: f, cluster, w });
    }
    // Strongest votes first: of two faces of one photo, the likelier keeps the cluster.
    votes.sort((a, b) => b.w - a.w || a.face - b.face || a.cluster - b.cluster);
    for (const v of votes) {
      if (added[v.face] !== null) continue;
      const p = photo[e + v.face]!;
      if (held.get(v.cluster)!.has(p)) continue;
      added[v.face] = v.cluster;
      held.get(v.cluster)!.add(p);
    }
  }
  // The rest: new faces left over plus the existing singletons they reach, clustered afresh.
  const pool: { from: 'old' | 'new'; i: number }[] = [...singletonsLinked]
    .sort((a, b) => a - b)
    .map((j) => ({ from: 'old', i: j }));
  for (let f = 0; f < m; f++) if (added[f] === null) pool.push({ from: 'new', i: f });
  const joined = new Map<number, number>();
  if (pool.some((x) => x.from === 'new')) {
    const pick = <T>(x: { from: 'old' | 'new'; i: number }, a: readonly T[], b: readonly T[]) =>
      x.from === 'old' ? a[x.i]! : b[x.i]!;
    const sub: ClusterFaces = {
      ids: pool.map((x) => pick(x, existing.faces.ids, newFaces.ids)),
      photos: pool.map((x) => pick(x, existing.faces.photos, newFaces.photos)),
      embeddings: pool.map((x) => pick(x, existing.faces.embeddings, newFaces.embeddings)),
    };
    const local = finalise(clusterLabels(sub, { ...opts, source: undefined }), opts.minFaces ?? 2);
    pool.forEach((x, t) => {
      const c = local[t];
      if (c === null || c === undefined) return;
      if (x.from === 'new') added[x.i] = nextId + c;
      else joined.set(x.i, nextId + c);
    });
  }
  return { added, joined };
}
