/**
 * A run folder: RUN/config.json (the config, as parsed), RUN/checkpoints/step-NNNNNN/,
 * RUN/log.jsonl. A fresh run refuses a folder that already holds one; a resumed run must bring
 * the config it was started with (only RESUMABLE_KEYS may change).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArcfaceError } from '../errors.js';
import { configDiff, parseTrainConfig, RESUMABLE_KEYS, type TrainConfig } from './config.js';
import { cleanCheckpointTemps, listCheckpoints } from './checkpoint.js';

export interface RunDir {
  root: string;
  configPath: string;
  checkpointsDir: string;
  logPath: string;
}

export function runDirPaths(root: string): RunDir {
  return {
    root,
    configPath: join(root, 'config.json'),
    checkpointsDir: join(root, 'checkpoints'),
    logPath: join(root, 'log.jsonl'),
  };
}

/** The newest complete checkpoint of a run, or null. */
export function latestCheckpoint(root: string): { step: number; path: string } | null {
  const all = listCheckpoints(runDirPaths(root).checkpointsDir);
  return all.length > 0 ? all[all.length - 1] : null;
}

/**
 * Creates (fresh) or reopens (resume) a run folder and writes config.json. On resume the saved
 * config is compared key by key with the given one before anything is loaded.
 */
export function prepareRunDir(root: string, config: TrainConfig, resume: boolean): RunDir {
  const dir = runDirPaths(root);
  const holdsRun = existsSync(dir.configPath) || listCheckpoints(dir.checkpointsDir).length > 0;
  if (!resume && holdsRun) {
    throw new ArcfaceError(
      'BAD_CONFIG',
      `run folder ${root} already holds a run (config.json or checkpoints); resume it or choose another folder`,
    );
  }
  if (resume && existsSync(dir.configPath)) {
    const saved = parseTrainConfig(JSON.parse(readFileSync(dir.configPath, 'utf8')), dir.configPath);
    const diffs = configDiff(saved, config).filter((d) => !RESUMABLE_KEYS.includes(d.key));
    if (diffs.length > 0) {
      throw new ArcfaceError(
        'BAD_CONFIG',
        `cannot resume ${root} with another config: ` +
          diffs
            .map(
              (d) => `"${d.key}" is ${JSON.stringify(d.a)} in ${dir.configPath}, ${JSON.stringify(d.b)} now`,
            )
            .join('; '),
      );
    }
  }
  mkdirSync(dir.checkpointsDir, { recursive: true });
  cleanCheckpointTemps(dir.checkpointsDir);
  const tmp = `${dir.configPath}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n');
  renameSync(tmp, dir.configPath);
  return dir;
}
