/**
 * Neighbour sources: the k nearest faces of each face with exact cosines. `exactNeighbours` scans
 * every pair (usearch's SIMD exactSearch; fine to ~20k faces), `annNeighbours` builds a usearch HNSW
 * graph (as the gallery's search index does) and re-scores its candidates exactly, so a threshold is
 * never applied to a quantised score. 100k faces: no n x n matrix is ever held, only n x k.
 */
import { Index, MetricKind, ScalarKind, exactSearch } from 'usearch';
import { badInput } from '../errors.js';
import type { KnnGraph } from './types.js';

/** One contiguous row-major matrix of the embeddings (what usearch reads). */
export function toMatrix(embeddings: readonly Float32Array[]): { matrix: Float32Array; dim: number } {
  const dim = embeddings[0]?.length ?? 0;
  const matrix = new Float32Array(embeddings.length * dim);
  embeddings.forEach((e, i) => {
    if (e.length !== dim) throw badInput(`cluster: face ${i} has ${e.length} values, the first ${dim}`);
    matrix.set(e, i * dim);
  });
  return { matrix, dim };
}

function dot(m: Float32Array, a: number, q: Float32Array, b: number, dim: number): number {
  let s = 0;
  const i = a * dim;
  const j = b * dim;
  for (let d = 0; d < dim; d++) s += m[i + d]! * q[j + d]!;
  return s;
}

/**
 * Fills a graph from candidate lists: drops `self` (when the queries are the faces themselves),
 * re-scores exactly, keeps the k best in descending order.
 */
function collect(
  n: number,
  k: number,
  matrix: Float32Array,
  queries: Float32Array,
  dim: number,
  candidates: (q: number) => ArrayLike<number | bigint>,
  self: boolean,
): KnnGraph {
  const index = new Int32Array(n * k).fill(-1);
  const score = new Float32Array(n * k).fill(-Infinity);
  for (let q = 0; q < n; q++) {
    const found: { j: number; s: number }[] = [];
    for (const c of Array.from(candidates(q))) {
      const j = Number(c);
      if (j < 0 || (self && j === q)) continue;
      found.push({ j, s: dot(matrix, j, queries, q, dim) });
    }
    found.sort((a, b) => b.s - a.s || a.j - b.j);
    for (let t = 0; t < Math.min(k, found.length); t++) {
      index[q * k + t] = found[t]!.j;
      score[q * k + t] = found[t]!.s;
    }
  }
  return { n, k, index, score };
}

/** usearch's answer to a batch of queries: c keys per query, the first counts[q] valid. */
interface Batch {
  keys: BigUint64Array;
  counts?: BigUint64Array;
}

/** Query q's keys (a single query comes back as plain Matches: no counts, only the found keys). */
const batchKeys = (m: Batch, q: number, c: number) =>
  m.counts ? m.keys.subarray(q * c, q * c + Number(m.counts[q])) : m.keys;

export interface NeighbourSource {
  /** Faces indexed. */
  readonly size: number;
  /** The k nearest indexed faces of each indexed face (itself excluded). */
  graph(k: number): KnnGraph;
  /** The k nearest indexed faces of each query (row-major, the index's dim). */
  search(queries: Float32Array, k: number): KnnGraph;
}

/** Every pair scored: exact, O(n^2 d). */
export function exactNeighbours(embeddings: readonly Float32Array[], threads = 0): NeighbourSource {
  const { matrix, dim } = toMatrix(embeddings);
  const n = embeddings.length;
  const run = (queries: Float32Array, k: number, self: boolean): KnnGraph => {
    const nq = dim ? queries.length / dim : 0;
    const c = Math.min(n, k + (self ? 1 : 0));
    if (n === 0 || c === 0)
      return { n: nq, k, index: new Int32Array(nq * k).fill(-1), score: new Float32Array(nq * k) };
    const m = exactSearch(matrix, queries, dim, c, MetricKind.IP, threads) as unknown as Batch;
    return collect(nq, k, matrix, queries, dim, (q) => batchKeys(m, q, c), self);
  };
  return { size: n, graph: (k) => run(matrix, k, true), search: (q, k) => run(q, k, false) };
}

export interface AnnOptions {
  /** HNSW links per node (default 16). */
  connectivity?: number;
  /** ef at construction and search (default 128 and max(64, 2k)). */
  expansionAdd?: number;
  expansionSearch?: number;
  /** Threads (default 0: usearch's choice, all cores). */
  threads?: number;
}

/** A usearch HNSW graph (f16) over the faces; candidates re-scored exactly. */
export function annNeighbours(embeddings: readonly Float32Array[], opts: AnnOptions = {}): NeighbourSource {
  const { matrix, dim } = toMatrix(embeddings);
  const n = embeddings.length;
  const threads = opts.threads ?? 0;
  const index = new Index({
    dimensions: dim,
    metric: MetricKind.Cos,
    quantization: ScalarKind.F16,
    connectivity: opts.connectivity ?? 16,
    expansion_add: opts.expansionAdd ?? 128,
    expansion_search: opts.expansionSearch ?? 128,
    multi: false,
  });
  if (n)
    index.add(
      BigUint64Array.from({ length: n }, (_, i) => BigInt(i)),
      matrix,
      threads,
    );
  const run = (queries: Float32Array, k: number, self: boolean): KnnGraph => {
    const nq = queries.length / dim;
    const c = Math.min(n, Math.max(2 * k, k + 8));
    if (n === 0) return { n: nq, k, index: new Int32Array(nq * k).fill(-1), score: new Float32Array(nq * k) };
    const m = index.search(queries, c, threads) as unknown as Batch;
    return collect(nq, k, matrix, queries, dim, (q) => batchKeys(m, q, c), self);
  };
  return { size: n, graph: (k) => run(matrix, k, true), search: (q, k) => run(q, k, false) };
}

/** Exact below `annFrom` faces (default 10,000: an n x n scan is ~7 s there on 2 cores), HNSW from it on. */
export function neighbourSource(embeddings: readonly Float32Array[], annFrom = 10_000): NeighbourSource {
  return embeddings.length >= annFrom ? annNeighbours(embeddings) : exactNeighbours(embeddings);
}
