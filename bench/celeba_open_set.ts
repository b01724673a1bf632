/**
 * What a user of the default gets, on people no threshold was read from: the held-out half of the
 * CelebA subset (bench/celeba.ts; tools/calibrate_far.ts calibrates on the other half).
 *
 * 1. Verification: 10-fold accuracy over every genuine pair and as many seeded impostor pairs, and
 *    TAR / measured FAR at the model's thresholds.
 * 2. Open-set identification as `arcface identify` does it (best face per subject, the threshold
 *    from the model's FAR table for the gallery's size at FPIR 1%, src/pipeline/recognizer.ts):
 *    E people enrolled from `--enroll` photos each, another photo of each identified, and every
 *    photo of the held-out people not enrolled searched as a stranger. Reported: named right,
 *    named as someone else, unknown; strangers named (the measured FPIR, target 1%).
 *
 *   node --import tsx bench/celeba_open_set.ts [--model dlib-resnet-v1] [--detector faceapi]
 *     [--gallery 10,30,100] [--enroll 1,3] [--seed 1] [--no-flip] [--json]
 */
import { parseArgs } from 'node:util';
import { evaluateVerification } from '../src/eval/verification.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { rng, shuffle } from '../src/util/random.js';
import { balancedPairs, celebaSplit, embedAndScore } from './celeba.js';

const pct = (x: number, d = 1): string => `${(x * 100).toFixed(d)}%`;
const dot = (a: Float32Array, b: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    detector: { type: 'string' },
    gallery: { type: 'string', default: '10,30,100' },
    enroll: { type: 'string', default: '1,3' },
    seed: { type: 'string', default: '1' },
    /** Flip-sum off (default: the manifest's). */
    'no-flip': { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
  },
});
const seed = Number(values.seed);
const sizes = values.gallery!.split(',').map(Number);
const enrollCounts = values.enroll!.split(',').map(Number);

const split = await celebaSplit(seed);
if (!split) {
  console.log(
    'skipped: ../shared/data/train/celeba-subset is absent (the shared data sets live beside the repo)',
  );
  process.exit(0);
}
const rec = await FaceRecognizer.create({
  model: values.model,
  detector: values.detector,
  ...(values['no-flip'] ? { flip: false } : {}),
});
const items = split.heldOut;
const {
  embeddings,
  noFace,
  genuine,
  impostor: impostorAll,
} = await embedAndScore(rec, items, Boolean(values.quiet));

// 1. Verification on the held-out people.
const { scores, same } = balancedPairs(genuine, impostorAll, seed);
const v = evaluateVerification(scores, same, { folds: 10, fars: [1e-3] });
const verifyT = rec.threshold;
const rate = (xs: ArrayLike<number>, t: number) => Array.from(xs).filter((s) => s >= t).length / xs.length;
const verification = {
  photos: embeddings.size,
  noFace: noFace.length,
  genuinePairs: genuine.length,
  impostorPairs: impostorAll.length,
  accuracy10fold: v.accuracy,
  std: v.std,
  auc: v.auc,
  atVerifyThreshold:
    verifyT === undefined
      ? null
      : { threshold: verifyT, tar: rate(genuine, verifyT), far: rate(impostorAll, verifyT) },
};

// 2. Open set. People with enough photos to enroll `enroll` and probe one more.
const byId = new Map<string, string[]>();
for (const x of items)
  if (embeddings.has(x.file))
    (byId.get(x.identity) ?? byId.set(x.identity, []).get(x.identity)!).push(x.file);
const openSet: Record<string, unknown>[] = [];
for (const enroll of enrollCounts) {
  const eligible = [...byId.keys()].filter((id) => byId.get(id)!.length > enroll).sort();
  for (const size of sizes) {
    if (size >= eligible.length) continue; // some held-out people must stay strangers
    const rr = rng(seed * 1000 + size * 10 + enroll);
    const people = shuffle([...eligible], rr);
    const enrolled = people.slice(0, size);
    const strangers = [...byId.keys()].filter((id) => !enrolled.includes(id));
    const gallery: { id: string; e: Float32Array }[] = [];
    const probes: { id: string; e: Float32Array }[] = [];
    for (const id of enrolled) {
      const files = shuffle([...byId.get(id)!], rr);
      for (const f of files.slice(0, enroll)) gallery.push({ id, e: embeddings.get(f)! });
      probes.push({ id, e: embeddings.get(files[enroll]!)! });
    }
    const rule = rec.openSetThreshold(gallery.length);
    const best = (e: Float32Array) => {
      let top = { id: '', s: -Infinity };
      for (const g of gallery) {
        const s = dot(e, g.e);
        if (s > top.s) top = { id: g.id, s };
      }
      return top;
    };
    let right = 0;
    let wrong = 0;
    let rank1 = 0;
    for (const p of probes) {
      const b = best(p.e);
      if (b.id === p.id) rank1++;
      if (b.s >= rule.threshold) {
        if (b.id === p.id) right++;
        else wrong++;
      }
    }
    let strangerPhotos = 0;
    let named = 0;
    for (const id of strangers)
      for (const f of byId.get(id)!) {
        strangerPhotos++;
        if (best(embeddings.get(f)!).s >= rule.threshold) named++;
      }
    openSet.push({
      enrolledPeople: size,
      photosEach: enroll,
      galleryFaces: gallery.length,
      threshold: rule.threshold,
      rule: rule.rule,
      rank1: rank1 / probes.length,
      namedRight: right / probes.length,
      namedWrong: wrong / probes.length,
      unknown: (probes.length - right - wrong) / probes.length,
      strangerPhotos,
      strangersNamed: named / strangerPhotos,
    });
  }
}

await rec.dispose();
const result = {
  model: rec.manifest.name,
  detector: rec.detectorSpec,
  flip: rec.flip,
  heldOutIdentities: byId.size,
  verification,
  openSet,
};
if (values.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(
    `${result.model} + ${result.detector} (flip ${rec.flip ? 'on' : 'off'}), CelebA held-out half: ${byId.size} people, ${embeddings.size} photos (${noFace.length} without a face)`,
  );
  console.log(
    `verification: 10-fold ${pct(v.accuracy, 2)} ± ${pct(v.std, 2)}, AUC ${v.auc.toFixed(4)}` +
      (verification.atVerifyThreshold
        ? `; at the verify threshold ${verifyT!.toFixed(4)}: TAR ${pct(verification.atVerifyThreshold.tar)}, FAR ${pct(verification.atVerifyThreshold.far, 2)}`
        : ''),
  );
  console.log('open set (threshold for FPIR 1% over the gallery):');
  console.log('people  photos  faces  threshold  rank-1  named right  named wrong  unknown  strangers named');
  for (const o of openSet as Record<string, number>[])
    console.log(
      [
        String(o.enrolledPeople).padStart(6),
        String(o.photosEach).padStart(7),
        String(o.galleryFaces).padStart(6),
        o.threshold!.toFixed(4).padStart(10),
        pct(o.rank1!).padStart(7),
        pct(o.namedRight!).padStart(12),
        pct(o.namedWrong!).padStart(12),
        pct(o.unknown!).padStart(8),
        `${pct(o.strangersNamed!, 2)} of ${o.strangerPhotos}`.padStart(16),
      ].join(' '),
    );
}
