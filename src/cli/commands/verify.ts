import { parseArgs } from 'node:util';
import { NoFaceError } from '../../pipeline/recognizer.js';
import { UsageError, type Command } from '../command.js';
import { modelNotice } from '../notices.js';
import {
  recognitionOptions,
  recognitionUsage,
  recognizerFromArgs,
  singleFaceKeep,
} from '../recognition_options.js';
import { faceJson } from './detect.js';
import { formatRate } from '../format.js';

/** `arcface verify`'s status when an image has no face (1 is kept for "different people"). */
export const NO_FACE_EXIT = 3;

export const verifyCommand: Command = {
  name: 'verify',
  summary: '1:1 verification: are the faces in two images the same person?',
  usage: `arcface verify IMAGE_A IMAGE_B [options]

  --aligned            the images are already aligned face crops (skip detection)
  --keep largest|center  which face when an image has several (default largest)

${recognitionUsage}

Exit status: 0 same person, 1 different person, 2 bad input, 3 no face found in an image.`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { ...recognitionOptions, aligned: { type: 'boolean' } },
      strict: true,
    });
    if (positionals.length !== 2) throw new UsageError('give exactly two images');
    const keep = singleFaceKeep(values.keep);
    const rec = await recognizerFromArgs(values);
    try {
      if (!values.json) process.stderr.write(`${modelNotice(rec.manifest, rec.detectorSpec)}\n`);
      const v = await rec.verify(positionals[0]!, positionals[1]!, { keep, aligned: values.aligned });
      if (values.json) {
        process.stdout.write(
          JSON.stringify({
            a: positionals[0],
            b: positionals[1],
            similarity: v.similarity,
            far: v.far,
            angle: v.angle,
            threshold: v.threshold,
            same: v.same,
            model: rec.manifest.name,
            faces: [v.a.face ? faceJson(v.a.face) : null, v.b.face ? faceJson(v.b.face) : null],
          }) + '\n',
        );
      } else {
        process.stdout.write(
          `similarity ${v.similarity.toFixed(4)} (angle ${v.angle.toFixed(1)}°${v.far === null ? '' : `, FAR ${formatRate(v.far)}`}), ` +
            `threshold ${v.threshold.toFixed(4)}: ` +
            `${v.same ? 'SAME person' : 'DIFFERENT people'}\n`,
        );
      }
      return v.same ? 0 : 1;
    } catch (err) {
      if (err instanceof NoFaceError) {
        if (values.json)
          process.stdout.write(
            JSON.stringify({
              a: positionals[0],
              b: positionals[1],
              error: err.message,
              code: 'NO_FACE',
              same: false,
            }) + '\n',
          );
        process.stderr.write(`arcface verify: ${err.message}\n`);
        // Not "different people": nothing was compared. Its own status, so scripts can tell.
        return NO_FACE_EXIT;
      }
      throw err;
    } finally {
      await rec.dispose();
    }
  },
};
