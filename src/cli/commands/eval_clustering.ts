import { parseArgs } from 'node:util';
import { clusterFaces } from '../../cluster/index.js';
import { badInput } from '../../errors.js';
import { scoreClustering } from '../../eval/clustering.js';
import { readLabelledImages } from '../../eval/labels.js';
import { embedFiles } from '../../pipeline/batch.js';
import { UsageError } from '../command.js';
import { clusterFlagValues, clusterFlags, clusterFlagsUsage } from '../cluster_options.js';
import { modelNotice } from '../notices.js';
import { Progress } from '../progress.js';
import { recognitionOptions, recognitionUsage, recognizerFromArgs } from '../recognition_options.js';

export const clusteringUsage = `arcface eval clustering --root DIR [options]

  --root DIR           labelled images: one folder per identity (ROOT/<identity>/*.jpg), or see --labels
  --labels CSV         file,identity rows (paths relative to --root) instead of folders
${clusterFlagsUsage}
  --aligned            the images are already aligned crops (skip detection)

${recognitionUsage}

One face a photo (the detector's best), labelled with its photo's identity. Prints pairwise
precision/recall/F1, BCubed precision/recall/F, clusters found vs people, and the share of faces
left as singletons (a singleton counts as a cluster of one: it costs recall, never precision).`;

export async function clusteringRun(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...recognitionOptions,
      root: { type: 'string' },
      labels: { type: 'string' },
      ...clusterFlags,
      aligned: { type: 'boolean' },
    },
    strict: true,
  });
  if (!values.root) throw new UsageError('--root DIR is required');
  const { algorithm, minFaces, k, scale: scaleFor } = clusterFlagValues(values);
  const labelled = await readLabelledImages(values.root, values.labels);
  if (labelled.length === 0) throw badInput(`${values.root}: no labelled images`);
  const rec = await recognizerFromArgs(values);
  try {
    const scale = scaleFor(rec);
    process.stderr.write(`${modelNotice(rec.manifest, values.aligned ? undefined : rec.detectorSpec)}\n`);
    const progress = new Progress({ label: 'detect+embed', total: labelled.length, unit: 'img' });
    const items = await embedFiles(
      rec,
      labelled.map((x) => x.file),
      { aligned: values.aligned, onProgress: () => progress.tick() },
    );
    progress.finish();
    const kept = items
      .map((it, i) => ({ it, identity: labelled[i]!.identity }))
      .filter((x) => x.it.embedding);
    const t = performance.now();
    const clusters = clusterFaces(
      {
        ids: kept.map((_, i) => i),
        photos: kept.map((x) => x.it.file),
        embeddings: kept.map((x) => x.it.embedding!),
      },
      { algorithm, scale, minFaces, k },
    );
    const seconds = (performance.now() - t) / 1000;
    const s = scoreClustering(
      kept.map((x) => x.identity),
      clusters,
    );
    const failed = items.filter((i) => i.error);
    const out = {
      model: rec.manifest.name,
      algorithm,
      minFaces,
      link: scale.describe,
      ...s,
      clusterSeconds: Number(seconds.toFixed(3)),
      skipped: failed.map((i) => ({ file: i.file, error: i.error })),
    };
    if (values.json) process.stdout.write(JSON.stringify(out) + '\n');
    else {
      const f = (v: number) => v.toFixed(4);
      process.stdout.write(
        `model ${out.model}, ${algorithm}, min faces ${minFaces}, link at ${scale.describe}\n` +
          `${s.faces} faces of ${s.people} people (${s.peopleWithTwoOrMore} with 2+ faces): ${s.clusters} clusters, ` +
          `${(s.singletonShare * 100).toFixed(1)}% of faces left as singletons (${seconds.toFixed(2)} s)\n` +
          `pairwise precision ${f(s.pairwise.precision)}  recall ${f(s.pairwise.recall)}  F1 ${f(s.pairwise.f1)}\n` +
          `BCubed precision ${f(s.bcubed.precision)}  recall ${f(s.bcubed.recall)}  F ${f(s.bcubed.f)}\n`,
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
