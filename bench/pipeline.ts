/**
 * Where the default recognition pipeline's time goes, per photo, and how far it is from its nets.
 * The pipeline is FaceRecognizer.create()'s, which `npm start`, every CLI command and the service
 * run: decode (sharp), face-api's SSD MobileNet V1 at 512x512 with the 68-point net twice per face
 * (src/face/detectors/faceapi_onnx.ts), dlib's 150x150 chip, dlib-resnet-v1 with flip-sum (2
 * images per face), through the calls crop()/embed()/embedAll() make: source(), detectFaces(),
 * alignAll(), embedCrops() with `--batch` faces per call.
 *
 * Photos, made at run time in a temp folder from ../shared (skipped when absent):
 *   12mp   CompreFace's 6 large sample photos (12-36 MP) scaled to cover 4000x3000 around the face;
 *          the largest face of each (embed()'s path);
 *   group  their 4 group photos (4-8 faces of 30-70 px) upscaled to cover 4000x3000: every face
 *          (the service's identify), most small enough to need the photo's own pixels;
 *   250    `--n250` CelebA subset photos, the centre square resized to 250x250 (LFW's format).
 * Large JPEGs are decoded two ways, alternating: `whole` (decodeImage, the pipeline before
 * src/image/source.ts) and `scaled` (decodeSource: 2048 px for detection, regions on demand).
 *
 * Rows (ms per photo): decode; detection's SSD session.run and the rest (canvas sampling, timed
 * apart on each photo into a reused buffer, box decoding, NMS); the landmark net's session.run
 * and the rest (crop sampling); full-resolution regions (scaled only); align; embed's
 * session.run and the rest (filling the input, normalising).
 *
 * Bare: every session.run a pass made (net and input shape), replayed right after it on pre-filled
 * tensors of the same shapes by sessions of the same nets opened apart, same thread settings:
 *   overhead = (everything but decoding: the photo, its regions) / bare
 *   whole pipeline = everything / bare
 * The target is overhead <= 1.2. Rounds alternate sets, decodes and batches, each pass followed by
 * its bare replay, so machine load hits both alike; every number is the median over rounds.
 *
 *   node --import tsx bench/pipeline.ts [--sets 12mp,group,250] [--decode whole,scaled]
 *     [--batch 1,32] [--rounds 5] [--n250 64] [--json]
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { SSD_INPUT_SIZE } from '../src/convert/faceapi_ssd.js';
import { tfjsModelToOnnx } from '../src/convert/from_tfjs.js';
import { median } from '../src/face/detectors/evaluate.js';
import { faceApiOnnx, type FaceApiNets } from '../src/face/detectors/faceapi_nets.js';
import { FaceApiOnnxDetector } from '../src/face/detectors/faceapi_onnx.js';
import { sampleRegion } from '../src/face/detectors/faceapi_sample.js';
import type { DetectOptions } from '../src/face/detectors/types.js';
import { decodeImage } from '../src/image/decode.js';
import { sourceOf, type ImageSource } from '../src/image/source.js';
import type { RgbImage } from '../src/image/types.js';
import type { EmbedEngine } from '../src/models/engines/types.js';
import { resolveModel } from '../src/models/resolve.js';
import { DEFAULT_MODEL, FaceRecognizer } from '../src/pipeline/recognizer.js';
import { detectFaces } from '../src/pipeline/scaled_faces.js';
import { openSession, ort } from '../src/runtime/onnx.js';
import { SHARED } from './shared_models.js';

const SAMPLES = join(SHARED, 'data/faces/compreface/embedding-calculator/sample_images');
const CELEBA = join(SHARED, 'data/train/celeba-subset/Celeb');
/** The large single-face photos, with their annotated nose (annotations.py) to centre the crop on. */
const LARGE: [string, number, number][] = [
  ['001_A.jpg', 2109, 2261],
  ['002_A.jpg', 2146, 2505],
  ['003_A.jpg', 3210, 1382],
  ['004_A.jpg', 1312, 1969],
  ['005_A.jpg', 2092, 2871],
  ['006_A.jpg', 1864, 3041],
];
const GROUP = ['013_4.jpg', '014_5.jpg', '015_6.jpg', '016_8.jpg'];

const { values } = parseArgs({
  options: {
    sets: { type: 'string', default: '12mp,group,250' },
    decode: { type: 'string', default: 'whole,scaled' },
    batch: { type: 'string', default: '1,32' },
    rounds: { type: 'string', default: '5' },
    n250: { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
  },
});
type SetName = '12mp' | 'group' | '250';
type Decode = 'whole' | 'scaled';
const sets = values.sets!.split(',') as SetName[];
const decodes = values.decode!.split(',') as Decode[];
const batches = values.batch!.split(',').map(Number);
const rounds = Number(values.rounds);
const n250 = Number(values.n250);
if (!sets.every((s) => ['12mp', 'group', '250'].includes(s))) throw new Error('--sets: 12mp, group, 250');
if (!decodes.every((d) => d === 'whole' || d === 'scaled')) throw new Error('--decode: whole, scaled');
if (![rounds, n250, ...batches].every((v) => Number.isInteger(v) && v >= 1))
  throw new Error('--rounds, --n250 and --batch take positive integers');
for (const p of [SAMPLES, CELEBA])
  if (!existsSync(p)) {
    console.log(`skipped: ${p} is absent (the shared data lives beside the repo, in ../shared)`);
    process.exit(0);
  }

// ---- photos, in a temp folder ------------------------------------------------------------------

const tmp = mkdtempSync(join(tmpdir(), 'arcface-bench-pipeline-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** `src` scaled to cover w x h, the crop centred on (fx, fy) of the original (clamped). */
async function cover(src: string, w: number, h: number, fx: number, fy: number): Promise<Buffer> {
  const m = await sharp(src).metadata();
  const [w0, h0] = [m.autoOrient.width, m.autoOrient.height];
  const k = Math.max(w / w0, h / h0);
  const [sw, sh] = [Math.round(w0 * k), Math.round(h0 * k)];
  const left = Math.min(sw - w, Math.max(0, Math.round(fx * k - w / 2)));
  const top = Math.min(sh - h, Math.max(0, Math.round(fy * k - h / 2)));
  return sharp(src)
    .rotate()
    .resize(sw, sh)
    .extract({ left, top, width: w, height: h })
    .jpeg({ quality: 90 })
    .toBuffer();
}

async function makeSet(set: SetName): Promise<string[]> {
  const out: string[] = [];
  const save = (name: string, bytes: Buffer) => {
    const f = join(tmp, `${set}-${name}`);
    writeFileSync(f, bytes);
    out.push(f);
  };
  if (set === '12mp') for (const [f, x, y] of LARGE) save(f, await cover(join(SAMPLES, f), 4000, 3000, x, y));
  else if (set === 'group')
    for (const f of GROUP) {
      const m = await sharp(join(SAMPLES, f)).metadata();
      save(f, await cover(join(SAMPLES, f), 4000, 3000, m.width / 2, m.height / 2));
    }
  else {
    const all = readdirSync(CELEBA)
      .filter((f) => f.endsWith('.jpg'))
      .sort();
    for (let i = 0; i < n250; i++) {
      const f = all[Math.floor((i * all.length) / n250)]!;
      const m = await sharp(join(CELEBA, f)).metadata();
      save(f, await cover(join(CELEBA, f), 250, 250, m.width / 2, m.height / 2));
    }
  }
  return out;
}

// ---- the pipeline, its sessions timed ------------------------------------------------------------

type Net = 'ssd' | 'landmarks' | 'recogniser';
interface Run {
  net: Net;
  dims: readonly number[];
  ms: number;
}
let runs: Run[] = [];
/** A copy of the first input of each net and shape: the bare runs' pre-filled tensors. */
const inputs = new Map<string, Float32Array>();
const keyOf = (net: Net, dims: readonly number[]) => `${net}:${dims.join('x')}`;

function timeSession(net: Net, s: ort.InferenceSession): void {
  const run = s.run.bind(s) as (feeds: Record<string, ort.Tensor>, ...rest: unknown[]) => Promise<unknown>;
  (s as unknown as { run: typeof run }).run = async (feeds, ...rest) => {
    const t = Object.values(feeds)[0]!;
    const key = keyOf(net, t.dims);
    if (!inputs.has(key)) inputs.set(key, Float32Array.from(t.data as Float32Array));
    const t0 = performance.now();
    try {
      return await run(feeds, ...rest);
    } finally {
      runs.push({ net, dims: t.dims, ms: performance.now() - t0 });
    }
  };
}

const rec = await FaceRecognizer.create();
const detector = await rec.detector();
if (!(detector instanceof FaceApiOnnxDetector))
  throw new Error(`expected the faceapi default, got ${detector.name}`);
const nets = (detector as unknown as { nets: FaceApiNets }).nets;
timeSession('ssd', await nets.session('ssd'));
timeSession('landmarks', await nets.session('landmarks'));
// The embedder's engine: its run(data, dims) wraps one session.run.
const engine = (rec.embedder as unknown as { runner: EmbedEngine }).runner;
const engineRun = engine.run.bind(engine);
engine.run = async (data, dims) => {
  const key = keyOf('recogniser', dims);
  if (!inputs.has(key)) inputs.set(key, Float32Array.from(data));
  const t0 = performance.now();
  try {
    return await engineRun(data, dims);
  } finally {
    runs.push({ net: 'recogniser', dims, ms: performance.now() - t0 });
  }
};
// The landmark stage as a whole (crop sampling + its runs).
let landmarkMs = 0;
const placeLandmarks = detector.landmarks.bind(detector);
detector.landmarks = async (img, boxes) => {
  const t0 = performance.now();
  try {
    return await placeLandmarks(img, boxes);
  } finally {
    landmarkMs += performance.now() - t0;
  }
};

interface Stages {
  decode: number;
  detect: number;
  ssd: number;
  landmarks: number;
  landmarkRuns: number;
  regions: number;
  align: number;
  embed: number;
  embedRuns: number;
  faces: number;
}
const zero = (): Stages => ({
  decode: 0,
  detect: 0,
  ssd: 0,
  landmarks: 0,
  landmarkRuns: 0,
  regions: 0,
  align: 0,
  embed: 0,
  embedRuns: 0,
  faces: 0,
});
const KEEP: Record<SetName, DetectOptions['keep']> = { '12mp': 'largest', group: 'all', '250': 'largest' };

async function open(bytes: Uint8Array, decode: Decode): Promise<ImageSource> {
  return decode === 'whole' ? sourceOf(await decodeImage(bytes)) : rec.source(bytes);
}

/** One pass over a set: ms summed per stage; the session runs it made are left in `runs`. */
async function pass(set: SetName, photos: Uint8Array[], decode: Decode, batch: number): Promise<Stages> {
  const t = zero();
  runs = [];
  landmarkMs = 0;
  let pending: RgbImage[] = [];
  const flush = async () => {
    const t0 = performance.now();
    await rec.embedCrops(pending);
    t.embed += performance.now() - t0;
    t.faces += pending.length;
    pending = [];
  };
  for (const bytes of photos) {
    const t0 = performance.now();
    const source = await open(bytes, decode);
    const t1 = performance.now();
    let regionMs = 0;
    const region = source.region.bind(source);
    (source as { region: typeof region }).region = async (r) => {
      const r0 = performance.now();
      try {
        return await region(r);
      } finally {
        regionMs += performance.now() - r0;
      }
    };
    const faces = await detectFaces(detector, source, { keep: KEEP[set] });
    const t2 = performance.now();
    const detectRegions = regionMs;
    const crops = await rec.alignAll(source, faces);
    const t3 = performance.now();
    t.decode += t1 - t0;
    t.detect += t2 - t1 - detectRegions;
    t.align += t3 - t2 - (regionMs - detectRegions);
    t.regions += regionMs;
    for (const c of crops) {
      pending.push(c);
      if (pending.length === batch) await flush();
    }
  }
  if (pending.length) await flush();
  const sum = (net: Net) => runs.filter((r) => r.net === net).reduce((s, r) => s + r.ms, 0);
  t.ssd = sum('ssd');
  t.landmarkRuns = sum('landmarks');
  t.embedRuns = sum('recogniser');
  t.landmarks = landmarkMs;
  t.detect -= landmarkMs; // the landmark stage is its own row
  return t;
}

// ---- bare sessions ---------------------------------------------------------------------------------

const model = await resolveModel(DEFAULT_MODEL);
const bareSessions: Record<Net, ort.InferenceSession> = {
  ssd: await openSession({ bytes: await faceApiOnnx('ssd'), name: 'bare ssd' }),
  landmarks: await openSession({ bytes: await faceApiOnnx('landmarks'), name: 'bare landmarks' }),
  recogniser: await openSession({
    bytes: await tfjsModelToOnnx(model.path, model.manifest.architecture!),
    name: 'bare dlib-resnet-v1',
  }),
};
const tensors = new Map<string, ort.Tensor>();

/** The runs just made, replayed back to back on pre-filled tensors: total ms per net. */
async function bare(made: readonly Run[]): Promise<Record<Net, number>> {
  const out: Record<Net, number> = { ssd: 0, landmarks: 0, recogniser: 0 };
  for (const r of made) {
    const key = keyOf(r.net, r.dims);
    let t = tensors.get(key);
    if (!t) tensors.set(key, (t = new ort.Tensor('float32', inputs.get(key)!, [...r.dims])));
    const s = bareSessions[r.net];
    const t0 = performance.now();
    const res = await s.run({ [s.inputNames[0]!]: t });
    out[r.net] += performance.now() - t0;
    for (const v of Object.values(res)) v.dispose();
  }
  return out;
}

/** The SSD canvas sampling alone, on each photo's detection image, into a reused buffer. */
const canvas = new Float32Array(3 * SSD_INPUT_SIZE * SSD_INPUT_SIZE);
async function canvasSampling(photos: Uint8Array[], decode: Decode): Promise<number> {
  let ms = 0;
  for (const bytes of photos) {
    const { image } = await open(bytes, decode);
    const scale = Math.max(image.width, image.height) / SSD_INPUT_SIZE;
    const side = SSD_INPUT_SIZE * scale;
    const t0 = performance.now();
    sampleRegion(image, { x: 0, y: 0, width: side, height: side }, SSD_INPUT_SIZE, SSD_INPUT_SIZE, canvas, {
      maxSamples: 1,
    });
    ms += performance.now() - t0;
  }
  return ms;
}

// ---- rounds --------------------------------------------------------------------------------------

const photos = new Map<SetName, Uint8Array[]>();
for (const s of sets)
  photos.set(
    s,
    (await makeSet(s)).map((f) => readFileSync(f)),
  );
/** 250x250 photos are decoded whole either way: one decode is enough. */
const decodesOf = (s: SetName): Decode[] => (s === '250' ? [decodes.at(-1)!] : decodes);
const cases = sets.flatMap((s) => decodesOf(s).flatMap((d) => batches.map((b) => ({ s, d, b }))));
const label = (c: { s: SetName; d: Decode; b: number }) =>
  `${c.s} ${c.s === '250' ? '' : c.d + ' '}batch ${c.b}`;

console.error(
  `default pipeline (${detector.name}; ${rec.manifest.name}, flip ${rec.flip ? 'on' : 'off'}); ` +
    `${cases.length} cases, ${rounds} rounds after a warm-up`,
);
for (const c of cases) {
  await pass(c.s, photos.get(c.s)!, c.d, c.b); // warm-up: JIT, first-run allocations, every shape
  await bare(runs);
}

interface Measured {
  stages: Stages;
  bare: Record<Net, number>;
  canvas: number;
}
const measured = new Map<string, Measured[]>(cases.map((c) => [label(c), []]));
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const list = photos.get(c.s)!;
    const stages = await pass(c.s, list, c.d, c.b);
    const b = await bare(runs);
    measured.get(label(c))!.push({ stages, bare: b, canvas: await canvasSampling(list, c.d) });
  }
  console.error(`round ${r + 1}/${rounds} done`);
}
await rec.dispose();
for (const s of Object.values(bareSessions)) await s.release();

// ---- report --------------------------------------------------------------------------------------

const results = cases.map((c) => {
  const ms = measured.get(label(c))!;
  const n = photos.get(c.s)!.length;
  const per = (f: (m: Measured) => number) => median(ms.map((m) => f(m) / n));
  const st = (k: keyof Stages) => per((m) => m.stages[k]);
  const total = (m: Measured) => {
    const s = m.stages;
    return s.decode + s.detect + s.landmarks + s.regions + s.align + s.embed;
  };
  const decoding = (m: Measured) => m.stages.decode + m.stages.regions;
  const bareAll = (m: Measured) => m.bare.ssd + m.bare.landmarks + m.bare.recogniser;
  const runsIn = (m: Measured) => m.stages.ssd + m.stages.landmarkRuns + m.stages.embedRuns;
  return {
    set: c.s,
    decode: c.s === '250' ? 'whole' : c.d,
    batch: c.b,
    photos: n,
    facesPerPhoto: ms[0]!.stages.faces / n,
    ms: {
      decode: st('decode'),
      detect: st('detect'),
      ssdRun: st('ssd'),
      canvas: per((m) => m.canvas),
      landmarks: st('landmarks'),
      landmarkRuns: st('landmarkRuns'),
      regions: st('regions'),
      align: st('align'),
      embed: st('embed'),
      embedRuns: st('embedRuns'),
      total: per(total),
      bareSsd: per((m) => m.bare.ssd),
      bareLandmarks: per((m) => m.bare.landmarks),
      bareRecogniser: per((m) => m.bare.recogniser),
      bare: per(bareAll),
    },
    photosPerSec: median(ms.map((m) => (1000 * n) / total(m))),
    photosPerSecNoDecode: median(ms.map((m) => (1000 * n) / (total(m) - decoding(m)))),
    overhead: median(ms.map((m) => (total(m) - decoding(m)) / bareAll(m))),
    wholeOverBare: median(ms.map((m) => total(m) / bareAll(m))),
    runsOverBare: median(ms.map((m) => runsIn(m) / bareAll(m))),
    ownOverBare: median(ms.map((m) => (total(m) - decoding(m) - runsIn(m)) / bareAll(m))),
  };
});

if (values.json) {
  console.log(JSON.stringify({ detector: detector.name, model: rec.manifest.name, rounds, results }));
  process.exit(0);
}

const f1 = (v: number) => v.toFixed(1);
const f2 = (v: number) => v.toFixed(2);
const pct = (v: number, of: number) => `${f2(v)} (${((100 * v) / of).toFixed(0)}%)`;
for (const s of sets) {
  const rs = results.filter((r) => r.set === s);
  const rows: [string, (x: (typeof rs)[number]) => string][] = [
    ['faces embedded per photo', (x) => f2(x.facesPerPhoto)],
    ['decode (sharp)', (x) => pct(x.ms.decode, x.ms.total)],
    ['detection: SSD session.run', (x) => pct(x.ms.ssdRun, x.ms.total)],
    ['detection: the rest', (x) => pct(x.ms.detect - x.ms.ssdRun, x.ms.total)],
    ['  of which canvas sampling', (x) => f2(x.ms.canvas)],
    ['landmarks: session.run', (x) => pct(x.ms.landmarkRuns, x.ms.total)],
    ['landmarks: the rest (crops)', (x) => pct(x.ms.landmarks - x.ms.landmarkRuns, x.ms.total)],
    ['full-resolution regions', (x) => pct(x.ms.regions, x.ms.total)],
    ['align (dlib chip)', (x) => pct(x.ms.align, x.ms.total)],
    ['embed: session.run', (x) => pct(x.ms.embedRuns, x.ms.total)],
    ['embed: the rest', (x) => pct(x.ms.embed - x.ms.embedRuns, x.ms.total)],
    ['total', (x) => f2(x.ms.total)],
    ['**photos/s**', (x) => `**${f1(x.photosPerSec)}**`],
    ['photos/s without decoding', (x) => f1(x.photosPerSecNoDecode)],
    [
      'bare: SSD + landmarks + recogniser',
      (x) => `${f2(x.ms.bareSsd)} + ${f2(x.ms.bareLandmarks)} + ${f2(x.ms.bareRecogniser)}`,
    ],
    ['**overhead** (all but decoding) / bare', (x) => `**${f2(x.overhead)}**`],
    ['  = session.runs in the pipeline / bare', (x) => f2(x.runsOverBare)],
    ['  + the rest (our code) / bare', (x) => f2(x.ownOverBare)],
    ['whole pipeline / bare', (x) => f2(x.wholeOverBare)],
  ];
  const head = [
    'ms per photo',
    ...rs.map((x) => (s === '250' ? `batch ${x.batch}` : `${x.decode}, batch ${x.batch}`)),
  ];
  const table = [head, ...rows.map(([name, f]) => [name, ...rs.map(f)])];
  const w = head.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(' | ')} |`;
  console.log(
    `\n${s}: ${rs[0]!.photos} photos; medians of ${rounds} rounds; ms per photo (share of the total)\n`,
  );
  console.log(line(head));
  console.log(`|${w.map((x, i) => (i ? '-'.repeat(x + 1) + ':' : '-'.repeat(x + 2))).join('|')}|`);
  for (const r of table.slice(1)) console.log(line(r));
}
