/**
 * Verification accuracy on the real labelled pairs in ../shared (deepface's master.csv and
 * face-recognition-pivot.csv), for every recogniser there x every detector there: the numbers
 * behind the default detector choice and the README's table. Not a test: it prints a table.
 *
 *   node --import tsx bench/real_pairs.ts [--detectors faceapi,yunet,...] [--json]
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { csvFields } from '../src/eval/pairs.js';
import { evaluateVerification } from '../src/eval/verification.js';
import type { Pair } from '../src/eval/pairs.js';
import { scorePairs } from '../src/pipeline/evaluate.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { SHARED, SHARED_DETECTORS, SHARED_RECOGNISERS } from './shared_models.js';
import { BUNDLED_RECOGNISER } from '../src/models/zoo.js';
import type { PreprocessOverrides } from '../src/models/resolve.js';

const DATA = join(SHARED, 'data/faces/deepface/tests/unit/dataset');

function deepfacePairs(csv: string): Pair[] {
  const lines = readFileSync(join(DATA, csv), 'utf8').trim().split(/\r?\n/);
  const head = csvFields(lines[0]!).map((h) => h.toLowerCase());
  const [ia, ib, id] = ['file_x', 'file_y', 'decision'].map((h) => head.indexOf(h));
  return lines.slice(1).map((l) => {
    const f = csvFields(l);
    // pivot.csv names files as deepface/tests/dataset/imgN.jpg; they all live in DATA.
    return {
      a: join(DATA, basename(f[ia!]!)),
      b: join(DATA, basename(f[ib!]!)),
      same: /^yes$/i.test(f[id!]!),
    };
  });
}

/**
 * These pair sets are easy (AUC 1 for every combination), so accuracy cannot rank detectors; the
 * mean genuine similarity and the decidability index d' = |mu_g - mu_i| / sqrt((var_g + var_i) / 2)
 * still show how well a detector's landmarks align faces.
 */
function separation(scores: number[], same: boolean[]) {
  const g = scores.filter((_, i) => same[i]);
  const im = scores.filter((_, i) => !same[i]);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const variance = (v: number[], m: number) => v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length;
  const mg = mean(g);
  const mi = mean(im);
  return {
    genuineMean: mg,
    impostorMean: mi,
    dPrime: Math.abs(mg - mi) / Math.sqrt((variance(g, mg) + variance(im, mi)) / 2),
  };
}

const { values } = parseArgs({ options: { detectors: { type: 'string' }, json: { type: 'boolean' } } });
if (!existsSync(DATA)) {
  console.log(`skipped: ${DATA} is absent (the shared data sets live beside the repo)`);
  process.exit(0);
}
const sets = { master: deepfacePairs('master.csv'), pivot: deepfacePairs('face-recognition-pivot.csv') };
const detectors = values.detectors ? values.detectors.split(',') : Object.keys(SHARED_DETECTORS);
const rows: Record<string, unknown>[] = [];
// The bundled default (no path: the zoo's builtin) beside the models in ../shared.
const recognisers: [string, { path: string; preprocess: PreprocessOverrides }][] = [
  [BUNDLED_RECOGNISER, { path: BUNDLED_RECOGNISER, preprocess: {} }],
  ...Object.entries(SHARED_RECOGNISERS),
];
for (const [model, m] of recognisers) {
  for (const det of detectors) {
    const spec = SHARED_DETECTORS[det] ?? det;
    const rec = await FaceRecognizer.create({ model: m.path, preprocess: m.preprocess, detector: spec });
    for (const [set, pairs] of Object.entries(sets)) {
      const s = await scorePairs(rec, pairs);
      const r = evaluateVerification(s.scores, s.same, { folds: 10 });
      const row = {
        model,
        detector: det,
        set,
        pairs: s.scores.length,
        accuracy: r.accuracy,
        std: r.std,
        auc: r.auc,
        tarAt1e2: r.rocTarAtFar['1e-2']!.tar,
        noFace: s.noFace.length,
        ...separation(s.scores, s.same),
      };
      rows.push(row);
      if (!values.json)
        console.log(
          `${model.padEnd(22)} ${det.padEnd(14)} ${set.padEnd(7)} acc ${(r.accuracy * 100).toFixed(2).padStart(6)}% ± ${(r.std * 100).toFixed(2).padStart(5)}  ` +
            `AUC ${r.auc.toFixed(4)}  TAR@FAR1e-2 ${(row.tarAt1e2 * 100).toFixed(1).padStart(5)}%  ` +
            `genuine ${row.genuineMean.toFixed(3)} impostor ${row.impostorMean.toFixed(3)} d' ${row.dPrime.toFixed(2)}  noFace ${row.noFace}`,
        );
    }
    await rec.dispose();
  }
}
if (values.json) console.log(JSON.stringify(rows));
