import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { calibrateFromRun } from '../../export/calibrate_run.js';
import { Progress } from '../progress.js';
import { parseArgs } from 'node:util';
import { writeModelPackage } from '../../export/backbone.js';
import { describeInit } from '../../train/backbone.js';
import { readLog, type LogEntry } from '../../train/log.js';
import { loadTrainedBackbone } from '../../train/run.js';
import { UsageError, type Command } from '../command.js';

/**
 * A fine-tune's validation at its start (step 0, the base model) against the exported step's: a
 * small data set can make a good base worse for new people, and the user should hear it here.
 */
function fineTuneNote(runDir: string, step: number): string | null {
  const vals = readLog(join(runDir, 'log.jsonl')).filter(
    (l): l is Extract<LogEntry, { type: 'val' }> => l.type === 'val',
  );
  const start = vals.find((v) => v.step === 0);
  const at = vals.filter((v) => v.step <= step).pop();
  if (!start || !at || at.step === 0) return null;
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const line = `validation on the run's held-out people: ${pct(start.accuracy)} at the start (the base model), ${pct(at.accuracy)} at step ${at.step}`;
  return at.accuracy < start.accuracy
    ? `${line}. WARNING: fine-tuning lowered accuracy for people it did not train on; the base model may serve you better (or try a lower --backbone-lr-scale, a longer --freeze-backbone-steps, fewer steps)`
    : line;
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'a trained run as ONNX + manifest, for onnxruntime (arcface verify --model DIR/manifest.json)',
  usage: `arcface export RUN|CHECKPOINT -o DIR --licence TEXT --training-data TEXT [options]

  -o, --out DIR          writes DIR/model.onnx and DIR/manifest.json
  --name NAME            the model's name (default: the run folder's name)
  --licence TEXT         the weights' licence, shown wherever the model is loaded (required)
  --training-data TEXT   the training set and its terms (required: a model carries its data's terms)
  --research-only        the data or licence forbids commercial use (say it when true)
  --threshold T          a verification threshold calibrated for it (default: calibrated here, see below)
  --no-calibrate         write no thresholds (calibrate later with arcface calibrate)

Opset 13, input NCHW [N, 3, 112, 112] RGB (x - 127.5) / 127.5 (a fine-tuned dlib-resnet: [N, 3, 150, 150],
the default recogniser's dlib chip and means), output the embedding (L2-normalised by the pipeline, not the graph).

Unless --threshold or --no-calibrate, the model is calibrated on the run's validation people (never trained
on): the max-accuracy verify threshold and, from their impostor pairs, the FAR table identify reads its
gallery-sized threshold from.`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: 'string', short: 'o' },
        name: { type: 'string' },
        licence: { type: 'string' },
        'training-data': { type: 'string' },
        'research-only': { type: 'boolean' },
        threshold: { type: 'string' },
        'no-calibrate': { type: 'boolean' },
      },
      strict: true,
    });
    if (positionals.length !== 1) throw new UsageError('give one run folder or checkpoint');
    if (!values.out) throw new UsageError('--out DIR is required');
    if (!values.licence || !values['training-data'])
      throw new UsageError('--licence and --training-data are required: every model states its terms');
    const threshold = values.threshold === undefined ? undefined : Number(values.threshold);
    if (threshold !== undefined && !(threshold > -1 && threshold < 1))
      throw new UsageError(`bad value for --threshold: "${values.threshold}"`);
    const src = resolve(positionals[0]!);
    const { backbone, config, checkpoint, step } = await loadTrainedBackbone(src);
    try {
      const name = values.name ?? src.split('/').filter(Boolean).pop()!;
      const base = config.init ? describeInit(config.init) : undefined;
      if (base)
        process.stderr.write(`base model: ${base.name} (${base.licence}; trained on ${base.trainingData})\n`);
      const manifest = await writeModelPackage(backbone.net, resolve(values.out), {
        ...(base ? { base } : {}),
        name,
        licence: values.licence,
        trainingData: values['training-data'],
        researchOnly: Boolean(values['research-only']),
        description: `${config.backbone} ${base ? `fine-tuned from ${base.name}` : 'trained'} with ${config.loss.name} by arcface train (${checkpoint}, step ${step})`,
        ...(threshold !== undefined
          ? { thresholds: { verify: threshold }, thresholdsSource: 'given to arcface export' }
          : {}),
      });
      process.stdout.write(
        `wrote ${resolve(values.out)}/model.onnx and manifest.json: ${manifest.name}, ${config.backbone}, ` +
          `${manifest.output!.dim}-d, step ${step}\n`,
      );
      // The run folder: given, or two levels above a checkpoint (RUN/checkpoints/step-N).
      const runDir = existsSync(join(src, 'index.json')) ? dirname(dirname(src)) : src;
      const note = fineTuneNote(runDir, step);
      if (note) process.stderr.write(`${note}\n`);
      if (threshold === undefined && !values['no-calibrate']) {
        let progress: Progress | undefined;
        let seen = 0;
        const c = await calibrateFromRun(runDir, config, resolve(values.out), (done, total) => {
          progress ??= new Progress({ label: 'calibrate', total, unit: 'img', quiet: total < 20 });
          progress.tick(done - seen);
          seen = done;
        });
        progress?.finish();
        process.stdout.write(
          c
            ? `calibrated on ${c.people} validation people (${c.photos} crops, ${c.genuine} genuine / ${c.impostor} impostor pairs): ` +
                `verify ${c.verify} (accuracy ${(c.accuracy * 100).toFixed(2)}%)${c.farTable ? ', FAR table written' : ', too few pairs for a FAR table'}\n`
            : `not calibrated: ${runDir} kept no validation people (run arcface calibrate on your own pairs)\n`,
        );
      }
      return 0;
    } finally {
      backbone.dispose();
    }
  },
};
