import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { openFaceDataset, datasetOf } from '../src/data/dataset.js';
import {
  applySplit,
  buildValidationPairs,
  readSplit,
  splitByIdentity,
  writeSplit,
} from '../src/data/split.js';
import { evaluateVerification } from '../src/eval/verification.js';

const tmp = mkdtempSync(join(tmpdir(), 'arcface-data-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const png = (v: number, size = 112) =>
  sharp(Buffer.alloc(size * size * 3, v), { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();

async function tree(name: string, counts: Record<string, number>): Promise<string> {
  const root = join(tmp, name);
  for (const [id, n] of Object.entries(counts)) {
    mkdirSync(join(root, id), { recursive: true });
    for (let k = 0; k < n; k++) writeFileSync(join(root, id, `${k}.png`), await png(k));
  }
  return root;
}

test('labels index the sorted identities; items sorted by file; same result on every open', async () => {
  const root = await tree('basic', { zed: 2, anna: 3, Bob: 1 });
  const ds = await openFaceDataset(root);
  assert.deepEqual(ds.identities, ['Bob', 'anna', 'zed']); // code-point order, not locale
  assert.equal(ds.numClasses, 3);
  assert.deepEqual(
    ds.items.map((i) => [i.file.slice(root.length + 1), i.label]),
    [
      ['Bob/0.png', 0],
      ['anna/0.png', 1],
      ['anna/1.png', 1],
      ['anna/2.png', 1],
      ['zed/0.png', 2],
      ['zed/1.png', 2],
    ],
  );
  assert.deepEqual(await openFaceDataset(root), ds);
  // The same set from a CSV gives the same labels.
  const csv = join(tmp, 'basic.csv');
  writeFileSync(
    csv,
    'file,identity\n' +
      ds.items
        .map((i) => `${i.file.slice(root.length + 1)},${i.identity}`)
        .reverse()
        .join('\n'),
  );
  const fromCsv = await openFaceDataset(root, { labels: csv });
  assert.deepEqual(fromCsv.items, ds.items);
});

test('bad datasets: no images, one identity', async () => {
  const empty = join(tmp, 'empty');
  mkdirSync(join(empty, 'a'), { recursive: true });
  await assert.rejects(openFaceDataset(empty), /no images/);
  await assert.rejects(openFaceDataset(join(tmp, 'missing')), /no such folder/);
  const one = await tree('one', { solo: 3 });
  await assert.rejects(openFaceDataset(one), {
    code: 'BAD_INPUT',
    message: /only one identity \('solo'\).*at least 2/,
  });
});

test('split by identity: disjoint people, relabelled sides, reproducible from the seed, saved and re-applied', async () => {
  const counts: Record<string, number> = {};
  for (let k = 0; k < 20; k++) counts[`p${String(k).padStart(2, '0')}`] = 2 + (k % 3);
  const ds = await openFaceDataset(await tree('split', counts));
  const s = splitByIdentity(ds, { valFraction: 0.25, seed: 7 });
  assert.equal(s.val.numClasses, 5);
  assert.equal(s.train.numClasses, 15);
  const trainIds = new Set(s.train.items.map((i) => i.identity));
  assert.ok(s.val.items.every((i) => !trainIds.has(i.identity)));
  assert.equal(s.train.items.length + s.val.items.length, ds.items.length);
  for (const side of [s.train, s.val])
    assert.ok(side.items.every((i) => side.identities[i.label] === i.identity && i.label < side.numClasses));
  assert.deepEqual(splitByIdentity(ds, { valFraction: 0.25, seed: 7 }), s);
  assert.notDeepEqual(splitByIdentity(ds, { valFraction: 0.25, seed: 8 }).val.identities, s.val.identities);
  assert.deepEqual(splitByIdentity(ds, { valIdentities: 5, seed: 7 }).val.identities, s.val.identities);
  assert.deepEqual(splitByIdentity(ds, { valIdentities: ['p03', 'p01'], seed: 0 }).val.identities, [
    'p01',
    'p03',
  ]);

  const run = join(tmp, 'run');
  await writeSplit(run, s);
  const saved = await readSplit(run);
  assert.deepEqual(saved, { seed: 7, train: s.train.identities, val: s.val.identities });
  assert.deepEqual(applySplit(ds, saved), s);
  const fewer = datasetOf(
    ds.root,
    ds.items.filter((i) => i.identity !== s.val.identities[0]),
  );
  assert.throws(() => applySplit(fewer, saved), /saved identities are gone/);

  assert.throws(() => splitByIdentity(ds, { valIdentities: 19, seed: 1 }), /leaves 1 to train on/);
  assert.throws(
    () => splitByIdentity(ds, { valIdentities: ['nobody'], seed: 1 }),
    /unknown validation identities: nobody/,
  );
  assert.throws(() => splitByIdentity(ds, { valFraction: 1.5, seed: 1 }), /valFraction/);
  await assert.rejects(readSplit(join(tmp, 'nowhere')), { code: 'NOT_FOUND' });
});

test('validation pairs: balanced, alternating, distinct, correct labels, deterministic; usable by the 10-fold protocol', async () => {
  const counts: Record<string, number> = {};
  for (let k = 0; k < 12; k++) counts[`v${k}`] = 1 + (k % 5); // some people with one photo
  const ds = await openFaceDataset(await tree('pairs', counts));
  const pairs = buildValidationPairs(ds, { pairsPerClass: 4, seed: 3 });
  const idOf = new Map(ds.items.map((i) => [i.file, i.identity]));
  // Same pairs per identity: min(4, n(n-1)/2); as many different pairs.
  const expectSame = Object.values(counts).reduce((s, n) => s + Math.min(4, (n * (n - 1)) / 2), 0);
  assert.equal(pairs.filter((p) => p.same).length, expectSame);
  assert.equal(pairs.filter((p) => !p.same).length, expectSame);
  pairs.forEach((p, k) => {
    assert.equal(p.same, k % 2 === 0);
    assert.equal(idOf.get(p.a) === idOf.get(p.b), p.same);
    assert.notEqual(p.a, p.b);
  });
  const keys = pairs.map((p) => [p.a, p.b].sort().join('|'));
  assert.equal(new Set(keys).size, keys.length);
  assert.deepEqual(buildValidationPairs(ds, { pairsPerClass: 4, seed: 3 }), pairs);
  // A perfect score separates them: every fold holds both classes.
  const r = evaluateVerification(
    pairs.map((p) => (p.same ? 0.9 : 0.1)),
    pairs.map((p) => p.same),
  );
  assert.equal(r.accuracy, 1);
  const lonely = await openFaceDataset(await tree('lonely', { a: 1, b: 1 }));
  assert.throws(() => buildValidationPairs(lonely, { pairsPerClass: 2, seed: 1 }), /no same pair/);
});
