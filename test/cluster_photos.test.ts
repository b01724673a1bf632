/**
 * Clusters kept in a gallery, end to end on real photos of ../shared with one recogniser (w600k):
 * the service clusters half of each person's photos, then the other half; each person ends in one
 * subject and people apart, as one clustering of everything would have them; "not this person"
 * keeps a face out; a re-run stores nothing. Then `arcface cluster --gallery` and its edits, and
 * POST /galleries/:g/cluster (a bad upload refused, nothing stored). SQLite (the store suite runs
 * the same logic on PostgreSQL with synthetic faces).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DEFAULT_LINK_FAR, DEFAULT_MIN_FACES, farScale } from '../src/cluster/index.js';
import { readLabelledImages, type LabelledImage } from '../src/eval/labels.js';
import { nameCluster } from '../src/gallery/clusters.js';
import { openStore, type NewFace } from '../src/gallery/index.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { buildServer } from '../src/server/index.js';
import { clusterIntoGallery } from '../src/service/cluster_gallery.js';
import { KeyStore, RecognitionService, type ClusterPhotosResult } from '../src/service/index.js';
import { arcface } from './cli_inproc.js';
import { SHARED, W600K, multipartBody, skipUnless } from './helpers.js';

const DF_ROOT = join(SHARED, 'data/faces/deepface');
const LABELS = join(DF_ROOT, 'identity_labels.csv');
const KNN = join(SHARED, 'data/faces/face_recognition/examples/knn_examples');
const skip = skipUnless([LABELS, W600K, KNN], 'deepface and face_recognition photos, w600k recogniser');

/** Per photo, its largest face (the first the service lists): the person the photo is labelled with. */
function largest(r: ClusterPhotosResult) {
  const m = new Map<string, ClusterPhotosResult['faces'][number]>();
  for (const f of r.faces) if (!m.has(f.name)) m.set(f.name, f);
  return m;
}

test('clusters in a gallery from real photos: service, CLI, API', { skip }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'arcface-cluster-photos-'));
  const rec = await FaceRecognizer.create({ model: W600K });
  const service = new RecognitionService(await openStore(join(tmp, 'data')), rec);
  t.after(async () => {
    await service.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  // The 9 people with 4+ photos: photos 0-1 first, 2-3 later; two more of id01 and id02 held out.
  const byPerson = new Map<string, LabelledImage[]>();
  for (const x of await readLabelledImages(DF_ROOT, LABELS))
    byPerson.set(x.identity, [...(byPerson.get(x.identity) ?? []), x]);
  const people = [...byPerson].filter(([, xs]) => xs.length >= 4).map(([id]) => id);
  assert.equal(people.length, 9);
  const half = (from: number) => people.flatMap((p) => byPerson.get(p)!.slice(from, from + 2));
  const [first, second] = [half(0), half(2)];
  const personOf = new Map([...first, ...second].map((x) => [x.file, x.identity]));
  const subjectOf = new Map<string, number>();

  await t.test('half, then the other half: each person one subject, people apart', async () => {
    const r1 = await service.clusterPhotos(
      'lib',
      first.map((x) => x.file),
      { createGallery: true },
    );
    // Two photos a person so far, a person needs 3 (the default): every face a singleton yet.
    assert.equal(r1.summary.newClusters, 0);
    assert.equal(r1.summary.singletons, r1.summary.faces - r1.summary.lowQuality);
    const r2 = await service.clusterPhotos(
      'lib',
      second.map((x) => x.file),
    );
    const faces = new Map([...largest(r1), ...largest(r2)]);
    assert.equal(faces.size, 36);
    // Where each face is now (the first half's singletons have moved since r1 answered).
    const now = async (faceId: number | null) =>
      faceId === null ? null : (await service.store.getFace('lib', faceId))!.subjectId;
    for (const p of people) {
      const mine = [...faces].filter(([file]) => personOf.get(file) === p).map(([, f]) => f);
      const subjects = await Promise.all(mine.map((f) => now(f.faceId)));
      assert.ok(
        subjects.every((s) => s !== null && s === subjects[0]),
        `${p} split: ${JSON.stringify(subjects)}`,
      );
      subjectOf.set(p, subjects[0]!);
    }
    assert.equal(new Set(subjectOf.values()).size, people.length, 'two people merged');
    // The earlier singletons moved into their people, and their one-face subjects went.
    assert.ok(r2.summary.singletonsJoined >= 2 * people.length, JSON.stringify(r2.summary));
    assert.equal(r2.removedClusters.length, r2.summary.singletonsJoined);
    const g = (await service.gallery('lib'))!;
    assert.equal(
      g.clusterFaces,
      r1.summary.faces + r2.summary.faces - r1.summary.lowQuality - r2.summary.lowQuality,
    );
  });

  await t.test('incremental equals one clustering of the same faces', async () => {
    const stored: (NewFace & { subjectId: number })[] = [];
    for await (const f of service.store.faces('lib'))
      stored.push({
        embedding: f.embedding,
        model: f.model,
        imageSha256: f.imageSha256!,
        box: f.box ?? undefined,
        subjectId: f.subjectId,
      });
    await service.store.createGallery({ name: 'fresh', model: service.model, dim: service.dim });
    const once = await clusterIntoGallery(service.store, 'fresh', stored, {
      scale: farScale(rec.farTable!, DEFAULT_LINK_FAR),
      minFaces: DEFAULT_MIN_FACES,
    });
    for (let i = 0; i < stored.length; i++)
      for (let j = i + 1; j < stored.length; j++)
        assert.equal(
          once.faces[i]!.subjectId === once.faces[j]!.subjectId,
          stored[i]!.subjectId === stored[j]!.subjectId,
          `faces ${i} and ${j}`,
        );
  });

  await t.test('a named person collects their photos; "not this person" keeps a face out', async () => {
    const ann = subjectOf.get('id01')!;
    await nameCluster(service.store, 'lib', ann, { name: 'Ann', externalId: 'ann' });
    const [held0, held1] = byPerson
      .get('id01')!
      .slice(4, 6)
      .map((x) => x.file);
    await service.notSubject('lib', ann, { image: held0! });
    const r = largest(await service.clusterPhotos('lib', [held0!, held1!]));
    assert.notEqual(r.get(held0!)!.subjectId, ann);
    assert.deepEqual(
      [r.get(held1!)!.outcome, r.get(held1!)!.subjectId, r.get(held1!)!.kind],
      ['joined', ann, 'person'],
    );
  });

  await t.test('the same photos again: all duplicates, nothing stored', async () => {
    const before = await service.gallery('lib');
    const again = await service.clusterPhotos(
      'lib',
      second.map((x) => x.file),
    );
    assert.deepEqual([again.faces.length, again.summary.duplicates], [0, second.length]);
    assert.deepEqual(await service.gallery('lib'), before);
  });

  await t.test('POST /galleries/:g/cluster: a bad upload is refused and stores nothing', async () => {
    const keys = new KeyStore(join(tmp, 'keys.json'));
    const app = await buildServer({ service, keys, webDir: null });
    try {
      const A = { 'x-api-key': keys.create('admin', 'admin').token };
      const R = { 'x-api-key': keys.create('recognise', 'reader').token };
      const photo = readFileSync(byPerson.get('id02')![4]!.file);
      const send = (parts: [string, Buffer | string, string?][], headers = A, gallery = 'lib') =>
        app.inject({
          method: 'POST',
          url: `/galleries/${gallery}/cluster`,
          headers: { ...headers, 'content-type': 'multipart/form-data; boundary=XB' },
          payload: multipartBody(parts, 'XB'),
        });
      const before = await service.gallery('lib');
      const bad = await send([
        ['image', photo, 'a.jpg'],
        ['image', Buffer.from('not an image at all'), 'b.jpg'],
      ]);
      assert.ok(bad.statusCode >= 400 && bad.statusCode < 500, `${bad.statusCode} ${bad.body}`);
      assert.match(JSON.parse(bad.body).error.message, /image\[1\]/);
      assert.deepEqual(await service.gallery('lib'), before);
      assert.equal((await send([['image', photo, 'a.jpg']], R)).statusCode, 403);
      assert.equal((await send([['image', photo, 'a.jpg']], A, 'nope')).statusCode, 404);

      const ok = await send([['image', photo, 'a.jpg']]);
      assert.equal(ok.statusCode, 200, ok.body);
      const body = JSON.parse(ok.body);
      assert.deepEqual(
        [body.faces[0].name, body.faces[0].outcome, body.faces[0].subjectId],
        ['image[0]', 'joined', subjectOf.get('id02')],
      );
      // JSON with a list of base64 images: the same photo again is a duplicate, nothing stored.
      const dup = await app.inject({
        method: 'POST',
        url: '/galleries/lib/cluster',
        headers: A,
        payload: { image: [photo.toString('base64')] },
      });
      assert.equal(dup.statusCode, 200, dup.body);
      assert.deepEqual([JSON.parse(dup.body).duplicates, JSON.parse(dup.body).faces], [['image[0]'], []]);
      const list = JSON.parse(
        (await app.inject({ method: 'GET', url: '/galleries/lib/clusters', headers: R })).body,
      );
      assert.ok(
        list.clusters.length >= people.length - 1 &&
          list.clusters.every((c: { faces: number }) => c.faces >= 2),
      );
      assert.equal(typeof list.singletons, 'number');
    } finally {
      await app.close();
    }
  });

  await t.test('arcface cluster --gallery, then list, name, merge, split, move; bad ids', async () => {
    const store = join(tmp, 'cli');
    const photos = [
      'train/obama/obama.jpg',
      'train/obama/obama2.jpg',
      'test/obama1.jpg',
      'train/biden/biden.jpg',
      'train/biden/biden2.jpg',
      'train/rose_leslie/img1.jpg',
      'train/rose_leslie/img2.jpg',
    ].map((p) => join(KNN, p));
    const base = ['--gallery', 'g', '--store', store];
    const run = await arcface('cluster', ...photos, ...base, '-m', W600K, '--min-faces', '2', '--json');
    assert.equal(run.code, 0, run.err);
    const lines = run.out
      .trim()
      .split('\n')
      .map(
        (l) => JSON.parse(l) as { file: string; cluster: number | null; faceId: number; subjectId: number },
      );
    const of = (dir: string) =>
      lines.filter((l) => l.file.includes(`/${dir}/`) || basename(l.file).startsWith(dir));
    const [obama, biden, rose] = [of('obama'), of('biden'), of('rose_leslie')].map((fs) => {
      assert.ok(fs.length >= 2 && fs.every((f) => f.cluster !== null && f.cluster === fs[0]!.cluster));
      return fs;
    });
    assert.equal(new Set([obama[0]!.cluster, biden[0]!.cluster, rose[0]!.cluster]).size, 3);
    const again = await arcface('cluster', ...photos, ...base, '-m', W600K, '--json');
    assert.deepEqual([again.code, again.out], [0, '']);
    assert.match(again.err, /7 photo\(s\) already in gallery g/);

    const edit = async (...args: string[]) => {
      const r = await arcface('cluster', ...args, ...base);
      assert.equal(r.code, 0, r.err);
      return r.out;
    };
    const listed = JSON.parse(await edit('list', '--json'));
    assert.deepEqual(listed.clusters.map((c: { faces: number }) => c.faces).sort(), [2, 2, 3]);
    const [o, b, r] = [obama[0]!.cluster!, biden[0]!.cluster!, rose[0]!.cluster!];
    assert.match(
      await edit('name', String(o), 'Barack Obama', '--external-id', 'obama'),
      /is now person Barack Obama/,
    );
    assert.match(await edit('merge', String(b), String(r)), /2 face\(s\) moved, 4 in all/);
    const split = JSON.parse(await edit('split', String(b), ...rose.map((f) => String(f.faceId)), '--json'));
    assert.deepEqual([split.kind, split.faces], ['cluster', 2]);
    assert.match(
      await edit('move', String(rose[0]!.faceId), String(o)),
      /moved face \d+ to subject \d+ \(4 face/,
    );
    // Left: biden's cluster, and the split-off cluster with the one face not moved (a singleton).
    assert.match(await edit('list'), /1 cluster\(s\) of 2\+ faces, 1 singleton/);

    const refused = async (pattern: RegExp, ...args: string[]) => {
      const res = await arcface('cluster', ...args);
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.out}`);
      assert.match(res.err, pattern);
    };
    await refused(/bad cluster id "abc"/, 'name', 'abc', 'X', ...base);
    await refused(/no subject 99999/, 'name', '99999', 'X', ...base);
    await refused(/is a person, not a cluster/, 'merge', String(b), String(o), ...base);
    await refused(/no face 99999/, 'move', '99999', String(o), ...base);
    await refused(/give INTO and at least one cluster/, 'merge', String(b), ...base);
    await refused(/--gallery G/, 'list', '--store', store);
    await refused(/no gallery 'nope'/, 'list', '--gallery', 'nope', '--store', store);
  });
});
