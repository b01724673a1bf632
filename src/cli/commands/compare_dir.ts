import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { embedFiles, failureSummary } from '../../pipeline/batch.js';
import { listImages } from '../../pipeline/inputs.js';
import { similarityMatrix } from '../../pipeline/similarity.js';
import { badInput } from '../../errors.js';
import { UsageError, type Command } from '../command.js';
import { modelNotice } from '../notices.js';
import { Progress } from '../progress.js';
import { recognitionOptions, recognitionUsage, recognizerFromArgs } from '../recognition_options.js';

/** Beyond this an all-pairs table is unreadable; use eval or the gallery instead. */
const MAX_FILES = 500;

export const compareDirCommand: Command = {
  name: 'compare-dir',
  summary: 'all-pairs similarity matrix of the faces in a small folder',
  usage: `arcface compare-dir DIR [options]

  --aligned            the images are already aligned face crops (skip detection)

${recognitionUsage}

Prints the cosine matrix (and, with a threshold, which pairs match). --json: {files, matrix, threshold, same}.
At most ${MAX_FILES} images; unreadable files and images with no face are listed and left out.`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { ...recognitionOptions, aligned: { type: 'boolean' } },
      strict: true,
    });
    if (positionals.length !== 1) throw new UsageError('give one folder');
    const files = await listImages(positionals[0]!, false);
    if (files.length === 0) throw badInput(`${positionals[0]}: no images in this folder`);
    if (files.length > MAX_FILES)
      throw badInput(
        `${positionals[0]}: ${files.length} images, over ${MAX_FILES}; use "arcface eval identification"`,
      );
    const rec = await recognizerFromArgs(values);
    try {
      process.stderr.write(`${modelNotice(rec.manifest, rec.detectorSpec)}\n`);
      const progress = new Progress({
        label: 'embed',
        total: files.length,
        unit: 'img',
        quiet: files.length < 20,
      });
      const items = await embedFiles(rec, files, {
        aligned: values.aligned,
        onProgress: () => progress.tick(),
      });
      if (files.length >= 20) progress.finish();
      const ok = items.filter((i) => i.embedding);
      const m = similarityMatrix(ok.map((i) => i.embedding!));
      const n = ok.length;
      const t = rec.threshold;
      const rows = Array.from({ length: n }, (_, i) => Array.from(m.subarray(i * n, i * n + n)));
      const same: [string, string, number][] = [];
      if (t !== undefined)
        for (let i = 0; i < n; i++)
          for (let j = i + 1; j < n; j++)
            if (rows[i]![j]! >= t) same.push([ok[i]!.file, ok[j]!.file, rows[i]![j]!]);
      if (values.json) {
        process.stdout.write(
          JSON.stringify({
            files: ok.map((i) => i.file),
            matrix: rows.map((r) => r.map((v) => Math.round(v * 1e6) / 1e6)),
            threshold: t ?? null,
            same: same.map(([a, b, s]) => ({ a, b, similarity: s })),
            skipped: items.filter((i) => i.error).map((i) => ({ file: i.file, error: i.error })),
          }) + '\n',
        );
      } else {
        const names = ok.map((i, k) => `${k + 1}`.padStart(3) + ' ' + basename(i.file));
        process.stdout.write(
          names.join('\n') + '\n\n     ' + ok.map((_, k) => String(k + 1).padStart(6)).join('') + '\n',
        );
        for (let i = 0; i < n; i++)
          process.stdout.write(
            String(i + 1).padStart(3) + '  ' + rows[i]!.map((v) => v.toFixed(3).padStart(6)).join('') + '\n',
          );
        if (t !== undefined) {
          process.stdout.write(`\npairs at or above the threshold ${t.toFixed(4)}:\n`);
          for (const [a, b, s] of same)
            process.stdout.write(`  ${basename(a)} ~ ${basename(b)}  ${s.toFixed(4)}\n`);
          if (same.length === 0) process.stdout.write('  none\n');
        }
      }
      const fails = failureSummary(items);
      if (fails.length) process.stderr.write(fails.join('\n') + '\n');
      return 0;
    } finally {
      await rec.dispose();
    }
  },
};
