/**
 * The search index of one gallery, built from its store's embeddings at open and kept in step with
 * every add and delete. All embeddings stay in one contiguous row-major Float32Array (512-d: 2 KiB a
 * face, 200 MiB for 100k), which is what exact search scans and what every ANN candidate is
 * re-scored from, so a score is always an exact float32 cosine, whichever path found the face.
 *
 * Exact search up to `annThreshold` faces (usearch's SIMD `exactSearch` over the matrix: 1.6x our
 * plain JS loop here, see bench/gallery_search.ts); above it a usearch HNSW graph (f16 or f32, M and
 * ef as options) whose top candidates (max(64, 4k)) are re-scored exactly before ranking, so an open-set
 * threshold is never applied to a quantised or approximate score. The graph is saved beside the
 * database with a small JSON stamp (count, change id, a checksum of the face ids, file size) and
 * memory-mapped (usearch `view`) at the next open when the stamp matches, rebuilt when it is missing,
 * stale or corrupt. A mapped graph is read-only: the first change loads it into memory.
 *
 * Deleting faces removes them from the graph, but usearch may keep a removed vector's bytes in its
 * slot, so a deletion also unlinks the saved file at once and a graph that has seen a deletion is
 * never saved: the next open rebuilds it from the store (biometric data is gone from disk when the
 * delete returns).
 */
import { existsSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { Index, MetricKind, ScalarKind, exactSearch } from 'usearch';
import { badInput } from '../errors.js';
import { dotRow } from './embedding.js';
import { privateFile } from './private_files.js';
import { SubjectRanker, type RankedSubject } from './rank.js';
import type { Aggregate } from './types.js';

export interface SearchIndexOptions {
  /** 'auto' (default): exact below `annThreshold` faces, HNSW from it on; 'exact' or 'hnsw' force one. */
  ann?: 'auto' | 'exact' | 'hnsw';
  /** Faces from which 'auto' switches to HNSW (default 100,000). */
  annThreshold?: number;
  /** Scalar type of the HNSW copy of the vectors (default 'f16': half the memory, re-scoring hides its error). */
  quantization?: 'f16' | 'f32';
  /** HNSW M, links per node (default 32). */
  connectivity?: number;
  /** HNSW ef at construction (default 128). */
  expansionAdd?: number;
  /** HNSW ef at search (default 128); must be at least the candidates asked for to matter. */
  expansionSearch?: number;
  /** ANN candidates re-scored exactly: max(`minCandidates`, `candidatesPerK` x k) (defaults 64 and 4). */
  minCandidates?: number;
  candidatesPerK?: number;
  /** Threads for building the graph (default 0: usearch's choice, all cores); searches use 1. */
  buildThreads?: number;
  /**
   * Called as a graph is built (faces added so far, all of them): a build blocks its thread, for
   * about 35 min at 1M faces on 2 cores (bench/gallery_search.ts), so callers show a progress bar.
   */
  onBuildProgress?: (done: number, total: number) => void;
}

export interface IndexRow {
  faceId: number;
  subjectId: number;
  /** Unit norm, the index's dim. */
  embedding: Float32Array;
}

/** How the index came to be at open, for logs and for the tests that it reuses a fresh file. */
export type IndexOrigin = 'exact' | 'mapped' | 'built';

interface Stamp {
  format: 1;
  dim: number;
  quantization: string;
  connectivity: number;
  count: number;
  version: number;
  idsChecksum: number;
  bytes: number;
}

type Settings = Required<Omit<SearchIndexOptions, 'onBuildProgress'>>;

const DEFAULTS: Settings = {
  ann: 'auto',
  annThreshold: 100_000,
  quantization: 'f16',
  connectivity: 32,
  expansionAdd: 128,
  expansionSearch: 128,
  minCandidates: 64,
  candidatesPerK: 4,
  buildThreads: 0,
};

/** Order-independent 32-bit checksum of a set of face ids (sum of a murmur3-mixed id). */
function mixId(id: number): number {
  let h = (id ^ Math.floor(id / 4294967296)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Which subjects a search may return (persons only, not the corrected ones...). */
export type SubjectFilter = (subjectId: number) => boolean;

export class SearchIndex {
  readonly dim: number;
  private readonly opts: Settings;
  private readonly onBuildProgress: SearchIndexOptions['onBuildProgress'];
  private readonly file: string | undefined;
  private matrix: Float32Array;
  private n = 0;
  private faceIds: Float64Array;
  private subjectOfRow: Float64Array;
  private readonly rowOf = new Map<number, number>();
  private readonly facesOf = new Map<number, Set<number>>();
  private idsChecksum = 0;
  private version_: number;
  private hnsw: Index | null = null;
  private mapped = false;
  /** The graph differs from the saved file; `removed`: it has seen a deletion and must never be saved. */
  private dirty = false;
  private removed = false;
  private _origin: IndexOrigin = 'exact';

  /**
   * Builds the index of a gallery from all its rows. `version` is the store's change id of the gallery
   * (bumped by every write); `file` is where the HNSW graph is saved (none: never saved).
   */
  constructor(
    dim: number,
    rows: Iterable<IndexRow>,
    version: number,
    options: SearchIndexOptions = {},
    file?: string,
  ) {
    this.dim = dim;
    const { onBuildProgress, ...settings } = options;
    this.onBuildProgress = onBuildProgress;
    this.opts = {
      ...DEFAULTS,
      ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)),
    };
    for (const key of [
      'annThreshold',
      'connectivity',
      'expansionAdd',
      'expansionSearch',
      'minCandidates',
    ] as const)
      if (!(Number.isInteger(this.opts[key]) && this.opts[key] >= 1))
        throw badInput(`search index: option ${key} must be a positive integer, got ${this.opts[key]}`);
    if (!['f16', 'f32'].includes(this.opts.quantization))
      throw badInput(
        `search index: option quantization must be 'f16' or 'f32', got '${this.opts.quantization}'`,
      );
    if (!['auto', 'exact', 'hnsw'].includes(this.opts.ann))
      throw badInput(`search index: option ann must be 'auto', 'exact' or 'hnsw', got '${this.opts.ann}'`);
    this.file = file;
    this.version_ = version;
    this.matrix = new Float32Array(64 * dim);
    this.faceIds = new Float64Array(64);
    this.subjectOfRow = new Float64Array(64);
    for (const r of rows) this.append(r);
    if (this.wantsAnn()) this.openGraph();
    else this.forgetFile();
  }

  /** The store's change id of the gallery this index reflects. */
  get version(): number {
    return this.version_;
  }
  get size(): number {
    return this.n;
  }
  get mode(): 'exact' | 'hnsw' {
    return this.hnsw ? 'hnsw' : 'exact';
  }
  /** 'mapped': the saved graph was fresh and is memory-mapped; 'built': it was (re)built at open. */
  get origin(): IndexOrigin {
    return this._origin;
  }

  /** Adds enrolled faces (already committed by the store at `version`). */
  add(rows: IndexRow[], version: number): void {
    if (rows.length === 0) return;
    this.version_ = version;
    const first = this.n;
    for (const r of rows) this.append(r);
    if (this.hnsw) {
      this.writable();
      this.hnsw.add(
        BigUint64Array.from(rows, (r) => BigInt(r.faceId)),
        this.matrix.slice(first * this.dim, this.n * this.dim),
        1,
      );
      this.markDirty();
    } else if (this.wantsAnn()) this.buildGraph();
  }

  /** Removes faces (deleted by the store at `version`); unknown ids are ignored. */
  remove(faceIds: Iterable<number>, version: number): void {
    this.version_ = version;
    const gone: number[] = [];
    for (const id of faceIds) {
      const row = this.rowOf.get(id);
      if (row === undefined) continue;
      gone.push(id);
      this.idsChecksum = (this.idsChecksum - mixId(id)) >>> 0;
      const subject = this.subjectOfRow[row];
      const set = this.facesOf.get(subject)!;
      set.delete(id);
      if (set.size === 0) this.facesOf.delete(subject);
      // Swap the last row into the hole: the matrix stays contiguous for the exact scan.
      const last = this.n - 1;
      if (row !== last) {
        this.matrix.copyWithin(row * this.dim, last * this.dim, (last + 1) * this.dim);
        this.faceIds[row] = this.faceIds[last];
        this.subjectOfRow[row] = this.subjectOfRow[last];
        this.rowOf.set(this.faceIds[row], row);
      }
      this.matrix.fill(0, last * this.dim, (last + 1) * this.dim);
      this.rowOf.delete(id);
      this.n--;
    }
    if (gone.length && this.hnsw) {
      this.writable();
      this.hnsw.remove(BigUint64Array.from(gone, (id) => BigInt(id)));
      this.removed = true;
      this.markDirty();
      this.forgetFile();
    }
  }

  /** Removes every face of a subject. */
  removeSubject(subjectId: number, version: number): void {
    this.remove([...(this.facesOf.get(subjectId) ?? [])], version);
  }

  /** The exact cosine of a unit probe with every face of a subject (face id -> cosine). */
  scoreSubject(probe: Float32Array, subjectId: number): Map<number, number> {
    const out = new Map<number, number>();
    for (const id of this.facesOf.get(subjectId) ?? [])
      out.set(id, dotRow(probe, this.matrix, this.rowOf.get(id)!));
    return out;
  }

  /** Top-k subjects for a unit-norm probe of the index's dim, scored with exact cosines. */
  search(probe: Float32Array, k: number, aggregate: Aggregate, accept?: SubjectFilter): RankedSubject[] {
    if (this.n === 0) return [];
    if (!this.hnsw) return this.searchExact(probe, k, aggregate, accept);
    const out = this.searchAnn(probe, k, aggregate, accept);
    // The graph's candidates were mostly filtered out (clusters, corrected subjects): exact decides.
    return accept && out.length < k ? this.searchExact(probe, k, aggregate, accept) : out;
  }

  /** The k nearest faces (any subject) of a unit probe, best first, exact cosines (HNSW candidates re-scored). */
  nearestFaces(probe: Float32Array, k: number): { faceId: number; score: number }[] {
    if (this.n === 0 || k < 1) return [];
    const found: { faceId: number; score: number }[] = [];
    if (this.hnsw) {
      const m = this.hnsw.search(probe, Math.min(this.n, Math.max(this.opts.minCandidates, 2 * k)), 1);
      for (let i = 0; i < m.keys.length; i++) {
        const id = Number(m.keys[i]);
        const row = this.rowOf.get(id);
        if (row !== undefined) found.push({ faceId: id, score: dotRow(probe, this.matrix, row) });
      }
    } else {
      const data = this.matrix.subarray(0, this.n * this.dim);
      const m = exactSearch(data, probe, this.dim, Math.min(this.n, k), MetricKind.IP, 1);
      for (let i = 0; i < m.keys.length; i++) {
        const row = Number(m.keys[i]);
        found.push({ faceId: this.faceIds[row]!, score: dotRow(probe, this.matrix, row) });
      }
    }
    return found.sort((a, b) => b.score - a.score || a.faceId - b.faceId).slice(0, k);
  }

  /** Faces now belong to another subject (merged, split, moved): the graph's keys are face ids, unchanged. */
  reassign(faceIds: Iterable<number>, subjectId: number, version: number): void {
    this.version_ = version;
    for (const id of faceIds) {
      const row = this.rowOf.get(id);
      if (row === undefined) continue;
      const old = this.subjectOfRow[row];
      const set = this.facesOf.get(old)!;
      set.delete(id);
      if (set.size === 0) this.facesOf.delete(old);
      this.subjectOfRow[row] = subjectId;
      let to = this.facesOf.get(subjectId);
      if (!to) this.facesOf.set(subjectId, (to = new Set()));
      to.add(id);
    }
    // The saved graph's stamp holds the version: saved again at close.
    if (this.hnsw) this.markDirty();
  }

  /**
   * Exact: for 'max' the top faces by cosine walked in order give the top-k subjects as soon as k
   * different subjects are seen (a subject's first face in that order is its best); when the top
   * candidates hold fewer subjects, or for 'mean', every face is scored.
   */
  searchExact(probe: Float32Array, k: number, aggregate: Aggregate, accept?: SubjectFilter): RankedSubject[] {
    const data = this.matrix.subarray(0, this.n * this.dim);
    const ranker = new SubjectRanker();
    if (aggregate === 'max') {
      const c = Math.min(this.n, this.candidates(k));
      const m = exactSearch(data, probe, this.dim, c, MetricKind.IP, 1);
      for (let i = 0; i < m.keys.length; i++) {
        const row = Number(m.keys[i]);
        if (accept && !accept(this.subjectOfRow[row])) continue;
        ranker.add(this.subjectOfRow[row], this.faceIds[row], dotRow(probe, this.matrix, row));
      }
      if (ranker.subjects >= k || c === this.n) return ranker.top(k, aggregate);
    }
    const all = new SubjectRanker();
    const m = exactSearch(data, probe, this.dim, this.n, MetricKind.IP, 1);
    for (let i = 0; i < m.keys.length; i++) {
      const row = Number(m.keys[i]);
      if (accept && !accept(this.subjectOfRow[row])) continue;
      // usearch's inner-product distance is 1 - dot.
      all.add(this.subjectOfRow[row], this.faceIds[row], 1 - m.distances[i]);
    }
    return all.top(k, aggregate);
  }

  /** HNSW candidates re-scored exactly; for 'mean' every face of each candidate subject is scored. */
  private searchAnn(
    probe: Float32Array,
    k: number,
    aggregate: Aggregate,
    accept?: SubjectFilter,
  ): RankedSubject[] {
    const c = Math.min(this.n, this.candidates(k));
    const m = this.hnsw!.search(probe, c, 1);
    const ranker = new SubjectRanker();
    const subjects = new Set<number>();
    for (let i = 0; i < m.keys.length; i++) {
      const id = Number(m.keys[i]);
      const row = this.rowOf.get(id);
      if (row === undefined || (accept && !accept(this.subjectOfRow[row]))) continue;
      if (aggregate === 'max') ranker.add(this.subjectOfRow[row], id, dotRow(probe, this.matrix, row));
      else subjects.add(this.subjectOfRow[row]);
    }
    for (const s of subjects) for (const [id, score] of this.scoreSubject(probe, s)) ranker.add(s, id, score);
    return ranker.top(k, aggregate);
  }

  /** Saves a graph that changed by additions only (one that saw a deletion is rebuilt at the next open). */
  close(): void {
    if (this.hnsw && this.dirty && !this.removed && this.file) this.save();
    this.hnsw = null;
  }

  /** Drops the graph without saving it and unlinks its file (its vectors are no longer wanted). */
  discard(): void {
    this.hnsw = null;
    this.forgetFile();
  }

  private candidates(k: number): number {
    return Math.max(this.opts.minCandidates, this.opts.candidatesPerK * k);
  }

  private wantsAnn(): boolean {
    return this.opts.ann === 'hnsw' || (this.opts.ann === 'auto' && this.n >= this.opts.annThreshold);
  }

  private append(r: IndexRow): void {
    if (r.embedding.length !== this.dim)
      throw badInput(
        `search index: face ${r.faceId} has ${r.embedding.length} values, the index ${this.dim}`,
      );
    if (this.rowOf.has(r.faceId)) throw badInput(`search index: face ${r.faceId} is already indexed`);
    if ((this.n + 1) * this.dim > this.matrix.length) {
      const cap = Math.max(64, this.faceIds.length * 2);
      const m = new Float32Array(cap * this.dim);
      m.set(this.matrix.subarray(0, this.n * this.dim));
      this.matrix = m;
      const f = new Float64Array(cap);
      f.set(this.faceIds.subarray(0, this.n));
      this.faceIds = f;
      const s = new Float64Array(cap);
      s.set(this.subjectOfRow.subarray(0, this.n));
      this.subjectOfRow = s;
    }
    this.matrix.set(r.embedding, this.n * this.dim);
    this.faceIds[this.n] = r.faceId;
    this.subjectOfRow[this.n] = r.subjectId;
    this.rowOf.set(r.faceId, this.n);
    let set = this.facesOf.get(r.subjectId);
    if (!set) this.facesOf.set(r.subjectId, (set = new Set()));
    set.add(r.faceId);
    this.idsChecksum = (this.idsChecksum + mixId(r.faceId)) >>> 0;
    this.n++;
  }

  private newGraph(): Index {
    return new Index({
      dimensions: this.dim,
      metric: MetricKind.Cos,
      quantization: this.opts.quantization === 'f16' ? ScalarKind.F16 : ScalarKind.F32,
      connectivity: this.opts.connectivity,
      expansion_add: this.opts.expansionAdd,
      expansion_search: this.opts.expansionSearch,
      multi: false,
    });
  }

  private stampFile(): string {
    return `${this.file}.json`;
  }

  private expectedStamp(): Omit<Stamp, 'bytes'> {
    return {
      format: 1,
      dim: this.dim,
      quantization: this.opts.quantization,
      connectivity: this.opts.connectivity,
      count: this.n,
      version: this.version_,
      idsChecksum: this.idsChecksum,
    };
  }

  /** Maps the saved graph when its stamp matches the store, else builds (and saves) a new one. */
  private openGraph(): void {
    if (this.file && existsSync(this.file) && existsSync(this.stampFile())) {
      try {
        const stamp = JSON.parse(readFileSync(this.stampFile(), 'utf8')) as Stamp;
        const want = this.expectedStamp();
        const fresh =
          Object.entries(want).every(([key, v]) => stamp[key as keyof Stamp] === v) &&
          statSync(this.file).size === stamp.bytes;
        if (fresh) {
          const g = this.newGraph();
          g.view(this.file);
          if (g.size() === this.n && g.dimensions() === this.dim) {
            this.hnsw = g;
            this.mapped = true;
            this._origin = 'mapped';
            return;
          }
        }
      } catch {
        // A corrupt stamp or graph file: rebuilt below.
      }
    }
    this.buildGraph();
  }

  private buildGraph(): void {
    const g = this.newGraph();
    // In chunks, to report progress; each chunk is still added by all build threads.
    const chunk = Math.max(10_000, Math.ceil(this.n / 200));
    this.onBuildProgress?.(0, this.n);
    for (let a = 0; a < this.n; a += chunk) {
      const b = Math.min(this.n, a + chunk);
      g.add(
        BigUint64Array.from(this.faceIds.subarray(a, b), (id) => BigInt(id)),
        this.matrix.slice(a * this.dim, b * this.dim),
        this.opts.buildThreads,
      );
      this.onBuildProgress?.(b, this.n);
    }
    this.hnsw = g;
    this.mapped = false;
    this.removed = false;
    this._origin = 'built';
    this.dirty = true;
    if (this.file) this.save();
  }

  /** A mapped graph cannot change: load it into memory before the first add or remove. */
  private writable(): void {
    if (!this.mapped || !this.file) return;
    const g = this.newGraph();
    g.load(this.file);
    this.hnsw = g;
    this.mapped = false;
  }

  /** The saved graph no longer matches: drop its stamp first, so a crash before the next save rebuilds. */
  private markDirty(): void {
    this.dirty = true;
    if (this.file && existsSync(this.stampFile())) unlinkSync(this.stampFile());
  }

  /** Unlinks the saved graph and its stamp (a deletion, or a gallery back under the threshold). */
  private forgetFile(): void {
    if (this.file) discardIndexFile(this.file);
  }

  /**
   * Writes graph then stamp, each to a temporary name renamed into place (a mapped old file stays
   * valid); both 0600 (the graph holds the vectors), made so before usearch writes and checked after.
   */
  private save(): void {
    const file = this.file!;
    if (existsSync(this.stampFile())) unlinkSync(this.stampFile());
    privateFile(`${file}.tmp`);
    this.hnsw!.save(`${file}.tmp`);
    privateFile(`${file}.tmp`);
    renameSync(`${file}.tmp`, file);
    const stamp: Stamp = { ...this.expectedStamp(), bytes: statSync(file).size };
    privateFile(`${this.stampFile()}.tmp`);
    writeFileSync(`${this.stampFile()}.tmp`, JSON.stringify(stamp));
    renameSync(`${this.stampFile()}.tmp`, this.stampFile());
    this.dirty = false;
  }
}

/** Unlinks a saved graph and its stamp, if there. */
export function discardIndexFile(file: string): void {
  for (const f of [`${file}.json`, file]) if (existsSync(f)) unlinkSync(f);
}
