/**
 * The ArcFace paper's angle statistics (CVPR 2019, the table of angle statistics under different
 * losses), in degrees:
 * - W-EC: mean angle between each class weight W_j and the centre of its class's features;
 * - W-Inter: mean over j of the smallest angle between W_j and any other W_k;
 * - Intra: mean angle between a feature and its class centre;
 * - Inter: mean over classes of the smallest angle between its centre and another class's centre.
 * Features are L2-normalised first and a class centre is the normalised mean of its normalised
 * features, so only directions count (the scale of an embedding never matters to a cosine).
 */
import { badInput } from '../errors.js';

export type Vector = ArrayLike<number>;

/** Unit copy of v; a zero or non-finite vector has no direction and is refused. */
export function unit(v: Vector, what = 'vector'): Float64Array {
  let n = 0;
  for (let k = 0; k < v.length; k++) n += v[k]! * v[k]!;
  n = Math.sqrt(n);
  if (!(n > 0) || !Number.isFinite(n)) throw badInput(`${what}: norm ${n}, no direction to measure`);
  const out = new Float64Array(v.length);
  for (let k = 0; k < v.length; k++) out[k] = v[k]! / n;
  return out;
}

/** Angle in degrees between two unit vectors (the cosine clamped against rounding). */
export function angleOf(a: Float64Array, b: Float64Array): number {
  let dot = 0;
  for (let k = 0; k < a.length; k++) dot += a[k]! * b[k]!;
  return (Math.acos(Math.min(1, Math.max(-1, dot))) * 180) / Math.PI;
}

function checkSet(features: readonly Vector[], labels: ArrayLike<number>, numClasses: number, what: string) {
  if (features.length !== labels.length)
    throw badInput(`${what}: ${features.length} features but ${labels.length} labels`);
  if (features.length === 0) throw badInput(`${what}: no features`);
  const d = features[0]!.length;
  features.forEach((f, i) => {
    if (f.length !== d)
      throw badInput(`${what}: feature ${i} has ${f.length} dimensions, feature 0 has ${d}`);
  });
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (!Number.isInteger(l) || l < 0 || l >= numClasses)
      throw badInput(`${what}: label ${l} of feature ${i} is not a class in 0..${numClasses - 1}`);
  }
}

/** Per class: the normalised mean of its normalised features, or null for a class with none. */
export function classCentres(
  features: readonly Vector[],
  labels: ArrayLike<number>,
  numClasses: number,
): (Float64Array | null)[] {
  checkSet(features, labels, numClasses, 'class centres');
  const d = features[0]!.length;
  const sums: (Float64Array | null)[] = Array.from({ length: numClasses }, () => null);
  features.forEach((f, i) => {
    const u = unit(f, `feature ${i}`);
    const s = (sums[labels[i]!] ??= new Float64Array(d));
    for (let k = 0; k < d; k++) s[k] += u[k]!;
  });
  return sums.map((s, c) => (s ? unit(s, `centre of class ${c}`) : null));
}

/**
 * Mean angle between each feature and its class centre, over the features of classes with at
 * least `minPerClass` of them: a class of one feature is its own centre and would add a 0.
 */
export function meanIntraAngle(
  features: readonly Vector[],
  labels: ArrayLike<number>,
  centres: readonly (Float64Array | null)[],
  minPerClass = 2,
): number {
  checkSet(features, labels, centres.length, 'intra angle');
  const count = new Array<number>(centres.length).fill(0);
  for (let i = 0; i < labels.length; i++) count[labels[i]!]++;
  let sum = 0;
  let n = 0;
  features.forEach((f, i) => {
    const c = centres[labels[i]!];
    if (!c || count[labels[i]!]! < minPerClass) return;
    sum += angleOf(unit(f, `feature ${i}`), c);
    n++;
  });
  if (n === 0) throw badInput(`intra angle: no class has ${minPerClass} or more features`);
  return sum / n;
}

/** Mean over vectors of the smallest angle to any other vector (null entries are skipped). */
export function meanMinAngle(vectors: readonly (Vector | null)[]): number {
  const us = vectors.filter((v): v is Vector => v !== null).map((v, i) => unit(v, `vector ${i}`));
  if (us.length < 2) throw badInput(`min angle: needs 2 or more vectors, got ${us.length}`);
  let sum = 0;
  for (let j = 0; j < us.length; j++) {
    let min = Infinity;
    for (let k = 0; k < us.length; k++) if (k !== j) min = Math.min(min, angleOf(us[j]!, us[k]!));
    sum += min;
  }
  return sum / us.length;
}

/** Mean angle between a[j] and b[j] over the j where both exist. */
export function meanPairedAngle(a: readonly (Vector | null)[], b: readonly (Vector | null)[]): number {
  if (a.length !== b.length) throw badInput(`paired angle: ${a.length} vs ${b.length} vectors`);
  let sum = 0;
  let n = 0;
  a.forEach((v, j) => {
    const w = b[j];
    if (!v || !w) return;
    sum += angleOf(unit(v, `vector ${j}`), unit(w, `vector ${j}`));
    n++;
  });
  if (n === 0) throw badInput('paired angle: no index has both vectors');
  return sum / n;
}

export interface AngleStatistics {
  /** Mean angle between W_j and its class's feature centre (training classes). */
  wEc: number;
  /** Mean minimum angle between class weights. */
  wInter: number;
  /** Intra / inter angles of the training classes' features. */
  intra1: number;
  inter1: number;
  /** The same on classes the head never saw (a held-out set). */
  intra2: number;
  inter2: number;
}

/**
 * All six statistics. `weights` are the head's class weights, row j for training label j;
 * `train` features carry those labels, `test` its own labels 0..numClasses-1.
 */
export function angleStatistics(o: {
  weights: readonly Vector[];
  train: { features: readonly Vector[]; labels: ArrayLike<number> };
  test: { features: readonly Vector[]; labels: ArrayLike<number>; numClasses: number };
}): AngleStatistics {
  const trainCentres = classCentres(o.train.features, o.train.labels, o.weights.length);
  const testCentres = classCentres(o.test.features, o.test.labels, o.test.numClasses);
  return {
    wEc: meanPairedAngle(o.weights, trainCentres),
    wInter: meanMinAngle(o.weights),
    intra1: meanIntraAngle(o.train.features, o.train.labels, trainCentres),
    inter1: meanMinAngle(trainCentres),
    intra2: meanIntraAngle(o.test.features, o.test.labels, testCentres),
    inter2: meanMinAngle(testCentres),
  };
}
