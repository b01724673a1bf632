/**
 * arcface: the library entry. Start the runtime once (`await initRuntime()`), then use the
 * losses and heads to train, or the experiments and plots below.
 */
export {
  initRuntime,
  tf,
  type BackendChoice,
  type BackendName,
  type RuntimeInfo,
} from './runtime/backend.js';
export {
  heapInfo,
  assertFits,
  explainBackendError,
  WASM_HEAP_LIMIT,
  type HeapInfo,
} from './runtime/memory.js';
export { ArcfaceError, type ArcfaceErrorCode } from './errors.js';
export * from './losses/index.js';
export { targetLogitCurves, CURVE_LOSSES, type TargetCurves } from './curves/target_logit.js';
export { runToy, type ToyOptions, type ToyResult, type ToyRun } from './toy/experiment.js';
export { targetCurvesSvg } from './plot/curves.js';
export { circlePanelsSvg } from './plot/circle.js';
export { lineChart, type LineChartOptions, type Series } from './plot/svg.js';
export { VERSION } from './version.js';

// Recognition: image in, embedding out (detect 5 landmarks, align, embed, L2-normalise), 1:1 verify.
export {
  FaceRecognizer,
  NoFaceError,
  DEFAULT_MODEL,
  DEFAULT_DETECTOR,
  type RecognizerOptions,
  type EmbedOptions,
  type FaceEmbedding,
  type Verification,
  type NoFacePolicy,
} from './pipeline/recognizer.js';
export { embedFiles, type BatchItem, type BatchOptions } from './pipeline/batch.js';
export { scorePairs, scoreBin, type PairScores } from './pipeline/evaluate.js';
export { cosine, angleDegrees, similarityMatrix } from './pipeline/similarity.js';
export { listImages, type ImageInput } from './pipeline/inputs.js';
export { openDetector, resolveDetectorSpec } from './pipeline/detector_path.js';

// Faces and images.
export type { Face, Box, Point, Landmarks5 } from './face/types.js';
export { alignFace, centerCrop, type AlignOptions, type AlignedFace } from './face/align.js';
export {
  dlibChip,
  dlibChipMatrix,
  dlibChipPoints,
  dlibTemplate5,
  DLIB_CHIP_INDICES,
  type DlibChip,
} from './face/dlib_chip.js';
export type { Alignment } from './models/manifest.js';
export { ARCFACE_TEMPLATE, alignmentTemplate } from './face/template.js';
export { estimateSimilarity, invertAffine, applyAffine, type Affine } from './face/umeyama.js';
export {
  FaceTracker,
  type Observation,
  type Track,
  type TrackState,
  type TrackerOptions,
} from './face/tracker.js';
export { warpAffine } from './image/warp.js';
export { decodeImage, resizeRgb, encodeImage, DEFAULT_MAX_PIXELS } from './image/decode.js';
export { rgbImage, type RgbImage } from './image/types.js';
export {
  createDetector,
  parseDetectorSpec,
  type Detector,
  type DetectorKind,
  type DetectOptions,
} from './face/detectors/index.js';

// Models: manifests, the zoo, pulling, the ONNX embedder.
export {
  ZOO,
  findModel,
  getModel,
  validateManifest,
  pullModel,
  resolveModel,
  Embedder,
  modelsRoot,
  readUserConfig,
  saveThreshold,
  thresholdFor,
  type ModelManifest,
  type ResolvedModel,
} from './models/index.js';

// Evaluation protocols and plots.
export { evaluateVerification, type VerificationResult } from './eval/verification.js';
export { rocCurve, rocAuc, equalErrorRate, tarAtFar, type Roc } from './eval/roc.js';
export { evaluateIdentification, splitGallery, type IdentificationResult } from './eval/identification.js';
export { thresholdForFar, thresholdForAccuracy } from './eval/calibrate.js';
export { readPairs, type Pair } from './eval/pairs.js';
export { readBin } from './eval/bin.js';
export { readLabelledImages } from './eval/labels.js';
export { rocSvg } from './plot/roc.js';
export { angleDistributionSvg } from './plot/angles.js';
export { writePlot } from './plot/png.js';

// Training data: prepare (detect + align a raw tree), datasets, identity splits, the worker loader.
export * from './data/index.js';
// Training: config, SGD, schedules, checkpoints, the trainer loop (its Batch is the data loader's shape).
export {
  train,
  parseTrainConfig,
  loadTrainConfig,
  DEFAULT_TRAIN_CONFIG,
  Sgd,
  lrAt,
  clipByGlobalNorm,
  saveCheckpoint,
  loadCheckpoint,
  GradientPool,
  headFromConfig,
  type TrainConfig,
  type TrainableModel,
  type TrainableHead,
  type BatchSource,
} from './train/index.js';
// Backbones (IResNet, MobileFaceNet) as arcface_torch defines them.
export {
  createBackbone,
  BACKBONE_NAMES,
  loadTorchStateDict,
  toTorchStateDict,
  type Backbone,
  type BackboneName,
  type BackboneConfig,
} from './backbones/index.js';
export { runTraining, loadTrainedBackbone } from './train/run.js';
export { backboneToOnnx, writeModelPackage } from './export/backbone.js';
// ONNX export.
export { encodeOnnx, type OnnxModel, type OnnxNode, type OnnxTensor } from './export/onnx.js';
// The gallery: enrolled subjects, open-set identification, the embedded SQLite store.
export * from './gallery/index.js';
// Recognition as a service: enroll / identify over a gallery store, API keys, the HTTP server.
export {
  RecognitionService,
  ServiceError,
  KeyStore,
  exportGallery,
  importGallery,
  type ServiceOptions,
  type OpenServiceOptions,
  type EnrollResult,
  type IdentifyResult,
  type IdentifiedFace,
  type IdentifyOptions as ServiceIdentifyOptions,
  type ImageArg,
  type CorrectionTarget,
} from './service/index.js';
export { buildServer, startServer } from './server/index.js';
