/**
 * Adapt-to-your-people, measured (issue 15): the default recogniser as published against copies of
 * it fine-tuned on the calibration half of the CelebA subset (`arcface prepare --model default`,
 * `arcface train --init default`, `arcface export`), each scored through the whole pipeline
 * (detection, dlib chip, embedding, flip-sum) on the held-out half, whose people no model trained on:
 *   - 10-fold verification accuracy over every genuine pair and as many seeded impostor pairs;
 *   - TAR at FAR 1e-3 over every genuine and every impostor pair (src/eval/roc.ts tarAtFar).
 *
 *   node --import tsx bench/finetune.ts --models default,RUN_A/model/manifest.json,... [--labels A,B,...]
 *        [--md bench/results/finetune.md]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { rocCurve, tarAtFar } from '../src/eval/roc.js';
import { evaluateVerification } from '../src/eval/verification.js';
import { DEFAULT_MODEL, FaceRecognizer } from '../src/pipeline/recognizer.js';
import {
  balancedPairs,
  celebaSplit,
  cropPhotos,
  embedCropMap,
  genuineScores,
  impostorScores,
} from './celeba.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'default' },
    labels: { type: 'string' },
    seed: { type: 'string', default: '1' },
    md: { type: 'string' },
  },
});
const seed = Number(values.seed);
const models = values.models!.split(',');
const labels = values.labels ? values.labels.split(',') : models;
if (labels.length !== models.length) throw new Error('--labels: one per model');

const split = await celebaSplit(seed);
if (!split) {
  console.log(
    'skipped: ../shared/data/train/celeba-subset is absent (the shared data sets live beside the repo)',
  );
  process.exit(0);
}

const pct = (x: number, d = 2) => `${(x * 100).toFixed(d)}%`;
const rows: string[] = [];
// Every model here takes the same crop (the default's dlib chip), so photos are detected and
// aligned once and each model embeds the same chips.
let chips: Awaited<ReturnType<typeof cropPhotos>> | undefined;
let alignment = '';
for (const [k, spec] of models.entries()) {
  const rec = await FaceRecognizer.create({ model: spec === 'default' ? DEFAULT_MODEL : spec });
  try {
    const m = rec.manifest;
    const a = JSON.stringify([m.alignment ?? { template: 'arcface' }, m.input.width, m.input.height]);
    if (chips && a !== alignment)
      throw new Error(`${spec}: another crop than ${models[0]} (${a} vs ${alignment})`);
    alignment = a;
    chips ??= await cropPhotos(
      rec,
      split.heldOut.map((x) => x.file),
      'detect + align',
    );
    const embeddings = await embedCropMap(rec, chips.crops, `${labels[k]}: embed`);
    const genuine = genuineScores(split.heldOut, embeddings);
    const impostor = impostorScores(split.heldOut, embeddings);
    const { scores, same } = balancedPairs(genuine, impostor, seed);
    const v = evaluateVerification(scores, same, { folds: 10, fars: [1e-3] });
    const all = [...genuine, ...impostor];
    const roc = rocCurve(
      all,
      all.map((_, i) => i < genuine.length),
    );
    const t = tarAtFar(roc, 1e-3);
    const row = `| ${labels[k]} | ${pct(v.accuracy)} ± ${pct(v.std)} | ${pct(t.tar, 1)} (FAR ${t.far.toExponential(1)}) | ${v.auc.toFixed(4)} | ${embeddings.size} (${chips.noFace.length} no face) |`;
    console.log(row);
    rows.push(row);
  } finally {
    await rec.dispose();
  }
}
const table = [
  '| model | 10-fold accuracy | TAR @ FAR 1e-3 (all pairs) | AUC | photos |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...rows,
].join('\n');
console.log(`\n${table}`);
if (values.md)
  writeFileSync(
    values.md,
    `# Fine-tuning the default recogniser on CelebA (held-out half)\n\n` +
      `${new Date().toISOString().slice(0, 10)}: \`node --import tsx bench/finetune.ts --models ${values.models}\`\n\n` +
      `Held-out half of the CelebA subset in ../shared (bench/celeba.ts, seed ${seed}): ${split.heldOut.length} photos of people no model here was trained or calibrated on.\n\n${table}\n`,
  );
