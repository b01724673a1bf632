/**
 * 1:N identification on L2-normalised embeddings.
 *
 * The score of a probe against an enrolled identity is the highest cosine over that identity's
 * templates. Probes whose identity is enrolled are "mated"; the others are distractors.
 *
 * - Closed set (mated probes): the rank of the true identity is 1 + the number of other
 *   identities scoring at least as high (ties count against the probe); cmc[r - 1] is the
 *   fraction of mated probes with rank <= r.
 * - Open set: FPIR(t) = fraction of distractors whose top score is >= t, and
 *   DIR(t) = fraction of mated probes whose true identity is at rank 1 with score >= t.
 *   The threshold for a target FPIR f is an order statistic of the N distractor top scores
 *   (no interpolation): with k = floor(f N) false alarms allowed, the smallest distractor top
 *   score s such that at most k top scores are >= s. When no distractor score qualifies (k = 0,
 *   or ties at the boundary) the threshold is the next double above the largest tied score, so
 *   the FPIR actually reached (reported) is never above the target.
 */
import { badInput } from '../errors.js';
import { rng, shuffle } from '../util/random.js';

export interface Labelled {
  identity: string;
  embedding: Float32Array;
}

export type GalleryInput = Map<string, Float32Array[]> | Labelled[];

export interface IdentificationOptions {
  /** Target FPIRs for DIR, default [1e-1, 1e-2]. */
  fpirs?: number[];
}

export interface IdentificationResult {
  identities: number;
  templates: number;
  mated: number;
  distractors: number;
  /** cmc[r - 1] = fraction of mated probes whose true identity ranks r or better. */
  cmc: Float64Array;
  rank1: number;
  rank5: number;
  /** Keyed "1e-1", "1e-2", ...; empty when there are no distractors. */
  dirAtFpir: Record<string, { dir: number; fpir: number; threshold: number }>;
}

/** One contiguous row-major matrix of embeddings, checked for dimension and unit norm. */
function pack(rows: Float32Array[], what: string, dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => {
    if (r.length !== dim) throw badInput(`${what}[${i}] has ${r.length} dimensions, expected ${dim}`);
    let s = 0;
    for (let k = 0; k < dim; k++) s += r[k] * r[k];
    if (!(Math.abs(Math.sqrt(s) - 1) < 1e-3))
      throw badInput(`${what}[${i}] is not L2-normalised (norm ${Math.sqrt(s).toPrecision(6)})`);
    out.set(r, i * dim);
  });
  return out;
}

/**
 * out[i * m + j] = <a_i, b_j> for rows a (n x d) and b (m x d), accumulated in float64 with a
 * 4 x 4 register block over a probe block that stays in cache while the templates stream by.
 */
export function dotBlock(
  a: Float32Array,
  rowFrom: number,
  rowTo: number,
  b: Float32Array,
  m: number,
  d: number,
  out: Float64Array,
): void {
  const rows = rowTo - rowFrom;
  for (let i0 = 0; i0 < rows; i0 += 4) {
    const ni = Math.min(4, rows - i0);
    const p0 = (rowFrom + i0) * d;
    const p1 = (rowFrom + i0 + Math.min(1, ni - 1)) * d;
    const p2 = (rowFrom + i0 + Math.min(2, ni - 1)) * d;
    const p3 = (rowFrom + i0 + Math.min(3, ni - 1)) * d;
    for (let j0 = 0; j0 < m; j0 += 4) {
      const nj = Math.min(4, m - j0);
      const q0 = j0 * d;
      const q1 = (j0 + Math.min(1, nj - 1)) * d;
      const q2 = (j0 + Math.min(2, nj - 1)) * d;
      const q3 = (j0 + Math.min(3, nj - 1)) * d;
      // prettier-ignore
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0,
        s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      // prettier-ignore
      for (let k = 0; k < d; k++) {
        const a0 = a[p0 + k], a1 = a[p1 + k], a2 = a[p2 + k], a3 = a[p3 + k];
        const b0 = b[q0 + k], b1 = b[q1 + k], b2 = b[q2 + k], b3 = b[q3 + k];
        s00 += a0 * b0; s01 += a0 * b1; s02 += a0 * b2; s03 += a0 * b3;
        s10 += a1 * b0; s11 += a1 * b1; s12 += a1 * b2; s13 += a1 * b3;
        s20 += a2 * b0; s21 += a2 * b1; s22 += a2 * b2; s23 += a2 * b3;
        s30 += a3 * b0; s31 += a3 * b1; s32 += a3 * b2; s33 += a3 * b3;
      }
      const o = i0 * m + j0;
      if (ni === 4 && nj === 4) {
        // prettier-ignore
        {
          out[o] = s00; out[o + 1] = s01; out[o + 2] = s02; out[o + 3] = s03;
          out[o + m] = s10; out[o + m + 1] = s11; out[o + m + 2] = s12; out[o + m + 3] = s13;
          out[o + 2 * m] = s20; out[o + 2 * m + 1] = s21; out[o + 2 * m + 2] = s22; out[o + 2 * m + 3] = s23;
          out[o + 3 * m] = s30; out[o + 3 * m + 1] = s31; out[o + 3 * m + 2] = s32; out[o + 3 * m + 3] = s33;
        }
        continue;
      }
      // Edge block: rows/columns past the end were computed on clamped copies; drop them.
      const sums = [s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33];
      for (let r = 0; r < ni; r++) for (let c = 0; c < nj; c++) out[o + r * m + c] = sums[r * 4 + c];
    }
  }
}

/** Cosine similarity matrix (a.length x b.length, row-major) of L2-normalised embeddings. */
export function scoreMatrix(a: Float32Array[], b: Float32Array[]): Float64Array {
  const d = a[0]?.length ?? b[0]?.length ?? 0;
  const out = new Float64Array(a.length * b.length);
  dotBlock(pack(a, 'a', d), 0, a.length, pack(b, 'b', d), b.length, d, out);
  return out;
}

function galleryRows(gallery: GalleryInput): { ids: string[]; rows: Float32Array[]; owner: Int32Array } {
  const byId = new Map<string, Float32Array[]>();
  if (gallery instanceof Map) for (const [id, embs] of gallery) byId.set(id, [...embs]);
  else
    for (const g of gallery) {
      const list = byId.get(g.identity);
      if (list) list.push(g.embedding);
      else byId.set(g.identity, [g.embedding]);
    }
  const ids = [...byId.keys()].sort();
  const rows: Float32Array[] = [];
  const owner: number[] = [];
  ids.forEach((id, k) => {
    const embs = byId.get(id)!;
    if (embs.length === 0) throw badInput(`gallery: identity '${id}' has no embedding`);
    for (const e of embs) {
      rows.push(e);
      owner.push(k);
    }
  });
  return { ids, rows, owner: Int32Array.from(owner) };
}

/** The next double above x (Math.nextUp): a threshold that excludes x under `score >= t`. */
export function nextUp(x: number): number {
  if (Number.isNaN(x) || x === Infinity) return x;
  if (x === 0) return Number.MIN_VALUE;
  const f = new Float64Array([x]);
  const bits = new BigInt64Array(f.buffer);
  bits[0] += x > 0 ? 1n : -1n;
  return f[0];
}

/** Order-statistic threshold for a target FPIR (see the module comment). */
export function fpirThreshold(
  topScores: ArrayLike<number>,
  fpir: number,
): { threshold: number; fpir: number } {
  const m = Float64Array.from(topScores).sort().reverse(); // descending
  const n = m.length;
  const allowed = Math.min(n, Math.floor(fpir * n * (1 + 1e-12)));
  for (let i = allowed; i >= 1; i--) {
    // m[i - 1] is the i-th largest; exactly i scores are >= it when the next one is smaller.
    if (i === n || m[i - 1] > m[i]) return { threshold: m[i - 1], fpir: i / n };
  }
  return { threshold: nextUp(m[0]), fpir: 0 };
}

const BLOCK = 64;

export function evaluateIdentification(
  gallery: GalleryInput,
  probes: Labelled[],
  opts: IdentificationOptions = {},
): IdentificationResult {
  const { ids, rows, owner } = galleryRows(gallery);
  if (ids.length === 0) throw badInput('gallery: no identities enrolled');
  const d = rows[0].length;
  const g = pack(rows, 'gallery', d);
  const p = pack(
    probes.map((x) => x.embedding),
    'probes',
    d,
  );
  const fpirs = opts.fpirs ?? [1e-1, 1e-2];
  for (const f of fpirs) if (!(f > 0 && f <= 1)) throw badInput(`fpirs: ${f} is not in (0, 1]`);
  const idIndex = new Map(ids.map((id, k) => [id, k]));
  const m = rows.length;
  const nIds = ids.length;

  const rankCount = new Float64Array(nIds + 1);
  const matedTrue: number[] = []; // true-identity score of mated probes at rank 1, else -Infinity
  const distractorTop: number[] = [];
  const scores = new Float64Array(BLOCK * m);
  const best = new Float64Array(nIds);
  for (let from = 0; from < probes.length; from += BLOCK) {
    const to = Math.min(probes.length, from + BLOCK);
    dotBlock(p, from, to, g, m, d, scores);
    for (let i = from; i < to; i++) {
      best.fill(-Infinity);
      const row = (i - from) * m;
      for (let j = 0; j < m; j++) if (scores[row + j] > best[owner[j]]) best[owner[j]] = scores[row + j];
      const truth = idIndex.get(probes[i].identity);
      if (truth === undefined) {
        distractorTop.push(best.reduce((a, b) => Math.max(a, b), -Infinity));
        continue;
      }
      const s = best[truth];
      let rank = 1;
      for (let k = 0; k < nIds; k++) if (k !== truth && best[k] >= s) rank++;
      rankCount[rank]++;
      matedTrue.push(rank === 1 ? s : -Infinity);
    }
  }
  const mated = matedTrue.length;
  if (mated === 0) throw badInput('probes: none of the probe identities is enrolled in the gallery');
  const cmc = new Float64Array(nIds);
  let acc = 0;
  for (let r = 1; r <= nIds; r++) {
    acc += rankCount[r];
    cmc[r - 1] = acc / mated;
  }
  const dirAtFpir: IdentificationResult['dirAtFpir'] = {};
  if (distractorTop.length > 0)
    for (const f of fpirs) {
      const t = fpirThreshold(distractorTop, f);
      const hits = matedTrue.filter((s) => s >= t.threshold).length;
      dirAtFpir[f.toExponential()] = { dir: hits / mated, fpir: t.fpir, threshold: t.threshold };
    }
  return {
    identities: nIds,
    templates: m,
    mated,
    distractors: distractorTop.length,
    cmc,
    rank1: cmc[0],
    rank5: cmc[Math.min(5, nIds) - 1],
    dirAtFpir,
  };
}

/**
 * Enrol `perId` images of each identity, the rest become probes. Without a seed the first
 * `perId` in sorted file order are enrolled; with one, a seeded shuffle of that order decides.
 * Identities with fewer than `perId` images are left out entirely (listed in `skipped`, they can
 * serve as distractors); those with exactly `perId` are enrolled and give no probe.
 */
export function splitGallery<T extends { file: string; identity: string }>(
  items: T[],
  perId: number,
  seed?: number,
): { gallery: T[]; probes: T[]; skipped: string[] } {
  if (!Number.isInteger(perId) || perId < 1) throw badInput(`perId: ${perId} must be a positive integer`);
  const byId = new Map<string, T[]>();
  for (const it of items) {
    const list = byId.get(it.identity);
    if (list) list.push(it);
    else byId.set(it.identity, [it]);
  }
  const random = seed === undefined ? undefined : rng(seed);
  const gallery: T[] = [];
  const probes: T[] = [];
  const skipped: string[] = [];
  for (const id of [...byId.keys()].sort()) {
    const list = byId.get(id)!.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    if (list.length < perId) {
      skipped.push(id);
      continue;
    }
    if (random) shuffle(list, random);
    gallery.push(...list.slice(0, perId));
    probes.push(...list.slice(perId));
  }
  const byFile = (a: T, b: T) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
  return { gallery: gallery.sort(byFile), probes: probes.sort(byFile), skipped };
}
