/**
 * Fine-tuning the default recogniser (issue 15): `prepare --model default` makes the dlib chips the
 * pipeline makes, `init: "default"` starts from face-api's published weights, a few steps on real
 * faces (deepface's 13 people) with a head-only warm-up lower the loss while verification of other
 * people (face_recognition's examples) stays within a stated margin of the start, and the export
 * embeds as the trained backbone does, its manifest carrying the base model's terms.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDlibResnet, loadPretrainedDlibResnet } from '../src/backbones/index.js';
import { decodeCrop, normaliseInto, openFaceDataset } from '../src/data/dataset.js';
import { prepareDataset } from '../src/data/prepare.js';
import { ArcfaceError } from '../src/errors.js';
import { writeModelPackage } from '../src/export/backbone.js';
import { calibrateFromRun } from '../src/export/calibrate_run.js';
import { Embedder } from '../src/models/embedder.js';
import { resolveModel } from '../src/models/resolve.js';
import { getModel } from '../src/models/zoo.js';
import { openDetector } from '../src/pipeline/detector_path.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { decodeImage } from '../src/image/decode.js';
import { initRuntime, tf } from '../src/runtime/backend.js';
import {
  applyInit,
  createTrainBackbone,
  describeInit,
  DLIB_INPUT,
  type TrainBackbone,
} from '../src/train/backbone.js';
import { parseTrainConfig } from '../src/train/config.js';
import { readLog } from '../src/train/log.js';
import { loadTrainedBackbone, runTraining } from '../src/train/run.js';
import type { Detector } from '../src/face/detectors/types.js';
import { SHARED, skipUnless } from './helpers.js';

const DEEPFACE_ROOT = join(SHARED, 'data/faces/deepface');
const DEEPFACE_LABELS = join(DEEPFACE_ROOT, 'identity_labels.csv');
const KNN = join(SHARED, 'data/faces/face_recognition/examples/knn_examples/train');
const SKIP = skipUnless(
  [DEEPFACE_LABELS, KNN],
  "deepface's labelled photos and face_recognition's knn examples",
);

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'arcface-finetune-'));
  dirs.push(d);
  return d;
};

/** Unit embeddings of every chip of a prepared folder, by the backbone in inference mode. */
async function embedChips(model: TrainBackbone, root: string) {
  const ds = await openFaceDataset(root);
  const per = DLIB_INPUT.size * DLIB_INPUT.size * 3;
  const data = new Float32Array(ds.items.length * per);
  for (const [i, it] of ds.items.entries())
    normaliseInto(
      data,
      i * per,
      await decodeCrop(it.file, DLIB_INPUT.size),
      DLIB_INPUT.size,
      false,
      DLIB_INPUT,
    );
  const e = tf.tidy(() => {
    const x = model.apply(tf.tensor4d(data, [ds.items.length, DLIB_INPUT.size, DLIB_INPUT.size, 3]), false);
    return tf.div(x, tf.norm(x, 'euclidean', 1, true));
  });
  const v = e.arraySync() as number[][];
  e.dispose();
  return ds.items.map((it, i) => ({ identity: it.identity, file: it.file, e: v[i]! }));
}

/** Best-threshold accuracy over every pair (same person or not). */
function pairAccuracy(embs: { identity: string; e: number[] }[]): number {
  const pairs: { s: number; same: boolean }[] = [];
  for (let i = 0; i < embs.length; i++)
    for (let j = i + 1; j < embs.length; j++)
      pairs.push({
        s: embs[i]!.e.reduce((a, x, k) => a + x * embs[j]!.e[k]!, 0),
        same: embs[i]!.identity === embs[j]!.identity,
      });
  let best = 0;
  for (const t of pairs) {
    const right = pairs.filter((p) => p.s >= t.s === p.same).length;
    best = Math.max(best, right / pairs.length);
  }
  return best;
}

describe('fine-tuning the default recogniser', { skip: SKIP }, () => {
  let detector: Detector;
  let trainCrops: string;
  let testCrops: string;
  before(async () => {
    await initRuntime();
    ({ detector } = await openDetector());
    trainCrops = tmp();
    testCrops = tmp();
    const dlib = getModel('dlib-resnet-v1').alignment;
    await prepareDataset({
      raw: DEEPFACE_ROOT,
      out: trainCrops,
      labels: DEEPFACE_LABELS,
      detector,
      alignment: dlib,
    });
    await prepareDataset({ raw: KNN, out: testCrops, detector, alignment: dlib });
  });
  after(async () => {
    await detector?.dispose();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("prepare --model default writes the pipeline's own 150x150 dlib chip", async () => {
    const rec = await FaceRecognizer.create({ detector: 'faceapi' });
    try {
      const { image, faces } = await rec.detect(join(KNN, 'obama/obama.jpg'));
      const chip = rec.align(image, faces[0]!);
      const prepared = await decodeCrop(join(testCrops, 'obama/obama.png'), 150);
      assert.equal(chip.width, 150);
      let maxDiff = 0;
      for (let i = 0; i < prepared.length; i++)
        maxDiff = Math.max(maxDiff, Math.abs(prepared[i]! - chip.data[i]!));
      assert.equal(maxDiff, 0, 'the PNG chip is the pipeline chip, byte for byte');
    } finally {
      await rec.dispose();
    }
    // 112x112 ArcFace crops already in the folder: refused, not mixed.
    await assert.rejects(
      prepareDataset({ raw: KNN, out: testCrops, detector }),
      /holds 150x150 dlib crops; this run makes 112x112 arcface ones/,
    );
  });

  it('config: init "default" implies dlib-resnet 128-d; bad values are refused before any work', async () => {
    const base = { data: { train: trainCrops }, steps: 4 };
    const c = parseTrainConfig({ ...base, init: 'default' }, 't');
    assert.equal(c.backbone, 'dlib-resnet');
    assert.equal(c.embeddingSize, 128);
    assert.throws(
      () => parseTrainConfig({ ...base, freezeBackboneSteps: 4 }, 't'),
      /"freezeBackboneSteps" \(4\) must be below the 4/,
    );
    assert.throws(
      () => parseTrainConfig({ ...base, backboneLrScale: 0 }, 't'),
      /"backboneLrScale" must be > 0/,
    );
    const mfn = createTrainBackbone({ backbone: 'mobilefacenet', embeddingSize: 128, seed: 1 });
    try {
      await assert.rejects(
        applyInit(mfn, 'default', 'mobilefacenet'),
        /is the default recogniser, a dlib-resnet/,
      );
      await assert.rejects(
        applyInit(mfn, join(trainCrops, 'nowhere'), 'mobilefacenet'),
        (e: unknown) =>
          e instanceof ArcfaceError && e.code === 'NOT_FOUND' && /nor a run folder/.test(e.message),
      );
    } finally {
      mfn.dispose();
    }
    await assert.rejects(
      runTraining({
        config: parseTrainConfig({ data: { train: testCrops }, steps: 2, batchSize: 2 }, 't'),
        runDir: tmp(),
      }),
      /this backbone takes 112x112 arcface crops: `arcface prepare RAW CROPS`/,
    );
  });

  it('a few steps from the default lower the loss, keep other people apart, and export as trained', async (t) => {
    const pre = createTrainBackbone({ backbone: 'dlib-resnet', embeddingSize: 128, seed: 1 });
    await applyInit(pre, 'default', 'dlib-resnet');
    const before = pairAccuracy(await embedChips(pre, testCrops));
    pre.dispose();
    const runDir = tmp();
    const config = parseTrainConfig(
      {
        init: 'default',
        loss: { name: 'arcface', s: 32, m: 0.5 },
        batchSize: 8,
        steps: 8,
        lr: 0.1,
        backboneLrScale: 0.1,
        freezeBackboneSteps: 3,
        checkpointEvery: 0,
        validateEvery: 0,
        logEvery: 1,
        seed: 5,
        data: { train: trainCrops },
      },
      't',
    );
    const r = await runTraining({ config, runDir, valFraction: 0.2, valPairsPerClass: 4, workers: 0 });
    try {
      assert.equal(r.step, 8);
      const losses = readLog(join(runDir, 'log.jsonl'))
        .filter((l) => l.type === 'step')
        .map((l) => (l as { loss: number }).loss);
      assert.equal(losses.length, 8);
      // The starting point is validated too, so the run's log shows what fine-tuning changed.
      const vals = readLog(join(runDir, 'log.jsonl')).filter((l) => l.type === 'val');
      assert.deepEqual(
        vals.map((v) => v.step),
        [0, 8],
      );
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      // A new head starts near chance over the classes at s = 32; the warm-up alone teaches it.
      assert.ok(
        mean(losses.slice(-3)) < 0.9 * mean(losses.slice(0, 3)),
        `losses ${losses.map((l) => l.toFixed(2))}`,
      );
      // Other people (never trained on) stay as separable as before, within 1 pair in 36.
      const afterAcc = pairAccuracy(await embedChips(r.backbone, testCrops));
      t.diagnostic(
        `losses ${losses.map((l) => l.toFixed(2)).join(' ')}; held-out pair accuracy ${before.toFixed(3)} -> ${afterAcc.toFixed(3)}`,
      );
      assert.ok(before >= 0.9, `the pretrained net separates them (${before})`);
      assert.ok(afterAcc >= before - 1 / 36, `held-out pair accuracy ${before} -> ${afterAcc}`);
      assert.ok(r.validation && r.validation.accuracy > 0.5);

      // Export: the converter folds conv + affine; the ONNX embedder must agree with the backbone.
      const loaded = await loadTrainedBackbone(runDir);
      const out = tmp();
      const base = describeInit(loaded.config.init!);
      const manifest = await writeModelPackage(loaded.backbone.net, out, {
        name: 'ft',
        licence: 'mine',
        trainingData: 'deepface test photos',
        researchOnly: false,
        base,
      });
      loaded.backbone.dispose();
      assert.deepEqual(manifest.alignment, { template: 'dlib', padding: 0.25 });
      assert.equal(manifest.output?.dim, 128);
      assert.equal(manifest.base?.name, 'dlib-resnet-v1');
      assert.match(manifest.base!.licence, /public domain/);
      const written = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
      assert.equal(written.base.trainingData, getModel('dlib-resnet-v1').trainingData);
      // Thresholds from the run's own validation people (3 of deepface's 13, never trained on).
      const cal = await calibrateFromRun(runDir, loaded.config, out);
      assert.ok(cal);
      assert.equal(cal.people, 3);
      assert.ok(
        cal.verify > -1 && cal.verify < 1 && cal.accuracy > 0.5,
        `verify ${cal.verify}, accuracy ${cal.accuracy}`,
      );
      assert.equal(cal.farTable, false, `${cal.impostor} impostor pairs are too few for a FAR table`);
      assert.match(cal.manifest.thresholdsSource!, /3 validation people, never trained on/);
      assert.equal(
        JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).thresholds.verify,
        cal.verify,
      );
      const resolved = await resolveModel(join(out, 'manifest.json'));
      const embedder = await Embedder.load(resolved);
      try {
        const trained = await embedChips(r.backbone, testCrops);
        for (const x of trained.slice(0, 3)) {
          const img = await decodeImage(x.file);
          const [e] = await embedder.embed([img], { flip: false });
          const cos = x.e.reduce((a, v, k) => a + v * e![k]!, 0);
          assert.ok(cos > 0.9999, `${x.file}: cosine ${cos}`);
        }
      } finally {
        await embedder.dispose();
      }
      // --init RUN: another run starts from this one's backbone, its terms followed back to the base.
      const next = createTrainBackbone({ backbone: 'dlib-resnet', embeddingSize: 128, seed: 9 });
      await applyInit(next, runDir, 'dlib-resnet');
      for (const [name, v] of next.namedWeights())
        assert.deepEqual(v.dataSync(), r.backbone.namedWeights().get(name)!.dataSync(), name);
      next.dispose();
      const chain = describeInit(runDir);
      assert.match(chain.name, /step-000008 \(step 8\)/);
      assert.match(chain.licence, /^as dlib-resnet-v1: public domain/);
      assert.ok(chain.trainingData.startsWith(trainCrops) && chain.trainingData.includes('FaceScrub'));
      const mfn = createTrainBackbone({ backbone: 'mobilefacenet', embeddingSize: 128, seed: 1 });
      await assert.rejects(
        applyInit(mfn, runDir, 'mobilefacenet'),
        /holds a dlib-resnet; the config's backbone is "mobilefacenet"/,
      );
      mfn.dispose();
      // The fine-tune moved the weights (the comparison is not of the published net with itself).
      const published = createDlibResnet();
      await loadPretrainedDlibResnet(published);
      const a = published.namedWeights().get('conv32_down/conv/filters')!.dataSync();
      const b = r.backbone.namedWeights().get('conv32_down/conv/filters')!.dataSync();
      assert.ok(a.some((x, i) => x !== b[i]));
      published.dispose();
    } finally {
      r.backbone.dispose();
    }
  });
});
