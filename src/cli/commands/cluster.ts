/**
 * `arcface cluster PHOTOS...`: every face of every photo, embedded and grouped into people with no
 * one enrolled first (src/cluster/: Chinese Whispers linking at the model's FAR 1e-4 by default,
 * measured in bench/results/cluster_celeba.md). Two faces of one photo never join one person; a
 * person needs --min-faces faces, the rest are listed as singletons. -o writes a contact sheet.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { clusterFaces } from '../../cluster/index.js';
import { badInput } from '../../errors.js';
import type { Face } from '../../face/types.js';
import { encodeImage } from '../../image/decode.js';
import type { RgbImage } from '../../image/types.js';
import { expandImageArgs } from '../../pipeline/inputs.js';
import { UsageError, type Command } from '../command.js';
import { clusterFlagValues, clusterFlags, clusterFlagsUsage } from '../cluster_options.js';
import { modelNotice } from '../notices.js';
import { Progress } from '../progress.js';
import { recognitionOptions, recognitionUsage, recognizerFromArgs } from '../recognition_options.js';

interface FoundFace {
  file: string;
  face: Face;
  embedding: Float32Array;
  crop?: RgbImage;
}

const round = (b: Face['box']) => ({
  x1: Math.round(b.x1),
  y1: Math.round(b.y1),
  x2: Math.round(b.x2),
  y2: Math.round(b.y2),
});

const html = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** OUT/index.html: a row of face crops per person, then the singletons; crops as OUT/faces/N.png. */
async function contactSheet(out: string, faces: FoundFace[], clusters: (number | null)[]): Promise<void> {
  await mkdir(join(out, 'faces'), { recursive: true, mode: 0o700 });
  const rows = new Map<number | null, number[]>();
  clusters.forEach((c, i) => rows.set(c, [...(rows.get(c) ?? []), i]));
  for (let i = 0; i < faces.length; i++)
    await writeFile(join(out, 'faces', `${i}.png`), await encodeImage(faces[i]!.crop!, 'png'), {
      mode: 0o600,
    });
  const row = (title: string, idx: number[]) =>
    `<h2>${html(title)}</h2>\n<div class="row">${idx
      .map((i) => {
        const f = faces[i]!;
        return `<figure><img src="faces/${i}.png" alt=""><figcaption>${html(basename(f.file))}</figcaption></figure>`;
      })
      .join('')}</div>`;
  const people = [...rows.keys()].filter((c): c is number => c !== null).sort((a, b) => a - b);
  const body = [
    ...people.map((c) => row(`person ${c} (${rows.get(c)!.length} faces)`, rows.get(c)!)),
    ...(rows.has(null) ? [row(`no one (${rows.get(null)!.length} faces)`, rows.get(null)!)] : []),
  ].join('\n');
  await writeFile(
    join(out, 'index.html'),
    `<!doctype html><meta charset="utf-8"><title>arcface cluster</title>
<style>body{font-family:sans-serif}.row{display:flex;flex-wrap:wrap;gap:6px}figure{margin:0;width:120px}
img{width:120px;height:auto}figcaption{font-size:11px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}</style>
<h1>${people.length} people, ${rows.get(null)?.length ?? 0} face(s) with no one</h1>
${body}
`,
    { mode: 0o600 },
  );
}

export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'group the faces of a photo collection into people, with no one enrolled first',
  usage: `arcface cluster PHOTO|FOLDER... [options]

${clusterFlagsUsage}
  -o, --out DIR        write a contact sheet: DIR/index.html with each person's face crops

${recognitionUsage}

Every face of every photo is detected and embedded, then grouped into people. Two faces of the same
photo never go into one person. --json prints one line per face: {"file", "box", "cluster"}, with
cluster a person's number or null for a face that joins no one. Exit status: 0 done, 2 bad input
(unreadable photos are listed and skipped).`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...recognitionOptions, ...clusterFlags, out: { type: 'string', short: 'o' } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length === 0) throw new UsageError('give photos or folders of photos to cluster');
    const { algorithm, minFaces, k, scale: scaleFor } = clusterFlagValues(values);
    const files = await expandImageArgs(positionals);
    if (files.length === 0) throw badInput(`${positionals.join(', ')}: no images`);
    const rec = await recognizerFromArgs(values);
    try {
      const scale = scaleFor(rec);
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
        await contactSheet(values.out, found, clusters);
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
