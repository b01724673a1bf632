/**
 * Calibrates the verification thresholds of the zoo's local recognisers (the models in
 * ../shared/models/recognizers) on the CelebA subset in ../shared/data/train/celeba-subset — not on
 * the deepface / face_recognition / openface photos, which are the project's test sets. The numbers
 * it prints are the ones in zoo.ts's `thresholds` (verify = max accuracy, "1e-2" / "1e-3" = the
 * most permissive threshold whose FAR on these pairs is within the target).
 *
 *   node --import tsx tools/calibrate_zoo.ts [--models a,b] [--per-identity 5] [--impostor-ratio 1]
 *     [--seed 1] [--identities N] [--quiet] [--json]   (--json: the numbers on stdout, the table on stderr)
 *
 * Pairs (buildPairs): all same-person pairs among up to --per-identity seeded-chosen images of each
 * identity with 2+ images, and as many different-person pairs (x --impostor-ratio) among the same
 * images. Few images for many pairs keeps the slow part, detection, short: every image is detected
 * (faceapi, the CLI default) and aligned once, and the crops are shared by the models, which all
 * take the same 112x112 ArcFace template. No face: a centre crop, as InsightFace's evaluation does
 * (counted). Embeddings use each manifest's flip-sum, as `arcface verify` does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { thresholdForAccuracy, thresholdForFar, type Calibration } from '../src/eval/calibrate.js';
import { csvFields, textLines, type Pair } from '../src/eval/pairs.js';
import { evaluateVerification } from '../src/eval/verification.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { cosine } from '../src/pipeline/similarity.js';
import { rng, shuffle } from '../src/util/random.js';
import { cropPhotos, embedCropMap } from '../bench/celeba.js';

const SHARED = join(import.meta.dirname, '../../shared');
const DATA = join(SHARED, 'data/train/celeba-subset');
const RECOGNISERS: Record<string, string> = {
  'w600k-mbf-int8': 'w600k-mbf-int8/w600k_mbf_int8.onnx',
  'mobilefacenet-foamliu': 'mobilefacenet-foamliu/mobilefacenet.onnx',
  'mobilefacenet-paddle': 'mobilefacenet-paddle/mobilefacenet.onnx',
};
const FARS = [1e-2, 1e-3] as const;

/** identity.csv (`file,celeba_identity`) as identity -> files, both sorted, so pairs do not depend on file order. */
function readIdentities(csv: string): Map<string, string[]> {
  const lines = textLines(readFileSync(csv, 'utf8'));
  const head = csvFields(lines[0]!.text);
  const [fi, ii] = ['file', 'celeba_identity'].map((h) => head.indexOf(h));
  if (fi! < 0 || ii! < 0) throw new Error(`${csv}: expected the header "file,celeba_identity"`);
  const byId = new Map<string, string[]>();
  for (const l of lines.slice(1)) {
    const f = csvFields(l.text);
    const id = f[ii!]!;
    if (!byId.has(id)) byId.set(id, []);
    byId.get(id)!.push(f[fi!]!);
  }
  const ids = [...byId.keys()].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  return new Map(ids.map((id) => [id, byId.get(id)!.sort()]));
}

interface PairPlan {
  pairs: Pair[];
  genuine: number;
  impostor: number;
  identities: number;
  images: number;
}

/**
 * The seeded pair list: per identity, every same-person pair among up to `perIdentity` of its
 * images (a seeded pick, so few images are embedded for many pairs); then `ratio` times as many
 * different-person pairs over those same images, drawn without repeats. Each genuine pair is
 * followed by its `ratio` impostors, so every fold of the 10-fold protocol holds both classes.
 */
function buildPairs(byId: Map<string, string[]>, perIdentity: number, ratio: number, seed: number): PairPlan {
  const random = rng(seed);
  const genuine: Pair[] = [];
  const idOf = new Map<string, string>();
  let identities = 0;
  for (const [id, all] of byId) {
    if (all.length < 2) continue;
    identities++;
    const files = shuffle([...all], random)
      .slice(0, perIdentity)
      .sort();
    for (const f of files) idOf.set(f, id);
    for (let i = 0; i < files.length; i++)
      for (let j = i + 1; j < files.length; j++) genuine.push({ a: files[i]!, b: files[j]!, same: true });
  }
  const pool = [...idOf.keys()].sort();
  const seen = new Set<string>();
  const impostor: Pair[] = [];
  while (impostor.length < genuine.length * ratio) {
    const a = pool[Math.floor(random() * pool.length)]!;
    const b = pool[Math.floor(random() * pool.length)]!;
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    if (idOf.get(a) === idOf.get(b) || seen.has(key)) continue;
    seen.add(key);
    impostor.push({ a, b, same: false });
  }
  shuffle(genuine, random);
  const pairs = genuine.flatMap((g, i) => [g, ...impostor.slice(i * ratio, (i + 1) * ratio)]);
  return { pairs, genuine: genuine.length, impostor: impostor.length, identities, images: pool.length };
}

interface ModelCalibration {
  model: string;
  pairs: number;
  genuine: number;
  impostor: number;
  /** 10-fold accuracy (InsightFace protocol) and its std. */
  accuracy: number;
  std: number;
  auc: number;
  eer: number;
  /** Max-accuracy threshold on all pairs, with its accuracy there. */
  verify: Calibration;
  /** Keyed "1e-2", "1e-3": most permissive threshold with FAR <= target, TAR and FAR reached. */
  far: Record<string, Calibration>;
  /** What zoo.ts takes: verify rounded, FAR thresholds rounded up (so the FAR stays met), 4 decimals. */
  thresholds: Record<string, number>;
  /** TAR and FAR at the --at thresholds (e.g. a published one), keyed by the threshold as given. */
  at: Record<string, { tar: number; far: number }>;
}

/** TAR and FAR when accepting score >= t. */
function ratesAt(scores: number[], same: boolean[], t: number): { tar: number; far: number } {
  let tp = 0;
  let fp = 0;
  let p = 0;
  scores.forEach((s, i) => {
    if (same[i]) p++;
    if (s >= t && same[i]) tp++;
    else if (s >= t) fp++;
  });
  return { tar: tp / p, far: fp / (scores.length - p) };
}

const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;
const ceil4 = (x: number): number => Math.ceil(x * 1e4 - 1e-9) / 1e4;
const pct = (x: number, d = 2): string => `${(x * 100).toFixed(d)}%`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string' },
      /** Images per identity; all pairs among them are genuine pairs. */
      'per-identity': { type: 'string', default: '5' },
      /** Impostor pairs per genuine pair. */
      'impostor-ratio': { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      /** Only the first N identities (a quick run). */
      identities: { type: 'string' },
      /** Also report TAR and FAR at these cosine thresholds (comma-separated). */
      at: { type: 'string' },
      detector: { type: 'string', default: 'faceapi' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  const csv = join(DATA, 'identity.csv');
  if (!existsSync(csv)) {
    console.log(`skipped: ${csv} is absent (the shared data sets live beside the repo)`);
    return;
  }
  const perIdentity = Number(values['per-identity']);
  const seed = Number(values.seed);
  if (!(Number.isInteger(perIdentity) && perIdentity > 0))
    throw new Error('--per-identity: a positive integer');
  if (!Number.isInteger(seed)) throw new Error('--seed: an integer');
  const names = values.models ? values.models.split(',') : Object.keys(RECOGNISERS);
  for (const n of names)
    if (!RECOGNISERS[n]) throw new Error(`--models: unknown "${n}" (${Object.keys(RECOGNISERS).join(', ')})`);
  const quiet = Boolean(values.quiet);
  const at = values.at ? values.at.split(',') : [];
  for (const t of at) if (!(Number(t) > -1 && Number(t) < 1)) throw new Error(`--at: "${t}" is not a cosine`);

  let byId = readIdentities(csv);
  if (values.identities) byId = new Map([...byId].slice(0, Number(values.identities)));
  const ratio = Number(values['impostor-ratio']);
  if (!(Number.isInteger(ratio) && ratio > 0)) throw new Error('--impostor-ratio: a positive integer');
  const plan = buildPairs(byId, perIdentity, ratio, seed);
  console.error(
    `CelebA subset: ${plan.genuine} genuine + ${plan.impostor} impostor pairs, ${plan.identities} identities, ` +
      `${plan.images} images (seed ${seed}, all pairs among <= ${perIdentity} images per identity)`,
  );

  const recs = new Map<string, FaceRecognizer>();
  for (const n of names)
    recs.set(
      n,
      await FaceRecognizer.create({
        model: join(SHARED, 'models/recognizers', RECOGNISERS[n]!),
        detector: values.detector,
      }),
    );
  for (const [n, r] of recs) {
    // The crops are shared, which holds only while every model takes the same template size.
    const first = recs.get(names[0]!)!.manifest.input;
    if (r.manifest.input.width !== first.width || r.manifest.input.height !== first.height)
      throw new Error(`${n}: input size differs from ${names[0]}'s; calibrate it on its own (--models ${n})`);
    if (r.manifest.name !== n)
      throw new Error(`${n}: the file did not resolve to its zoo manifest (got ${r.manifest.name})`);
  }

  const files = [...new Set(plan.pairs.flatMap((p) => [p.a, p.b]))].sort();
  const c = await cropPhotos(
    recs.get(names[0]!)!,
    files.map((f) => join(DATA, f)),
    'detect+align',
    quiet,
  );
  const crops = new Map([...c.crops].map(([k, v]) => [relative(DATA, k), v]));
  const noFace = c.noFace.length;
  const failed = c.failed;
  for (const f of failed) console.error(`skipped ${f}`);

  const results: ModelCalibration[] = [];
  for (const n of names) {
    const rec = recs.get(n)!;
    const embs = await embedCropMap(rec, crops, `embed ${n}`, quiet);
    const scores: number[] = [];
    const same: boolean[] = [];
    for (const p of plan.pairs) {
      const a = embs.get(p.a);
      const b = embs.get(p.b);
      if (!a || !b) continue;
      scores.push(cosine(a, b));
      same.push(p.same);
    }
    const v = evaluateVerification(scores, same, { folds: 10, fars: [...FARS] });
    const verify = thresholdForAccuracy(scores, same);
    const far: Record<string, Calibration> = {};
    const thresholds: Record<string, number> = { verify: round4(verify.threshold) };
    for (const f of FARS) {
      const key = f.toExponential();
      far[key] = thresholdForFar(scores, same, f);
      thresholds[key] = ceil4(far[key].threshold);
    }
    const genuine = same.filter(Boolean).length;
    results.push({
      model: n,
      pairs: scores.length,
      genuine,
      impostor: scores.length - genuine,
      accuracy: v.accuracy,
      std: v.std,
      auc: v.auc,
      eer: v.eer,
      verify,
      far,
      thresholds,
      at: Object.fromEntries(at.map((t) => [t, ratesAt(scores, same, Number(t))])),
    });
    await rec.dispose();
  }

  const out = values.json ? console.error : console.log;
  out(`faces not found (centre crop): ${noFace} of ${crops.size} images; unreadable: ${failed.length}`);
  out(
    [
      'model'.padEnd(22),
      'pairs'.padStart(11),
      '10-fold acc'.padStart(16),
      'AUC'.padStart(7),
      'EER'.padStart(7),
      'verify (acc)'.padStart(17),
      ...FARS.map((f) => `@FAR ${f.toExponential()} (TAR)`.padStart(22)),
    ].join(' '),
  );
  for (const r of results)
    out(
      [
        r.model.padEnd(22),
        `${r.genuine}+${r.impostor}`.padStart(11),
        `${pct(r.accuracy)} ± ${pct(r.std)}`.padStart(16),
        r.auc.toFixed(4).padStart(7),
        pct(r.eer).padStart(7),
        `${r.thresholds.verify!.toFixed(4)} (${pct(r.verify.accuracy)})`.padStart(17),
        ...FARS.map((f) => {
          const k = f.toExponential();
          return `${r.thresholds[k]!.toFixed(4)} (${pct(r.far[k]!.tar, 1)})`.padStart(22);
        }),
        ...at.map((t) => `@${t}: TAR ${pct(r.at[t]!.tar, 1)} FAR ${r.at[t]!.far.toExponential(1)}`),
      ].join(' '),
    );
  if (values.json) {
    console.log(
      JSON.stringify(
        {
          data: 'celeba-subset',
          seed,
          perIdentity,
          impostorRatio: ratio,
          detector: values.detector,
          genuine: plan.genuine,
          impostor: plan.impostor,
          identities: plan.identities,
          images: plan.images,
          noFace,
          failed,
          results,
        },
        null,
        2,
      ),
    );
  }
}

await main();
