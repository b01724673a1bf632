/**
 * The backbones `arcface train` builds by name, with the input each one takes, and where a run's
 * starting weights come from (`init`): arcface_torch's IResNets and MobileFaceNet (112x112 ArcFace
 * crops, (v - 127.5) / 127.5, random init), and dlib's ResNet, the default recogniser, which is
 * worth training only from its published weights (150x150 dlib chips, (v - mean) / 255): the
 * fine-tuning path of issue 15.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  BACKBONE_NAMES,
  createBackbone,
  createDlibResnet,
  loadPretrainedDlibResnet,
  DLIB_RESNET,
  DLIB_RESNET_DIM,
  DLIB_RESNET_MEAN,
  DLIB_RESNET_SIZE,
  DLIB_RESNET_STD,
  type Backbone,
  type BackboneName,
  type DlibResnetBackbone,
} from '../backbones/index.js';
import { ArcfaceError } from '../errors.js';
import { DLIB_RECOGNISER, getModel } from '../models/zoo.js';
import { tf } from '../runtime/backend.js';
import { readCheckpoint } from './checkpoint.js';
import { DEFAULT_INITS, type TrainConfig } from './config.js';
import { latestCheckpoint } from './run_dir.js';
import type { TrainableModel } from './types.js';

export const TRAINABLE_BACKBONES: readonly string[] = [...BACKBONE_NAMES, DLIB_RESNET];

/** What the data loader must feed a backbone: square crops of `size`, (v - mean[c]) / std[c] per RGB channel. */
export interface InputSpec {
  size: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** The crop alignment `arcface prepare --model` makes for it. */
  alignment: 'arcface' | 'dlib';
  /** The flag that makes such crops, for error messages. */
  prepare: string;
}

/** The ArcFace crops arcface_torch trains on (dataset.py: Normalize(0.5, 0.5)). */
export const ARCFACE_INPUT: InputSpec = {
  size: 112,
  mean: [127.5, 127.5, 127.5],
  std: [127.5, 127.5, 127.5],
  alignment: 'arcface',
  prepare: 'arcface prepare RAW CROPS',
};

export const DLIB_INPUT: InputSpec = {
  size: DLIB_RESNET_SIZE,
  mean: DLIB_RESNET_MEAN,
  std: [DLIB_RESNET_STD, DLIB_RESNET_STD, DLIB_RESNET_STD],
  alignment: 'dlib',
  prepare: 'arcface prepare RAW CROPS --model default',
};

/** A backbone the trainer can run and the exporter can write. */
export type TrainBackbone = TrainableModel & {
  readonly config: { name: string; embeddingSize: number };
  /** The network itself, for the exporter: a graph backbone, or dlib's ResNet (its own ONNX writer). */
  readonly net: Backbone | DlibResnetBackbone;
  paramCount(): number;
  dispose(): void;
  /** BN momentum of each running statistic by weight name (the parallel workers combine them). */
  bnMomentum(): Map<string, number>;
};

function checkName(name: string, source: string): void {
  if (!TRAINABLE_BACKBONES.includes(name))
    throw new ArcfaceError(
      'BAD_CONFIG',
      `${source}: "backbone": unknown name "${name}" (use ${TRAINABLE_BACKBONES.join(', ')})`,
    );
}

export function inputSpecOf(name: string): InputSpec {
  checkName(name, 'train config');
  return name === DLIB_RESNET ? DLIB_INPUT : ARCFACE_INPUT;
}

/** The config's backbone with fresh weights (seeded); `applyInit` then loads the starting point. */
export function createTrainBackbone(
  cfg: Pick<TrainConfig, 'backbone' | 'embeddingSize' | 'seed'>,
): TrainBackbone {
  checkName(cfg.backbone, 'train config');
  if (cfg.backbone === DLIB_RESNET) {
    if (cfg.embeddingSize !== DLIB_RESNET_DIM)
      throw new ArcfaceError(
        'BAD_CONFIG',
        `train config: "embeddingSize" is ${cfg.embeddingSize}, but ${DLIB_RESNET} gives ${DLIB_RESNET_DIM}-d embeddings`,
      );
    const b = createDlibResnet({ seed: cfg.seed });
    return {
      ...b,
      net: b,
      apply: (x) => b.apply(x),
      bnMomentum: () => new Map(), // no batch norm: dlib's affine layers hold no running statistics
    };
  }
  const b = createBackbone({
    name: cfg.backbone as BackboneName,
    embeddingSize: cfg.embeddingSize,
    seed: cfg.seed,
  });
  return {
    config: b.config,
    net: b,
    trainable: b.trainable,
    namedWeights: () => b.namedWeights(),
    apply: (x, training, seed) => b.apply(x, training, seed),
    paramCount: () => b.paramCount(),
    dispose: () => b.dispose(),
    bnMomentum() {
      const out = new Map<string, number>();
      for (const node of b.graph().nodes)
        if (node.op === 'batchnorm')
          for (const w of node.weights.slice(2)) out.set(w, node.attrs.momentum as number);
      return out;
    },
  };
}

const DEFAULT_INIT = new Set(DEFAULT_INITS);

/**
 * The backbone an `init` implies: dlib's ResNet for the default recogniser, the checkpoint's own
 * backbone for one of our runs; null when `init` is null.
 */
export function backboneOfInit(init: string | null): string | null {
  if (init === null) return null;
  if (DEFAULT_INIT.has(init)) return DLIB_RESNET;
  return readCheckpoint(checkpointPath(init)).index.config.backbone;
}

/** A run folder's newest checkpoint, or the checkpoint folder itself. */
export function checkpointPath(runOrCheckpoint: string): string {
  if (existsSync(join(runOrCheckpoint, 'index.json'))) return runOrCheckpoint;
  const latest = latestCheckpoint(runOrCheckpoint);
  if (latest) return latest.path;
  throw new ArcfaceError(
    'NOT_FOUND',
    `init "${runOrCheckpoint}": not a model this package can train from (use "default" for the default ` +
      `recogniser, ${DLIB_RECOGNISER}) nor a run folder with checkpoints or a checkpoint`,
  );
}

/** What a run starts from, as the exported manifest records it. */
export interface BaseModel {
  name: string;
  licence: string;
  trainingData: string;
  researchOnly: boolean;
}

/**
 * The terms of what `init` names: the default recogniser's manifest, or for one of our checkpoints
 * the base its own run started from (its config's init), followed back to the published weights.
 */
export function describeInit(init: string, seen = new Set<string>()): BaseModel {
  if (DEFAULT_INIT.has(init)) {
    const m = getModel(DLIB_RECOGNISER);
    return { name: m.name, licence: m.licence, trainingData: m.trainingData, researchOnly: m.researchOnly };
  }
  const path = checkpointPath(init);
  const { index } = readCheckpoint(path);
  const cfg = index.config;
  const parent = cfg.init && !seen.has(cfg.init) ? describeInit(cfg.init, seen.add(init)) : null;
  return {
    name: `${path} (step ${index.step})`,
    licence: parent
      ? `as ${parent.name}: ${parent.licence}`
      : 'as the run that made it (trained from scratch here)',
    trainingData: `${cfg.data.train}${parent ? `, after ${parent.name}: ${parent.trainingData}` : ''}`,
    researchOnly: parent?.researchOnly ?? false,
  };
}

/**
 * Loads the starting weights `init` names into `model` (the config's backbone): the default
 * recogniser's from the installed @vladmandic/face-api, or a checkpoint's backbone (its head is not
 * used: the new run has its own classes).
 */
export async function applyInit(model: TrainBackbone, init: string, backbone: string): Promise<void> {
  if (DEFAULT_INIT.has(init)) {
    if (backbone !== DLIB_RESNET)
      throw new ArcfaceError(
        'BAD_CONFIG',
        `init "${init}" is the default recogniser, a ${DLIB_RESNET}; the config's backbone is "${backbone}" ` +
          `(set "backbone": "${DLIB_RESNET}" or leave it out)`,
      );
    await loadPretrainedDlibResnet(model);
    return;
  }
  const path = checkpointPath(init);
  const { index, values } = readCheckpoint(path);
  if (index.config.backbone !== backbone)
    throw new ArcfaceError(
      'BAD_CONFIG',
      `init ${path} holds a ${index.config.backbone}; the config's backbone is "${backbone}"`,
    );
  assignCheckpointWeights(model, values.model, `init ${path}`, backbone);
}

/**
 * A checkpoint's backbone tensors into `model`'s variables, every name and shape checked first
 * (BAD_CONFIG naming the first that does not fit), so a mismatch changes nothing.
 */
export function assignCheckpointWeights(
  model: Pick<TrainBackbone, 'namedWeights'>,
  saved: ReadonlyMap<string, { shape: number[]; values: Float32Array }>,
  what: string,
  backbone: string,
): void {
  const vars = [...model.namedWeights()];
  for (const [name, v] of vars) {
    const t = saved.get(name);
    if (!t || t.shape.join() !== v.shape.join())
      throw new ArcfaceError(
        'BAD_CONFIG',
        `${what} does not fit ${backbone}: "${name}" ${t ? `is [${t.shape}] there, [${v.shape}] here` : 'is missing'}`,
      );
  }
  for (const [name, v] of vars) {
    const t = saved.get(name)!;
    tf.tidy(() => v.assign(tf.tensor(t.values, t.shape)));
  }
}
