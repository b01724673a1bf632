/**
 * Clusters that live in a gallery, grown photo batch by photo batch without re-clustering what is
 * there: the new faces are given to src/cluster/assign.ts against every face the gallery holds, and
 * what it decides is stored in one store transaction (writeClusters), so a failure stores nothing.
 *
 * - Every stored subject votes: a cluster, and a person too, so photos of someone named join them
 *   (as Immich does). A cluster of one face is a singleton: assign sees it as no one's, and when new
 *   photos make a person of it, its face moves into the new cluster and the emptied subject goes.
 * - A new face that joins no one is stored as its own one-face cluster (a singleton to review).
 * - Two faces of one photo (its sha256) never share a cluster; a photo whose sha256 the gallery
 *   already holds is skipped ('duplicate'), so clustering the same folder again changes nothing.
 * - What a person decided holds: a correction "this face is not S" (photo sha256 + IoU >= 0.5, as
 *   identify matches it) keeps the face out of S, and of a new cluster with S's face when S is a
 *   singleton; 'apart' links keep singletons out of one new cluster; existing clusters are never
 *   split, renumbered or merged, so merges and splits stand.
 *
 * Between reading the gallery and writing, another process may change it: a subject or face that
 * went meanwhile fails the write (NOT_FOUND, nothing stored); the service serialises its own calls.
 */
import {
  assign,
  DEFAULT_K,
  type ClusterFaces,
  type ClusterOptions,
  type FaceRef,
  type KnnGraph,
  type NeighbourSource,
} from '../cluster/index.js';
import { badInput } from '../errors.js';
import {
  excludedSubjects,
  type ClusterWrite,
  type Correction,
  type GalleryStore,
  type NewFace,
  type SubjectKind,
} from '../gallery/index.js';

/** The gallery's stored faces as clustering sees them, and the photos they came from. */
export interface GalleryFaces {
  faceIds: number[];
  /** Per face: its photo key (sha256, or a key of its own when it has none) and its subject. */
  photos: string[];
  subjects: number[];
  embeddings: Float32Array[];
  kinds: Map<number, SubjectKind>;
  /** Faces per subject. */
  sizes: Map<number, number>;
  /** The sha256 of every photo a stored face came from. */
  shas: Set<string>;
}

export async function readGalleryFaces(store: GalleryStore, gallery: string): Promise<GalleryFaces> {
  const out: GalleryFaces = {
    faceIds: [],
    photos: [],
    subjects: [],
    embeddings: [],
    kinds: new Map(),
    sizes: new Map(),
    shas: new Set(),
  };
  for (const s of await store.listSubjects(gallery, { kind: 'all' })) out.kinds.set(s.id, s.kind);
  for await (const f of store.faces(gallery)) {
    out.faceIds.push(f.id);
    out.photos.push(f.imageSha256 ?? `face ${f.id}`);
    out.subjects.push(f.subjectId);
    out.embeddings.push(f.embedding);
    out.sizes.set(f.subjectId, (out.sizes.get(f.subjectId) ?? 0) + 1);
    if (f.imageSha256) out.shas.add(f.imageSha256);
  }
  return out;
}

/** Where one new face went. */
export interface PlacedFace {
  /**
   * 'joined' an existing subject (a person or a cluster), made a 'newCluster' with other faces, or
   * alone: a 'singleton' (a one-face cluster); 'duplicate': its photo is already in the gallery, not stored.
   */
  outcome: 'joined' | 'newCluster' | 'singleton' | 'duplicate';
  faceId: number | null;
  subjectId: number | null;
  kind: SubjectKind | null;
}

export interface ClusterGalleryResult {
  /** One per face given, in order. */
  faces: PlacedFace[];
  /** Clusters this call made with two or more faces. */
  newClusters: number[];
  /** One-face clusters this call made. */
  singletons: number;
  /** Existing subjects new faces joined. */
  joinedSubjects: number[];
  /** Stored singletons that moved into a new cluster. */
  singletonsJoined: number;
  /** Subjects deleted because their face moved (emptied singletons). */
  removedClusters: number[];
}

export interface ClusterGalleryOptions extends ClusterOptions {
  /** The gallery as just read (readGalleryFaces), to save reading it twice. */
  snapshot?: GalleryFaces;
}

/**
 * The new faces' nearest stored faces, from the gallery's own search index (store.nearestFaces:
 * exact below its ANN threshold, its saved HNSW graph above), as assign's neighbour source: a
 * call costs k neighbours a new face, not a graph of the whole gallery built again.
 */
async function storeNeighbours(
  store: GalleryStore,
  gallery: string,
  have: GalleryFaces,
  faces: NewFace[],
  k: number,
): Promise<NeighbourSource> {
  const position = new Map(have.faceIds.map((id, i) => [id, i]));
  const kk = Math.max(1, Math.min(k, have.faceIds.length));
  const index = new Int32Array(faces.length * kk).fill(-1);
  const score = new Float32Array(faces.length * kk).fill(-Infinity);
  if (have.faceIds.length)
    for (let f = 0; f < faces.length; f++) {
      const near = await store.nearestFaces(
        gallery,
        { embedding: faces[f]!.embedding, model: faces[f]!.model },
        kk,
      );
      let t = 0;
      for (const n of near) {
        const j = position.get(n.faceId);
        // A face stored after the gallery was read is not in this snapshot: left out.
        if (j === undefined) continue;
        index[f * kk + t] = j;
        score[f * kk + t] = n.score;
        t++;
      }
    }
  const graph: KnnGraph = { n: faces.length, k: kk, index, score };
  return {
    size: have.faceIds.length,
    graph: () => {
      throw new Error('storeNeighbours: only search() of the new faces is answered');
    },
    search: (queries, kq) => {
      if (queries.length !== faces.length * (faces[0]?.embedding.length ?? 0) || kq > kk)
        throw new Error('storeNeighbours: asked for other queries than the new faces');
      return graph;
    },
  };
}

const pairKey = (a: number, b: number) => (a < b ? `${a}:${b}` : `${b}:${a}`);

/** Appends to the list under `key`, made on first use. */
function push<K, V>(m: Map<K, V[]>, key: K, v: V): void {
  const l = m.get(key);
  if (l) l.push(v);
  else m.set(key, [v]);
}

/**
 * Clusters new faces into the gallery and stores them. Every face needs its photo's `imageSha256`
 * (cannot-link, duplicates, corrections); a `box` lets corrections name one face of a photo.
 */
export async function clusterIntoGallery(
  store: GalleryStore,
  gallery: string,
  faces: NewFace[],
  opts: ClusterGalleryOptions,
): Promise<ClusterGalleryResult> {
  faces.forEach((f, i) => {
    if (typeof f.imageSha256 !== 'string')
      throw badInput(`cluster into gallery '${gallery}': face ${i} has no imageSha256 (its photo's)`);
  });
  const have = opts.snapshot ?? (await readGalleryFaces(store, gallery));
  const fresh = faces.map((_, i) => i).filter((i) => !have.shas.has(faces[i]!.imageSha256!));
  const placed: PlacedFace[] = faces.map(() => ({
    outcome: 'duplicate',
    faceId: null,
    subjectId: null,
    kind: null,
  }));
  const result: ClusterGalleryResult = {
    faces: placed,
    newClusters: [],
    singletons: 0,
    joinedSubjects: [],
    singletonsJoined: 0,
    removedClusters: [],
  };
  if (fresh.length === 0) return result;

  // Singletons (one-face clusters) are no one's to assign; every other subject is a cluster of its own id.
  const singleton = (s: number) => have.kinds.get(s) === 'cluster' && have.sizes.get(s) === 1;
  const existing: ClusterFaces = { ids: have.faceIds, photos: have.photos, embeddings: have.embeddings };
  const clusters = have.subjects.map((s) => (singleton(s) ? null : s));
  const neu: ClusterFaces = {
    ids: fresh,
    photos: fresh.map((i) => faces[i]!.imageSha256!),
    embeddings: fresh.map((i) => faces[i]!.embedding),
  };

  // Corrections of the new photos: the subjects each new face is not.
  const bySha = new Map<string, Correction[]>();
  for (const c of await store.listCorrections(gallery)) if (c.imageSha256) push(bySha, c.imageSha256, c);
  const excluded = fresh.map((i) => {
    const c = bySha.get(faces[i]!.imageSha256!);
    return c ? new Set(excludedSubjects(c, faces[i]!.box)) : undefined;
  });
  const apartLinks = new Set(
    (await store.listLinks(gallery)).filter((l) => l.kind === 'apart').map((l) => pairKey(l.faceA, l.faceB)),
  );
  const apart = (a: FaceRef, b: FaceRef): boolean => {
    if ('existing' in a && 'existing' in b)
      return apartLinks.has(pairKey(have.faceIds[a.existing]!, have.faceIds[b.existing]!));
    if ('added' in a && 'existing' in b) return excluded[a.added]?.has(have.subjects[b.existing]!) ?? false;
    if ('existing' in a && 'added' in b) return excluded[b.added]?.has(have.subjects[a.existing]!) ?? false;
    return false;
  };
  const source = await storeNeighbours(
    store,
    gallery,
    have,
    fresh.map((i) => faces[i]!),
    opts.k ?? DEFAULT_K,
  );
  const { added, joined } = assign(neu, { faces: existing, clusters, source }, opts, {
    exclude: (f) => excluded[f],
    apart,
  });

  // The writes: new faces into existing subjects, new clusters (with the singletons they take), singletons.
  const isExisting = new Set(clusters.filter((c): c is number => c !== null));
  const join = new Map<number, number[]>();
  const made = new Map<number, { faces: number[]; move: number[] }>();
  const alone: number[] = [];
  const madeOf = (c: number) => {
    let m = made.get(c);
    if (!m) made.set(c, (m = { faces: [], move: [] }));
    return m;
  };
  added.forEach((c, f) => {
    if (c === null) alone.push(f);
    else if (isExisting.has(c)) push(join, c, f);
    else madeOf(c).faces.push(f);
  });
  for (const [j, c] of joined) madeOf(c).move.push(have.faceIds[j]!);
  const newFace = (f: number) => faces[fresh[f]!]!;
  const groups = [...made.values()];
  const write: ClusterWrite = {
    join: [...join].map(([subjectId, fs]) => ({ subjectId, faces: fs.map(newFace) })),
    create: [
      ...groups.map((g) => ({ faces: g.faces.map(newFace), move: g.move })),
      ...alone.map((f) => ({ faces: [newFace(f)], move: [] })),
    ],
  };
  const stored = await store.writeClusters(gallery, write);

  const place = (f: number, p: Omit<PlacedFace, 'kind'>, kind: SubjectKind) =>
    (placed[fresh[f]!] = { ...p, kind });
  [...join].forEach(([subjectId, fs], i) =>
    fs.forEach((f, t) =>
      place(f, { outcome: 'joined', faceId: stored.joined[i]![t]!, subjectId }, have.kinds.get(subjectId)!),
    ),
  );
  groups.forEach((g, i) => {
    const { subjectId, faceIds } = stored.created[i]!;
    g.faces.forEach((f, t) => place(f, { outcome: 'newCluster', faceId: faceIds[t]!, subjectId }, 'cluster'));
    result.newClusters.push(subjectId);
  });
  alone.forEach((f, t) => {
    const { subjectId, faceIds } = stored.created[groups.length + t]!;
    place(f, { outcome: 'singleton', faceId: faceIds[0]!, subjectId }, 'cluster');
  });
  result.singletons = alone.length;
  result.joinedSubjects = [...join.keys()];
  result.singletonsJoined = joined.size;
  result.removedClusters = stored.removedClusters;
  return result;
}
