/**
 * Detector quality on CompreFace's embedding-calculator/sample_images (../shared): 18 photos,
 * 46 faces annotated by their nose point (annotations.py, read at run time). A detection matches
 * an annotated nose lying inside its box (one-to-one, greedy by distance to the detected nose
 * landmark); recall = matched / annotated, false positives = unmatched detections. The annotations
 * hold points, not boxes, so this is count-and-containment matching, not an IoU-based AP.
 * ms/image is detect() alone (letterbox resize + inference + decoding), decode excluded, after one
 * warm-up image, at each detector's default thresholds.
 * Run: node --import tsx bench/detect_quality.ts [--shared ../shared]
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDetector, type DetectorKind } from '../src/face/detectors/index.js';
import { matchToPoints, median, parseNoseAnnotations } from '../src/face/detectors/evaluate.js';
import { decodeImage } from '../src/image/decode.js';
import type { RgbImage } from '../src/image/types.js';

const argShared = process.argv.indexOf('--shared');
const SHARED =
  argShared > 0 ? process.argv[argShared + 1] : fileURLToPath(new URL('../../shared', import.meta.url));
const IMAGES = join(SHARED, 'data/faces/compreface/embedding-calculator/sample_images');
const MODELS = join(SHARED, 'models/detectors');

const DETECTORS: [DetectorKind, string | undefined][] = [
  ['faceapi', undefined],
  ['yunet', 'yunet/face_detection_yunet_2023mar.onnx'],
  ['yunet', 'yunet/face_detection_yunet_2026may.onnx'],
  ['scrfd', 'scrfd/scrfd_500m.onnx'],
  ['scrfd', 'scrfd/scrfd_2.5g.onnx'],
  ['retinaface', 'retinaface/retinaface_mnet025.onnx'],
];

async function main(): Promise<void> {
  if (!existsSync(IMAGES)) {
    console.log(`skipped: ${IMAGES} not found (the shared data set is not present)`);
    return;
  }
  const noses = parseNoseAnnotations(readFileSync(join(IMAGES, 'annotations.py'), 'utf8'));
  const files = readdirSync(IMAGES)
    .filter((f) => /\.jpe?g$/i.test(f))
    .sort();
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
  for (const [kind, rel] of DETECTORS) {
    const path = rel && join(MODELS, rel);
    if (path && !existsSync(path)) continue;
    const det = await createDetector(kind, path);
    await det.detect(images[0][1]); // warm-up
    let detected = 0;
    let matched = 0;
    let fp = 0;
    let ms = 0;
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
      `${kind} ${det.name}`,
      String(images.length),
      String(expected),
      String(detected),
      String(matched),
      `${((100 * matched) / expected).toFixed(1)}%`,
      String(fp),
      `${(100 * median(errs)).toFixed(1)}%`,
      (ms / images.length).toFixed(0),
    ]);
    if (perFile.length) console.error(`${kind} ${det.name}: ${perFile.join('; ')}`);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of table) console.log(line(r));
  console.log('nose err: median |detected nose - annotated nose| / sqrt(box area), over matched faces');
}

await main();
