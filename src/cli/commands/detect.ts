import { parseArgs } from 'node:util';
import type { Face } from '../../face/types.js';
import { decodeImage } from '../../image/decode.js';
import { expandImageArgs } from '../../pipeline/inputs.js';
import { openDetector } from '../../pipeline/detector_path.js';
import { UsageError, type Command } from '../command.js';
import { Progress } from '../progress.js';
import { detectOptionsFromArgs, detectorOptions } from '../recognition_options.js';

const round = (v: number) => Math.round(v * 10) / 10;

export function faceJson(f: Face) {
  return {
    box: [round(f.box.x1), round(f.box.y1), round(f.box.x2), round(f.box.y2)],
    score: Math.round(f.score * 1e4) / 1e4,
    landmarks: f.landmarks.map(([x, y]) => [round(x), round(y)]),
  };
}

export const detectCommand: Command = {
  name: 'detect',
  summary: 'find faces and their 5 landmarks (left eye, right eye, nose, mouth corners)',
  usage: `arcface detect IMAGE|DIR... [options]

  -d, --detector K[:P]  faceapi (default, offline), yunet, scrfd or retinaface, P = its .onnx file
  --score-threshold S   minimum score (detector's default)
  --nms-iou X           NMS IoU (detector's default)
  --min-face PX         ignore faces smaller than PX pixels
  --keep all|largest|center   which faces to report (default all)
  --max-pixels N        refuse images over N pixels (default 50000000)
  --json                one JSON object per image on stdout: {file, width, height, faces:[{box, score, landmarks}]}

Exit status: 0 every image had a face, 1 some had none, 2 bad input (unreadable files are listed, the rest go on).`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...detectorOptions,
      },
      strict: true,
    });
    if (positionals.length === 0) throw new UsageError('give at least one image or folder');
    const { maxPixels, ...opts } = detectOptionsFromArgs(values);
    const files = await expandImageArgs(positionals);
    const { detector, notice } = await openDetector(values.detector);
    if (!values.json) process.stderr.write(`${notice}\n`);
    const progress = new Progress({
      label: 'detect',
      total: files.length,
      unit: 'img',
      quiet: files.length < 20,
    });
    const failed: string[] = [];
    let noFace = 0;
    try {
      for (const file of files) {
        try {
          const img = await decodeImage(file, { maxPixels });
          const faces = await detector.detect(img, opts);
          if (faces.length === 0) noFace++;
          if (values.json)
            process.stdout.write(
              JSON.stringify({ file, width: img.width, height: img.height, faces: faces.map(faceJson) }) +
                '\n',
            );
          else {
            process.stdout.write(`${file}: ${faces.length} face(s) in ${img.width}x${img.height}\n`);
            for (const f of faces) {
              const j = faceJson(f);
              process.stdout.write(
                `  score ${j.score.toFixed(3)}  box [${j.box.join(', ')}]  eyes (${j.landmarks[0]}) (${j.landmarks[1]})` +
                  `  nose (${j.landmarks[2]})  mouth (${j.landmarks[3]}) (${j.landmarks[4]})\n`,
              );
            }
          }
        } catch (err) {
          failed.push((err as Error).message);
        }
        progress.tick();
      }
    } finally {
      await detector.dispose();
    }
    if (files.length >= 20) progress.finish();
    if (failed.length) process.stderr.write(`${failed.length} file(s) skipped:\n  ${failed.join('\n  ')}\n`);
    return failed.length ? 2 : noFace ? 1 : 0;
  },
};
