/** The trainer core: config, optimizer, schedules, clipping, run folder, checkpoints, the loop. */
export {
  parseTrainConfig,
  loadTrainConfig,
  totalSteps,
  checkLength,
  configDiff,
  DEFAULT_TRAIN_CONFIG,
  RESUMABLE_KEYS,
  type TrainConfig,
  type LossConfig,
  type DataConfig,
  type ParseOptions,
} from './config.js';
export { Sgd, type SgdOptions, type SgdState } from './sgd.js';
export { lrAt, type ScheduleConfig, type ScheduleParams } from './schedule.js';
export { clipByGlobalNorm, globalNorm, type ClipResult } from './clip.js';
export { TrainRng } from './rng.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  readCheckpoint,
  listCheckpoints,
  checkpointName,
  cleanCheckpointTemps,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type TrainPosition,
  type CheckpointIndex,
  type CheckpointContents,
  type LoadedCheckpoint,
  type RestoreTargets,
  type TensorEntry,
} from './checkpoint.js';
export { prepareRunDir, runDirPaths, latestCheckpoint, type RunDir } from './run_dir.js';
export { appendLog, readLog, truncateLogAfter, type LogEntry } from './log.js';
export {
  train,
  type TrainOptions,
  type TrainResult,
  type TrainProgress,
  type Validation,
} from './trainer.js';
export { headFromConfig } from './head.js';
export {
  GradientPool,
  GradientWorkerError,
  checkParallel,
  combineRunningStats,
  splitContiguous,
  type GradientPoolOptions,
} from './parallel.js';
export type { GradientSource, GradientResult, MicroBatch } from './trainer.js';
export type { TrainableModel, TrainableHead, Batch, BatchSource } from './types.js';
