/**
 * What a score means, model by model: the false-accept rate (FAR) of a cosine, read from a model's
 * impostor distribution (different-person pairs), and the open-set threshold that follows from it.
 *
 * A stranger searched against a gallery of N enrolled faces is named when any of the N cosines
 * reaches the threshold, so the false-positive identification rate is FPIR = 1 - (1 - FAR)^N
 * (independent comparisons; about N * FAR). Holding FPIR at a target therefore needs a
 * per-comparison FAR of 1 - (1 - FPIR)^(1/N), about FPIR / N: the threshold grows with the gallery.
 *
 * The table keeps, for a grid of FARs, the cosine at which that share of impostor pairs scores at
 * or above it; between grid points log10(FAR) is interpolated linearly in the cosine. Below the
 * smallest FAR the pairs can measure, the last measured decade is extended linearly in log10(FAR):
 * impostor tails fall faster than that (about Gaussian), so the extension overstates FAR and errs
 * towards "unknown".
 */
import { badInput } from '../errors.js';

export interface FarTable {
  /** FARs, descending (1e-1 ... 1e-7). */
  far: number[];
  /** The cosine at which each FAR is reached, ascending. */
  cosine: number[];
  /** The smallest FAR measured from pairs; entries below it are extrapolated. */
  measuredTo: number;
  /** Impostor pairs the table was read from. */
  pairs: number;
}

/** The FAR grid: 4 points a decade from 1e-1 to 1e-7. */
export const FAR_GRID: readonly number[] = Array.from({ length: 25 }, (_, i) => 10 ** (-1 - i / 4));

/** Least impostor pairs at or above a score for its FAR to count as measured. */
const MIN_COUNT = 10;

const round = (v: number, d: number): number => Math.round(v * 10 ** d) / 10 ** d;

/**
 * The table from impostor cosines. Each grid FAR f gets the smallest cosine t with
 * #(scores >= t) / n <= f (so accepting at t keeps the measured FAR within f).
 */
export function buildFarTable(impostors: ArrayLike<number>, grid: readonly number[] = FAR_GRID): FarTable {
  const n = impostors.length;
  // 10 pairs above each measured point, and a decade of measured points to extrapolate from.
  if (n < 1000)
    throw badInput(
      `a FAR table needs at least 1,000 impostor (different-person) pairs to measure FAR down to 1e-2; got ${n}: too few`,
    );
  const sorted = Float64Array.from(impostors).sort().reverse(); // descending
  if (!Number.isFinite(sorted[0]!) || !Number.isFinite(sorted[n - 1]!))
    throw badInput('buildFarTable: impostor scores must be finite numbers');
  const measuredTo = MIN_COUNT / n;
  const far: number[] = [];
  const cosine: number[] = [];
  const measured: { logf: number; c: number }[] = [];
  for (const f of grid) {
    if (f < measuredTo) break;
    // k = how many scores may be accepted; the threshold sits just above the (k+1)-th highest.
    const k = Math.floor(f * n + 1e-9);
    const c = k >= n ? sorted[n - 1]! : ceil5(sorted[k]!);
    far.push(f);
    cosine.push(c);
    measured.push({ logf: Math.log10(f), c });
  }
  if (measured.length < 5)
    throw badInput(`buildFarTable: ${n} impostor scores measure too few FARs of the grid`);
  // Extrapolate the rest from a least-squares line through the last measured decade (5 points).
  const tail = measured.slice(-5);
  const mx = tail.reduce((a, p) => a + p.logf, 0) / tail.length;
  const my = tail.reduce((a, p) => a + p.c, 0) / tail.length;
  const sxy = tail.reduce((a, p) => a + (p.logf - mx) * (p.c - my), 0);
  const sxx = tail.reduce((a, p) => a + (p.logf - mx) ** 2, 0);
  const slope = Math.min(sxy / sxx, -1e-4); // cosine per decade of FAR: must rise as FAR falls
  for (const f of grid.slice(far.length)) {
    far.push(f);
    cosine.push(Math.min(1, Math.max(cosine[cosine.length - 1]!, my + slope * (Math.log10(f) - mx))));
  }
  return {
    far: far.map((f) => Number(f.toPrecision(4))),
    cosine: cosine.map((c) => round(c, 5)),
    measuredTo,
    pairs: n,
  };
}

/** The smallest float64 above x's 5-decimal rounding, so `score >= threshold` excludes x itself. */
function ceil5(x: number): number {
  return Math.ceil(x * 1e5 + 1e-9) / 1e5;
}

export function checkFarTable(t: FarTable, what: string): void {
  const ok =
    Array.isArray(t.far) &&
    Array.isArray(t.cosine) &&
    t.far.length >= 2 &&
    t.far.length === t.cosine.length &&
    t.far.every((f, i) => f > 0 && f <= 1 && (i === 0 || f < t.far[i - 1]!)) &&
    t.cosine.every((c, i) => c >= -1 && c <= 1 && (i === 0 || c >= t.cosine[i - 1]!)) &&
    t.measuredTo > 0 &&
    t.measuredTo <= 1 &&
    Number.isInteger(t.pairs) &&
    t.pairs > 0;
  if (!ok)
    throw badInput(
      `${what}: a FAR table needs far (descending, in (0, 1]) and cosine (ascending, in [-1, 1]) of the same length >= 2, measuredTo in (0, 1] and pairs > 0`,
    );
}

/**
 * The FAR of accepting at `score`: log-linear between grid points; above the last point the last
 * segment's slope continues; below the first, FAR rises linearly to 1 at the table's implied zero.
 */
export function farAt(t: FarTable, score: number): number {
  if (!Number.isFinite(score)) throw badInput(`farAt: score must be a finite number, got ${score}`);
  const { far, cosine } = t;
  const n = far.length;
  const logf = far.map(Math.log10);
  const seg = (i: number): number => {
    const dc = cosine[i + 1]! - cosine[i]!;
    return dc > 0 ? (score - cosine[i]!) / dc : score >= cosine[i + 1]! ? 1 : 0;
  };
  let lf: number;
  if (score <= cosine[0]!) lf = logf[0]! + (logf[1]! - logf[0]!) * seg(0);
  else if (score >= cosine[n - 1]!) lf = logf[n - 2]! + (logf[n - 1]! - logf[n - 2]!) * seg(n - 2);
  else {
    let i = 0;
    while (cosine[i + 1]! < score) i++;
    lf = logf[i]! + (logf[i + 1]! - logf[i]!) * seg(i);
  }
  return Math.min(1, 10 ** lf);
}

/** The cosine accepting a share `target` of impostor pairs (the inverse of farAt). */
export function thresholdAtFar(t: FarTable, target: number): number {
  if (!(target > 0 && target <= 1)) throw badInput(`thresholdAtFar: FAR must be in (0, 1], got ${target}`);
  const { far, cosine } = t;
  const n = far.length;
  const lt = Math.log10(target);
  const logf = far.map(Math.log10);
  let i: number;
  if (target >= far[0]!) i = 0;
  else if (target <= far[n - 1]!) i = n - 2;
  else {
    i = 0;
    while (far[i + 1]! > target) i++;
  }
  const dl = logf[i + 1]! - logf[i]!;
  const c = cosine[i]! + ((cosine[i + 1]! - cosine[i]!) * (lt - logf[i]!)) / dl;
  return Math.min(1, c);
}

/** Per-comparison FAR that holds FPIR at `fpir` over `n` comparisons. */
export function farForFpir(fpir: number, n: number): number {
  if (!(fpir > 0 && fpir < 1)) throw badInput(`FPIR must be in (0, 1), got ${fpir}`);
  if (!(Number.isInteger(n) && n >= 1)) throw badInput(`gallery size must be a positive integer, got ${n}`);
  return -Math.expm1(Math.log1p(-fpir) / n);
}

/** The chance a stranger scores at least `score` against one of `n` enrolled faces. */
export function fpirAt(t: FarTable, score: number, n: number): number {
  const f = farAt(t, score);
  return n <= 0 ? 0 : -Math.expm1(n * Math.log1p(-Math.min(f, 1 - 1e-16)));
}

/** The open-set threshold for a gallery of `n` enrolled faces at a target FPIR (default 1%). */
export function openSetThreshold(t: FarTable, n: number, fpir = 0.01): number {
  return thresholdAtFar(t, farForFpir(fpir, Math.max(1, n)));
}
