/**
 * The gallery commands through the real CLI (tsx): enroll, identify --json with its exit codes,
 * gallery list/show/export/import/remove across two data folders, keys create/list/revoke, and
 * serve refusing a public address with no key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEEPFACE, NOFACE, W600K, skipUnless } from './helpers.js';

const bin = join(import.meta.dirname, '../src/cli/bin.ts');
const DF = DEEPFACE;
const MODEL = W600K;
const skip = skipUnless([DF, NOFACE, MODEL], 'deepface photos, w600k recogniser');
const tmp = mkdtempSync(join(tmpdir(), 'arcface-cli-gallery-'));
const img = (n: string) => join(DF, n);

function arcface(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), bin, ...args], {
      cwd: tmp,
      env: { ...process.env, ARCFACE_HOME: join(tmp, 'home'), XDG_CONFIG_HOME: join(tmp, 'xdg') },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}
const lines = (s: string) =>
  s
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

test('keys: create shows the key once, list hides it, revoke removes it; the file holds only hashes', async () => {
  const c = await arcface('keys', 'create', '--kind', 'admin', '--name', 'ops', '--json');
  assert.equal(c.code, 0, c.err);
  const made = lines(c.out)[0];
  assert.match(made.token, /^afk_[A-Za-z0-9_-]{43}$/);
  assert.equal(made.kind, 'admin');
  const file = join(tmp, 'arcface-data', 'keys.json');
  const stored = readFileSync(file, 'utf8');
  assert.ok(!stored.includes(made.token.slice(4)), 'the token itself is never stored');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const r = await arcface('keys', 'create', '--kind', 'recognise');
  assert.equal(r.code, 0);
  assert.match(r.err, /shown this once/);
  const list = lines((await arcface('keys', 'list', '--json')).out)[0].keys;
  assert.deepEqual(list.map((k: { kind: string }) => k.kind).sort(), ['admin', 'recognise']);
  assert.ok(list.every((k: object) => !('hash' in k) && !('token' in k)));
  const rv = await arcface('keys', 'revoke', made.id);
  assert.equal(rv.code, 0, rv.err);
  assert.equal(lines((await arcface('keys', 'list', '--json')).out)[0].keys.length, 1);
  assert.equal((await arcface('keys', 'revoke', made.id)).code, 2);
  const bad = await arcface('keys', 'create', '--kind', 'root');
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--kind recognise or --kind admin/);
});

test('serve refuses 0.0.0.0 with no key configured, before loading a model', async () => {
  const r = await arcface('serve', '--host', '0.0.0.0', '--store', join(tmp, 'empty'));
  assert.equal(r.code, 2);
  assert.match(r.err, /refusing to listen on 0\.0\.0\.0 with no API key/);
});

test('enroll, identify --json, gallery list/show/export/import/remove', { skip }, async () => {
  const a = join(tmp, 'a');
  const e1 = await arcface(
    'enroll',
    'staff',
    'id01',
    img('img1.jpg'),
    img('img2.jpg'),
    '-m',
    MODEL,
    '--store',
    a,
  );
  assert.equal(e1.code, 0, e1.err);
  assert.match(e1.out, /enrolled 2 face\(s\) of id01 into staff/);
  assert.match(e1.err, /NON-COMMERCIAL RESEARCH ONLY/);
  const e2 = await arcface('enroll', 'staff', 'id02', img('img26.jpg'), '-m', MODEL, '--store', a, '--json');
  assert.equal(e2.code, 0, e2.err);
  assert.equal(lines(e2.out)[0].faces.length, 1);
  // A no-face image refuses the call: exit 1, nothing enrolled.
  const nf = await arcface('enroll', 'staff', 'id02', img('img27.jpg'), NOFACE, '-m', MODEL, '--store', a);
  assert.equal(nf.code, 1);
  assert.match(nf.err, /017_0\.jpg: no face found/);

  const id = await arcface(
    'identify',
    'staff',
    img('img4.jpg'),
    img('img42.jpg'),
    '-m',
    MODEL,
    '--store',
    a,
    '--json',
  );
  assert.equal(id.code, 0, id.err);
  const [r4, r42] = lines(id.out);
  assert.equal(r4.faces[0].externalId, 'id01');
  assert.equal(r42.faces[0].externalId, 'id02');
  assert.ok(r4.faces[0].score >= r4.threshold);
  const unk = await arcface('identify', 'staff', img('img8.jpg'), '-m', MODEL, '--store', a, '--json');
  assert.equal(unk.code, 1);
  assert.equal(lines(unk.out)[0].faces[0].subject, null);
  const human = await arcface('identify', 'staff', img('couple.jpg'), '-m', MODEL, '--store', a);
  assert.equal(human.code, 1); // one of the two faces is unknown
  assert.match(human.out, /face 1 .*: .*\(id01\)/);
  assert.match(human.out, /face 2 .*: unknown/);
  const none = await arcface('identify', 'nobody', img('img4.jpg'), '-m', MODEL, '--store', a);
  assert.equal(none.code, 2);
  assert.match(none.err, /no gallery 'nobody'/);

  const list = lines((await arcface('gallery', 'list', '--store', a, '--json')).out)[0];
  assert.deepEqual(
    list.galleries.map((g: { name: string; subjects: number; faces: number; model: string }) => [
      g.name,
      g.subjects,
      g.faces,
      g.model,
    ]),
    [['staff', 2, 3, 'w600k-mbf-int8']],
  );
  const file = join(tmp, 'staff.jsonl');
  const ex = await arcface('gallery', 'export', 'staff', file, '--store', a);
  assert.equal(ex.code, 0, ex.err);
  const b = join(tmp, 'b');
  const im = await arcface('gallery', 'import', file, '--as', 'moved', '--store', b);
  assert.equal(im.code, 0, im.err);
  assert.match(im.out, /imported moved .* 2 subject\(s\), 3 face\(s\)/);
  const again = await arcface('gallery', 'import', file, '--as', 'moved', '--store', b);
  assert.equal(again.code, 2);
  assert.match(again.err, /already exists/);
  // The moved gallery answers the same.
  const idb = await arcface('identify', 'moved', img('img5.jpg'), '-m', MODEL, '--store', b, '--json');
  assert.equal(idb.code, 0, idb.err);
  assert.equal(lines(idb.out)[0].faces[0].externalId, 'id01');
  // The same answer through an HNSW graph (re-scored exactly: the same score); bad flags are exit 2.
  const viaGraph = await arcface(
    'identify',
    'moved',
    img('img5.jpg'),
    '-m',
    MODEL,
    '--store',
    b,
    '--json',
    '--ann',
    'hnsw',
    '--ef',
    '16',
  );
  assert.equal(viaGraph.code, 0, viaGraph.err);
  assert.deepEqual(lines(viaGraph.out)[0].faces[0], lines(idb.out)[0].faces[0]);
  const badAnn = await arcface('identify', 'moved', img('img5.jpg'), '--store', b, '--ann', 'faiss');
  assert.equal(badAnn.code, 2);
  assert.match(badAnn.err, /bad value for --ann: "faiss"/);

  const rm = await arcface('gallery', 'remove', 'moved', 'id02', '--store', b);
  assert.equal(rm.code, 0, rm.err);
  const show = lines((await arcface('gallery', 'show', 'moved', '--store', b, '--json')).out)[0];
  assert.deepEqual(
    show.subjects.map((s: { externalId: string }) => s.externalId),
    ['id01'],
  );
  assert.equal((await arcface('gallery', 'remove', 'moved', '--store', b)).code, 0);
  assert.equal((await arcface('gallery', 'show', 'moved', '--store', b)).code, 2);
  assert.equal((await arcface('gallery', 'show', '../etc', '--store', b)).code, 2);
});
