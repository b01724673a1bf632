/**
 * The defaults `arcface cluster` and `arcface eval clustering` use, chosen by measurement
 * (bench/results/cluster_celeba.md).
 */
import type { Algorithm } from './types.js';

export const DEFAULT_ALGORITHM: Algorithm = 'chinese-whispers';
/** Link two faces when strangers score that high at most this often (the model's FAR table). */
export const DEFAULT_LINK_FAR = 1e-3;
/** A person needs this many faces; fewer are left as singletons. */
export const DEFAULT_MIN_FACES = 2;
