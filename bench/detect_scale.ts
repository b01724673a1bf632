/**
 * Does decoding large JPEGs at detection scale (src/image/source.ts) change what the default
 * pipeline finds? face-api's SSD samples its 512x512 canvas from the photo without anti-aliasing
 * (faceapi_sample.ts), so a reduced decode shows it a smoother canvas: this measures by how much,
 * at several detection sides, against the whole decode.
 *
 * annotated: CompreFace's sample_images (18 photos, 46 faces marked by the nose, 6 photos of
 *   12-36 MP): recall, false positives and nose error as bench/detect_quality.ts counts them.
 * large: every JPEG in ../shared/data/faces that the side reduces, plus 12 MP JPEGs made at run time
 *   (the 6 large photos scaled to cover 4000x3000 around the face, the 4 group photos upscaled):
 *   faces found by both decodes (box IoU >= 0.5) or by one, score change, landmark change (mean of
 *   the 68 points / eye distance), and the dlib chips' mean difference (grey levels) and embedding
 *   cosine (dlib-resnet-v1, flip-sum), end to end.
 *
 *   node --import tsx bench/detect_scale.ts [--sides 1280,1536,2048]
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { matchToPoints, median, parseNoseAnnotations } from '../src/face/detectors/evaluate.js';
import type { Box, Face } from '../src/face/types.js';
import { decodeImage } from '../src/image/decode.js';
import { decodeSource, isReduced, sourceOf, type ImageSource } from '../src/image/source.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { detectFaces } from '../src/pipeline/scaled_faces.js';
import { cosine } from '../src/pipeline/similarity.js';
import { SHARED } from './shared_models.js';

const FACES = join(SHARED, 'data/faces');
const SAMPLES = join(FACES, 'compreface/embedding-calculator/sample_images');
const { values } = parseArgs({ options: { sides: { type: 'string', default: '1280,1536,2048' } } });
const sides = values.sides!.split(',').map(Number);
if (!existsSync(SAMPLES)) {
  console.log(`skipped: ${SAMPLES} is absent (the shared data lives beside the repo, in ../shared)`);
  process.exit(0);
}

const rec = await FaceRecognizer.create();
const detector = await rec.detector();
const faces = (s: ImageSource) => detectFaces(detector, s);

// ---- annotated -----------------------------------------------------------------------------------

const noses = parseNoseAnnotations(readFileSync(join(SAMPLES, 'annotations.py'), 'utf8'));
const annotated: string[][] = [['decode', 'photos reduced', 'recall', 'false positives', 'nose error']];
for (const side of [0, ...sides]) {
  let [found, total, fp, reduced] = [0, 0, 0, 0];
  const err: number[] = [];
  for (const [name, pts] of noses) {
    const s = await decodeSource(join(SAMPLES, name), { detectSide: side });
    if (isReduced(s)) reduced++;
    const m = matchToPoints(await faces(s), pts);
    [found, total, fp] = [found + m.pairs.length, total + pts.length, fp + m.unmatched.length];
    err.push(...m.relNoseError);
  }
  annotated.push([
    side ? `${side} px` : 'whole',
    String(reduced),
    `${((100 * found) / total).toFixed(1)}% (${found}/${total})`,
    String(fp),
    `${(100 * median(err)).toFixed(1)}%`,
  ]);
}
print('annotated: CompreFace sample_images', annotated);

// ---- large photos -------------------------------------------------------------------------------

/** JPEGs under `dir` (recursively). */
function jpegs(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return jpegs(p);
    return /\.jpe?g$/i.test(f) ? [p] : [];
  });
}

async function cover(src: string, fx: number, fy: number): Promise<Buffer> {
  const m = await sharp(src).metadata();
  const [w0, h0] = [m.autoOrient.width, m.autoOrient.height];
  const k = Math.max(4000 / w0, 3000 / h0);
  const [w, h] = [Math.round(w0 * k), Math.round(h0 * k)];
  const left = Math.min(w - 4000, Math.max(0, Math.round(fx * w - 2000)));
  const top = Math.min(h - 3000, Math.max(0, Math.round(fy * h - 1500)));
  const crop = { left, top, width: 4000, height: 3000 };
  return sharp(src).rotate().resize(w, h).extract(crop).jpeg({ quality: 90 }).toBuffer();
}

const photos: { name: string; bytes: Uint8Array }[] = [];
for (const f of jpegs(FACES).sort()) {
  const m = await sharp(f).metadata();
  if (m.format === 'jpeg' && Math.max(m.width, m.height) >= 1.5 * Math.min(...sides))
    photos.push({ name: f.slice(FACES.length + 1), bytes: readFileSync(f) });
}
for (const [name, pts] of noses) {
  const m = await sharp(join(SAMPLES, name)).metadata();
  const large = m.width * m.height > 10e6;
  if (!(large || /^01[3-6]_/.test(name))) continue;
  const [fx, fy] = large ? [pts[0]![0] / m.width, pts[0]![1] / m.height] : [0.5, 0.5];
  photos.push({ name: `${name} at 12 MP`, bytes: await cover(join(SAMPLES, name), fx, fy) });
}

const iou = (a: Box, b: Box): number => {
  const w = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const h = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const area = (r: Box) => (r.x2 - r.x1) * (r.y2 - r.y1);
  return (w * h) / (area(a) + area(b) - w * h);
};
const eye = (f: Face) =>
  Math.hypot(f.landmarks[1][0] - f.landmarks[0][0], f.landmarks[1][1] - f.landmarks[0][1]);

const whole = new Map<string, { faces: Face[]; emb: Float32Array[]; crops: Uint8Array[] }>();
for (const p of photos) {
  const s = sourceOf(await decodeImage(p.bytes));
  const fs = await faces(s);
  const crops = await rec.alignAll(s, fs);
  whole.set(p.name, { faces: fs, emb: await rec.embedCrops(crops), crops: crops.map((c) => c.data) });
}
const large: string[][] = [
  [
    'side',
    'photos',
    'faces both / whole only / scaled only',
    'score change (median, max)',
    'landmarks / eye dist. (median, max)',
    'chip difference (median, max)',
    'cosine (median, min)',
  ],
];
const worst: string[] = [];
for (const side of sides) {
  let [both, onlyWhole, onlyScaled, n] = [0, 0, 0, 0];
  const [dScore, dLm, dChip, cos] = [[], [], [], []] as number[][];
  for (const p of photos) {
    const s = await decodeSource(p.bytes, { detectSide: side });
    if (!isReduced(s)) continue;
    n++;
    const w = whole.get(p.name)!;
    const fs = await faces(s);
    const crops = await rec.alignAll(s, fs);
    const emb = await rec.embedCrops(crops);
    const used = new Set<number>();
    w.faces.forEach((fw, i) => {
      let j = -1;
      fs.forEach((f, k) => {
        if (
          !used.has(k) &&
          iou(f.box, fw.box) >= 0.5 &&
          (j < 0 || iou(f.box, fw.box) > iou(fs[j]!.box, fw.box))
        )
          j = k;
      });
      if (j < 0) return void onlyWhole++;
      used.add(j);
      both++;
      const f = fs[j]!;
      dScore.push(Math.abs(f.score - fw.score));
      const p68 = fw.landmarks68!;
      dLm.push(
        p68.reduce(
          (t, q, k) => t + Math.hypot(q[0] - f.landmarks68![k]![0], q[1] - f.landmarks68![k]![1]),
          0,
        ) /
          68 /
          eye(fw),
      );
      let d = 0;
      for (let k = 0; k < crops[j]!.data.length; k++) d += Math.abs(crops[j]!.data[k]! - w.crops[i]![k]!);
      dChip.push(d / crops[j]!.data.length);
      cos.push(cosine(emb[j]!, w.emb[i]!));
      if (cos.at(-1)! < 0.99)
        worst.push(
          `${side} px: ${p.name}, a ${Math.round(fw.box.x2 - fw.box.x1)} px face scoring ` +
            `${fw.score.toFixed(2)}: landmarks moved ${dLm.at(-1)!.toFixed(3)}, cosine ${cos.at(-1)!.toFixed(4)}`,
        );
    });
    onlyScaled += fs.length - used.size;
  }
  const mm = (v: number[], digits: number, worst: 'max' | 'min' = 'max') =>
    `${median(v).toFixed(digits)}, ${(worst === 'max' ? Math.max(...v) : Math.min(...v)).toFixed(digits)}`;
  large.push([
    `${side} px`,
    String(n),
    `${both} / ${onlyWhole} / ${onlyScaled}`,
    mm(dScore, 3),
    mm(dLm, 4),
    mm(dChip, 2),
    mm(cos, 4, 'min'),
  ]);
}
const made = photos.filter((p) => p.name.endsWith('at 12 MP')).length;
print(`large: ${photos.length - made} photos of ../shared/data/faces and ${made} made at 12 MP`, large);
console.log(`\nfaces whose embedding moved (cosine < 0.99):\n${worst.map((w) => `- ${w}`).join('\n')}`);
await rec.dispose();

function print(title: string, rows: string[][]): void {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(' | ')} |`;
  console.log(`\n${title}\n`);
  console.log(line(rows[0]!));
  console.log(`|${w.map((x, i) => (i ? '-'.repeat(x + 1) + ':' : '-'.repeat(x + 2))).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
}
