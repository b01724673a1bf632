/**
 * Enroll and identify by embedding (src/server/embedding_routes.ts) through fastify.inject, on the
 * defaults `npm start` serves (dlib-resnet-v1 + faceapi) and real photos: a face enrolled by its
 * embedding is found by photo and by embedding, with the photo route's threshold, FAR and FPIR;
 * every bad body is refused with a 4xx naming the problem, and stores nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { encodeImage } from '../src/image/decode.js';
import { KeyStore, RecognitionService } from '../src/service/index.js';
import { buildServer } from '../src/server/index.js';
import { SHARED, skipUnless } from './helpers.js';

const FR = join(SHARED, 'data/faces/face_recognition/examples');
const OBAMA = join(FR, 'obama.jpg');
const OBAMA2 = join(FR, 'obama2.jpg');
const BIDEN = join(FR, 'biden.jpg');
const skip = skipUnless([OBAMA, OBAMA2, BIDEN], 'face_recognition example photos');

test('enroll and identify by embedding', { skip }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'arcface-emb-'));
  const service = await RecognitionService.open({ store: join(tmp, 'data') });
  const keys = new KeyStore(join(tmp, 'data', 'keys.json'));
  const app = await buildServer({ service, keys });
  t.after(async () => {
    await app.close();
    await service.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  const A = { 'x-api-key': keys.create('admin', 'admin').token };
  const R = { 'x-api-key': keys.create('recognise', 'reader').token };
  const model = service.model;
  const dim = service.dim;
  const json = (r: { body: string }) => JSON.parse(r.body);
  const post = (url: string, payload: unknown, headers = A) =>
    app.inject({ method: 'POST', url, headers, payload: payload as object });

  /** The largest face's embedding and aligned crop (PNG), as the browser makes them. */
  const embedOf = async (path: string) => {
    const r = await service.embed({ bytes: readFileSync(path), label: path });
    const img = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const rgb = { width: img.info.width, height: img.info.height, data: new Uint8Array(img.data) };
    const crop = await encodeImage(service.recognizer.align(rgb, r.faces[0]!.face), 'png');
    return { embedding: Array.from(r.faces[0]!.embedding), crop: crop.toString('base64') };
  };
  const [obama, obama2, biden] = await Promise.all([OBAMA, OBAMA2, BIDEN].map(embedOf));

  assert.equal((await post('/galleries', { name: 'g' })).statusCode, 201);
  const subject = json(await post('/galleries/g/subjects', { name: 'Barack Obama' }));
  const enrollUrl = `/galleries/g/subjects/${subject.id}/embeddings`;
  const faces = async () =>
    json(await app.inject({ method: 'GET', url: `/galleries/g/subjects/${subject.id}/faces`, headers: R }))
      .faces;

  await t.test('bad bodies: 4xx with a clear message, nothing stored', async () => {
    const e = obama.embedding;
    const jpeg = await sharp({ create: { width: 150, height: 150, channels: 3, background: 'red' } })
      .jpeg()
      .toBuffer();
    const cases: [string, unknown, number, RegExp][] = [
      [
        'another model',
        { model: 'arcface-r100', embeddings: [e] },
        409,
        /model 'arcface-r100'.*'dlib-resnet-v1'/,
      ],
      [
        'wrong length',
        { model, embeddings: [e.slice(1)] },
        400,
        new RegExp(`embeddings\\[0\\] has ${dim - 1} numbers.*${dim}-d`),
      ],
      ['zero vector', { model, embeddings: [e.map(() => 0)] }, 400, /embeddings\[0\] is a zero vector/],
      [
        'NaN (JSON null)',
        { model, embeddings: [[...e.slice(1), null]] },
        400,
        /embeddings\/0\/\d+ must be number/,
      ],
      ['a string', { model, embeddings: [[...e.slice(1), '1']] }, 400, /must be number/],
      ['not an array of arrays', { model, embeddings: [1, 2] }, 400, /embeddings\/0 must be array/],
      ['not an array', { model, embeddings: 'e' }, 400, /embeddings must be array/],
      ['none', { model, embeddings: [] }, 400, /embeddings must NOT have fewer than 1 items/],
      [
        'too many',
        { model, embeddings: Array(21).fill(e) },
        400,
        /embeddings must NOT have more than 20 items/,
      ],
      ['no model', { embeddings: [e] }, 400, /must have required property 'model'/],
      ['unknown field', { model, embeddings: [e], image: 'x' }, 400, /must NOT have additional properties/],
      [
        'crops miscounted',
        { model, embeddings: [e, e], crops: [obama.crop] },
        400,
        /1 crops for 2 embeddings/,
      ],
      [
        'crop not a PNG',
        { model, embeddings: [e], crops: [jpeg.toString('base64')] },
        415,
        /crops\[0\]: not a PNG/,
      ],
      ['crop not base64', { model, embeddings: [e], crops: ['%%%'] }, 400, /crops\[0\]: not base64/],
      [
        'crop too large',
        { model, embeddings: [e], crops: [Buffer.alloc(300 * 1024).toString('base64')] },
        400,
        /crops\/0 must NOT have more than/,
      ],
    ];
    const tiny = await sharp({ create: { width: 20, height: 20, channels: 3, background: 'red' } })
      .png()
      .toBuffer();
    cases.push([
      'crop of the wrong size',
      { model, embeddings: [e], crops: [tiny.toString('base64')] },
      400,
      /a 20x20 crop; model dlib-resnet-v1 takes 150x150/,
    ]);
    for (const [what, body, status, message] of cases) {
      const r = await post(enrollUrl, body);
      assert.equal(r.statusCode, status, `${what}: ${r.body}`);
      assert.match(json(r).error.message, message, what);
      // identify refuses the same embeddings the same way (crops aside: it takes none).
      if (!what.startsWith('crop') && !['unknown field', 'too many'].includes(what)) {
        const i = await post('/galleries/g/identify/embeddings', body, R);
        assert.equal(i.statusCode, status, `identify, ${what}: ${i.body}`);
      }
    }
    // JSON's 1e400 is Infinity once parsed; 1e39 is finite, but not as float32.
    for (const [big, message] of [
      ['1e400', /embeddings\/0\/0 must be number/],
      ['1e39', /embeddings\[0\]\[0\] is 1e\+39, not a finite number/],
    ] as const) {
      const raw = `{"model":"${model}","embeddings":[[${[big, ...e.slice(1)].join(',')}]]}`;
      const r = await app.inject({
        method: 'POST',
        url: enrollUrl,
        headers: { ...A, 'content-type': 'application/json' },
        payload: raw,
      });
      assert.equal(r.statusCode, 400, r.body);
      assert.match(json(r).error.message, message);
    }
    assert.equal(
      (await post('/galleries/nope/subjects/1/embeddings', { model, embeddings: [e] })).statusCode,
      404,
    );
    assert.equal(
      (await post('/galleries/g/subjects/999/embeddings', { model, embeddings: [e] })).statusCode,
      404,
    );
    assert.equal(
      (await post('/galleries/nope/identify/embeddings', { model, embeddings: [e] }, R)).statusCode,
      404,
    );
    // A read-only key may identify, not enroll.
    assert.equal((await post(enrollUrl, { model, embeddings: [e] }, R)).statusCode, 403);
    assert.deepEqual(await faces(), []);
  });

  await t.test('enrolled by embedding (crop chosen), identified by photo and by embedding', async () => {
    const r = await post(enrollUrl, { model, embeddings: [obama.embedding], crops: [obama.crop] });
    assert.equal(r.statusCode, 201, r.body);
    const out = json(r);
    assert.equal(out.subject.faces, 1);
    assert.equal(out.faces[0].hasCrop, true);
    const crop = await app.inject({
      method: 'GET',
      url: `/galleries/g/subjects/${subject.id}/faces/${out.faces[0].faceId}/crop`,
      headers: R,
    });
    assert.equal(crop.headers['content-type'], 'image/png');
    assert.equal(crop.rawPayload.toString('base64'), obama.crop);

    // A face without a crop: stored, and says it has none.
    const other = json(await post('/galleries/g/subjects', { name: 'Joe Biden' }));
    const b = json(
      await post(`/galleries/g/subjects/${other.id}/embeddings`, { model, embeddings: [biden.embedding] }),
    );
    assert.equal(b.faces[0].hasCrop, false);

    // Photo identify of another photo of the person enrolled by embedding names them.
    const byPhoto = json(
      await post('/galleries/g/identify', { image: readFileSync(OBAMA2).toString('base64') }, R),
    );
    assert.equal(byPhoto.faces[0].subject?.name, 'Barack Obama');

    const byEmb = json(
      await post(
        '/galleries/g/identify/embeddings',
        {
          model,
          embeddings: [obama2.embedding],
          imageSha256: byPhoto.imageSha256,
          boxes: [byPhoto.faces[0].box],
        },
        R,
      ),
    );
    // The same rule, numbers and answer as the photo route.
    for (const k of ['gallery', 'model', 'threshold', 'thresholdRule', 'fpirTarget', 'enrolled'])
      assert.deepEqual(byEmb[k], byPhoto[k], k);
    const [fe, fp] = [byEmb.faces[0], byPhoto.faces[0]];
    assert.equal(fe.subject.name, 'Barack Obama');
    assert.ok(Math.abs(fe.score - fp.score) < 1e-6, `${fe.score} vs ${fp.score}`);
    assert.ok(Math.abs(fe.far - fp.far) < 1e-9);
    assert.ok(Math.abs(fe.fpir - fp.fpir) < 1e-9);
    assert.deepEqual(fe.box, fp.box);
    assert.ok(fe.score >= byEmb.threshold && fe.far < 0.01);

    // Identify by embedding of a stranger to the gallery: someone only when they are enrolled.
    await app.inject({ method: 'DELETE', url: `/galleries/g/subjects/${other.id}`, headers: A });
    const stranger = json(
      await post('/galleries/g/identify/embeddings', { model, embeddings: [biden.embedding] }, R),
    );
    assert.equal(stranger.faces[0].subject, null);
    assert.ok(stranger.faces[0].score < stranger.threshold);
    assert.equal(stranger.enrolled, 1);

    // Several faces at once, each answered in order.
    const two = json(
      await post(
        '/galleries/g/identify/embeddings',
        { model, embeddings: [biden.embedding, obama2.embedding] },
        R,
      ),
    );
    assert.deepEqual(
      two.faces.map((f: { subject: { name: string } | null }) => f.subject?.name ?? null),
      [null, 'Barack Obama'],
    );
  });

  await t.test('corrections of the photo hold for its embeddings too', async () => {
    const photo = readFileSync(OBAMA2);
    const byPhoto = json(await post('/galleries/g/identify', { image: photo.toString('base64') }, R));
    const {
      imageSha256,
      faces: [f],
    } = byPhoto;
    const c = await post('/galleries/g/corrections', { subjectId: subject.id, imageSha256, box: f.box });
    assert.equal(c.statusCode, 201, c.body);
    const body = { model, embeddings: [obama2.embedding] };
    const corrected = json(
      await post('/galleries/g/identify/embeddings', { ...body, imageSha256, boxes: [f.box] }, R),
    );
    assert.equal(corrected.faces[0].subject, null);
    // Without naming the photo, the embedding alone is still answered.
    assert.equal(
      json(await post('/galleries/g/identify/embeddings', body, R)).faces[0].subject.name,
      'Barack Obama',
    );
    const miscounted = await post(
      '/galleries/g/identify/embeddings',
      { ...body, imageSha256, boxes: [f.box, f.box] },
      R,
    );
    assert.equal(miscounted.statusCode, 400);
    assert.match(json(miscounted).error.message, /2 boxes for 1 embeddings/);
  });

  await t.test('a read-only key may not loosen the threshold', async () => {
    const r = await post(
      '/galleries/g/identify/embeddings',
      { model, embeddings: [biden.embedding], threshold: -1 },
      R,
    );
    assert.equal(r.statusCode, 403);
    assert.match(json(r).error.message, /stricter, not looser/);
    const loose = json(
      await post('/galleries/g/identify/embeddings', { model, embeddings: [biden.embedding], threshold: -1 }),
    );
    assert.equal(loose.faces[0].subject.name, 'Barack Obama');
  });

  await t.test('OpenAPI documents both routes', async () => {
    const doc = json(await app.inject({ method: 'GET', url: '/openapi.json' }));
    const enroll = doc.paths['/galleries/{gallery}/subjects/{subject}/embeddings'].post;
    const identify = doc.paths['/galleries/{gallery}/identify/embeddings'].post;
    assert.deepEqual(enroll.requestBody.content['application/json'].schema.required, ['model', 'embeddings']);
    assert.ok(identify.requestBody.content['application/json'].schema.properties.fpir);
  });
});
