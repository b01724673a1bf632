import { parseArgs } from 'node:util';
import { badInput } from '../../errors.js';
import { evaluateIdentification, splitGallery } from '../../eval/identification.js';
import { readLabelledImages } from '../../eval/labels.js';
import { embedFiles, type BatchItem } from '../../pipeline/batch.js';
import { listImages } from '../../pipeline/inputs.js';
import { UsageError, parseNumber } from '../command.js';
import { modelNotice } from '../notices.js';
import { Progress } from '../progress.js';
import { recognitionOptions, recognitionUsage, recognizerFromArgs } from '../recognition_options.js';

export const identificationUsage = `arcface eval identification --root DIR [options]

  --root DIR           labelled images: one folder per identity (ROOT/<identity>/*.jpg), or see --labels
  --labels CSV         file,identity rows (paths relative to --root) instead of folders
  --gallery-per-id K   images of each identity enrolled (default 1, first in file order); the rest are probes
  --seed N             choose the enrolled images by a seeded shuffle instead of file order
  --distractors DIR    images of people NOT enrolled (any layout), for open-set DIR at FPIR 1e-1 and 1e-2
  --aligned            the images are already aligned crops (skip detection)

${recognitionUsage}

Closed set: rank-1 and rank-5 (CMC) over the probes; an identity's score is its best template.
Open set (with --distractors): DIR at FPIR, the threshold set on the distractors' top scores.
Images with no detected face are left out and counted.`;

export async function identificationRun(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...recognitionOptions,
      root: { type: 'string' },
      labels: { type: 'string' },
      'gallery-per-id': { type: 'string' },
      seed: { type: 'string' },
      distractors: { type: 'string' },
      aligned: { type: 'boolean' },
    },
    strict: true,
  });
  if (!values.root) throw new UsageError('--root DIR is required');
  const perId =
    parseNumber(values['gallery-per-id'], 'gallery-per-id', (v) => Number.isInteger(v) && v >= 1) ?? 1;
  const seed = parseNumber(values.seed, 'seed', Number.isInteger);
  const labelled = await readLabelledImages(values.root, values.labels);
  const { gallery, probes, skipped } = splitGallery(labelled, perId, seed);
  if (probes.length === 0)
    throw badInput(`${values.root}: no identity has more than ${perId} image(s), so there is no probe`);
  const distractorFiles = values.distractors ? await listImages(values.distractors) : [];
  const rec = await recognizerFromArgs(values);
  try {
    process.stderr.write(`${modelNotice(rec.manifest, values.aligned ? undefined : rec.detectorSpec)}\n`);
    const all = [...gallery.map((g) => g.file), ...probes.map((p) => p.file), ...distractorFiles];
    const progress = new Progress({ label: 'embed', total: all.length, unit: 'img' });
    const items = await embedFiles(rec, all, { aligned: values.aligned, onProgress: () => progress.tick() });
    progress.finish();
    const byFile = new Map<string, BatchItem>(items.map((i) => [i.file, i]));
    const emb = (f: string) => byFile.get(f)?.embedding;
    const g = gallery
      .filter((x) => emb(x.file))
      .map((x) => ({ identity: x.identity, embedding: emb(x.file)! }));
    const enrolled = new Set(g.map((x) => x.identity));
    const p = [
      ...probes
        .filter((x) => emb(x.file) && enrolled.has(x.identity))
        .map((x) => ({ identity: x.identity, embedding: emb(x.file)! })),
      // Distractors get identities that cannot collide with an enrolled one.
      ...distractorFiles
        .filter((f) => emb(f))
        .map((f, k) => ({ identity: `\u0000distractor:${k}`, embedding: emb(f)! })),
    ];
    const r = evaluateIdentification(g, p);
    const failed = items.filter((i) => i.error);
    const dir = Object.fromEntries(Object.entries(r.dirAtFpir).map(([k, v]) => [k, v.dir]));
    const out = {
      model: rec.manifest.name,
      rank1: r.rank1,
      rank5: r.rank5,
      cmc: Array.from(r.cmc.subarray(0, Math.min(20, r.cmc.length))),
      dirAtFpir: dir,
      dirDetails: r.dirAtFpir,
      identities: r.identities,
      galleryImages: r.templates,
      probes: r.mated,
      distractors: r.distractors,
      identitiesWithTooFewImages: skipped.length,
      skipped: failed.map((i) => ({ file: i.file, error: i.error })),
    };
    if (values.json) process.stdout.write(JSON.stringify(out) + '\n');
    else {
      const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
      process.stdout.write(
        `model ${out.model}: ${r.identities} identities enrolled (${r.templates} images), ${r.mated} probes` +
          (r.distractors ? `, ${r.distractors} distractors` : '') +
          `\nrank-1 ${pct(r.rank1)}  rank-5 ${pct(r.rank5)}\n` +
          Object.entries(r.dirAtFpir)
            .map(
              ([k, v]) =>
                `DIR@FPIR ${k}: ${pct(v.dir)} (threshold ${v.threshold.toFixed(4)}, FPIR reached ${v.fpir.toFixed(4)})\n`,
            )
            .join(''),
      );
    }
    if (failed.length)
      process.stderr.write(
        `${failed.length} image(s) left out:\n  ${failed.map((i) => i.error).join('\n  ')}\n`,
      );
    return 0;
  } finally {
    await rec.dispose();
  }
}
