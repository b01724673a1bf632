/**
 * The user's config: calibrated cosine thresholds per model name, in `$ARCFACE_HOME/config.json`,
 * else `$XDG_CONFIG_HOME/arcface/config.json`, else `~/.config/arcface/config.json`:
 *   {"models": {"buffalo_l": {"thresholds": {"verify": 0.28, "1e-3": 0.31}}}}
 * Writes are atomic and keep every other entry; a corrupt file is reported, never overwritten.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ArcfaceError, badInput } from '../errors.js';
import { checkFarTable, type FarTable } from '../eval/far.js';
import type { ModelManifest } from './manifest.js';

export interface UserConfig {
  models: Record<
    string,
    { thresholds?: Record<string, number>; impostorFar?: FarTable; [other: string]: unknown }
  >;
  [other: string]: unknown;
}

export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ARCFACE_HOME) return join(env.ARCFACE_HOME, 'config.json');
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, 'arcface', 'config.json');
  return join(homedir(), '.config', 'arcface', 'config.json');
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function corrupt(path: string, why: string): ArcfaceError {
  return new ArcfaceError(
    'BAD_CONFIG',
    `${path}: ${why}; fix or remove the file (it is left as it is, nothing was overwritten)`,
  );
}

/** The config, `{models: {}}` when there is none; BAD_CONFIG naming the file when it is unreadable. */
export function readUserConfig(env: NodeJS.ProcessEnv = process.env): UserConfig {
  const path = userConfigPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { models: {} };
    throw corrupt(path, `cannot read it (${(err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw corrupt(path, `not valid JSON (${(err as Error).message})`);
  }
  if (!isObj(json)) throw corrupt(path, 'expected a JSON object');
  const models = json.models ?? {};
  if (!isObj(models)) throw corrupt(path, '"models" must be an object keyed by model name');
  for (const [name, entry] of Object.entries(models)) {
    if (!isObj(entry)) throw corrupt(path, `"models.${name}" must be an object`);
    if (entry.impostorFar !== undefined) {
      try {
        checkFarTable(entry.impostorFar as FarTable, `"models.${name}.impostorFar"`);
      } catch (err) {
        throw corrupt(path, (err as Error).message);
      }
    }
    if (entry.thresholds === undefined) continue;
    if (!isObj(entry.thresholds)) throw corrupt(path, `"models.${name}.thresholds" must be an object`);
    for (const [k, v] of Object.entries(entry.thresholds))
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw corrupt(path, `"models.${name}.thresholds.${k}" must be a number`);
  }
  return { ...json, models } as UserConfig;
}

/** Sets models[modelName].thresholds[key] = value, keeping everything else in the file. */
export function saveThreshold(
  modelName: string,
  key: string,
  value: number,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (!modelName) throw badInput('saveThreshold: empty model name');
  if (!key) throw badInput('saveThreshold: empty threshold key');
  if (!Number.isFinite(value) || value < -1 || value > 1)
    throw badInput(`threshold ${key} of ${modelName} must be a cosine in [-1, 1], got ${value}`);
  return updateModelEntry(
    modelName,
    (entry) => {
      entry.thresholds = { ...(entry.thresholds ?? {}), [key]: value };
    },
    env,
  );
}

/** Saves the FAR table `arcface calibrate` measured on the user's impostor pairs for this model. */
export function saveFarTable(
  modelName: string,
  table: FarTable,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (!modelName) throw badInput('saveFarTable: empty model name');
  checkFarTable(table, `FAR table of ${modelName}`);
  return updateModelEntry(
    modelName,
    (entry) => {
      entry.impostorFar = table;
    },
    env,
  );
}

/** Rewrites the config with one model's entry changed, atomically, keeping everything else. */
function updateModelEntry(
  modelName: string,
  change: (entry: UserConfig['models'][string]) => void,
  env: NodeJS.ProcessEnv,
): string {
  const path = userConfigPath(env);
  const config = readUserConfig(env); // throws on a corrupt file: never overwrite what we cannot read
  change((config.models[modelName] ??= {}));
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n');
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
  return path;
}

/** The user's calibrated threshold, else the manifest's, else undefined. */
export function thresholdFor(
  manifest: ModelManifest,
  key = 'verify',
  env: NodeJS.ProcessEnv = process.env,
): number | undefined {
  return readUserConfig(env).models[manifest.name]?.thresholds?.[key] ?? manifest.thresholds?.[key];
}

/** The user's calibrated FAR table, else the manifest's, else undefined. */
export function farTableFor(
  manifest: ModelManifest,
  env: NodeJS.ProcessEnv = process.env,
): FarTable | undefined {
  return readUserConfig(env).models[manifest.name]?.impostorFar ?? manifest.impostorFar;
}
