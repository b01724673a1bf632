/**
 * `arcface train` end to end on generated 112x112 crops: a MobileFaceNet run writes its config,
 * split, log and checkpoints, validates on held-out identities, and resumes; bad configs and
 * data are refused before training starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

const bin = join(import.meta.dirname, '../src/cli/bin.ts');
const tmp = mkdtempSync(join(tmpdir(), 'arcface-train-'));

function arcface(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), bin, ...args], {
    encoding: 'utf8',
    cwd: tmp,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function crops(root: string, ids: number, per: number): Promise<void> {
  for (let i = 0; i < ids; i++) {
    mkdirSync(join(root, `id${i}`), { recursive: true });
    for (let k = 0; k < per; k++) {
      const data = Buffer.alloc(112 * 112 * 3);
      for (let p = 0; p < data.length; p++) data[p] = (p * (i + 3) + k * 17) % 256;
      await sharp(data, { raw: { width: 112, height: 112, channels: 3 } })
        .png()
        .toFile(join(root, `id${i}`, `${k}.png`));
    }
  }
}

test('a short MobileFaceNet run: run folder, open-set split, validation, resume', async () => {
  const data = join(tmp, 'data');
  await crops(data, 6, 4);
  const run = join(tmp, 'run');
  const common = [
    '--data',
    data,
    '--batch-size',
    '4',
    '--val-fraction',
    '0.34',
    '--val-pairs',
    '2',
    '--workers',
    '0',
  ];
  const a = arcface(
    'train',
    '--out',
    run,
    ...common,
    '--steps',
    '2',
    '--checkpoint-every',
    '1',
    '--validate-every',
    '0',
  );
  assert.equal(a.code, 0, a.err);
  assert.match(a.out, /done at step 2\/2/);
  assert.match(a.err, /validation at step 2: accuracy \d+\.\d\d% ± /);
  const split = JSON.parse(readFileSync(join(run, 'split.json'), 'utf8'));
  assert.equal(split.val.length, 2);
  assert.equal(split.train.length, 4);
  assert.deepEqual(
    split.val.filter((id: string) => split.train.includes(id)),
    [],
    'validation people are never trained on',
  );
  const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
  assert.equal(config.backbone, 'mobilefacenet');
  assert.equal(config.loss.name, 'arcface');
  const log = readFileSync(join(run, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const val = log.filter((l) => l.type === 'val');
  assert.equal(val.length, 1);
  assert.ok(val[0].accuracy >= 0 && val[0].accuracy <= 1);
  for (const l of log.filter((x) => x.type === 'step')) assert.ok(Number.isFinite(l.loss) && l.loss > 0);
  assert.ok(readdirSync(join(run, 'checkpoints')).includes('step-000002'));

  // --resume loads the last checkpoint (here: the run is already complete, so nothing is left to do);
  // a changed hyper-parameter, including the step budget that shapes the schedule, is refused.
  const bad = arcface('train', '--out', run, ...common, '--steps', '2', '--lr', '0.5', '--resume');
  assert.equal(bad.code, 2);
  assert.match(bad.err, /"lr" is 0\.1 .* 0\.5 now/);
  const longer = arcface('train', '--out', run, ...common, '--steps', '3', '--resume');
  assert.equal(longer.code, 2);
  assert.match(longer.err, /"steps" is 2/);
  const b = arcface('train', '--out', run, ...common, '--steps', '2', '--resume');
  assert.equal(b.code, 0, b.err);
  assert.match(b.out, /at step 2\/2/);

  // The run exports to ONNX + manifest with its terms, and that model embeds through onnxruntime.
  const noTerms = arcface('export', run, '-o', join(tmp, 'pkg'));
  assert.equal(noTerms.code, 2);
  assert.match(noTerms.err, /--licence and --training-data are required/);
  const ex = arcface(
    'export',
    run,
    '-o',
    join(tmp, 'pkg'),
    '--licence',
    'MIT',
    '--training-data',
    'generated',
    '--threshold',
    '0.3',
  );
  assert.equal(ex.code, 0, ex.err);
  const manifest = JSON.parse(readFileSync(join(tmp, 'pkg', 'manifest.json'), 'utf8'));
  assert.deepEqual([manifest.licence, manifest.output.dim, manifest.thresholds.verify], ['MIT', 512, 0.3]);
  const emb = arcface(
    'embed',
    join(data, 'id0', '0.png'),
    '--aligned',
    '-m',
    join(tmp, 'pkg', 'manifest.json'),
    '--json',
  );
  assert.equal(emb.code, 0, emb.err);
  assert.equal(JSON.parse(emb.out).embedding.length, 512);
});

test('bad configs and data are refused before training starts', async () => {
  const cfg = join(tmp, 'bad.json');
  writeFileSync(cfg, JSON.stringify({ backbone: 'mobilefacenet', learningRate: 0.1 }));
  const unknown = arcface('train', '--out', join(tmp, 'r1'), '--config', cfg);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /bad\.json: .*learningRate/);
  const name = arcface('train', '--out', join(tmp, 'r2'), '--data', tmp, '--backbone', 'resnet9000');
  assert.equal(name.code, 2);
  assert.match(name.err, /"backbone": unknown name "resnet9000"/);
  const range = arcface('train', '--out', join(tmp, 'r3'), '--data', tmp, '--batch-size', '0');
  assert.equal(range.code, 2);
  assert.match(range.err, /batchSize/);
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  const none = arcface('train', '--out', join(tmp, 'r4'), '--data', empty);
  assert.equal(none.code, 2);
  assert.match(none.err, /no images|empty/i);
  const one = join(tmp, 'one');
  await crops(one, 1, 3);
  const single = arcface('train', '--out', join(tmp, 'r5'), '--data', one);
  assert.equal(single.code, 2);
  assert.match(single.err, /identit/);
  assert.equal(existsSync(join(tmp, 'r4', 'checkpoints')), false);
});

test('fine-tuning flags: a missing init, 112x112 crops for the dlib ResNet and a warm-up as long as the run are refused', async () => {
  const data = join(tmp, 'four');
  await crops(data, 4, 3);
  const missing = arcface(
    'train',
    '--out',
    join(tmp, 'f1'),
    '--data',
    data,
    '--init',
    join(tmp, 'no-such-run'),
  );
  assert.notEqual(missing.code, 0);
  assert.match(missing.err, /no-such-run.*not a model this package can train from/);
  const wrongCrops = arcface(
    'train',
    '--out',
    join(tmp, 'f2'),
    '--data',
    data,
    '--init',
    'default',
    '--val-fraction',
    '0.5',
    '--steps',
    '2',
    '--batch-size',
    '2',
  );
  assert.equal(wrongCrops.code, 2);
  assert.match(wrongCrops.err, /expected an aligned 150x150 crop.*arcface prepare RAW CROPS --model default/);
  const frozen = arcface(
    'train',
    '--out',
    join(tmp, 'f3'),
    '--data',
    data,
    '--steps',
    '3',
    '--freeze-backbone-steps',
    '3',
  );
  assert.equal(frozen.code, 2);
  assert.match(frozen.err, /"freezeBackboneSteps" \(3\) must be below the 3 training steps/);
  const scale = arcface('train', '--out', join(tmp, 'f4'), '--data', data, '--backbone-lr-scale', '-1');
  assert.equal(scale.code, 2);
  assert.match(scale.err, /backbone-lr-scale/);
  assert.equal(existsSync(join(tmp, 'f2', 'checkpoints')), false);
});
