/**
 * Thresholds for an exported model from its own run: the run's validation people (split.json, or
 * the config's validation set) were never trained on, so their pairs say what the model's cosines
 * mean for people it has not seen. Every pair of their crops is scored with the exported model as
 * the pipeline runs it (flip-sum per the manifest): the verify threshold is the max-accuracy one,
 * and the impostor scores give the FAR table identify reads its gallery-sized threshold from.
 * Without them a model a user trained could verify nothing and identify no one.
 */
import { existsSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openFaceDataset, type FaceDataset } from '../data/dataset.js';
import { applySplit, readSplit, SPLIT_FILE } from '../data/split.js';
import { thresholdForAccuracy } from '../eval/calibrate.js';
import { buildFarTable } from '../eval/far.js';
import { decodeImage } from '../image/decode.js';
import { Embedder } from '../models/embedder.js';
import { validateManifest, type ModelManifest } from '../models/manifest.js';
import { resolveModel } from '../models/resolve.js';
import type { TrainConfig } from '../train/config.js';

export interface RunCalibration {
  people: number;
  photos: number;
  genuine: number;
  impostor: number;
  verify: number;
  /** Accuracy at `verify` on these pairs. */
  accuracy: number;
  /** False when there were too few impostor pairs (< 1,000) for a FAR table. */
  farTable: boolean;
  manifest: ModelManifest;
}

/** The run's validation people; null when the run kept none (no split.json, no validation set). */
async function validationSet(runDir: string, cfg: TrainConfig): Promise<FaceDataset | null> {
  if (cfg.data.validation) return openFaceDataset(cfg.data.validation);
  if (!existsSync(join(runDir, SPLIT_FILE))) return null;
  return applySplit(await openFaceDataset(cfg.data.train), await readSplit(runDir)).val;
}

/** Calibrates DIR/manifest.json in place; null when the run has no validation people to do it with. */
export async function calibrateFromRun(
  runDir: string,
  cfg: TrainConfig,
  dir: string,
  onProgress?: (done: number, total: number) => void,
): Promise<RunCalibration | null> {
  const val = await validationSet(runDir, cfg);
  if (!val || val.numClasses < 2) return null;
  const path = join(dir, 'manifest.json');
  const model = await resolveModel(path);
  const embedder = await Embedder.load(model);
  const embs: Float32Array[] = [];
  try {
    for (let s = 0; s < val.items.length; s += 32) {
      const crops = await Promise.all(val.items.slice(s, s + 32).map((it) => decodeImage(it.file)));
      embs.push(...(await embedder.embed(crops)));
      onProgress?.(embs.length, val.items.length);
    }
  } finally {
    await embedder.dispose();
  }
  const scores: number[] = [];
  const same: boolean[] = [];
  for (let i = 0; i < embs.length; i++)
    for (let j = i + 1; j < embs.length; j++) {
      let dot = 0;
      const a = embs[i]!;
      const b = embs[j]!;
      for (let k = 0; k < a.length; k++) dot += a[k]! * b[k]!;
      scores.push(dot);
      same.push(val.items[i]!.label === val.items[j]!.label);
    }
  const impostors = scores.filter((_, k) => !same[k]);
  const genuine = scores.length - impostors.length;
  const pick = thresholdForAccuracy(scores, same);
  const table = impostors.length >= 1000 ? buildFarTable(impostors) : undefined;
  const m = model.manifest;
  const manifest = validateManifest(
    {
      ...m,
      thresholds: { ...(m.thresholds ?? {}), verify: Math.round(pick.threshold * 1e5) / 1e5 },
      thresholdsSource:
        `calibrated by arcface export (${new Date().toISOString().slice(0, 10)}) on the run's ${val.numClasses} validation ` +
        `people, never trained on: ${val.items.length} crops, ${genuine} genuine and ${impostors.length} impostor pairs; ` +
        `verify = the max-accuracy threshold (${(pick.accuracy * 100).toFixed(2)}% there)` +
        (table
          ? `; FAR table measured down to ${table.measuredTo.toExponential(1)}, extrapolated below`
          : '; too few pairs for a FAR table'),
      ...(table ? { impostorFar: table } : {}),
    },
    path,
  );
  await writeFile(`${path}.tmp`, JSON.stringify(manifest, null, 2) + '\n');
  await rename(`${path}.tmp`, path);
  return {
    people: val.numClasses,
    photos: val.items.length,
    genuine,
    impostor: impostors.length,
    verify: manifest.thresholds!.verify!,
    accuracy: pick.accuracy,
    farTable: table !== undefined,
    manifest,
  };
}
