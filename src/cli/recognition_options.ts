/** The options every recognition command shares (--model, --detector, pre-processing, thresholds). */
import type { ParseArgsConfig } from 'node:util';
import { DEFAULT_MAX_PIXELS } from '../image/decode.js';
import { parseMeanStd } from '../models/resolve.js';
import { DEFAULT_DETECTOR, DEFAULT_MODEL, FaceRecognizer } from '../pipeline/recognizer.js';
import { UsageError, parseNumber } from './command.js';

/** What detect and align take (and every recognition command, below). */
export const detectorOptions = {
  detector: { type: 'string', short: 'd' },
  'score-threshold': { type: 'string' },
  'nms-iou': { type: 'string' },
  'min-face': { type: 'string' },
  keep: { type: 'string' },
  'max-pixels': { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

export const recognitionOptions = {
  ...detectorOptions,
  model: { type: 'string', short: 'm' },
  color: { type: 'string' },
  mean: { type: 'string' },
  std: { type: 'string' },
  layout: { type: 'string' },
  flip: { type: 'boolean' },
  'no-flip': { type: 'boolean' },
  threshold: { type: 'string', short: 't' },
  fpir: { type: 'string' },
  threads: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export const recognitionUsage = `Model and detector:
  -m, --model M        zoo name (arcface models list), manifest .json or .onnx path (default ${DEFAULT_MODEL})
  --color rgb|bgr      pre-processing for a bare .onnx model (default rgb)
  --mean A[,B,C]       subtracted, in 0..255 units (default 127.5)
  --std A[,B,C]        divided by, in 0..255 units (default 127.5)
  --layout nchw|nhwc   input layout of a bare .onnx model (default nchw)
  -d, --detector K[:P] ${DEFAULT_DETECTOR} (default, offline), yunet, scrfd or retinaface, P = its .onnx file
  --score-threshold S  detector score threshold (detector's default)
  --nms-iou X          NMS IoU (detector's default)
  --min-face PX        ignore faces smaller than PX pixels
  --flip / --no-flip   test-time flip-sum (default: the model's manifest)
  -t, --threshold T    cosine threshold for same/different (default: calibrated, else the manifest's);
                       for identification, a fixed one instead of --fpir's
  --fpir F             identification: the chance a stranger is named as someone enrolled that the
                       threshold is chosen for, from the gallery's size and the model's FAR table (0.01)
  --max-pixels N       refuse images over N pixels (default ${DEFAULT_MAX_PIXELS})
  --threads N          onnxruntime threads (default: all cores)
  --json               machine-readable output on stdout`;

type Values = {
  [K in keyof typeof recognitionOptions]?: (typeof recognitionOptions)[K]['type'] extends 'boolean'
    ? boolean
    : string;
};

function oneOf<T extends string>(v: string | undefined, name: string, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  const l = v.toLowerCase() as T;
  if (!allowed.includes(l))
    throw new UsageError(`bad value for --${name}: "${v}" (one of ${allowed.join(', ')})`);
  return l;
}

export function keepOption(v: string | undefined): 'all' | 'largest' | 'center' | undefined {
  return oneOf(v, 'keep', ['all', 'largest', 'center'] as const);
}

/** `--keep` where one face per image is embedded: largest (default) or center. */
export function singleFaceKeep(v: string | undefined): 'largest' | 'center' {
  if (v === undefined || v === 'largest' || v === 'center') return v ?? 'largest';
  throw new UsageError(`bad value for --keep: "${v}" (largest or center)`);
}

type DetectorValues = { [K in keyof typeof detectorOptions]?: Values[K] };

/** Detector options from the command line; `keep` only where the command honours all three policies. */
export function detectOptionsFromArgs(values: DetectorValues) {
  return {
    scoreThreshold: parseNumber(values['score-threshold'], 'score-threshold', (v) => v >= 0 && v <= 1),
    nmsIou: parseNumber(values['nms-iou'], 'nms-iou', (v) => v > 0 && v <= 1),
    minFaceSize: parseNumber(values['min-face'], 'min-face', (v) => v >= 0),
    keep: keepOption(values.keep),
    maxPixels: parseNumber(values['max-pixels'], 'max-pixels', (v) => v > 0),
  };
}

export async function recognizerFromArgs(values: Values): Promise<FaceRecognizer> {
  if (values.flip && values['no-flip']) throw new UsageError('--flip and --no-flip contradict each other');
  if (values.fpir !== undefined && values.threshold !== undefined)
    throw new UsageError('give --threshold or --fpir, not both');
  const { keep: _keep, maxPixels, ...detect } = detectOptionsFromArgs(values);
  const wrap = <T>(f: () => T, name: string): T => {
    try {
      return f();
    } catch (err) {
      throw new UsageError(`bad value for --${name}: ${(err as Error).message}`);
    }
  };
  return FaceRecognizer.create({
    model: values.model,
    preprocess: {
      color: oneOf(values.color, 'color', ['rgb', 'bgr'] as const),
      layout: oneOf(values.layout, 'layout', ['nchw', 'nhwc'] as const),
      mean: values.mean === undefined ? undefined : wrap(() => parseMeanStd(values.mean!), 'mean'),
      std: values.std === undefined ? undefined : wrap(() => parseMeanStd(values.std!), 'std'),
    },
    detector: values.detector,
    detect,
    flip: values.flip ? true : values['no-flip'] ? false : undefined,
    threshold: parseNumber(values.threshold, 'threshold', (v) => v >= -1 && v <= 1),
    fpir: parseNumber(values.fpir, 'fpir', (v) => v > 0 && v < 1),
    maxPixels,
    threads: parseNumber(values.threads, 'threads', (v) => Number.isInteger(v) && v > 0),
  });
}
