/** `arcface identify GALLERY IMAGE...`: every face of each photo, named or "unknown". */
import { parseArgs } from 'node:util';
import { ArcfaceError } from '../../errors.js';
import { expandImageArgs } from '../../pipeline/inputs.js';
import { errorKind, RecognitionService, type IdentifyResult } from '../../service/service.js';
import { UsageError, parseNumber, type Command } from '../command.js';
import { formatRate } from '../format.js';
import { qualityJson } from './detect.js';
import { modelNotice } from '../notices.js';
import { recognitionOptions, recognitionUsage, recognizerFromArgs } from '../recognition_options.js';
import { searchOptions, searchUsage, storeOptionsFromArgs } from '../store_options.js';

const r4 = (v: number | null) => (v === null ? null : Math.round(v * 1e4) / 1e4);

/** One line on where the threshold came from, so "unknown" can be understood. */
export function thresholdNotice(r: IdentifyResult): string {
  const t = `threshold ${r.threshold.toFixed(4)}`;
  switch (r.thresholdRule) {
    case 'fpir':
      return `${t}: a stranger is named with probability ${formatRate(r.fpirTarget!)} against the ${r.enrolled} enrolled face(s) (the model's FAR table; --fpir or -t to change)`;
    case 'given':
      return `${t} (given)`;
    case 'calibrated':
      return `${t} (your calibrated identify threshold)`;
    default:
      return `${t} (the model's verification threshold: it has no FAR table to size the threshold to the gallery)`;
  }
}

export const identifyCommand: Command = {
  name: 'identify',
  summary: 'who is in these photos? every face against a gallery, or "unknown"',
  usage: `arcface identify GALLERY IMAGE|DIR... [options]

  Every face in each photo (largest first) is identified on its own: the best subject when its
  cosine reaches the threshold, else "unknown". The threshold follows the gallery: the more faces
  enrolled, the more chances a stranger has to resemble one, so by default it is the cosine at which
  a stranger is named with probability --fpir (1%) against this many faces, read from the model's
  impostor distribution (its FAR table); -t sets a fixed one. Each answer reports its score's FAR.

${searchUsage}
  -k, --top K           candidates per face (default 5)
  --aggregate max|mean  a subject's score: its best face (default) or the mean over its faces
  --max-faces N         faces identified per photo, the largest first (default 20)
  --min-quality Q       mark faces whose combined quality (0..1) is below Q (default 0.2; 0: none):
                        they are still answered, with "low quality" and the measure that failed

${recognitionUsage}
  (--json: one line per image: {image, threshold, thresholdRule, faces:[{box, detScore, subject,
   externalId, score, far, fpir, candidates, quality, lowQuality, lowQualityMeasure}]})

Exit status: 0 every face named, 1 a face unknown or an image without a face, 2 bad input.`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...recognitionOptions,
        ...searchOptions,
        top: { type: 'string', short: 'k' },
        aggregate: { type: 'string' },
        'max-faces': { type: 'string' },
        'min-quality': { type: 'string' },
      },
      strict: true,
    });
    if (positionals.length < 2) throw new UsageError('give GALLERY and at least one image');
    const [gallery, ...inputs] = positionals as [string, ...string[]];
    const k = parseNumber(values.top, 'top', (v) => Number.isInteger(v) && v >= 1 && v <= 100);
    const maxFaces = parseNumber(values['max-faces'], 'max-faces', (v) => Number.isInteger(v) && v >= 1);
    const aggregate = values.aggregate;
    const minQuality = parseNumber(values['min-quality'], 'min-quality', (v) => v >= 0 && v <= 1);
    if (aggregate !== undefined && aggregate !== 'max' && aggregate !== 'mean')
      throw new UsageError(`bad value for --aggregate: "${aggregate}" (max or mean)`);
    const images = await expandImageArgs(inputs);
    const rec = await recognizerFromArgs(values);
    const service = await RecognitionService.open({
      store: values.store,
      storeOptions: storeOptionsFromArgs(values),
      recognizer: rec,
      maxFaces,
    });
    let worst = 0;
    let told = false;
    try {
      if (!values.json) process.stderr.write(`${modelNotice(rec.manifest, rec.detectorSpec)}\n`);
      await service.gallery(gallery); // a missing gallery is one error, not one per image
      for (const image of images) {
        try {
          const r = await service.identify(gallery, image, { k, aggregate, minQuality });
          if (!values.json && !told) {
            told = true;
            process.stderr.write(`${thresholdNotice(r)}\n`);
          }
          if (r.faces.length === 0 || r.faces.some((f) => !f.subject)) worst = Math.max(worst, 1);
          if (values.json) {
            process.stdout.write(
              JSON.stringify({
                image,
                threshold: r4(r.threshold),
                thresholdRule: r.thresholdRule,
                fpirTarget: r.fpirTarget,
                enrolled: r.enrolled,
                facesFound: r.facesFound,
                faces: r.faces.map((f) => ({
                  box: f.box,
                  detScore: r4(f.detScore),
                  subject: f.subject?.name ?? null,
                  externalId: f.subject?.externalId ?? null,
                  score: r4(f.score),
                  far: f.far,
                  fpir: f.fpir,
                  candidates: f.candidates.map((c) => ({
                    externalId: c.externalId,
                    name: c.name,
                    score: r4(c.score),
                  })),
                  quality: qualityJson(f.quality),
                  lowQuality: f.lowQuality,
                  lowQualityMeasure: f.lowQualityMeasure,
                })),
              }) + '\n',
            );
          } else if (r.faces.length === 0) process.stdout.write(`${image}: no face found\n`);
          else
            r.faces.forEach((f, i) => {
              const b = f.box;
              const where = `face ${i + 1} at ${Math.round(b.x1)},${Math.round(b.y1)} ${Math.round(b.x2 - b.x1)}x${Math.round(b.y2 - b.y1)}`;
              const far = f.far === null ? '' : `, FAR ${formatRate(f.far)}`;
              const who = f.subject
                ? `${f.subject.name} (${f.subject.externalId}) ${f.score!.toFixed(4)}${far}`
                : `unknown${f.score === null ? ' (empty gallery)' : ` (best ${f.candidates[0]!.externalId} ${f.score.toFixed(4)}${far})`}`;
              const low = f.lowQuality
                ? ` [low quality ${f.quality.score.toFixed(2)}: ${f.lowQualityMeasure}]`
                : '';
              process.stdout.write(`${image}: ${where}: ${who}${low}\n`);
            });
        } catch (err) {
          if (!(err instanceof ArcfaceError) || images.length === 1) throw err;
          worst = 2;
          if (values.json)
            process.stdout.write(
              JSON.stringify({ image, error: { code: errorKind(err), message: err.message } }) + '\n',
            );
          process.stderr.write(`arcface identify: ${err.message}\n`);
        }
      }
      return worst;
    } finally {
      await service.close();
    }
  },
};
