/**
 * Clusters that live in the store, on any GalleryStore (run by test/gallery.store.test.ts on SQLite
 * and test/gallery.postgres.test.ts on PostgreSQL): writeClusters is all or nothing, and
 * clusterIntoGallery grows clusters batch by batch, keeps corrections and 'apart' links, skips
 * photos it holds already, and ends where one clustering of everything does. Synthetic unit
 * vectors with known people (no model needed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cosineScale } from '../src/cluster/index.js';
import { identify } from '../src/gallery/identify.js';
import { nameCluster } from '../src/gallery/clusters.js';
import type { GalleryStore, NewFace } from '../src/gallery/types.js';
import { clusterIntoGallery } from '../src/service/cluster_gallery.js';
import { clusteredVectors, type StoreLocation } from './gallery_suite.js';

const DIM = 32;
const EACH = 6;
// 7 people x 6 faces; two faces of one person score about 0.9, strangers below 0.6.
const { rows } = clusteredVectors(21, 7, EACH, DIM, 0.05);
const sha = (photo: string) => createHash('sha256').update(photo).digest('hex');
const BOX = { x1: 10, y1: 12, x2: 60, y2: 74 };
/** Face j of person p, from photo `photo` (its own by default). */
const face = (p: number, j: number, photo = `p${p}-${j}`): NewFace => ({
  embedding: rows[p * EACH + j]!.v,
  model: 'm',
  imageSha256: sha(photo),
  box: BOX,
  photoName: `${photo}.jpg`,
});
const opts = { scale: cosineScale(0.7), minFaces: 2 };

export function clusterGallerySuite(storeName: string, makeLocation: () => Promise<StoreLocation>): void {
  const withStore = (title: string, fn: (store: GalleryStore) => Promise<void>) =>
    test(`${storeName}: ${title}`, async () => {
      const loc = await makeLocation();
      const store = await loc.open();
      try {
        await store.createGallery({ name: 'g', model: 'm', dim: DIM });
        await fn(store);
      } finally {
        await store.close();
        await loc.cleanup();
      }
    });
  const counts = async (store: GalleryStore) => {
    const g = (await store.getGallery('g'))!;
    return [g.subjects, g.clusters, g.faces, g.clusterFaces];
  };

  withStore(
    'nearestFaces: the k nearest stored faces of any subject, exact cosines, bad k refused',
    async (store) => {
      const a = await store.addSubject('g', { name: 'Ann' });
      const c = await store.addSubject('g', { name: 'unnamed', kind: 'cluster' });
      const ids = [
        ...(await store.addFaces('g', a.id, [face(0, 0), face(0, 1), face(1, 0)])),
        ...(await store.addFaces('g', c.id, [face(0, 2), face(2, 0)])),
      ];
      const probe = face(0, 3).embedding;
      const vecs = [face(0, 0), face(0, 1), face(1, 0), face(0, 2), face(2, 0)].map((f) => f.embedding);
      const norm = Math.hypot(...probe);
      const brute = ids
        .map((id, i) => ({
          id,
          s: vecs[i]!.reduce((t, x, d) => t + x * probe[d]!, 0) / norm / Math.hypot(...vecs[i]!),
        }))
        .sort((x, y) => y.s - x.s);
      const got = await store.nearestFaces('g', { embedding: probe, model: 'm' }, 3);
      assert.deepEqual(
        got.map((n) => n.faceId),
        brute.slice(0, 3).map((b) => b.id),
      );
      got.forEach((n, i) =>
        assert.ok(Math.abs(n.score - brute[i]!.s) < 1e-5, `${n.score} vs ${brute[i]!.s}`),
      );
      // The cluster's face is among them: clustering sees every subject.
      assert.ok(got.some((n) => n.faceId === ids[3]));
      assert.equal((await store.nearestFaces('g', { embedding: probe, model: 'm' }, 50)).length, 5);
      await assert.rejects(
        store.nearestFaces('g', { embedding: probe, model: 'm' }, 0),
        /k must be a positive integer/,
      );
      await assert.rejects(store.nearestFaces('g', { embedding: probe, model: 'other' }, 3), /model/);
    },
  );

  withStore(
    'writeClusters: joins, new clusters taking stored faces, emptied ones deleted; all or nothing',
    async (store) => {
      const ann = await store.addSubject('g', { name: 'Ann' });
      await store.addFaces('g', ann.id, [face(0, 0)]);
      const lone = await store.addSubject('g', { name: 'unnamed', kind: 'cluster' });
      const [loneFace] = await store.addFaces('g', lone.id, [face(1, 0)]);
      const r = await store.writeClusters('g', {
        join: [{ subjectId: ann.id, faces: [face(0, 1)] }],
        create: [
          { faces: [face(1, 1), face(1, 2)], move: [loneFace!] },
          { faces: [face(2, 0)], move: [] },
        ],
      });
      assert.equal(r.joined[0]!.length, 1);
      assert.deepEqual(r.removedClusters, [lone.id]);
      const [c1, c2] = r.created;
      assert.deepEqual(
        (await store.listFaces('g', c1!.subjectId)).map((f) => f.id).sort((a, b) => a - b),
        [loneFace!, ...c1!.faceIds].sort((a, b) => a - b),
      );
      const made = await store.getSubject('g', c2!.subjectId);
      assert.deepEqual([made!.kind, made!.name, made!.faces], ['cluster', 'unnamed', 1]);
      assert.deepEqual(await counts(store), [1, 2, 2, 4]);
      // The search index saw it all: the moved face and the new ones are found in their cluster.
      const probe = { embedding: rows[EACH + 3]!.v, model: 'm' };
      const found = await identify(store, 'g', probe, { threshold: 0.7, clusters: true });
      assert.equal(found.subject!.subjectId, c1!.subjectId);

      // A face that is not there: NOT_FOUND, and nothing of the write is stored.
      await assert.rejects(
        store.writeClusters('g', {
          join: [{ subjectId: ann.id, faces: [face(0, 2)] }],
          create: [{ faces: [face(3, 0)], move: [99999] }],
        }),
        (e: any) => e.code === 'NOT_FOUND',
      );
      await assert.rejects(
        store.writeClusters('g', { join: [{ subjectId: 99999, faces: [face(0, 2)] }], create: [] }),
        (e: any) => e.code === 'NOT_FOUND',
      );
      assert.deepEqual(await counts(store), [1, 2, 2, 4]);
      await assert.rejects(
        store.writeClusters('g', { join: [], create: [{ faces: [], move: [loneFace!, loneFace!] }] }),
        /moved twice/,
      );
      await assert.rejects(
        store.writeClusters('g', { join: [], create: [{ faces: [], move: [] }] }),
        /needs/,
      );
      await assert.rejects(
        store.writeClusters('g', {
          join: [],
          create: [{ faces: [{ ...face(3, 0), model: 'x' }], move: [] }],
        }),
        /model 'x'/,
      );
      assert.deepEqual(await counts(store), [1, 2, 2, 4]);
    },
  );

  withStore(
    'clusterIntoGallery: batches join people, make new ones, leave singletons; cannot-link; a re-run stores nothing',
    async (store) => {
      const first = await clusterIntoGallery(
        store,
        'g',
        [0, 1, 2].flatMap((p) => [0, 1, 2].map((j) => face(p, j))).concat([face(3, 0)]),
        opts,
      );
      assert.equal(first.newClusters.length, 3);
      assert.equal(first.singletons, 1);
      const subjectOf = (p: number) => first.faces[p * 3]!.subjectId!;
      for (const p of [0, 1, 2])
        for (const j of [0, 1, 2]) {
          const f = first.faces[p * 3 + j]!;
          assert.deepEqual([f.outcome, f.subjectId, f.kind], ['newCluster', subjectOf(p), 'cluster']);
        }
      assert.equal(new Set([0, 1, 2].map(subjectOf)).size, 3);
      const lone = first.faces[9]!;
      assert.deepEqual([lone.outcome, lone.kind], ['singleton', 'cluster']);
      assert.deepEqual(await counts(store), [0, 4, 0, 10]);

      // Person 0 is named: later photos of them join the person.
      await nameCluster(store, 'g', subjectOf(0), { name: 'Ann', externalId: 'ann' });
      const batch = [
        face(0, 3),
        face(1, 3),
        face(3, 1),
        face(3, 2),
        face(4, 0),
        // One photo with two faces of person 2 (a mirror): at most one of them joins person 2.
        face(2, 3, 'mirror'),
        face(2, 4, 'mirror'),
      ];
      const second = await clusterIntoGallery(store, 'g', batch, opts);
      const out = second.faces;
      assert.deepEqual(
        [out[0]!.outcome, out[0]!.subjectId, out[0]!.kind],
        ['joined', subjectOf(0), 'person'],
      );
      assert.deepEqual([out[1]!.outcome, out[1]!.subjectId], ['joined', subjectOf(1)]);
      // Person 3's two new faces and the singleton they reach make a person; the singleton's subject goes.
      assert.deepEqual([out[2]!.outcome, out[3]!.outcome], ['newCluster', 'newCluster']);
      assert.equal(out[2]!.subjectId, out[3]!.subjectId);
      assert.deepEqual(second.removedClusters, [lone.subjectId]);
      assert.equal(second.singletonsJoined, 1);
      assert.equal((await store.getFace('g', lone.faceId!))!.subjectId, out[2]!.subjectId);
      assert.equal(out[4]!.outcome, 'singleton');
      const mirror = [out[5]!, out[6]!];
      assert.equal(mirror.filter((f) => f.subjectId === subjectOf(2)).length, 1, JSON.stringify(mirror));
      assert.equal(mirror.filter((f) => f.outcome === 'joined').length, 1);

      // The same photos again: every face a duplicate, nothing stored.
      const before = await counts(store);
      const again = await clusterIntoGallery(store, 'g', batch, opts);
      assert.ok(again.faces.every((f) => f.outcome === 'duplicate' && f.subjectId === null));
      assert.deepEqual(await counts(store), before);
      await assert.rejects(
        clusterIntoGallery(store, 'g', [{ ...face(5, 0), imageSha256: undefined }], opts),
        /no imageSha256/,
      );
    },
  );

  withStore(
    'clusterIntoGallery: a correction keeps a face out of its subject; apart singletons stay apart',
    async (store) => {
      const [a] = (
        await clusterIntoGallery(
          store,
          'g',
          [0, 1, 2].map((j) => face(0, j)),
          opts,
        )
      ).faces;
      // "The face at BOX of photo x is not A" (as identify's "not this person" stores it).
      await store.addCorrection('g', { subjectId: a!.subjectId!, imageSha256: sha('x'), box: BOX });
      const r = await clusterIntoGallery(store, 'g', [face(0, 3, 'x'), face(0, 4)], opts);
      assert.notEqual(r.faces[0]!.subjectId, a!.subjectId);
      assert.equal(r.faces[0]!.outcome, 'singleton');
      assert.deepEqual([r.faces[1]!.outcome, r.faces[1]!.subjectId], ['joined', a!.subjectId]);

      // Two singletons of person 5 (min faces 3 keeps a pair apart), which a person split apart.
      const strict = { ...opts, minFaces: 3 };
      const [s0] = (await clusterIntoGallery(store, 'g', [face(5, 0)], strict)).faces;
      const [s1] = (await clusterIntoGallery(store, 'g', [face(5, 1)], strict)).faces;
      assert.deepEqual([s0!.outcome, s1!.outcome], ['singleton', 'singleton']);
      await store.addLinks('g', [{ faceA: s0!.faceId!, faceB: s1!.faceId!, kind: 'apart' }]);
      // And "the face of photo q is not s0's subject".
      await store.addCorrection('g', { subjectId: s0!.subjectId!, imageSha256: sha('q') });
      const m = await clusterIntoGallery(store, 'g', [face(5, 2, 'q'), face(5, 3), face(5, 4)], opts);
      const made = m.faces[1]!.subjectId!;
      assert.equal(m.faces[1]!.outcome, 'newCluster');
      assert.equal(m.faces[2]!.subjectId, made);
      assert.equal(m.faces[0]!.outcome, 'singleton', 'photo q is not s0: it stays out of s0 cluster');
      const members = (await store.listFaces('g', made)).map((f) => f.id);
      assert.ok(members.includes(s0!.faceId!), 's0 joins the new cluster');
      assert.ok(!members.includes(s1!.faceId!), 's1 is kept apart from s0');
      assert.equal((await store.getFace('g', s1!.faceId!))!.subjectId, s1!.subjectId);
    },
  );

  withStore('clusterIntoGallery: half then half ends as one clustering of everything', async (store) => {
    await store.createGallery({ name: 'all', model: 'm', dim: DIM });
    const people = [0, 1, 2, 3, 4, 5, 6];
    const all = people.flatMap((p) => [0, 1, 2, 3, 4, 5].map((j) => face(p, j)));
    const once = await clusterIntoGallery(store, 'all', all, opts);
    const firstHalf = all.filter((_, i) => i % EACH < 3);
    const secondHalf = all.filter((_, i) => i % EACH >= 3);
    const a = await clusterIntoGallery(store, 'g', firstHalf, opts);
    const b = await clusterIntoGallery(store, 'g', secondHalf, opts);
    assert.equal(b.newClusters.length, 0, 'every later face joins its person');
    const subjectOf = new Map<string, number>();
    firstHalf.forEach((f, i) => subjectOf.set(f.imageSha256!, a.faces[i]!.subjectId!));
    secondHalf.forEach((f, i) => subjectOf.set(f.imageSha256!, b.faces[i]!.subjectId!));
    // The same partition: person p's faces in one subject, a subject per person, in both galleries.
    const byPerson = (subject: (i: number) => number) =>
      people.map((p) => new Set([0, 1, 2, 3, 4, 5].map((j) => subject(p * EACH + j))));
    const inc = byPerson((i) => subjectOf.get(all[i]!.imageSha256!)!);
    const fresh = byPerson((i) => once.faces[i]!.subjectId!);
    for (const sets of [inc, fresh]) {
      assert.ok(
        sets.every((s) => s.size === 1),
        'one subject per person',
      );
      assert.equal(new Set(sets.map((s) => [...s][0])).size, people.length, 'people apart');
    }
    assert.deepEqual(await counts(store), [0, people.length, 0, all.length]);
  });
}
