/** `arcface enroll GALLERY NAME IMAGE...`: the largest face of each image, enrolled in one transaction. */
import { parseArgs } from 'node:util';
import { expandImageArgs } from '../../pipeline/inputs.js';
import { ServiceError } from '../../service/errors.js';
import { RecognitionService } from '../../service/service.js';
import { UsageError, parseNumber, type Command } from '../command.js';
import { qualityText } from './detect.js';
import { modelNotice } from '../notices.js';
import { recognitionOptions, recognitionUsage, recognizerFromArgs } from '../recognition_options.js';
import { searchOptions, searchUsage, storeOptionsFromArgs } from '../store_options.js';

export const enrollCommand: Command = {
  name: 'enroll',
  summary: "enroll a person's photos into a gallery (created with the model on first use)",
  usage: `arcface enroll GALLERY NAME IMAGE|DIR... [options]

  NAME is the subject's id in the gallery: enrolling the same NAME again adds faces to it.
  One face per image is enrolled: the largest (a group photo enrolls its largest face).
  All faces of one call are stored in one transaction: if any image fails (unreadable, no face,
  low quality), nothing is enrolled and every failure is listed, unless --partial.

${searchUsage}
  --partial            enroll the images that worked and list the others
  --min-quality Q      refuse faces whose combined quality (0..1) is below Q (default 0.2; 0: off);
                       the message names the measure that failed (eye distance, sharpness, pose...)
  --display-name N     the subject's display name (default NAME)

${recognitionUsage}

Exit status: 0 enrolled, 1 no face or a low-quality face in an image (nothing enrolled), 2 bad input.`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...recognitionOptions,
        ...searchOptions,
        partial: { type: 'boolean' },
        'min-quality': { type: 'string' },
        'display-name': { type: 'string' },
      },
      strict: true,
    });
    if (positionals.length < 3) throw new UsageError('give GALLERY NAME and at least one image');
    const [gallery, name, ...inputs] = positionals as [string, string, ...string[]];
    const minQuality = parseNumber(values['min-quality'], 'min-quality', (v) => v >= 0 && v <= 1);
    const images = await expandImageArgs(inputs);
    const rec = await recognizerFromArgs(values);
    const service = await RecognitionService.open({
      store: values.store,
      storeOptions: storeOptionsFromArgs(values),
      recognizer: rec,
    });
    try {
      if (!values.json) process.stderr.write(`${modelNotice(rec.manifest, rec.detectorSpec)}\n`);
      const r = await service.enroll(
        gallery,
        { externalId: name, name: values['display-name'] ?? name },
        images,
        { createGallery: true, partial: values.partial, minQuality },
      );
      if (values.json) process.stdout.write(JSON.stringify(r) + '\n');
      else {
        for (const f of r.faces)
          process.stdout.write(
            `${f.image}: face ${f.faceId}${f.facesInImage > 1 ? ` (the largest of ${f.facesInImage} faces)` : ''}` +
              `, ${qualityText(f.quality)}\n`,
          );
        for (const f of r.failures) process.stderr.write(`${f.image}: ${f.message} (skipped)\n`);
        process.stdout.write(
          `enrolled ${r.faces.length} face(s) of ${r.subject.externalId} into ${gallery} ` +
            `(${r.subject.faces} in all, subject id ${r.subject.id})\n`,
        );
      }
      return 0;
    } catch (err) {
      if (err instanceof ServiceError && err.failures.length) {
        if (values.json)
          process.stdout.write(
            JSON.stringify({ error: { code: err.kind, message: err.message, failures: err.failures } }) +
              '\n',
          );
        for (const f of err.failures) process.stderr.write(`arcface enroll: ${f.image}: ${f.message}\n`);
        process.stderr.write(`arcface enroll: nothing enrolled (--partial enrolls the others)\n`);
        return err.kind === 'NO_FACE' || err.kind === 'LOW_QUALITY' ? 1 : 2;
      }
      throw err;
    } finally {
      await service.close();
    }
  },
};
