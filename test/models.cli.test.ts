import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { ZOO } from '../src/models/zoo.js';

const FIX = join(import.meta.dirname, 'fixtures');
const YUNET = join(
  import.meta.dirname,
  '../../shared/models/detectors/yunet/face_detection_yunet_2023mar.onnx',
);

/**
 * Runs `arcface models ...` through modelsCommand.run() in a child process (main.ts does not know the
 * command yet, and node:test's own reporter shares this process's stdout), mapping errors to exit
 * codes as main.ts does.
 */
const RUNNER = `
import { modelsCommand } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../src/cli/commands/models.ts')).href)};
try {
  process.exitCode = await modelsCommand.run(JSON.parse(process.argv[1]));
} catch (err) {
  if (err.name !== 'UsageError' && err.name !== 'ArcfaceError') throw err;
  process.stderr.write('arcface models: ' + err.message + '\\n');
  process.exitCode = 2;
}`;
function models(env: Record<string, string>, ...argv: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', RUNNER, JSON.stringify(argv)],
    { encoding: 'utf8', env: { ...process.env, ...env } },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const fresh = () => ({ ARCFACE_HOME: mkdtempSync(join(tmpdir(), 'arcface-cli-models-')) });

test('models list --json: every zoo model with its terms; nothing pulled in a fresh home', () => {
  const r = models(fresh(), 'list', '--json');
  assert.equal(r.code, 0);
  const rows = JSON.parse(r.out) as {
    name: string;
    task: string;
    pulled: boolean;
    researchOnly: boolean;
    licence: string;
    availability: string;
    dim: number | null;
  }[];
  assert.deepEqual(
    rows.map((x) => x.name),
    ZOO.map((m) => m.name),
  );
  const by = Object.fromEntries(rows.map((x) => [x.name, x]));
  assert.equal(by.buffalo_l.pulled, false);
  assert.equal(by.buffalo_l.researchOnly, true);
  assert.equal(by.buffalo_l.dim, 512);
  assert.equal(by['mobilefacenet-foamliu'].dim, 128);
  assert.equal(by['w600k-mbf-int8'].availability, 'local-only');
  assert.equal(by['faceapi-ssd'].availability, 'builtin');
  assert.equal(by['faceapi-ssd'].pulled, true, 'ships with @vladmandic/face-api');
  assert.equal(by['yunet-2023mar'].researchOnly, false);

  const table = models(fresh(), 'list');
  assert.match(table.out, /^NAME\s+TASK\s+SIZE\s+PULLED\s+USE\s+LICENCE\s+TRAINING DATA\n/);
  assert.match(
    table.out,
    /\nbuffalo_l\s+recognition\s+174\.4 MB\s+no\s+NON-COMMERCIAL RESEARCH ONLY\s+InsightFace/,
  );
  assert.match(table.out, /\nw600k-mbf-int8\s+recognition\s+3\.5 MB\s+no \(local-only\)/);
});

test('models info NAME and info FILE.onnx with pre-processing options', () => {
  const env = fresh();
  const r = models(env, 'info', 'antelopev2', '--json');
  const j = JSON.parse(r.out);
  assert.equal(j.manifest.file, 'glintr100.onnx');
  assert.equal(j.path, join(env.ARCFACE_HOME, 'models/antelopev2/glintr100.onnx'));
  assert.equal(j.pulled, false);
  assert.equal(j.sha256Source, 'published');
  assert.match(j.manifest.trainingData, /Glint360K/);

  const text = models(env, 'info', 'buffalo_l');
  assert.match(text.out, /use:\s+NON-COMMERCIAL RESEARCH ONLY/);
  assert.match(text.out, /accuracy:\s+lfw 99\.83%/);
  assert.match(
    text.out,
    /input:\s+112x112 NCHW RGB, \(x - \[127\.5, 127\.5, 127\.5\]\) \/ \[127\.5, 127\.5, 127\.5\]/,
  );

  const tiny = join(FIX, 'tiny_nhwc.onnx');
  const o = JSON.parse(
    models(env, 'info', tiny, '--json', '--color', 'bgr', '--mean', '0', '--std', '1,2,3').out,
  );
  assert.deepEqual(o.manifest.input, {
    width: 4,
    height: 4,
    layout: 'nhwc',
    color: 'bgr',
    mean: [0, 0, 0],
    std: [1, 2, 3],
  });
  assert.equal(o.manifest.output.dim, 48);
  assert.equal(o.path, tiny);
});

test('bad input exits 2 with a message: unknown names, missing arguments, bad options', () => {
  const env = fresh();
  const fails = (args: string[], re: RegExp) => {
    const r = models(env, ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re, args.join(' '));
  };
  fails(['info', 'buffalo_xl'], /unknown model "buffalo_xl" \(zoo models: .*buffalo_l/);
  fails(['pull', 'buffalo_xl'], /unknown model "buffalo_xl"/);
  fails(['pull'], /models pull needs a model NAME/);
  fails([], /needs a subcommand/);
  fails(['frob'], /unknown subcommand "frob"/);
  fails(['list', 'extra'], /takes no argument/);
  fails(['info', join(FIX, 'tiny_nchw.onnx'), '--color', 'yuv'], /--color must be rgb or bgr/);
  fails(['info', join(FIX, 'tiny_nchw.onnx'), '--mean', '1,2'], /bad mean "1,2"/);
  fails(['list', '--mean', '3'], /go with `models info FILE\.onnx`/);
  fails(['pull', 'mobilefacenet-paddle'], /no download source .*mkdir -p/);
  fails(['info', join(FIX, 'nope.onnx')], /nope\.onnx: model file not found/);
});

test(
  'models pull from a file:// mirror: the published YuNet hash is verified, then info reports it pulled',
  { skip: existsSync(YUNET) ? false : '../shared/models/detectors/yunet is absent' },
  () => {
    const env = { ...fresh(), ARCFACE_MODEL_MIRROR: pathToFileURL(dirname(YUNET)).href };
    const r = models(env, 'pull', 'yunet-2023mar');
    assert.equal(r.code, 0);
    const dest = join(env.ARCFACE_HOME, 'models/yunet-2023mar/face_detection_yunet_2023mar.onnx');
    assert.match(
      r.out,
      new RegExp(
        `yunet-2023mar: downloaded to ${dest}\\nsha256 8f2383e4[0-9a-f]+: matches the published sha256`,
      ),
    );
    assert.match(r.err, /pull yunet-2023mar \[#+\] 100% 1\/1 .*MB\/s ETA/);
    assert.deepEqual(readFileSync(dest), readFileSync(YUNET));
    const again = models(env, 'pull', 'yunet-2023mar');
    assert.match(again.out, /already at/);
    const info = JSON.parse(models(env, 'info', 'yunet-2023mar', '--json').out);
    assert.equal(info.pulled, true);
  },
);
