/**
 * The embedded SQLite gallery store: the shared store suite (test/gallery_suite.ts), then what is
 * SQLite's own: deletion overwrites the bytes in the file (secure_delete + WAL checkpoint), the
 * schema version, and a batch enroll killed with SIGKILL leaves only complete, searchable faces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../src/gallery/better_sqlite3.js';
import { embeddingToBytes, unitEmbedding } from '../src/gallery/embedding.js';
import { SCHEMA_VERSION } from '../src/gallery/schema.js';
import { openSqliteStore } from '../src/gallery/sqlite.js';
import { fakePng, fillGallery, galleryStoreSuite, type StoreLocation } from './gallery_suite.js';
import { clusterGallerySuite } from './cluster_gallery_suite.js';
import { killMidEnroll } from './gallery_kill.js';

const tmpDir = () => mkdtempSync(join(tmpdir(), 'arcface-gallery-'));

const sqliteLocation = async (): Promise<StoreLocation> => {
  const dir = tmpDir();
  return {
    open: async () => openSqliteStore({ dir }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
};
galleryStoreSuite('sqlite', sqliteLocation);
clusterGallerySuite('sqlite', sqliteLocation);

/** Every byte the store keeps on disk: the database, its WAL, and the saved search graphs. */
function diskBytes(dir: string): Buffer {
  const files = ['gallery.db', 'gallery.db-wal', 'gallery-1.usearch']
    .map((f) => join(dir, f))
    .filter(existsSync);
  return Buffer.concat(files.map((f) => readFileSync(f)));
}

test('sqlite: a deleted subject leaves no byte of its embeddings or crops in the files (secure_delete, checkpoint)', async () => {
  const dir = tmpDir();
  try {
    // ann 'hnsw' with f32 vectors: the saved graph holds the embedding bytes as the database does.
    const store = openSqliteStore({ dir, index: { ann: 'hnsw', quantization: 'f32', buildThreads: 1 } });
    const { rows, ids } = await fillGallery(store, {
      seed: 5,
      subjects: 20,
      dim: 64,
      cropSeed: 100,
      cropBytes: 3000,
    });
    await store.close(); // saves the graph
    const victim = [rows[10].v, rows[11].v].map((v) => embeddingToBytes(unitEmbedding(v, 64, 'x')));
    const crop = Buffer.from(fakePng(110, 3000).subarray(8));
    const keep = embeddingToBytes(unitEmbedding(rows[12].v, 64, 'x'));
    const before = diskBytes(dir);
    // The test can fail: the bytes are there before the delete.
    for (const b of [...victim, crop]) assert.ok(before.includes(b));
    assert.ok(readFileSync(join(dir, 'gallery-1.usearch')).includes(victim[0]));

    const again = openSqliteStore({ dir, index: { ann: 'hnsw', quantization: 'f32', buildThreads: 1 } });
    assert.equal(again.indexOf('g').origin, 'mapped');
    assert.equal(await again.deleteSubject('g', ids[5]), true);
    const after = diskBytes(dir);
    for (const b of [...victim, crop]) assert.ok(!after.includes(b), 'deleted bytes still on disk');
    assert.ok(after.includes(keep));
    await again.close();
    const third = openSqliteStore({ dir });
    assert.equal(await third.getSubject('g', ids[5]), null);
    assert.equal((await third.getGallery('g'))!.faces, 38);
    await third.close();
    for (const b of victim) assert.ok(!diskBytes(dir).includes(b));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: WAL mode and schema version; a database from a newer arcface is refused', async () => {
  const dir = tmpDir();
  try {
    await openSqliteStore({ dir }).close();
    const db = openDatabase(join(dir, 'gallery.db'));
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(
      () => openSqliteStore({ dir }),
      (e: any) => e.code === 'BAD_CONFIG' && e.message.includes('gallery.db') && /newer/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: a version 1 database (before clusters and corrections) is migrated, its subjects persons', async () => {
  const dir = tmpDir();
  try {
    // Version 1's tables as arcface 0.x made them (src/gallery/schema.ts, step 0).
    const db = openDatabase(join(dir, 'gallery.db'));
    db.exec(`
      CREATE TABLE galleries (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, model TEXT NOT NULL,
        dim INTEGER NOT NULL, created_at TEXT NOT NULL, change_id INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE subjects (id INTEGER PRIMARY KEY AUTOINCREMENT,
        gallery_id INTEGER NOT NULL REFERENCES galleries(id) ON DELETE CASCADE, external_id TEXT NOT NULL,
        name TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT 'null', created_at TEXT NOT NULL, UNIQUE (gallery_id, external_id));
      CREATE TABLE faces (id INTEGER PRIMARY KEY AUTOINCREMENT,
        subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
        gallery_id INTEGER NOT NULL REFERENCES galleries(id) ON DELETE CASCADE, model TEXT NOT NULL,
        image_sha256 TEXT, det_score REAL, created_at TEXT NOT NULL, embedding BLOB NOT NULL);
      CREATE TABLE crops (face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE, png BLOB NOT NULL);
      INSERT INTO galleries (name, model, dim, created_at) VALUES ('g', 'm', 2, '2026-01-01T00:00:00.000Z');
      INSERT INTO subjects (gallery_id, external_id, name, created_at) VALUES (1, 'ann', 'Ann', '2026-01-01T00:00:00.000Z');
    `);
    db.prepare(
      "INSERT INTO faces (subject_id, gallery_id, model, created_at, embedding) VALUES (1, 1, 'm', '2026-01-01T00:00:00.000Z', ?)",
    ).run(embeddingToBytes(Float32Array.from([1, 0])));
    db.pragma('user_version = 1');
    db.close();
    const store = openSqliteStore({ dir });
    try {
      const [ann] = await store.listSubjects('g');
      assert.deepEqual([ann.kind, ann.name, ann.faces], ['person', 'Ann', 1]);
      const [f] = await store.listFaces('g', ann.id);
      assert.deepEqual([f.photoName, f.box], [null, null]);
      await store.addCorrection('g', { subjectId: ann.id, faceId: f.id });
      assert.equal((await store.listCorrections('g')).length, 1);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: a batch enroll killed by SIGKILL leaves only complete, searchable faces', async () => {
  const dir = tmpDir();
  try {
    await killMidEnroll(dir, async () => openSqliteStore({ dir }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
