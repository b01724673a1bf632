/**
 * /lib/ of `arcface serve` (lib_routes.ts) through fastify.inject: the browser build, onnxruntime-web's
 * wasm and the models, public on a keyed server, with their content types, ETags (304 on a match),
 * the policy a worker needs, and the models as the server runs them: the same ONNX bytes, the
 * thresholds and FAR table in effect, research-only weights refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { tfjsModelToOnnx } from '../src/convert/from_tfjs.js';
import { faceApiOnnx } from '../src/face/detectors/faceapi_nets.js';
import { validateManifest } from '../src/models/manifest.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { KeyStore, RecognitionService } from '../src/service/index.js';
import { buildServer } from '../src/server/index.js';
import type { ServerContext } from '../src/server/context.js';
import { libRoutes } from '../src/server/lib_routes.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test("/lib/: the browser build, its runtime and the server's models, public", async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'arcface-lib-'));
  const rec = await FaceRecognizer.create({ threshold: 0.93 }); // an operator's --threshold
  const service = await RecognitionService.open({ store: join(tmp, 'data'), recognizer: rec });
  const keys = new KeyStore(join(tmp, 'data', 'keys.json'));
  keys.create('admin', 'lib test'); // keyed: /lib/ answers without a key all the same
  const app = await buildServer({ service, keys });
  t.after(async () => {
    await app.close();
    await service.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  const get = (url: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url, headers });

  await t.test('the page may compile WebAssembly, nothing more', async () => {
    const csp = (await get('/')).headers['content-security-policy'] as string;
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval';/);
    assert.doesNotMatch(csp, /'unsafe-eval'|'unsafe-inline'/);
  });

  await t.test("arcface.js: JavaScript, revalidated by ETag, under the page's policy", async () => {
    const js = await get('/lib/arcface.js');
    assert.equal(js.statusCode, 200);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(js.body, /FaceRecognizer/);
    assert.doesNotMatch(js.body, /onnxruntime-node|from"sharp"|from"node:fs/);
    assert.equal(js.headers['cache-control'], 'no-cache');
    assert.match(js.headers['content-security-policy'] as string, /'wasm-unsafe-eval'/);
    assert.equal(js.headers['cross-origin-embedder-policy'], 'require-corp');
    assert.equal(js.headers['cross-origin-resource-policy'], 'same-origin');
    const again = await get('/lib/arcface.js', { 'if-none-match': js.headers.etag as string });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    assert.equal((await get('/lib/nothing.js')).statusCode, 404);
  });

  await t.test('onnxruntime-web: its wasm from node_modules, nothing else from there', async () => {
    const wasm = await get('/lib/ort/ort-wasm-simd-threaded.wasm');
    assert.equal(wasm.statusCode, 200);
    assert.equal(wasm.headers['content-type'], 'application/wasm');
    const file = createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm');
    assert.equal(wasm.rawPayload.length, statSync(file).size);
    assert.equal(wasm.rawPayload.subarray(0, 4).toString('latin1'), '\0asm');
    assert.equal(
      (await get('/lib/ort/ort-wasm-simd-threaded.wasm', { 'if-none-match': wasm.headers.etag as string }))
        .statusCode,
      304,
    );
    for (const bad of ['package.json', '..%2Fpackage.json', 'ort.node.min.js'])
      assert.equal((await get(`/lib/ort/${bad}`)).statusCode, 404, bad);
  });

  await t.test('models: the ONNX graphs the server runs, with the thresholds in effect here', async () => {
    const index = (await get('/lib/models/index.json')).json();
    assert.deepEqual(index, { recognizer: 'dlib-resnet-v1', published: true, detector: 'faceapi' });
    const onnx = await get('/lib/models/dlib-resnet-v1.onnx');
    assert.equal(onnx.headers['content-type'], 'application/octet-stream');
    const built = await tfjsModelToOnnx(rec.embedder.path, 'dlib-resnet-v1');
    assert.ok(onnx.rawPayload.equals(built), 'the bytes the server builds for its own embedder');
    const m = validateManifest((await get('/lib/models/dlib-resnet-v1.json')).json(), 'served');
    assert.equal(m.file, 'dlib-resnet-v1.onnx');
    assert.equal(m.sha256, sha256(onnx.rawPayload));
    assert.equal(m.format, undefined);
    assert.equal(m.builtin, undefined);
    assert.equal(m.thresholds?.verify, 0.93, "the operator's threshold, not the manifest's");
    assert.deepEqual(m.impostorFar, rec.farTable);
    assert.deepEqual(
      [m.input, m.alignment, m.flip, m.output],
      [rec.manifest.input, rec.manifest.alignment, rec.flip, rec.manifest.output],
    );
    // Gzipped for a client that takes it (3.5x smaller): its own ETag, the same bytes once unzipped.
    const gz = await get('/lib/models/dlib-resnet-v1.onnx', { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.match(gz.headers.vary as string, /Accept-Encoding/);
    assert.notEqual(gz.headers.etag, onnx.headers.etag);
    assert.ok(gz.rawPayload.length < onnx.rawPayload.length / 3);
    assert.ok(gunzipSync(gz.rawPayload).equals(onnx.rawPayload));
    const ssd = await get('/lib/models/faceapi-ssd.onnx');
    assert.ok(ssd.rawPayload.equals(await faceApiOnnx('ssd')));
    for (const bad of ['buffalo_l.onnx', 'faceapi-x.onnx', '..%2F..%2Fpackage.json'])
      assert.equal((await get(`/lib/models/${bad}`)).statusCode, 404, bad);
  });
});

test('/lib/models/: research-only weights are not published', async () => {
  const app = Fastify();
  const recognizer = { manifest: { name: 'buffalo_l', researchOnly: true } };
  libRoutes(app, { service: { recognizer } } as unknown as ServerContext);
  const index = await app.inject({ method: 'GET', url: '/lib/models/index.json' });
  assert.equal(index.json().published, false);
  for (const file of ['buffalo_l.onnx', 'buffalo_l.json']) {
    const r = await app.inject({ method: 'GET', url: `/lib/models/${file}` });
    assert.equal(r.statusCode, 403);
    assert.match(r.json().error.message, /non-commercial research only: its weights are not published/);
  }
  await app.close();
});
