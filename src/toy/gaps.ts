/**
 * Geometry of 2-D normalised features on the unit circle: the angular gap between classes
 * (paper Fig. 3: Softmax leaves neighbouring classes touching, ArcFace opens a gap).
 */

const TWO_PI = 2 * Math.PI;

/** Angle of each 2-D feature in [0, 2pi). */
export function featureAngles(features: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < features.length; i += 2) {
    const a = Math.atan2(features[i + 1], features[i]);
    out.push(a < 0 ? a + TWO_PI : a);
  }
  return out;
}

/** Smallest angle between two directions, in [0, pi]. */
export function angularDistance(a: number, b: number): number {
  const d = Math.abs(a - b) % TWO_PI;
  return d > Math.PI ? TWO_PI - d : d;
}

/**
 * The minimum inter-class gap: the smallest angle between two features of different classes.
 * Zero when classes touch or interleave; the width of the empty arc between the two closest
 * classes otherwise.
 */
export function minInterClassGap(angles: number[], labels: ArrayLike<number>): number {
  let best = Math.PI;
  for (let i = 0; i < angles.length; i++) {
    for (let j = i + 1; j < angles.length; j++) {
      if (labels[i] !== labels[j]) best = Math.min(best, angularDistance(angles[i], angles[j]));
    }
  }
  return best;
}

/** The arc a class covers: from `start` counter-clockwise to `end` (the complement of its largest empty arc). */
export interface ClassArc {
  label: number;
  start: number;
  end: number;
  width: number;
}

export function classArcs(angles: number[], labels: ArrayLike<number>): ClassArc[] {
  const byClass = new Map<number, number[]>();
  angles.forEach((a, i) => {
    const l = labels[i];
    if (!byClass.has(l)) byClass.set(l, []);
    byClass.get(l)!.push(a);
  });
  const arcs: ClassArc[] = [];
  for (const [label, as] of [...byClass.entries()].sort((p, q) => p[0] - q[0])) {
    const s = [...as].sort((p, q) => p - q);
    // The largest empty arc between consecutive members (circularly) lies outside the class.
    let gapAfter = s.length - 1;
    let gap = s[0] + TWO_PI - s[s.length - 1];
    for (let i = 0; i + 1 < s.length; i++) {
      if (s[i + 1] - s[i] > gap) {
        gap = s[i + 1] - s[i];
        gapAfter = i;
      }
    }
    const start = s[(gapAfter + 1) % s.length];
    const end = s[gapAfter];
    arcs.push({ label, start, end, width: s.length === 1 ? 0 : TWO_PI - gap });
  }
  return arcs;
}
