/**
 * `arcface prepare`: detect and align every photo of a labelled tree into ArcFace crops,
 * OUT/<identity>/<name>.png, the input of `openFaceDataset`.
 *
 * - PNG, not JPEG: crops are small (112x112) and decode fast either way, and PNG adds no second
 *   round of compression artefacts on top of the source JPEG's; `arcface align` writes PNG too.
 * - Resumable: a crop that exists is not redone (no decode, no detection), and the images that gave
 *   no crop are listed in OUT/prepare-report.json, which a rerun reads and skips unless
 *   `retryFailed`. The report is rewritten every few dozen images, so an interrupted run loses
 *   little.
 * - Every file goes through temp + rename: an interrupted run never leaves half a crop that a
 *   rerun would then take for done.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { ArcfaceError, badInput } from '../errors.js';
import { readLabelledImages } from '../eval/labels.js';
import { alignFace } from '../face/align.js';
import { finalizeFaces } from '../face/detectors/postprocess.js';
import type { DetectOptions, Detector } from '../face/detectors/types.js';
import { decodeImage, encodeImage } from '../image/decode.js';
import type { Alignment } from '../models/manifest.js';

export const REPORT_FILE = 'prepare-report.json';
export const SUMMARY_FILE = 'prepare-summary.txt';

export interface PrepareOptions {
  raw: string;
  out: string;
  /** `file,identity` CSV with paths relative to `raw`, instead of identity folders. */
  labels?: string;
  detector: Detector;
  /** Crop side (default 112, or the dlib chip's 150 with a dlib alignment). */
  size?: number;
  /** The crop a model was trained on (a manifest's `alignment`; default the ArcFace template). */
  alignment?: Alignment;
  /** Which face of a photo with several: largest (default) or center (InsightFace's max_num=1 rule). */
  keep?: 'largest' | 'center';
  detect?: Pick<DetectOptions, 'scoreThreshold' | 'nmsIou' | 'minFaceSize'>;
  maxPixels?: number;
  /** Try again the images a previous run found no face in or could not read. */
  retryFailed?: boolean;
  /** Called after each image with the counts so far. */
  onImage?: (done: number, total: number) => void;
}

export interface PrepareReport {
  raw: string;
  out: string;
  size: number;
  /** 'arcface', or 'dlib' with its padding. */
  alignment: Alignment;
  keep: 'largest' | 'center';
  detector: string;
  /** Images listed under RAW, and identities among them. */
  images: number;
  identities: number;
  /** Crops present in OUT for those images after this run. */
  crops: number;
  /** Paths relative to RAW. */
  noFace: string[];
  multipleFaces: { file: string; faces: number; kept: number }[];
  unreadable: { file: string; reason: string }[];
  /** This run alone. */
  run: { detected: number; written: number; existing: number; skippedFailed: number; seconds: number };
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The crop path of each image: OUT/<identity>/<path under the identity folder, '/' -> '_'>.png. */
export function cropNames(
  raw: string,
  out: string,
  items: readonly { file: string; identity: string }[],
): string[] {
  const names = items.map(({ file, identity }) => {
    if (identity === '.' || identity === '..' || /[/\\\0]/.test(identity))
      throw badInput(`identity '${identity}' (for ${file}) cannot be a folder name`);
    const rel = relative(join(raw, identity), file);
    const inside = !rel.startsWith('..') && !rel.startsWith(sep);
    const stem = (inside ? rel : basename(file)).slice(0, -extname(file).length || undefined);
    return { identity, stem: stem.split(/[/\\]/).join('_'), ext: extname(file).slice(1) };
  });
  // Two sources with the same stem (a.jpg and a.png) keep their extension in the name.
  const count = new Map<string, number>();
  for (const n of names)
    count.set(`${n.identity}/${n.stem}`, (count.get(`${n.identity}/${n.stem}`) ?? 0) + 1);
  const paths = names.map((n) =>
    join(out, n.identity, `${n.stem}${count.get(`${n.identity}/${n.stem}`)! > 1 ? `_${n.ext}` : ''}.png`),
  );
  const seen = new Set<string>();
  paths.forEach((p, k) => {
    if (seen.has(p)) throw badInput(`${items[k].file}: its crop name ${p} collides with another image's`);
    seen.add(p);
  });
  return paths;
}

async function atomicWrite(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function previousReport(out: string): Promise<PrepareReport | undefined> {
  const path = join(out, REPORT_FILE);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as PrepareReport;
  } catch {
    return undefined; // a damaged report only costs re-detecting the failures
  }
}

export async function prepareDataset(opts: PrepareOptions): Promise<PrepareReport> {
  const { raw, out, detector } = opts;
  const alignment: Alignment = opts.alignment ?? { template: 'arcface' };
  const size = opts.size ?? (alignment.template === 'dlib' ? 150 : 112);
  const keep = opts.keep ?? 'largest';
  if (!Number.isInteger(size) || size <= 0)
    throw badInput(`prepare: --size must be a positive integer, got ${size}`);
  if (keep !== 'largest' && keep !== 'center')
    throw badInput(`prepare: --keep must be largest or center, got '${String(keep)}'`);
  const rawAbs = resolve(raw);
  const outAbs = resolve(out);
  if (outAbs === rawAbs || outAbs.startsWith(rawAbs + sep))
    throw badInput(`prepare: OUT_DIR ${out} is inside RAW_DIR ${raw}; its crops would be read as photos`);
  const items = await readLabelledImages(raw, opts.labels);
  const crops = cropNames(raw, out, items);
  const rel = (f: string) => relative(raw, f).split(sep).join('/');

  const before = await previousReport(out);
  // Crops of two templates or sizes in one folder would train on a mix: refuse before writing any.
  if (
    before &&
    (before.size !== size ||
      JSON.stringify(before.alignment ?? { template: 'arcface' }) !== JSON.stringify(alignment))
  )
    throw badInput(
      `prepare: ${out} holds ${before.size}x${before.size} ${(before.alignment ?? { template: 'arcface' }).template} crops; ` +
        `this run makes ${size}x${size} ${alignment.template} ones. Use another OUT_DIR.`,
    );
  const prev = opts.retryFailed ? undefined : before;
  const failedBefore = new Set([...(prev?.noFace ?? []), ...(prev?.unreadable ?? []).map((u) => u.file)]);
  const prevMulti = new Map((prev?.multipleFaces ?? []).map((m) => [m.file, m]));
  const prevUnreadable = new Map((prev?.unreadable ?? []).map((u) => [u.file, u.reason]));

  const report: PrepareReport = {
    raw,
    out,
    size,
    alignment,
    keep,
    detector: `${detector.kind} (${detector.name})`,
    images: items.length,
    identities: new Set(items.map((i) => i.identity)).size,
    crops: 0,
    noFace: [],
    multipleFaces: [],
    unreadable: [],
    run: { detected: 0, written: 0, existing: 0, skippedFailed: 0, seconds: 0 },
  };
  const start = Date.now();
  const save = async () => {
    report.run.seconds = (Date.now() - start) / 1000;
    await atomicWrite(join(out, REPORT_FILE), JSON.stringify(report, null, 1) + '\n');
  };
  await mkdir(out, { recursive: true });
  const pick = { scoreThreshold: 0, nmsIou: 1, minFaceSize: 0, keep, maxFaces: Infinity } as const;
  const made = new Set<string>();

  for (const [k, { file }] of items.entries()) {
    const name = rel(file);
    const crop = crops[k];
    if (existsSync(crop)) {
      report.run.existing++;
      report.crops++;
      const m = prevMulti.get(name);
      if (m) report.multipleFaces.push(m);
    } else if (failedBefore.has(name)) {
      report.run.skippedFailed++;
      const reason = prevUnreadable.get(name);
      if (reason !== undefined) report.unreadable.push({ file: name, reason });
      else report.noFace.push(name);
    } else {
      try {
        const img = await decodeImage(file, { maxPixels: opts.maxPixels });
        report.run.detected++;
        const faces = await detector.detect(img, { ...opts.detect, keep: 'all' });
        if (faces.length === 0) report.noFace.push(name);
        else {
          // The --keep rule of the detectors (finalizeFaces), applied to all the faces found.
          const [chosen] = finalizeFaces(faces, img, pick);
          if (faces.length > 1)
            report.multipleFaces.push({ file: name, faces: faces.length, kept: faces.indexOf(chosen) });
          // The whole detection: a dlib chip is made from the 68 points when the detector gives them,
          // as the recognition pipeline makes it for the model.
          const { image } = alignFace(img, chosen, { size, alignment });
          const dir = dirname(crop);
          if (!made.has(dir)) await mkdir(dir, { recursive: true });
          made.add(dir);
          await atomicWrite(crop, await encodeImage(image, 'png'));
          report.run.written++;
          report.crops++;
        }
      } catch (err) {
        if (!(err instanceof ArcfaceError)) throw err; // a bug or a full disk, not a bad photo
        report.unreadable.push({ file: name, reason: err.message });
      }
    }
    opts.onImage?.(k + 1, items.length);
    if ((k + 1) % 50 === 0) await save();
  }
  report.noFace.sort(byCodePoint);
  await save();
  await atomicWrite(join(out, SUMMARY_FILE), summarize(report));
  return report;
}

/** The human summary printed at the end and written to OUT/prepare-summary.txt. */
export function summarize(r: PrepareReport): string {
  const lines = [
    `prepared ${r.raw} -> ${r.out} (${r.size}x${r.size} ${r.alignment.template === 'dlib' ? 'dlib chips' : 'ArcFace crops'} PNG, keep ${r.keep}, detector ${r.detector})`,
    `${r.images} images of ${r.identities} identities: ${r.crops} crops, ${r.noFace.length} without a face, ` +
      `${r.unreadable.length} unreadable, ${r.multipleFaces.length} with several faces`,
    `this run: ${r.run.written} crops written, ${r.run.existing} already there, ` +
      `${r.run.skippedFailed} earlier failures skipped, ${r.run.detected} images detected in ${r.run.seconds.toFixed(1)} s`,
  ];
  const list = (title: string, xs: string[]) => {
    if (xs.length) lines.push(`${title}:`, ...xs.map((x) => `  ${x}`));
  };
  list('no face', r.noFace);
  list(
    'unreadable',
    r.unreadable.map((u) => u.reason),
  );
  list(
    'several faces',
    r.multipleFaces.map((m) => `${m.file}: ${m.faces} faces, kept #${m.kept}`),
  );
  return lines.join('\n') + '\n';
}
