/**
 * Scoring detections against point annotations, for data sets that mark each face by one point
 * (CompreFace's sample_images mark the nose). A detection matches an annotated point when the
 * point lies inside its box; pairs are made one-to-one, greedily by the distance from the point
 * to the detection's own nose landmark. Counting is all such annotations allow: no box IoU.
 */
import type { Face, Point } from '../types.js';

export interface PointMatch {
  /** Index pairs [face, annotation]. */
  pairs: [number, number][];
  /** Annotated points no detection matched. */
  missed: number[];
  /** Detections that matched no annotation (false positives). */
  unmatched: number[];
  /** Per pair: |nose landmark - annotated point| / sqrt(box width * box height). */
  relNoseError: number[];
}

export function matchToPoints(faces: readonly Face[], points: readonly Point[]): PointMatch {
  const candidates: { f: number; p: number; d: number }[] = [];
  faces.forEach((face, f) => {
    const { box, landmarks } = face;
    points.forEach(([x, y], p) => {
      if (x >= box.x1 && x <= box.x2 && y >= box.y1 && y <= box.y2)
        candidates.push({ f, p, d: Math.hypot(landmarks[2][0] - x, landmarks[2][1] - y) });
    });
  });
  candidates.sort((a, b) => a.d - b.d || a.f - b.f || a.p - b.p);
  const usedF = new Set<number>();
  const usedP = new Set<number>();
  const pairs: [number, number][] = [];
  const relNoseError: number[] = [];
  for (const c of candidates) {
    if (usedF.has(c.f) || usedP.has(c.p)) continue;
    usedF.add(c.f);
    usedP.add(c.p);
    pairs.push([c.f, c.p]);
    const b = faces[c.f].box;
    relNoseError.push(c.d / Math.sqrt((b.x2 - b.x1) * (b.y2 - b.y1)));
  }
  return {
    pairs,
    missed: points.map((_, i) => i).filter((i) => !usedP.has(i)),
    unmatched: faces.map((_, i) => i).filter((i) => !usedF.has(i)),
    relNoseError,
  };
}

/**
 * The nose annotations of CompreFace's embedding-calculator/sample_images/annotations.py, read as
 * text (it is a Python data file: `Row('000_5.jpg', [(219, 105), ...])`), in EXIF-upright pixels.
 */
export function parseNoseAnnotations(text: string): Map<string, Point[]> {
  const out = new Map<string, Point[]>();
  for (const m of text.matchAll(/Row\(\s*'([^']+)'\s*,\s*\[([^\]]*)\]/g)) {
    const pts = [...m[2].matchAll(/\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)/g)].map((p): Point => [
      Number(p[1]),
      Number(p[2]),
    ]);
    out.set(m[1], pts);
  }
  return out;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}
