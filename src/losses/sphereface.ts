/**
 * SphereFace / A-Softmax (paper Eq. 4 with m2 = m3 = 0): target logit s * psi(theta) with
 * psi(theta) = (-1)^k cos(m1*theta) - 2k for theta in [k*pi/m1, (k+1)*pi/m1], the original
 * monotone extension; it is monotone for non-integer m1 too (the ArcFace paper uses 1.35).
 *
 * `lambda` blends in plain cos as the original training did: target = (lambda*cos + psi) /
 * (1 + lambda). A number fixes lambda; an object anneals it as in SphereFace's Caffe layer,
 * lambda = max(lambdaMin, base * (1 + gamma*iteration)^-power), iteration advanced by
 * `step()` (MarginHead calls it after each forward) or set with `setIteration`.
 */
import { tf } from './tf.js';
import { makeMarginLoss, type MarginLoss } from './margin.js';
import { monotoneCosOfAngle } from './math.js';
import { badConfig, checkPositive } from './validate.js';

export type SphereLambda =
  number | { base?: number; gamma?: number; power?: number; lambdaMin?: number; iteration?: number };

export interface SphereFaceLoss extends MarginLoss {
  /** Current lambda (0 when no lambda was given). */
  readonly lambda: number;
  readonly iteration: number;
  setIteration(iteration: number): void;
  step(): void;
}

export function sphereFace(opts: { m1?: number; s?: number; lambda?: SphereLambda } = {}): SphereFaceLoss {
  const m1 = opts.m1 ?? 1.35;
  checkPositive(m1, 'sphereface: m1');
  const spec = opts.lambda;
  let iteration = typeof spec === 'object' ? (spec.iteration ?? 0) : 0;
  const sched =
    typeof spec === 'object' ? { base: 1000, gamma: 0.12, power: 1, lambdaMin: 5, ...spec } : undefined;
  if (typeof spec === 'number' && !(spec >= 0))
    throw badConfig(`sphereface: lambda must be >= 0, got ${spec}`);
  const lambdaNow = (): number => {
    if (sched)
      return Math.max(sched.lambdaMin, sched.base * Math.pow(1 + sched.gamma * iteration, -sched.power));
    return typeof spec === 'number' ? spec : 0;
  };
  const f = (c: tf.Tensor): tf.Tensor => {
    const psi = monotoneCosOfAngle(c, m1, 0);
    const lambda = lambdaNow();
    return lambda === 0 ? psi : tf.div(tf.add(tf.mul(c, lambda), psi), 1 + lambda);
  };
  const s = opts.s ?? 64;
  // A lambda schedule is an object: recorded as given in the config, not here.
  const params: Record<string, number> = typeof spec === 'number' ? { s, m1, lambda: spec } : { s, m1 };
  const base = makeMarginLoss('sphereface', s, f, { params });
  return {
    ...base,
    get lambda() {
      return lambdaNow();
    },
    get iteration() {
      return iteration;
    },
    setIteration(i: number) {
      if (!(Number.isInteger(i) && i >= 0))
        throw badConfig(`sphereface: iteration must be an integer >= 0, got ${i}`);
      iteration = i;
    },
    step() {
      iteration += 1;
    },
  };
}
