/** Training data: prepared crops, the open-set split, validation pairs and the batch loader. */
export { openFaceDataset, datasetOf, decodeCrop, normaliseInto, CROP_SIZE } from './dataset.js';
export type { FaceDataset, FaceItem, OpenDatasetOptions } from './dataset.js';
export {
  splitByIdentity,
  writeSplit,
  readSplit,
  applySplit,
  buildValidationPairs,
  SPLIT_FILE,
} from './split.js';
export type { Split, SplitOptions, SavedSplit, ValidationPair } from './split.js';
export { createLoader, epochOrder, flipOf, mixSeed } from './loader.js';
export type { Batch, EpochOptions, FaceLoader, LoaderOptions } from './loader.js';
export { prepareDataset, summarize, cropNames, REPORT_FILE, SUMMARY_FILE } from './prepare.js';
export type { PrepareOptions, PrepareReport } from './prepare.js';
