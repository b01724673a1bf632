import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { thresholdForAccuracy, thresholdForFar } from '../../eval/calibrate.js';
import { readPairs } from '../../eval/pairs.js';
import { badInput } from '../../errors.js';
import { validateManifest } from '../../models/manifest.js';
import { saveFarTable, saveThreshold } from '../../models/user_config.js';
import { buildFarTable } from '../../eval/far.js';
import { scorePairs } from '../../pipeline/evaluate.js';
import { UsageError, parseNumber, type Command } from '../command.js';
import { modelNotice } from '../notices.js';
import { Progress } from '../progress.js';
import { recognitionOptions, recognitionUsage, recognizerFromArgs } from '../recognition_options.js';

export const calibrateCommand: Command = {
  name: 'calibrate',
  summary: 'choose the verification threshold on your own labelled pairs (a target FAR or best accuracy)',
  usage: `arcface calibrate --pairs FILE --root DIR (--far F | --accuracy) [options]

  --pairs FILE       LFW pairs.txt or CSV img1,img2,same (see arcface eval verification)
  --root DIR         folder the pairs' paths are relative to
  --far F            the threshold whose false accept rate on your impostor pairs is at most F (e.g. 1e-3)
  --accuracy         the threshold maximising accuracy on your pairs (default)
  --aligned          the images are already aligned crops
  --far-table        also save the FAR table of your impostor pairs (cosine vs false-accept rate), which
                     every answer's "far" and identify's gallery-sized threshold are read from
                     (needs 1,000+ impostor pairs; measured down to 10 / impostor pairs, extrapolated below)
  --dry-run          print the threshold without saving it
  --manifest FILE    write it into this model manifest (.json) instead of the user config

${recognitionUsage}

The threshold is saved as the model's "verify" threshold in the user config
($ARCFACE_HOME/config.json, else ~/.config/arcface/config.json), where verify and compare-dir find it.`,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...recognitionOptions,
        pairs: { type: 'string' },
        root: { type: 'string' },
        far: { type: 'string' },
        accuracy: { type: 'boolean' },
        'far-table': { type: 'boolean' },
        aligned: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        manifest: { type: 'string' },
      },
      strict: true,
    });
    if (!values.pairs) throw new UsageError('--pairs FILE is required');
    if (values.far !== undefined && values.accuracy)
      throw new UsageError('give --far or --accuracy, not both');
    const far = parseNumber(values.far, 'far', (v) => v > 0 && v < 1);
    const { pairs } = await readPairs(values.pairs, values.root ?? '.');
    const rec = await recognizerFromArgs(values);
    try {
      process.stderr.write(`${modelNotice(rec.manifest, values.aligned ? undefined : rec.detectorSpec)}\n`);
      const total = new Set(pairs.flatMap((p) => [p.a, p.b])).size;
      const progress = new Progress({ label: 'embed', total, unit: 'img' });
      const s = await scorePairs(rec, pairs, { aligned: values.aligned, onProgress: () => progress.tick() });
      progress.finish();
      const pick =
        far !== undefined ? thresholdForFar(s.scores, s.same, far) : thresholdForAccuracy(s.scores, s.same);
      const impostors = s.same.filter((x) => !x).length;
      const table = values['far-table'] ? buildFarTable(s.scores.filter((_, i) => !s.same[i])) : undefined;
      const key = far !== undefined ? values.far! : 'accuracy';
      const out = {
        model: rec.manifest.name,
        criterion: far !== undefined ? `far<=${values.far}` : 'max-accuracy',
        threshold: pick.threshold,
        far: pick.far,
        tar: pick.tar,
        accuracy: pick.accuracy,
        pairs: s.scores.length,
        impostorPairs: impostors,
        noFace: s.noFace.length,
        farTable: table ?? null,
        savedTo: null as string | null,
      };
      // A FAR below 1/impostors cannot be measured on this set: say so rather than pretend.
      const warn =
        far !== undefined && far * impostors < 1
          ? `warning: ${impostors} impostor pairs cannot measure a FAR of ${values.far}; the threshold rejects every impostor seen, nothing more`
          : undefined;
      if (!values['dry-run']) {
        if (values.manifest) {
          let json: unknown;
          try {
            json = JSON.parse(readFileSync(values.manifest, 'utf8'));
          } catch (err) {
            throw badInput(`${values.manifest}: cannot read the manifest (${(err as Error).message})`);
          }
          const m = validateManifest(json, values.manifest);
          m.thresholds = { ...m.thresholds, verify: pick.threshold, [key]: pick.threshold };
          m.thresholdsSource = `arcface calibrate on ${values.pairs} (${s.scores.length} pairs, ${out.criterion}), ${new Date().toISOString().slice(0, 10)}`;
          if (table) m.impostorFar = table;
          writeFileSync(values.manifest + '.tmp', JSON.stringify(m, null, 2) + '\n');
          renameSync(values.manifest + '.tmp', values.manifest);
          out.savedTo = values.manifest;
        } else {
          out.savedTo = await saveThreshold(rec.manifest.name, 'verify', pick.threshold);
          await saveThreshold(rec.manifest.name, key, pick.threshold);
          if (table) saveFarTable(rec.manifest.name, table);
        }
      }
      if (values.json) process.stdout.write(JSON.stringify(out) + '\n');
      else
        process.stdout.write(
          `threshold ${pick.threshold.toFixed(4)} (${out.criterion}): FAR ${pick.far.toFixed(4)}, TAR ${pick.tar.toFixed(4)}, ` +
            `accuracy ${(pick.accuracy * 100).toFixed(2)}% on ${s.scores.length} pairs\n` +
            (out.savedTo
              ? `saved as the verify threshold${table ? ', with the FAR table,' : ''} of ${out.model} in ${out.savedTo}\n`
              : 'not saved (--dry-run)\n'),
        );
      if (warn) process.stderr.write(warn + '\n');
      return 0;
    } finally {
      await rec.dispose();
    }
  },
};
