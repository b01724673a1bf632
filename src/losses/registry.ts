/** The paper's losses by name (Table 1 / Fig. 4 labels), for the CLI and the curve plots. */
import type { MarginLoss } from './margin.js';
import { normSoftmax } from './norm_softmax.js';
import { softmaxCurve } from './softmax.js';
import { sphereFace, type SphereLambda } from './sphereface.js';
import { cosFace } from './cosface.js';
import { arcFace } from './arcface.js';
import { combinedMargin } from './combined.js';
import { badConfig } from './validate.js';

export const MARGIN_LOSS_NAMES = [
  'softmax',
  'norm-softmax',
  'sphereface',
  'cosface',
  'arcface',
  'cm1',
  'cm2',
  'combined',
] as const;
export type MarginLossName = (typeof MARGIN_LOSS_NAMES)[number];

export interface MarginOverrides {
  s?: number;
  /** ArcFace's m (alias of m2 for combined). */
  m?: number;
  m1?: number;
  m2?: number;
  m3?: number;
  easyMargin?: boolean;
  straightThrough?: boolean;
  lambda?: SphereLambda;
}

/** The paper's combined-margin settings (m1, m2, m3). */
export const CM1 = { m1: 1, m2: 0.3, m3: 0.2 } as const;
export const CM2 = { m1: 0.9, m2: 0.4, m3: 0.15 } as const;

/**
 * 'softmax' gives the identity target (cos) for curves only; train Softmax with SoftmaxHead.
 * 'combined' needs m1, m2 (or m) and m3 in the overrides. Unknown names throw BAD_CONFIG.
 */
export function marginLossByName(name: MarginLossName | string, o: MarginOverrides = {}): MarginLoss {
  switch (name) {
    case 'softmax':
      return softmaxCurve({ s: o.s });
    case 'norm-softmax':
      return normSoftmax({ s: o.s });
    case 'sphereface':
      return sphereFace({ m1: o.m1, s: o.s, lambda: o.lambda });
    case 'cosface':
      return cosFace({ m3: o.m3, s: o.s });
    case 'arcface':
      return arcFace({
        m: o.m ?? o.m2,
        s: o.s,
        easyMargin: o.easyMargin,
        straightThrough: o.straightThrough,
      });
    case 'cm1':
    case 'cm2': {
      const d = name === 'cm1' ? CM1 : CM2;
      return combinedMargin({ m1: o.m1 ?? d.m1, m2: o.m2 ?? o.m ?? d.m2, m3: o.m3 ?? d.m3, s: o.s, name });
    }
    case 'combined': {
      const m2 = o.m2 ?? o.m;
      if (o.m1 === undefined || m2 === undefined || o.m3 === undefined) {
        throw badConfig('combined: give m1, m2 and m3');
      }
      return combinedMargin({ m1: o.m1, m2, m3: o.m3, s: o.s });
    }
    default:
      throw badConfig(`unknown margin loss "${name}" (known: ${MARGIN_LOSS_NAMES.join(', ')})`);
  }
}
