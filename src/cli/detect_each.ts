/**
 * The loop `detect` and `align` share: open the detector (saying which, and its terms), decode and
 * detect each file with a progress bar, go on past unreadable files, and turn the outcome into the
 * exit status (0 all had a face, 1 some had none, 2 some could not be read).
 */
import type { DetectOptions } from '../face/detectors/types.js';
import type { Face } from '../face/types.js';
import { decodeImage } from '../image/decode.js';
import type { RgbImage } from '../image/types.js';
import { openDetector } from '../pipeline/detector_path.js';
import { Progress } from './progress.js';

export interface DetectEachOptions {
  label: string;
  detector?: string;
  detect: DetectOptions;
  maxPixels?: number;
  /** Print the detector notice (off under --json, where stderr stays for errors). */
  notice: boolean;
  /** What to say above the list of files that gave nothing. */
  failedTitle: string;
  /** List images without a face with the unreadable ones (align: they gave no crop). */
  listNoFace: boolean;
}

export async function detectEach(
  files: readonly string[],
  opts: DetectEachOptions,
  onImage: (file: string, img: RgbImage, faces: Face[]) => Promise<void>,
): Promise<number> {
  const { detector, notice } = await openDetector(opts.detector);
  if (opts.notice) process.stderr.write(`${notice}\n`);
  const quiet = files.length < 20;
  const progress = new Progress({ label: opts.label, total: files.length, unit: 'img', quiet });
  const unreadable: string[] = [];
  const noFace: string[] = [];
  try {
    for (const file of files) {
      try {
        const img = await decodeImage(file, { maxPixels: opts.maxPixels });
        const faces = await detector.detect(img, opts.detect);
        if (faces.length === 0) noFace.push(`${file}: no face found`);
        await onImage(file, img, faces);
      } catch (err) {
        unreadable.push((err as Error).message);
      }
      progress.tick();
    }
  } finally {
    await detector.dispose();
  }
  if (!quiet) progress.finish();
  const listed = opts.listNoFace ? [...unreadable, ...noFace] : unreadable;
  if (listed.length)
    process.stderr.write(`${listed.length} ${opts.failedTitle}:\n  ${listed.join('\n  ')}\n`);
  return unreadable.length ? 2 : noFace.length ? 1 : 0;
}
