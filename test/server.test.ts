/**
 * The HTTP API through fastify.inject on real photos (deepface's set in ../shared): each endpoint's
 * happy path, keys and kinds, the error shape and statuses, upload checks and limits, the OpenAPI
 * document, the bind rule, and concurrent identify + enroll on one gallery.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStore, RecognitionService } from '../src/service/index.js';
import { buildServer, checkBind, startServer } from '../src/server/index.js';
import { DEEPFACE, NOFACE, W600K, skipUnless, multipartBody } from './helpers.js';

const DF = DEEPFACE;
const MODEL = W600K;
const skip = skipUnless([DF, NOFACE, MODEL], 'deepface photos, w600k recogniser');
const photo = (n: string) => readFileSync(join(DF, n));
const b64 = (n: string) => photo(n).toString('base64');
const tmp = mkdtempSync(join(tmpdir(), 'arcface-server-'));

/** A multipart/form-data body and its content type, with a fresh boundary. */
function form(parts: [string, Buffer | string, string?][]): {
  payload: Buffer;
  headers: Record<string, string>;
} {
  const boundary = '----arcfacetest' + Math.random().toString(16).slice(2);
  return {
    payload: multipartBody(parts, boundary),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

test('binding another address than loopback with no key is refused at start', async () => {
  const keys = new KeyStore(join(tmp, 'bind-keys.json'));
  for (const host of ['0.0.0.0', '::', '192.168.1.10'])
    assert.throws(
      () => checkBind(host, keys),
      /refusing to listen on .* with no API key.*arcface keys create/s,
    );
  for (const host of ['127.0.0.1', 'localhost', '::1']) checkBind(host, keys);
  // startServer refuses before it builds or loads anything (no service is even needed).
  await assert.rejects(
    startServer({ service: undefined as never, keys, host: '0.0.0.0', port: 0 }),
    /refusing to listen on 0\.0\.0\.0/,
  );
  keys.create('admin', 'ops');
  checkBind('0.0.0.0', keys);
});

test('HTTP API', { skip }, async (t) => {
  const service = await RecognitionService.open({ store: join(tmp, 'data'), recognizer: { model: MODEL } });
  const keys = new KeyStore(join(tmp, 'data', 'keys.json'));
  // Room for the 60 requests the concurrency test sends at once (the default admits 2 + 16).
  const app = await buildServer({ service, keys, queue: 64 });
  t.after(async () => {
    await app.close();
    await service.close();
  });
  const admin = keys.create('admin', 'test admin').token;
  const reader = keys.create('recognise', 'test reader').token;
  const A = { 'x-api-key': admin };
  const R = { 'x-api-key': reader };
  const json = (r: { body: string }) => JSON.parse(r.body);

  await t.test('OpenAPI document: valid JSON naming every route', async () => {
    const r = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(r.statusCode, 200);
    const doc = json(r);
    assert.match(doc.openapi, /^3\./);
    const paths = Object.keys(doc.paths).sort();
    assert.deepEqual(paths, [
      '/detect',
      '/embed',
      '/galleries',
      '/galleries/{gallery}',
      '/galleries/{gallery}/cluster',
      '/galleries/{gallery}/clusters',
      '/galleries/{gallery}/clusters/{subject}/name',
      '/galleries/{gallery}/corrections',
      '/galleries/{gallery}/corrections/{correction}',
      '/galleries/{gallery}/faces/{face}/move',
      '/galleries/{gallery}/identify',
      '/galleries/{gallery}/identify/embeddings',
      '/galleries/{gallery}/subjects',
      '/galleries/{gallery}/subjects/{subject}',
      '/galleries/{gallery}/subjects/{subject}/embeddings',
      '/galleries/{gallery}/subjects/{subject}/faces',
      '/galleries/{gallery}/subjects/{subject}/faces/{face}',
      '/galleries/{gallery}/subjects/{subject}/faces/{face}/crop',
      '/galleries/{gallery}/subjects/{subject}/merge',
      '/galleries/{gallery}/subjects/{subject}/split',
      '/galleries/{gallery}/subjects/{subject}/verify',
      '/health',
      '/models',
      '/verify',
    ]);
    assert.ok(doc.paths['/galleries/{gallery}/identify'].post.requestBody.content['application/json']);
    assert.ok(doc.components.securitySchemes.apiKey);
  });

  await t.test('health is public; /models needs a key and tells licence, data and thresholds', async () => {
    const h = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(h.statusCode, 200);
    assert.equal(json(h).status, 'ok');
    assert.equal(json(h).model, 'w600k-mbf-int8');
    const no = await app.inject({ method: 'GET', url: '/models' });
    assert.equal(no.statusCode, 401);
    assert.deepEqual(Object.keys(json(no).error).sort(), ['code', 'message']);
    assert.equal(json(no).error.code, 'UNAUTHORIZED');
    const m = json(await app.inject({ method: 'GET', url: '/models', headers: R }));
    assert.equal(m.recognizer.name, 'w600k-mbf-int8');
    assert.equal(m.recognizer.dim, 512);
    assert.equal(typeof m.recognizer.researchOnly, 'boolean');
    assert.equal(typeof m.recognizer.licence, 'string');
    assert.equal(typeof m.recognizer.thresholds.inEffect, 'number');
    const page = await app.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    assert.doesNotMatch(page.body, /https?:\/\/(?!www\.w3)/); // no CDN
  });

  await t.test('keys: none, unknown, bearer, wrong kind, revoked', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/galleries' })).statusCode, 401);
    const bad = await app.inject({ method: 'GET', url: '/galleries', headers: { 'x-api-key': 'afk_nope' } });
    assert.equal(bad.statusCode, 401);
    const bearer = await app.inject({
      method: 'GET',
      url: '/galleries',
      headers: { authorization: `Bearer ${reader}` },
    });
    assert.equal(bearer.statusCode, 200);
    const forbidden = await app.inject({
      method: 'POST',
      url: '/galleries',
      headers: R,
      payload: { name: 'people' },
    });
    assert.equal(forbidden.statusCode, 403);
    assert.equal(json(forbidden).error.code, 'FORBIDDEN');
    const created = await app.inject({
      method: 'POST',
      url: '/galleries',
      headers: A,
      payload: { name: 'people' },
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(json(created).model, 'w600k-mbf-int8');
    const temp = keys.create('recognise', 'short-lived');
    assert.equal(
      (await app.inject({ method: 'GET', url: '/galleries', headers: { 'x-api-key': temp.token } }))
        .statusCode,
      200,
    );
    assert.ok(keys.revoke(temp.key.id));
    assert.equal(
      (await app.inject({ method: 'GET', url: '/galleries', headers: { 'x-api-key': temp.token } }))
        .statusCode,
      401,
    );
  });

  await t.test('bad requests: bad JSON, schema, names, conflicts, unknown gallery and route', async () => {
    const badJson = await app.inject({
      method: 'POST',
      url: '/galleries',
      headers: { ...A, 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    assert.equal(badJson.statusCode, 400);
    assert.equal(json(badJson).error.code, 'BAD_INPUT');
    const noImage = await app.inject({
      method: 'POST',
      url: '/detect',
      headers: R,
      payload: { picture: 'x' },
    });
    assert.equal(noImage.statusCode, 400);
    assert.match(json(noImage).error.message, /image/);
    const badName = await app.inject({
      method: 'POST',
      url: '/galleries',
      headers: A,
      payload: { name: '../x' },
    });
    assert.equal(badName.statusCode, 400);
    const badPath = await app.inject({ method: 'GET', url: '/galleries/..%2Fetc', headers: R });
    assert.equal(badPath.statusCode, 400);
    const dup = await app.inject({
      method: 'POST',
      url: '/galleries',
      headers: A,
      payload: { name: 'people' },
    });
    assert.equal(dup.statusCode, 409);
    assert.equal(json(dup).error.code, 'CONFLICT');
    const unknown = await app.inject({
      method: 'POST',
      url: '/galleries/nobody/identify',
      headers: R,
      payload: { image: b64('img1.jpg') },
    });
    assert.equal(unknown.statusCode, 404);
    assert.equal(json(unknown).error.code, 'NOT_FOUND');
    const route = await app.inject({ method: 'GET', url: '/nothing', headers: R });
    assert.equal(route.statusCode, 404);
    assert.equal(json(route).error.code, 'NOT_FOUND');
  });

  await t.test('uploads: judged by content, size-limited, no face is 422', async () => {
    const text = form([['image', Buffer.from('GIF? no: #!/bin/sh\nrm -rf /\n'), 'face.jpg']]);
    const r = await app.inject({
      method: 'POST',
      url: '/detect',
      headers: { ...R, ...text.headers },
      payload: text.payload,
    });
    assert.equal(r.statusCode, 415);
    assert.equal(json(r).error.code, 'UNSUPPORTED_MEDIA');
    const notB64 = await app.inject({
      method: 'POST',
      url: '/detect',
      headers: R,
      payload: { image: '*** not base64 ***' },
    });
    assert.equal(notB64.statusCode, 400);
    const small = await buildServer({ service, keys, maxUploadBytes: 20_000 });
    t.after(() => small.close());
    const big = photo('img1.jpg');
    assert.ok(big.length > 20_000);
    const mp = form([['image', big, 'img1.jpg']]);
    const tooBig = await small.inject({
      method: 'POST',
      url: '/detect',
      headers: { ...R, ...mp.headers },
      payload: mp.payload,
    });
    assert.equal(tooBig.statusCode, 413);
    assert.equal(json(tooBig).error.code, 'TOO_LARGE');
    const tooBigJson = await small.inject({
      method: 'POST',
      url: '/detect',
      headers: R,
      payload: { image: b64('img1.jpg') },
    });
    assert.equal(tooBigJson.statusCode, 413);
    const nf = await app.inject({
      method: 'POST',
      url: '/verify',
      headers: R,
      payload: { a: readFileSync(NOFACE).toString('base64'), b: b64('img1.jpg') },
    });
    assert.equal(nf.statusCode, 422);
    assert.equal(json(nf).error.code, 'NO_FACE');
  });

  await t.test('detect, embed, verify', async () => {
    const mp = form([['image', photo('couple.jpg'), 'couple.jpg']]);
    const d = json(
      await app.inject({
        method: 'POST',
        url: '/detect',
        headers: { ...R, ...mp.headers },
        payload: mp.payload,
      }),
    );
    assert.equal(d.faces.length, 2);
    assert.equal(d.faces[0].landmarks.length, 5);
    const area = (f: { box: { x1: number; x2: number; y1: number; y2: number } }) =>
      (f.box.x2 - f.box.x1) * (f.box.y2 - f.box.y1);
    assert.ok(area(d.faces[0]) >= area(d.faces[1])); // largest first
    const e = json(
      await app.inject({ method: 'POST', url: '/embed', headers: R, payload: { image: b64('img1.jpg') } }),
    );
    assert.equal(e.faces.length, 1);
    assert.equal(e.faces[0].embedding.length, 512);
    const norm = Math.hypot(...(e.faces[0].embedding as number[]));
    assert.ok(Math.abs(norm - 1) < 1e-4);
    const same = json(
      await app.inject({
        method: 'POST',
        url: '/verify',
        headers: R,
        payload: { a: b64('img1.jpg'), b: b64('img2.jpg') },
      }),
    );
    assert.equal(same.same, true);
    const diff = json(
      await app.inject({
        method: 'POST',
        url: '/verify',
        headers: R,
        payload: { a: b64('img1.jpg'), b: b64('img8.jpg') },
      }),
    );
    assert.equal(diff.same, false);
    assert.ok(diff.similarity < same.similarity);
  });

  const subjects: Record<string, number> = {};
  await t.test(
    'subjects and faces: create, enroll (multipart and JSON), list, crop, identify, verify, delete',
    async () => {
      for (const [ext, name] of [
        ['id01', 'Person One'],
        ['id02', 'Person Two'],
      ]) {
        const r = await app.inject({
          method: 'POST',
          url: '/galleries/people/subjects',
          headers: A,
          payload: { name, externalId: ext, metadata: { team: 'x' } },
        });
        assert.equal(r.statusCode, 201, r.body);
        subjects[ext] = json(r).id;
      }
      const mp = form([
        ['images', photo('img1.jpg'), 'a.jpg'],
        ['images', photo('img2.jpg'), 'b.jpg'],
      ]);
      const e1 = await app.inject({
        method: 'POST',
        url: `/galleries/people/subjects/${subjects.id01}/faces`,
        headers: { ...A, ...mp.headers },
        payload: mp.payload,
      });
      assert.equal(e1.statusCode, 201, e1.body);
      assert.equal(json(e1).faces.length, 2);
      const e2 = await app.inject({
        method: 'POST',
        url: `/galleries/people/subjects/${subjects.id02}/faces`,
        headers: A,
        payload: { images: [b64('img26.jpg'), b64('img27.jpg')] },
      });
      assert.equal(e2.statusCode, 201, e2.body);
      // enroll needs an admin key; a no-face image refuses the whole request (422), listing it.
      const ro = await app.inject({
        method: 'POST',
        url: `/galleries/people/subjects/${subjects.id02}/faces`,
        headers: R,
        payload: { images: [b64('img28.jpg')] },
      });
      assert.equal(ro.statusCode, 403);
      const nf = await app.inject({
        method: 'POST',
        url: `/galleries/people/subjects/${subjects.id02}/faces`,
        headers: A,
        payload: { images: [b64('img28.jpg'), readFileSync(NOFACE).toString('base64')] },
      });
      assert.equal(nf.statusCode, 422);
      assert.deepEqual(
        json(nf).error.failures.map((f: { image: string }) => f.image),
        ['images[1]'],
      );
      const faces = json(
        await app.inject({
          method: 'GET',
          url: `/galleries/people/subjects/${subjects.id02}/faces`,
          headers: R,
        }),
      ).faces;
      assert.equal(faces.length, 2); // nothing of the refused request was written
      assert.equal(faces[0].embedding, undefined);
      const crop = await app.inject({
        method: 'GET',
        url: `/galleries/people/subjects/${subjects.id02}/faces/${faces[0].id}/crop`,
        headers: R,
      });
      assert.equal(crop.statusCode, 200);
      assert.equal(crop.headers['content-type'], 'image/png');
      assert.equal(crop.rawPayload.readUInt32BE(16), 112);
      // A face id of another subject is not this subject's.
      const wrong = await app.inject({
        method: 'GET',
        url: `/galleries/people/subjects/${subjects.id01}/faces/${faces[0].id}/crop`,
        headers: R,
      });
      assert.equal(wrong.statusCode, 404);

      const id = json(
        await app.inject({
          method: 'POST',
          url: '/galleries/people/identify',
          headers: R,
          payload: { image: b64('img4.jpg') },
        }),
      );
      assert.equal(id.faces.length, 1);
      assert.equal(id.faces[0].subject.name, 'Person One');
      const stranger = json(
        await app.inject({
          method: 'POST',
          url: '/galleries/people/identify',
          headers: R,
          payload: { image: b64('img8.jpg') },
        }),
      );
      assert.equal(stranger.faces[0].subject, null);
      assert.equal(stranger.faces[0].candidates.length, 2);
      const v = json(
        await app.inject({
          method: 'POST',
          url: `/galleries/people/subjects/${subjects.id01}/verify`,
          headers: R,
          payload: { image: b64('img5.jpg') },
        }),
      );
      assert.equal(v.same, true);

      const g = json(await app.inject({ method: 'GET', url: '/galleries/people', headers: R }));
      assert.deepEqual([g.subjects, g.faces], [2, 4]);
      const delFace = await app.inject({
        method: 'DELETE',
        url: `/galleries/people/subjects/${subjects.id02}/faces/${faces[1].id}`,
        headers: A,
      });
      assert.equal(delFace.statusCode, 204);
      const s = json(
        await app.inject({ method: 'GET', url: `/galleries/people/subjects/${subjects.id02}`, headers: R }),
      );
      assert.equal(s.faces, 1);
      assert.deepEqual(s.metadata, { team: 'x' });
    },
  );

  await t.test(
    '50 concurrent identify and 10 concurrent enrolls on one gallery: all right, none lost',
    async () => {
      const before = json(await app.inject({ method: 'GET', url: '/galleries/people', headers: R })).faces;
      const probes = ['img4.jpg', 'img5.jpg', 'img42.jpg', 'img43.jpg', 'img8.jpg'];
      const expected: Record<string, string | null> = {
        'img4.jpg': 'id01',
        'img5.jpg': 'id01',
        'img42.jpg': 'id02',
        'img43.jpg': 'id02',
        'img8.jpg': null,
      };
      const payloads = Object.fromEntries(probes.map((p) => [p, b64(p)]));
      const identifies = Array.from({ length: 50 }, (_, i) => probes[i % probes.length]!).map(async (p) => {
        const r = await app.inject({
          method: 'POST',
          url: '/galleries/people/identify',
          headers: R,
          payload: { image: payloads[p] },
        });
        assert.equal(r.statusCode, 200, r.body);
        return [p, json(r).faces[0].subject?.externalId ?? null] as const;
      });
      const enrollFiles = ['img6.jpg', 'img7.jpg', 'img10.jpg', 'img11.jpg', 'img44.jpg'];
      const enrolls = Array.from({ length: 10 }, (_, i) => enrollFiles[i % enrollFiles.length]!).map(
        async (f) => {
          const who = f === 'img44.jpg' ? subjects.id02 : subjects.id01;
          const r = await app.inject({
            method: 'POST',
            url: `/galleries/people/subjects/${who}/faces`,
            headers: A,
            payload: { images: [b64(f)] },
          });
          assert.equal(r.statusCode, 201, r.body);
          return json(r).faces[0].faceId as number;
        },
      );
      const answers = await Promise.all(identifies);
      for (const [p, got] of answers) assert.equal(got, expected[p], `identify ${p}`);
      const ids = await Promise.all(enrolls);
      assert.equal(new Set(ids).size, 10);
      const after = json(await app.inject({ method: 'GET', url: '/galleries/people', headers: R })).faces;
      assert.equal(after, before + 10);
    },
  );

  await t.test('deleting a subject and a gallery: gone for good', async () => {
    const del = await app.inject({
      method: 'DELETE',
      url: `/galleries/people/subjects/${subjects.id02}`,
      headers: A,
    });
    assert.equal(del.statusCode, 204);
    const gone = await app.inject({
      method: 'GET',
      url: `/galleries/people/subjects/${subjects.id02}`,
      headers: R,
    });
    assert.equal(gone.statusCode, 404);
    const ro = await app.inject({ method: 'DELETE', url: '/galleries/people', headers: R });
    assert.equal(ro.statusCode, 403);
    assert.equal(
      (await app.inject({ method: 'DELETE', url: '/galleries/people', headers: A })).statusCode,
      204,
    );
    assert.equal((await app.inject({ method: 'GET', url: '/galleries/people', headers: R })).statusCode, 404);
  });

  await t.test('a request over the time limit is 503 TIMEOUT; the server goes on answering', async () => {
    // The same service behind a 1 ms limit: no photo is embedded that fast.
    const slow = await buildServer({ service, keys, requestTimeoutMs: 1, webDir: null });
    try {
      const r = await slow.inject({
        method: 'POST',
        url: '/embed',
        headers: R,
        payload: { image: b64('img1.jpg') },
      });
      assert.equal(r.statusCode, 503);
      assert.deepEqual(Object.keys(json(r).error).sort(), ['code', 'message']);
      assert.equal(json(r).error.code, 'TIMEOUT');
      assert.match(json(r).error.message, /over 1 ms/);
      // Cheap routes are not held to it, and the normal server is unaffected.
      assert.equal((await slow.inject({ method: 'GET', url: '/health' })).statusCode, 200);
    } finally {
      await slow.close();
    }
    const ok = await app.inject({
      method: 'POST',
      url: '/embed',
      headers: R,
      payload: { image: b64('img1.jpg') },
    });
    assert.equal(ok.statusCode, 200);
    assert.equal(json(ok).faces[0].embedding.length, 512);
  });
});
