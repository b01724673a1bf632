/**
 * Angle distributions of genuine and impostor pairs, as the ArcFace paper draws them (the
 * angles between the embeddings of positive and negative pairs, e.g. on LFW): histograms of
 * arccos(cosine) in degrees, with the decision threshold as a vertical line when given.
 */
import { badInput } from '../errors.js';
import { lineChart, type Series } from './svg.js';

export interface AngleSvgOptions {
  title?: string;
  /** Decision threshold as a cosine (accept when cos >= threshold); drawn at its angle. */
  threshold?: number;
  /** Histogram bin width in degrees, default 1. */
  binDeg?: number;
  /** Plot fractions of each set instead of pair counts (compares sets of different sizes). */
  normalize?: boolean;
  width?: number;
  height?: number;
}

export function angleDeg(cos: number): number {
  return (Math.acos(Math.min(1, Math.max(-1, cos))) * 180) / Math.PI;
}

/** Histogram as a step outline: x at bin edges, y the count (or fraction) of each bin. */
function steps(angles: number[], lo: number, bin: number, bins: number, normalize: boolean) {
  const counts = new Float64Array(bins);
  for (const a of angles) counts[Math.min(bins - 1, Math.max(0, Math.floor((a - lo) / bin)))]++;
  const x: number[] = [lo];
  const y: number[] = [0];
  counts.forEach((c, b) => {
    const v = normalize ? c / angles.length : c;
    x.push(lo + b * bin, lo + (b + 1) * bin);
    y.push(v, v);
  });
  x.push(lo + bins * bin);
  y.push(0);
  return { x, y };
}

export function angleDistributionSvg(
  sets: { genuine: number[]; impostor: number[] },
  opts: AngleSvgOptions = {},
): string {
  const bin = opts.binDeg ?? 1;
  if (!(bin > 0)) throw badInput(`binDeg: ${bin} must be positive`);
  const check = (v: number[], what: string) =>
    v.forEach((c, i) => {
      if (!Number.isFinite(c)) throw badInput(`${what}[${i}] is ${c}, not a cosine`);
    });
  check(sets.genuine, 'genuine');
  check(sets.impostor, 'impostor');
  if (sets.genuine.length + sets.impostor.length === 0) throw badInput('angle plot: no pairs');
  const g = sets.genuine.map(angleDeg);
  const im = sets.impostor.map(angleDeg);
  const all = [...g, ...im];
  if (opts.threshold !== undefined) all.push(angleDeg(opts.threshold));
  // Axis from the data, widened to whole multiples of 10 degrees.
  const lo = Math.max(0, Math.floor(Math.min(...all) / 10) * 10);
  const hi = Math.min(180, Math.max(lo + 10, Math.ceil(Math.max(...all) / 10) * 10));
  const bins = Math.max(1, Math.ceil((hi - lo) / bin));
  const normalize = opts.normalize ?? false;
  const series: Series[] = [];
  if (g.length)
    series.push({ name: `genuine (${g.length})`, ...steps(g, lo, bin, bins, normalize), color: '#2ca02c' });
  if (im.length)
    series.push({
      name: `impostor (${im.length})`,
      ...steps(im, lo, bin, bins, normalize),
      color: '#d62728',
    });
  const top = Math.max(...series.flatMap((s) => s.y), normalize ? 0.01 : 1);
  if (opts.threshold !== undefined) {
    const a = angleDeg(opts.threshold);
    series.push({
      name: `threshold ${a.toFixed(1)}°`,
      x: [a, a],
      y: [0, top * 1.05],
      color: '#333',
      dash: '6 4',
    });
  }
  return lineChart({
    title: opts.title ?? 'Angle distribution of genuine and impostor pairs',
    xLabel: 'Angle between embeddings (degrees)',
    yLabel: normalize ? 'Fraction of pairs' : 'Pairs',
    series,
    xRange: [lo, lo + bins * bin],
    yRange: [0, top * 1.05],
    width: opts.width,
    height: opts.height,
  });
}
