/**
 * `arcface cluster PHOTOS...`: every face of every photo, embedded and grouped into people with no
 * one enrolled first (src/cluster/: Chinese Whispers linking at the model's FAR 1e-4 by default,
 * measured in bench/results/cluster_celeba.md). Two faces of one photo never join one person; a
 * person needs --min-faces faces, the rest are listed as singletons. -o writes a contact sheet.
 * In memory by default; with --gallery the clusters live in the store and grow run by run
 * (cluster_store.ts), edited by `arcface cluster list|name|merge|split|move` (cluster_edit.ts).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clusterFaces } from '../../cluster/index.js';
import { badInput } from '../../errors.js';
import type { Face } from '../../face/types.js';
import { encodeImage } from '../../image/decode.js';
import type { RgbImage } from '../../image/types.js';
import { expandImageArgs } from '../../pipeline/inputs.js';
import { UsageError, parseNumber, type Command } from '../command.js';
import { clusterFlagValues, clusterFlags, clusterFlagsUsage } from '../cluster_options.js';
import { contactSheet } from '../contact_sheet.js';
import { modelNotice } from '../notices.js';
import { Progress } from '../progress.js';
import { recognitionOptions, recognitionUsage, recognizerFromArgs } from '../recognition_options.js';
import { searchOptions, searchUsage } from '../store_options.js';
import { CLUSTER_ACTIONS, clusterEdit, clusterEditUsage } from './cluster_edit.js';
import { clusterIntoStore, round } from './cluster_store.js';

interface FoundFace {
  file: string;
  face: Face;
  embedding: Float32Array;
  crop?: RgbImage;
}

export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'group the faces of a photo collection into people, with no one enrolled first',
  usage: `arcface cluster PHOTO|FOLDER... [--gallery G [--store URL|DIR]] [options]
${clusterEditUsage}

${clusterFlagsUsage}
  -o, --out DIR        write a contact sheet: DIR/index.html with each person's face crops
  -g, --gallery G      keep the clusters in gallery G of the store (created with the model on first
                       use): later runs add their photos to its people without re-clustering
${searchUsage}
  --min-quality Q      with --gallery: faces below this combined quality (0..1) are neither
                       clustered nor stored (default 0.2; 0: off)

${recognitionUsage}

Every face of every photo is detected and embedded, then grouped into people. Two faces of the same
photo never go into one person. --json prints one line per face: {"file", "box", "cluster"}, with
cluster a person's number (with --gallery: its subject id) or null for a face that joins no one.

With --gallery, new faces join the gallery's clusters and persons (a named person keeps collecting
their photos), make new clusters, or are kept as singletons (one-face clusters) that later photos
may make a person of; photos already in the gallery are skipped, so running again on the same
folder stores nothing new. Corrections ("not this person") and a person's edits are kept: existing
clusters are never split or renumbered. --json lines then also carry subjectId, faceId, kind and
outcome (joined, newCluster, singleton, lowQuality).
The edits (list, name, merge, split, move) take the subject and face ids that list, --json and
the API show; they need no model. A folder named like an action is given as ./list.

Exit status: 0 done, 2 bad input (unreadable photos are listed and skipped; an unknown id).`,
  async run(argv) {
    if ((CLUSTER_ACTIONS as readonly string[]).includes(argv[0] ?? '')) return clusterEdit(argv);
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        ...recognitionOptions,
        ...clusterFlags,
        ...searchOptions,
        out: { type: 'string', short: 'o' },
        gallery: { type: 'string', short: 'g' },
        'min-quality': { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length === 0) throw new UsageError('give photos or folders of photos to cluster');
    const { algorithm, minFaces, k, scale: scaleFor } = clusterFlagValues(values);
    const minQuality = parseNumber(values['min-quality'], 'min-quality', (v) => v >= 0 && v <= 1);
    if (values.gallery === undefined)
      for (const flag of ['store', 'ann', 'ef', 'min-quality'] as const)
        if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --gallery`);
    const files = await expandImageArgs(positionals);
    if (files.length === 0) throw badInput(`${positionals.join(', ')}: no images`);
    const rec = await recognizerFromArgs(values);
    try {
      const scale = scaleFor(rec);
      if (values.gallery !== undefined) {
        if (!values.json) process.stderr.write(`${modelNotice(rec.manifest, rec.detectorSpec)}\n`);
        return await clusterIntoStore(rec, files, {
          ...values,
          gallery: values.gallery,
          minQuality,
          algorithm,
          minFaces,
          k,
          scale,
        });
      }
      if (!values.json) process.stderr.write(`${modelNotice(rec.manifest, rec.detectorSpec)}\n`);
      const progress = new Progress({
        label: 'detect+embed',
        total: files.length,
        unit: 'img',
        quiet: files.length < 20,
      });
      const found: FoundFace[] = [];
      const skipped: string[] = [];
      for (const file of files) {
        try {
          const { source, faces } = await rec.locate(file);
          const crops = await rec.alignAll(source, faces);
          const embs = await rec.embedCrops(crops);
          faces.forEach((face, i) =>
            found.push({ file, face, embedding: embs[i]!, crop: values.out ? crops[i] : undefined }),
          );
        } catch (err) {
          skipped.push((err as Error).message);
        }
        progress.tick();
      }
      progress.finish();
      const clusters = clusterFaces(
        {
          ids: found.map((_, i) => i),
          photos: found.map((f) => f.file),
          embeddings: found.map((f) => f.embedding),
        },
        { algorithm, scale, minFaces, k },
      );
      const people = new Set(clusters.filter((c) => c !== null)).size;
      if (values.json)
        for (let i = 0; i < found.length; i++)
          process.stdout.write(
            JSON.stringify({ file: found[i]!.file, box: round(found[i]!.face.box), cluster: clusters[i] }) +
              '\n',
          );
      else {
        const byCluster = new Map<number | null, string[]>();
        clusters.forEach((c, i) => byCluster.set(c, [...(byCluster.get(c) ?? []), found[i]!.file]));
        const lines = [...byCluster.entries()]
          .sort(([a], [b]) => (a ?? Infinity) - (b ?? Infinity))
          .map(([c, fs]) => `${c === null ? 'no one' : `person ${c}`} (${fs.length}): ${fs.join(', ')}`);
        process.stdout.write(
          `${found.length} faces in ${files.length - skipped.length} photos: ${people} people, ` +
            `${clusters.filter((c) => c === null).length} face(s) with no one (${algorithm}, link at ${scale.describe}, ` +
            `min faces ${minFaces})\n${lines.join('\n')}\n`,
        );
      }
      if (values.out) {
        const sheet = await Promise.all(
          found.map(async (f) => ({ file: f.file, png: new Uint8Array(await encodeImage(f.crop!, 'png')) })),
        );
        await contactSheet(values.out, sheet, clusters);
        if (!values.json) process.stdout.write(`contact sheet: ${join(values.out, 'index.html')}\n`);
      }
      if (skipped.length)
        process.stderr.write(`${skipped.length} photo(s) skipped:\n  ${skipped.join('\n  ')}\n`);
      return skipped.length ? 2 : 0;
    } finally {
      await rec.dispose();
    }
  },
};
