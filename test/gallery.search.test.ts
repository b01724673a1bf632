/**
 * The gallery's search index: HNSW recall against exact search (with exact re-scoring), the saved
 * graph mapped when fresh and rebuilt when stale or corrupt, add/delete kept in step, and the
 * exact/HNSW switch in the SQLite store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SearchIndex, type IndexRow } from '../src/gallery/search_index.js';
import { openSqliteStore } from '../src/gallery/sqlite.js';
import { bruteForce, clusteredVectors } from './gallery_suite.js';

const tmpDir = () => mkdtempSync(join(tmpdir(), 'arcface-index-'));

/** One face per subject (subject id = face id + 1000000), so top-k subjects are top-k faces. */
function indexRows(seed: number, clusters: number, per: number, dim: number, spread: number) {
  const { rows, random, centres } = clusteredVectors(seed, clusters, per, dim, spread);
  const out: IndexRow[] = rows.map((r, i) => ({ faceId: i + 1, subjectId: i + 1_000_001, embedding: r.v }));
  const probe = () => {
    const c = centres[Math.floor(random() * clusters)];
    return Float32Array.from(c, (x) => x + spread * (random() - 0.5) * 3.4);
  };
  return { rows: out, probe };
}

const unit = (v: Float32Array) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

test('HNSW (f16, M 32, ef 128) with exact re-scoring: recall@10 >= 0.99 against exact on 20k x 128 clustered', () => {
  const { rows, probe } = indexRows(21, 1000, 20, 128, 0.05);
  const exact = new SearchIndex(128, rows, 1, { ann: 'exact' });
  const ann = new SearchIndex(128, rows, 1, { ann: 'hnsw', buildThreads: 1 });
  assert.equal(exact.mode, 'exact');
  assert.equal(ann.mode, 'hnsw');
  let hits = 0;
  let top1 = 0;
  const Q = 200;
  for (let q = 0; q < Q; q++) {
    const p = unit(probe());
    const want = exact.search(p, 10, 'max');
    const got = ann.search(p, 10, 'max');
    const ids = new Set(want.map((w) => w.subjectId));
    hits += got.filter((g) => ids.has(g.subjectId)).length;
    if (got[0].subjectId === want[0].subjectId) {
      top1++;
      // Re-scored: the same exact float32 cosine, whichever path found the face.
      assert.equal(got[0].score, want[0].score);
    }
  }
  const recall = hits / (10 * Q);
  assert.ok(recall >= 0.99, `recall@10 ${recall}`);
  assert.ok(top1 / Q >= 0.99, `recall@1 ${top1 / Q}`);
  // Face-level neighbours (clustering's source): exact ones equal a float64 brute force over all
  // faces; the graph's, re-scored, find >= 0.99 of them with the same cosines.
  let faceHits = 0;
  for (let q = 0; q < 50; q++) {
    const p = unit(probe());
    const brute = rows
      .map((r) => ({ faceId: r.faceId, s: r.embedding.reduce((a, x, d) => a + x * p[d]!, 0) }))
      .sort((a, b) => b.s - a.s)
      .slice(0, 10);
    const want = exact.nearestFaces(p, 10);
    assert.deepEqual(
      want.map((w) => w.faceId),
      brute.map((b) => b.faceId),
    );
    want.forEach((w, i) => assert.ok(Math.abs(w.score - brute[i]!.s) < 1e-5));
    const got = ann.nearestFaces(p, 10);
    for (let i = 1; i < got.length; i++) assert.ok(got[i - 1]!.score >= got[i]!.score);
    const ids = new Map(want.map((w) => [w.faceId, w.score]));
    for (const g of got)
      if (ids.has(g.faceId)) {
        faceHits++;
        assert.equal(g.score, ids.get(g.faceId));
      }
  }
  assert.ok(faceHits / 500 >= 0.99, `face recall@10 ${faceHits / 500}`);
});

test('a graph build reports its progress chunk by chunk and finds what exact search finds', () => {
  const { rows, probe } = indexRows(5, 5000, 5, 32, 0.05);
  const calls: [number, number][] = [];
  const ann = new SearchIndex(32, rows, 1, {
    ann: 'hnsw',
    buildThreads: 1,
    onBuildProgress: (done, total) => calls.push([done, total]),
  });
  // 25k faces in chunks of 10k: 0, 10k, 20k, 25k, all of 25k.
  assert.deepEqual(
    calls,
    [0, 10_000, 20_000, 25_000].map((d) => [d, 25_000]),
  );
  assert.equal(ann.size, 25_000);
  const exact = new SearchIndex(32, rows, 1, { ann: 'exact' });
  for (let q = 0; q < 50; q++) {
    const p = unit(probe());
    assert.deepEqual(ann.search(p, 1, 'max'), exact.search(p, 1, 'max'));
  }
});

test('exact index: top-k equals a float64 brute force for max and mean, across adds and removes', () => {
  const { rows: raw, random } = clusteredVectors(4, 30, 5, 24, 0.2);
  // Subjects of 1..5 faces from a cluster each.
  const rows: IndexRow[] = raw.map((r, i) => ({
    faceId: 10 + i,
    subjectId: r.cluster * 2 + (i % 5 === 4 ? 1 : 0),
    embedding: r.v,
  }));
  const index = new SearchIndex(24, rows.slice(0, 100), 1, {
    ann: 'exact',
    minCandidates: 3,
    candidatesPerK: 1,
  });
  index.add(rows.slice(100), 2);
  index.remove([10, 11, 57, 149], 3);
  const live = rows.filter((r) => ![10, 11, 57, 149].includes(r.faceId));
  assert.equal(index.size, live.length);
  const ref = live.map((r) => ({ subject: r.subjectId, face: r.faceId, v: r.embedding }));
  for (let q = 0; q < 20; q++) {
    const p = unit(Float32Array.from({ length: 24 }, () => random() - 0.5));
    for (const aggregate of ['max', 'mean'] as const) {
      const got = index.search(p, 8, aggregate);
      const want = bruteForce(p, ref, aggregate).slice(0, 8);
      assert.deepEqual(
        got.map((g) => g.subjectId),
        want.map((w) => w.subject),
      );
      got.forEach((g, i) => assert.ok(Math.abs(g.score - want[i].score) < 1e-5));
    }
  }
});

test('saved graph: mapped when fresh, rebuilt when stale, truncated or its stamp is corrupt', () => {
  const dir = tmpDir();
  try {
    const file = join(dir, 'g.usearch');
    const { rows, probe } = indexRows(8, 100, 20, 32, 0.1);
    const opts = { ann: 'hnsw' as const, buildThreads: 1 };
    const first = new SearchIndex(32, rows, 7, opts, file);
    assert.equal(first.origin, 'built');
    assert.ok(existsSync(file) && existsSync(`${file}.json`));
    const probes = Array.from({ length: 10 }, () => unit(probe()));
    const results = probes.map((p) => first.search(p, 5, 'max'));
    first.close();

    const fresh = new SearchIndex(32, rows, 7, opts, file);
    assert.equal(fresh.origin, 'mapped');
    assert.deepEqual(
      probes.map((p) => fresh.search(p, 5, 'max')),
      results,
    );
    fresh.close();
    // Stale: another change id, or the same id with other faces.
    assert.equal(new SearchIndex(32, rows, 8, opts, file).origin, 'built');
    assert.equal(new SearchIndex(32, rows.slice(1), 8, opts, file).origin, 'built');
    assert.equal(new SearchIndex(32, rows.slice(1), 8, opts, file).origin, 'mapped');
    // Other build settings (M) make the file stale too.
    assert.equal(new SearchIndex(32, rows.slice(1), 8, { ...opts, connectivity: 8 }, file).origin, 'built');
    assert.equal(new SearchIndex(32, rows.slice(1), 8, { ...opts, connectivity: 8 }, file).origin, 'mapped');

    truncateSync(file, Math.floor(statSync(file).size / 2));
    const rebuilt = new SearchIndex(32, rows.slice(1), 8, { ...opts, connectivity: 8 }, file);
    assert.equal(rebuilt.origin, 'built');
    assert.equal(rebuilt.search(unit(rows[5].embedding), 1, 'max')[0].faceId, rows[5].faceId);
    writeFileSync(`${file}.json`, '{"format": 1, "cou');
    assert.equal(new SearchIndex(32, rows.slice(1), 8, { ...opts, connectivity: 8 }, file).origin, 'built');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('HNSW kept in step: a mapped graph takes adds (saved at close) and removes (file unlinked at once)', () => {
  const dir = tmpDir();
  try {
    const file = join(dir, 'g.usearch');
    const { rows } = indexRows(9, 60, 20, 32, 0.1);
    const opts = { ann: 'hnsw' as const, buildThreads: 1 };
    new SearchIndex(32, rows.slice(0, 1000), 1, opts, file).close();
    const a = new SearchIndex(32, rows.slice(0, 1000), 1, opts, file);
    assert.equal(a.origin, 'mapped');
    a.add(rows.slice(1000), 2);
    for (const r of [rows[1000], rows[1199]])
      assert.equal(a.search(unit(r.embedding), 1, 'max')[0].faceId, r.faceId);
    assert.ok(!existsSync(`${file}.json`), 'the stamp of a graph behind the store is dropped at once');
    a.close();
    const b = new SearchIndex(32, rows, 2, opts, file);
    assert.equal(b.origin, 'mapped');
    b.remove([rows[3].faceId], 3);
    assert.ok(!existsSync(file), 'the graph holding a deleted vector is unlinked');
    assert.notEqual(b.search(unit(rows[3].embedding), 1, 'max')[0].faceId, rows[3].faceId);
    b.close();
    assert.ok(!existsSync(file), 'a graph that saw a deletion is not saved');
    const c = new SearchIndex(32, rows.slice(0, 3).concat(rows.slice(4)), 3, opts, file);
    assert.equal(c.origin, 'built');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite store: switches to HNSW at annThreshold, same top-k as brute force, graph mapped at reopen', async () => {
  const dir = tmpDir();
  try {
    const index = { annThreshold: 300, buildThreads: 1 };
    const store = openSqliteStore({ dir, index });
    await store.createGallery({ name: 'g', model: 'm', dim: 48 });
    const { rows, random } = clusteredVectors(12, 100, 4, 48, 0.08);
    const ref: { subject: number; face: number; v: Float32Array }[] = [];
    for (let c = 0; c < 100; c++) {
      const s = await store.addSubject('g', { name: `p${c}` });
      const mine = rows.slice(4 * c, 4 * c + 4);
      const ids = await store.addFaces(
        'g',
        s.id,
        mine.map((r) => ({ embedding: r.v, model: 'm' })),
      );
      mine.forEach((r, i) => ref.push({ subject: s.id, face: ids[i], v: r.v }));
      assert.equal(store.indexOf('g').mode, ref.length >= 300 ? 'hnsw' : 'exact');
    }
    const probes = Array.from({ length: 20 }, () => {
      const r = rows[Math.floor(random() * rows.length)].v;
      return Float32Array.from(r, (x) => x + 0.05 * (random() - 0.5));
    });
    const before = [];
    for (const p of probes) {
      const got = await store.search('g', { embedding: p, model: 'm' }, { k: 5 });
      assert.deepEqual(
        got.map((g) => g.subjectId),
        bruteForce(p, ref, 'max')
          .slice(0, 5)
          .map((w) => w.subject),
      );
      before.push(got);
    }
    await store.close();
    const again = openSqliteStore({ dir, index });
    assert.equal(again.indexOf('g').origin, 'mapped');
    for (const [i, p] of probes.entries())
      assert.deepEqual(await again.search('g', { embedding: p, model: 'm' }, { k: 5 }), before[i]);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('search index options are checked', () => {
  assert.throws(() => new SearchIndex(8, [], 0, { connectivity: 0 }), /connectivity/);
  assert.throws(() => new SearchIndex(8, [], 0, { quantization: 'i8' as 'f16' }), /quantization/);
  assert.throws(() => new SearchIndex(8, [], 0, { ann: 'faiss' as 'exact' }), /ann/);
});
