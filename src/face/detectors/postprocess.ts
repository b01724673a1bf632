/**
 * The steps after decoding that every detector shares: score threshold, NMS, minimum size, the
 * keep policy and the face limit, in that order, on faces already in source-image pixels.
 */
import { badInput } from '../../errors.js';
import type { Face } from '../types.js';
import { boxArea, nms } from './nms.js';
import type { Detector, DetectOptions } from './types.js';

export type ResolvedOptions = Required<DetectOptions>;

/** Fill in defaults and reject nonsense with a message that names the option. */
export function resolveOptions(opts: DetectOptions, defaults: Detector['defaults']): ResolvedOptions {
  const r: ResolvedOptions = {
    scoreThreshold: opts.scoreThreshold ?? defaults.scoreThreshold,
    nmsIou: opts.nmsIou ?? defaults.nmsIou,
    minFaceSize: opts.minFaceSize ?? 0,
    keep: opts.keep ?? 'all',
    maxFaces: opts.maxFaces ?? Infinity,
  };
  const unit = (name: string, v: number) => {
    if (!(v >= 0 && v <= 1)) throw badInput(`detect option ${name}: ${v} is not in [0, 1]`);
  };
  unit('scoreThreshold', r.scoreThreshold);
  unit('nmsIou', r.nmsIou);
  if (!(r.minFaceSize >= 0)) throw badInput(`detect option minFaceSize: ${r.minFaceSize} is not >= 0`);
  if (!['all', 'largest', 'center'].includes(r.keep))
    throw badInput(`detect option keep: "${r.keep}" is not one of all, largest, center`);
  if (!(r.maxFaces >= 1)) throw badInput(`detect option maxFaces: ${r.maxFaces} is not >= 1`);
  return r;
}

export function finalizeFaces(
  faces: readonly Face[],
  image: { width: number; height: number },
  o: ResolvedOptions,
): Face[] {
  const scored = faces.filter((f) => f.score >= o.scoreThreshold);
  const kept = nms(
    scored.map((f) => f.box),
    scored.map((f) => f.score),
    o.nmsIou,
  ).map((i) => scored[i]);
  let out = kept.filter(
    (f) => Math.min(f.box.x2 - f.box.x1, f.box.y2 - f.box.y1) >= o.minFaceSize && boxArea(f.box) > 0,
  );
  if (out.length > 1 && o.keep !== 'all') {
    const cx = image.width / 2;
    const cy = image.height / 2;
    const value = (f: Face): number => {
      if (o.keep === 'largest') return boxArea(f.box);
      const dx = (f.box.x1 + f.box.x2) / 2 - cx;
      const dy = (f.box.y1 + f.box.y2) / 2 - cy;
      return boxArea(f.box) - 2 * (dx * dx + dy * dy);
    };
    // First maximum in score order, so ties go to the higher score.
    out = [out.reduce((best, f) => (value(f) > value(best) ? f : best))];
  }
  return out.slice(0, o.maxFaces);
}
