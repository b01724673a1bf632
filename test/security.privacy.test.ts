/**
 * Privacy of biometric data (issue 12): onnxruntime's telemetry is off wherever a model is loaded,
 * the data folder and every file the embedded store writes are its owner's only whatever the umask,
 * and a subject deleted while another connection reads the store is purged from gallery.db and its
 * WAL as soon as that reader lets go, the caller being told when the purge waited or is pending.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../src/gallery/better_sqlite3.js';
import { embeddingToBytes, unitEmbedding } from '../src/gallery/embedding.js';
import { openSqliteStore, type SqliteStoreOptions } from '../src/gallery/sqlite.js';
import { buildServer } from '../src/server/index.js';
import { KeyStore, RecognitionService } from '../src/service/index.js';
import { clusteredVectors, fakePng, fillGallery } from './gallery_suite.js';

const tmpDir = () => mkdtempSync(join(tmpdir(), 'arcface-privacy-'));
const mode = (path: string) => statSync(path).mode & 0o777;
const octal = (m: number) => `0${m.toString(8)}`;

test('onnxruntime writes no telemetry (no ~/.cache/Microsoft/DeveloperTools) when a model is loaded and run', async () => {
  const home = tmpDir();
  try {
    // Without the fix onnxruntime-node creates the folder (device id, event database) when its
    // environment is created, i.e. at the first InferenceSession.create, and tries to reach its
    // collector about 10 s later; XDG_CACHE_HOME would move the folder, so it points into HOME too.
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache') };
    delete env.ORT_DISABLE_TELEMETRY;
    const onnx = new URL('../src/runtime/onnx.ts', import.meta.url).href;
    const model = join(import.meta.dirname, 'fixtures/tiny_dyn.onnx');
    const code =
      `const { openSession, ort } = await import(${JSON.stringify(onnx)});` +
      `const s = await openSession(${JSON.stringify(model)});` +
      `const out = await s.run({ input: new ort.Tensor('float32', new Float32Array(48).fill(1), [1, 3, 4, 4]) });` +
      `console.log(Object.values(out)[0].dims.join('x'));`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(status, 0);
    assert.equal(out.trim(), '1x48', 'the model ran');
    const ms = join(home, '.cache', 'Microsoft');
    if (existsSync(ms)) assert.fail(`telemetry written: ${readdirSync(ms, { recursive: true }).join(', ')}`);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

/** Enrolls a gallery with an HNSW graph (so the saved index files exist) and closes the store. */
async function fill(dir: string): Promise<void> {
  const store = openSqliteStore({ dir, index: { ann: 'hnsw', buildThreads: 1 } });
  await store.createGallery({ name: 'g', model: 'm', dim: 16 });
  const { rows } = clusteredVectors(3, 4, 2, 16, 0.1);
  for (let c = 0; c < 4; c++) {
    const s = await store.addSubject('g', { name: `p${c}` });
    await store.addFaces(
      'g',
      s.id,
      rows
        .slice(2 * c, 2 * c + 2)
        .map((r, j) => ({ embedding: r.v, model: 'm', crop: fakePng(2 * c + j, 200) })),
    );
  }
  await store.close();
}

/** Every entry of the data folder with a group or other permission bit set. */
function loose(dir: string): string[] {
  const bad = mode(dir) !== 0o700 ? [`${dir} ${octal(mode(dir))}`] : [];
  for (const f of readdirSync(dir))
    if (mode(join(dir, f)) !== 0o600) bad.push(`${f} ${octal(mode(join(dir, f)))}`);
  return bad;
}

test('the data folder is 0700 and every file the store writes 0600 under umask 022; an older folder is tightened at open', async () => {
  const root = tmpDir();
  const umask = process.umask(0o022);
  try {
    const dir = join(root, 'data');
    await fill(dir);
    const store = openSqliteStore({ dir, index: { ann: 'hnsw', buildThreads: 1 } });
    await store.addSubject('g', { name: 'open' }); // the WAL and shared-memory files exist while open
    const files = readdirSync(dir).sort();
    for (const f of [
      'gallery.db',
      'gallery.db-shm',
      'gallery.db-wal',
      'gallery-1.usearch',
      'gallery-1.usearch.json',
    ])
      assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
    assert.deepEqual(loose(dir), []);
    await store.close();
    assert.deepEqual(loose(dir), []);

    // What an older arcface left: a 0755 folder of 0644 files (made here under umask 022).
    chmodSync(dir, 0o755);
    for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
    const again = openSqliteStore({ dir, index: { ann: 'hnsw', buildThreads: 1 } });
    await again.addSubject('g', { name: 'again' });
    assert.deepEqual(loose(dir), []);
    await again.close();
  } finally {
    process.umask(umask);
    rmSync(root, { recursive: true, force: true });
  }
});

interface Victim {
  dir: string;
  subjectId: number;
  /** Its embeddings' and crops' bytes as stored. */
  bytes: Buffer[];
  /** Another subject's embedding, which must stay. */
  keep: Buffer;
}

/** A store holding 3 subjects of 2 faces with crops; subject 2 is the one to delete. */
async function victim(dir: string): Promise<Victim> {
  const store = openSqliteStore({ dir });
  const { rows, ids } = await fillGallery(store, {
    seed: 7,
    subjects: 3,
    dim: 32,
    cropSeed: 50,
    cropBytes: 2000,
  });
  await store.close();
  const emb = (i: number) => embeddingToBytes(unitEmbedding(rows[i].v, 32, 'x'));
  return {
    dir,
    subjectId: ids[1],
    bytes: [
      emb(2),
      emb(3),
      Buffer.from(fakePng(52, 2000).subarray(8)),
      Buffer.from(fakePng(53, 2000).subarray(8)),
    ],
    keep: emb(4),
  };
}

/** Which of the victim's byte strings gallery.db and gallery.db-wal still hold. */
function lingering(v: Victim): number {
  const files = ['gallery.db', 'gallery.db-wal'].map((f) => join(v.dir, f)).filter(existsSync);
  const disk = Buffer.concat(files.map((f) => readFileSync(f)));
  assert.ok(disk.includes(v.keep), 'the other subjects stay');
  return v.bytes.filter((b) => disk.includes(b)).length;
}

/** Another connection inside a read transaction: it holds the snapshot from before the delete. */
function reader(dir: string): Database {
  const db = openDatabase(join(dir, 'gallery.db'));
  db.exec('BEGIN');
  assert.equal((db.prepare('SELECT count(*) AS n FROM faces').get() as { n: number }).n, 6);
  return db;
}

async function withVictim(
  fn: (v: Victim, open: (o?: SqliteStoreOptions) => ReturnType<typeof openSqliteStore>) => Promise<void>,
) {
  const dir = tmpDir();
  try {
    const v = await victim(dir);
    assert.equal(lingering(v), 4, 'the bytes are on disk before the delete');
    await fn(v, (o = {}) => openSqliteStore({ dir, ...o }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a delete waits for a reader that lets go and then purges, saying it waited', () =>
  withVictim(async (v, open) => {
    const store = open();
    const r = reader(v.dir);
    const deleting = store.deleteSubject('g', v.subjectId);
    r.exec('COMMIT'); // the reader ends while the store waits
    assert.equal(await deleting, true);
    const status = store.purgeStatus();
    assert.equal(status.purged, true);
    assert.ok(status.waitedMs > 0, `waited ${status.waitedMs} ms`);
    assert.equal(lingering(v), 0);
    r.close();
    await store.close();
  }));

test('a delete a reader holds back past the wait reports purged: false, and the next write purges', () =>
  withVictim(async (v, open) => {
    const store = open({ purgeWaitMs: 50 });
    const r = reader(v.dir);
    assert.equal(await store.deleteSubject('g', v.subjectId), true);
    const status = store.purgeStatus();
    assert.equal(status.purged, false);
    assert.match(status.reason ?? '', /another connection.*reading/);
    assert.ok(!status.reason!.includes(v.dir), 'no path in the message');
    assert.ok(lingering(v) > 0, 'the reader still holds the old pages');
    r.exec('COMMIT'); // the reader's connection stays open: SQLite's own last-close checkpoint cannot help
    await store.addSubject('g', { name: 'next write' });
    assert.equal(store.purgeStatus().purged, true);
    assert.equal(lingering(v), 0);
    r.close();
    await store.close();
  }));

test('a purge still pending at close is finished by close, or else by the next open', () =>
  withVictim(async (v, open) => {
    const store = open({ purgeWaitMs: 20 });
    const r = reader(v.dir);
    assert.equal(await store.deleteSubject('g', v.subjectId), true);
    assert.equal(store.purgeStatus().purged, false);
    await store.close(); // the reader still holds: nothing to do yet
    assert.ok(lingering(v) > 0);
    r.exec('COMMIT');
    const next = open();
    assert.equal(lingering(v), 0, 'purged at open');
    assert.equal(await next.getSubject('g', v.subjectId), null);
    await next.close();

    // At close: the reader ends while the deleting store is still open.
    const third = open({ purgeWaitMs: 20 });
    r.exec('BEGIN');
    r.prepare('SELECT count(*) FROM faces').get();
    const subjects = await third.listSubjects('g');
    assert.equal(await third.deleteSubject('g', subjects[0].id), true);
    assert.equal(third.purgeStatus().purged, false);
    r.exec('COMMIT');
    await third.close();
    assert.equal(statSync(join(v.dir, 'gallery.db-wal')).size, 0, 'the WAL was emptied at close');
    r.close();
  }));

test('the HTTP API answers a delete whose purge is pending with 202 and the reason, else 204', () =>
  withVictim(async (v, open) => {
    const store = open({ purgeWaitMs: 20 });
    // Deleting needs no model: a stand-in recogniser the delete routes never touch.
    const service = new RecognitionService(store, { manifest: { name: 'm' } } as never);
    const keys = new KeyStore(join(v.dir, 'keys.json'));
    const app = await buildServer({ service, keys, webDir: null });
    const headers = { 'x-api-key': keys.create('admin', 'test').token };
    try {
      const r = reader(v.dir);
      const pending = await app.inject({
        method: 'DELETE',
        url: `/galleries/g/subjects/${v.subjectId}`,
        headers,
      });
      assert.equal(pending.statusCode, 202);
      const body = JSON.parse(pending.body);
      assert.equal(body.purged, false);
      assert.match(body.message, /another connection/);
      assert.ok(!pending.body.includes(v.dir), 'no path in the answer');
      r.exec('COMMIT');
      const [first] = await store.listSubjects('g');
      const gone = await app.inject({ method: 'DELETE', url: `/galleries/g/subjects/${first.id}`, headers });
      assert.equal(gone.statusCode, 204);
      assert.equal(lingering(v), 0);
      r.close();
    } finally {
      await app.close();
      await store.close();
    }
  }));
