/**
 * The gallery's data model and the one interface every store implements (the embedded SQLite store
 * here, a PostgreSQL/pgvector store beside it), so the CLI, the HTTP API and the shared test suite
 * never know which one they talk to. Every method is async for that reason, even where SQLite is not.
 *
 * A gallery is a collection made with one recognition model: its model name and embedding size are
 * fixed at creation (changed only by `replaceEmbeddings`, the `reindex` path), because cosines
 * between embeddings of two different models mean nothing. Subjects are the identities; faces are
 * their enrolled embeddings, each with the aligned 112x112 crop it was made from.
 */

/** A JSON value, for a subject's free metadata (CompreFace's and deepface's users keep ids, notes...). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface Gallery {
  name: string;
  /** The recognition model's name (a zoo name or a manifest's `name`): every embedding comes from it. */
  model: string;
  /** Embedding length of that model. */
  dim: number;
  /** ISO 8601 time of creation. */
  createdAt: string;
  /** Persons (enrolled subjects); unnamed clusters are counted apart. */
  subjects: number;
  clusters: number;
  /**
   * Faces of persons: what identify can answer, and what the open-set threshold counts (a stranger
   * has one chance per enrolled face); faces of clusters are `clusterFaces`.
   */
  faces: number;
  clusterFaces: number;
}

export interface NewGallery {
  name: string;
  model: string;
  dim: number;
  /** ISO 8601 time of creation, when it is not now (an import keeps the exported one). */
  createdAt?: string;
}

/**
 * A subject is a 'person' (enrolled, named: what identify answers) or a 'cluster': an unnamed group of
 * faces found by clustering a photo library, shown to be named, merged or split. Identify never
 * answers a cluster unless asked (`SearchOptions.clusters`); naming one makes it a person.
 */
export type SubjectKind = 'person' | 'cluster';

/** A face's box in its source photo, in pixels (the detector's box). */
export interface PhotoBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Subject {
  id: number;
  kind: SubjectKind;
  /** The caller's own id for the person, unique within the gallery (a random UUID when not given). */
  externalId: string;
  /** Display name. */
  name: string;
  metadata: JsonValue;
  createdAt: string;
  faces: number;
}

export interface NewSubject {
  name: string;
  /** Default 'person'. */
  kind?: SubjectKind;
  externalId?: string;
  metadata?: JsonValue;
  /** ISO 8601 time of creation, when it is not now (an import keeps the exported one). */
  createdAt?: string;
}

/** One face to enroll: the embedding with what it was made from. */
export interface NewFace {
  /** The face's embedding (stored L2-normalised; a zero or non-finite vector is refused). */
  embedding: Float32Array;
  /** The model that made it: must be the gallery's model. */
  model: string;
  /** sha256 (hex) of the source image's bytes, to find duplicates and trace a face to its photo. */
  imageSha256?: string;
  /** The detector's score for this face. */
  detScore?: number;
  /** The aligned 112x112 crop as PNG bytes: the thumbnail, and what `reindex` re-embeds. */
  crop?: Uint8Array;
  /** The source photo's file name (no folder) and the face's box in it, to show and trace the face. */
  photoName?: string;
  box?: PhotoBox;
  /** ISO 8601 time of enrolment, when it is not now (an import keeps the exported one). */
  createdAt?: string;
}

export interface Face {
  id: number;
  subjectId: number;
  model: string;
  /** Unit-norm embedding. */
  embedding: Float32Array;
  imageSha256: string | null;
  detScore: number | null;
  hasCrop: boolean;
  photoName: string | null;
  box: PhotoBox | null;
  createdAt: string;
}

/** A face as `faces()` yields it for export and reindex. */
export interface StoredFace extends Face {
  crop: Uint8Array | null;
}

/** The probe of a search: an embedding and the model it came from (checked against the gallery's). */
export interface Probe {
  embedding: Float32Array;
  model: string;
}

/**
 * How a subject with several faces is scored against a probe: 'max' is the best cosine over its
 * faces (deepface's `find`, CompreFace), 'mean' the mean cosine over all of them.
 */
export type Aggregate = 'max' | 'mean';

export interface SearchOptions {
  /** Subjects to return (default 5). */
  k?: number;
  aggregate?: Aggregate;
  /** Subjects never returned (a correction said the probe is not them). */
  exclude?: number[];
  /** Return unnamed clusters too (default false: persons only). */
  clusters?: boolean;
}

/**
 * "This face is not that subject", kept so identify never gives that answer for it again. The face
 * is a stored face (`faceId`: an enrolled or clustered face) and/or a face of a photo (`imageSha256`
 * of the photo's bytes and the face's `box`): identify matches a probe to a correction by the
 * photo's sha256 and a box overlapping by IoU >= 0.5 (the same face, re-detected), or any face of
 * the photo when `box` is null. A correction made on a stored face copies its photo and box, so it
 * still holds when that photo is identified again, and after the face itself is deleted.
 */
export interface Correction {
  id: number;
  /** The subject the face is not (the correction goes when the subject is deleted). */
  subjectId: number;
  faceId: number | null;
  imageSha256: string | null;
  box: PhotoBox | null;
  createdAt: string;
}

export interface NewCorrection {
  subjectId: number;
  faceId?: number;
  imageSha256?: string;
  box?: PhotoBox;
  createdAt?: string;
}

/**
 * A person's decision about two stored faces, for clustering to keep: 'same' (must-link: a merge,
 * a move into a cluster, a naming) or 'apart' (cannot-link: a split, a move out). Stored once per
 * pair (faceA < faceB), gone with either face.
 */
export interface FaceLink {
  faceA: number;
  faceB: number;
  kind: 'same' | 'apart';
}

/**
 * What one incremental clustering stores (src/service/cluster_gallery.ts), in one transaction: new
 * faces that join existing subjects, and new clusters (kind 'cluster', named 'unnamed'), each made
 * of new faces and of stored faces moved in (a cluster those moves empty is deleted).
 */
export interface ClusterWrite {
  join: { subjectId: number; faces: NewFace[] }[];
  create: { faces: NewFace[]; move: number[] }[];
}

export interface ClusterWriteResult {
  /** The ids of each `join[i].faces`, in order. */
  joined: number[][];
  /** Per `create[i]`: the cluster made and the ids of its new faces, in order. */
  created: { subjectId: number; faceIds: number[] }[];
  /** Clusters emptied by the moves, deleted. */
  removedClusters: number[];
}

/** What `updateSubject` may change: naming a cluster makes it a person. */
export interface SubjectUpdate {
  name?: string;
  externalId?: string;
  metadata?: JsonValue;
  kind?: 'person';
}

/** A stored face near a probe. */
export interface FaceNeighbour {
  faceId: number;
  score: number;
}

export interface SubjectMatch {
  subjectId: number;
  externalId: string;
  name: string;
  /** Best or mean cosine, as `aggregate` says. */
  score: number;
  /** The subject's face with the highest cosine to the probe. */
  faceId: number;
  /** That face's cosine (equals `score` for 'max'). */
  faceScore: number;
}

/** A new embedding for an existing face, for `replaceEmbeddings`. */
export interface ReplacementRow {
  faceId: number;
  embedding: Float32Array;
}

/**
 * Whether the bytes of deleted embeddings and crops are gone from the store's files. The SQLite
 * store overwrites them at a WAL checkpoint, which another connection still reading a snapshot from
 * before the delete holds back; until that reader ends, `purged` is false.
 */
export interface PurgeStatus {
  purged: boolean;
  /** How long the last delete waited for such readers, in ms (0: not at all). */
  waitedMs: number;
  /** Why the purge is pending, for messages (no file path). */
  reason?: string;
}

export interface GalleryStore {
  /** What this store is, for messages: 'sqlite:/path/gallery.db', 'postgres://host/db'. */
  readonly location: string;

  createGallery(gallery: NewGallery): Promise<Gallery>;
  /** null when there is no gallery of that name. */
  getGallery(name: string): Promise<Gallery | null>;
  listGalleries(): Promise<Gallery[]>;
  /** Deletes the gallery with all its subjects, faces and crops. false when it did not exist. */
  deleteGallery(name: string): Promise<boolean>;

  addSubject(gallery: string, subject: NewSubject): Promise<Subject>;
  getSubject(gallery: string, subjectId: number): Promise<Subject | null>;
  findSubject(gallery: string, externalId: string): Promise<Subject | null>;
  /** Persons by default; `kind: 'cluster'` the clusters, 'all' both. */
  listSubjects(gallery: string, options?: { kind?: SubjectKind | 'all' }): Promise<Subject[]>;
  /** Renames a subject, or names a cluster (kind 'person'); a person never goes back to a cluster. */
  updateSubject(gallery: string, subjectId: number, update: SubjectUpdate): Promise<Subject>;
  /** Deletes the subject, its faces, embeddings and crops for good (no soft delete). */
  deleteSubject(gallery: string, subjectId: number): Promise<boolean>;

  /** Enrolls faces of one subject in one transaction: all of them are stored or none. Returns their ids. */
  addFaces(gallery: string, subjectId: number, faces: NewFace[]): Promise<number[]>;
  /** A subject's faces, oldest first (embeddings included, crops not). */
  listFaces(gallery: string, subjectId: number): Promise<Face[]>;
  /** The crop's PNG bytes, null when the face has none; NOT_FOUND when there is no such face. */
  getCrop(gallery: string, faceId: number): Promise<Uint8Array | null>;
  deleteFace(gallery: string, faceId: number): Promise<boolean>;
  /** One face by id, null when absent (embedding included). */
  getFace(gallery: string, faceId: number): Promise<Face | null>;
  /**
   * Moves faces to another subject in one transaction (merging, splitting, moving a face); a
   * cluster left with no face is deleted in the same transaction (a person is kept). Returns the
   * ids of the clusters so deleted. NOT_FOUND when a face or the target is not in the gallery.
   */
  moveFaces(gallery: string, faceIds: number[], toSubjectId: number): Promise<number[]>;

  /**
   * Applies a clustering's writes in one transaction: all of it is stored or none. NOT_FOUND when a
   * subject joined or a face moved is not in the gallery (deleted meanwhile).
   */
  writeClusters(gallery: string, write: ClusterWrite): Promise<ClusterWriteResult>;

  /** Stores a correction; NOT_FOUND for an unknown subject or face. */
  addCorrection(gallery: string, correction: NewCorrection): Promise<Correction>;
  /** Corrections of a gallery in id order, or only those of one photo's sha256. */
  listCorrections(gallery: string, options?: { imageSha256?: string }): Promise<Correction[]>;
  deleteCorrection(gallery: string, correctionId: number): Promise<boolean>;
  /** Stores must-link / cannot-link pairs (a pair already stored takes the new kind). */
  addLinks(gallery: string, links: FaceLink[]): Promise<void>;
  /** Every link of a gallery, by (faceA, faceB). */
  listLinks(gallery: string): Promise<FaceLink[]>;
  /**
   * After a delete (of a gallery, subject or face, or a reindex): whether its bytes are gone from the
   * files yet. PostgreSQL's store has none: its dead tuples go at VACUUM (postgres.ts says when).
   */
  purgeStatus?(): PurgeStatus;

  /** Top-k subjects for a probe, best first. */
  search(gallery: string, probe: Probe, options?: SearchOptions): Promise<SubjectMatch[]>;

  /**
   * The k faces nearest a probe (any subject, clusters included), best first, with exact cosines:
   * clustering's neighbours come from the gallery's own search index (HNSW from its ANN threshold)
   * rather than a graph built again on every call.
   */
  nearestFaces(gallery: string, probe: Probe, k: number): Promise<FaceNeighbour[]>;

  /** Every face of a gallery in id order (for export and reindex); crops only when asked. */
  faces(gallery: string, options?: { crops?: boolean }): AsyncIterable<StoredFace>;

  /**
   * Re-embeds a gallery with another model (`reindex`): one row per face of the gallery, all in one
   * transaction, after which the gallery's model and dim are the new ones.
   */
  replaceEmbeddings(gallery: string, model: string, rows: ReplacementRow[]): Promise<void>;

  /**
   * For bulk loads into stores whose ANN index lives in the database (PostgreSQL): drop a gallery's
   * index before, build it in one pass after. Stores that index in memory have neither.
   */
  dropIndex?(gallery: string): Promise<void>;
  buildIndex?(gallery: string): Promise<void>;

  close(): Promise<void>;
}
