/**
 * The clustering flags `arcface cluster` and `arcface eval clustering` share, and how they become
 * ClusterOptions: the algorithm, min faces, and the link threshold as a FAR read from the model's
 * table (one setting, one meaning across models) or a raw cosine for a model without a table.
 */
import {
  ALGORITHMS,
  DEFAULT_ALGORITHM,
  DEFAULT_LINK_FAR,
  DEFAULT_MIN_FACES,
  cosineScale,
  farScale,
  type Algorithm,
  type ClusterOptions,
} from '../cluster/index.js';
import { badInput } from '../errors.js';
import type { FaceRecognizer } from '../pipeline/recognizer.js';
import { UsageError, parseNumber } from './command.js';

export const clusterFlags = {
  algorithm: { type: 'string' },
  'min-faces': { type: 'string' },
  far: { type: 'string' },
  cosine: { type: 'string' },
  k: { type: 'string' },
} as const;

export const clusterFlagsUsage = `  --algorithm A        ${ALGORITHMS.join(', ')} (default ${DEFAULT_ALGORITHM})
  --min-faces N        a person needs N faces, fewer are left as singletons (default ${DEFAULT_MIN_FACES})
  --far F              link two faces when strangers score that high at most this often, read from
                       the model's FAR table (default ${DEFAULT_LINK_FAR})
  --cosine C           link at a fixed cosine instead (for a model with no FAR table)
  --k N                neighbours looked at per face (default 32)`;

type ClusterFlagValues = { [K in keyof typeof clusterFlags]?: string };

/** The flags checked before any model loads; `scale` needs the model's FAR table. */
export function clusterFlagValues(values: ClusterFlagValues): {
  algorithm: Algorithm;
  minFaces: number;
  k?: number;
  scale: (rec: FaceRecognizer) => ClusterOptions['scale'];
} {
  const algorithm = (values.algorithm ?? DEFAULT_ALGORITHM) as Algorithm;
  if (!ALGORITHMS.includes(algorithm))
    throw new UsageError(`bad value for --algorithm: "${values.algorithm}" (${ALGORITHMS.join(', ')})`);
  const minFaces =
    parseNumber(values['min-faces'], 'min-faces', (v) => Number.isInteger(v) && v >= 1) ?? DEFAULT_MIN_FACES;
  const far = parseNumber(values.far, 'far', (v) => v > 0 && v < 1);
  const cosine = parseNumber(values.cosine, 'cosine', (v) => v >= -1 && v <= 1);
  if (far !== undefined && cosine !== undefined) throw new UsageError('give --far or --cosine, not both');
  const k = parseNumber(values.k, 'k', (v) => Number.isInteger(v) && v >= 1);
  const scale = (rec: FaceRecognizer) => {
    if (cosine !== undefined) return cosineScale(cosine);
    const table = rec.farTable;
    if (!table)
      throw badInput(`model ${rec.manifest.name} has no FAR table: give --cosine C (a fixed link threshold)`);
    return farScale(table, far ?? DEFAULT_LINK_FAR);
  };
  return { algorithm, minFaces, k, scale };
}
