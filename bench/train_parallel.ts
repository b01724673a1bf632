/**
 * MobileFaceNet training throughput (the trainer's own loop: forward + backward + SGD), batch 32
 * with accumulate 2, in-process against `--parallel 2` (GradientPool: 2 worker threads, one wasm
 * instance each). Random images, ArcFace head over 1000 classes; the first step of each run is
 * warm-up and not counted.
 *
 *   node --import tsx bench/train_parallel.ts [--steps 4] [--batch 32] [--accumulate 2] [--parallel 2]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackbone } from '../src/backbones/index.js';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { parseTrainConfig } from '../src/train/config.js';
import { headFromConfig } from '../src/train/head.js';
import { GradientPool } from '../src/train/parallel.js';
import { train } from '../src/train/trainer.js';
import { headWeights, type BatchSource } from '../src/train/types.js';
import { rng } from '../src/util/random.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const STEPS = opt('steps', 4);
const BATCH = opt('batch', 32);
const ACCUMULATE = opt('accumulate', 2);
const PARALLEL = opt('parallel', 2);
const CLASSES = 1000;
const S = 112;

const config = parseTrainConfig(
  {
    backbone: 'mobilefacenet',
    embeddingSize: 512,
    loss: { name: 'arcface', s: 64, m: 0.5 },
    batchSize: BATCH,
    accumulate: ACCUMULATE,
    steps: STEPS + 1,
    lr: 0.01,
    checkpointEvery: 0,
    validateEvery: 0,
    logEvery: 1,
    seed: 1,
    data: { train: 'synthetic' },
  },
  'bench',
);

// Prepared once: the data source costs nothing during the timed steps.
const r = rng(5);
const images = Float32Array.from({ length: BATCH * S * S * 3 }, () => r() * 2 - 1);
const data: BatchSource = {
  batchesPerEpoch: 1000,
  imageShape: [S, S, 3],
  async *epoch(e, opts) {
    for (let i = opts?.fromBatch ?? 0; i < 1000; i++)
      yield { images, labels: Int32Array.from({ length: BATCH }, (_, k) => (i * BATCH + k) % CLASSES) };
  },
};

async function run(parallel: number): Promise<number> {
  const model = createBackbone({ name: 'mobilefacenet', embeddingSize: 512, seed: config.seed });
  const head = headFromConfig(config, CLASSES);
  const pool =
    parallel > 1 ? await GradientPool.start({ config, numClasses: CLASSES, workers: parallel }) : undefined;
  const runDir = mkdtempSync(join(tmpdir(), 'arcface-bench-parallel-'));
  let t0 = 0;
  try {
    await train({
      config,
      runDir,
      model,
      head,
      data,
      gradients: pool,
      catchSignals: false,
      onProgress: (p) => {
        if (p.step === 1) t0 = performance.now();
        process.stderr.write(`  parallel ${parallel}: step ${p.step} ${p.samplesPerSec.toFixed(1)} img/s\n`);
      },
    });
    return (STEPS * BATCH * ACCUMULATE) / ((performance.now() - t0) / 1000);
  } finally {
    await pool?.close();
    model.dispose();
    tf.dispose([...headWeights(head).values()]);
    rmSync(runDir, { recursive: true, force: true });
  }
}

const info = await initRuntime();
console.log(
  `MobileFaceNet, batch ${BATCH} x accumulate ${ACCUMULATE}, ${STEPS} timed steps, backend ${info.backend}; ` +
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
);
const local = await run(1);
const par = await run(PARALLEL);
console.log(`in-process:   ${local.toFixed(2)} img/s`);
console.log(`--parallel ${PARALLEL}: ${par.toFixed(2)} img/s`);
console.log(`ratio:        ${(par / local).toFixed(2)}x`);
