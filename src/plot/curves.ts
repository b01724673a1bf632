/** SVG of the target-logit curves (paper Fig. 4b). */
import { lineChart } from './svg.js';
import type { TargetCurves } from '../curves/target_logit.js';

export function targetCurvesSvg(c: TargetCurves): string {
  const deg = c.theta.map((t) => (t * 180) / Math.PI);
  const dashes: Record<string, string | undefined> = { softmax: '6 4', cm1: '2 3', cm2: '8 3 2 3' };
  return lineChart({
    title: 'Target logit curves',
    xLabel: 'θ (degrees) between feature and its class centre',
    yLabel: 'target logit (before scale s)',
    series: Object.entries(c.curves).map(([key, y]) => ({
      name: c.labels[key] ?? key,
      x: deg,
      y,
      dash: dashes[key],
    })),
    xTicks: [0, 30, 60, 90, 120, 150, 180],
    xRange: [0, 180],
  });
}
