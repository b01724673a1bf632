/**
 * API keys never fail open: a server that was keyed (bound to another address than loopback, or with
 * a key at start, or once a key appeared) refuses every protected request when its last key is
 * revoked or keys.json goes missing, empty or corrupt while it runs; an unreadable keys file is
 * answered 503 with no path and logged once. Through app.inject on a real SQLite store with a stub
 * recogniser (no model is loaded: only gallery listing, creation and deletion are called).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { KeyStore } from '../src/service/index.js';
import { buildServer } from '../src/server/index.js';
import { stubService } from './stub_service.js';

const tmp = mkdtempSync(join(tmpdir(), 'arcface-sec-keys-'));

let n = 0;
/** A server over its own store and keys.json; `lines` collects what it logs at warn and above. */
async function setup(opts: { host?: string; keys?: number } = {}) {
  const dir = join(tmp, `s${n++}`);
  const service = await stubService(dir);
  const keys = new KeyStore(join(dir, 'keys.json'));
  const tokens = Array.from({ length: opts.keys ?? 0 }, () => keys.create('admin', 'test').token);
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const app = await buildServer({
    service,
    keys,
    host: opts.host,
    webDir: null,
    logger: { level: 'warn', stream },
  });
  await service.createGallery('people');
  return { app, keys, service, tokens, lines, dir };
}

const galleries = async (app: FastifyInstance, key?: string) =>
  app.inject({ method: 'GET', url: '/galleries', headers: key ? { 'x-api-key': key } : {} });
const remove = async (app: FastifyInstance, key?: string) =>
  app.inject({ method: 'DELETE', url: '/galleries/people', headers: key ? { 'x-api-key': key } : {} });

/** Every protected call refused with `status`, the gallery still there, and no path in any body. */
async function refused(s: Awaited<ReturnType<typeof setup>>, status: number, key?: string) {
  for (const r of [await galleries(s.app, key), await remove(s.app, key), await galleries(s.app)]) {
    assert.equal(r.statusCode, status, `${r.statusCode} ${r.body}`);
    assert.deepEqual(Object.keys(JSON.parse(r.body).error).sort(), ['code', 'message']);
    assert.ok(!r.body.includes(tmp) && !r.body.includes('keys.json'), `a path in the body: ${r.body}`);
  }
  assert.ok(await s.service.store.getGallery('people'), 'the gallery was deleted');
  const health = await s.app.inject({ method: 'GET', url: '/health' });
  assert.equal(health.statusCode, 200, 'public routes stay public');
}

test('0.0.0.0 bind: revoking the last key refuses every request instead of opening', async () => {
  const s = await setup({ host: '0.0.0.0', keys: 1 });
  assert.equal((await galleries(s.app, s.tokens[0])).statusCode, 200);
  assert.equal((await galleries(s.app)).statusCode, 401);
  const [only] = s.keys.list();
  assert.ok(s.keys.revoke(only.id));
  await refused(s, 401, s.tokens[0]);
  assert.match(JSON.parse((await galleries(s.app)).body).error.message, /no API key/);
  // A new key works again, and only it.
  const fresh = s.keys.create('admin', 'new').token;
  assert.equal((await galleries(s.app, fresh)).statusCode, 200);
  assert.equal((await galleries(s.app)).statusCode, 401);
  await s.app.close();
});

test('a non-loopback bind with no key at all (checkBind bypassed) still refuses', async () => {
  const s = await setup({ host: '0.0.0.0' });
  await refused(s, 401);
  await s.app.close();
});

test('keyed at start on loopback: missing, empty, corrupt keys.json while running is refused', async () => {
  const s = await setup({ keys: 2 });
  const file = join(s.dir, 'keys.json');
  const good = readFileSync(file, 'utf8');
  assert.equal((await galleries(s.app, s.tokens[0])).statusCode, 200);

  rmSync(file);
  await refused(s, 401, s.tokens[0]);

  writeFileSync(file, '');
  await refused(s, 503, s.tokens[0]);
  assert.equal(JSON.parse((await galleries(s.app, s.tokens[0])).body).error.code, 'UNAVAILABLE');

  for (const bad of ['{"keys": [', 'null', '[]', '{"keys": [{"id": 1}]}', '{"keys": {}}']) {
    writeFileSync(file, bad);
    await refused(s, 503, s.tokens[0]);
  }
  // The problem is logged (the operator's log may name the file), once and not per request.
  const logged = s.lines.filter((l) => /keys/i.test(l));
  assert.ok(logged.length >= 1, 'the keys file problem was not logged');
  assert.ok(logged.length <= 8, `logged ${logged.length} times for 6 bad files and 18 requests`);
  assert.ok(!s.lines.some((l) => l.includes('afk_')), 'a token reached the log');

  writeFileSync(file, good); // fixed: the same keys work again
  assert.equal((await galleries(s.app, s.tokens[1])).statusCode, 200);
  assert.equal((await galleries(s.app)).statusCode, 401);
  await s.app.close();
});

test('an open loopback server stays open; once it has seen a key it never opens again', async () => {
  const s = await setup();
  assert.equal((await galleries(s.app)).statusCode, 200);
  const { token, key } = s.keys.create('admin', 'later');
  assert.equal((await galleries(s.app)).statusCode, 401);
  assert.equal((await galleries(s.app, token)).statusCode, 200);
  assert.ok(s.keys.revoke(key.id));
  await refused(s, 401, token);
  await s.app.close();
});

test('a corrupt keys.json is never a 500 with its path, even on an open server', async () => {
  const s = await setup();
  writeFileSync(join(s.dir, 'keys.json'), '{oops');
  await refused(s, 503);
  await s.app.close();
});
