/**
 * Open-set train / validation split: whole identities go to one side, so validation measures
 * verification on people the network never saw, as LFW does for a model trained on MS1M.
 * Everything is a function of the seed, and the split is saved in the run folder so a resumed or
 * re-evaluated run uses the very same people.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ArcfaceError, badInput } from '../errors.js';
import { rng, shuffle } from '../util/random.js';
import { datasetOf, type FaceDataset } from './dataset.js';

export interface SplitOptions {
  /** Share of the identities held out (rounded, at least 2). */
  valFraction?: number;
  /** How many identities to hold out, or which ones by name. */
  valIdentities?: number | readonly string[];
  seed: number;
}

export interface Split {
  train: FaceDataset;
  val: FaceDataset;
  seed: number;
}

export const SPLIT_FILE = 'split.json';

export function splitByIdentity(ds: FaceDataset, opts: SplitOptions): Split {
  const { valFraction, valIdentities, seed } = opts;
  if (!Number.isInteger(seed)) throw badInput(`split: seed must be an integer, got ${seed}`);
  if ((valFraction === undefined) === (valIdentities === undefined))
    throw badInput('split: give exactly one of valFraction and valIdentities');
  const n = ds.identities.length;
  let held: string[];
  if (Array.isArray(valIdentities)) {
    const known = new Set(ds.identities);
    const unknown = valIdentities.filter((id) => !known.has(id));
    if (unknown.length)
      throw badInput(`split: unknown validation identities: ${unknown.slice(0, 10).join(', ')}`);
    held = [...new Set(valIdentities)];
  } else {
    let k: number;
    if (valFraction !== undefined) {
      if (!(valFraction > 0 && valFraction < 1))
        throw badInput(`split: valFraction must be in (0, 1), got ${valFraction}`);
      k = Math.max(2, Math.round(valFraction * n));
    } else {
      k = valIdentities as number;
      if (!Number.isInteger(k) || k < 1)
        throw badInput(`split: valIdentities must be a positive integer, got ${k}`);
    }
    // Shuffle the sorted names: the held-out people depend on the seed only, not on file order.
    held = shuffle([...ds.identities], rng(seed)).slice(0, k);
  }
  if (n - held.length < 2)
    throw badInput(
      `split: holding out ${held.length} of ${n} identities leaves ${n - held.length} to train on; ` +
        `a classifier needs at least 2 (lower valFraction / valIdentities)`,
    );
  return { ...applyIdentities(ds, held), seed };
}

function applyIdentities(
  ds: FaceDataset,
  valIds: readonly string[],
): { train: FaceDataset; val: FaceDataset } {
  const val = new Set(valIds);
  return {
    train: datasetOf(
      ds.root,
      ds.items.filter((i) => !val.has(i.identity)),
    ),
    val: datasetOf(
      ds.root,
      ds.items.filter((i) => val.has(i.identity)),
    ),
  };
}

export interface SavedSplit {
  seed: number;
  train: string[];
  val: string[];
}

/** Write RUN/split.json (atomically): the identities of each side and the seed. */
export async function writeSplit(runDir: string, split: Split): Promise<string> {
  await mkdir(runDir, { recursive: true });
  const path = join(runDir, SPLIT_FILE);
  const saved: SavedSplit = { seed: split.seed, train: split.train.identities, val: split.val.identities };
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(saved, null, 1) + '\n');
  await rename(tmp, path);
  return path;
}

export async function readSplit(runDir: string): Promise<SavedSplit> {
  const path = join(runDir, SPLIT_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ArcfaceError('NOT_FOUND', `${path}: no such file`);
    throw badInput(`${path}: cannot read (${(err as Error).message})`);
  }
  let s: SavedSplit;
  try {
    s = JSON.parse(text) as SavedSplit;
  } catch (err) {
    throw badInput(`${path}: not JSON (${(err as Error).message})`);
  }
  const names = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (!s || !names(s.train) || !names(s.val))
    throw badInput(`${path}: expected {"seed", "train": [identities], "val": [identities]}`);
  return s;
}

/**
 * The split a run saved, applied to a dataset. Every saved identity must still be there (a
 * changed dataset would silently change the validation people); new identities are refused too.
 */
export function applySplit(ds: FaceDataset, saved: SavedSplit): Split {
  const have = new Set(ds.identities);
  const listed = new Set([...saved.train, ...saved.val]);
  const missing = [...listed].filter((id) => !have.has(id));
  const extra = ds.identities.filter((id) => !listed.has(id));
  if (missing.length || extra.length)
    throw badInput(
      `split.json does not match ${ds.root}: ` +
        [
          missing.length
            ? `${missing.length} saved identities are gone (${missing.slice(0, 5).join(', ')})`
            : '',
          extra.length ? `${extra.length} identities are new (${extra.slice(0, 5).join(', ')})` : '',
        ]
          .filter(Boolean)
          .join('; '),
    );
  return { ...applyIdentities(ds, saved.val), seed: saved.seed };
}

export interface ValidationPair {
  a: string;
  b: string;
  same: boolean;
}

/**
 * Pairs for the 10-fold protocol (src/eval/verification.ts): up to `pairsPerClass` distinct same
 * pairs per identity with 2+ images, and as many different pairs (two random people, one random
 * image each, no pair twice). Same and different alternate, so every fold of the K-fold split
 * (taken in file order) is balanced, as each fold of LFW's pairs.txt is.
 */
export function buildValidationPairs(
  val: FaceDataset,
  opts: { pairsPerClass: number; seed: number },
): ValidationPair[] {
  const { pairsPerClass, seed } = opts;
  if (!Number.isInteger(pairsPerClass) || pairsPerClass < 1)
    throw badInput(`validation pairs: pairsPerClass must be a positive integer, got ${pairsPerClass}`);
  if (val.numClasses < 2)
    throw badInput(`validation pairs: need at least 2 identities for different pairs, got ${val.numClasses}`);
  const random = rng(seed);
  const byId: string[][] = val.identities.map(() => []);
  for (const it of val.items) byId[it.label].push(it.file);

  const same: ValidationPair[] = [];
  for (const files of byId) {
    const n = files.length;
    const all = (n * (n - 1)) / 2;
    if (all === 0) continue;
    const take = Math.min(pairsPerClass, all);
    // Index the n(n-1)/2 pairs and draw `take` distinct ones (a partial shuffle of the indices).
    const picks = shuffle(
      Array.from({ length: all }, (_, k) => k),
      random,
    ).slice(0, take);
    for (const k of picks.sort((x, y) => x - y)) {
      const [i, j] = pairOf(k, n);
      same.push({ a: files[i], b: files[j], same: true });
    }
  }
  if (same.length === 0)
    throw badInput('validation pairs: no validation identity has 2 or more images, so there is no same pair');

  const diff: ValidationPair[] = [];
  const seen = new Set<string>();
  const possible = diffPairCount(byId);
  const want = Math.min(same.length, possible);
  while (diff.length < want) {
    const p = Math.floor(random() * byId.length);
    let q = Math.floor(random() * (byId.length - 1));
    if (q >= p) q++;
    const a = byId[p][Math.floor(random() * byId[p].length)];
    const b = byId[q][Math.floor(random() * byId[q].length)];
    const key = a < b ? `${a}\0${b}` : `${b}\0${a}`;
    if (seen.has(key)) continue;
    seen.add(key);
    diff.push({ a, b, same: false });
  }
  shuffle(same, random);
  const out: ValidationPair[] = [];
  for (let k = 0; k < Math.max(same.length, diff.length); k++) {
    if (k < same.length) out.push(same[k]);
    if (k < diff.length) out.push(diff[k]);
  }
  return out;
}

/** The k-th pair (i < j) of n items in row order. */
function pairOf(k: number, n: number): [number, number] {
  let i = 0;
  while (k >= n - 1 - i) {
    k -= n - 1 - i;
    i++;
  }
  return [i, i + 1 + k];
}

function diffPairCount(byId: string[][]): number {
  let total = 0;
  let sum = 0;
  for (const f of byId) {
    total += sum * f.length;
    sum += f.length;
  }
  return total;
}
