/**
 * Checkpoints: RUN/checkpoints/step-000123/ holds index.json (names, shapes, offsets; step,
 * data position, RNG state, loss schedule state, the config) and raw little-endian float32
 * files: model.bin (backbone, incl. BN statistics), head.bin (class centres), optimizer.bin
 * (momentum buffers). Written to a temp folder then renamed, so a kill never leaves half a
 * checkpoint; refused when a value is not finite.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { tf } from '../runtime/backend.js';
import { ArcfaceError, badInput } from '../errors.js';
import { configDiff, RESUMABLE_KEYS, type TrainConfig } from './config.js';
import type { SgdState } from './sgd.js';

export const CHECKPOINT_FORMAT = 'arcface-train-checkpoint';
export const CHECKPOINT_VERSION = 1;

type Group = 'model' | 'head' | 'optimizer';
const GROUPS: Group[] = ['model', 'head', 'optimizer'];

export interface TrainPosition {
  /** Optimizer steps done. */
  step: number;
  /** Epoch and batch index within it of the next micro-batch to read. */
  epoch: number;
  batchInEpoch: number;
  /** Images trained on so far. */
  samplesSeen: number;
  /** The trainer's RNG state (dropout seeds). */
  rngState: number;
  /** The margin loss's schedule counter (SphereFace's lambda annealing), when it has one. */
  lossIteration: number | null;
}

export interface TensorEntry {
  name: string;
  shape: number[];
  /** Offset in float32 elements within the group's file. */
  offset: number;
}

export interface CheckpointIndex extends TrainPosition {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  time: string;
  config: TrainConfig;
  tensors: Record<Group, TensorEntry[]>;
}

export interface CheckpointContents {
  model: Map<string, tf.Tensor>;
  head: Map<string, tf.Tensor>;
  optimizer: SgdState;
}

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/** Checkpoint folders under `dir`, oldest first. */
export function listCheckpoints(dir: string): { step: number; path: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(join(dir, m[0], 'index.json')))
    .map((m) => ({ step: Number(m[1]), path: join(dir, m[0]) }))
    .sort((a, b) => a.step - b.step);
}

function writeFileDurable(path: string, data: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a checkpoint into `dir` (the run's checkpoints folder), keeping the newest `keep`. Returns its path. */
export function saveCheckpoint(
  dir: string,
  position: TrainPosition,
  config: TrainConfig,
  contents: CheckpointContents,
  keep: number,
): string {
  const groups: Record<Group, { name: string; shape: number[]; values: Float32Array }[]> = {
    model: [...contents.model].map(([name, t]) => ({
      name,
      shape: [...t.shape],
      values: t.dataSync() as Float32Array,
    })),
    head: [...contents.head].map(([name, t]) => ({
      name,
      shape: [...t.shape],
      values: t.dataSync() as Float32Array,
    })),
    optimizer: [...contents.optimizer.buffers].map(([name, b]) => ({ name, ...b })),
  };
  for (const g of GROUPS) {
    for (const e of groups[g]) {
      const bad = e.values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0)
        throw badInput(
          `refusing to write checkpoint ${checkpointName(position.step)}: ${g} tensor "${e.name}" holds ` +
            `${e.values[bad]} at element ${bad} (the last good checkpoint is kept)`,
        );
    }
  }
  mkdirSync(dir, { recursive: true });
  const name = checkpointName(position.step);
  const final = join(dir, name);
  const tmp = join(dir, `.tmp-${name}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const tensors = {} as Record<Group, TensorEntry[]>;
  for (const g of GROUPS) {
    let offset = 0;
    tensors[g] = groups[g].map((e) => {
      const entry = { name: e.name, shape: e.shape, offset };
      offset += e.values.length;
      return entry;
    });
    const buf = new Float32Array(offset);
    groups[g].forEach((e, i) => buf.set(e.values, tensors[g][i].offset));
    writeFileDurable(join(tmp, `${g}.bin`), toLittleEndianBytes(buf));
  }
  const index: CheckpointIndex = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    time: new Date().toISOString(),
    ...position,
    config,
    tensors,
  };
  writeFileDurable(join(tmp, 'index.json'), new TextEncoder().encode(JSON.stringify(index, null, 1)));
  if (existsSync(final)) {
    // Same step written again (a resumed run reaching it): swap, never a moment without one.
    const old = join(dir, `.old-${name}-${process.pid}`);
    renameSync(final, old);
    renameSync(tmp, final);
    rmSync(old, { recursive: true, force: true });
  } else renameSync(tmp, final);
  const all = listCheckpoints(dir);
  for (const c of all.slice(0, Math.max(0, all.length - keep)))
    rmSync(c.path, { recursive: true, force: true });
  return final;
}

/** Removes temp folders a killed writer left behind. */
export function cleanCheckpointTemps(dir: string): void {
  if (!existsSync(dir)) return;
  for (const n of readdirSync(dir))
    if (/^\.(tmp|old)-/.test(n)) rmSync(join(dir, n), { recursive: true, force: true });
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function toLittleEndianBytes(a: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.byteLength);
  const view = new DataView(out.buffer);
  a.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

function fromLittleEndianBytes(b: Buffer): Float32Array {
  const out = new Float32Array(b.byteLength / 4);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export interface LoadedCheckpoint {
  index: CheckpointIndex;
  /** Values by group and name. */
  values: Record<Group, Map<string, { shape: number[]; values: Float32Array }>>;
}

/** Reads a checkpoint folder, checking its format and that every file holds what the index says. */
export function readCheckpoint(path: string): LoadedCheckpoint {
  const fail = (msg: string): never => {
    throw new ArcfaceError('BAD_INPUT', `checkpoint ${path}: ${msg}`);
  };
  let index: CheckpointIndex;
  try {
    index = JSON.parse(readFileSync(join(path, 'index.json'), 'utf8')) as CheckpointIndex;
  } catch (e) {
    throw new ArcfaceError(
      'NOT_FOUND',
      `checkpoint ${path}: cannot read index.json (${(e as Error).message})`,
    );
  }
  if (index.format !== CHECKPOINT_FORMAT)
    fail(`not a training checkpoint (format ${JSON.stringify(index.format)})`);
  if (index.version !== CHECKPOINT_VERSION)
    fail(`version ${index.version}, this build reads ${CHECKPOINT_VERSION}`);
  const values = {} as LoadedCheckpoint['values'];
  for (const g of GROUPS) {
    const data = fromLittleEndianBytes(readFileSync(join(path, `${g}.bin`)));
    const need = index.tensors[g].reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
    if (data.length !== need) fail(`${g}.bin holds ${data.length} floats, the index describes ${need}`);
    values[g] = new Map(
      index.tensors[g].map((e) => {
        const size = e.shape.reduce((a, b) => a * b, 1);
        return [e.name, { shape: e.shape, values: data.subarray(e.offset, e.offset + size) }];
      }),
    );
  }
  return { index, values };
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Same names and shapes in the checkpoint and in `vars`; otherwise a BAD_CONFIG error saying the
 * checkpoint is from another architecture, with the first differences.
 */
function checkArchitecture(
  path: string,
  what: string,
  saved: Map<string, { shape: number[] }>,
  vars: ReadonlyMap<string, tf.Variable>,
  savedArch: string,
  arch: string,
): void {
  const diffs: string[] = [];
  for (const [name, v] of vars) {
    const s = saved.get(name);
    if (!s) diffs.push(`"${name}" is missing from the checkpoint`);
    else if (fmt(s.shape) !== fmt(v.shape))
      diffs.push(`"${name}" is ${fmt(s.shape)} there, ${fmt(v.shape)} here`);
  }
  for (const name of saved.keys())
    if (!vars.has(name)) diffs.push(`"${name}" is in the checkpoint but not in this ${what}`);
  if (diffs.length > 0) {
    throw new ArcfaceError(
      'BAD_CONFIG',
      `checkpoint ${path} is from another architecture (${savedArch} there, ${arch} here): ${what} ` +
        `${diffs.slice(0, 5).join('; ')}${diffs.length > 5 ? `; and ${diffs.length - 5} more` : ''}`,
    );
  }
}

export interface RestoreTargets {
  model: ReadonlyMap<string, tf.Variable>;
  head: ReadonlyMap<string, tf.Variable>;
  /** The config of the run being resumed; keys outside RESUMABLE_KEYS must match the checkpoint's. */
  config: TrainConfig;
}

/**
 * Loads a checkpoint into the given variables after checking the architecture (names, shapes)
 * and the config; returns the position to continue from and the optimizer state.
 */
export function loadCheckpoint(
  path: string,
  into: RestoreTargets,
): { position: TrainPosition; optimizer: SgdState } {
  const { index, values } = readCheckpoint(path);
  const arch = (c: TrainConfig) => `backbone "${c.backbone}", embedding ${c.embeddingSize}`;
  checkArchitecture(path, 'backbone', values.model, into.model, arch(index.config), arch(into.config));
  checkArchitecture(
    path,
    'head',
    values.head,
    into.head,
    `${values.head.get('weight')?.shape[0] ?? '?'} classes`,
    `${into.head.get('weight')?.shape[0] ?? '?'} classes`,
  );
  const diffs = configDiff(index.config, into.config).filter((d) => !RESUMABLE_KEYS.includes(d.key));
  if (diffs.length > 0) {
    throw new ArcfaceError(
      'BAD_CONFIG',
      `checkpoint ${path} was written with another config: ` +
        diffs
          .map((d) => `"${d.key}" is ${JSON.stringify(d.a)} there, ${JSON.stringify(d.b)} here`)
          .join('; ') +
        ` (only ${RESUMABLE_KEYS.join(', ')} may change on resume)`,
    );
  }
  for (const [group, vars] of [
    ['model', into.model],
    ['head', into.head],
  ] as const) {
    for (const [name, v] of vars) {
      const s = values[group].get(name)!;
      tf.tidy(() => v.assign(tf.tensor(s.values, s.shape, 'float32')));
    }
  }
  const position: TrainPosition = {
    step: index.step,
    epoch: index.epoch,
    batchInEpoch: index.batchInEpoch,
    samplesSeen: index.samplesSeen,
    rngState: index.rngState,
    lossIteration: index.lossIteration,
  };
  return {
    position,
    optimizer: {
      buffers: new Map([...values.optimizer].map(([n, b]) => [n, { shape: b.shape, values: b.values }])),
    },
  };
}
