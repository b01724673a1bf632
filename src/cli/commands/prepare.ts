import { parseArgs } from 'node:util';
import { prepareDataset, summarize } from '../../data/prepare.js';
import { openDetector } from '../../pipeline/detector_path.js';
import { DEFAULT_DETECTOR, DEFAULT_MODEL } from '../../pipeline/recognizer.js';
import { resolveModel } from '../../models/resolve.js';
import type { Alignment } from '../../models/manifest.js';
import { UsageError, parseNumber, type Command } from '../command.js';
import { Progress } from '../progress.js';
import { detectOptionsFromArgs, detectorOptions, singleFaceKeep } from '../recognition_options.js';

export const prepareCommand: Command = {
  name: 'prepare',
  summary:
    "detect and align a folder of labelled photos into training crops, 112x112 or a model's own (resumable)",
  usage: `arcface prepare RAW_DIR OUT_DIR [options]

  RAW_DIR                RAW/<identity>/*.jpg (one folder per person), or any tree with --labels
  OUT_DIR                crops go to OUT/<identity>/<name>.png; OUT/prepare-report.json lists what failed
  --labels CSV           'file,identity' lines, files relative to RAW_DIR
  --size N               crop side (default 112, or the model's input with --model)
  -m, --model M          make the crops M was trained on: its alignment and input size. 'default' (the
                         default recogniser, dlib-resnet-v1): 150x150 dlib chips, what train --init default takes
  --keep largest|center  the face kept from a photo with several (default largest)
  --retry-failed         detect again the photos an earlier run found no face in or could not read
  -d, --detector K[:P]   ${DEFAULT_DETECTOR} (default, offline), yunet, scrfd or retinaface, P = its .onnx file
  --score-threshold S, --nms-iou X, --min-face PX, --max-pixels N   as for detect
  --json                 print the report as JSON instead of the summary

A rerun skips the crops already written and the photos that failed before, so an interrupted run
resumes where it stopped. Exit status: 0 every photo gave a crop, 1 some had no face, 2 bad input
or unreadable photos (listed).`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        labels: { type: 'string' },
        size: { type: 'string' },
        model: { type: 'string', short: 'm' },
        'retry-failed': { type: 'boolean' },
        ...detectorOptions,
      },
      strict: true,
    });
    if (positionals.length !== 2) throw new UsageError('give RAW_DIR and OUT_DIR');
    const [raw, out] = positionals as [string, string];
    const size = parseNumber(values.size, 'size', (v) => Number.isInteger(v) && v > 0);
    const keep = singleFaceKeep(values.keep);
    const { keep: _keep, maxPixels, ...detect } = detectOptionsFromArgs(values);
    let alignment: Alignment | undefined;
    let modelSize: number | undefined;
    if (values.model !== undefined) {
      const { manifest } = await resolveModel(values.model === 'default' ? DEFAULT_MODEL : values.model);
      if (manifest.task !== 'recognition')
        throw new UsageError(`--model ${values.model} is not a recogniser`);
      if (manifest.input.width !== manifest.input.height)
        throw new UsageError(
          `--model ${values.model} takes ${manifest.input.width}x${manifest.input.height} crops; training crops are square`,
        );
      alignment = manifest.alignment ?? { template: 'arcface' };
      modelSize = manifest.input.width;
      if (!values.json)
        process.stderr.write(
          `crops for ${manifest.name}: ${alignment.template} alignment, ${modelSize}x${modelSize}\n`,
        );
    }
    const { detector, notice } = await openDetector(values.detector);
    if (!values.json) process.stderr.write(`${notice}\n`);
    let progress: Progress | undefined;
    try {
      const report = await prepareDataset({
        raw,
        out,
        labels: values.labels,
        detector,
        size: size ?? modelSize,
        alignment,
        keep,
        detect,
        maxPixels,
        retryFailed: values['retry-failed'],
        onImage: (done, total) => {
          progress ??= new Progress({ label: 'prepare', total, unit: 'img', quiet: total < 20 });
          progress.tick();
          if (done === total && total >= 20 && process.stderr.isTTY) process.stderr.write('\n');
        },
      });
      process.stdout.write(values.json ? JSON.stringify(report) + '\n' : summarize(report));
      return report.unreadable.length ? 2 : report.noFace.length ? 1 : 0;
    } finally {
      await detector.dispose();
    }
  },
};
