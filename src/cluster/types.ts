/**
 * What clustering reads and writes. Faces are given by position (0..n-1) with an id and the photo
 * they come from (cannot-link: two faces of one photo are never one person); the output gives each
 * face a cluster id or null (a face that joins no one). Pure data: no store, no I/O, so the CLI, the
 * benchmark and (later) the stores all call the same code.
 */
export type FaceKey = number | string;

export interface ClusterFaces {
  /** The caller's face ids, one per face. */
  ids: readonly FaceKey[];
  /** The photo of each face (two faces of one photo never share a cluster). */
  photos: readonly FaceKey[];
  /** Unit-norm embeddings, one per face, all of one length. */
  embeddings: readonly Float32Array[];
}

/** For each face, its k nearest other faces (row-major n x k; -1 where fewer exist) and their cosines. */
export interface KnnGraph {
  n: number;
  k: number;
  /** Neighbour positions, best first; -1 pads. */
  index: Int32Array;
  /** Cosines, descending along each row. */
  score: Float32Array;
}

export type Algorithm = 'chinese-whispers' | 'dbscan' | 'agglomerative';
export const ALGORITHMS: readonly Algorithm[] = ['chinese-whispers', 'dbscan', 'agglomerative'];

/** A cluster per face, in the order of the input: a number, or null for a singleton. */
export type Assignment = (number | null)[];
