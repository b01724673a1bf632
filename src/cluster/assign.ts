/**
 * Incremental clustering: new faces join the existing clusters or form new ones, without
 * re-clustering what is there. Each new face votes over its linked existing neighbours (summed link
 * weights per cluster; strongest first, a cluster holding a face of its photo refused; a vote weaker
 * than the face's links to the faces that are no one's yet loses to them), and the new
 * faces that join no existing cluster are clustered among themselves together with the existing
 * singletons they link to (a new photo can make a person of faces that were alone). Existing
 * clusters are never split or renumbered; new clusters get ids above the largest existing one.
 *
 * Constraints a person decided (stored corrections and 'apart' links) ride along: a new face never
 * joins a cluster `exclude` names for it, and a new cluster never holds two faces `apart` pairs
 * (checked after the pooled clustering: of such a pair the later pool member, existing singletons
 * before new faces, is left out, and a cluster that drops below minFaces dissolves).
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

/** A face of an assign call: an existing one (position in `existing`) or a new one (in `newFaces`). */
export type FaceRef = { existing: number } | { added: number };

export interface Constraints {
  /** Existing clusters new face `f` may never join (a correction: "this face is not that person"). */
  exclude?: (f: number) => ReadonlySet<number> | undefined;
  /** Two faces never to share a new cluster, beyond the photo rule (symmetric). */
  apart?: (a: FaceRef, b: FaceRef) => boolean;
}

export interface AssignResult {
  /** A cluster per new face. */
  added: Assignment;
  /** Existing singletons that now belong to a new cluster: position in `existing` -> cluster. */
  joined: Map<number, number>;
}

export function assign(
  newFaces: ClusterFaces,
  existing: Existing,
  opts: ClusterOptions,
  constraints: Constraints = {},
): AssignResult {
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
  // Per new face, the weight of its links to the faces that are no one's yet (the other new faces
  // of other photos, and existing singletons): a vote for an existing cluster must beat it, as
  // Chinese Whispers would weigh the two. Else one stray link to a big gallery (about N x FAR of
  // them at N faces) pulls a new person's faces into a stranger's cluster one by one.
  const peers = new Float64Array(m);
  if (m > 1) {
    const own = neighbourSource(newFaces.embeddings).graph(Math.min(k, m - 1));
    for (let f = 0; f < m; f++)
      for (let t = 0; t < own.k; t++) {
        const j = own.index[f * own.k + t]!;
        const c = own.score[f * own.k + t]!;
        if (j >= 0 && c >= opts.scale.link && photo[e + j] !== photo[e + f]) peers[f] += opts.scale.weight(c);
      }
  }
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
        if (cl === null || cl === undefined) {
          singletonsLinked.add(j);
          peers[f] += opts.scale.weight(c);
        } else sum.set(cl, (sum.get(cl) ?? 0) + opts.scale.weight(c));
      }
      for (const [cluster, w] of sum) votes.push({ face: f, cluster, w });
    }
    // Strongest votes first: of two faces of one photo, the likelier keeps the cluster.
    votes.sort((a, b) => b.w - a.w || a.face - b.face || a.cluster - b.cluster);
    for (const v of votes) {
      if (added[v.face] !== null || constraints.exclude?.(v.face)?.has(v.cluster)) continue;
      if (v.w < peers[v.face]!) continue;
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
    let local = finalise(clusterLabels(sub, { ...opts, source: undefined }), opts.minFaces ?? 2);
    if (constraints.apart) local = keepApart(local, pool, constraints.apart, opts.minFaces ?? 2);
    pool.forEach((x, t) => {
      const c = local[t];
      if (c === null || c === undefined) return;
      if (x.from === 'new') added[x.i] = nextId + c;
      else joined.set(x.i, nextId + c);
    });
  }
  return { added, joined };
}

/**
 * The pooled clusters with no `apart` pair inside: each member, in pool order, is kept unless it is
 * apart from a member kept before it; clusters left under minFaces dissolve; ids made canonical again.
 */
function keepApart(
  local: Assignment,
  pool: { from: 'old' | 'new'; i: number }[],
  apart: NonNullable<Constraints['apart']>,
  minFaces: number,
): Assignment {
  const ref = (t: number): FaceRef =>
    pool[t]!.from === 'old' ? { existing: pool[t]!.i } : { added: pool[t]!.i };
  const kept = new Map<number, number[]>();
  const labels = local.map((c, t) => {
    if (c === null) return -1;
    let mine = kept.get(c);
    if (!mine) kept.set(c, (mine = []));
    if (mine.some((u) => apart(ref(u), ref(t)) || apart(ref(t), ref(u)))) return -1;
    mine.push(t);
    return c;
  });
  return finalise(labels, minFaces);
}
