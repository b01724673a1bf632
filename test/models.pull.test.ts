import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { validateManifest, type ModelManifest } from '../src/models/manifest.js';
import { pullModel } from '../src/models/pull.js';
import { isPulled, modelDir, verifyModelFile } from '../src/models/cache.js';
import { resolveModel } from '../src/models/resolve.js';
import { listZip } from '../src/models/zip.js';

const FIX = join(import.meta.dirname, 'fixtures');
const onnx = readFileSync(join(FIX, 'tiny_nchw.onnx'));
const onnxNhwc = readFileSync(join(FIX, 'tiny_nhwc.onnx'));
const pack = readFileSync(join(FIX, 'tiny_pack.zip'));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let server: Server;
let base: string;
const hits: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const send = (body: Buffer, type = 'application/octet-stream') => {
      res.writeHead(200, { 'content-type': type, 'content-length': body.length });
      res.end(body);
    };
    switch (req.url) {
      case '/m.onnx':
      case '/mirror/m.onnx':
        return send(onnx);
      case '/pack.zip':
        return send(pack);
      case '/old.onnx':
        res.writeHead(302, { location: '/m.onnx' });
        return res.end();
      case '/cut.onnx':
        // Promises 4000 bytes, sends 100, hangs up.
        res.writeHead(200, { 'content-length': 4000 });
        res.write(onnx.subarray(0, 100));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not here');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

function manifest(over: Record<string, unknown>): ModelManifest {
  return validateManifest(
    {
      name: 'tiny',
      task: 'recognition',
      file: 'tiny.onnx',
      input: { width: 4, height: 4, layout: 'nchw', color: 'rgb', mean: [0, 0, 0], std: [1, 1, 1] },
      output: { dim: 48 },
      flip: false,
      licence: 'MIT (test)',
      trainingData: 'none',
      researchOnly: false,
      ...over,
    },
    'test manifest',
  );
}
const home = () => ({ ARCFACE_HOME: mkdtempSync(join(tmpdir(), 'arcface-pull-')) });
/** Nothing but the finished model (and its recorded hash) may be in the folder. */
const leftovers = (env: { ARCFACE_HOME: string }, name = 'tiny') =>
  existsSync(modelDir(name, env)) ? readdirSync(modelDir(name, env)) : [];

test('pull over HTTP: progress, size and sha256 checked, atomic, second pull reuses the file', async () => {
  const env = home();
  const m = manifest({
    source: { url: `${base}/m.onnx`, sha256: sha(onnx), size: onnx.length },
    sha256: sha(onnx),
  });
  assert.equal(isPulled(m, env), false);
  const seen: [number, number][] = [];
  const r = await pullModel(m, { env, onProgress: (got, total) => seen.push([got, total]) });
  assert.deepEqual(r, {
    path: join(env.ARCFACE_HOME, 'models/tiny/tiny.onnx'),
    sha256: sha(onnx),
    verified: true,
    downloaded: true,
  });
  assert.deepEqual(readFileSync(r.path), onnx);
  assert.deepEqual(seen.at(-1), [onnx.length, onnx.length]);
  assert.ok(isPulled(m, env));
  assert.deepEqual(leftovers(env), ['tiny.onnx']);
  const n = hits.length;
  const again = await pullModel(m, { env });
  assert.equal(again.downloaded, false);
  assert.equal(hits.length, n, 'no second request');
  const forced = await pullModel(m, { env, force: true });
  assert.equal(forced.downloaded, true);
  assert.equal(hits.length, n + 1);
});

test('a sha256 or size mismatch is an error and leaves no file behind', async () => {
  const env = home();
  const bad = manifest({ source: { url: `${base}/m.onnx`, sha256: '0'.repeat(64) } });
  await assert.rejects(
    pullModel(bad, { env }),
    /m\.onnx: sha256 [0-9a-f]{64} does not match the published 0{64}/,
  );
  assert.deepEqual(leftovers(env), []);
  const badOnnx = manifest({ source: { url: `${base}/m.onnx` }, sha256: 'f'.repeat(64) });
  await assert.rejects(pullModel(badOnnx, { env }), /the published one is f{64} \(nothing was installed\)/);
  const badSize = manifest({ source: { url: `${base}/m.onnx`, size: onnx.length + 1 } });
  await assert.rejects(
    pullModel(badSize, { env }),
    new RegExp(`got ${onnx.length} bytes, expected ${onnx.length + 1}`),
  );
  assert.deepEqual(leftovers(env), []);
  assert.equal(isPulled(bad, env), false);
});

test('404, a broken-off transfer and a refused connection: clear messages naming the URL and the manual step', async () => {
  const env = home();
  const dir = modelDir('tiny', env);
  const handStep = `mkdir -p ${dir} && cp model.onnx ${join(dir, 'tiny.onnx')}`;
  await assert.rejects(pullModel(manifest({ source: { url: `${base}/gone.onnx` } }), { env }), (e: Error) => {
    assert.match(e.message, new RegExp(`cannot download ${base}/gone\\.onnx \\(HTTP 404 Not Found\\)`));
    assert.ok(e.message.includes(handStep), e.message);
    return true;
  });
  await assert.rejects(
    pullModel(manifest({ source: { url: `${base}/cut.onnx` } }), { env }),
    /cut\.onnx \(broke off after \d+ bytes/,
  );
  assert.deepEqual(leftovers(env), [], 'a partial download never stays');

  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  await assert.rejects(
    pullModel(manifest({ source: { url: `http://127.0.0.1:${port}/m.onnx` } }), { env }),
    (e: Error) => {
      assert.match(
        e.message,
        new RegExp(`cannot download http://127\\.0\\.0\\.1:${port}/m\\.onnx \\(unreachable: ECONNREFUSED\\)`),
      );
      assert.match(e.message, /offline/);
      assert.ok(e.message.includes(handStep), e.message);
      return true;
    },
  );
  assert.deepEqual(leftovers(env), []);
});

test('redirects are followed; ARCFACE_MODEL_MIRROR replaces the host and path, keeping the file name', async () => {
  const env = home();
  const r = await pullModel(manifest({ source: { url: `${base}/old.onnx` }, sha256: sha(onnx) }), { env });
  assert.deepEqual(readFileSync(r.path), onnx);
  const env2 = { ...home(), ARCFACE_MODEL_MIRROR: `${base}/mirror/` };
  const before = hits.length;
  const m = manifest({ source: { url: 'https://models.example.invalid/v1/m.onnx' }, sha256: sha(onnx) });
  await pullModel(m, { env: env2 });
  assert.deepEqual(hits.slice(before), ['/mirror/m.onnx']);
});

test('zip packs: a deflated member in a folder, a stored one, by base name; archive hash verified', async () => {
  const entries = await listZip(join(FIX, 'tiny_pack.zip'));
  assert.deepEqual(
    entries.map((e) => [e.name, e.method, e.size]),
    [
      ['pack/README', 8, 17 * 20],
      ['pack/tiny_nchw.onnx', 8, onnx.length],
      ['stored/tiny_nhwc.onnx', 0, onnxNhwc.length],
    ],
  );
  const env = home();
  const src = { url: `${base}/pack.zip`, sha256: sha(pack), size: pack.length, archive: 'zip' };
  const a = await pullModel(manifest({ source: { ...src, member: 'pack/tiny_nchw.onnx' } }), { env });
  assert.deepEqual(readFileSync(a.path), onnx);
  assert.equal(a.sha256, sha(onnx));
  assert.equal(a.verified, true, 'the archive matched its published hash');
  assert.deepEqual(
    leftovers(env).sort(),
    ['tiny.onnx', 'tiny.onnx.sha256'],
    'the ONNX hash recorded for later loads',
  );

  const env2 = home();
  const b = await pullModel(
    manifest({ source: { ...src, member: 'tiny_nhwc.onnx' }, sha256: sha(onnxNhwc) }),
    { env: env2 },
  );
  assert.deepEqual(readFileSync(b.path), onnxNhwc, 'stored entry, found by its base name');
  assert.deepEqual(leftovers(env2), ['tiny.onnx']);

  await assert.rejects(
    pullModel(manifest({ source: { ...src, member: 'pack/w600k_r50.onnx' } }), { env: home() }),
    /no member "pack\/w600k_r50\.onnx" in the archive \(it holds: pack\/README, pack\/tiny_nchw\.onnx, stored\/tiny_nhwc\.onnx\)/,
  );
  await assert.rejects(
    pullModel(manifest({ source: { url: `${base}/m.onnx`, archive: 'zip', member: 'x.onnx' } }), {
      env: home(),
    }),
    /not a zip archive/,
  );
});

test('file:// sources; trust on first use: the hash is recorded and later loads are checked', async () => {
  const env = home();
  const m = manifest({ source: { url: pathToFileURL(join(FIX, 'tiny_nchw.onnx')).href } });
  const r = await pullModel(m, { env });
  assert.equal(r.verified, false);
  assert.equal(r.sha256, sha(onnx));
  assert.match(
    readFileSync(`${r.path}.sha256`, 'utf8'),
    new RegExp(`^${sha(onnx)}  tiny\\.onnx\\n# unverified`),
  );
  assert.deepEqual(await verifyModelFile(m, r.path), { path: r.path, sha256: sha(onnx), verified: false });
  appendFileSync(r.path, Buffer.from([0]));
  await assert.rejects(
    verifyModelFile(m, r.path),
    /does not match the first-download hash .* models pull tiny --force/,
  );
  await assert.rejects(pullModel(m, { env }), /does not match the first-download hash/);
  const fixed = await pullModel(m, { env, force: true });
  assert.deepEqual(readFileSync(fixed.path), onnx);
  await assert.rejects(
    pullModel(manifest({ source: { url: pathToFileURL(join(FIX, 'nope.onnx')).href } }), { env: home() }),
    /nope\.onnx \(no such file\)/,
  );
});

test('zoo names resolve only once pulled; local-only models say how to place them', async () => {
  const env = home();
  await assert.rejects(
    resolveModel('buffalo_l', {}, env),
    /model buffalo_l is not downloaded: run `arcface models pull buffalo_l`/,
  );
  await assert.rejects(
    resolveModel('w600k-mbf-int8', {}, env),
    /no download source; place it by hand: mkdir -p .*w600k-mbf-int8/,
  );
  const { getModel } = await import('../src/models/zoo.js');
  await assert.rejects(
    pullModel(getModel('retinaface-mnet025'), { env }),
    /has no download source .*mkdir -p/,
  );
});
