/**
 * Least-squares similarity transform (rotation, uniform scale, translation, no reflection) between
 * two point sets: Umeyama 1991, as skimage's SimilarityTransform.estimate, which InsightFace uses to
 * map detected landmarks onto the ArcFace template.
 */
import { badInput } from '../errors.js';
import type { Point } from './types.js';

/** 2x3 row-major affine map: [x', y'] = [[a, b, tx], [c, d, ty]] · [x, y, 1]. */
export type Affine = [a: number, b: number, tx: number, c: number, d: number, ty: number];

/**
 * The similarity that maps `src` onto `dst` with the least sum of squared distances.
 *
 * In 2-D a scaled rotation is [[p, -q], [q, p]] (multiplication by the complex number p + iq), and
 * every such matrix is one, so Umeyama's SVD solution (eq. 40-42, with the sign fix that forbids a
 * reflection) is the minimiser of a linear least-squares problem in (p, q, tx, ty). With centred
 * points u = src - mean(src), v = dst - mean(dst):
 *   p = Σ(u·v) / Σ|u|², q = Σ(u×v) / Σ|u|², t = mean(dst) - [[p, -q], [q, p]] mean(src).
 * Mirrored-looking inputs therefore get the best proper rotation, never a flip.
 */
export function estimateSimilarity(src: readonly Point[], dst: readonly Point[]): Affine {
  if (src.length !== dst.length)
    throw badInput(`estimateSimilarity: ${src.length} source points but ${dst.length} destination points`);
  if (src.length < 2) throw badInput(`estimateSimilarity: needs at least 2 point pairs, got ${src.length}`);
  checkFinite(src, 'source');
  checkFinite(dst, 'destination');
  const n = src.length;
  let sx = 0;
  let sy = 0;
  let dx = 0;
  let dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[i][0];
    sy += src[i][1];
    dx += dst[i][0];
    dy += dst[i][1];
  }
  sx /= n;
  sy /= n;
  dx /= n;
  dy /= n;
  let norm = 0; // Σ|u|²
  let dot = 0; // Σ u·v
  let cross = 0; // Σ u×v
  let extent = 0;
  for (let i = 0; i < n; i++) {
    const ux = src[i][0] - sx;
    const uy = src[i][1] - sy;
    const vx = dst[i][0] - dx;
    const vy = dst[i][1] - dy;
    norm += ux * ux + uy * uy;
    dot += ux * vx + uy * vy;
    cross += ux * vy - uy * vx;
    extent = Math.max(extent, Math.abs(src[i][0]), Math.abs(src[i][1]));
  }
  // Coincident (or, relative to their distance from the origin, numerically coincident) source
  // points fix no rotation or scale.
  if (!(norm > n * (1e-10 * extent) ** 2))
    throw badInput(
      `estimateSimilarity: the ${n} source points all coincide at (${sx}, ${sy}); ` +
        `a similarity needs at least 2 distinct points`,
    );
  const p = dot / norm;
  const q = cross / norm;
  return [p, -q, dx - (p * sx - q * sy), q, p, dy - (q * sx + p * sy)];
}

/** The inverse map; throws when the matrix is singular or not finite. */
export function invertAffine(m: Affine): Affine {
  const [a, b, tx, c, d, ty] = m;
  const det = a * d - b * c;
  if (!Number.isFinite(det) || det === 0 || !Number.isFinite(tx) || !Number.isFinite(ty))
    throw badInput(`invertAffine: matrix [${m.join(', ')}] is singular or not finite`);
  const ia = d / det;
  const ib = -b / det;
  const ic = -c / det;
  const id = a / det;
  return [ia, ib, -(ia * tx + ib * ty), ic, id, -(ic * tx + id * ty)];
}

export function applyAffine(m: Affine, p: Point): Point {
  return [m[0] * p[0] + m[1] * p[1] + m[2], m[3] * p[0] + m[4] * p[1] + m[5]];
}

function checkFinite(points: readonly Point[], which: string): void {
  points.forEach((pt, i) => {
    if (!Array.isArray(pt) || pt.length !== 2 || !Number.isFinite(pt[0]) || !Number.isFinite(pt[1]))
      throw badInput(
        `estimateSimilarity: ${which} point ${i} is ${Array.isArray(pt) ? `(${pt.join(', ')})` : String(pt)}; ` +
          `points must be pairs of finite numbers`,
      );
  });
}
