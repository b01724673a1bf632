import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { alignFace } from '../../face/align.js';
import { encodeImage } from '../../image/decode.js';
import { expandImageArgs } from '../../pipeline/inputs.js';
import { UsageError, type Command } from '../command.js';
import { detectEach } from '../detect_each.js';
import { detectOptionsFromArgs, detectorOptions } from '../recognition_options.js';

export const alignCommand: Command = {
  name: 'align',
  summary: 'detect and warp faces onto the 112x112 ArcFace template, written as PNG crops',
  usage: `arcface align IMAGE|DIR... -o DIR [options]

  -o, --out DIR          where the crops go: NAME.png (or NAME_K.png for the K-th face with --keep all)
  --size N | HxW         output size (default 112; 112x96 = 112 high and 96 wide, as InsightFace names it,
                         or multiples of 112 or 128)
  --keep all|largest|center   which faces (default largest)
  -d, --detector K[:P]   faceapi (default, offline), yunet, scrfd or retinaface, P = its .onnx file
  --score-threshold S, --nms-iou X, --min-face PX, --max-pixels N   as for detect
  --json                 one JSON line per crop: {file, out, box, score, landmarks, matrix}

Exit status: 0 every image gave a crop, 1 some had no face, 2 bad input (listed; the rest go on).`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: 'string', short: 'o' },
        size: { type: 'string' },
        ...detectorOptions,
      },
      strict: true,
    });
    if (positionals.length === 0) throw new UsageError('give at least one image or folder');
    if (!values.out) throw new UsageError('--out DIR is required');
    let width = 112;
    let height = 112;
    if (values.size !== undefined) {
      const m = /^(\d+)(?:x(\d+))?$/.exec(values.size);
      if (!m) throw new UsageError(`bad value for --size: "${values.size}" (N or HxW)`);
      height = Number(m[1]);
      width = m[2] ? Number(m[2]) : height;
    }
    const { maxPixels, ...parsed } = detectOptionsFromArgs(values);
    const keep = parsed.keep ?? 'largest';
    const opts = { ...parsed, keep };
    const files = await expandImageArgs(positionals);
    mkdirSync(values.out, { recursive: true });
    const used = new Set<string>();
    return detectEach(
      files,
      {
        label: 'align',
        detector: values.detector,
        detect: opts,
        maxPixels,
        notice: !values.json,
        failedTitle: 'file(s) without a crop',
        listNoFace: true,
      },
      async (file, img, faces) => {
        let stem = basename(file, extname(file));
        while (used.has(stem)) stem += '_';
        used.add(stem);
        for (const [k, face] of faces.entries()) {
          const { image, matrix } = alignFace(img, face.landmarks, { width, height });
          const out = join(values.out!, keep === 'all' ? `${stem}_${k}.png` : `${stem}.png`);
          writeFileSync(out, await encodeImage(image, 'png'));
          if (values.json) {
            const { box, score, landmarks } = face;
            process.stdout.write(JSON.stringify({ file, out, box, score, landmarks, matrix }) + '\n');
          } else process.stdout.write(`${file} -> ${out}\n`);
        }
      },
    );
  },
};
