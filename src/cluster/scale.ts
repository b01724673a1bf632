/**
 * The distance scale: which pairs may link and how strongly. A raw cosine means something different
 * for every model (dlib's impostors sit at 0.88, w600k's at 0.1), so the threshold is given as a
 * false-accept rate read from the model's FAR table (src/eval/far.ts): "link when the pair's FAR <=
 * 1e-3" is the same promise for every model. An edge's weight is -log10(FAR): how unlikely two
 * strangers score that high, so Chinese Whispers trusts a near-certain link more than a marginal one.
 * A plain cosine threshold (Immich's "max distance 0.5" is cosine >= 0.5) is kept for comparison.
 */
import { badInput } from '../errors.js';
import { farAt, thresholdAtFar, type FarTable } from '../eval/far.js';

export interface Scale {
  /** Pairs at or above this cosine may link. */
  link: number;
  /** The weight of a link of this cosine (> 0 at and above `link`). */
  weight(cosine: number): number;
  /** How it was set, for reports. */
  describe: string;
  /**
   * What two strangers typically score (FAR 0.1 on the table): average linkage counts a pair the
   * kNN graph never saw as at most this, so an unseen pair never argues for a merge.
   */
  stranger?: number;
}

/** Link when FAR(cosine) <= `far` on the model's table; weight -log10(FAR). */
export function farScale(table: FarTable, far: number): Scale {
  if (!(far > 0 && far < 1)) throw badInput(`cluster: --far must be in (0, 1), got ${far}`);
  const link = thresholdAtFar(table, far);
  return {
    link,
    weight: (c) => Math.max(1e-3, -Math.log10(Math.max(farAt(table, c), 1e-12))),
    describe: `FAR <= ${far} (cosine >= ${link.toFixed(4)})`,
    stranger: thresholdAtFar(table, 0.1),
  };
}

/** Link at a fixed cosine; every link weighs 1 (as dlib's face clustering example). */
export function cosineScale(link: number): Scale {
  if (!(link >= -1 && link <= 1))
    throw badInput(`cluster: a cosine threshold must be in [-1, 1], got ${link}`);
  return { link, weight: () => 1, describe: `cosine >= ${link}` };
}
