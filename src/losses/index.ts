/** The ArcFace paper's loss family (section 2) and its heads. */
export type { MarginLoss, TargetFn } from './margin.js';
export { makeMarginLoss, replaceTarget } from './margin.js';
export { normSoftmax } from './norm_softmax.js';
export { softmaxCurve, SoftmaxHead } from './softmax.js';
export { sphereFace, type SphereLambda, type SphereFaceLoss } from './sphereface.js';
export { cosFace } from './cosface.js';
export { arcFace, arcFaceTarget, straightThroughTarget, type ArcFaceOptions } from './arcface.js';
export { combinedMargin, type CombinedMarginOptions } from './combined.js';
export {
  marginLossByName,
  MARGIN_LOSS_NAMES,
  CM1,
  CM2,
  type MarginLossName,
  type MarginOverrides,
} from './registry.js';
export { softmaxCrossEntropy } from './cross_entropy.js';
export {
  MarginHead,
  headGradients,
  type HeadOutput,
  type HeadGradients,
  type MarginHeadOptions,
} from './head.js';
export { SubCenterArcFaceHead, type SubCenterOptions } from './subcenter.js';
export { intraLoss } from './intra.js';
export { interLoss } from './inter.js';
export { tripletLoss, mineTriplets, type TripletOptions, type TripletMining } from './triplet.js';
export { centerLoss, CenterLoss } from './center.js';
export { CombinedObjective, type ObjectiveTerms, type ObjectiveOutput } from './objective.js';
export { safeAcos, sinFromCos, monotoneCos, l2Normalize } from './math.js';
export { ensureGradients } from './gradients.js';
