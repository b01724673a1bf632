/**
 * The behaviour every GalleryStore must have, as a suite that takes a store factory: the SQLite
 * store runs it in test/gallery.store.test.ts, the PostgreSQL store can run the same one. Each test
 * gets a fresh, empty store location; `open()` opens (or re-opens, after a close) that location.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identify, verifySubject } from '../src/gallery/identify.js';
import { mergeClusters, moveFace, nameCluster, splitCluster } from '../src/gallery/clusters.js';
import { exportGallery, importGallery } from '../src/service/portable.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GalleryStore, NewFace } from '../src/gallery/types.js';
import { rng, gaussian } from '../src/util/random.js';

export interface StoreLocation {
  open(): Promise<GalleryStore>;
  /** Removes the location (files, schema...). */
  cleanup(): Promise<void>;
}

/** Random unit vectors in clusters (one cluster per identity), like face embeddings: each row is its
 * cluster centre plus Gaussian noise of `spread` per coordinate, normalised. */
export function clusteredVectors(
  seed: number,
  clusters: number,
  perCluster: number,
  dim: number,
  spread = 0.05,
) {
  const random = rng(seed);
  const unit = (v: Float32Array) => {
    let s = 0;
    for (const x of v) s += x * x;
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < v.length; i++) v[i] *= inv;
    return v;
  };
  const centres = Array.from({ length: clusters }, () =>
    unit(Float32Array.from({ length: dim }, () => gaussian(random))),
  );
  const rows: { cluster: number; v: Float32Array }[] = [];
  for (let c = 0; c < clusters; c++)
    for (let j = 0; j < perCluster; j++)
      rows.push({ cluster: c, v: unit(Float32Array.from(centres[c], (x) => x + spread * gaussian(random))) });
  return { centres, rows, random };
}

/** Brute-force reference in float64: every subject's max or mean cosine, best first. */
export function bruteForce(
  probe: Float32Array,
  faces: { subject: number; face: number; v: Float32Array }[],
  aggregate: 'max' | 'mean',
): { subject: number; score: number; face: number }[] {
  const norm = Math.sqrt(probe.reduce((s, x) => s + x * x, 0));
  const acc = new Map<number, { best: number; face: number; sum: number; n: number }>();
  for (const f of faces) {
    let d = 0;
    for (let i = 0; i < probe.length; i++) d += probe[i] * f.v[i];
    d /= norm;
    const a = acc.get(f.subject) ?? { best: -Infinity, face: -1, sum: 0, n: 0 };
    if (d > a.best) [a.best, a.face] = [d, f.face];
    a.sum += d;
    a.n++;
    acc.set(f.subject, a);
  }
  return [...acc]
    .map(([subject, a]) => ({ subject, score: aggregate === 'max' ? a.best : a.sum / a.n, face: a.face }))
    .sort((x, y) => y.score - x.score);
}

const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Fake PNG bytes: the signature then `n` deterministic bytes from a seed (the store checks the signature only). */
export function fakePng(seed: number, n = 64): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(8 + n);
  out.set(PNG);
  for (let i = 8; i < out.length; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/**
 * Fills gallery `g` (created here, model 'm') with `subjects` subjects of 2 faces each, from
 * clusteredVectors(seed): subject c holds rows 2c and 2c+1, with crops fakePng(cropSeed + 2c + j).
 */
export async function fillGallery(
  store: GalleryStore,
  o: { seed: number; subjects: number; dim: number; cropSeed: number; cropBytes: number },
): Promise<{ rows: { v: Float32Array }[]; ids: number[] }> {
  await store.createGallery({ name: 'g', model: 'm', dim: o.dim });
  const { rows } = clusteredVectors(o.seed, o.subjects, 2, o.dim, 0.2);
  const ids: number[] = [];
  for (let c = 0; c < o.subjects; c++) {
    const s = await store.addSubject('g', { name: `p${c}` });
    ids.push(s.id);
    const faces = rows.slice(2 * c, 2 * c + 2).map((r, j) => ({
      embedding: r.v,
      model: 'm',
      crop: fakePng(o.cropSeed + 2 * c + j, o.cropBytes),
    }));
    await store.addFaces('g', s.id, faces);
  }
  return { rows, ids };
}

const unitX = (dim: number, axis: number, tilt = 0) => {
  const v = new Float32Array(dim);
  v[axis] = Math.cos(tilt);
  v[(axis + 1) % dim] = Math.sin(tilt);
  return v;
};

export function galleryStoreSuite(storeName: string, makeLocation: () => Promise<StoreLocation>): void {
  const withStore = (title: string, fn: (store: GalleryStore, loc: StoreLocation) => Promise<void>) =>
    test(`${storeName}: ${title}`, async () => {
      const loc = await makeLocation();
      const store = await loc.open();
      try {
        await fn(store, loc);
      } finally {
        await store.close();
        await loc.cleanup();
      }
    });

  withStore('galleries, subjects and faces: create, get, list, delete', async (store) => {
    const g = await store.createGallery({ name: 'office', model: 'm1', dim: 4 });
    assert.deepEqual([g.name, g.model, g.dim, g.subjects, g.faces], ['office', 'm1', 4, 0, 0]);
    assert.ok(!Number.isNaN(Date.parse(g.createdAt)));
    await store.createGallery({ name: 'alpha', model: 'm2', dim: 8 });
    assert.deepEqual(
      (await store.listGalleries()).map((x) => x.name),
      ['alpha', 'office'],
    );
    await assert.rejects(store.createGallery({ name: 'office', model: 'm1', dim: 4 }), /already exists/);
    await assert.rejects(store.createGallery({ name: 'x', model: 'm1', dim: 0 }), /dim/);
    assert.equal(await store.getGallery('nope'), null);

    const ann = await store.addSubject('office', {
      name: 'Ann',
      externalId: 'emp-1',
      metadata: { team: 'a', n: [1] },
    });
    assert.deepEqual(
      [ann.name, ann.externalId, ann.metadata, ann.faces],
      ['Ann', 'emp-1', { team: 'a', n: [1] }, 0],
    );
    const bob = await store.addSubject('office', { name: 'Bob' });
    assert.match(bob.externalId, /^[0-9a-f-]{36}$/);
    await assert.rejects(
      store.addSubject('office', { name: 'Ann 2', externalId: 'emp-1' }),
      /external id 'emp-1'/,
    );
    await assert.rejects(store.addSubject('nope', { name: 'X' }), (e: any) => e.code === 'NOT_FOUND');
    assert.equal((await store.findSubject('office', 'emp-1'))!.id, ann.id);
    assert.equal(await store.findSubject('office', 'emp-2'), null);

    const crop = fakePng(1);
    const sha = 'ab'.repeat(32);
    const ids = await store.addFaces('office', ann.id, [
      { embedding: Float32Array.from([3, 0, 0, 4]), model: 'm1', imageSha256: sha, detScore: 0.9, crop },
      { embedding: Float32Array.from([0, 1, 0, 0]), model: 'm1' },
    ]);
    assert.equal(ids.length, 2);
    const faces = await store.listFaces('office', ann.id);
    assert.deepEqual(
      faces.map((f) => f.id),
      ids,
    );
    // Stored unit norm: (3, 0, 0, 4) / 5.
    assert.deepEqual([...faces[0].embedding], [0.6000000238418579, 0, 0, 0.800000011920929]);
    assert.deepEqual(
      [faces[0].model, faces[0].imageSha256, faces[0].detScore, faces[0].hasCrop],
      ['m1', sha, 0.9, true],
    );
    assert.deepEqual([faces[1].imageSha256, faces[1].detScore, faces[1].hasCrop], [null, null, false]);
    assert.deepEqual(await store.getCrop('office', ids[0]), crop);
    assert.equal(await store.getCrop('office', ids[1]), null);
    await assert.rejects(store.getCrop('alpha', ids[0]), (e: any) => e.code === 'NOT_FOUND');
    assert.deepEqual(
      (await store.listSubjects('office')).map((s) => [s.name, s.faces]),
      [
        ['Ann', 2],
        ['Bob', 0],
      ],
    );
    assert.deepEqual(
      [(await store.getGallery('office'))!.subjects, (await store.getGallery('office'))!.faces],
      [2, 2],
    );

    const all = [];
    for await (const f of store.faces('office', { crops: true })) all.push(f);
    assert.deepEqual(
      all.map((f) => [f.id, f.crop?.length ?? null]),
      [
        [ids[0], crop.length],
        [ids[1], null],
      ],
    );

    assert.equal(await store.deleteFace('office', ids[1]), true);
    assert.equal(await store.deleteFace('office', ids[1]), false);
    assert.equal((await store.getSubject('office', ann.id))!.faces, 1);
    assert.equal(await store.deleteSubject('office', ann.id), true);
    assert.equal(await store.getSubject('office', ann.id), null);
    assert.equal(await store.deleteSubject('office', ann.id), false);
    assert.equal((await store.getGallery('office'))!.faces, 0);
    await assert.rejects(store.getCrop('office', ids[0]), (e: any) => e.code === 'NOT_FOUND');
    assert.equal(await store.deleteGallery('office'), true);
    assert.equal(await store.deleteGallery('office'), false);
    assert.deepEqual(
      (await store.listGalleries()).map((x) => x.name),
      ['alpha'],
    );
  });

  withStore(
    'embeddings of two models never mix; bad faces are refused and nothing is half-enrolled',
    async (store) => {
      await store.createGallery({ name: 'g', model: 'arcface-r50', dim: 4 });
      const s = await store.addSubject('g', { name: 'Ann' });
      const good: NewFace = { embedding: Float32Array.from([1, 0, 0, 0]), model: 'arcface-r50' };
      await assert.rejects(
        store.addFaces('g', s.id, [good, { embedding: Float32Array.from([0, 1, 0, 0]), model: 'mbf' }]),
        (e: any) => e.code === 'BAD_INPUT' && /'mbf'/.test(e.message) && /'arcface-r50'/.test(e.message),
      );
      await assert.rejects(
        store.search('g', { embedding: Float32Array.from([1, 0, 0, 0]), model: 'mbf' }),
        (e: any) => e.code === 'BAD_INPUT' && /'mbf'/.test(e.message) && /'arcface-r50'/.test(e.message),
      );
      await assert.rejects(
        store.addFaces('g', s.id, [good, { embedding: new Float32Array(5), model: 'arcface-r50' }]),
        (e: any) => e.code === 'BAD_SHAPE',
      );
      await assert.rejects(store.addFaces('g', s.id, [{ ...good, embedding: new Float32Array(4) }]), /zero/);
      await assert.rejects(store.addFaces('g', s.id, [{ ...good, crop: Uint8Array.from([1, 2, 3]) }]), /PNG/);
      await assert.rejects(store.addFaces('g', s.id + 999, [good]), (e: any) => e.code === 'NOT_FOUND');
      assert.equal((await store.getGallery('g'))!.faces, 0);
      assert.deepEqual(
        await store.search('g', { embedding: Float32Array.from([1, 0, 0, 0]), model: 'arcface-r50' }),
        [],
      );
    },
  );

  withStore(
    'top-k subjects equal a brute-force reference (max and mean) on clustered vectors',
    async (store) => {
      const dim = 32;
      const { rows, random } = clusteredVectors(7, 40, 3, dim, 0.15);
      await store.createGallery({ name: 'g', model: 'm', dim });
      const ref: { subject: number; face: number; v: Float32Array }[] = [];
      for (let c = 0; c < 40; c++) {
        const s = await store.addSubject('g', { name: `p${c}` });
        // Uneven face counts (1..3), so mean and max rank differently.
        const mine = rows.filter((r) => r.cluster === c).slice(0, 1 + (c % 3));
        const ids = await store.addFaces(
          'g',
          s.id,
          mine.map((r) => ({ embedding: r.v, model: 'm' })),
        );
        mine.forEach((r, i) => ref.push({ subject: s.id, face: ids[i], v: r.v }));
      }
      for (let q = 0; q < 10; q++) {
        const probe = Float32Array.from({ length: dim }, () => random() - 0.5);
        for (const aggregate of ['max', 'mean'] as const) {
          const got = await store.search('g', { embedding: probe, model: 'm' }, { k: 7, aggregate });
          const want = bruteForce(probe, ref, aggregate).slice(0, 7);
          assert.deepEqual(
            got.map((m) => m.subjectId),
            want.map((w) => w.subject),
            `${aggregate} probe ${q}`,
          );
          got.forEach((m, i) => assert.ok(Math.abs(m.score - want[i].score) < 1e-5));
          if (aggregate === 'max')
            assert.deepEqual(
              got.map((m) => m.faceId),
              want.map((w) => w.face),
            );
        }
      }
    },
  );

  withStore('max vs mean by hand; unknown below the threshold; verify one subject', async (store) => {
    await store.createGallery({ name: 'g', model: 'm', dim: 4 });
    // A: faces at 0 and 90 degrees from the probe (cos 1, 0): max 1, mean 0.5.
    // B: two faces at 30 degrees (cos 0.866): max 0.866, mean 0.866.
    const a = await store.addSubject('g', { name: 'A' });
    const b = await store.addSubject('g', { name: 'B' });
    const [a0] = await store.addFaces('g', a.id, [
      { embedding: unitX(4, 0), model: 'm' },
      { embedding: unitX(4, 2), model: 'm' },
    ]);
    const [b0] = await store.addFaces('g', b.id, [
      { embedding: unitX(4, 0, Math.PI / 6), model: 'm' },
      { embedding: unitX(4, 0, -Math.PI / 6), model: 'm' },
    ]);
    const probe = { embedding: unitX(4, 0), model: 'm' };
    const max = await store.search('g', probe, { k: 2, aggregate: 'max' });
    assert.deepEqual(
      max.map((m) => [m.name, m.faceId]),
      [
        ['A', a0],
        ['B', b0],
      ],
    );
    assert.ok(Math.abs(max[0].score - 1) < 1e-6 && Math.abs(max[1].score - Math.sqrt(3) / 2) < 1e-6);
    const mean = await store.search('g', probe, { k: 2, aggregate: 'mean' });
    assert.deepEqual(
      mean.map((m) => m.name),
      ['B', 'A'],
    );
    assert.ok(Math.abs(mean[0].score - Math.sqrt(3) / 2) < 1e-6 && Math.abs(mean[1].score - 0.5) < 1e-6);
    assert.ok(Math.abs(mean[1].faceScore - 1) < 1e-6);

    // Open set: the nearest enrolled face (A's second one) is 45 degrees from this probe.
    const known = await identify(store, 'g', probe, { threshold: 0.9 });
    assert.equal(known.subject?.name, 'A');
    const stranger = { embedding: unitX(4, 1, Math.PI / 4), model: 'm' };
    const unknown = await identify(store, 'g', stranger, { threshold: 0.9, k: 2 });
    assert.equal(unknown.subject, null);
    assert.ok(Math.abs(unknown.score! - Math.SQRT1_2) < 1e-6);
    assert.equal(unknown.candidates.length, 2);
    assert.equal((await identify(store, 'g', stranger, { threshold: 0.7 })).subject?.name, 'A');
    await assert.rejects(identify(store, 'g', probe, { threshold: 2 }), /threshold/);

    const v = await verifySubject(store, 'g', b.id, probe, 0.8);
    assert.equal(v.same, true);
    assert.ok(Math.abs(v.score - Math.sqrt(3) / 2) < 1e-6);
    assert.equal((await verifySubject(store, 'g', a.id, probe, 0.8, 'mean')).same, false);
    await assert.rejects(verifySubject(store, 'g', a.id, { ...probe, model: 'x' }, 0.5), /'x'/);
    await assert.rejects(verifySubject(store, 'g', 12345, probe, 0.5), (e: any) => e.code === 'NOT_FOUND');
  });

  withStore(
    'deleted subjects and faces leave search at once; reopening gives the same results',
    async (store, loc) => {
      const dim = 16;
      const { rows, random } = clusteredVectors(3, 12, 4, dim, 0.2);
      await store.createGallery({ name: 'g', model: 'm', dim });
      const subjects: number[] = [];
      for (let c = 0; c < 12; c++) {
        const s = await store.addSubject('g', { name: `p${c}` });
        subjects.push(s.id);
        await store.addFaces(
          'g',
          s.id,
          rows.filter((r) => r.cluster === c).map((r) => ({ embedding: r.v, model: 'm' })),
        );
      }
      const probe = { embedding: rows[0].v, model: 'm' };
      assert.equal((await store.search('g', probe, { k: 1 }))[0].subjectId, subjects[0]);
      await store.deleteSubject('g', subjects[0]);
      const after = await store.search('g', probe, { k: 12 });
      assert.equal(after.length, 11);
      assert.ok(!after.some((m) => m.subjectId === subjects[0]));
      const victim = (await store.listFaces('g', subjects[1]))[0];
      await store.deleteFace('g', victim.id);
      const p1 = { embedding: victim.embedding, model: 'm' };
      assert.notEqual(
        (await store.search('g', p1, { k: 12 })).find((m) => m.subjectId === subjects[1])!.faceId,
        victim.id,
      );

      const probes = Array.from({ length: 5 }, () => ({
        embedding: Float32Array.from({ length: dim }, () => random() - 0.5),
        model: 'm',
      }));
      const before = await Promise.all(probes.map((p) => store.search('g', p, { k: 5, aggregate: 'mean' })));
      await store.close();
      const again = await loc.open();
      try {
        const reopened = await Promise.all(
          probes.map((p) => again.search('g', p, { k: 5, aggregate: 'mean' })),
        );
        assert.deepEqual(reopened, before);
        assert.equal((await again.getGallery('g'))!.faces, 12 * 4 - 5);
      } finally {
        await again.close();
      }
    },
  );

  withStore(
    'replaceEmbeddings switches the model atomically; an incomplete set changes nothing',
    async (store) => {
      await store.createGallery({ name: 'g', model: 'old', dim: 4 });
      const s = await store.addSubject('g', { name: 'A' });
      const t = await store.addSubject('g', { name: 'B' });
      const [f1] = await store.addFaces('g', s.id, [{ embedding: unitX(4, 0), model: 'old' }]);
      const [f2] = await store.addFaces('g', t.id, [{ embedding: unitX(4, 1), model: 'old' }]);
      await assert.rejects(
        store.replaceEmbeddings('g', 'new', [{ faceId: f1, embedding: unitX(6, 0) }]),
        /2 faces/,
      );
      assert.equal((await store.getGallery('g'))!.model, 'old');
      assert.equal((await store.search('g', { embedding: unitX(4, 0), model: 'old' }))[0].subjectId, s.id);
      // The new model maps A where B was and vice versa (6-d).
      await store.replaceEmbeddings('g', 'new', [
        { faceId: f1, embedding: unitX(6, 5) },
        { faceId: f2, embedding: unitX(6, 3) },
      ]);
      const g = (await store.getGallery('g'))!;
      assert.deepEqual([g.model, g.dim], ['new', 6]);
      assert.equal((await store.listFaces('g', s.id))[0].model, 'new');
      await assert.rejects(store.search('g', { embedding: unitX(4, 0), model: 'old' }), /'old'/);
      assert.equal((await store.search('g', { embedding: unitX(6, 5), model: 'new' }))[0].subjectId, s.id);
      assert.equal((await store.search('g', { embedding: unitX(6, 3), model: 'new' }))[0].subjectId, t.id);
    },
  );

  withStore(
    'corrections: "face F is not S" changes identify, by photo and box, and goes with S',
    async (store, loc) => {
      await store.createGallery({ name: 'g', model: 'm', dim: 4 });
      const ann = await store.addSubject('g', { name: 'Ann' });
      const bob = await store.addSubject('g', { name: 'Bob' });
      const sha = 'cd'.repeat(32);
      const box = { x1: 10, y1: 10, x2: 60, y2: 70 };
      const [annFace] = await store.addFaces('g', ann.id, [
        { embedding: unitX(4, 0), model: 'm', imageSha256: sha, photoName: 'party.jpg', box },
      ]);
      await store.addFaces('g', bob.id, [{ embedding: unitX(4, 0, 0.5), model: 'm' }]);
      const f = (await store.getFace('g', annFace))!;
      assert.deepEqual([f.photoName, f.box, f.subjectId], ['party.jpg', box, ann.id]);
      assert.equal(await store.getFace('g', annFace + 999), null);
      const probe = { embedding: unitX(4, 0, 0.1), model: 'm' };
      const photo = { imageSha256: 'ef'.repeat(32), box: { x1: 100, y1: 0, x2: 150, y2: 60 } };
      const before = await identify(store, 'g', probe, { threshold: 0.5, photo });
      assert.equal(before.subject!.subjectId, ann.id);

      // By photo and box: that face of that photo is not Ann; the same face re-detected (IoU 0.8) too.
      const c1 = await store.addCorrection('g', { subjectId: ann.id, ...photo });
      assert.deepEqual(
        [c1.subjectId, c1.faceId, c1.imageSha256, c1.box],
        [ann.id, null, photo.imageSha256, photo.box],
      );
      const redetected = { ...photo, box: { x1: 102, y1: 2, x2: 152, y2: 58 } };
      const after = await identify(store, 'g', probe, { threshold: 0.5, photo: redetected });
      assert.equal(after.subject!.subjectId, bob.id);
      assert.ok(after.candidates.every((c) => c.subjectId !== ann.id));
      // Another face of the same photo, or the same face in another photo, is still Ann.
      const other = { ...photo, box: { x1: 0, y1: 0, x2: 50, y2: 60 } };
      assert.equal(
        (await identify(store, 'g', probe, { threshold: 0.5, photo: other })).subject!.subjectId,
        ann.id,
      );
      assert.equal((await identify(store, 'g', probe, { threshold: 0.5 })).subject!.subjectId, ann.id);

      // By stored face: the correction copies the face's photo and box.
      const c2 = await store.addCorrection('g', { subjectId: ann.id, faceId: annFace });
      assert.deepEqual([c2.faceId, c2.imageSha256, c2.box], [annFace, sha, box]);
      await assert.rejects(
        store.addCorrection('g', { subjectId: ann.id + 999, imageSha256: sha }),
        (e: any) => e.code === 'NOT_FOUND',
      );
      await assert.rejects(
        store.addCorrection('g', { subjectId: ann.id, faceId: annFace + 999 }),
        (e: any) => e.code === 'NOT_FOUND',
      );
      await assert.rejects(store.addCorrection('g', { subjectId: ann.id }), /faceId|imageSha256/);
      await assert.rejects(
        store.addCorrection('g', { subjectId: ann.id, imageSha256: 'x' }),
        /64 lower-case hex/,
      );
      await assert.rejects(
        store.addCorrection('g', {
          subjectId: ann.id,
          imageSha256: sha,
          box: { x1: 5, y1: 0, x2: 1, y2: 1 },
        }),
        /box/,
      );
      assert.deepEqual(
        (await store.listCorrections('g')).map((c) => c.id),
        [c1.id, c2.id],
      );
      assert.deepEqual(
        (await store.listCorrections('g', { imageSha256: sha })).map((c) => c.id),
        [c2.id],
      );

      // Kept by a reopen; removable; gone with its subject.
      await store.close();
      const again = await loc.open();
      try {
        assert.equal(
          (await identify(again, 'g', probe, { threshold: 0.5, photo: redetected })).subject!.subjectId,
          bob.id,
        );
        assert.equal(await again.deleteCorrection('g', c1.id), true);
        assert.equal(await again.deleteCorrection('g', c1.id), false);
        assert.equal(
          (await identify(again, 'g', probe, { threshold: 0.5, photo: redetected })).subject!.subjectId,
          ann.id,
        );
        // The face deleted: its correction stays, by photo and box.
        await again.deleteFace('g', annFace);
        assert.deepEqual(
          (await again.listCorrections('g')).map((c) => [c.faceId, c.imageSha256]),
          [[null, sha]],
        );
        await again.deleteSubject('g', ann.id);
        assert.deepEqual(await again.listCorrections('g'), []);
      } finally {
        await again.close();
      }
    },
  );

  withStore(
    'clusters: unnamed subjects identify ignores, named, merged, split, a face moved',
    async (store) => {
      await store.createGallery({ name: 'g', model: 'm', dim: 8 });
      const ann = await store.addSubject('g', { name: 'Ann', externalId: 'ann' });
      await store.addFaces('g', ann.id, [{ embedding: unitX(8, 0), model: 'm' }]);
      const c1 = await store.addSubject('g', { name: 'unnamed', kind: 'cluster' });
      const c2 = await store.addSubject('g', { name: 'unnamed', kind: 'cluster' });
      const c3 = await store.addSubject('g', { name: 'unnamed', kind: 'cluster' });
      await assert.rejects(store.addSubject('g', { name: 'x', kind: 'robot' as any }), /kind/);
      const face = (axis: number, tilt: number, i: number) => ({
        embedding: unitX(8, axis, tilt),
        model: 'm',
        imageSha256: (i % 10).toString().repeat(64),
        photoName: `img${i}.jpg`,
        box: { x1: i, y1: i, x2: i + 40, y2: i + 50 },
      });
      const f1 = await store.addFaces('g', c1.id, [face(2, 0, 1), face(2, 0.05, 2), face(2, 0.1, 3)]);
      const f2 = await store.addFaces('g', c2.id, [face(2, 0.15, 4)]);
      const f3 = await store.addFaces('g', c3.id, [face(4, 0, 5), face(4, 0.05, 6)]);
      const g0 = (await store.getGallery('g'))!;
      assert.deepEqual([g0.subjects, g0.clusters, g0.faces, g0.clusterFaces], [1, 3, 1, 6]);
      assert.deepEqual(
        (await store.listSubjects('g')).map((s) => s.id),
        [ann.id],
      );
      assert.deepEqual(
        (await store.listSubjects('g', { kind: 'cluster' })).map((s) => [s.kind, s.faces]),
        [
          ['cluster', 3],
          ['cluster', 1],
          ['cluster', 2],
        ],
      );
      assert.equal((await store.listSubjects('g', { kind: 'all' })).length, 4);

      // Identify answers persons only: the nearest is cluster 1, ignored unless asked.
      const probe = { embedding: unitX(8, 2, 0.02), model: 'm' };
      const plain = await identify(store, 'g', probe, { threshold: 0.5 });
      assert.equal(plain.subject, null);
      assert.deepEqual(
        plain.candidates.map((c) => c.subjectId),
        [ann.id],
      );
      assert.equal(
        (await identify(store, 'g', probe, { threshold: 0.5, clusters: true })).subject!.subjectId,
        c1.id,
      );

      // Merge cluster 2 into cluster 1: its faces move, it goes, the faces are linked 'same'.
      const merged = await mergeClusters(store, 'g', c1.id, [c2.id]);
      assert.deepEqual([merged.subject.id, merged.subject.faces, merged.moved], [c1.id, 4, 1]);
      assert.equal(await store.getSubject('g', c2.id), null);
      await assert.rejects(mergeClusters(store, 'g', c1.id, [ann.id]), /is a person/);

      // Split two faces off cluster 1: a new cluster, 'apart' from the two left, 'same' together.
      const split = await splitCluster(store, 'g', c1.id, [f1[2], f2[0]]);
      assert.deepEqual([split.kind, split.faces], ['cluster', 2]);
      assert.deepEqual(
        (await store.listFaces('g', c1.id)).map((f) => f.id),
        [f1[0], f1[1]],
      );
      await assert.rejects(splitCluster(store, 'g', c1.id, [f3[0]]), /not one of its faces/);

      // Name cluster 1: it becomes a person identify answers.
      const named = await nameCluster(store, 'g', c1.id, { name: 'Cleo', externalId: 'cleo' });
      assert.deepEqual(
        [named.id, named.kind, named.name, named.externalId],
        [c1.id, 'person', 'Cleo', 'cleo'],
      );
      assert.equal((await identify(store, 'g', probe, { threshold: 0.5 })).subject!.subjectId, c1.id);
      await assert.rejects(nameCluster(store, 'g', c1.id, { name: 'X' }), /is a person/);
      await assert.rejects(store.updateSubject('g', c3.id, { externalId: 'ann' }), /external id 'ann'/);
      // Naming cluster 3 with Ann's external id puts its faces into Ann.
      const intoAnn = await nameCluster(store, 'g', c3.id, { name: 'Ann', externalId: 'ann' });
      assert.deepEqual([intoAnn.id, intoAnn.faces], [ann.id, 3]);
      assert.equal(await store.getSubject('g', c3.id), null);

      // Move one face out of Cleo (a person) into the split cluster: 'apart' from Cleo's other face,
      // 'same' as one of the cluster's, and "not Cleo" for identify on its photo.
      const moved = await moveFace(store, 'g', f1[1], split.id);
      assert.deepEqual([moved.subject.faces, moved.removedClusters], [3, []]);
      const corr = await store.listCorrections('g');
      assert.deepEqual(
        corr.map((c) => [c.subjectId, c.faceId, c.imageSha256]),
        [[c1.id, f1[1], '2'.repeat(64)]],
      );
      assert.equal((await store.getFace('g', f1[1]))!.subjectId, split.id);
      await assert.rejects(
        store.moveFaces('g', [f1[0], 99999], split.id),
        (e: any) => e.code === 'NOT_FOUND',
      );
      assert.equal((await store.getFace('g', f1[0]))!.subjectId, c1.id);

      const key = (a: number, b: number) => [Math.min(a, b), Math.max(a, b)];
      const links = (await store.listLinks('g')).map((l) => [l.faceA, l.faceB, l.kind].join());
      const want = [
        // merge (c1 + c2 chain from f1[0]), split (f1[2] x f1[0..1] apart, overriding the merge's f1[0]-f1[2];
        // f1[2]-f2[0] same), naming c1 (f1[0]-f1[1] same), naming c3 into Ann, the move.
        [...key(f1[0], f1[1]), 'apart'],
        [...key(f1[0], f1[2]), 'apart'],
        [...key(f1[0], f2[0]), 'apart'],
        [...key(f1[1], f1[2]), 'same'],
        [...key(f1[1], f2[0]), 'apart'],
        [...key(f1[2], f2[0]), 'same'],
      ].map((x) => x.join());
      for (const w of want) assert.ok(links.includes(w), `link ${w} in ${links.join(' ')}`);
      // A link needs two faces of the gallery; they go with the face.
      await assert.rejects(
        store.addLinks('g', [{ faceA: f1[0], faceB: f1[0], kind: 'same' }]),
        /two different/,
      );
      await assert.rejects(
        store.addLinks('g', [{ faceA: f1[0], faceB: 99999, kind: 'same' }]),
        (e: any) => e.code === 'NOT_FOUND',
      );
      await store.deleteFace('g', f1[0]);
      assert.ok((await store.listLinks('g')).every((l) => l.faceA !== f1[0] && l.faceB !== f1[0]));
    },
  );

  withStore(
    'export/import keeps clusters, photos and boxes, corrections and links (format version 2)',
    async (store) => {
      await store.createGallery({ name: 'g', model: 'm', dim: 4 });
      const ann = await store.addSubject('g', { name: 'Ann', externalId: 'ann' });
      const c = await store.addSubject('g', { name: 'unnamed', kind: 'cluster', externalId: 'c1' });
      const box = { x1: 1.5, y1: 2, x2: 30, y2: 44 };
      const [a1] = await store.addFaces('g', ann.id, [{ embedding: unitX(4, 0), model: 'm' }]);
      const [k1, k2] = await store.addFaces('g', c.id, [
        { embedding: unitX(4, 1), model: 'm', imageSha256: 'a1'.repeat(32), photoName: 'beach.jpg', box },
        { embedding: unitX(4, 1, 0.1), model: 'm' },
      ]);
      await store.addLinks('g', [
        { faceA: k2, faceB: k1, kind: 'same' },
        { faceA: a1, faceB: k2, kind: 'apart' },
      ]);
      await store.addCorrection('g', { subjectId: ann.id, faceId: k1 });
      await store.addCorrection('g', { subjectId: c.id, imageSha256: 'b2'.repeat(32) });
      const dir = mkdtempSync(join(tmpdir(), 'arcface-suite-export-'));
      try {
        const file = join(dir, 'g.jsonl');
        await exportGallery(store, 'g', file);
        assert.equal(JSON.parse(readFileSync(file, 'utf8').split('\n')[0]).version, 2);
        const r = await importGallery(store, file, { as: 'h' });
        assert.deepEqual([r.subjects, r.faces, r.corrections, r.links], [2, 3, 2, 2]);
        const h = (await store.getGallery('h'))!;
        assert.deepEqual([h.subjects, h.clusters, h.faces, h.clusterFaces], [1, 1, 1, 2]);
        const [hc] = await store.listSubjects('h', { kind: 'cluster' });
        const hAnn = (await store.findSubject('h', 'ann'))!;
        const [h1, h2] = await store.listFaces('h', hc.id);
        const [hA] = await store.listFaces('h', hAnn.id);
        assert.deepEqual(
          [h1.photoName, h1.box, h1.imageSha256, h2.box],
          ['beach.jpg', box, 'a1'.repeat(32), null],
        );
        assert.deepEqual(
          (await store.listLinks('h')).map((l) => [l.faceA, l.faceB, l.kind]),
          [
            [hA.id, h2.id, 'apart'],
            [h1.id, h2.id, 'same'],
          ].sort((x, y) => (x[0] as number) - (y[0] as number)),
        );
        assert.deepEqual(
          (await store.listCorrections('h')).map((x) => [x.subjectId, x.faceId, x.imageSha256, x.box]),
          [
            [hAnn.id, h1.id, 'a1'.repeat(32), box],
            [hc.id, null, 'b2'.repeat(32), null],
          ],
        );
        // A gallery with none of it is still written as version 1 (older arcface reads it).
        await store.createGallery({ name: 'plain', model: 'm', dim: 4 });
        await exportGallery(store, 'plain', join(dir, 'p.jsonl'));
        assert.equal(JSON.parse(readFileSync(join(dir, 'p.jsonl'), 'utf8').split('\n')[0]).version, 1);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}
