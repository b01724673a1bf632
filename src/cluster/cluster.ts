/**
 * Clustering faces into people: neighbours (a NeighbourSource), links at the scale's threshold,
 * one algorithm, then the rules (cannot-link inside each algorithm; `minFaces` and canonical ids
 * in `finalise`). The whole API the CLI, the benchmark and the stores use.
 */
import { badInput } from '../errors.js';
import { agglomerative, unseenCosine } from './agglomerative.js';
import { chineseWhispers } from './chinese_whispers.js';
import { dbscan } from './dbscan.js';
import { buildLinks } from './links.js';
import { neighbourSource, type NeighbourSource } from './neighbours.js';
import { finalise, photoIndex } from './rules.js';
import type { Scale } from './scale.js';
import { ALGORITHMS, type Algorithm, type Assignment, type ClusterFaces } from './types.js';

export interface ClusterOptions {
  algorithm?: Algorithm;
  /** Which pairs link, and how strongly (src/cluster/scale.ts). */
  scale: Scale;
  /** A cluster needs this many faces, else its faces are singletons (default 2). */
  minFaces?: number;
  /** Neighbours looked at per face (default 32). */
  k?: number;
  /** DBSCAN's core size, itself counted (default: minFaces, as Immich). */
  minPoints?: number;
  /** Chinese Whispers' seed (default 1). */
  seed?: number;
  /** Where neighbours come from (default: exact below 10k faces, usearch HNSW above). */
  source?: NeighbourSource;
}

export const DEFAULT_K = 32;

export function checkFaces(faces: ClusterFaces): void {
  const n = faces.ids.length;
  if (faces.photos.length !== n || faces.embeddings.length !== n)
    throw badInput(
      `cluster: ${n} ids, ${faces.photos.length} photos and ${faces.embeddings.length} embeddings: give one of each per face`,
    );
}

/** Raw labels (-1: none) before minFaces, for callers that combine them (assign). */
export function clusterLabels(faces: ClusterFaces, opts: ClusterOptions): Int32Array {
  checkFaces(faces);
  const algorithm = opts.algorithm ?? 'chinese-whispers';
  if (!ALGORITHMS.includes(algorithm))
    throw badInput(`cluster: unknown algorithm '${algorithm}' (${ALGORITHMS.join(', ')})`);
  const minFaces = opts.minFaces ?? 2;
  if (!(Number.isInteger(minFaces) && minFaces >= 1))
    throw badInput(`cluster: min faces must be a positive integer, got ${minFaces}`);
  const n = faces.ids.length;
  if (n === 0) return new Int32Array(0);
  const k = Math.min(opts.k ?? DEFAULT_K, n - 1);
  const source = opts.source ?? neighbourSource(faces.embeddings);
  if (source.size !== n) throw badInput(`cluster: the neighbour source holds ${source.size} faces, not ${n}`);
  const graph = source.graph(Math.max(1, k));
  const links = buildLinks(graph, opts.scale);
  const photo = photoIndex(faces.photos);
  if (algorithm === 'dbscan') return dbscan(links, photo, opts.minPoints ?? minFaces);
  if (algorithm === 'agglomerative') {
    // An unseen pair: below the k-th neighbour's cosine, and no closer than strangers typically are.
    const unseen = Math.min(unseenCosine(graph), opts.scale.stranger ?? Infinity);
    return agglomerative(links, photo, opts.scale.link, unseen);
  }
  return chineseWhispers(links, photo, { seed: opts.seed });
}

/** A cluster per face (null: a singleton), numbered in the order of each cluster's first face. */
export function clusterFaces(faces: ClusterFaces, opts: ClusterOptions): Assignment {
  return finalise(clusterLabels(faces, opts), opts.minFaces ?? 2);
}
