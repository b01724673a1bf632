/**
 * Other sites cannot use a server on this machine: the Host header must name the loopback server
 * (DNS rebinding), a request a browser marks cross-site (Sec-Fetch-Site, Origin) is refused on every
 * protected route unless its origin was allowed (--cors-origin, then answered with CORS), and every
 * response carries the security headers. Through app.inject on a stub service, then once in a real
 * Chromium: a page from another origin POSTs a face no-cors and tries a DELETE, and a rebound name
 * (rebind.test -> 127.0.0.1) tries the same on the server's own port; nothing is enrolled or deleted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { KeyStore, RecognitionService } from '../src/service/index.js';
import { buildServer, startServer, type ServerOptions } from '../src/server/index.js';
import { stubService } from './stub_service.js';

const tmp = mkdtempSync(join(tmpdir(), 'arcface-sec-origin-'));
let n = 0;
async function setup(extra: Partial<ServerOptions> = {}, withKey = false) {
  const dir = join(tmp, `s${n++}`);
  const service = await stubService(dir);
  const keys = new KeyStore(join(dir, 'keys.json'));
  const token = withKey ? keys.create('admin', 'test').token : undefined;
  const app = await buildServer({ service, keys, ...extra });
  await service.createGallery('people');
  const still = async () => assert.ok(await service.store.getGallery('people'), 'the gallery was deleted');
  return { app, service, token, still };
}
type Headers = Record<string, string>;
const call = (app: FastifyInstance, method: 'GET' | 'DELETE' | 'OPTIONS', url: string, headers: Headers) =>
  app.inject({ method, url, headers });

test('Host: only the loopback names (any port), or names allowed with --allow-host', async () => {
  const s = await setup();
  for (const host of [
    'attacker.example',
    'attacker.example:8080',
    '127.0.0.1.nip.io:8080',
    'localhost.attacker.example',
    '10.0.0.5:8080',
  ]) {
    for (const [method, url] of [
      ['DELETE', '/galleries/people'],
      ['GET', '/galleries'],
      ['GET', '/'],
    ] as const) {
      const r = await call(s.app, method, url, { host });
      assert.equal(r.statusCode, 421, `${method} ${url} Host ${host}: ${r.statusCode}`);
      assert.equal(JSON.parse(r.body).error.code, 'BAD_HOST');
      assert.match(JSON.parse(r.body).error.message, /--allow-host/);
    }
  }
  await s.still();
  for (const host of ['localhost:8080', '127.0.0.1:8080', '[::1]:8080', 'localhost', 'LOCALHOST:9'])
    assert.equal((await call(s.app, 'GET', '/galleries', { host })).statusCode, 200, host);

  const proxied = await setup({ allowedHosts: ['faces.example'] });
  for (const host of ['faces.example', 'faces.example:443', 'localhost:8080'])
    assert.equal((await call(proxied.app, 'GET', '/galleries', { host })).statusCode, 200, host);
  assert.equal((await call(proxied.app, 'GET', '/galleries', { host: 'other.example' })).statusCode, 421);

  // Another bind (keys required there) names itself by whatever DNS: the key is the check.
  const lan = await setup({ host: '0.0.0.0' }, true);
  const r = await call(lan.app, 'GET', '/galleries', { host: 'faces.lan:8080', 'x-api-key': lan.token! });
  assert.equal(r.statusCode, 200);
  await Promise.all([s.app.close(), proxied.app.close(), lan.app.close()]);
});

test('cross-site requests are refused on every protected route, reads included', async () => {
  const s = await setup();
  const host = 'localhost:8080';
  for (const headers of <Headers[]>[
    { 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' },
    { 'sec-fetch-site': 'same-site', origin: 'http://127.0.0.1:9999' }, // another port is same-site
    { 'sec-fetch-site': 'cross-site' }, // <img src> of a crop: no Origin on a GET
    { origin: 'http://evil.example' }, // an older browser: no Sec-Fetch-*
    { origin: 'null' }, // sandboxed frame, file://
  ])
    for (const [method, url] of [
      ['DELETE', '/galleries/people'],
      ['GET', '/galleries'],
    ] as const) {
      const r = await call(s.app, method, url, { host, ...headers });
      assert.equal(r.statusCode, 403, `${method} ${url} ${JSON.stringify(headers)}: ${r.body}`);
      assert.equal(JSON.parse(r.body).error.code, 'CROSS_SITE');
      assert.equal(r.headers['access-control-allow-origin'], undefined);
    }
  await s.still();
  // The page itself, its own calls, and clients that are not browsers.
  for (const headers of <Headers[]>[
    { 'sec-fetch-site': 'same-origin', origin: `http://${host}` },
    { 'sec-fetch-site': 'none' },
    { origin: `http://${host}` },
    {},
  ])
    assert.equal((await call(s.app, 'GET', '/galleries', { host, ...headers })).statusCode, 200);
  // Public routes may be linked to from anywhere (a link to the page is a cross-site navigation).
  for (const url of ['/', '/health', '/web/app.js'])
    assert.equal(
      (await call(s.app, 'GET', url, { host, 'sec-fetch-site': 'cross-site' })).statusCode,
      200,
      url,
    );
  // No allowed origin: a CORS preflight is refused.
  const pre = await call(s.app, 'OPTIONS', '/galleries/people', {
    host,
    origin: 'http://evil.example',
    'access-control-request-method': 'DELETE',
  });
  assert.equal(pre.statusCode, 403);
  assert.equal(pre.headers['access-control-allow-origin'], undefined);
  await s.app.close();
});

test('--cors-origin: that origin gets CORS answers and may call; others still may not', async () => {
  const app = 'http://app.example:3000';
  const s = await setup({ corsOrigins: [`${app}/`] }, true);
  const host = 'localhost:8080';
  const pre = await call(s.app, 'OPTIONS', '/galleries/people', {
    host,
    origin: app,
    'sec-fetch-site': 'cross-site',
    'access-control-request-method': 'DELETE',
    'access-control-request-headers': 'x-api-key',
  });
  assert.equal(pre.statusCode, 204, pre.body);
  assert.equal(pre.headers['access-control-allow-origin'], app);
  assert.match(String(pre.headers['access-control-allow-methods']), /DELETE/);
  assert.match(String(pre.headers['access-control-allow-headers']), /x-api-key/i);
  assert.match(String(pre.headers.vary), /origin/i);

  const key = { 'x-api-key': s.token! };
  const list = await call(s.app, 'GET', '/galleries', {
    host,
    origin: app,
    'sec-fetch-site': 'cross-site',
    ...key,
  });
  assert.equal(list.statusCode, 200);
  assert.equal(list.headers['access-control-allow-origin'], app);
  // Allowed is not authenticated: the key is still required.
  const nokey = await call(s.app, 'GET', '/galleries', { host, origin: app, 'sec-fetch-site': 'cross-site' });
  assert.equal(nokey.statusCode, 401);
  assert.equal(nokey.headers['access-control-allow-origin'], app, 'the page can read why');

  const other = { host, origin: 'http://evil.example', 'sec-fetch-site': 'cross-site', ...key };
  const del = await call(s.app, 'DELETE', '/galleries/people', other);
  assert.equal(del.statusCode, 403);
  assert.equal(del.headers['access-control-allow-origin'], undefined);
  await s.still();
  const ok = await call(s.app, 'DELETE', '/galleries/people', { ...other, origin: app });
  assert.equal(ok.statusCode, 204);
  await s.app.close();
});

test('security headers on every response: page, API, errors', async () => {
  const s = await setup({}, true);
  const host = 'localhost:8080';
  const responses = {
    page: await call(s.app, 'GET', '/', { host }),
    script: await call(s.app, 'GET', '/web/app.js', { host }),
    health: await call(s.app, 'GET', '/health', { host }),
    list: await call(s.app, 'GET', '/galleries', { host, 'x-api-key': s.token! }),
    unauthorized: await call(s.app, 'GET', '/galleries', { host }),
    notFound: await call(s.app, 'GET', '/nope', { host }),
    crossSite: await call(s.app, 'GET', '/galleries', { host, 'sec-fetch-site': 'cross-site' }),
    badHost: await call(s.app, 'GET', '/', { host: 'evil.example' }),
  };
  for (const [name, r] of Object.entries(responses)) {
    const h = r.headers;
    assert.equal(h['x-frame-options'], 'DENY', name);
    assert.equal(h['x-content-type-options'], 'nosniff', name);
    assert.equal(h['referrer-policy'], 'no-referrer', name);
    assert.match(String(h['content-security-policy']), /frame-ancestors 'none'/, name);
    assert.equal(h['cross-origin-resource-policy'], 'same-origin', name);
  }
  // The page's policy lets it run its own files only; the API's lets nothing run at all.
  assert.match(String(responses.page.headers['content-security-policy']), /default-src 'self'/);
  assert.match(String(responses.list.headers['content-security-policy']), /default-src 'none'/);
  assert.equal(responses.list.headers['cache-control'], 'no-store');
  await s.app.close();
});

const SHARED = join(import.meta.dirname, '../../shared');
const FACE = join(SHARED, 'data/faces/deepface/tests/unit/dataset/img1.jpg');
const MODEL = join(SHARED, 'models/recognizers/w600k-mbf-int8/w600k_mbf_int8.onnx');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let playwright: typeof import('playwright-core') | null = null;
try {
  playwright = await import('playwright-core');
} catch {
  playwright = null;
}
const skipBrowser = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (tools/ci/chromium.sh, or set CHROMIUM_PATH): the browser check is skipped`
  : !playwright
    ? 'playwright-core is not installed: the browser check is skipped'
    : ![FACE, MODEL].every(existsSync)
      ? '../shared (a deepface photo, the w600k recogniser) is absent: the browser check is skipped'
      : false;

test(
  'Chromium: another origin and a rebound name cannot enroll into or delete from a keyless server',
  { skip: skipBrowser },
  async (t) => {
    const dir = join(tmp, 'browser');
    // Chromium starts while the model loads.
    const launching = playwright!.chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        // A DNS rebinding attacker's name, now resolving to this machine.
        '--host-resolver-rules=MAP rebind.test 127.0.0.1',
        // Chromium's Local Network Access would block (or prompt for) the rebound page's calls: the
        // server must hold without it, as in Firefox, Safari and older Chromes.
        '--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests',
      ],
    });
    const opening = RecognitionService.open({ store: dir, recognizer: { model: MODEL } });
    const [browser, service] = await Promise.all([launching, opening]);
    const keys = new KeyStore(join(dir, 'keys.json')); // none: the default open loopback server
    const { app, url } = await startServer({ service, keys, host: '127.0.0.1', port: 0 });
    const port = new URL(url).port;
    await service.createGallery('g');
    const subject = await service.addSubject('g', { name: 'victim' });
    const evil = createServer((req, res) => {
      // The face is fetched by the attacker's pages on either name: its server lets them (CORS).
      if (req.url === '/face.jpg')
        res
          .writeHead(200, { 'content-type': 'image/jpeg', 'access-control-allow-origin': '*' })
          .end(readFileSync(FACE));
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>evil</title>');
    });
    await new Promise<void>((ok) => evil.listen(0, '127.0.0.1', ok));
    const evilUrl = `http://127.0.0.1:${(evil.address() as { port: number }).port}/`;
    t.after(async () => {
      await browser.close();
      await new Promise((ok) => evil.close(ok));
      await app.close();
      await service.close();
    });
    // The attack, as page script: the face as a no-cors multipart POST (a "simple" request the browser
    // sends without asking), then a DELETE and a read. Plain JS text: tsx's helpers do not exist there.
    const attack = (api: string, face: string) => `(async () => {
    const out = {};
    const img = await (await fetch(${JSON.stringify(face)})).blob();
    const form = new FormData();
    form.append('images', img, 'face.jpg');
    try {
      const r = await fetch(${JSON.stringify(api)} + 'galleries/g/subjects/${subject.id}/faces', { method: 'POST', mode: 'no-cors', body: form });
      out.post = r.type === 'opaque' ? 'opaque' : r.status;
    } catch (e) { out.post = 'blocked'; }
    try { out.del = (await fetch(${JSON.stringify(api)} + 'galleries/g', { method: 'DELETE' })).status; } catch (e) { out.del = 'blocked'; }
    try { out.get = (await fetch(${JSON.stringify(api)} + 'galleries')).status; } catch (e) { out.get = 'blocked'; }
    return out;
  })()`;

    const page = await browser.newPage();
    await page.goto(evilUrl);
    const cross = await page.evaluate(attack(url, `${evilUrl}face.jpg`));
    assert.equal(
      (await service.store.listFaces('g', subject.id)).length,
      0,
      `enrolled: ${JSON.stringify(cross)}`,
    );
    assert.ok(await service.store.getGallery('g'), 'the gallery was deleted');

    // Rebinding: the attacker's page was loaded from its own server under rebind.test (played here
    // by Playwright), then the name was rebound to 127.0.0.1: the page and the API are same-origin.
    const rebound = `http://rebind.test:${port}/`;
    await page.route(`${rebound}evil.html`, (r) =>
      r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>evil</title>' }),
    );
    await page.goto(`${rebound}evil.html`);
    const same = (await page.evaluate(attack(rebound, `${evilUrl}face.jpg`))) as Record<string, unknown>;
    assert.deepEqual([same.post, same.del, same.get], [421, 421, 421], JSON.stringify(same));
    assert.equal((await service.store.listFaces('g', subject.id)).length, 0);
    assert.ok(await service.store.getGallery('g'), 'the gallery was deleted');
  },
);
