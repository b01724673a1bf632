import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ArcfaceError } from '../../errors.js';
import { checkpointPath } from '../../train/backbone.js';
import { readCheckpoint } from '../../train/checkpoint.js';
import { DEFAULT_INITS, parseTrainConfig } from '../../train/config.js';
import { runTraining } from '../../train/run.js';
import { UsageError, parseNumber, type Command } from '../command.js';
import { Progress } from '../progress.js';

export const trainCommand: Command = {
  name: 'train',
  summary:
    'train a face embedder with ArcFace (or another margin loss), from scratch or fine-tuning the default',
  usage: `arcface train --out RUN [--config FILE.json] [--data DIR] [options]

  --out RUN            the run folder: config.json, split.json, checkpoints/, log.jsonl
  --config FILE.json   every hyper-parameter as plain JSON (keys of DEFAULT_TRAIN_CONFIG; unknown keys refused)
  --data DIR           training crops, one folder per identity (make them with arcface prepare)
  --backbone NAME      mobilefacenet (default), iresnet18, iresnet34, iresnet50, iresnet100, dlib-resnet
  --loss NAME          arcface (default), cosface, sphereface, norm-softmax, cm1, cm2 ...
  --init default|RUN   start the backbone from the default recogniser's weights (dlib-resnet, public domain;
                       crops from arcface prepare --model default) or from one of our runs / checkpoints,
                       with a new margin head for this data's people
  --freeze-backbone-steps N   train the new head alone for the first N steps (backbone frozen)
  --backbone-lr-scale X       the backbone's learning rate as a multiple of --lr (e.g. 0.1 when fine-tuning)
  --batch-size N, --accumulate N, --epochs N | --steps N, --lr X, --warmup N, --seed N
  --val-fraction F     share of the identities held out for validation (default 0.1; never trained on)
  --val-pairs N        same pairs (and as many different) per validation identity (default 20)
  --validate-every N, --checkpoint-every N   in optimizer steps
  --workers N          decoding threads (default min(2, cores))
  --parallel N         gradient worker threads (default 1: in-process). Each step's micro-batches are split
                       over N workers, each holding its own wasm heap (N times the memory); needs
                       accumulate >= N to use N workers. Results equal the single-worker run up to float rounding
  --resume             continue RUN from its last checkpoint: same data order and optimizer state

Ctrl-C or SIGTERM finishes the step and writes a checkpoint; --resume continues from it.`,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string', short: 'o' },
        config: { type: 'string', short: 'c' },
        data: { type: 'string' },
        backbone: { type: 'string' },
        loss: { type: 'string' },
        'batch-size': { type: 'string' },
        accumulate: { type: 'string' },
        epochs: { type: 'string' },
        steps: { type: 'string' },
        lr: { type: 'string' },
        warmup: { type: 'string' },
        seed: { type: 'string' },
        'val-fraction': { type: 'string' },
        'val-pairs': { type: 'string' },
        'validate-every': { type: 'string' },
        'checkpoint-every': { type: 'string' },
        workers: { type: 'string' },
        parallel: { type: 'string' },
        resume: { type: 'boolean' },
        init: { type: 'string' },
        'freeze-backbone-steps': { type: 'string' },
        'backbone-lr-scale': { type: 'string' },
      },
      strict: true,
    });
    if (!values.out) throw new UsageError('--out RUN is required');
    let json: Record<string, unknown> = {};
    let source = 'command line';
    if (values.config) {
      source = resolve(values.config);
      try {
        json = JSON.parse(readFileSync(source, 'utf8')) as Record<string, unknown>;
      } catch (err) {
        throw new ArcfaceError('BAD_CONFIG', `${source}: cannot read the config (${(err as Error).message})`);
      }
    }
    // Flags override the file; parseTrainConfig then checks everything before any work starts.
    const int = (v: string | undefined, name: string) =>
      parseNumber(v, name, (x) => Number.isInteger(x) && x >= 0);
    const set = (key: string, v: unknown) => {
      if (v !== undefined) json[key] = v;
    };
    if (values.data) json.data = { ...(json.data as object), train: resolve(values.data) };
    set('backbone', values.backbone);
    if (values.init !== undefined) {
      json.init = DEFAULT_INITS.includes(values.init) ? values.init : resolve(values.init);
      // One of our checkpoints implies its backbone and embedding size, unless the config says otherwise.
      if (!DEFAULT_INITS.includes(values.init) && json.backbone === undefined) {
        const c = readCheckpoint(checkpointPath(json.init as string)).index.config;
        json.backbone = c.backbone;
        json.embeddingSize ??= c.embeddingSize;
      }
    }
    set('freezeBackboneSteps', int(values['freeze-backbone-steps'], 'freeze-backbone-steps'));
    set(
      'backboneLrScale',
      parseNumber(values['backbone-lr-scale'], 'backbone-lr-scale', (x) => x > 0),
    );
    if (values.loss) json.loss = { ...(json.loss as object), name: values.loss };
    set('batchSize', int(values['batch-size'], 'batch-size'));
    set('accumulate', int(values.accumulate, 'accumulate'));
    set('epochs', int(values.epochs, 'epochs'));
    set('steps', int(values.steps, 'steps'));
    set(
      'lr',
      parseNumber(values.lr, 'lr', (x) => x > 0),
    );
    set('warmupSteps', int(values.warmup, 'warmup'));
    set('seed', int(values.seed, 'seed'));
    set('validateEvery', int(values['validate-every'], 'validate-every'));
    set('checkpointEvery', int(values['checkpoint-every'], 'checkpoint-every'));
    if (values.steps !== undefined && values.epochs === undefined) json.epochs = null;
    if (values.epochs !== undefined && values.steps === undefined) json.steps = null;
    const config = parseTrainConfig(
      json,
      source,
      values.config ? { baseDir: resolve(values.config, '..') } : {},
    );
    const valFraction = parseNumber(values['val-fraction'], 'val-fraction', (x) => x > 0 && x < 1);
    const valPairs = int(values['val-pairs'], 'val-pairs');
    const workers = int(values.workers, 'workers');
    // Not a config key: like --workers, it does not change what is computed. Checked against
    // accumulate (BAD_CONFIG) by runTraining before any work.
    const parallel = parseNumber(values.parallel, 'parallel', Number.isInteger);

    let progress: Progress | undefined;
    let start: number | undefined;
    const sessionStart = Date.now();
    const result = await runTraining({
      config,
      runDir: resolve(values.out),
      resume: values.resume,
      valFraction,
      valPairsPerClass: valPairs,
      workers,
      parallel,
      onProgress: (p) => {
        // Made at the first step (the total is known then), timed from when this session's steps
        // began; a resumed run's bar counts the steps left.
        progress ??= new Progress({
          label: 'train',
          total: p.totalSteps - p.step + 1,
          unit: 'step',
          startedAt: sessionStart,
        });
        progress.tick(
          1,
          `epoch ${p.epoch} loss ${p.loss.toFixed(3)} lr ${p.lr.toExponential(2)} ${p.samplesPerSec.toFixed(1)} img/s`,
        );
      },
      onValidation: (v, step) => {
        const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
        // A fine-tune's step 0 is the base model: every later line is read against it.
        start ??= step === 0 ? v.accuracy : undefined;
        const vsStart =
          start !== undefined && step > 0
            ? ` (${v.accuracy >= start ? '+' : ''}${((v.accuracy - start) * 100).toFixed(2)} points on the start)`
            : '';
        process.stderr.write(
          `\nvalidation at step ${step}${step === 0 ? ' (before training)' : ''}: accuracy ${pct(v.accuracy)} ± ${pct(v.std)}${vsStart}\n`,
        );
      },
    });
    progress?.finish();
    process.stdout.write(
      `${result.stopped === 'signal' ? 'stopped by a signal' : 'done'} at step ${result.step}/${result.totalSteps}, ` +
        `loss ${result.loss.toFixed(4)}; checkpoint ${result.checkpoint}` +
        (result.validation
          ? `; validation accuracy ${(result.validation.accuracy * 100).toFixed(2)}% ± ${(result.validation.std * 100).toFixed(2)}`
          : '') +
        '\n',
    );
    result.backbone.dispose();
    return 0;
  },
};
