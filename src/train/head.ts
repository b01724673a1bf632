/**
 * The head a config asks for: MarginHead with marginLossByName(config.loss), SoftmaxHead for
 * "softmax", wrapped in a CombinedObjective when the config adds intra / inter / triplet terms.
 */
import {
  CombinedObjective,
  MarginHead,
  SoftmaxHead,
  marginLossByName,
  type ObjectiveTerms,
} from '../losses/index.js';
import type { TrainConfig } from './config.js';
import type { TrainableHead } from './types.js';

export function headFromConfig(
  config: TrainConfig,
  numClasses: number,
  seed = config.seed + 1,
): TrainableHead & { dispose(): void } {
  const { name, intra, inter, triplet, tripletMargin, ...overrides } = config.loss;
  const size = { numClasses, embeddingSize: config.embeddingSize, seed };
  const head =
    name === 'softmax'
      ? new SoftmaxHead(size)
      : new MarginHead({ ...size, loss: marginLossByName(name, overrides) });
  const terms: ObjectiveTerms = {};
  if (intra !== undefined) terms.intra = intra;
  if (inter !== undefined) terms.inter = inter;
  if (triplet !== undefined) terms.triplet = { weight: triplet, margin: tripletMargin ?? 0.35 };
  return Object.keys(terms).length > 0 ? new CombinedObjective(head, terms) : head;
}
