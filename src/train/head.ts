/** The margin head a config asks for: MarginHead with marginLossByName(config.loss). */
import { MarginHead, marginLossByName } from '../losses/index.js';
import type { TrainConfig } from './config.js';

export function headFromConfig(config: TrainConfig, numClasses: number, seed = config.seed + 1): MarginHead {
  const { name, ...overrides } = config.loss;
  return new MarginHead({
    numClasses,
    embeddingSize: config.embeddingSize,
    loss: marginLossByName(name, overrides),
    seed,
  });
}
