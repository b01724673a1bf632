/**
 * The evaluation protocols run end to end: embed every distinct image of a pairs list (or a .bin
 * set) once, score the pairs by cosine, and hand the scores to eval/. Images with no detected face
 * fall back to a centre crop, as InsightFace's evaluation does, and are counted; unreadable images
 * drop their pairs, which are counted too.
 */
import { decodeImage } from '../image/decode.js';
import type { Pair } from '../eval/pairs.js';
import { embedFiles, type BatchItem } from './batch.js';
import type { FaceRecognizer } from './recognizer.js';
import { cosine } from './similarity.js';

export interface PairScores {
  scores: number[];
  same: boolean[];
  /** Images embedded from a centre crop because no face was found. */
  noFace: string[];
  /** Pairs left out because an image could not be read, with the reasons. */
  skippedPairs: number;
  failures: { file: string; error: string }[];
  images: number;
}

export interface PairRunOptions {
  aligned?: boolean;
  onProgress?: (done: number, total: number, item: BatchItem) => void;
}

export async function scorePairs(
  rec: FaceRecognizer,
  pairs: readonly Pair[],
  opts: PairRunOptions = {},
): Promise<PairScores> {
  const files = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
  const items = await embedFiles(rec, files, {
    aligned: opts.aligned,
    noFace: 'center-crop',
    onProgress: opts.onProgress,
  });
  const byFile = new Map(items.map((i) => [i.file, i]));
  const scores: number[] = [];
  const same: boolean[] = [];
  let skippedPairs = 0;
  for (const p of pairs) {
    const a = byFile.get(p.a)!.embedding;
    const b = byFile.get(p.b)!.embedding;
    if (!a || !b) {
      skippedPairs++;
      continue;
    }
    scores.push(cosine(a, b));
    same.push(p.same);
  }
  return {
    scores,
    same,
    noFace: items.filter((i) => i.crop === 'center-crop').map((i) => i.file),
    skippedPairs,
    failures: items.filter((i) => i.error).map((i) => ({ file: i.file, error: i.error! })),
    images: files.length,
  };
}

/** InsightFace .bin sets: images are aligned 112x112 crops, pair i = images 2i and 2i+1. */
export async function scoreBin(
  rec: FaceRecognizer,
  bin: { images: Uint8Array[]; issame: boolean[] },
  opts: { onProgress?: (done: number, total: number) => void; batchSize?: number } = {},
): Promise<PairScores> {
  const embs: (Float32Array | undefined)[] = new Array(bin.images.length);
  const failures: { file: string; error: string }[] = [];
  const batch = opts.batchSize ?? 64;
  for (let s = 0; s < bin.images.length; s += batch) {
    const idx: number[] = [];
    const crops = [];
    for (let i = s; i < Math.min(bin.images.length, s + batch); i++) {
      try {
        const c = await rec.crop(await decodeImage(bin.images[i]!, { name: `image ${i} of the .bin` }), {
          aligned: true,
        });
        crops.push(c.image);
        idx.push(i);
      } catch (err) {
        failures.push({ file: `#${i}`, error: (err as Error).message });
      }
    }
    const out = await rec.embedCrops(crops);
    idx.forEach((i, k) => (embs[i] = out[k]));
    opts.onProgress?.(Math.min(bin.images.length, s + batch), bin.images.length);
  }
  const scores: number[] = [];
  const same: boolean[] = [];
  let skippedPairs = 0;
  bin.issame.forEach((isSame, p) => {
    const a = embs[2 * p];
    const b = embs[2 * p + 1];
    if (!a || !b) skippedPairs++;
    else {
      scores.push(cosine(a, b));
      same.push(isSame);
    }
  });
  return { scores, same, noFace: [], skippedPairs, failures, images: bin.images.length };
}
