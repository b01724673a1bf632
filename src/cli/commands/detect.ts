import { parseArgs } from 'node:util';
import { alignFace } from '../../face/align.js';
import { faceQuality, type FaceQuality } from '../../face/quality.js';
import type { Face } from '../../face/types.js';
import type { RgbImage } from '../../image/types.js';
import { expandImageArgs } from '../../pipeline/inputs.js';
import { UsageError, type Command } from '../command.js';
import { detectEach } from '../detect_each.js';
import { detectOptionsFromArgs, detectorOptions } from '../recognition_options.js';

const round = (v: number) => Math.round(v * 10) / 10;

export function faceJson(f: Face) {
  return {
    box: [round(f.box.x1), round(f.box.y1), round(f.box.x2), round(f.box.y2)],
    score: Math.round(f.score * 1e4) / 1e4,
    landmarks: f.landmarks.map(([x, y]) => [round(x), round(y)]),
  };
}

/** Quality rounded for printing: the measures to 0.1, the scores to 1e-3. */
export function qualityJson(q: FaceQuality) {
  const r3 = (v: number) => Math.round(v * 1e3) / 1e3;
  return {
    score: r3(q.score),
    interOcular: round(q.interOcular),
    sharpness: round(q.sharpness),
    yaw: round(q.yaw),
    pitch: round(q.pitch),
    detScore: r3(q.detScore),
    weakest: q.weakest,
  };
}

/** One line: "quality 0.82 (eyes 45.1 px, sharpness 130.2, yaw 3.1°, pitch -2.0°; weakest yaw)". */
export function qualityText(q: FaceQuality): string {
  const j = qualityJson(q);
  return (
    `quality ${j.score.toFixed(2)} (eyes ${j.interOcular} px, sharpness ${j.sharpness}, ` +
    `yaw ${j.yaw}°, pitch ${j.pitch}°${j.score < 1 ? `; weakest ${j.weakest}` : ''})`
  );
}

/** detect runs no recogniser: sharpness is read from the face warped onto the 112x112 ArcFace crop. */
const qualityOf = (img: RgbImage, f: Face) => faceQuality(f, alignFace(img, f, { size: 112 }).image);

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
  --json                one JSON object per image on stdout: {file, width, height, faces:[{box, score, landmarks, quality}]}

Each face's quality: eye distance in pixels, sharpness of the aligned face, yaw and pitch from the
landmarks, detector score, and the combined score 0..1 (the lowest of the measures' sub-scores).

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
    return detectEach(
      files,
      {
        label: 'detect',
        detector: values.detector,
        detect: opts,
        maxPixels,
        notice: !values.json,
        failedTitle: 'file(s) skipped',
        listNoFace: false,
      },
      async (file, img, faces) => {
        if (values.json) {
          const line = {
            file,
            width: img.width,
            height: img.height,
            faces: faces.map((f) => ({ ...faceJson(f), quality: qualityJson(qualityOf(img, f)) })),
          };
          process.stdout.write(JSON.stringify(line) + '\n');
          return;
        }
        process.stdout.write(`${file}: ${faces.length} face(s) in ${img.width}x${img.height}\n`);
        for (const f of faces) {
          const j = faceJson(f);
          process.stdout.write(
            `  score ${j.score.toFixed(3)}  box [${j.box.join(', ')}]  eyes (${j.landmarks[0]}) (${j.landmarks[1]})` +
              `  nose (${j.landmarks[2]})  mouth (${j.landmarks[3]}) (${j.landmarks[4]})\n` +
              `    ${qualityText(qualityOf(img, f))}\n`,
          );
        }
      },
    );
  },
};
