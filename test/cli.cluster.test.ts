/**
 * `arcface cluster` on real photos (face_recognition's examples in ../shared) with the default
 * model: each person's faces together, different people apart, the two faces of a group photo in
 * different people (cannot-link), a contact sheet with every crop, and bad input refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { arcface } from './cli_inproc.js';
import { SHARED, skipUnless } from './helpers.js';

const KNN = join(SHARED, 'data/faces/face_recognition/examples/knn_examples');
const photos = [
  'train/obama/obama.jpg',
  'train/obama/obama2.jpg',
  'test/obama1.jpg',
  'train/biden/biden.jpg',
  'train/biden/biden2.jpg',
  'train/rose_leslie/img1.jpg',
  'train/rose_leslie/img2.jpg',
  'test/obama_and_biden.jpg',
].map((p) => join(KNN, p));
const skip = skipUnless(photos, 'face_recognition knn examples');
const tmp = mkdtempSync(join(tmpdir(), 'arcface-cluster-cli-'));

test(
  'arcface cluster: people a user recognises, cannot-link in a group photo, a contact sheet',
  { skip },
  async () => {
    const out = join(tmp, 'sheet');
    const r = await arcface('cluster', ...photos, '--min-faces', '2', '--json', '-o', out);
    assert.equal(r.code, 0, r.err);
    const faces = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; box: { x1: number }; cluster: number | null });
    const of = (name: string) => faces.filter((f) => basename(f.file) === name).map((f) => f.cluster);
    const obama = [...of('obama.jpg'), ...of('obama2.jpg'), ...of('obama1.jpg')];
    const biden = [...of('biden.jpg'), ...of('biden2.jpg')];
    const rose = [...of('img1.jpg'), ...of('img2.jpg')];
    for (const person of [obama, biden, rose]) {
      assert.notEqual(person[0], null);
      assert.ok(
        person.every((c) => c === person[0]),
        `one person split: ${JSON.stringify(person)}`,
      );
    }
    assert.equal(new Set([obama[0], biden[0], rose[0]]).size, 3, 'two people merged');
    // The group photo: its obama and biden join theirs, and no two of its faces share a cluster.
    const group = of('obama_and_biden.jpg');
    assert.ok(group.length >= 2);
    assert.ok(group.includes(obama[0]!) && group.includes(biden[0]!), JSON.stringify(group));
    const named = group.filter((c) => c !== null);
    assert.equal(new Set(named).size, named.length, 'two faces of one photo in one cluster');

    // The contact sheet: a crop per face, each person's row, file names escaped into the page.
    assert.equal(readdirSync(join(out, 'faces')).length, faces.length);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    assert.match(html, /3 people/);
    for (const p of photos) assert.ok(html.includes(basename(p)), basename(p));
  },
);

test('arcface cluster: bad input exits 2 with a message', async () => {
  assert.equal((await arcface('cluster')).code, 2);
  const far = await arcface('cluster', tmp, '--far', '2');
  assert.equal(far.code, 2);
  assert.match(far.err, /far/);
  const none = await arcface('cluster', join(tmp, 'missing-folder'));
  assert.equal(none.code, 2);
  assert.match(none.err, /missing-folder/);
});
