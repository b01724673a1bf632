/**
 * The PostgreSQL/pgvector gallery store: the shared store suite (test/gallery_suite.ts), then what is
 * Postgres' own: the HNSW path (the partial index serves the query, and re-scored results equal a
 * brute-force reference on clustered vectors), the schema version, connection errors. Needs a server
 * with pgvector: ARCFACE_TEST_POSTGRES_URL (a superuser URL; tools/ci/with_postgres.sh starts a
 * throw-away cluster and sets it). Each test gets its own database, dropped after.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { isPostgresUrl, openStore } from '../src/gallery/open.js';
import {
  openPostgresStore,
  POSTGRES_SCHEMA_VERSION,
  PostgresGalleryStore,
  type PostgresStoreOptions,
} from '../src/gallery/postgres.js';
import { SqliteGalleryStore } from '../src/gallery/sqlite.js';
import { bruteForce, clusteredVectors, galleryStoreSuite } from './gallery_suite.js';
import { clusterGallerySuite } from './cluster_gallery_suite.js';
import { killMidEnroll } from './gallery_kill.js';
import { exportGallery, importGallery } from '../src/service/portable.js';

const URL_ENV = 'ARCFACE_TEST_POSTGRES_URL';
const adminUrl = process.env[URL_ENV];
const skip = adminUrl
  ? false
  : `${URL_ENV} is not set: no PostgreSQL with pgvector to test against (tools/ci/with_postgres.sh starts one)`;

test('openStore: a postgres:// or postgresql:// URL is Postgres, anything else a data folder', async () => {
  assert.ok(isPostgresUrl('postgres://u@h/db') && isPostgresUrl('postgresql://h/db'));
  assert.ok(!isPostgresUrl('./arcface-data') && !isPostgresUrl('/srv/postgres://x'));
  const dir = mkdtempSync(join(tmpdir(), 'arcface-open-'));
  try {
    const store = await openStore(dir);
    assert.ok(store instanceof SqliteGalleryStore);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Nothing listens on port 1: a clear error naming the store, never its password.
  await assert.rejects(
    openStore('postgres://me:secret@127.0.0.1:1/db'),
    (e: any) =>
      e.code === 'BAD_CONFIG' &&
      /cannot connect/.test(e.message) &&
      /\*\*\*/.test(e.message) &&
      !/secret/.test(e.message),
  );
  await assert.rejects(openPostgresStore('postgres://h/db?schema=Bad-Name'), /schema 'Bad-Name'/);
});

let serial = 0;
/** A fresh database on the test server; its URL, and a drop that ends every connection to it. */
async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `arcface_t${process.pid}_${++serial}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl!);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

if (skip) test('postgres: the store suite and pgvector checks', { skip }, () => {});
else {
  const postgresLocation = async () => {
    const db = await freshDatabase();
    return { open: () => openPostgresStore(db.url), cleanup: db.drop };
  };
  galleryStoreSuite('postgres', postgresLocation);
  clusterGallerySuite('postgres', postgresLocation);

  const withDb = (title: string, fn: (url: string, t: TestContext) => Promise<void>) =>
    test(`postgres: ${title}`, async (t) => {
      const db = await freshDatabase();
      try {
        await fn(db.url, t);
      } finally {
        await db.drop();
      }
    });

  withDb(
    'above annThreshold the HNSW index serves the search and re-scored top-k equal brute force',
    async (url, t) => {
      // 5,000 faces: 1,000 identities x 5, 128-d, clustered like face embeddings.
      const dim = 128;
      const options: PostgresStoreOptions = { annThreshold: 1000 };
      const store = await openPostgresStore(url, options);
      try {
        await store.createGallery({ name: 'big', model: 'm', dim });
        const { rows, random } = clusteredVectors(11, 1000, 5, dim, 0.08);
        const ref: { subject: number; face: number; v: Float32Array }[] = [];
        for (let c = 0; c < 1000; c++) {
          const s = await store.addSubject('big', { name: `p${c}` });
          const mine = rows.slice(5 * c, 5 * c + 5);
          const ids = await store.addFaces(
            'big',
            s.id,
            mine.map((r) => ({ embedding: r.v, model: 'm' })),
          );
          mine.forEach((r, i) => ref.push({ subject: s.id, face: ids[i], v: r.v }));
        }
        assert.equal((await store.getGallery('big'))!.faces, 5000);
        const plan = await store.explainSearch('big', rows[0].v);
        assert.match(plan, /Index Scan using faces_hnsw_1 on faces/, plan);

        // Probes: a new face of an enrolled identity (its centre plus noise), as identification sees.
        let hits10 = 0;
        for (let q = 0; q < 40; q++) {
          const c = Math.floor(random() * 1000);
          const probe = Float32Array.from(rows[5 * c].v, (x) => x + 0.08 * (random() - 0.5));
          for (const aggregate of ['max', 'mean'] as const) {
            const got = await store.search('big', { embedding: probe, model: 'm' }, { k: 10, aggregate });
            const want = bruteForce(probe, ref, aggregate).slice(0, 10);
            assert.equal(got[0].subjectId, want[0].subject, `${aggregate} probe ${q}: top-1`);
            // Scores are exact cosines whatever the graph returned.
            for (const m of got) {
              const w = bruteForce(
                probe,
                ref.filter((f) => f.subject === m.subjectId),
                aggregate,
              )[0];
              assert.ok(Math.abs(m.score - w.score) < 1e-5);
            }
            const wanted = new Set(want.map((w) => w.subject));
            hits10 += got.filter((m) => wanted.has(m.subjectId)).length;
          }
        }
        // recall@10 of subjects over 80 searches (HNSW m 16, ef_search 128).
        t.diagnostic(`HNSW (m 16, ef_search 128) + exact re-scoring: subject recall@10 ${hits10 / 800}`);
        // pgvector draws HNSW levels at random (unseeded): ranks 2..10 are far clusters at cosines
        // near 0, which a graph search may miss; 0.99 measured here, 0.95 leaves room for that.
        assert.ok(hits10 / 800 >= 0.95, `recall@10 ${hits10 / 800}`);

        // Bulk loads: without the graph the search scans exactly; built again, the graph serves it.
        const probe = { embedding: rows[7].v, model: 'm' };
        const before = await store.search('big', probe, { k: 3 });
        await store.dropIndex('big');
        assert.doesNotMatch(await store.explainSearch('big', rows[0].v), /faces_hnsw/);
        assert.deepEqual(await store.search('big', probe, { k: 3 }), before);
        await assert.rejects(
          store.buildIndex('big', { maintenanceWorkMem: "1GB'; DROP TABLE faces; --" }),
          (e: any) => e.code === 'BAD_INPUT' && /maintenanceWorkMem/.test(e.message),
        );
        await store.buildIndex('big', { maintenanceWorkMem: '64MB' });
        assert.match(await store.explainSearch('big', rows[0].v), /Index Scan using faces_hnsw_1 on faces/);
        assert.deepEqual(await store.search('big', probe, { k: 3 }), before);
        await assert.rejects(store.buildIndex('nope'), (e: any) => e.code === 'NOT_FOUND');

        // `gallery import` loads without the graph and builds it once at the end.
        const file = join(mkdtempSync(join(tmpdir(), 'arcface-pg-')), 'big.jsonl');
        await exportGallery(store, 'big', file);
        const imported = await importGallery(store, file, { as: 'big2' });
        assert.equal(imported.faces, 5000);
        assert.match(await store.explainSearch('big2', rows[0].v), /Index Scan using faces_hnsw_2 on faces/);
        assert.equal((await store.search('big2', probe, { k: 3 }))[0].name, before[0].name);
        assert.equal((await store.search('big2', probe, { k: 3 }))[0].score, before[0].score);
      } finally {
        await store.close();
      }
    },
  );

  withDb('a batch enroll killed by SIGKILL leaves only complete, searchable faces', async (url) => {
    await killMidEnroll(url, () => openPostgresStore(url));
  });

  withDb(
    'schema: version recorded, a newer one refused; a second schema is a separate store',
    async (url) => {
      const a = await openPostgresStore(url);
      await a.createGallery({ name: 'g', model: 'm', dim: 4 });
      await a.close();
      const b = await openPostgresStore(`${url}?schema=other`);
      assert.deepEqual(await b.listGalleries(), []);
      await b.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const v = await c.query('SELECT version FROM arcface.arcface_schema');
        assert.deepEqual(v.rows, [{ version: POSTGRES_SCHEMA_VERSION }]);
        await c.query('UPDATE arcface.arcface_schema SET version = version + 1');
      } finally {
        await c.end();
      }
      await assert.rejects(
        openPostgresStore(url),
        (e: any) => e.code === 'BAD_CONFIG' && /newer/.test(e.message),
      );
    },
  );

  withDb('concurrent enrolls into one gallery and searches: nothing lost, counts exact', async (url) => {
    const store = await openPostgresStore(url, { maxConnections: 4 });
    try {
      const dim = 16;
      const { rows } = clusteredVectors(21, 10, 6, dim, 0.1);
      await store.createGallery({ name: 'g', model: 'm', dim });
      const subjects = await Promise.all(
        Array.from({ length: 10 }, (_, c) => store.addSubject('g', { name: `p${c}` })),
      );
      // 10 enrolls of 6 faces each, in parallel with 20 searches, on a pool of 4 connections.
      const work: Promise<unknown>[] = subjects.map((s, c) =>
        store.addFaces(
          'g',
          s.id,
          rows.filter((r) => r.cluster === c).map((r) => ({ embedding: r.v, model: 'm' })),
        ),
      );
      for (let q = 0; q < 20; q++) work.push(store.search('g', { embedding: rows[q].v, model: 'm' }));
      await Promise.all(work);
      assert.equal((await store.getGallery('g'))!.faces, 60);
      assert.deepEqual(
        (await store.listSubjects('g')).map((s) => s.faces),
        Array(10).fill(6),
      );
      for (let c = 0; c < 10; c++)
        assert.equal(
          (await store.search('g', { embedding: rows[6 * c].v, model: 'm' }, { k: 1 }))[0].subjectId,
          subjects[c].id,
        );
    } finally {
      await store.close();
    }
  });

  withDb('a deleted subject is gone from the tables; vacuum() runs on the store tables', async (url) => {
    const store = (await openStore(url)) as PostgresGalleryStore;
    try {
      await store.createGallery({ name: 'g', model: 'm', dim: 4 });
      const s = await store.addSubject('g', { name: 'A' });
      await store.addFaces('g', s.id, [{ embedding: Float32Array.from([1, 2, 3, 4]), model: 'm' }]);
      await store.deleteSubject('g', s.id);
      await store.vacuum();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const n = await c.query(
          'SELECT (SELECT count(*) FROM arcface.faces) + (SELECT count(*) FROM arcface.crops) AS n',
        );
        assert.equal(Number(n.rows[0].n), 0);
      } finally {
        await c.end();
      }
      assert.equal((await store.getGallery('g'))!.faces, 0);
    } finally {
      await store.close();
    }
  });
}
