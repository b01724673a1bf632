/**
 * A 'tfjs'-format model (zoo or user manifest) as ONNX bytes, built in memory: the weights
 * manifest named by the model's `file`, read with its shards, then the converter its `architecture`
 * names. Nothing is written to disk; the Embedder opens the bytes directly.
 */
import { basename, dirname } from 'node:path';
import { badInput } from '../errors.js';
import type { Architecture } from '../models/manifest.js';
import { dlibResnetToOnnx } from './dlib_resnet.js';
import { readTfjsWeights, type TfjsWeight } from './tfjs_weights.js';

const SUFFIX = '-weights_manifest.json';

const CONVERTERS: Record<Architecture, (weights: Map<string, TfjsWeight>) => Uint8Array> = {
  'dlib-resnet-v1': dlibResnetToOnnx,
};

/** `manifestPath`: `DIR/NAME-weights_manifest.json`, the tfjs weights of `architecture`. */
export async function tfjsModelToOnnx(manifestPath: string, architecture: Architecture): Promise<Uint8Array> {
  const file = basename(manifestPath);
  if (!file.endsWith(SUFFIX) || file.length === SUFFIX.length)
    throw badInput(`${manifestPath}: a tfjs weights manifest must be named NAME${SUFFIX}`);
  const convert = CONVERTERS[architecture];
  if (!convert) throw badInput(`${manifestPath}: no converter for architecture "${architecture}"`);
  return convert(await readTfjsWeights(dirname(manifestPath), file.slice(0, -SUFFIX.length)));
}
