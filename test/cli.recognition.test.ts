/**
 * The recognition commands end to end through the real binary: human and --json output, exit
 * codes (0 yes, 1 no / no face, 2 bad input), and batches that go on past bad files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

const bin = join(import.meta.dirname, '../src/cli/bin.ts');
const SHARED = join(import.meta.dirname, '../../shared');
const FR = join(SHARED, 'data/faces/face_recognition/tests/test_images');
const KNN = join(SHARED, 'data/faces/face_recognition/examples/knn_examples');
const DEEPFACE = join(SHARED, 'data/faces/deepface/tests/unit/dataset');
const COMPRE = join(SHARED, 'data/faces/compreface/embedding-calculator/sample_images');
const MODEL = join(SHARED, 'models/recognizers/w600k-mbf-int8/w600k_mbf_int8.onnx');
const skip = [FR, KNN, DEEPFACE, COMPRE, MODEL].every(existsSync)
  ? false
  : '../shared is absent: CLI recognition tests skipped';
const tmp = mkdtempSync(join(tmpdir(), 'arcface-cli-rec-'));
const home = join(tmp, 'home');

function arcface(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), bin, ...args], {
      cwd: tmp,
      env: { ...process.env, ARCFACE_HOME: home, XDG_CONFIG_HOME: join(tmp, 'xdg') },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}
const json = (s: string) => JSON.parse(s.trim().split('\n').pop()!);

test(
  'verify: same person exits 0, different exits 1, with similarity, threshold and licence',
  { skip },
  async () => {
    const same = await arcface(
      'verify',
      join(FR, 'obama.jpg'),
      join(FR, 'obama2.jpg'),
      '-m',
      MODEL,
      '--json',
    );
    assert.equal(same.code, 0, same.err);
    const s = json(same.out);
    assert.equal(s.same, true);
    assert.equal(s.model, 'w600k-mbf-int8');
    assert.ok(s.similarity >= s.threshold);
    assert.equal(s.faces.length, 2);
    const diff = await arcface('verify', join(FR, 'obama.jpg'), join(FR, 'biden.jpg'), '-m', MODEL);
    assert.equal(diff.code, 1, diff.err);
    assert.match(diff.out, /DIFFERENT people/);
    assert.match(diff.err, /NON-COMMERCIAL RESEARCH ONLY/); // the model's terms, said plainly
  },
);

test(
  'verify: no face exits 3; unreadable, empty or missing files exit 2 naming the file',
  { skip },
  async () => {
    const noface = await arcface('verify', join(COMPRE, '017_0.jpg'), join(FR, 'obama.jpg'), '-m', MODEL);
    assert.equal(noface.code, 3);
    assert.match(noface.err, /017_0\.jpg: no face found/);
    const empty = join(tmp, 'empty.jpg');
    writeFileSync(empty, '');
    const e = await arcface('verify', empty, join(FR, 'obama.jpg'), '-m', MODEL);
    assert.equal(e.code, 2);
    assert.match(e.err, /empty\.jpg: empty file/);
    const truncated = join(tmp, 'truncated.jpg');
    writeFileSync(truncated, readFileSync(join(FR, 'obama.jpg')).subarray(0, 2000));
    const tr = await arcface('verify', truncated, join(FR, 'obama.jpg'), '-m', MODEL);
    assert.equal(tr.code, 2);
    assert.match(tr.err, /truncated\.jpg: .*(truncated|corrupt|premature)/);
    const missing = await arcface('verify', join(tmp, 'nope.jpg'), join(FR, 'obama.jpg'), '-m', MODEL);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /nope\.jpg: no such file/);
    const usage = await arcface('verify', join(FR, 'obama.jpg'), '-m', MODEL);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /give exactly two images/);
    const badModel = await arcface(
      'verify',
      join(FR, 'obama.jpg'),
      join(FR, 'obama2.jpg'),
      '-m',
      join(tmp, 'empty.jpg'),
    );
    assert.equal(badModel.code, 2);
  },
);

test(
  'images over the pixel cap are refused before decoding; grey and alpha images work',
  { skip },
  async () => {
    const big = join(tmp, 'big.png');
    await sharp({ create: { width: 9000, height: 6000, channels: 3, background: '#808080' } })
      .png()
      .toFile(big);
    const r = await arcface('detect', big, '--json');
    assert.equal(r.code, 2);
    assert.match(r.err, /big\.png: 9000x6000 is 54\.0 megapixels, over the 50\.0 MP limit/);
    const capped = await arcface('detect', join(FR, 'obama.jpg'), '--max-pixels', '1000');
    assert.equal(capped.code, 2);
    const grey = join(tmp, 'grey.png');
    await sharp(join(FR, 'obama.jpg')).greyscale().png().toFile(grey);
    const alpha = join(tmp, 'alpha.png');
    await sharp(join(FR, 'obama.jpg')).ensureAlpha(0.5).png().toFile(alpha);
    const g = await arcface('verify', grey, alpha, '-m', MODEL, '--json');
    assert.equal(g.code, 0, g.err);
    assert.equal(json(g.out).same, true);
  },
);

test('embed over a folder goes on past bad files and lists them', { skip }, async () => {
  const dir = join(tmp, 'mixed');
  mkdirSync(dir);
  copyFileSync(join(FR, 'obama.jpg'), join(dir, 'a.jpg'));
  copyFileSync(join(FR, 'biden.jpg'), join(dir, 'c.jpg'));
  writeFileSync(join(dir, 'b.jpg'), 'not an image');
  writeFileSync(join(dir, 'd.png'), '');
  const r = await arcface('embed', dir, '-m', MODEL, '--json');
  assert.equal(r.code, 2, 'unreadable files make the exit status 2');
  const lines = r.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => l.file),
    [join(dir, 'a.jpg'), join(dir, 'c.jpg')],
  );
  for (const l of lines) {
    assert.equal(l.embedding.length, 512);
    assert.ok(Math.abs(Math.hypot(...l.embedding) - 1) < 1e-5);
  }
  assert.match(r.err, /2 file\(s\) skipped/);
  assert.match(r.err, /b\.jpg: not a readable image/);
  assert.match(r.err, /d\.png: empty file/);
});

test('detect, align and compare-dir', { skip }, async () => {
  const d = await arcface('detect', join(COMPRE, '010_2.jpg'), join(COMPRE, '017_0.jpg'), '--json');
  assert.equal(d.code, 1, 'an image without a face makes the status 1');
  const [two, none] = d.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(two.faces.length, 2);
  assert.equal(none.faces.length, 0);
  for (const f of two.faces) assert.ok(f.landmarks[0][0] < f.landmarks[1][0], 'left eye first');

  const out = join(tmp, 'aligned');
  const a = await arcface(
    'align',
    join(FR, 'obama.jpg'),
    join(COMPRE, '010_2.jpg'),
    '-o',
    out,
    '--keep',
    'all',
  );
  assert.equal(a.code, 0, a.err);
  const written = readdirSync(out).sort();
  assert.deepEqual(written, ['010_2_0.png', '010_2_1.png', 'obama_0.png']);
  const meta = await sharp(join(out, 'obama_0.png')).metadata();
  assert.deepEqual([meta.width, meta.height], [112, 112]);

  const dir = join(tmp, 'cmp');
  mkdirSync(dir);
  for (const f of ['obama.jpg', 'obama2.jpg', 'biden.jpg']) copyFileSync(join(FR, f), join(dir, f));
  const c = await arcface('compare-dir', dir, '-m', MODEL, '--json');
  assert.equal(c.code, 0, c.err);
  const m = json(c.out);
  assert.equal(m.files.length, 3);
  for (let i = 0; i < 3; i++) {
    assert.equal(m.matrix[i][i], 1);
    for (let j = 0; j < 3; j++) assert.equal(m.matrix[i][j], m.matrix[j][i]);
  }
  assert.deepEqual(
    m.same.map((p: { a: string; b: string }) => [p.a, p.b].map((x) => x.split('/').pop()).sort()),
    [['obama.jpg', 'obama2.jpg']],
  );
});

test(
  'eval verification on a CSV pairs file, calibrate, then verify uses the calibrated threshold',
  { skip },
  async () => {
    const plot = join(tmp, 'roc.svg');
    const angles = join(tmp, 'angles.png');
    const r = await arcface(
      'eval',
      'verification',
      '--pairs',
      join(DEEPFACE, 'master.csv'),
      '--root',
      DEEPFACE,
      '-m',
      MODEL,
      '--json',
      '--plot',
      plot,
      '--angles',
      angles,
    );
    assert.equal(r.code, 0, r.err);
    const v = json(r.out);
    assert.equal(v.pairs, 300);
    assert.ok(v.accuracy > 0.95 && v.accuracy <= 1);
    assert.ok(v.std >= 0 && v.std < 0.2);
    assert.ok(v.auc > 0.98);
    assert.deepEqual(Object.keys(v.tarAtFar), ['1e-1', '1e-2', '1e-3', '1e-4']);
    assert.equal(v.noFace, 0);
    for (const k of Object.keys(v.tarAtFar)) {
      assert.ok(v.tarAtFar[k] >= 0 && v.tarAtFar[k] <= 1);
      // master.csv is sorted by class, so some test folds hold no same pair: the ROC stands in.
      assert.equal(v.tarAtFarMethod[k], 'roc');
    }
    // deepface's pivot.csv names an older folder layout: nothing resolves, and the error says why.
    const moved = await arcface(
      'eval',
      'verification',
      '--pairs',
      join(DEEPFACE, 'face-recognition-pivot.csv'),
      '--root',
      DEEPFACE,
      '-m',
      MODEL,
    );
    assert.equal(moved.code, 2);
    assert.match(moved.err, /280 of 280 pairs have an unreadable image .*are the paths relative to --root\?/);
    assert.match(readFileSync(plot, 'utf8'), /^<svg/);
    assert.deepEqual(
      [...readFileSync(angles).subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''),
      'PNG',
    );

    const cal = await arcface(
      'calibrate',
      '--pairs',
      join(DEEPFACE, 'master.csv'),
      '--root',
      DEEPFACE,
      '-m',
      MODEL,
      '--far',
      '0.01',
      '--json',
    );
    assert.equal(cal.code, 0, cal.err);
    const c = json(cal.out);
    assert.ok(c.far <= 0.01);
    assert.equal(c.savedTo, join(home, 'config.json'));
    const saved = JSON.parse(readFileSync(c.savedTo, 'utf8'));
    assert.equal(saved.models['w600k-mbf-int8'].thresholds.verify, c.threshold);
    const after = await arcface(
      'verify',
      join(FR, 'obama.jpg'),
      join(FR, 'obama2.jpg'),
      '-m',
      MODEL,
      '--json',
    );
    assert.equal(json(after.out).threshold, c.threshold);
  },
);

test('eval identification on identity folders, with distractors', { skip }, async () => {
  const r = await arcface('eval', 'identification', '--root', join(KNN, 'train'), '-m', MODEL, '--json');
  assert.equal(r.code, 0, r.err);
  const v = json(r.out);
  assert.equal(v.identities, 5);
  assert.ok(v.rank1 >= 0.9 && v.rank1 <= v.rank5 && v.rank5 === 1);
  const d = await arcface(
    'eval',
    'identification',
    '--root',
    join(KNN, 'train'),
    '--distractors',
    DEEPFACE,
    '-m',
    MODEL,
    '--json',
  );
  assert.equal(d.code, 0, d.err);
  const w = json(d.out);
  assert.ok(w.distractors > 50);
  assert.deepEqual(Object.keys(w.dirAtFpir), ['1e-1', '1e-2']);
  assert.ok(w.dirAtFpir['1e-1'] >= w.dirAtFpir['1e-2']);
});

test('eval verification on an InsightFace .bin set', { skip }, async () => {
  const r = await arcface(
    'eval',
    'verification',
    '--bin',
    join(import.meta.dirname, 'fixtures/tiny.bin'),
    '-m',
    MODEL,
    '--json',
    '--folds',
    '2',
  );
  assert.equal(r.code, 0, r.err);
  const v = json(r.out);
  assert.equal(v.pairs, 4);
  const bad = await arcface('eval', 'verification', '--bin', join(FR, 'obama.jpg'), '-m', MODEL);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /obama\.jpg/);
});
