/**
 * Pair lists (LFW pairs.txt family, CSV with and without headers, deepface's CSVs) and labelled
 * image sets (identity folders, file,identity CSV): parsing, paths, and errors with line numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPairs } from '../src/eval/pairs.js';
import { readLabelledImages } from '../src/eval/labels.js';
import { splitGallery } from '../src/eval/identification.js';

const tmp = mkdtempSync(join(tmpdir(), 'arcface-pairs-'));
const write = (name: string, text: string) => {
  const f = join(tmp, name);
  writeFileSync(f, text);
  return f;
};
const R = '/data/lfw';

test('LFW pairs.txt: folds x (same then different), paths ROOT/name/name_%04d.jpg', async () => {
  const f = write(
    'pairs.txt',
    '2\t2\nAbel_Pacheco\t1\t4\nAkhmed_Zakayev\t1\t3\nAbdel_Madi_Shabneh\t1\tDean_Barker\t1\nAbdel_Madi_Shabneh\t1\tGiancarlo_Fisichella\t1\n' +
      'Zico\t1\t2\nZico\t2\t3\nAbdullah\t1\tZico\t12\nAaron\t3\tBob\t120\n',
  );
  const r = await readPairs(f, R);
  assert.equal(r.format, 'lfw');
  assert.equal(r.folds, 2);
  assert.deepEqual(
    r.pairs.map((p) => p.same),
    [true, true, false, false, true, true, false, false],
  );
  assert.deepEqual(r.pairs[0], {
    a: `${R}/Abel_Pacheco/Abel_Pacheco_0001.jpg`,
    b: `${R}/Abel_Pacheco/Abel_Pacheco_0004.jpg`,
    same: true,
  });
  assert.deepEqual(r.pairs[6], {
    a: `${R}/Abdullah/Abdullah_0001.jpg`,
    b: `${R}/Zico/Zico_0012.jpg`,
    same: false,
  });
  assert.equal(r.pairs[7].b, `${R}/Bob/Bob_0120.jpg`);
});

test('pairsDevTrain.txt: a single count header, no folds; CRLF line ends', async () => {
  const f = write('dev.txt', '1\r\nA\t1\t2\r\nA\t1\tB\t2\r\n\r\n');
  const r = await readPairs(f, R);
  assert.equal(r.folds, undefined);
  assert.deepEqual(
    r.pairs.map((p) => [p.same, p.b]),
    [
      [true, `${R}/A/A_0002.jpg`],
      [false, `${R}/B/B_0002.jpg`],
    ],
  );
});

test('malformed LFW lines fail with the file and line number', async () => {
  await assert.rejects(
    readPairs(write('p1.txt', '1\nA 1 2\nA 1 B\n'), R),
    /p1\.txt:3: expected 3 fields .* or 4 .*, got 3|p1\.txt:3: image numbers/,
  );
  await assert.rejects(
    readPairs(write('p2.txt', '1\nA 1 2 3 4\nA 1 B 2\n'), R),
    /p2\.txt:2: expected 3 fields/,
  );
  await assert.rejects(
    readPairs(write('p3.txt', '1\nA one 2\nA 1 B 2\n'), R),
    /p3\.txt:2: image numbers must be integers/,
  );
  await assert.rejects(
    readPairs(write('p4.txt', '10 300\nA 1 2\n'), R),
    /p4\.txt: header '10 300' promises 6000 pair lines .* has 1/,
  );
});

test('CSV without header, with a header, with quotes; labels in every spelling', async () => {
  const plain = await readPairs(
    write('a.csv', 'x/1.jpg,x/2.jpg,1\nx/1.jpg,y/1.jpg,0\nx/1.jpg,/abs/y.jpg,TRUE\nq.jpg,r.jpg,no\n'),
    R,
  );
  assert.equal(plain.format, 'csv');
  assert.deepEqual(plain.pairs[0], { a: `${R}/x/1.jpg`, b: `${R}/x/2.jpg`, same: true });
  assert.deepEqual(
    plain.pairs.map((p) => p.same),
    [true, false, true, false],
  );
  assert.equal(plain.pairs[2].b, '/abs/y.jpg');
  const head = await readPairs(
    write('b.csv', 'same,img2,img1\nSame,"b, 2.jpg",a.jpg\nDifferent,c.jpg,a.jpg\nyes,d.jpg,a.jpg\n'),
    R,
  );
  assert.deepEqual(head.pairs[0], { a: `${R}/a.jpg`, b: `${R}/b, 2.jpg`, same: true });
  assert.deepEqual(
    head.pairs.map((p) => p.same),
    [true, false, true],
  );
});

test("deepface's master.csv and face-recognition-pivot.csv columns by header name", async () => {
  const master = await readPairs(
    write('master.csv', 'file_x,file_y,Decision\nimg20.jpg,img21.jpg,Yes\nimg1.jpg,img3.jpg,No\n'),
    R,
  );
  assert.deepEqual(master.pairs, [
    { a: `${R}/img20.jpg`, b: `${R}/img21.jpg`, same: true },
    { a: `${R}/img1.jpg`, b: `${R}/img3.jpg`, same: false },
  ]);
  const pivot = await readPairs(
    write(
      'pivot.csv',
      'file_x,file_y,decision,VGG-Face_cosine,Facenet_cosine\nd/img38.jpg,d/img39.jpg,Yes,0.2057,0.1601\n',
    ),
    R,
  );
  assert.deepEqual(pivot.pairs, [{ a: `${R}/d/img38.jpg`, b: `${R}/d/img39.jpg`, same: true }]);
});

test('malformed CSV lines fail with the file and line number', async () => {
  await assert.rejects(
    readPairs(write('c1.csv', 'a.jpg,b.jpg,1\n\na.jpg,c.jpg,maybe\n'), R),
    /c1\.csv:3: 'maybe' is not a same\/different label/,
  );
  await assert.rejects(
    readPairs(write('c2.csv', 'img1,img2,same\na.jpg,b.jpg\n'), R),
    /c2\.csv:2: expected at least 3 comma-separated fields, got 2/,
  );
  await assert.rejects(
    readPairs(write('c3.csv', 'left_image,right_image,verdict\na,b,1\n'), R),
    /c3\.csv:1: cannot tell the columns/,
  );
  await assert.rejects(readPairs(write('c4.csv', ''), R), /c4\.csv: no pairs/);
  await assert.rejects(readPairs(join(tmp, 'nope.csv'), R), /nope\.csv: no such file/);
});

test('labelled images from identity folders: sorted, one level of subfolders, non-images ignored', async () => {
  const root = join(tmp, 'faces');
  for (const [p, body] of [
    ['bob/b2.jpg', 'x'],
    ['bob/b1.PNG', 'x'],
    ['bob/notes.txt', 'x'],
    ['bob/.hidden.jpg', 'x'],
    ['alice/a.jpeg', 'x'],
    ['alice/extra/a2.jpg', 'x'],
    ['alice/extra/deeper/a3.jpg', 'x'],
    ['loose.jpg', 'x'],
  ]) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), body);
  }
  const items = await readLabelledImages(root);
  assert.deepEqual(items, [
    { file: join(root, 'alice/a.jpeg'), identity: 'alice' },
    { file: join(root, 'alice/extra/a2.jpg'), identity: 'alice' },
    { file: join(root, 'bob/b1.PNG'), identity: 'bob' },
    { file: join(root, 'bob/b2.jpg'), identity: 'bob' },
  ]);
  // The same set from a CSV (header optional), and missing files named up front.
  const csv = write(
    'labels.csv',
    'bob/b2.jpg,bob\nalice/a.jpeg,alice\nbob/b1.PNG,bob\nalice/extra/a2.jpg,alice\n',
  );
  assert.deepEqual(await readLabelledImages(root, csv), items);
  const withHead = write(
    'labels2.csv',
    'file,identity\nbob/b2.jpg,bob\nalice/a.jpeg,alice\nbob/b1.PNG,bob\nalice/extra/a2.jpg,alice\n',
  );
  assert.deepEqual(await readLabelledImages(root, withHead), items);
  const missing = write(
    'labels3.csv',
    'file,identity\nbob/b2.jpg,bob\nbob/gone.jpg,bob\ncarol/c.jpg,carol\n',
  );
  await assert.rejects(
    readLabelledImages(root, missing),
    (e: Error) =>
      /labels3\.csv: 2 of 3 listed images are missing/.test(e.message) &&
      /gone\.jpg \(line 3\)/.test(e.message) &&
      /c\.jpg \(line 4\)/.test(e.message),
  );
  const clash = write('labels4.csv', 'bob/b2.jpg,bob\nbob/b2.jpg,alice\n');
  await assert.rejects(
    readLabelledImages(root, clash),
    /labels4\.csv:2: bob\/b2\.jpg is labelled 'alice' here but 'bob' on line 1/,
  );
  await assert.rejects(readLabelledImages(join(tmp, 'none')), /none: no such folder/);
});

test('identity folders and photos given as symbolic links are followed; broken links are skipped', async () => {
  const real = join(tmp, 'real');
  mkdirSync(join(real, 'carol'), { recursive: true });
  writeFileSync(join(real, 'carol/c1.jpg'), 'x');
  writeFileSync(join(real, 'd.jpg'), 'x');
  const root = join(tmp, 'linked');
  mkdirSync(join(root, 'dave'), { recursive: true });
  symlinkSync(join(real, 'carol'), join(root, 'carol'));
  symlinkSync(join(real, 'd.jpg'), join(root, 'dave/d.jpg'));
  symlinkSync(join(real, 'gone.jpg'), join(root, 'dave/gone.jpg'));
  assert.deepEqual(await readLabelledImages(root), [
    { file: join(root, 'carol/c1.jpg'), identity: 'carol' },
    { file: join(root, 'dave/d.jpg'), identity: 'dave' },
  ]);
});

test('splitGallery: first K in sorted order or seeded, identities below K skipped', () => {
  const items = ['a/3', 'a/1', 'a/2', 'b/1', 'b/2', 'c/1', 'd/1', 'd/2', 'd/3', 'd/4'].map((f) => ({
    file: f,
    identity: f[0],
  }));
  const s = splitGallery(items, 2);
  assert.deepEqual(
    s.gallery.map((x) => x.file),
    ['a/1', 'a/2', 'b/1', 'b/2', 'd/1', 'd/2'],
  );
  assert.deepEqual(
    s.probes.map((x) => x.file),
    ['a/3', 'd/3', 'd/4'],
  );
  assert.deepEqual(s.skipped, ['c']);
  const seeded = splitGallery(items, 2, 7);
  assert.deepEqual(splitGallery([...items].reverse(), 2, 7), seeded, 'independent of input order');
  assert.equal(seeded.gallery.length, 6);
  assert.deepEqual(
    [...seeded.gallery, ...seeded.probes].map((x) => x.file).sort(),
    items
      .filter((x) => x.identity !== 'c')
      .map((x) => x.file)
      .sort(),
  );
  assert.throws(() => splitGallery(items, 0), /perId: 0/);
});

const deepface = join(import.meta.dirname, '../../shared/data/faces/deepface');
test(
  "deepface's own CSVs from ../shared",
  { skip: existsSync(deepface) ? false : 'needs ../shared/data/faces/deepface (not present)' },
  async () => {
    const dataset = join(deepface, 'tests/unit/dataset');
    const master = await readPairs(join(dataset, 'master.csv'), dataset);
    assert.equal(master.pairs.length, 300); // csv.reader count: 300 rows after the header, 38 Yes
    assert.equal(master.pairs.filter((p) => p.same).length, 38);
    for (const p of master.pairs) assert.ok(existsSync(p.a) && existsSync(p.b), `${p.a} ${p.b}`);
    const pivot = await readPairs(join(dataset, 'face-recognition-pivot.csv'), dataset);
    assert.equal(pivot.pairs.length, 280);
    assert.equal(pivot.pairs.filter((p) => p.same).length, 140);
    // Its paths name deepface's older layout (deepface/tests/dataset/...), so they are only parsed here.
    assert.equal(pivot.pairs[0].a, join(dataset, 'deepface/tests/dataset/img38.jpg'));
    const labelled = await readLabelledImages(deepface, join(deepface, 'identity_labels.csv'));
    assert.ok(labelled.length >= 61);
    assert.equal(new Set(labelled.map((l) => l.identity)).size >= 13, true);
  },
);
