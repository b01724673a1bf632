/**
 * The cluster routes (what the People tab edits) through fastify.inject over a real SQLite store
 * with a stub recogniser: list, name, merge, split, move one face; keys, statuses and what the
 * store holds after each edit (the decisions kept as face links for re-clustering).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStore } from '../src/service/index.js';
import { buildServer } from '../src/server/index.js';
import { stubService } from './stub_service.js';

test('cluster routes: list, name, merge, split, move; admin keys for edits', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'arcface-clusters-api-'));
  const service = await stubService(dir);
  const keys = new KeyStore(join(dir, 'keys.json'));
  const app = await buildServer({ service, keys, webDir: null });
  t.after(async () => {
    await app.close();
    await service.store.close(); // the stub recogniser has nothing to dispose
  });
  const A = { 'x-api-key': keys.create('admin', 'admin').token };
  const R = { 'x-api-key': keys.create('recognise', 'reader').token };
  await service.createGallery('people');
  const store = service.store;
  const unit = (axis: number, tilt = 0) => {
    const v = new Float32Array(4);
    v[axis] = Math.cos(tilt);
    v[(axis + 1) % 4] = Math.sin(tilt);
    return { embedding: v, model: 'stub' };
  };
  const ann = await store.addSubject('people', { name: 'Ann', externalId: 'ann' });
  const [annFace] = await store.addFaces('people', ann.id, [unit(0)]);
  const c1 = await store.addSubject('people', { name: 'unnamed', kind: 'cluster' });
  const c2 = await store.addSubject('people', { name: 'unnamed', kind: 'cluster' });
  const f1 = await store.addFaces('people', c1.id, [unit(1), unit(1, 0.1), unit(1, 0.2)]);
  const f2 = await store.addFaces('people', c2.id, [unit(2)]);
  const call = (method: 'GET' | 'POST', url: string, headers = A, payload?: object) =>
    app.inject({ method, url: `/galleries/people${url}`, headers, payload });
  const body = (r: { body: string }) => JSON.parse(r.body);

  // Clusters of 2+ faces, and the one-face clusters (singletons) counted; all of them when asked.
  const list = await call('GET', '/clusters', R);
  assert.equal(list.statusCode, 200);
  const pairs = (r: { body: string }) =>
    body(r).clusters.map((c: { id: number; faces: number }) => [c.id, c.faces]);
  assert.deepEqual(pairs(list), [[c1.id, 3]]);
  assert.equal(body(list).singletons, 1);
  const every = await call('GET', '/clusters?singletons=true', R);
  assert.deepEqual(pairs(every), [
    [c1.id, 3],
    [c2.id, 1],
  ]);
  assert.equal(body(every).singletons, 1);
  assert.equal((await call('GET', '/clusters?singletons=yes', R)).statusCode, 400);
  // Persons are listed as subjects, clusters are not.
  assert.deepEqual(
    body(await call('GET', '/subjects', R)).subjects.map((s: { id: number }) => s.id),
    [ann.id],
  );
  assert.equal((await call('POST', `/clusters/${c1.id}/name`, R, { name: 'Cleo' })).statusCode, 403);

  // Merge cluster 2 into cluster 1; merging a person away is refused.
  const merged = await call('POST', `/subjects/${c1.id}/merge`, A, { clusters: [c2.id] });
  assert.equal(merged.statusCode, 200, merged.body);
  assert.deepEqual([body(merged).subject.faces, body(merged).moved], [4, 1]);
  assert.equal(await store.getSubject('people', c2.id), null);
  assert.equal((await call('POST', `/subjects/${c1.id}/merge`, A, { clusters: [ann.id] })).statusCode, 400);
  assert.equal((await call('POST', `/subjects/${c1.id}/merge`, A, { clusters: [] })).statusCode, 400);

  // Split the merged-in face off again: a new cluster, kept apart from the rest.
  const split = await call('POST', `/subjects/${c1.id}/split`, A, { faces: [f2[0]] });
  assert.equal(split.statusCode, 201, split.body);
  const c3 = body(split);
  assert.deepEqual([c3.kind, c3.faces], ['cluster', 1]);
  assert.equal((await call('POST', `/subjects/${c1.id}/split`, A, { faces: [annFace] })).statusCode, 400);
  const apart = (await store.listLinks('people')).filter((l) => l.kind === 'apart');
  assert.equal(apart.length, 3);

  // Name cluster 1 (a person now, listed as a subject); a person cannot be named as a cluster.
  const named = await call('POST', `/clusters/${c1.id}/name`, A, { name: 'Cleo', externalId: 'cleo' });
  assert.equal(named.statusCode, 200, named.body);
  assert.deepEqual([body(named).kind, body(named).name], ['person', 'Cleo']);
  assert.equal((await call('POST', `/clusters/${c1.id}/name`, A, { name: 'X' })).statusCode, 400);
  assert.equal((await call('POST', `/clusters/999/name`, A, { name: 'X' })).statusCode, 404);

  // Move one of Cleo's faces into the new cluster: "not Cleo" is recorded for it.
  const moved = await call('POST', `/faces/${f1[2]}/move`, A, { subjectId: c3.id });
  assert.equal(moved.statusCode, 200, moved.body);
  assert.equal(body(moved).subject.faces, 2);
  assert.deepEqual(
    (await store.listCorrections('people')).map((c) => [c.subjectId, c.faceId]),
    [[c1.id, f1[2]]],
  );
  assert.equal((await call('POST', `/faces/${f1[2]}/move`, A, { subjectId: 999 })).statusCode, 404);
  // The correction through the API: listed (admin only; a face with no photo gives no sha256 or box), removed.
  assert.equal((await call('GET', '/corrections', R)).statusCode, 403);
  const corr = body(await call('GET', '/corrections'));
  assert.deepEqual(
    corr.corrections.map((c: object) => ({ ...c, id: 0, createdAt: '' })),
    [{ id: 0, subjectId: c1.id, faceId: f1[2], imageSha256: null, box: null, createdAt: '' }],
  );
  const del = (cid: number) =>
    app.inject({ method: 'DELETE', url: `/galleries/people/corrections/${cid}`, headers: A });
  assert.equal((await del(corr.corrections[0].id)).statusCode, 204);
  assert.equal((await del(corr.corrections[0].id)).statusCode, 404);
  assert.equal((await call('POST', `/faces/0x1/move`, A, { subjectId: c3.id })).statusCode, 400);
});
