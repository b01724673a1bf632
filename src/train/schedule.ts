/**
 * Learning-rate schedules, as a pure function of the optimizer step (0-based index of the
 * update about to be applied), so a resumed run needs no scheduler state.
 *
 * poly: arcface_torch's PolyScheduler (lr_scheduler.py) get_lr() at last_epoch = step:
 *   step < warmup: lr * step / warmup (linear from 0),
 *   else:          lr * (1 - (step - warmup) / (total - warmup)) ^ power   (power 2 there).
 * arcface_torch's own loop applies get_lr(0) = 0 twice (its constructor resets last_epoch to -1
 * after the first step()) and steps the scheduler once per micro-batch; here the lr of update k
 * is get_lr(k) and the schedule counts optimizer steps.
 *
 * step: the paper's recipe (lr / 10 at 20k and 28k of 32k iterations), torch's MultiStepLR:
 *   lr * gamma ^ (number of milestones <= step), after the same linear warmup when warmup > 0.
 */
import { badInput } from '../errors.js';

export type ScheduleConfig =
  { type: 'poly'; power: number } | { type: 'step'; milestones: number[]; gamma: number };

export interface ScheduleParams {
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  schedule: ScheduleConfig;
}

export function lrAt(step: number, p: ScheduleParams): number {
  if (!Number.isInteger(step) || step < 0) throw badInput(`lrAt: step must be an integer >= 0, got ${step}`);
  const w = p.warmupSteps;
  if (step < w) return (p.lr * step) / w;
  if (p.schedule.type === 'poly') {
    if (step >= p.totalSteps) return 0;
    return p.lr * Math.pow(1 - (step - w) / (p.totalSteps - w), p.schedule.power);
  }
  let lr = p.lr;
  for (const m of p.schedule.milestones) if (step >= m) lr *= p.schedule.gamma;
  return lr;
}
