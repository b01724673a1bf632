/**
 * Where the recognition pipeline's time goes, per image: decode, detect, align, embed, for YuNet
 * 2023mar (fixed 640x640) + a MobileFaceNet from ../shared, on deepface's real photos, against the
 * bare onnxruntime sessions of the same two models (a pre-filled 1x3x640x640 tensor for YuNet, a
 * pre-filled Nx3x112x112 one for the recogniser), opened with the same thread settings (onnxruntime's
 * default). The pipeline is FaceRecognizer's own: detector(), detect with keep 'largest' (one face
 * per image, as embed()/crop() do), align(), embedCrops() with `--batch` aligned faces per ONNX call.
 *
 *   overhead = (detect + align + embed) / (bare detector + faces/image x bare recogniser(N)/N)
 *
 * The target is <= 1.2. Rounds alternate pipeline and bare runs so machine load hits both alike;
 * every number is the median over rounds of that round's per-image mean. detect() is split into
 * its pre-processing (letterboxBlob: the fused resize + pad + blob pass, timed on its own on every
 * photo into a reused buffer, as the detector does), its session.run (timed inside the pipeline by
 * wrapping the session's run) and the rest (decoding the outputs, NMS, keep); embed() into
 * session.run and the rest (fillInput, normalising).
 *
 * Flip-sum is off unless --flip (then the recogniser embeds 2 images per face and the bare run uses 2N).
 *
 *   node --import tsx bench/pipeline.ts [--model w600k-mbf-int8|mobilefacenet-foamliu] [--rounds 5]
 *     [--batch 1,32] [--flip] [--no-spin] [--json]
 *
 * --no-spin opens every session with onnxruntime's session.intra_op.allow_spinning = 0 (idle pool
 * threads sleep instead of spinning after a run): an experiment on what src/runtime/onnx.ts could set.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BlobOptions } from '../src/face/detectors/blob.js';
import { median } from '../src/face/detectors/evaluate.js';
import { letterboxBlob } from '../src/face/detectors/resize_blob.js';
import { YuNetDetector } from '../src/face/detectors/yunet.js';
import { decodeImage } from '../src/image/decode.js';
import type { RgbImage } from '../src/image/types.js';
import { fillInput } from '../src/models/embedder.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { openSession, ort } from '../src/runtime/onnx.js';
import { SHARED, SHARED_DETECTORS, SHARED_RECOGNISERS } from './shared_models.js';

const DATA = join(SHARED, 'data/faces/deepface/tests/unit/dataset');
const MODELS = ['w600k-mbf-int8', 'mobilefacenet-foamliu'];

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'w600k-mbf-int8' },
    rounds: { type: 'string', default: '5' },
    batch: { type: 'string', default: '1,32' },
    flip: { type: 'boolean', default: false },
    'no-spin': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const model = SHARED_RECOGNISERS[values.model!];
if (!MODELS.includes(values.model!) || !model)
  throw new Error(`--model ${values.model}: use one of ${MODELS.join(', ')}`);
const rounds = Number(values.rounds);
const batches = values.batch!.split(',').map(Number);
if (!(Number.isInteger(rounds) && rounds >= 1) || !batches.every((b) => Number.isInteger(b) && b >= 1))
  throw new Error(`--rounds and --batch take positive integers`);
const detSpec = SHARED_DETECTORS.yunet!;
const detPath = detSpec.slice(detSpec.indexOf(':') + 1);
for (const p of [DATA, model.path, detPath])
  if (!existsSync(p)) {
    console.log(`skipped: ${p} is absent (the shared data and models live beside the repo, in ../shared)`);
    process.exit(0);
  }

if (values['no-spin']) {
  // Experiment, bench-only: every session (the pipeline's and the bare ones) opened with idle
  // intra-op threads sleeping instead of spinning between runs, as openSession could set it.
  const ctor = ort.InferenceSession as unknown as { create: (...a: unknown[]) => Promise<unknown> };
  const create = ctor.create.bind(ctor);
  ctor.create = (path, opts) =>
    create(path, { ...(opts as object), extra: { session: { intra_op: { allow_spinning: '0' } } } });
}

const files = readdirSync(DATA)
  .filter((f) => /\.jpe?g$/i.test(f))
  .sort()
  .map((f) => join(DATA, f));

const rec = await FaceRecognizer.create({
  model: model.path,
  preprocess: model.preprocess,
  detector: detSpec,
  flip: values.flip,
});
const opened = await rec.detector();
if (!(opened instanceof YuNetDetector) || opened.fixedSize?.join('x') !== '640x640')
  throw new Error(`${detPath}: expected YuNet 2023mar with a fixed 640x640 input`);
const detector: YuNetDetector = opened;
const copies = values.flip ? 2 : 1;
const spec = rec.manifest.input;

/**
 * Times every run of a session the pipeline owns (a private field of the detector and of the
 * embedder: wrapped here, their code unchanged), so detect and embed split into run and the rest.
 */
function timeRuns(owner: object): { ms: number } {
  const s = (owner as { session: ort.InferenceSession }).session;
  const acc = { ms: 0 };
  const run = s.run.bind(s) as (...a: unknown[]) => Promise<unknown>;
  (s as unknown as { run: typeof run }).run = async (...a) => {
    const t0 = performance.now();
    try {
      return await run(...a);
    } finally {
      acc.ms += performance.now() - t0;
    }
  };
  return acc;
}
const detRuns = timeRuns(detector);
const recRuns = timeRuns(rec.embedder);

type Stages = {
  decode: number;
  detect: number;
  detectRun: number;
  align: number;
  embed: number;
  embedRun: number;
  faces: number;
};

/** One pass over every photo; ms summed per stage. Crops are embedded `batch` faces per call. */
async function pipeline(batch: number): Promise<Stages> {
  const t: Stages = { decode: 0, detect: 0, detectRun: 0, align: 0, embed: 0, embedRun: 0, faces: 0 };
  const det0 = detRuns.ms;
  const rec0 = recRuns.ms;
  let pending: RgbImage[] = [];
  const flush = async (): Promise<void> => {
    const t0 = performance.now();
    await rec.embedCrops(pending);
    t.embed += performance.now() - t0;
    t.faces += pending.length;
    pending = [];
  };
  for (const f of files) {
    const t0 = performance.now();
    const image = await decodeImage(f);
    const t1 = performance.now();
    const faces = await detector.detect(image, { keep: 'largest' });
    const t2 = performance.now();
    t.decode += t1 - t0;
    t.detect += t2 - t1;
    if (!faces[0]) continue;
    const t3 = performance.now();
    pending.push(rec.align(image, faces[0]));
    t.align += performance.now() - t3;
    if (pending.length === batch) await flush();
  }
  if (pending.length) await flush();
  t.detectRun = detRuns.ms - det0;
  t.embedRun = recRuns.ms - rec0;
  return t;
}

// Bare sessions: same files, same (default) thread settings as the detector's and the embedder's.
const detSession = await openSession(detPath);
const recSession = await openSession(model.path);
const firstImage = await decodeImage(files[0]!);
/** YuNet's input convention (yunet.ts). */
const YUNET_BLOB: BlobOptions = { order: 'bgr', mean: [0, 0, 0], scale: 1 };
const g = detector.geometry(firstImage.width, firstImage.height);
const detInput = new ort.Tensor('float32', letterboxBlob(firstImage, g, YUNET_BLOB), [1, 3, 640, 640]);
const firstFace = (await detector.detect(firstImage, { keep: 'largest' }))[0]!;
const recInputs = new Map<number, ort.Tensor>();
for (const n of batches.map((b) => b * copies)) {
  const size = 3 * spec.width * spec.height;
  const data = new Float32Array(n * size);
  const crop = rec.align(firstImage, firstFace);
  for (let k = 0; k < n; k++) fillInput(crop, spec, data, k * size, k % 2 === 1);
  recInputs.set(n, new ort.Tensor('float32', data, [n, 3, spec.height, spec.width]));
}

/** Mean ms of `runs` session.run calls. */
async function bare(session: ort.InferenceSession, input: ort.Tensor, runs: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) {
    const out = await session.run({ [session.inputNames[0]!]: input });
    for (const o of Object.values(out)) o.dispose();
  }
  return (performance.now() - t0) / runs;
}

/** The detector's pre-processing on each photo, as detect() does it: one fused pass into a reused buffer. */
const preBuffer = new Float32Array(3 * 640 * 640);
async function detectorPre(): Promise<{ blob: number }> {
  let ms = 0;
  for (const f of files) {
    const image = await decodeImage(f);
    const t0 = performance.now();
    letterboxBlob(image, detector.geometry(image.width, image.height), YUNET_BLOB, preBuffer);
    ms += performance.now() - t0;
  }
  return { blob: ms / files.length };
}

console.error(
  `${values.model} + YuNet 2023mar 640x640, ${files.length} photos, batches ${batches.join(', ')}, ` +
    `flip ${values.flip ? 'on' : 'off'}, ${rounds} rounds after a warm-up`,
);
// Warm-up: every path once (JIT, sharp's and onnxruntime's first-run allocations).
for (const b of batches) await pipeline(b);
await bare(detSession, detInput, 3);
for (const t of recInputs.values()) await bare(recSession, t, 3);
await detectorPre();

interface Round {
  stages: Map<number, Stages>;
  /** ms per bare YuNet run, measured right after each batch's pipeline pass. */
  bareDet: Map<number, number>;
  /** ms per face of the bare recogniser: one run on N (x2 with flip) images / N. */
  bareRec: Map<number, number>;
  pre: Awaited<ReturnType<typeof detectorPre>>;
}
const perRound: Round[] = [];
for (let r = 0; r < rounds; r++) {
  const round: Round = { stages: new Map(), bareDet: new Map(), bareRec: new Map(), pre: undefined! };
  for (const b of batches) {
    const s = await pipeline(b);
    round.stages.set(b, s);
    // As many bare runs as the pipeline just made, so both see the same stretch of machine load.
    round.bareDet.set(b, await bare(detSession, detInput, files.length));
    round.bareRec.set(b, (await bare(recSession, recInputs.get(b * copies)!, Math.ceil(s.faces / b))) / b);
  }
  round.pre = await detectorPre();
  perRound.push(round);
  console.error(`round ${r + 1}/${rounds} done`);
}
await rec.dispose();
await detSession.release();
await recSession.release();

const images = files.length;
const faces = perRound[0]!.stages.get(batches[0]!)!.faces;
const med = (f: (r: Round) => number): number => median(perRound.map(f));
const results = batches.map((b) => {
  const st = (r: Round) => r.stages.get(b)!;
  const inner = (r: Round) => (st(r).detect + st(r).align + st(r).embed) / images;
  const bareTotal = (r: Round) => r.bareDet.get(b)! + (faces / images) * r.bareRec.get(b)!;
  return {
    batch: b,
    decode: med((r) => st(r).decode / images),
    detect: med((r) => st(r).detect / images),
    detectRun: med((r) => st(r).detectRun / images),
    align: med((r) => st(r).align / images),
    embed: med((r) => st(r).embed / images),
    embedRun: med((r) => st(r).embedRun / images),
    total: med((r) => st(r).decode / images + inner(r)),
    imagesPerSec: med((r) => 1000 / (st(r).decode / images + inner(r))),
    imagesPerSecNoDecode: med((r) => 1000 / inner(r)),
    bareDetector: med((r) => r.bareDet.get(b)!),
    bareRecogniserPerFace: med((r) => r.bareRec.get(b)!),
    bare: med(bareTotal),
    detectRatio: med((r) => st(r).detect / images / r.bareDet.get(b)!),
    embedRatio: med((r) => st(r).embed / faces / r.bareRec.get(b)!),
    overhead: med((r) => inner(r) / bareTotal(r)),
    // The overhead split in two: the pipeline's own sessions' runs, and everything else (our code).
    runsOverBare: med((r) => (st(r).detectRun + st(r).embedRun) / images / bareTotal(r)),
    ownOverBare: med((r) => (inner(r) - (st(r).detectRun + st(r).embedRun) / images) / bareTotal(r)),
    overRuns: med((r) => (inner(r) * images) / (st(r).detectRun + st(r).embedRun)),
  };
});
const pre = { blob: med((r) => r.pre.blob) };

if (values.json) {
  console.log(JSON.stringify({ model: values.model, images, faces, flip: values.flip, results, pre }));
  process.exit(0);
}

const f2 = (v: number): string => v.toFixed(2);
const table = (rows: string[][]): void => {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(' | ')} |`;
  console.log(line(rows[0]!));
  console.log(`|${w.map((x, i) => (i ? '-'.repeat(x + 1) + ':' : '-'.repeat(x + 2))).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
};
const row = (label: string, f: (x: (typeof results)[number]) => string): string[] => [
  label,
  ...results.map(f),
];
console.log(
  `\n${values.model} + YuNet 2023mar 640x640: ${images} photos, ${faces} faces embedded (the largest per ` +
    `photo), flip ${values.flip ? 'on' : 'off'}${values['no-spin'] ? ', no spinning' : ''}; medians of ${rounds} rounds; ms per photo unless said\n`,
);
table([
  ['', ...batches.map((b) => `batch ${b}`)],
  row('decode (sharp)', (x) => f2(x.decode)),
  row('detect', (x) => f2(x.detect)),
  row('  of which letterboxBlob (resize, pad, blob)', () => f2(pre.blob)),
  row('  of which session.run', (x) => f2(x.detectRun)),
  row('  of which the rest (outputs, NMS)', (x) => f2(x.detect - pre.blob - x.detectRun)),
  row('align', (x) => f2(x.align)),
  row('embed', (x) => f2(x.embed)),
  row('  of which session.run', (x) => f2(x.embedRun)),
  row('images/s, whole pipeline', (x) => x.imagesPerSec.toFixed(1)),
  row('images/s, without decode', (x) => x.imagesPerSecNoDecode.toFixed(1)),
  row('bare YuNet run', (x) => f2(x.bareDetector)),
  row(`bare recogniser run, per face${copies > 1 ? ' (2 images)' : ''}`, (x) => f2(x.bareRecogniserPerFace)),
  row('detect / bare YuNet', (x) => f2(x.detectRatio)),
  row('embed per face / bare recogniser', (x) => f2(x.embedRatio)),
  row('overhead: (detect + align + embed) / bare', (x) => f2(x.overhead)),
  row('  = the two session.runs in the pipeline / bare', (x) => f2(x.runsOverBare)),
  row('  + the rest (our code) / bare', (x) => f2(x.ownOverBare)),
  row('(detect + align + embed) / their own runs', (x) => f2(x.overRuns)),
]);
