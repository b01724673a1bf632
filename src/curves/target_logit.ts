/**
 * The paper's target-logit curves (ArcFace Fig. 4b): the unscaled target logit against theta
 * in [0, pi] for each margin. Values come from each loss's own `target()`, the code path that
 * trains, so the picture cannot drift from the implementation.
 */
import { tf } from '../runtime/backend.js';
import { marginLossByName, type MarginLoss } from '../losses/index.js';

/** The curves of the figure, keyed as in `arcface curves --json`. */
export const CURVE_LOSSES: ReadonlyArray<{ key: string; label: string; make: () => MarginLoss }> = [
  { key: 'softmax', label: 'Softmax (cos θ)', make: () => marginLossByName('softmax') },
  {
    key: 'sphereface',
    label: 'SphereFace (m1=1.35)',
    make: () => marginLossByName('sphereface', { m1: 1.35 }),
  },
  { key: 'cosface', label: 'CosFace (m3=0.35)', make: () => marginLossByName('cosface', { m3: 0.35 }) },
  { key: 'arcface', label: 'ArcFace (m2=0.5)', make: () => marginLossByName('arcface', { m: 0.5 }) },
  { key: 'cm1', label: 'CM1 (1, 0.3, 0.2)', make: () => marginLossByName('cm1') },
  { key: 'cm2', label: 'CM2 (0.9, 0.4, 0.15)', make: () => marginLossByName('cm2') },
];

export interface TargetCurves {
  /** Angles in radians, 0..pi inclusive. */
  theta: number[];
  curves: Record<string, number[]>;
  labels: Record<string, string>;
}

export function targetLogitCurves(points = 181): TargetCurves {
  if (!Number.isInteger(points) || points < 2) throw new RangeError('points must be an integer >= 2');
  const theta = Array.from({ length: points }, (_, i) => (Math.PI * i) / (points - 1));
  const curves: Record<string, number[]> = {};
  const labels: Record<string, string> = {};
  for (const { key, label, make } of CURVE_LOSSES) {
    const loss = make();
    const values = tf.tidy(() => loss.target(tf.tensor1d(theta.map(Math.cos))).dataSync());
    curves[key] = Array.from(values);
    labels[key] = label;
  }
  return { theta, curves, labels };
}
