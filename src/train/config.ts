/**
 * The training configuration: plain JSON holding every hyper-parameter, so RUN/config.json alone
 * says how a run was made. Defaults follow arcface_torch's configs (base.py, ms1mv2_r50.py).
 * parseTrainConfig rejects unknown keys and out-of-range values, naming the key and the file,
 * before anything starts.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ArcfaceError } from '../errors.js';
import {
  marginLossByName,
  MARGIN_LOSS_NAMES,
  type MarginLossName,
  type MarginOverrides,
  type SphereLambda,
} from '../losses/index.js';
import type { ScheduleConfig } from './schedule.js';
import { DLIB_RESNET, DLIB_RESNET_DIM } from '../backbones/dlib_resnet.js';
import { DLIB_RECOGNISER } from '../models/zoo.js';

/** `init` values naming the default recogniser's published weights. */
export const DEFAULT_INITS: readonly string[] = ['default', DLIB_RECOGNISER];

/**
 * A loss by name with its parameters, as `marginLossByName` takes them ("softmax": the paper's
 * Eq. 1 head, a biased FC layer on raw features), plus the paper's Table 2 metric terms added to
 * the classification loss with these weights (Eq. 5 intra, Eq. 6 inter, Eq. 7 triplet).
 */
export interface LossConfig extends MarginOverrides {
  name: MarginLossName;
  intra?: number;
  inter?: number;
  triplet?: number;
  /** Triplet angular margin in radians (paper: 0.35). */
  tripletMargin?: number;
}

export interface DataConfig {
  /** Training set (folder or list the data loader reads); relative to the config file. */
  train: string;
  /** Validation set; null: the caller splits identities off the training set. */
  validation: string | null;
  /** Random horizontal flip of training images (arcface_torch: on). */
  flip: boolean;
}

export interface TrainConfig {
  backbone: string;
  embeddingSize: number;
  /**
   * Starting weights of the backbone: null (random, seeded), "default" (the default recogniser,
   * dlib's ResNet, from the installed package) or a run folder / checkpoint of ours. The head is
   * always new: its classes are this run's.
   */
  init: string | null;
  /** Optimizer steps at the start that train the head alone, the backbone frozen in inference mode. */
  freezeBackboneSteps: number;
  /** The backbone's learning rate as a multiple of `lr` (the head's), e.g. 0.1 when fine-tuning. */
  backboneLrScale: number;
  loss: LossConfig;
  /** Images per micro-batch. */
  batchSize: number;
  /** Micro-batches whose gradients are averaged into one optimizer step. */
  accumulate: number;
  /** Length of training: exactly one of epochs (passes over the data) and steps (optimizer steps). */
  epochs: number | null;
  steps: number | null;
  lr: number;
  momentum: number;
  weightDecay: number;
  /**
   * 'all' (default): every parameter, as arcface_torch's SGD (one param group, weight_decay on
   * backbone and head alike), so published recipes reproduce. 'weights-only': not on 1-D
   * parameters (biases, BN scale/shift, PReLU slopes), the "no bias decay" variant.
   */
  weightDecayOn: 'all' | 'weights-only';
  warmupSteps: number;
  schedule: ScheduleConfig;
  /** Global-norm gradient clipping (arcface_torch: 5); null: none. */
  clipNorm: number | null;
  /** 'backbone' (default, as arcface_torch: the head's gradients are not clipped) or 'all'. */
  clipOn: 'backbone' | 'all';
  seed: number;
  /** Steps between validations (0: only at the end). */
  validateEvery: number;
  /** Steps between checkpoints (0: only at the end and on a signal). */
  checkpointEvery: number;
  /** Checkpoints kept (the newest). */
  keepCheckpoints: number;
  /** Steps between log.jsonl lines. */
  logEvery: number;
  data: DataConfig;
}

/** Keys that may change when a run is resumed: they do not change what is computed. */
export const RESUMABLE_KEYS: readonly string[] = [
  'validateEvery',
  'checkpointEvery',
  'keepCheckpoints',
  'logEvery',
  'data.train',
  'data.validation',
];

export const DEFAULT_TRAIN_CONFIG: Omit<TrainConfig, 'data'> & { data: Omit<DataConfig, 'train'> } = {
  // The CPU-sized default; arcface_torch's recipes use r50/r100 on GPUs.
  backbone: 'mobilefacenet',
  embeddingSize: 512,
  init: null,
  freezeBackboneSteps: 0,
  backboneLrScale: 1,
  loss: { name: 'arcface', s: 64, m: 0.5 },
  batchSize: 128,
  accumulate: 1,
  epochs: 20,
  steps: null,
  lr: 0.1,
  momentum: 0.9,
  weightDecay: 5e-4,
  weightDecayOn: 'all',
  warmupSteps: 0,
  schedule: { type: 'poly', power: 2 },
  clipNorm: 5,
  clipOn: 'backbone',
  seed: 2048,
  validateEvery: 2000,
  checkpointEvery: 2000,
  keepCheckpoints: 3,
  logEvery: 10,
  data: { validation: null, flip: true },
};

type Json = Record<string, unknown>;

class Reader {
  constructor(readonly source: string) {}

  fail(key: string, message: string): never {
    throw new ArcfaceError('BAD_CONFIG', `${this.source}: "${key}" ${message}`);
  }

  object(v: unknown, key: string): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      this.fail(key, `must be an object, got ${show(v)}`);
    return v as Json;
  }

  known(o: Json, prefix: string, keys: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!keys.includes(k)) {
        const where = prefix ? `${prefix}.${k}` : k;
        throw new ArcfaceError(
          'BAD_CONFIG',
          `${this.source}: unknown key "${where}" (known${prefix ? ` in ${prefix}` : ''}: ${keys.join(', ')})`,
        );
      }
    }
  }

  num(
    v: unknown,
    key: string,
    o: { min?: number; max?: number; minExclusive?: boolean; int?: boolean },
  ): number {
    if (typeof v !== 'number' || !Number.isFinite(v))
      this.fail(key, `must be a finite number, got ${show(v)}`);
    if (o.int && !Number.isInteger(v)) this.fail(key, `must be an integer, got ${v}`);
    if (o.min !== undefined && (o.minExclusive ? v <= o.min : v < o.min))
      this.fail(key, `must be ${o.minExclusive ? '>' : '>='} ${o.min}, got ${v}`);
    if (o.max !== undefined && v > o.max) this.fail(key, `must be <= ${o.max}, got ${v}`);
    return v;
  }

  bool(v: unknown, key: string): boolean {
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${show(v)}`);
    return v;
  }

  str(v: unknown, key: string): string {
    if (typeof v !== 'string' || v.length === 0) this.fail(key, `must be a non-empty string, got ${show(v)}`);
    return v;
  }

  oneOf<T extends string>(v: unknown, key: string, values: readonly T[]): T {
    if (typeof v !== 'string' || !values.includes(v as T))
      this.fail(key, `must be one of ${values.map((x) => `"${x}"`).join(', ')}, got ${show(v)}`);
    return v as T;
  }
}

function show(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

const TOP_KEYS = [...Object.keys(DEFAULT_TRAIN_CONFIG)];
const MARGIN_KEYS = ['s', 'm', 'm1', 'm2', 'm3', 'easyMargin', 'straightThrough', 'lambda'];
const TERM_KEYS = ['intra', 'inter', 'triplet', 'tripletMargin'] as const;
const LOSS_KEYS = ['name', ...MARGIN_KEYS, ...TERM_KEYS];

function parseLoss(r: Reader, v: unknown): LossConfig {
  const o = r.object(v, 'loss');
  r.known(o, 'loss', LOSS_KEYS);
  const name = r.oneOf(o.name, 'loss.name', MARGIN_LOSS_NAMES);
  const out: LossConfig = { name };
  for (const k of TERM_KEYS) {
    if (o[k] !== undefined)
      out[k] = r.num(o[k], `loss.${k}`, k === 'tripletMargin' ? { min: 0, max: Math.PI } : { min: 0 });
  }
  if (out.tripletMargin !== undefined && out.triplet === undefined)
    r.fail('loss.tripletMargin', 'is given without "loss.triplet" (the triplet term\'s weight)');
  if (name === 'softmax') {
    const extra = MARGIN_KEYS.find((k) => o[k] !== undefined);
    if (extra)
      r.fail(`loss.${extra}`, 'does not apply to "softmax" (a biased FC layer: no scale, no margin)');
    if (out.inter !== undefined) r.fail('loss.inter', 'needs a normalised head, not "softmax"');
    return out;
  }
  for (const k of ['s', 'm', 'm1', 'm2', 'm3'] as const) {
    if (o[k] !== undefined)
      out[k] = r.num(o[k], `loss.${k}`, k === 's' ? { min: 0, minExclusive: true } : {});
  }
  for (const k of ['easyMargin', 'straightThrough'] as const)
    if (o[k] !== undefined) out[k] = r.bool(o[k], `loss.${k}`);
  if (o.lambda !== undefined) out.lambda = o.lambda as SphereLambda;
  let params: Readonly<Record<string, number | boolean>> | undefined;
  try {
    params = marginLossByName(name, out).params;
  } catch (e) {
    if (e instanceof ArcfaceError) throw new ArcfaceError('BAD_CONFIG', `${r.source}: "loss": ${e.message}`);
    throw e;
  }
  // Every parameter in effect, defaults included, so config.json alone says what was trained
  // ("m" is arcface's name for m2: cm1 / cm2 record m1, m2, m3).
  return { ...out, ...params, name } as LossConfig;
}

function parseSchedule(r: Reader, v: unknown): ScheduleConfig {
  const o = r.object(v, 'schedule');
  const type = r.oneOf(o.type, 'schedule.type', ['poly', 'step'] as const);
  if (type === 'poly') {
    r.known(o, 'schedule', ['type', 'power']);
    return {
      type,
      power: o.power === undefined ? 2 : r.num(o.power, 'schedule.power', { min: 0, minExclusive: true }),
    };
  }
  r.known(o, 'schedule', ['type', 'milestones', 'gamma']);
  if (!Array.isArray(o.milestones) || o.milestones.length === 0)
    r.fail('schedule.milestones', `must be a non-empty list of steps, got ${show(o.milestones)}`);
  const milestones = o.milestones.map((m, i) => r.num(m, `schedule.milestones[${i}]`, { min: 1, int: true }));
  for (let i = 1; i < milestones.length; i++)
    if (milestones[i] <= milestones[i - 1])
      r.fail('schedule.milestones', `must increase, got ${show(milestones)}`);
  const gamma =
    o.gamma === undefined ? 0.1 : r.num(o.gamma, 'schedule.gamma', { min: 0, max: 1, minExclusive: true });
  return { type, milestones, gamma };
}

function parseData(r: Reader, v: unknown, baseDir: string | null): DataConfig {
  const o = r.object(v, 'data');
  r.known(o, 'data', ['train', 'validation', 'flip']);
  const path = (p: string) => (baseDir ? resolve(baseDir, p) : p);
  return {
    train: path(r.str(o.train, 'data.train')),
    validation:
      o.validation === undefined || o.validation === null
        ? null
        : path(r.str(o.validation, 'data.validation')),
    flip: o.flip === undefined ? DEFAULT_TRAIN_CONFIG.data.flip : r.bool(o.flip, 'data.flip'),
  };
}

export interface ParseOptions {
  /** Resolve relative data paths against this folder (loadTrainConfig: the config file's folder). */
  baseDir?: string;
}

/** Validates a parsed JSON value; `source` names it in errors (a file path, "--config", ...). */
export function parseTrainConfig(json: unknown, source: string, opts: ParseOptions = {}): TrainConfig {
  const r = new Reader(source);
  const o = r.object(json, '(top level)');
  r.known(o, '', TOP_KEYS);
  const d = DEFAULT_TRAIN_CONFIG;
  const get = <T>(k: keyof TrainConfig, read: (v: unknown) => T, dflt: T): T =>
    o[k] === undefined ? dflt : read(o[k]);
  if (o.data === undefined) r.fail('data', 'is required (at least {"train": PATH})');
  const pos = { min: 0, minExclusive: true };
  const count = { min: 1, int: true };
  const every = { min: 0, int: true };
  if (o.epochs !== undefined && o.epochs !== null && o.steps !== undefined && o.steps !== null)
    r.fail('steps', 'and "epochs" are both given; give one (the length of training)');
  const steps = o.steps === undefined || o.steps === null ? null : r.num(o.steps, 'steps', count);
  const epochs = steps !== null ? null : get('epochs', (v) => r.num(v, 'epochs', count), d.epochs);
  const init = o.init === undefined || o.init === null ? null : r.str(o.init, 'init');
  // The default recogniser has one architecture: "init": "default" alone implies it.
  const fromDefault = init !== null && DEFAULT_INITS.includes(init);
  const cfg: TrainConfig = {
    backbone: get('backbone', (v) => r.str(v, 'backbone'), fromDefault ? DLIB_RESNET : d.backbone),
    embeddingSize: get(
      'embeddingSize',
      (v) => r.num(v, 'embeddingSize', count),
      fromDefault ? DLIB_RESNET_DIM : d.embeddingSize,
    ),
    init,
    freezeBackboneSteps: get(
      'freezeBackboneSteps',
      (v) => r.num(v, 'freezeBackboneSteps', every),
      d.freezeBackboneSteps,
    ),
    backboneLrScale: get('backboneLrScale', (v) => r.num(v, 'backboneLrScale', pos), d.backboneLrScale),
    loss: parseLoss(r, o.loss ?? d.loss),
    batchSize: get('batchSize', (v) => r.num(v, 'batchSize', count), d.batchSize),
    accumulate: get('accumulate', (v) => r.num(v, 'accumulate', count), d.accumulate),
    epochs,
    steps,
    lr: get('lr', (v) => r.num(v, 'lr', pos), d.lr),
    momentum: get('momentum', (v) => r.num(v, 'momentum', { min: 0, max: 1 }), d.momentum),
    weightDecay: get('weightDecay', (v) => r.num(v, 'weightDecay', { min: 0 }), d.weightDecay),
    weightDecayOn: get(
      'weightDecayOn',
      (v) => r.oneOf(v, 'weightDecayOn', ['all', 'weights-only'] as const),
      d.weightDecayOn,
    ),
    warmupSteps: get('warmupSteps', (v) => r.num(v, 'warmupSteps', every), d.warmupSteps),
    schedule: o.schedule === undefined ? { ...d.schedule } : parseSchedule(r, o.schedule),
    clipNorm: o.clipNorm === null ? null : get('clipNorm', (v) => r.num(v, 'clipNorm', pos), d.clipNorm),
    clipOn: get('clipOn', (v) => r.oneOf(v, 'clipOn', ['backbone', 'all'] as const), d.clipOn),
    seed: get('seed', (v) => r.num(v, 'seed', { min: 0, max: 2 ** 32 - 1, int: true }), d.seed),
    validateEvery: get('validateEvery', (v) => r.num(v, 'validateEvery', every), d.validateEvery),
    checkpointEvery: get('checkpointEvery', (v) => r.num(v, 'checkpointEvery', every), d.checkpointEvery),
    keepCheckpoints: get('keepCheckpoints', (v) => r.num(v, 'keepCheckpoints', count), d.keepCheckpoints),
    logEvery: get('logEvery', (v) => r.num(v, 'logEvery', count), d.logEvery),
    data: parseData(r, o.data, opts.baseDir ?? null),
  };
  if (cfg.steps !== null) checkLength(cfg, cfg.steps, source);
  return cfg;
}

/** Checks warmup and milestones against the number of optimizer steps (known once the data is). */
export function checkLength(cfg: TrainConfig, totalSteps: number, source: string): void {
  const fail = (key: string, msg: string) => {
    throw new ArcfaceError('BAD_CONFIG', `${source}: "${key}" ${msg}`);
  };
  if (cfg.warmupSteps >= totalSteps)
    fail('warmupSteps', `(${cfg.warmupSteps}) must be below the ${totalSteps} training steps`);
  if (cfg.freezeBackboneSteps >= totalSteps)
    fail(
      'freezeBackboneSteps',
      `(${cfg.freezeBackboneSteps}) must be below the ${totalSteps} training steps (the backbone would never train)`,
    );
  if (cfg.schedule.type === 'step' && cfg.schedule.milestones.some((m) => m >= totalSteps))
    fail(
      'schedule.milestones',
      `must be below the ${totalSteps} training steps, got ${show(cfg.schedule.milestones)}`,
    );
}

/** Optimizer steps of a run: `steps`, or whole optimizer steps in `epochs` passes over the data. */
export function totalSteps(cfg: TrainConfig, batchesPerEpoch: number): number {
  if (cfg.steps !== null) return cfg.steps;
  return Math.floor(((cfg.epochs ?? 1) * batchesPerEpoch) / cfg.accumulate);
}

/** Reads and validates a config file; relative data paths are taken from the file's folder. */
export function loadTrainConfig(path: string): TrainConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ArcfaceError('NOT_FOUND', `cannot read the training config ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ArcfaceError('BAD_CONFIG', `${path}: not valid JSON (${(e as Error).message})`);
  }
  return parseTrainConfig(json, path, { baseDir: dirname(resolve(path)) });
}

/** Keys added after runs were already being written (issue 15's fine-tuning), with the value an older run means. */
const ADDED_KEYS: Record<string, unknown> = { init: null, freezeBackboneSteps: 0, backboneLrScale: 1 };

/** A key an older config lacks, set to what the older run did all along: not a difference. */
function addedSince(key: string, a: unknown, b: unknown): boolean {
  if (!(key in ADDED_KEYS)) return false;
  const v = JSON.stringify(ADDED_KEYS[key]);
  return (a === undefined && JSON.stringify(b) === v) || (b === undefined && JSON.stringify(a) === v);
}

/** Dotted keys whose values differ between two configs (for resume checks). */
export function configDiff(a: TrainConfig, b: TrainConfig): { key: string; a: unknown; b: unknown }[] {
  const out: { key: string; a: unknown; b: unknown }[] = [];
  const walk = (x: unknown, y: unknown, key: string) => {
    const isObj = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (isObj(x) && isObj(y)) {
      const keys = new Set([...Object.keys(x as Json), ...Object.keys(y as Json)]);
      for (const k of keys) walk((x as Json)[k], (y as Json)[k], key ? `${key}.${k}` : k);
    } else if (JSON.stringify(x) !== JSON.stringify(y) && !addedSince(key, x, y))
      out.push({ key, a: x, b: y });
  };
  walk(a, b, '');
  return out;
}
