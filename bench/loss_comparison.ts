/**
 * The paper's loss comparison (ArcFace, CVPR 2019, Table 2) on the data we have: one backbone
 * (bench/loss_comparison_net.ts), one open-set split, one step budget and the same seeds for every
 * loss; only the head's loss differs. Each (loss, seed) trains in its own child process (its own
 * wasm heap; `--parallel 2` uses both cores) and reports 10-fold verification accuracy on pairs of
 * the held-out identities. Writes a Markdown table beside the paper's CASIA / ResNet50 LFW numbers.
 *
 *   node --import tsx bench/loss_comparison.ts --data CROPS [--seeds 1,2,3] [--steps 300]
 *        [--batch 64] [--parallel 2] [--losses arcface,cosface,...] [--scale S]
 *        [--out bench/results/loss_comparison.md]
 *
 * --scale S replaces the paper's s = 64 in every normalised loss (all rows but Softmax): at this
 * data size and budget the scale matters more than the margin (bench/README.md).
 *
 * CROPS: 112x112 aligned crops, one folder per identity (arcface prepare
 * ../shared/data/train/celeba-subset CROPS --labels .../identity.csv).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initRuntime } from '../src/runtime/backend.js';
import { openFaceDataset } from '../src/data/dataset.js';
import { splitByIdentity } from '../src/data/split.js';
import { createLoader } from '../src/data/loader.js';
import { headFromConfig, parseTrainConfig, train, type LossConfig } from '../src/train/index.js';
import { verificationValidator } from '../src/train/run.js';
import { smallFaceNet } from './loss_comparison_net.js';

/** Table 2's rows: name, loss config, and the paper's LFW accuracy (CASIA, ResNet50). */
const LOSSES: { label: string; loss: LossConfig; paper: number | null }[] = [
  { label: 'Softmax', loss: { name: 'softmax' }, paper: 99.08 },
  { label: 'Norm-Softmax (NS)', loss: { name: 'norm-softmax', s: 64 }, paper: 98.56 },
  { label: 'SphereFace (1.35)', loss: { name: 'sphereface', m1: 1.35, s: 64 }, paper: 99.11 },
  { label: 'CosFace (0.35)', loss: { name: 'cosface', m3: 0.35, s: 64 }, paper: 99.51 },
  { label: 'ArcFace (0.5)', loss: { name: 'arcface', m: 0.5, s: 64 }, paper: 99.53 },
  { label: 'CM1 (1, 0.3, 0.2)', loss: { name: 'cm1', s: 64 }, paper: 99.48 },
  { label: 'CM2 (0.9, 0.4, 0.15)', loss: { name: 'cm2', s: 64 }, paper: 99.5 },
  { label: 'ArcFace+Intra', loss: { name: 'arcface', m: 0.5, s: 64, intra: 1 }, paper: 99.45 },
  { label: 'ArcFace+Inter', loss: { name: 'arcface', m: 0.5, s: 64, inter: 1 }, paper: 99.43 },
  {
    label: 'ArcFace+Triplet',
    loss: { name: 'arcface', m: 0.5, s: 64, triplet: 1, tripletMargin: 0.35 },
    paper: 99.5,
  },
];

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const DATA = opt('data', process.env.ARCFACE_CELEBA_CROPS ?? '');
const STEPS = Number(opt('steps', '300'));
const SCALE = args.includes('--scale') ? Number(opt('scale', '64')) : null;
const BATCH = Number(opt('batch', '64'));
const SPLIT_SEED = 7; // the same held-out people and pairs for every run
const VAL_FRACTION = 0.2;

interface RunResult {
  label: string;
  seed: number;
  accuracy: number;
  std: number;
  loss: number;
  seconds: number;
}

async function child(label: string, seed: number): Promise<void> {
  const row = LOSSES.find((l) => l.label === label)!;
  await initRuntime('wasm');
  const ds = await openFaceDataset(DATA);
  const split = splitByIdentity(ds, { valFraction: VAL_FRACTION, seed: SPLIT_SEED });
  const config = parseTrainConfig(
    {
      backbone: 'loss-comparison-5conv',
      embeddingSize: 128,
      loss: SCALE !== null && row.loss.name !== 'softmax' ? { ...row.loss, s: SCALE } : row.loss,
      batchSize: BATCH,
      steps: STEPS,
      lr: 0.1,
      warmupSteps: Math.round(STEPS / 20),
      seed,
      validateEvery: 0,
      checkpointEvery: 0,
      keepCheckpoints: 1,
      logEvery: 10,
      data: { train: DATA },
    },
    'bench/loss_comparison',
  );
  const loader = createLoader(split.train, { batchSize: BATCH, seed, flip: true, workers: 1 });
  const validate = await verificationValidator(split.val, 20, SPLIT_SEED);
  const model = smallFaceNet(config.embeddingSize, seed);
  const head = headFromConfig(config, split.train.numClasses);
  const runDir = mkdtempSync(join(tmpdir(), 'arcface-losscmp-'));
  const t0 = Date.now();
  try {
    const r = await train({
      config,
      runDir,
      model,
      head,
      data: {
        batchesPerEpoch: loader.batchesPerEpoch,
        imageShape: [112, 112, 3],
        epoch: (e, o) => loader.epoch(e, o),
      },
      validate,
      catchSignals: false,
    });
    const out: RunResult = {
      label,
      seed,
      accuracy: r.validation!.accuracy,
      std: r.validation!.std,
      loss: r.loss,
      seconds: (Date.now() - t0) / 1000,
    };
    console.log(`RESULT ${JSON.stringify(out)}`);
  } finally {
    await loader.close();
    rmSync(runDir, { recursive: true, force: true });
  }
}

function runChild(label: string, seed: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), ...args, '--child', label, '--seed', String(seed)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)));
      else
        reject(
          new Error(
            `${label} seed ${seed} failed (exit ${code}): ${err.trim().split('\n').slice(-5).join(' | ')}`,
          ),
        );
    });
  });
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const sd = (v: number[]) => {
  if (v.length < 2) return 0;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
};

async function parent(): Promise<void> {
  if (!DATA) {
    console.error(
      'bench/loss_comparison: give --data CROPS (112x112 crops, a folder per identity; make them with ' +
        '`arcface prepare ../shared/data/train/celeba-subset CROPS --labels ../shared/data/train/celeba-subset/identity.csv`)',
    );
    process.exit(2);
  }
  const seeds = opt('seeds', '1,2,3').split(',').map(Number);
  const parallel = Math.max(1, Number(opt('parallel', '2')));
  const wanted = opt('losses', '');
  const rows = wanted
    ? LOSSES.filter((l) => wanted.split(',').some((w) => l.label.toLowerCase().startsWith(w.toLowerCase())))
    : LOSSES;
  const outPath = opt('out', 'bench/results/loss_comparison.md');
  await initRuntime('wasm');
  const ds = await openFaceDataset(DATA);
  const model = smallFaceNet(128, 1);
  console.log(
    `${rows.length} losses x ${seeds.length} seeds, ${STEPS} steps of ${BATCH} on ${ds.items.length} crops of ` +
      `${ds.numClasses} identities (${Math.round(VAL_FRACTION * 100)}% held out), backbone ${model.paramCount} parameters, ${parallel} at a time`,
  );
  const jobs = rows.flatMap((r) => seeds.map((seed) => ({ label: r.label, seed })));
  const results: RunResult[] = [];
  const failures: string[] = [];
  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      try {
        const r = await runChild(job.label, job.seed);
        results.push(r);
        const done = results.length + failures.length;
        const eta = ((Date.now() - t0) / done) * (jobs.length - done);
        console.log(
          `[${done}/${jobs.length}] ${r.label} seed ${r.seed}: ${(r.accuracy * 100).toFixed(2)}% ` +
            `(final loss ${r.loss.toFixed(3)}, ${r.seconds.toFixed(0)} s) ETA ${(eta / 60000).toFixed(1)} min`,
        );
      } catch (e) {
        failures.push((e as Error).message);
        console.log(`FAILED ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));

  const lines = [
    `# Loss comparison (paper Table 2) on ${ds.numClasses} CelebA identities`,
    '',
    `${new Date().toISOString().slice(0, 10)}: \`node --import tsx bench/loss_comparison.ts --data CROPS --seeds ${seeds.join(',')} --steps ${STEPS} --batch ${BATCH}${SCALE !== null ? ` --scale ${SCALE}` : ''}\`` +
      ` (${((Date.now() - t0) / 60000).toFixed(0)} min, ${parallel} processes).`,
    `Backbone: bench/loss_comparison_net.ts (5 convs on 56x56, ${model.paramCount} parameters, 128-d), SGD momentum 0.9,` +
      ` s = ${SCALE ?? 64} for the normalised losses,`,
    `lr 0.1 with ${Math.round(STEPS / 20)} warmup steps then poly decay, weight decay 5e-4, ${STEPS} steps of ${BATCH} (${((STEPS * BATCH) / ds.items.length).toFixed(1)} passes over the crops).`,
    `Accuracy: 10-fold verification on pairs of the ${Math.round(VAL_FRACTION * 100)}% held-out identities (never trained on), mean over seeds ± their standard deviation.`,
    '',
    '| loss | ours: accuracy % (mean ± sd over seeds) | per seed | paper: LFW % (CASIA, ResNet50) |',
    '| --- | ---: | --- | ---: |',
  ];
  for (const row of rows) {
    const rs = results.filter((r) => r.label === row.label).sort((a, b) => a.seed - b.seed);
    const acc = rs.map((r) => r.accuracy * 100);
    lines.push(
      `| ${row.label} | ${rs.length ? `${mean(acc).toFixed(2)} ± ${sd(acc).toFixed(2)}` : 'failed'} | ${rs
        .map((r) => `${r.seed}: ${(r.accuracy * 100).toFixed(2)}`)
        .join(', ')} | ${row.paper ?? ''} |`,
    );
  }
  if (failures.length) lines.push('', 'Failed runs:', ...failures.map((f) => `- ${f}`));
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, lines.join('\n') + '\n');
  console.log(lines.join('\n'));
  console.log(`\nwritten: ${outPath}`);
}

const ci = args.indexOf('--child');
if (ci >= 0) await child(args[ci + 1], Number(opt('seed', '1')));
else await parent();
