/**
 * The defaults `arcface cluster` and `arcface eval clustering` use, chosen by measurement
 * (bench/results/cluster_celeba.md, held-out CelebA, 2,423 faces of 149 people): Chinese Whispers
 * linking at FAR 1e-4 was the best of every algorithm and threshold tried with both models
 * (pairwise F1 0.928 dlib-resnet-v1, 0.962 w600k-mbf-int8). Min faces 3 (as Immich) costs nothing
 * in F1 (0.001) and turns the stray pairs that split a person into singletons to review rather than
 * extra people (143 clusters for 147 people, against 161 at 2).
 */
import type { Algorithm } from './types.js';

export const DEFAULT_ALGORITHM: Algorithm = 'chinese-whispers';
/** Link two faces when strangers score that high at most this often (the model's FAR table). */
export const DEFAULT_LINK_FAR = 1e-4;
/** A person needs this many faces; fewer are left as singletons. */
export const DEFAULT_MIN_FACES = 3;
