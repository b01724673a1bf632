/**
 * A recogniser's thresholds and FAR table, measured on the calibration half of the CelebA subset
 * (bench/celeba.ts: identities split with a seed; the other half is held out for
 * bench/celeba_open_set.ts), never on the project's test photos. Prints the manifest fields:
 *
 *   thresholds.verify  the max-accuracy threshold on every genuine pair and as many seeded impostor pairs
 *   thresholds.1e-2/3  the lowest cosine whose FAR over all impostor pairs is within the target
 *   impostorFar        cosine vs FAR over every different-person pair (src/eval/far.ts)
 *
 *   node --import tsx tools/calibrate_far.ts [--model dlib-resnet-v1] [--detector faceapi] [--seed 1] [--json]
 */
import { parseArgs } from 'node:util';
import { thresholdForAccuracy } from '../src/eval/calibrate.js';
import { buildFarTable, thresholdAtFar, type FarTable } from '../src/eval/far.js';
import { evaluateVerification } from '../src/eval/verification.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { balancedPairs, celebaSplit, embedAndScore } from '../bench/celeba.js';

const pct = (x: number, d = 2): string => `${(x * 100).toFixed(d)}%`;
const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'dlib-resnet-v1' },
      detector: { type: 'string', default: 'faceapi' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  const seed = Number(values.seed);
  const split = await celebaSplit(seed);
  if (!split) {
    console.log(
      'skipped: ../shared/data/train/celeba-subset is absent (the shared data sets live beside the repo)',
    );
    return;
  }
  const items = split.calibration;
  const rec = await FaceRecognizer.create({ model: values.model, detector: values.detector });
  const started = Date.now();
  try {
    const { embeddings, noFace, genuine, impostor } = await embedAndScore(rec, items, Boolean(values.quiet));
    const table: FarTable = buildFarTable(impostor);
    const { scores, same } = balancedPairs(genuine, impostor, seed);
    const v = evaluateVerification(scores, same, { folds: 10, fars: [1e-2, 1e-3] });
    const verify = thresholdForAccuracy(scores, same);
    const thresholds = {
      verify: round4(verify.threshold),
      '1e-2': thresholdAtFar(table, 1e-2),
      '1e-3': thresholdAtFar(table, 1e-3),
    };
    const ids = new Set(items.map((x) => x.identity)).size;
    const date = new Date().toISOString().slice(0, 10);
    const source =
      `calibrated here by \`node --import tsx tools/calibrate_far.ts --model ${values.model} --detector ${values.detector} --seed ${seed}\` ` +
      `(${date}) on the calibration half of the CelebA subset in ../shared (${ids} identities, ${embeddings.size} in-the-wild photos, ` +
      `research only; the other ${new Set(split.heldOut.map((x) => x.identity)).size} identities are held out for bench/celeba_open_set.ts; never the project's test photos), ` +
      `detector ${values.detector}, flip-sum ${rec.flip ? 'on' : 'off'}, ${noFace.length} photos without a face embedded from a centre crop. ` +
      `verify = the max-accuracy threshold on all ${genuine.length} genuine pairs + as many seeded impostor pairs (accuracy there ${pct(verify.accuracy)}, FAR ${pct(verify.far)}; 10-fold ${pct(v.accuracy)} ± ${pct(v.std)}); ` +
      `"1e-2"/"1e-3" and impostorFar from all ${impostor.length.toLocaleString('en-US')} different-person pairs (measured down to FAR ${table.measuredTo.toExponential(1)}, extrapolated below). ` +
      `Identification thresholds follow the gallery size: FPIR 1% over the enrolled faces (src/eval/far.ts).`;
    const out = {
      model: rec.manifest.name,
      seconds: Math.round((Date.now() - started) / 1000),
      photos: embeddings.size,
      noFace: noFace.length,
      genuinePairs: genuine.length,
      impostorPairs: impostor.length,
      accuracy10fold: v.accuracy,
      std: v.std,
      auc: v.auc,
      verify,
      tarAtFar: Object.fromEntries(
        [1e-2, 1e-3, 1e-4].map((f) => {
          const t = thresholdAtFar(table, f);
          return [f.toExponential(), genuine.filter((s) => s >= t).length / genuine.length];
        }),
      ),
      thresholds,
      thresholdsSource: source,
      impostorFar: table,
    };
    if (values.json) console.log(JSON.stringify(out, null, 2));
    else {
      console.log(
        `${out.model}: ${out.photos} photos (${out.noFace} without a face), ${out.genuinePairs} genuine + ${out.impostorPairs} impostor pairs`,
      );
      console.log(
        `10-fold ${pct(v.accuracy)} ± ${pct(v.std)}, AUC ${v.auc.toFixed(4)}; verify ${thresholds.verify} (acc ${pct(verify.accuracy)})`,
      );
      for (const [f, tar] of Object.entries(out.tarAtFar)) console.log(`TAR at FAR ${f}: ${pct(tar)}`);
      console.log(JSON.stringify({ thresholds, thresholdsSource: source, impostorFar: table }, null, 2));
    }
  } finally {
    await rec.dispose();
  }
}

await main();
