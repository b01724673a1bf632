import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { validateManifest, type ModelManifest } from '../src/models/manifest.js';
import { BUNDLED_RECOGNISER, DLIB_RECOGNISER, ZOO, findModel, getModel } from '../src/models/zoo.js';
import { modelDir, modelsRoot } from '../src/models/cache.js';
import { parseMeanStd } from '../src/models/resolve.js';
import { readUserConfig, saveThreshold, thresholdFor, userConfigPath } from '../src/models/user_config.js';

const SHARED = join(import.meta.dirname, '../../shared/models');
const shared = () =>
  existsSync(join(SHARED, 'detectors/yunet/face_detection_yunet_2023mar.onnx'))
    ? false
    : '../shared/models is absent: the hash check against the real files is skipped';

const good = () => ({
  name: 'my-model',
  task: 'recognition',
  file: 'net.onnx',
  input: {
    width: 112,
    height: 112,
    layout: 'nchw',
    color: 'rgb',
    mean: [127.5, 127.5, 127.5],
    std: [127.5, 127.5, 127.5],
  },
  output: { dim: 512 },
  flip: true,
  licence: 'MIT',
  trainingData: 'synthetic',
  researchOnly: false,
});

test('validateManifest accepts a complete manifest and copies it', () => {
  const m = validateManifest(good(), 'my.json');
  assert.equal(m.name, 'my-model');
  assert.deepEqual(m.input.mean, [127.5, 127.5, 127.5]);
  assert.equal(m.output?.dim, 512);
  const t = validateManifest(
    { ...good(), thresholds: { verify: 0.3, '1e-3': 0.4 }, thresholdsSource: 'my pairs, max accuracy' },
    'my.json',
  );
  assert.deepEqual(t.thresholds, { verify: 0.3, '1e-3': 0.4 });
  assert.equal(t.thresholdsSource, 'my pairs, max accuracy');
  assert.equal(
    validateManifest({ ...good(), thresholds: { verify: 0.3 } }, 'my.json').thresholdsSource,
    undefined,
  );
});

test('validateManifest errors name the file and the field', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...good(), name: undefined }, /my\.json: manifest field "name": expected a non-empty string, missing/],
    [{ ...good(), name: 'a/b' }, /"name"/],
    [
      { ...good(), task: 'segmentation' },
      /"task": expected "recognition" or "detection", got "segmentation"/,
    ],
    [{ ...good(), file: '../x.onnx' }, /"file": expected a bare file name/],
    [{ ...good(), file: 'x.pt' }, /"file": expected a name ending in \.onnx/],
    [{ ...good(), input: { ...good().input, mean: [1, 2] } }, /"input\.mean": expected 3 numbers/],
    [
      { ...good(), input: { ...good().input, std: [1, 0, 1] } },
      /"input\.std": expected 3 numbers in \(0, 255\]/,
    ],
    [{ ...good(), input: { ...good().input, layout: 'chw' } }, /"input\.layout"/],
    [{ ...good(), input: { ...good().input, color: 'yuv' } }, /"input\.color"/],
    [
      { ...good(), input: { ...good().input, width: 0 } },
      /"input\.width": expected a positive integer, got 0/,
    ],
    [{ ...good(), output: undefined }, /"output": expected an object \{dim\}, missing/],
    [{ ...good(), output: { dim: 1.5 } }, /"output\.dim"/],
    [{ ...good(), flip: 'yes' }, /"flip": expected true or false/],
    [{ ...good(), researchOnly: undefined }, /"researchOnly"/],
    [{ ...good(), licence: '' }, /"licence"/],
    [{ ...good(), sha256: 'ABC' }, /"sha256": expected 64 lower-case hex digits/],
    [{ ...good(), source: { url: 'ftp://x/y.onnx' } }, /"source\.url"/],
    [{ ...good(), source: { url: 'https://x/y.zip', archive: 'zip' } }, /"source\.member"/],
    [{ ...good(), source: { url: 'https://x/y.zip', member: 'a.onnx' } }, /"source\.archive"/],
    [{ ...good(), accuracy: { lfw: 99.8 } }, /"accuracy\.lfw": expected a fraction in \[0, 1\]/],
    [{ ...good(), thresholds: { verify: 2 } }, /"thresholds\.verify": expected a cosine/],
    [{ ...good(), thresholdsSource: '' }, /"thresholdsSource": expected a non-empty string, got ""/],
    [{ ...good(), thresholdsSource: 0.3 }, /"thresholdsSource": expected a non-empty string, got 0\.3/],
    [{ ...good(), detector: 'yunet' }, /"detector": expected no detector on a recognition model/],
    [{ ...good(), task: 'detection', output: undefined }, /"detector"/],
    [{ ...good(), licens: 'MIT' }, /unknown manifest field "licens"/],
  ];
  for (const [json, re] of cases)
    assert.throws(() => validateManifest(json, 'my.json'), re, JSON.stringify(json));
  assert.throws(() => validateManifest([], 'x.json'), /x\.json: a model manifest must be a JSON object/);
});

test('zoo: every manifest valid, https sources, licences and training data present, InsightFace research-only', () => {
  assert.ok(ZOO.length >= 11);
  assert.equal(new Set(ZOO.map((m) => m.name)).size, ZOO.length, 'names are unique');
  for (const m of ZOO) {
    assert.deepEqual(validateManifest(JSON.parse(JSON.stringify(m)), m.name), m);
    if (m.source) {
      assert.match(m.source.url, /^https:\/\//, m.name);
      if (m.source.archive) assert.ok(m.source.member, m.name);
    } else assert.ok(m.builtin || m.provenance, `${m.name}: no source, so say where it comes from`);
    assert.ok(m.licence.length > 5 && m.trainingData.length > 5, m.name);
    if (m.task === 'recognition') assert.ok(m.output && m.output.dim > 0 && !m.detector, m.name);
    else assert.ok(m.detector, m.name);
    if (m.accuracy) assert.ok(m.accuracySource, `${m.name}: accuracy without a source`);
    if (m.licence.startsWith('InsightFace')) assert.equal(m.researchOnly, true, m.name);
  }
  for (const name of ['buffalo_l', 'buffalo_s', 'antelopev2']) {
    const m = getModel(name);
    assert.equal(m.researchOnly, true);
    assert.match(m.licence, /non-commercial/);
    assert.deepEqual(m.input, findModel('buffalo_l')!.input);
    assert.equal(m.input.color, 'rgb');
    assert.deepEqual([m.input.width, m.input.height, m.input.layout, m.output?.dim], [112, 112, 'nchw', 512]);
    assert.deepEqual(m.input.mean, [127.5, 127.5, 127.5]);
    assert.ok(m.sha256 && m.source?.sha256, `${name} has published hashes`);
  }
  assert.equal(
    getModel('buffalo_l').source?.url,
    'https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip',
  );
  assert.equal(getModel('antelopev2').source?.member, 'antelopev2/glintr100.onnx');
  assert.match(getModel('yunet-2023mar').sha256!, /^8f2383e4/);
  assert.equal(getModel('mobilefacenet-paddle').input.color, 'bgr');
  assert.throws(() => getModel('buffalo_xl'), /unknown model "buffalo_xl" \(zoo models: .*buffalo_l/);
});

test('zoo: every recogniser has cosine thresholds in (0, 1), each with a source saying how it was obtained', () => {
  for (const m of ZOO.filter((z) => z.task === 'recognition')) {
    const t = m.thresholds;
    assert.ok(t && t.verify !== undefined, `${m.name}: no verify threshold`);
    for (const [k, v] of Object.entries(t)) assert.ok(v! > 0 && v! < 1, `${m.name}: thresholds.${k} = ${v}`);
    assert.ok(m.thresholdsSource && m.thresholdsSource.length > 40, `${m.name}: thresholds without a source`);
    // A lower target FAR can only need a stricter threshold (thresholdForFar walks one ROC).
    if (t['1e-2'] !== undefined && t['1e-3'] !== undefined) assert.ok(t['1e-3'] >= t['1e-2'], m.name);
    const src = m.thresholdsSource!;
    if (m.name === DLIB_RECOGNISER || m.provenance?.startsWith('local-only'))
      assert.ok(
        /calibration half of the CelebA subset/.test(src) && /tools\/calibrate_far\.ts/.test(src),
        `${m.name}: data and command`,
      );
    else if (m.name === BUNDLED_RECOGNISER)
      assert.ok(
        /held-out CelebA/.test(src) && /tools\/make_default_model\.ts/.test(src),
        `${m.name}: data and command`,
      );
    else assert.match(src, /deepinsight\/insightface web-demos\/src_recognition\/main\.py/, m.name);
  }
  for (const m of ZOO.filter((z) => z.task === 'detection')) assert.equal(m.thresholds, undefined, m.name);
});

test('zoo: the default, dlib-resnet-v1, needs no download and says its terms; its FAR table is coherent', async () => {
  const { DEFAULT_MODEL } = await import('../src/pipeline/recognizer.js');
  const { farAt, thresholdAtFar } = await import('../src/eval/far.js');
  assert.equal(DEFAULT_MODEL, DLIB_RECOGNISER);
  const m = getModel(DLIB_RECOGNISER);
  assert.deepEqual(
    [m.builtin, m.format, m.architecture],
    ['@vladmandic/face-api/model', 'tfjs', 'dlib-resnet-v1'],
  );
  assert.deepEqual(m.alignment, { template: 'dlib', padding: 0.25 });
  assert.equal(m.researchOnly, false);
  assert.match(m.licence, /public domain/);
  assert.match(m.trainingData, /FaceScrub/);
  const t = m.impostorFar!;
  assert.ok(t && t.pairs > 1e6, 'a FAR table from a million+ impostor pairs');
  // The manifest's FAR thresholds are the table's (one calibration, one source of truth).
  assert.ok(Math.abs(thresholdAtFar(t, 1e-3) - m.thresholds!['1e-3']!) < 1e-4);
  assert.ok(Math.abs(farAt(t, m.thresholds!['1e-2']!) - 1e-2) < 1e-4);
  // The verify threshold (max accuracy) sits at a FAR of about a percent, not 1e-6 nor 50%.
  const f = farAt(t, m.thresholds!.verify!);
  assert.ok(f > 1e-3 && f < 0.1, `FAR at verify ${f}`);
});

test(
  'zoo hashes and sizes equal the files in ../shared where the bytes are the same',
  { skip: shared() },
  async () => {
    const { sha256File } = await import('../src/models/cache.js');
    const files: [string, string][] = [
      ['yunet-2023mar', 'detectors/yunet/face_detection_yunet_2023mar.onnx'],
      ['scrfd-500m', 'detectors/scrfd/scrfd_500m.onnx'],
      ['retinaface-mnet025', 'detectors/retinaface/retinaface_mnet025.onnx'],
      ['mobilefacenet-foamliu', 'recognizers/mobilefacenet-foamliu/mobilefacenet.onnx'],
      ['mobilefacenet-paddle', 'recognizers/mobilefacenet-paddle/mobilefacenet.onnx'],
      ['w600k-mbf-int8', 'recognizers/w600k-mbf-int8/w600k_mbf_int8.onnx'],
    ];
    for (const [name, rel] of files) {
      const path = join(SHARED, rel);
      assert.equal(await sha256File(path), getModel(name).sha256, name);
      assert.equal(readFileSync(path).length, getModel(name).size, name);
    }
  },
);

test('model folder: ARCFACE_HOME, else XDG_CACHE_HOME, else ~/.cache', () => {
  assert.equal(modelsRoot({ ARCFACE_HOME: '/a', XDG_CACHE_HOME: '/x' }), '/a/models');
  assert.equal(modelsRoot({ XDG_CACHE_HOME: '/x' }), '/x/arcface/models');
  assert.equal(modelsRoot({}), join(homedir(), '.cache/arcface/models'));
  assert.equal(modelDir('buffalo_l', { ARCFACE_HOME: '/a' }), '/a/models/buffalo_l');
  assert.throws(() => modelDir('../etc', { ARCFACE_HOME: '/a' }), /bad model name/);
});

test('parseMeanStd: one number or three in 0..255, clear errors', () => {
  assert.deepEqual(parseMeanStd('127.5'), [127.5, 127.5, 127.5]);
  assert.deepEqual(parseMeanStd('123.7, 116.3,103.5'), [123.7, 116.3, 103.5]);
  for (const bad of ['', 'a', '1,2', '1,2,3,4', '300', '-1', '1,,2'])
    assert.throws(() => parseMeanStd(bad, 'mean'), /bad mean .*one number or three/, bad);
  assert.throws(() => parseMeanStd('0', 'std'), /bad std "0"/);
});

test('user config: thresholds per model, atomic writes keep other entries, corrupt file is not overwritten', () => {
  const home = mkdtempSync(join(tmpdir(), 'arcface-cfg-'));
  const env = { ARCFACE_HOME: home };
  assert.equal(userConfigPath(env), join(home, 'config.json'));
  assert.equal(userConfigPath({ XDG_CONFIG_HOME: '/c' }), '/c/arcface/config.json');
  assert.equal(userConfigPath({}), join(homedir(), '.config/arcface/config.json'));
  assert.deepEqual(readUserConfig(env), { models: {} });

  const manifest: ModelManifest = { ...getModel('buffalo_l'), thresholds: { verify: 0.25, '1e-4': 0.4 } };
  assert.equal(
    thresholdFor(getModel('buffalo_l'), 'verify', env),
    0.28,
    'the zoo value when the user has none',
  );
  assert.equal(thresholdFor(manifest, 'verify', env), 0.25, 'manifest value when the user has none');
  saveThreshold('buffalo_l', 'verify', 0.28, env);
  saveThreshold('buffalo_l', '1e-3', 0.31, env);
  saveThreshold('buffalo_s', 'verify', 0.3, env);
  const cfg = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8'));
  cfg.other = { keep: true };
  writeFileSync(join(home, 'config.json'), JSON.stringify(cfg));
  saveThreshold('buffalo_l', 'verify', 0.29, env);
  const after = readUserConfig(env);
  assert.deepEqual(after.models.buffalo_l.thresholds, { verify: 0.29, '1e-3': 0.31 });
  assert.deepEqual(after.models.buffalo_s.thresholds, { verify: 0.3 });
  assert.deepEqual(after.other, { keep: true });
  assert.equal(thresholdFor(manifest, 'verify', env), 0.29, 'the user calibration wins');
  assert.equal(thresholdFor(manifest, '1e-4', env), 0.4);
  assert.equal(thresholdFor(manifest, '1e-6', env), undefined);
  assert.throws(() => saveThreshold('buffalo_l', 'verify', 1.5, env), /cosine in \[-1, 1\]/);

  writeFileSync(join(home, 'config.json'), '{"models": {"buffalo_l": ');
  assert.throws(
    () => readUserConfig(env),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BAD_CONFIG');
      assert.match(e.message, new RegExp(`${join(home, 'config.json')}: not valid JSON`));
      return true;
    },
  );
  assert.throws(() => saveThreshold('buffalo_l', 'verify', 0.3, env), /not valid JSON/);
  assert.equal(
    readFileSync(join(home, 'config.json'), 'utf8'),
    '{"models": {"buffalo_l": ',
    'left as it was',
  );
  writeFileSync(join(home, 'config.json'), '{"models": {"buffalo_l": {"thresholds": {"verify": "high"}}}}');
  assert.throws(() => readUserConfig(env), /"models\.buffalo_l\.thresholds\.verify" must be a number/);

  const xdg = mkdtempSync(join(tmpdir(), 'arcface-xdg-'));
  mkdirSync(join(xdg, 'arcface'));
  saveThreshold('m', 'verify', 0.5, { XDG_CONFIG_HOME: xdg });
  assert.deepEqual(JSON.parse(readFileSync(join(xdg, 'arcface/config.json'), 'utf8')), {
    models: { m: { thresholds: { verify: 0.5 } } },
  });
});

test('validateManifest: a fine-tuned model carries its base and is at least as restricted', () => {
  const base = {
    name: 'dlib-resnet-v1',
    licence: 'public domain',
    trainingData: 'FaceScrub, VGG Face',
    researchOnly: false,
  };
  assert.deepEqual(validateManifest({ ...good(), base }, 'my.json').base, base);
  assert.throws(
    () => validateManifest({ ...good(), base: { ...base, researchOnly: true } }, 'my.json'),
    /"researchOnly": expected true: its base model is for non-commercial research only/,
  );
  assert.equal(
    validateManifest({ ...good(), researchOnly: true, base: { ...base, researchOnly: true } }, 'my.json').base
      ?.researchOnly,
    true,
  );
  assert.throws(() => validateManifest({ ...good(), base: { ...base, url: 'x' } }, 'my.json'), /base\.url/);
  assert.throws(
    () => validateManifest({ ...good(), base: { ...base, licence: '' } }, 'my.json'),
    /"base\.licence"/,
  );
});
