import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { embedFiles, failureSummary } from '../../pipeline/batch.js';
import { expandImageArgs } from '../../pipeline/inputs.js';
import { UsageError, type Command } from '../command.js';
import { modelNotice } from '../notices.js';
import { Progress } from '../progress.js';
import {
  recognitionOptions,
  recognitionUsage,
  recognizerFromArgs,
  singleFaceKeep,
} from '../recognition_options.js';
import { faceJson } from './detect.js';

export const embedCommand: Command = {
  name: 'embed',
  summary: 'L2-normalised ArcFace embedding of the main face in each image',
  usage: `arcface embed IMAGE|DIR... [options]

  --aligned              the images are already aligned face crops (skip detection)
  --keep largest|center  which face when an image has several (default largest)
  --center-crop          embed a centre crop when no face is found (InsightFace's eval fallback)
  -o, --out FILE.jsonl   write one JSON line per image there instead of stdout

${recognitionUsage}

Output: one JSON line per image, {file, embedding: [...], crop, face?} (--json and -o); else a summary.
Exit status: 0 all embedded, 1 some had no face, 2 bad input (unreadable files are listed, the rest go on).`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...recognitionOptions,
        aligned: { type: 'boolean' },
        'center-crop': { type: 'boolean' },
        out: { type: 'string', short: 'o' },
      },
      strict: true,
    });
    if (positionals.length === 0) throw new UsageError('give at least one image or folder');
    const keep = singleFaceKeep(values.keep);
    const files = await expandImageArgs(positionals);
    const rec = await recognizerFromArgs(values);
    const progress = new Progress({
      label: 'embed',
      total: files.length,
      unit: 'img',
      quiet: files.length < 20,
    });
    try {
      process.stderr.write(`${modelNotice(rec.manifest, rec.detectorSpec)}\n`);
      const items = await embedFiles(rec, files, {
        aligned: values.aligned,
        keep,
        noFace: values['center-crop'] ? 'center-crop' : 'error',
        onProgress: () => progress.tick(),
      });
      if (files.length >= 20) progress.finish();
      const lines = items
        .filter((i) => i.embedding)
        .map((i) =>
          JSON.stringify({
            file: i.file,
            embedding: Array.from(i.embedding!, (v) => Math.round(v * 1e7) / 1e7),
            crop: i.crop,
            ...(i.face ? { face: faceJson(i.face) } : {}),
          }),
        );
      if (values.out) writeFileSync(values.out, lines.length ? lines.join('\n') + '\n' : '');
      else if (values.json) process.stdout.write(lines.length ? lines.join('\n') + '\n' : '');
      else
        for (const i of items.filter((x) => x.embedding))
          process.stdout.write(
            `${i.file}: ${i.embedding!.length}-d (${i.crop}) [${Array.from(i.embedding!.subarray(0, 4), (v) => v.toFixed(4)).join(', ')}, ...]\n`,
          );
      const fails = failureSummary(items);
      if (fails.length) process.stderr.write(fails.join('\n') + '\n');
      const noFace = items.some((i) => i.error?.endsWith('no face found'));
      const unreadable = items.some((i) => i.error !== undefined && !i.error.endsWith('no face found'));
      return unreadable ? 2 : noFace ? 1 : 0;
    } finally {
      await rec.dispose();
    }
  },
};
