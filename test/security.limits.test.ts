/**
 * Bounded work per request (issue 12, part 3), over a real socket: an image whose header says it is
 * absurdly long is refused from the header alone; a request over the time limit gets its 503 JSON
 * (not a closed socket) and its work stops at the next stage; a burst of 200 identifies is all
 * answered, 200 or 503 with Retry-After, while the server's memory stays bounded. The work queue
 * itself is checked without a server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { readImageHeader, sizeProblem } from '../src/image/decode.js';
import { KeyStore, RecognitionService } from '../src/service/index.js';
import { startServer } from '../src/server/index.js';

const SHARED = join(import.meta.dirname, '../../shared');
const DF = join(SHARED, 'data/faces/deepface/tests/unit/dataset');
const MODEL = join(SHARED, 'models/recognizers/w600k-mbf-int8/w600k_mbf_int8.onnx');
const skip = [DF, MODEL].every(existsSync)
  ? false
  : '../shared (deepface photos, w600k recogniser) is absent: request limit tests skipped';
const tmp = mkdtempSync(join(tmpdir(), 'arcface-limits-'));

/** A grey PNG of w x h black pixels, by hand: 1 x 49,000,000 deflates to ~95 KB (sharp takes ~50 s). */
function blackPng(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth; colour type 0 (grey), no interlace
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc((w + 1) * h), { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

interface Answer {
  status: number; // 0: the socket closed with no HTTP answer
  retryAfter?: string;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
  ms: number;
}

/** One POST over its own connection; never throws: a closed socket is status 0. */
function post(
  base: string,
  path: string,
  payload: Buffer,
  key: string,
  type = 'application/json',
): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(
      new URL(path, base),
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': type, 'content-length': payload.length, 'x-api-key': key },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => resolve({ status: 0, body: {}, ms: performance.now() - t0 }));
        res.on('end', () => {
          let body = {};
          try {
            body = JSON.parse(Buffer.concat(chunks).toString());
          } catch {
            /* not JSON: asserted by the caller through body.error */
          }
          const ra = res.headers['retry-after'];
          resolve({ status: res.statusCode ?? 0, retryAfter: ra, body, ms: performance.now() - t0 });
        });
      },
    );
    req.on('error', () => resolve({ status: 0, body: {}, ms: performance.now() - t0 }));
    req.end(payload);
  });
}

const jsonImage = (bytes: Buffer): Buffer => Buffer.from(JSON.stringify({ image: bytes.toString('base64') }));

test('the side cap: 16384 px, raised with the pixel cap so no square it allows is refused', () => {
  assert.match(sizeProblem(1, 49_000_000) ?? '', /1x49000000 has a side over the 16384-pixel limit/);
  assert.equal(sizeProblem(16_384, 3000), null);
  assert.equal(sizeProblem(20_000, 20_000, 400_000_000), null);
  assert.match(sizeProblem(40_000, 10, 400_000_000) ?? '', /over the 20000-pixel limit/);
});

test('the work queue: a bounded wait, BUSY when full, a slot held until its work settles', async () => {
  const { WorkQueue } = await import('../src/service/queue.js');
  const q = new WorkQueue({ concurrency: 1, queue: 1 });
  let release!: () => void;
  const first = q.run(
    () => new Promise<string>((r) => (release = () => r('first'))),
    new AbortController().signal,
  );
  const ac = new AbortController();
  let ran = false;
  const second = q.run(async () => {
    ran = true;
  }, ac.signal);
  // One working, one waiting: a third is refused at once.
  await assert.rejects(
    q.run(async () => 'third', new AbortController().signal),
    (e: Error & { kind?: string }) => e.kind === 'BUSY' && /busy/.test(e.message),
  );
  // The waiting one is aborted (its request timed out): it leaves the queue and never runs.
  ac.abort(new Error('timed out'));
  await assert.rejects(second, /timed out/);
  assert.deepEqual([q.running, q.waiting], [1, 0]);
  const third = q.run(async () => 'third', new AbortController().signal);
  assert.equal(q.waiting, 1);
  release();
  assert.deepEqual(await Promise.all([first, third]), ['first', 'third']);
  assert.equal(ran, false);
  assert.deepEqual([q.running, q.waiting], [0, 0]);
  assert.ok(q.retryAfterSeconds() >= 1);
});

test('request limits over a real socket', { skip }, async (t) => {
  const service = await RecognitionService.open({ store: join(tmp, 'data'), recognizer: { model: MODEL } });
  const keys = new KeyStore(join(tmp, 'keys.json'));
  const key = keys.create('admin', 'limits test').token;
  const limits = { concurrency: 1, queue: 8, requestTimeoutMs: 3000, maxUploadBytes: 1 << 20 };
  const { app, url } = await startServer({ service, keys, port: 0, webDir: null, ...limits });
  t.after(async () => {
    await app.close();
    await service.close();
  });
  await service.enroll('people', { externalId: 'p1' }, [join(DF, 'img1.jpg')], { createGallery: true });

  // Spies on the pipeline's stages: the detector (held on demand) and the embedder.
  const rec = service.recognizer;
  const detector = rec.detector.bind(rec);
  const embedCrops = rec.embedCrops.bind(rec);
  let detects = 0;
  let embeds = 0;
  let hold: Promise<void> | null = null;
  let held: (() => void) | null = null;
  rec.detector = async () => {
    detects++;
    if (hold) {
      const h = hold;
      hold = null;
      held?.();
      await h;
    }
    return detector();
  };
  rec.embedCrops = async (crops) => {
    embeds++;
    return embedCrops(crops);
  };

  await t.test('a 1 x 49,000,000 PNG is refused with 413 from its header, never decoded', async () => {
    const tall = blackPng(1, 49_000_000);
    assert.ok(tall.length < 120_000, `${tall.length} bytes`);
    await assert.rejects(readImageHeader(tall, { name: 'tall.png' }), /tall\.png: 1x49000000 .*side/);
    const before = detects;
    const r = await post(url, '/embed', jsonImage(tall), key);
    assert.equal(r.status, 413, JSON.stringify(r.body));
    assert.equal(r.body.error?.code, 'TOO_LARGE');
    assert.match(r.body.error!.message, /1x49000000 .*16384/);
    // Decoding it costs about a minute of CPU; the header alone takes milliseconds.
    assert.ok(r.ms < 3000, `answered in ${r.ms.toFixed(0)} ms`);
    assert.equal(detects, before, 'the detector never saw it');
  });

  await t.test('a multipart body over the body limit is refused with 413 before it is read', async () => {
    // Three files, each under the 1 MiB upload limit, together over the ~2.9 MB body limit.
    const boundary = 'limits-test-boundary';
    const file = (i: number) =>
      Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="${i}.jpg"\r\n` +
            'Content-Type: image/jpeg\r\n\r\n',
        ),
        Buffer.alloc(1_000_000, 0xff),
        Buffer.from('\r\n'),
      ]);
    const body = Buffer.concat([file(1), file(2), file(3), Buffer.from(`--${boundary}--\r\n`)]);
    const type = `multipart/form-data; boundary=${boundary}`;
    const r = await post(url, '/galleries/people/subjects/1/faces', body, key, type);
    assert.equal(r.status, 413, JSON.stringify(r.body));
    assert.equal(r.body.error?.code, 'TOO_LARGE');
    assert.match(r.body.error!.message, /request body is 300\d+ bytes, over the \d+-byte limit/);
  });

  await t.test('over the time limit: 503 TIMEOUT JSON over the socket, and the work stops', async () => {
    const photo = jsonImage(readFileSync(join(DF, 'img2.jpg')));
    let release!: () => void;
    hold = new Promise((r) => (release = r));
    const reached = new Promise<void>((r) => (held = r));
    const embedsBefore = embeds;
    try {
      const slow = post(url, '/galleries/people/identify', photo, key);
      await reached; // the request is inside the detector stage, held there past its 3 s limit
      const r = await slow;
      assert.equal(r.status, 503, `status ${r.status} (0: the socket closed with no answer)`);
      assert.deepEqual(Object.keys(r.body.error ?? {}).sort(), ['code', 'message']);
      assert.equal(r.body.error?.code, 'TIMEOUT');
      assert.ok(Number(r.retryAfter) >= 1, `Retry-After: ${r.retryAfter}`);
    } finally {
      release();
    }
    // Concurrency 1: this request starts only once the timed-out work has settled.
    const next = await post(url, '/galleries/people/identify', photo, key);
    assert.equal(next.status, 200, JSON.stringify(next.body));
    assert.equal(embeds - embedsBefore, 1, 'the timed-out request never reached the embedder');
  });

  await t.test('200 concurrent identifies: every one answered, 200 or 503 + Retry-After', async () => {
    const photo = jsonImage(readFileSync(join(DF, 'img2.jpg')));
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => post(url, '/galleries/people/identify', photo, key)),
    );
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    const count = (s: number) => answers.filter((a) => a.status === s).length;
    const busy = answers.filter((a) => a.body.error?.code === 'BUSY').length;
    const slowest = Math.max(...answers.map((a) => a.ms)).toFixed(0);
    const grew = ((peak - base) / 2 ** 20).toFixed(0);
    t.diagnostic(`200: ${count(200)}, 503: ${count(503)} (${busy} BUSY), rss +${grew} MiB, ${slowest} ms`);
    for (const a of answers) {
      assert.ok(a.status === 200 || a.status === 503, `status ${a.status} (0: dropped)`);
      if (a.status === 503) {
        assert.ok(['BUSY', 'TIMEOUT'].includes(a.body.error?.code ?? ''), JSON.stringify(a.body));
        assert.ok(Number(a.retryAfter) >= 1, `Retry-After: ${a.retryAfter}`);
      }
    }
    assert.ok(count(200) >= 1);
    assert.ok(
      answers.some((a) => a.body.error?.code === 'BUSY'),
      'the queue refused some',
    );
    // The bound (src/server/limits.ts): (concurrency + queue) x 2.5 x the body limit, here
    // 9 x 2.5 x 2.9 MB = 65 MB, + concurrency x 8 bytes x the pixels decoded (1536x1152: 14 MB),
    // + sockets and garbage: under 200 MiB. Today's main holds 200 bodies and decoded photos: +800 MiB.
    assert.ok(peak - base < 200 * 2 ** 20, `rss grew by ${((peak - base) / 2 ** 20).toFixed(0)} MiB`);
  });
});
