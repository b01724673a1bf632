/**
 * The CelebA subset in ../shared (4,809 in-the-wild photos of 298 identities, research only): read
 * once, split by identity with a seed into a calibration half (tools/calibrate_zoo.ts: thresholds
 * and FAR tables) and a held-out half (bench/celeba_open_set.ts: the numbers a user is told), so no
 * photo and no person a threshold was read from is ever scored against it. Embedding goes through
 * FaceRecognizer.crop/embedCrops, as `arcface embed` does; a photo without a face is embedded from
 * a centre crop (InsightFace's evaluation convention) and counted.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Progress } from '../src/cli/progress.js';
import { readLabelledImages, type LabelledImage } from '../src/eval/labels.js';
import type { Face } from '../src/face/types.js';
import type { RgbImage } from '../src/image/types.js';
import type { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { rng, shuffle } from '../src/util/random.js';
import { SHARED } from './shared_models.js';

export const CELEBA = join(SHARED, 'data/train/celeba-subset');

export interface CelebaSplit {
  calibration: LabelledImage[];
  heldOut: LabelledImage[];
}

/** null when ../shared is absent. Identities are shuffled with `seed`; the first half calibrates. */
export async function celebaSplit(seed = 1): Promise<CelebaSplit | null> {
  const csv = join(CELEBA, 'identity.csv');
  if (!existsSync(csv)) return null;
  const all = await readLabelledImages(CELEBA, csv);
  const ids = [...new Set(all.map((x) => x.identity))].sort(
    (a, b) => Number(a) - Number(b) || a.localeCompare(b),
  );
  shuffle(ids, rng(seed));
  const calib = new Set(ids.slice(0, Math.ceil(ids.length / 2)));
  return {
    calibration: all.filter((x) => calib.has(x.identity)),
    heldOut: all.filter((x) => !calib.has(x.identity)),
  };
}

export interface Embedded {
  /** By file path, in the order given. */
  embeddings: Map<string, Float32Array>;
  /** Photos embedded from a centre crop because no face was found. */
  noFace: string[];
  failed: string[];
}

/** Detect + align each photo once, two at a time (overlapping decode and inference). */
export async function cropPhotos(
  rec: FaceRecognizer,
  files: string[],
  label: string,
  quiet = false,
): Promise<{ crops: Map<string, RgbImage>; faces: Map<string, Face>; noFace: string[]; failed: string[] }> {
  const crops = new Map<string, RgbImage>();
  /** The detected face of each photo that had one (bench/quality_erc.ts reads its quality). */
  const faces = new Map<string, Face>();
  const noFace: string[] = [];
  const failed: string[] = [];
  const bar = new Progress({ label: `${label}: detect+align`, total: files.length, unit: 'img', quiet });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const file = files[next++]!;
      try {
        const c = await rec.crop(file, { noFace: 'center-crop' });
        if (c.crop === 'center-crop') noFace.push(file);
        crops.set(file, c.image);
        if (c.face) faces.set(file, c.face);
      } catch (err) {
        failed.push(`${file}: ${(err as Error).message}`);
      }
      bar.tick(1, noFace.length ? `${noFace.length} no face` : '');
    }
  };
  await Promise.all([worker(), worker()]);
  bar.finish();
  return { crops, faces, noFace, failed };
}

/** Embeds crops in batches of 32, keyed as given. */
export async function embedCropMap(
  rec: FaceRecognizer,
  crops: Map<string, RgbImage>,
  label: string,
  quiet = false,
): Promise<Map<string, Float32Array>> {
  const keys = [...crops.keys()];
  const out = new Map<string, Float32Array>();
  const bar = new Progress({ label, total: keys.length, unit: 'img', quiet });
  for (let s = 0; s < keys.length; s += 32) {
    const chunk = keys.slice(s, s + 32);
    const embs = await rec.embedCrops(chunk.map((f) => crops.get(f)!));
    chunk.forEach((f, i) => out.set(f, embs[i]!));
    bar.tick(chunk.length);
  }
  bar.finish();
  return out;
}

/** Detect, align and embed each photo. */
export async function embedPhotos(
  rec: FaceRecognizer,
  files: string[],
  label: string,
  quiet = false,
): Promise<Embedded> {
  const { crops, noFace, failed } = await cropPhotos(rec, files, label, quiet);
  return { embeddings: await embedCropMap(rec, crops, `${label}: embed`, quiet), noFace, failed };
}

/**
 * Every genuine pair with as many seeded impostor pairs, shuffled together so each of the 10 folds
 * of the verification protocol holds both classes: the 1:1 question asked as often either way.
 */
export function balancedPairs(
  genuine: Float32Array,
  impostor: Float32Array,
  seed: number,
): { scores: number[]; same: boolean[] } {
  const r = rng(seed);
  const pick = shuffle(Array.from(impostor), r).slice(0, genuine.length);
  const all = [...genuine, ...pick];
  const order = shuffle(
    all.map((_, i) => i),
    r,
  );
  return { scores: order.map((i) => all[i]!), same: order.map((i) => i < genuine.length) };
}

/** Embeds one half's photos and scores all its pairs: what the calibration and the benchmark share. */
export async function embedAndScore(
  rec: FaceRecognizer,
  items: LabelledImage[],
  quiet = false,
): Promise<Embedded & { genuine: Float32Array; impostor: Float32Array }> {
  const e = await embedPhotos(
    rec,
    items.map((x) => x.file),
    rec.manifest.name,
    quiet,
  );
  for (const f of e.failed) console.error(`skipped ${f}`);
  return { ...e, genuine: genuineScores(items, e.embeddings), impostor: impostorScores(items, e.embeddings) };
}

/** Cosines of every different-identity pair among the embedded photos (the impostor distribution). */
export function impostorScores(items: LabelledImage[], embeddings: Map<string, Float32Array>): Float32Array {
  const rows = items.filter((x) => embeddings.has(x.file));
  const n = rows.length;
  let count = 0;
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) if (rows[i]!.identity !== rows[j]!.identity) count++;
  const out = new Float32Array(count);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const a = embeddings.get(rows[i]!.file)!;
    for (let j = i + 1; j < n; j++) {
      if (rows[i]!.identity === rows[j]!.identity) continue;
      const b = embeddings.get(rows[j]!.file)!;
      let s = 0;
      for (let d = 0; d < a.length; d++) s += a[d]! * b[d]!;
      out[k++] = s;
    }
  }
  return out;
}

/** Cosines of every same-identity pair. */
export function genuineScores(items: LabelledImage[], embeddings: Map<string, Float32Array>): Float32Array {
  const byId = new Map<string, Float32Array[]>();
  for (const x of items) {
    const e = embeddings.get(x.file);
    if (!e) continue;
    if (!byId.has(x.identity)) byId.set(x.identity, []);
    byId.get(x.identity)!.push(e);
  }
  const out: number[] = [];
  for (const embs of byId.values())
    for (let i = 0; i < embs.length; i++)
      for (let j = i + 1; j < embs.length; j++) {
        let s = 0;
        for (let d = 0; d < embs[i]!.length; d++) s += embs[i]![d]! * embs[j]![d]!;
        out.push(s);
      }
  return Float32Array.from(out);
}
