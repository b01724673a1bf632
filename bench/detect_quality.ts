/**
 * Detector quality on real photos (../shared), two tables:
 *
 * zoo: every detector kind on CompreFace's embedding-calculator/sample_images: 18 photos, 46 faces
 * annotated by their nose point (annotations.py, read at run time). A detection matches an
 * annotated nose lying inside its box (one-to-one, greedy by distance to the detected nose
 * landmark); recall = matched / annotated, false positives = unmatched detections. The annotations
 * hold points, not boxes, so this is count-and-containment matching, not an IoU-based AP.
 * ms/image is detect() alone (letterbox resize + inference + decoding), decode excluded, after one
 * warm-up image, at each detector's default thresholds.
 *
 * faceapi: configurations of face-api's nets on onnxruntime (src/face/detectors/faceapi_onnx.ts)
 * and face-api's own tfjs path as the baseline, photo-major (every configuration sees a photo
 * before the next is decoded, so load from other processes hits all alike): recall on the
 * annotated set, the share of CelebA photos (../shared/data/train/celeba-subset, one labelled
 * person in each) with a face found, photos without a face among deepface's, face_recognition's
 * and openface's examples, landmark agreement with YuNet 2023mar (median over faces and the five
 * points of |point - YuNet's point| / YuNet's inter-ocular distance, over YuNet's faces that the
 * configuration also found: nose inside the box) on CelebA and the example photos, and ms/photo
 * on the CelebA photos (detect() alone, decode excluded).
 *
 * landmarks: landmark crops for the default's boxes (face-api's crop, the photo around the box,
 * a second pass re-centred on the first points at several sizes), agreement with YuNet as above.
 *
 * Run: node --import tsx bench/detect_quality.ts [--shared ../shared] [--only zoo|faceapi|landmarks]
 *        [--celeba N|all] [--lm-celeba N] [--variants name,name] [--extra JSON] [--md FILE]
 * --celeba: N photos spread evenly over the 4,809 (default 600; --lm-celeba for the landmark table,
 * default 1200); --variants: a subset by name; --extra: more configurations, [[name, options], ...].
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createDetector,
  FaceApiDetector,
  type Detector,
  type DetectorKind,
} from '../src/face/detectors/index.js';
import { matchToPoints, median, parseNoseAnnotations } from '../src/face/detectors/evaluate.js';
import {
  faceApiSquare,
  fiveFrom68,
  landmarks68,
  squareOfBox,
} from '../src/face/detectors/faceapi_landmarks.js';
import { FaceApiNets } from '../src/face/detectors/faceapi_nets.js';
import {
  FaceApiOnnxDetector,
  squareOfLandmarks,
  type FaceApiOnnxOptions,
} from '../src/face/detectors/faceapi_onnx.js';
import type { Face, Point } from '../src/face/types.js';
import { decodeImage } from '../src/image/decode.js';
import type { RgbImage } from '../src/image/types.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const SHARED = arg('shared') ?? fileURLToPath(new URL('../../shared', import.meta.url));
const FACES = join(SHARED, 'data/faces');
const IMAGES = join(FACES, 'compreface/embedding-calculator/sample_images');
const CELEBA = join(SHARED, 'data/train/celeba-subset/Celeb');
const MODELS = join(SHARED, 'models/detectors');
const YUNET = join(MODELS, 'yunet/face_detection_yunet_2023mar.onnx');

const DETECTORS: [DetectorKind, string | undefined][] = [
  ['faceapi', undefined],
  ['yunet', 'yunet/face_detection_yunet_2023mar.onnx'],
  ['yunet', 'yunet/face_detection_yunet_2026may.onnx'],
  ['scrfd', 'scrfd/scrfd_500m.onnx'],
  ['scrfd', 'scrfd/scrfd_2.5g.onnx'],
  ['retinaface', 'retinaface/retinaface_mnet025.onnx'],
];

/** face-api configurations compared; 'tfjs' is face-api's own path (the old default). */
const SSD = { net: 'ssd' } as const;
/** One landmark pass on face-api's crop (face-api's own), or a second on a re-centred square. */
const LM1 = { landmarkPasses: 1 } as const;
const LM2 = { landmarkPasses: 2, refine: { side: 1.5, dy: 0 } } as const;
const VARIANTS: [string, FaceApiOnnxOptions | 'tfjs'][] = [
  ['tfjs ssd 0.5 (old default)', 'tfjs'],
  ['ssd 0.5', { passes: [SSD], scoreThreshold: 0.5, ...LM1 }],
  ['ssd 0.4', { passes: [SSD], scoreThreshold: 0.4, ...LM1 }],
  ['ssd 0.3', { passes: [SSD], scoreThreshold: 0.3, ...LM1 }],
  ['ssd 0.2', { passes: [SSD], scoreThreshold: 0.2, ...LM1 }],
  [
    'ssd 0.3, photos > 1280 px downscaled',
    { passes: [SSD], scoreThreshold: 0.3, detectMaxSide: 1280, ...LM1 },
  ],
  ['ssd 0.3, antialiased canvas', { passes: [SSD], scoreThreshold: 0.3, canvasSamples: 4, ...LM1 }],
  ['ssd 0.3 pad 1.5', { passes: [{ net: 'ssd', pad: 1.5 }], scoreThreshold: 0.3, ...LM1 }],
  ['ssd 0.3 > pad 1.5', { passes: [SSD, { net: 'ssd', pad: 1.5 }], scoreThreshold: 0.3, ...LM1 }],
  ['ssd 0.3 > pad 2', { passes: [SSD, { net: 'ssd', pad: 2 }], scoreThreshold: 0.3, ...LM1 }],
  ['ssd 0.3 > tiny 320', { passes: [SSD, { net: 'tiny', size: 320 }], scoreThreshold: 0.3, ...LM1 }],
  ['ssd 0.3 + lm x2', { passes: [SSD], scoreThreshold: 0.3, ...LM2 }],
  [
    'ssd 0.3 > pad 2 + lm x2 (default)',
    { passes: [SSD, { net: 'ssd', pad: 2 }], scoreThreshold: 0.3, ...LM2 },
  ],
  ['tiny 416 0.5', { passes: [{ net: 'tiny', size: 416 }], scoreThreshold: 0.5, ...LM1 }],
  ['tiny 608 0.3', { passes: [{ net: 'tiny', size: 608 }], scoreThreshold: 0.3, ...LM1 }],
  ['tiny 416 0.3', { passes: [{ net: 'tiny', size: 416 }], scoreThreshold: 0.3, ...LM1 }],
  ['tiny 320 0.3', { passes: [{ net: 'tiny', size: 320 }], scoreThreshold: 0.3, ...LM1 }],
  ['tiny 320 0.3 > ssd', { passes: [{ net: 'tiny', size: 320 }, SSD], scoreThreshold: 0.3, ...LM1 }],
];

/** Image files under `dir` (recursively), sorted. */
function photos(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...photos(p));
    else if (/\.(jpe?g|png)$/i.test(e.name)) out.push(p);
  }
  return out.sort();
}

function printTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const text = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join(
    '\n',
  );
  console.log(text);
  return text;
}

async function zooTable(): Promise<string> {
  const noses = parseNoseAnnotations(readFileSync(join(IMAGES, 'annotations.py'), 'utf8'));
  const files = [...noses.keys()].sort();
  // Decode once: six of the photos are 36 MP and decoding is not what is measured.
  const images: [string, RgbImage][] = [];
  for (const f of files) images.push([f, await decodeImage(join(IMAGES, f))]);
  const expected = files.reduce((n, f) => n + (noses.get(f)?.length ?? 0), 0);
  const header = [
    'detector',
    'images',
    'faces',
    'detected',
    'matched',
    'recall',
    'FP',
    'nose err',
    'ms/image',
  ];
  const table: string[][] = [];
  const all: [string, () => Promise<Detector>][] = [
    ['faceapi tfjs', () => FaceApiDetector.open()],
    ...DETECTORS.filter(([, rel]) => !rel || existsSync(join(MODELS, rel))).map(
      ([kind, rel]): [string, () => Promise<Detector>] => [
        kind,
        () => createDetector(kind, rel && join(MODELS, rel)),
      ],
    ),
  ];
  for (const [label, open] of all) {
    const det = await open();
    await det.detect(images[0][1]); // warm-up
    let [detected, matched, fp, ms] = [0, 0, 0, 0];
    const errs: number[] = [];
    const perFile: string[] = [];
    for (const [f, img] of images) {
      const t0 = performance.now();
      const faces = await det.detect(img);
      ms += performance.now() - t0;
      const m = matchToPoints(faces, noses.get(f) ?? []);
      detected += faces.length;
      matched += m.pairs.length;
      fp += m.unmatched.length;
      errs.push(...m.relNoseError);
      if (m.missed.length || m.unmatched.length)
        perFile.push(`${f}: ${m.missed.length} missed, ${m.unmatched.length} FP`);
    }
    await det.dispose();
    table.push([
      `${label} ${det.name}`,
      String(images.length),
      String(expected),
      String(detected),
      String(matched),
      `${((100 * matched) / expected).toFixed(1)}%`,
      String(fp),
      `${(100 * median(errs)).toFixed(1)}%`,
      (ms / images.length).toFixed(0),
    ]);
    if (perFile.length) console.error(`${label} ${det.name}: ${perFile.join('; ')}`);
  }
  const text = printTable(header, table);
  console.log('nose err: median |detected nose - annotated nose| / sqrt(box area), over matched faces');
  return text;
}

interface Tally {
  matched: number;
  fp: number;
  celebaFound: number;
  celebaMs: number;
  /** Photos of each example folder where nothing was found. */
  misses: Map<string, string[]>;
  /** |point - YuNet's| / YuNet's IOD, every point of every matched face. */
  lmk: number[];
  annotatedErrors: string[];
  celebaMissed: string[];
}

/** Per YuNet face: the detected face whose box holds YuNet's nose, nearest by mean point distance. */
function agreement(faces: Face[], ref: Face[], out: number[]): void {
  const dist = (a: Point, b: Point) => Math.hypot(a[0] - b[0], a[1] - b[1]);
  for (const r of ref) {
    const [nx, ny] = r.landmarks[2];
    const iod = dist(r.landmarks[0], r.landmarks[1]);
    const inside = faces.filter((f) => nx >= f.box.x1 && nx <= f.box.x2 && ny >= f.box.y1 && ny <= f.box.y2);
    if (!inside.length || iod <= 0) continue;
    const mean = (f: Face) => f.landmarks.reduce((s, p, k) => s + dist(p, r.landmarks[k]), 0);
    const best = inside.reduce((b, f) => (mean(f) < mean(b) ? f : b));
    best.landmarks.forEach((p, k) => out.push(dist(p, r.landmarks[k]) / iod));
  }
}

async function variantsTable(): Promise<string> {
  const only = arg('variants')?.split(',');
  // --extra '[["name", {FaceApiOnnxOptions}], ...]': more configurations to try
  const extra = JSON.parse(arg('extra') ?? '[]') as typeof VARIANTS;
  const chosen = [...VARIANTS, ...extra].filter(([n]) => !only || only.includes(n));
  const nets = new FaceApiNets();
  const dets: [string, Detector][] = [];
  for (const [name, opts] of chosen)
    dets.push([
      name,
      opts === 'tfjs' ? await FaceApiDetector.open() : FaceApiOnnxDetector.withNets(nets, opts),
    ]);
  const yunet = existsSync(YUNET) ? await createDetector('yunet', YUNET) : undefined;

  const noses = parseNoseAnnotations(readFileSync(join(IMAGES, 'annotations.py'), 'utf8'));
  const expected = [...noses.values()].reduce((n, p) => n + p.length, 0);
  const celebaAll = photos(CELEBA);
  const want = arg('celeba') ?? '600';
  const n = want === 'all' ? celebaAll.length : Math.min(celebaAll.length, Number(want));
  const celeba = Array.from({ length: n }, (_, i) => celebaAll[Math.floor((i * celebaAll.length) / n)]);
  const folders: [string, string[]][] = [
    ['deepface', photos(join(FACES, 'deepface/tests/unit/dataset'))],
    ['face_recognition', photos(join(FACES, 'face_recognition/examples'))],
    ['openface', photos(join(FACES, 'openface/images/examples'))],
  ];
  const tallies: Tally[] = dets.map(() => ({
    matched: 0,
    fp: 0,
    celebaFound: 0,
    celebaMs: 0,
    misses: new Map(folders.map(([f]) => [f, []])),
    lmk: [],
    annotatedErrors: [],
    celebaMissed: [],
  }));

  const jobs: [string, string][] = [
    ...[...noses.keys()].map((f): [string, string] => ['annotated', join(IMAGES, f)]),
    ...celeba.map((p): [string, string] => ['celeba', p]),
    ...folders.flatMap(([name, files]) => files.map((p): [string, string] => [name, p])),
  ];
  const warm = await decodeImage(jobs[jobs.length - 1][1]);
  for (const [, d] of dets) await d.detect(warm);
  let done = 0;
  for (const [set, path] of jobs) {
    const img = await decodeImage(path);
    const ref = set === 'annotated' || !yunet ? [] : await yunet.detect(img);
    for (const [i, [, d]] of dets.entries()) {
      const t = tallies[i];
      const t0 = performance.now();
      const faces = await d.detect(img);
      const ms = performance.now() - t0;
      if (set === 'annotated') {
        const m = matchToPoints(faces, noses.get(path.split('/').pop()!) ?? []);
        t.matched += m.pairs.length;
        t.fp += m.unmatched.length;
        if (m.missed.length || m.unmatched.length)
          t.annotatedErrors.push(
            `${path.split('/').pop()}: ${m.missed.length} missed, ${m.unmatched.length} FP`,
          );
        continue;
      }
      agreement(faces, ref, t.lmk);
      if (set === 'celeba') {
        t.celebaMs += ms;
        if (faces.length) t.celebaFound++;
        else t.celebaMissed.push(path.split('/').pop()!);
      } else if (!faces.length) t.misses.get(set)!.push(path.slice(FACES.length + 1));
    }
    if (++done % 100 === 0) console.error(`${done}/${jobs.length} photos`);
  }
  for (const [, d] of dets) await d.dispose();
  await nets.release();
  await yunet?.dispose();

  const base = tallies[0].celebaMs;
  const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : '-');
  const header = [
    'face-api configuration',
    `annotated recall (${expected})`,
    'FP',
    `CelebA found (${n})`,
    ...folders.map(([f, files]) => `${f} misses (${files.length})`),
    'lmk vs YuNet',
    'ms/photo',
    'speed',
  ];
  const rows = dets.map(([name], i) => {
    const t = tallies[i];
    return [
      name,
      `${((100 * t.matched) / expected).toFixed(1)}% (${t.matched})`,
      String(t.fp),
      `${pct(t.celebaFound, n)} (${n - t.celebaFound} missed)`,
      ...folders.map(([f]) => String(t.misses.get(f)!.length)),
      median(t.lmk).toFixed(3),
      (t.celebaMs / n).toFixed(1),
      `${(base / t.celebaMs).toFixed(1)}x`,
    ];
  });
  const text = printTable(header, rows);
  for (const [i, [name]] of dets.entries()) {
    const missed = [...tallies[i].misses.values()].flat();
    if (missed.length) console.log(`${name}: no face in ${missed.join(', ')}`);
    if (tallies[i].annotatedErrors.length)
      console.log(`${name}: annotated ${tallies[i].annotatedErrors.join('; ')}`);
    if (tallies[i].celebaMissed.length)
      console.log(`${name}: no face in CelebA ${tallies[i].celebaMissed.join(' ')}`);
  }
  console.log(
    'lmk vs YuNet: median |point - YuNet 2023mar point| / YuNet inter-ocular distance (5 points, faces both found); ' +
      `speed: ${dets[0][0]} time / this time on the CelebA photos`,
  );
  return text;
}

/**
 * Landmark crops compared on the same boxes (the default's face passes, found once per photo):
 * the first crop (face-api's: the box alone on black; or the box's square with the photo around
 * it), and a second pass on a square `side` x the first points' extent, moved down dy x extent.
 */
async function landmarkTable(): Promise<string> {
  type Crop = {
    name: string;
    context?: { scale: number; dy: number };
    samples?: number;
    refine?: { side: number; dy: number };
  };
  const crops: Crop[] = [
    { name: "face-api's crop (box on black)" },
    { name: "face-api's crop, antialiased", samples: 4 },
    { name: 'box square with context', context: { scale: 1, dy: 0 } },
    { name: 'box square x1.2, down 0.05', context: { scale: 1.2, dy: 0.05 } },
    ...[1.2, 1.3, 1.4, 1.5, 1.6, 1.7].map((side) => ({
      name: `+ 2nd pass, side ${side}`,
      refine: { side, dy: 0 },
    })),
    { name: '+ 2nd pass, side 1.5, up 0.06', refine: { side: 1.5, dy: -0.06 } },
    { name: '+ 2nd pass, side 1.5, down 0.06', refine: { side: 1.5, dy: 0.06 } },
  ];
  const nets = new FaceApiNets();
  const det = FaceApiOnnxDetector.withNets(nets, { landmarkPasses: 1 });
  const yunet = await createDetector('yunet', YUNET);
  const all = photos(CELEBA);
  const n = Math.min(all.length, Number(arg('lm-celeba') ?? 1200));
  const sets: [string, string[]][] = [
    [`CelebA (${n})`, Array.from({ length: n }, (_, i) => all[Math.floor((i * all.length) / n)])],
    [
      'examples',
      ['deepface/tests/unit/dataset', 'face_recognition/examples', 'openface/images/examples'].flatMap((f) =>
        photos(join(FACES, f)),
      ),
    ],
  ];
  // per crop, per set, per point: |point - YuNet's| / YuNet's IOD
  const d = crops.map(() => sets.map(() => [[], [], [], [], []] as number[][]));
  for (const [si, [, files]] of sets.entries())
    for (const path of files) {
      const img = await decodeImage(path);
      const ref = await yunet.detect(img);
      const faces = await det.detect(img);
      for (const [ci, c] of crops.entries()) {
        const first = faces.map((f) => {
          if (!c.context) return faceApiSquare(f.box, img.width, img.height);
          const sq = squareOfBox(f.box);
          const side = sq.side * c.context.scale;
          return {
            x: sq.x + (sq.side - side) / 2,
            y: sq.y + (sq.side - side) / 2 + c.context.dy * sq.side,
            side,
          };
        });
        let pts = await landmarks68(nets, img, first, c.samples ?? 1);
        if (c.refine)
          pts = await landmarks68(
            nets,
            img,
            pts.map((p) => squareOfLandmarks(p, c.refine!)),
          );
        const five = faces.map((f, i) => ({ ...f, landmarks: fiveFrom68(pts[i]) }));
        const out: number[] = [];
        agreement(five, ref, out);
        out.forEach((v, k) => d[ci][si][k % 5].push(v));
      }
    }
  await nets.release();
  await yunet.dispose();
  const header = [
    'landmark crop',
    ...sets.map(([name]) => name),
    'left eye',
    'right eye',
    'nose',
    'left mouth',
    'right mouth',
  ];
  const rows = crops.map((c, ci) => [
    c.name,
    ...sets.map((_, si) => median(d[ci][si].flat()).toFixed(4)),
    ...[0, 1, 2, 3, 4].map((k) => median(d[ci].flatMap((set) => set[k])).toFixed(3)),
  ]);
  const text = printTable(header, rows);
  console.log('median |point - YuNet 2023mar point| / YuNet inter-ocular distance; per point: both sets');
  return text;
}

async function main(): Promise<void> {
  if (!existsSync(IMAGES)) {
    console.log(`skipped: ${IMAGES} not found (the shared data set is not present)`);
    return;
  }
  const only = arg('only');
  const parts: string[] = [];
  if (!only || only === 'zoo') parts.push(await zooTable());
  if (!only || only === 'faceapi') parts.push(await variantsTable());
  if ((!only || only === 'landmarks') && existsSync(YUNET)) parts.push(await landmarkTable());
  const md = arg('md');
  if (md) writeFileSync(md, parts.join('\n\n') + '\n');
}

await main();
