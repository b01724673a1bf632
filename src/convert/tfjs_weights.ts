/**
 * Reads a TensorFlow.js weights manifest (`NAME-weights_manifest.json` + its `.bin` shards) from a
 * folder into plain float32 arrays (decoded by tfjs_tensors.ts, which holds no Node import).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ArcfaceError, badInput } from '../errors.js';
import { decodeWeightsGroup, type TfjsWeight, type WeightsGroup } from './tfjs_tensors.js';

export { weight, decodeWeightsGroup, type TfjsWeight, type WeightsGroup } from './tfjs_tensors.js';

/** `dir/NAME-weights_manifest.json` and its shards, as name -> float32 tensor. */
export async function readTfjsWeights(dir: string, name: string): Promise<Map<string, TfjsWeight>> {
  const manifestPath = join(dir, `${name}-weights_manifest.json`);
  let groups: WeightsGroup[];
  try {
    groups = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (err) {
    throw new ArcfaceError(
      'NOT_FOUND',
      `${manifestPath}: cannot read the weights manifest (${(err as Error).message})`,
    );
  }
  if (!Array.isArray(groups))
    throw badInput(`${manifestPath}: not a tfjs weights manifest (expected an array)`);
  const out = new Map<string, TfjsWeight>();
  for (const group of groups) {
    const shards = await Promise.all(group.paths.map((p) => readFile(join(dir, p))));
    decodeWeightsGroup(group, shards, manifestPath, out);
  }
  return out;
}
