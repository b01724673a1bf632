/**
 * A small seeded fuzz run against the real routes (fastify.inject): a few hundred mutated inputs made
 * from real photos in ../shared (JPEG and PNG byte flips, truncations, mangled headers), broken
 * multipart bodies, and JSON bodies with wrong types, huge numbers, deep nesting and odd Unicode.
 * No answer may be a 5xx, every error has the API's shape, and the server still answers /health and
 * a normal verify correctly at the end. The seed is printed; ARCFACE_FUZZ_SEED=N repeats a run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { KeyStore, RecognitionService } from '../src/service/index.js';
import { buildServer } from '../src/server/index.js';
import { rng } from '../src/util/random.js';

const SHARED = join(import.meta.dirname, '../../shared');
const DF = join(SHARED, 'data/faces/deepface/tests/unit/dataset');
const OF = join(SHARED, 'data/faces/openface/images');
const MODEL = join(SHARED, 'models/recognizers/w600k-mbf-int8/w600k_mbf_int8.onnx');
// YuNet detects in a few ms: the mutated photos that do decode stay cheap to look at.
const YUNET = join(SHARED, 'models/detectors/yunet/face_detection_yunet_2023mar.onnx');
const skip = [DF, OF, MODEL, YUNET].every(existsSync)
  ? false
  : '../shared (deepface and openface photos, w600k recogniser, YuNet) is absent: fuzz run skipped';
const SEED = Number(process.env.ARCFACE_FUZZ_SEED ?? 20240612);
const CASES = { image: 180, multipart: 110, json: 130 };

type Inject = {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  payload?: unknown;
};
type Case = Inject & { what: string };

test('seeded fuzz: no 5xx, and the server still answers right afterwards', { skip }, async (t) => {
  t.diagnostic(`fuzz seed ${SEED} (ARCFACE_FUZZ_SEED=${SEED} repeats this run)`);
  console.log(`# fuzz seed ${SEED}`);
  const random = rng(SEED);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

  const resize = async (file: string, width: number, opts: { png?: boolean; progressive?: boolean } = {}) => {
    const s = sharp(readFileSync(file)).resize({ width }).withMetadata();
    return opts.png ? s.png().toBuffer() : s.jpeg({ progressive: opts.progressive }).toBuffer();
  };
  // Real files byte for byte where small, else small re-encodings (baseline, progressive, EXIF, PNG).
  const seeds = [
    readFileSync(join(OF, 'examples/clapton-2.jpg')),
    readFileSync(join(OF, 'examples-aligned/carell.png')),
    await resize(join(OF, 'examples/carell.jpg'), 160),
    await resize(join(OF, 'examples/lennon-1.jpg'), 160, { progressive: true }),
    await resize(join(DF, 'img1.jpg'), 160, { png: true }),
  ];
  const probe = {
    a: await resize(join(DF, 'img1.jpg'), 320),
    same: await resize(join(DF, 'img2.jpg'), 320),
    other: await resize(join(DF, 'img3.jpg'), 320),
  };

  const tmp = mkdtempSync(join(tmpdir(), 'arcface-fuzz-'));
  // A small pixel cap and few faces: most mutations fail at sniff or decode, the rest stay cheap.
  const service = await RecognitionService.open({
    store: join(tmp, 'data'),
    recognizer: { model: MODEL, detector: `yunet:${YUNET}` },
    maxPixels: 1_000_000,
    maxFaces: 3,
  });
  const keys = new KeyStore(join(tmp, 'data', 'keys.json'));
  const app = await buildServer({ service, keys, webDir: null, maxUploadBytes: 256 * 1024 });
  t.after(async () => {
    await app.close();
    await service.close();
  });
  const A = { 'x-api-key': keys.create('admin').token };
  const R = { 'x-api-key': keys.create('recognise').token };
  const ok = async (c: Inject, status: number) => {
    const r = await app.inject(c as never);
    assert.equal(r.statusCode, status, r.body);
    return JSON.parse(r.body);
  };
  await ok({ method: 'POST', url: '/galleries', headers: A, payload: { name: 'fz' } }, 201);
  const sid = (
    await ok({ method: 'POST', url: '/galleries/fz/subjects', headers: A, payload: { name: 'one' } }, 201)
  ).id as number;
  await ok(
    {
      method: 'POST',
      url: `/galleries/fz/subjects/${sid}/faces`,
      headers: A,
      payload: { images: [probe.a.toString('base64')] },
    },
    201,
  );

  // ---- mutations ---------------------------------------------------------------------------------

  const flip = (b: Buffer, n: number, within = b.length) => {
    const out = Buffer.from(b);
    for (let i = 0; i < n; i++) out[int(Math.min(within, out.length))] ^= 1 << int(8);
    return out;
  };
  const be16 = (b: Buffer, at: number, v: number) => at + 2 <= b.length && b.writeUInt16BE(v & 0xffff, at);
  /** JPEG: the SOF's height/width, or a segment length; PNG: IHDR's width/height (CRC left stale). */
  const mangleHeader = (b: Buffer): Buffer => {
    const out = Buffer.from(b);
    if (out[0] === 0x89) {
      out.writeUInt32BE(pick([0, 1, 0x7fffffff, 0xffffffff, 50_000, int(1 << 20)]), pick([16, 20]));
      return out;
    }
    const sof = out.findIndex((x, i) => x === 0xff && (out[i + 1] === 0xc0 || out[i + 1] === 0xc2));
    const what = int(3);
    if (what === 0 && sof > 0) be16(out, sof + 5 + 2 * int(2), pick([0, 1, 0xffff, 40_000, int(0x10000)]));
    else if (what === 1)
      be16(out, 4, pick([0, 1, 2, 0xffff, int(0x10000)])); // APP0/APP1 length
    else out[1] = pick([0xd9, 0xc4, 0xdb, 0x00]); // not SOI
    return out;
  };
  const imageMutations: [string, (b: Buffer) => Buffer][] = [
    ['flip bytes', (b) => flip(b, 1 + int(20))],
    ['flip header bytes', (b) => flip(b, 1 + int(4), 64)],
    ['truncate', (b) => b.subarray(0, int(b.length))],
    ['truncate early', (b) => b.subarray(0, int(200))],
    ['mangle header', mangleHeader],
    [
      'splice garbage',
      (b) => Buffer.concat([b.subarray(0, int(b.length)), flip(Buffer.alloc(1 + int(300)), 40)]),
    ],
    [
      'repeat a chunk',
      (b) => ((i) => Buffer.concat([b.subarray(0, i), b.subarray(i / 2, i), b.subarray(i)]))(int(b.length)),
    ],
    ['magic only', (b) => b.subarray(0, pick([2, 3, 4, 8, 12]))],
    ['zeroed tail', (b) => Buffer.concat([b.subarray(0, int(b.length)), Buffer.alloc(int(2000))])],
  ];
  // Detection only, most often: the routes that also embed cost more per decodable mutation.
  const detect = (img: string): Inject => ({
    method: 'POST',
    url: '/detect',
    headers: R,
    payload: { image: img },
  });
  const imageRoutes = [
    detect,
    detect,
    detect,
    (img: string): Inject => ({ method: 'POST', url: '/embed', headers: R, payload: { image: img } }),
    (img: string): Inject => ({
      method: 'POST',
      url: '/verify',
      headers: R,
      payload: { a: img, b: probe.a.toString('base64') },
    }),
    (img: string): Inject => ({
      method: 'POST',
      url: '/galleries/fz/identify',
      headers: R,
      payload: { image: img },
    }),
    (img: string): Inject => ({
      method: 'POST',
      url: `/galleries/fz/subjects/${sid}/verify`,
      headers: R,
      payload: { image: img },
    }),
    (img: string): Inject => ({
      method: 'POST',
      url: `/galleries/fz/subjects/${sid}/faces`,
      headers: A,
      payload: { images: [img], partial: random() < 0.5 },
    }),
  ];

  const BOUNDARY = 'fuzzBoundary7MA4YWxk';
  const multipart = (parts: [string, Buffer | string, string?][], boundary = BOUNDARY) =>
    Buffer.concat([
      ...parts.flatMap(([name, value, filename]) => [
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"` +
            (filename ? `; filename="${filename}"\r\nContent-Type: image/jpeg` : '') +
            '\r\n\r\n',
        ),
        Buffer.isBuffer(value) ? value : Buffer.from(value),
        Buffer.from('\r\n'),
      ]),
      Buffer.from(`--${boundary}--\r\n`),
    ]);
  const multipartMutations: [string, () => { body: Buffer; type: string }][] = [
    [
      'no boundary',
      () => ({ body: multipart([['image', pick(seeds), 'a.jpg']]), type: 'multipart/form-data' }),
    ],
    [
      'wrong boundary',
      () => ({
        body: multipart([['image', pick(seeds), 'a.jpg']]),
        type: 'multipart/form-data; boundary=other',
      }),
    ],
    [
      'empty boundary',
      () => ({ body: multipart([['image', pick(seeds), 'a.jpg']]), type: 'multipart/form-data; boundary=' }),
    ],
    [
      'long boundary',
      () =>
        ((b) => ({
          body: multipart([['image', pick(seeds), 'a.jpg']], b),
          type: `multipart/form-data; boundary=${b}`,
        }))('x'.repeat(100 + int(400))),
    ],
    [
      'quoted boundary',
      () => ({
        body: multipart([['image', pick(seeds), 'a.jpg']]),
        type: `multipart/form-data; boundary="${BOUNDARY}"; charset=utf-8`,
      }),
    ],
    [
      'truncated',
      () =>
        ((b) => ({ body: b.subarray(0, int(b.length)), type: `multipart/form-data; boundary=${BOUNDARY}` }))(
          multipart([['image', pick(seeds), 'a.jpg']]),
        ),
    ],
    [
      'flipped framing',
      () => ({
        body: flip(multipart([['image', pick(seeds), 'a.jpg']]), 1 + int(6), 120),
        type: `multipart/form-data; boundary=${BOUNDARY}`,
      }),
    ],
    [
      'garbage',
      () => ({
        body: flip(Buffer.alloc(int(4000)), 3000),
        type: `multipart/form-data; boundary=${BOUNDARY}`,
      }),
    ],
    [
      'no part headers',
      () => ({
        body: Buffer.from(`--${BOUNDARY}\r\n\r\nhello\r\n--${BOUNDARY}--\r\n`),
        type: `multipart/form-data; boundary=${BOUNDARY}`,
      }),
    ],
    [
      'endless header',
      () => ({
        body: Buffer.from(
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"${'x'.repeat(int(100_000))}`,
        ),
        type: `multipart/form-data; boundary=${BOUNDARY}`,
      }),
    ],
    [
      'odd field names',
      () => ({
        body: multipart([
          [pick(['__proto__', 'constructor', 'images', 'a', '', 'image"; x="y']), pick(seeds), 'a.jpg'],
          ['image', pick(seeds), 'b.jpg'],
        ]),
        type: `multipart/form-data; boundary=${BOUNDARY}`,
      }),
    ],
    [
      'typed text fields',
      () => ({
        body: multipart([
          ['a', pick(seeds), 'a.jpg'],
          ['b', pick(seeds), 'b.jpg'],
          [
            pick(['threshold', 'crops', 'k', 'fpir', 'partial']),
            pick(['0.5', 'true', 'abc', '', '1e400', '-0', '0x1', 'null', '[]', '9'.repeat(400)]),
          ],
        ]),
        type: `multipart/form-data; boundary=${BOUNDARY}`,
      }),
    ],
    [
      'many parts',
      () => ({
        body: multipart(
          Array.from(
            { length: 30 + int(40) },
            (_, i) => ['images', Buffer.from(`x${i}`), `${i}.jpg`] as [string, Buffer, string],
          ),
        ),
        type: `multipart/form-data; boundary=${BOUNDARY}`,
      }),
    ],
    [
      'other multipart type',
      () => ({
        body: multipart([['image', pick(seeds), 'a.jpg']]),
        type:
          pick(['multipart/mixed', 'multipart/related', 'multipart/form-data2']) + `; boundary=${BOUNDARY}`,
      }),
    ],
  ];
  const multipartUrls = () =>
    pick([
      { url: '/detect', headers: R },
      { url: '/verify', headers: R },
      { url: '/galleries/fz/identify', headers: R },
      { url: `/galleries/fz/subjects/${sid}/faces`, headers: A },
    ]);

  const deep = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;
  const oddStrings = [
    '',
    ' ',
    'a\u202Eb',
    'x\ud800y',
    '\udfff',
    'e\u0301'.repeat(50),
    'a' + '\u0301'.repeat(5000),
    '😀'.repeat(250),
    '\u0000\u0007',
    'x'.repeat(70_000),
    '../../etc/passwd',
    '%00',
    '\u2028',
    '\ufeff',
  ];
  const oddValues = (): string =>
    pick([
      'null',
      'true',
      '[]',
      '{}',
      '0',
      '-0',
      '-1',
      '1e308',
      '1e400',
      '-1e400',
      '9007199254740993',
      '123456789012345678901234567890',
      '0.1e-400',
      deep(1 + int(6000)),
      `{"${'__proto__'}": {"x": 1}}`,
      JSON.stringify(pick(oddStrings)),
      '"\\ud83d"',
    ]);
  const jsonCase = (): Case => {
    const r = int(6);
    if (r === 0) {
      const field = pick(['image', 'k', 'threshold', 'fpir', 'aggregate']);
      const body = `{"image": ${random() < 0.5 ? JSON.stringify(pick(seeds).toString('base64')) : oddValues()}, "${field}": ${oddValues()}}`;
      return {
        what: `identify ${field}`,
        method: 'POST',
        url: '/galleries/fz/identify',
        headers: R,
        payload: body,
      };
    }
    if (r === 1) {
      const field = pick(['name', 'externalId', 'metadata', 'extra']);
      const body = `{"name": ${random() < 0.5 ? '"x"' : oddValues()}, "${field}": ${oddValues()}}`;
      return {
        what: `add subject ${field}`,
        method: 'POST',
        url: '/galleries/fz/subjects',
        headers: A,
        payload: body,
      };
    }
    if (r === 2) {
      const body = `{"a": ${oddValues()}, "b": ${oddValues()}, "threshold": ${oddValues()}, "crops": ${oddValues()}}`;
      return { what: 'verify types', method: 'POST', url: '/verify', headers: R, payload: body };
    }
    if (r === 3) {
      const id = pick([
        '0',
        '-1',
        '1e400',
        '9223372036854775808',
        '0x10',
        '9.0',
        '01',
        '%20',
        '%00',
        '1;',
        'NaN',
        String(sid),
      ]);
      const g = pick(['fz', 'FZ', '..%2F', '%F0%9F%98%80', 'x'.repeat(70), 'fz%00']);
      const path = pick([
        `/galleries/${g}/subjects/${id}`,
        `/galleries/${g}/subjects/${id}/faces/${id}/crop`,
        `/galleries/${g}/subjects/${id}/faces`,
      ]);
      return {
        what: `url ${path.slice(0, 60)}`,
        method: pick(['GET', 'DELETE'] as const),
        url: path,
        headers: random() < 0.8 ? R : A,
      };
    }
    if (r === 4) {
      const text = JSON.stringify({ images: [pick(seeds).toString('base64')], partial: false });
      const raw = Buffer.from(text);
      const body = random() < 0.5 ? raw.subarray(0, int(raw.length)) : flip(raw, 1 + int(5));
      return {
        what: 'broken JSON text',
        method: 'POST',
        url: `/galleries/fz/subjects/${sid}/faces`,
        headers: {
          ...A,
          'content-type': pick(['application/json', 'application/json; charset=utf-16', 'text/plain']),
        },
        payload: body,
      };
    }
    const name = pick(oddStrings.filter((s) => s.length < 100));
    return {
      what: 'create gallery',
      method: 'POST',
      url: '/galleries',
      headers: A,
      payload: JSON.stringify({ name }),
    };
  };

  // ---- the run -----------------------------------------------------------------------------------

  const cases: Case[] = [];
  for (let i = 0; i < CASES.image; i++) {
    const [what, mutate] = pick(imageMutations);
    const bytes = mutate(pick(seeds));
    const route = pick(imageRoutes);
    const viaForm = random() < 0.3 && route('').url !== '/verify';
    const c = route(bytes.toString('base64'));
    if (viaForm) {
      const field = c.url.endsWith('/faces') ? 'images' : 'image';
      c.payload = multipart([[field, bytes, 'photo.jpg']]);
      c.headers = { ...c.headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
    }
    cases.push({ ...c, what: `image ${what} -> ${c.url}${viaForm ? ' (multipart)' : ''}` });
  }
  for (let i = 0; i < CASES.multipart; i++) {
    const [what, make] = pick(multipartMutations);
    const { body, type } = make();
    const { url, headers } = multipartUrls();
    cases.push({
      what: `multipart ${what} -> ${url}`,
      method: 'POST',
      url,
      headers: { ...headers, 'content-type': type },
      payload: body,
    });
  }
  for (let i = 0; i < CASES.json; i++) {
    const c = jsonCase();
    if (typeof c.payload === 'string' && !c.headers['content-type'])
      c.headers = { ...c.headers, 'content-type': 'application/json' };
    cases.push(c);
  }

  const statuses = new Map<number, number>();
  const failures: string[] = [];
  /** The answer, or null when there is none in 30 s (a hung parser): a failure, not a stuck run. */
  const answer = async (c: Case) => {
    let timer: NodeJS.Timeout | undefined;
    const none = new Promise<null>((resolve) => (timer = setTimeout(resolve, 30_000, null)));
    const r = await Promise.race([app.inject(c as never), none]);
    clearTimeout(timer);
    return r;
  };
  for (const [i, c] of cases.entries()) {
    const where = `case ${i} (seed ${SEED}): ${c.what}`;
    const r = await answer(c);
    if (!r) {
      failures.push(`${where}: no answer in 30 s`);
      continue;
    }
    statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    if (r.statusCode >= 500) failures.push(`${where}: ${r.statusCode} ${r.body.slice(0, 300)}`);
    else if (r.statusCode >= 400) {
      const body = JSON.parse(r.body) as { error?: { code?: unknown; message?: unknown } };
      if (typeof body.error?.code !== 'string' || typeof body.error?.message !== 'string')
        failures.push(`${where}: ${r.statusCode} without the error shape: ${r.body.slice(0, 300)}`);
      else if (/\/tmp\/|arcface-fuzz-/.test(body.error.message))
        failures.push(`${where}: a path in ${r.body}`);
    }
  }
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases failed`);
  assert.equal(cases.length, CASES.image + CASES.multipart + CASES.json);

  // Still healthy, still right.
  assert.equal((await ok({ method: 'GET', url: '/health', headers: {} }, 200)).status, 'ok');
  const verify = (b: Buffer) =>
    ok(
      {
        method: 'POST',
        url: '/verify',
        headers: R,
        payload: { a: probe.a.toString('base64'), b: b.toString('base64') },
      },
      200,
    );
  assert.equal((await verify(probe.same)).same, true);
  assert.equal((await verify(probe.other)).same, false);
  const s = await ok({ method: 'GET', url: `/galleries/fz/subjects/${sid}`, headers: R }, 200);
  assert.equal(s.name, 'one');
});
