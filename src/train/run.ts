/**
 * `arcface train` end to end, as arcface_torch's train_v2.py wires it: the dataset, an open-set
 * split (validation people never trained on), the worker loader, the backbone, the margin head,
 * and validation by issue 3's 10-fold protocol on pairs of the validation people.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { applySplit, buildValidationPairs, readSplit, splitByIdentity, writeSplit } from '../data/split.js';
import { decodeCrop, normaliseInto, openFaceDataset, type FaceDataset } from '../data/dataset.js';
import {
  applyInit,
  assignCheckpointWeights,
  createTrainBackbone,
  inputSpecOf,
  type InputSpec,
  type TrainBackbone,
} from './backbone.js';
import { createLoader } from '../data/loader.js';
import { ArcfaceError, badInput } from '../errors.js';
import { evaluateVerification } from '../eval/verification.js';
import { initRuntime, tf } from '../runtime/backend.js';
import { explainBackendError } from '../runtime/memory.js';
import type { TrainConfig } from './config.js';
import { readCheckpoint } from './checkpoint.js';
import { headFromConfig } from './head.js';
import { checkParallel, GradientPool } from './parallel.js';
import { latestCheckpoint } from './run_dir.js';
import { train, type TrainProgress, type TrainResult, type Validation } from './trainer.js';
import type { BatchSource } from './types.js';

export interface RunOptions {
  config: TrainConfig;
  runDir: string;
  resume?: boolean;
  /** Share of the identities held out for validation when the config names no validation set. */
  valFraction?: number;
  /** Same (and as many different) pairs per validation identity. */
  valPairsPerClass?: number;
  workers?: number;
  /**
   * Gradient worker threads (default 1: in-process). N > 1 splits each step's micro-batches over
   * N wasm instances (src/train/parallel.ts); the result is the same up to float rounding.
   */
  parallel?: number;
  onProgress?: (p: TrainProgress) => void;
  onValidation?: (v: Validation, step: number) => void;
  onSkip?: (file: string, message: string) => void;
  signal?: AbortSignal;
}

/** A crop of the wrong size: say which crops this backbone takes and how to make them. */
async function cropFor(file: string, input: InputSpec): Promise<Uint8Array> {
  try {
    return await decodeCrop(file, input.size);
  } catch (e) {
    if (e instanceof ArcfaceError && e.code === 'BAD_SHAPE')
      throw new ArcfaceError(
        'BAD_SHAPE',
        `${e.message}; this backbone takes ${input.size}x${input.size} ${input.alignment} crops: \`${input.prepare}\``,
      );
    throw e;
  }
}

/**
 * Embeds the validation pairs' images with the backbone in inference mode, then the 10-fold
 * protocol. `input`: the backbone's crops (default the ArcFace 112x112 ones).
 */
export async function verificationValidator(
  val: FaceDataset,
  pairsPerClass: number,
  seed: number,
  input: InputSpec = inputSpecOf('mobilefacenet'),
) {
  const SIZE = input.size;
  const pairs = buildValidationPairs(val, { pairsPerClass, seed });
  const files = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
  const index = new Map(files.map((f, i) => [f, i]));
  const crops = await Promise.all(files.map((f) => cropFor(f, input)));
  return async (model: { apply(x: tf.Tensor4D, training: boolean): tf.Tensor2D }): Promise<Validation> => {
    const embs: Float32Array[] = [];
    const batch = 32;
    for (let s = 0; s < crops.length; s += batch) {
      const part = crops.slice(s, s + batch);
      const data = new Float32Array(part.length * SIZE * SIZE * 3);
      part.forEach((c, i) => normaliseInto(data, i * SIZE * SIZE * 3, c, SIZE, false, input));
      const out = tf.tidy(() => {
        const e = model.apply(tf.tensor4d(data, [part.length, SIZE, SIZE, 3]), false);
        return tf.div(e, tf.norm(e, 'euclidean', 1, true)) as tf.Tensor2D;
      });
      const v = (await out.data()) as Float32Array;
      out.dispose();
      const d = v.length / part.length;
      for (let i = 0; i < part.length; i++) embs.push(v.slice(i * d, (i + 1) * d));
    }
    const scores = pairs.map((p) => {
      const a = embs[index.get(p.a)!]!;
      const b = embs[index.get(p.b)!]!;
      let dot = 0;
      for (let k = 0; k < a.length; k++) dot += a[k]! * b[k]!;
      return dot;
    });
    // 10 folds as InsightFace; fewer only when a tiny validation set has fewer pairs.
    const r = evaluateVerification(
      scores,
      pairs.map((p) => p.same),
      { folds: Math.min(10, pairs.length) },
    );
    return { accuracy: r.accuracy, std: r.std };
  };
}

export async function runTraining(o: RunOptions): Promise<TrainResult & { backbone: TrainBackbone }> {
  const cfg = o.config;
  // The trainer takes any model; this runner builds one of ours, so the name is checked first.
  const input = inputSpecOf(cfg.backbone);
  const parallel = o.parallel ?? 1;
  checkParallel(parallel, cfg.accumulate);
  await initRuntime();
  const ds = await openFaceDataset(cfg.data.train);
  let trainSet: FaceDataset;
  let valSet: FaceDataset;
  if (cfg.data.validation) {
    trainSet = ds;
    valSet = await openFaceDataset(cfg.data.validation);
  } else {
    const split =
      o.resume && existsSync(join(o.runDir, 'split.json'))
        ? applySplit(ds, await readSplit(o.runDir))
        : splitByIdentity(ds, { valFraction: o.valFraction ?? 0.1, seed: cfg.seed });
    if (!o.resume || !existsSync(join(o.runDir, 'split.json'))) await writeSplit(o.runDir, split);
    trainSet = split.train;
    valSet = split.val;
  }
  if (trainSet.numClasses < 2) throw badInput(`${cfg.data.train}: training needs at least 2 identities`);
  // One crop checked before anything starts: a folder of the wrong crops fails here, with the remedy.
  await cropFor(trainSet.items[0]!.file, input);
  const validate = await verificationValidator(valSet, o.valPairsPerClass ?? 20, cfg.seed, input);
  const backbone = createTrainBackbone(cfg);
  // The starting weights; a resumed run's checkpoint then replaces them (train() loads it).
  if (cfg.init !== null) {
    try {
      await applyInit(backbone, cfg.init, cfg.backbone);
    } catch (e) {
      backbone.dispose();
      throw e;
    }
  }
  const loader = createLoader(trainSet, {
    batchSize: cfg.batchSize,
    seed: cfg.seed,
    flip: cfg.data.flip,
    workers: o.workers,
    size: input.size,
    norm: input,
    onSkip: o.onSkip,
  });
  const data: BatchSource = {
    batchesPerEpoch: loader.batchesPerEpoch,
    imageShape: [input.size, input.size, 3],
    epoch: (e, opts) => loader.epoch(e, opts),
  };
  const head = headFromConfig(cfg, trainSet.numClasses);
  let pool: GradientPool | undefined;
  try {
    if (parallel > 1)
      pool = await GradientPool.start({ config: cfg, numClasses: trainSet.numClasses, workers: parallel });
    const result = await train({
      config: cfg,
      runDir: o.runDir,
      model: backbone,
      head,
      data,
      resume: o.resume,
      signal: o.signal,
      onProgress: o.onProgress,
      gradients: pool,
      // A fine-tune's starting accuracy on the same pairs, so its gain (or loss) is visible.
      validateFirst: cfg.init !== null,
      validate: async (m, step) => {
        const v = await validate(m);
        o.onValidation?.(v, step);
        return v;
      },
    });
    return { ...result, backbone };
  } catch (err) {
    throw explainBackendError(err); // a wasm heap abort becomes OUT_OF_MEMORY with the remedy
  } finally {
    await pool?.close();
    await loader.close();
  }
}

/**
 * The backbone of a run's newest checkpoint (or of a checkpoint folder), built from the config
 * the checkpoint carries: what `arcface export` turns into ONNX.
 */
export async function loadTrainedBackbone(
  runOrCheckpoint: string,
): Promise<{ backbone: TrainBackbone; config: TrainConfig; checkpoint: string; step: number }> {
  await initRuntime();
  const isCheckpoint = existsSync(join(runOrCheckpoint, 'index.json'));
  const latest = isCheckpoint ? null : latestCheckpoint(runOrCheckpoint);
  if (!isCheckpoint && !latest)
    throw new ArcfaceError(
      'NOT_FOUND',
      `${runOrCheckpoint}: neither a run folder with checkpoints nor a checkpoint`,
    );
  const path = isCheckpoint ? runOrCheckpoint : latest!.path;
  const { index, values } = readCheckpoint(path);
  const cfg = index.config;
  let backbone: TrainBackbone;
  try {
    backbone = createTrainBackbone(cfg);
  } catch (e) {
    throw new ArcfaceError(
      'BAD_CONFIG',
      `checkpoint ${path}: backbone "${cfg.backbone}" is not one this package builds (${(e as Error).message})`,
    );
  }
  try {
    assignCheckpointWeights(backbone, values.model, `checkpoint ${path}`, cfg.backbone);
  } catch (e) {
    backbone.dispose();
    throw e;
  }
  return { backbone, config: cfg, checkpoint: path, step: index.step };
}
