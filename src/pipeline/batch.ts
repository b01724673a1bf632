/**
 * Embedding folders of thousands of images: crops are made a couple of files at a time (decode
 * and detection overlap), embedded in batches, and a file that cannot be read is recorded and
 * skipped so the batch goes on with the rest.
 */
import type { Face } from '../face/types.js';
import type { RgbImage } from '../image/types.js';
import type { EmbedOptions, FaceRecognizer } from './recognizer.js';

export interface BatchItem {
  file: string;
  embedding?: Float32Array;
  crop?: 'aligned' | 'detected' | 'center-crop';
  face?: Face;
  width?: number;
  height?: number;
  /** Why this file has no embedding (unreadable, no face, ...). */
  error?: string;
}

export interface BatchOptions extends EmbedOptions {
  batchSize?: number;
  /** Files cropped at once (decode and detection overlap). */
  concurrency?: number;
  onProgress?: (done: number, total: number, item: BatchItem) => void;
}

export async function embedFiles(
  rec: FaceRecognizer,
  files: readonly string[],
  opts: BatchOptions = {},
): Promise<BatchItem[]> {
  const batchSize = opts.batchSize ?? 32;
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  const items: BatchItem[] = files.map((file) => ({ file }));
  const pending: { item: BatchItem; image: RgbImage }[] = [];
  let done = 0;
  const report = (item: BatchItem): void => opts.onProgress?.(++done, files.length, item);

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const chunk = pending.splice(0, pending.length);
    try {
      const embs = await rec.embedCrops(chunk.map((p) => p.image));
      chunk.forEach((p, i) => (p.item.embedding = embs[i]));
    } catch (err) {
      for (const p of chunk) p.item.error = (err as Error).message;
    }
    for (const p of chunk) report(p.item);
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const item = items[next++]!;
      try {
        const c = await rec.crop(item.file, opts);
        Object.assign(item, { crop: c.crop, face: c.face, width: c.width, height: c.height });
        pending.push({ item, image: c.image });
        if (pending.length >= batchSize) await flush();
      } catch (err) {
        item.error = (err as Error).message;
        report(item);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await flush();
  return items;
}

/** The lines a CLI prints at the end for the files it skipped. */
export function failureSummary(items: readonly BatchItem[]): string[] {
  const failed = items.filter((i) => i.error !== undefined);
  if (failed.length === 0) return [];
  return [`${failed.length} file(s) skipped:`, ...failed.map((i) => `  ${i.error}`)];
}
