/**
 * arcface/browser in a real headless Chromium against `arcface serve` (test/web_harness.ts: a real
 * server on 127.0.0.1 with the defaults and an admin key; /lib/ is public): the library, onnxruntime-web's wasm and the
 * models all come from that server, under the page's own Content-Security-Policy. The browser's
 * embeddings of real photos must equal the Node pipeline's to cosine >= 0.999, verify must give
 * Node's verdicts at Node's threshold, and bad inputs must fail clearly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Page, Route } from 'playwright-core';
import sharp from 'sharp';
import { cosine } from '../src/pipeline/similarity.js';
import { PAGE_CSP } from '../src/server/web.js';
import { DEEPFACE, NOFACE, SHARED, skipUnless } from './helpers.js';
import { openWebSession, webSkip } from './web_harness.js';

const FACES = join(SHARED, 'data/faces');
const FR = join(FACES, 'face_recognition/examples');
const OBAMA = join(FR, 'obama.jpg');
const OBAMA2 = join(FR, 'obama2.jpg');
const BIDEN = join(FR, 'biden.jpg');
/** A PNG with an alpha channel, a progressive JPEG, and a 12 MP JPEG (detected on a 2048 px copy). */
const ALPHA_PNG = join(FR, 'alex-lacamoire.png');
const PROGRESSIVE = join(FACES, 'openface/images/examples/lennon-1.jpg');
const LARGE = join(FACES, 'compreface/embedding-calculator/sample_images/004_A.jpg');
const PHOTOS = [OBAMA, OBAMA2, BIDEN, join(DEEPFACE, 'img1.jpg'), ALPHA_PNG, PROGRESSIVE, LARGE];
const TWO = join(FR, 'two_people.jpg');

const skip = webSkip || skipUnless([...PHOTOS, TWO, NOFACE], 'face photos');

/** Runs `body` (the text of an async function body) in the page; tsx-compiled functions would not run there. */
async function run<T>(page: Page, body: string): Promise<T> {
  // evaluate() has no timeout of its own: a page that never answers fails the test, not hangs it.
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the page did not answer in 60 s: ${body.slice(0, 80)}`)),
      60_000,
    );
  });
  try {
    return (await Promise.race([page.evaluate(`(async () => { ${body} })()`), stuck])) as T;
  } finally {
    clearTimeout(timer);
  }
}

test(
  "arcface/browser in headless Chromium: the Node pipeline's embeddings and verdicts",
  { skip },
  async (t) => {
    // The defaults `npm start` serves, keyed: /lib/ must be public all the same.
    const { browser, service, url } = await openWebSession(t);
    const rec = service.recognizer; // the Node pipeline the page is compared with

    // A rotated copy of obama2.jpg: pixels turned a quarter left, EXIF orientation 6 turning them back.
    const rotated = await sharp(OBAMA2)
      .rotate(270)
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toBuffer();
    const files = new Map<string, Buffer>([
      ...PHOTOS.map((p) => [basename(p), readFileSync(p)] as const),
      ['rotated.jpg', rotated],
      ['noface.jpg', readFileSync(NOFACE)],
      ['two_people.jpg', readFileSync(TWO)],
    ]);

    /** A page of this server's origin (served by the test, with the page's CSP) and the photos under /t/. */
    const open = async (isolated: boolean): Promise<Page> => {
      const page = await browser.newPage();
      page.setDefaultTimeout(60_000);
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      t.after(() => assert.deepEqual(errors, [], 'no uncaught error in the page'));
      await page.route(new URL('/t/**', url).href, (route: Route) => {
        const name = new URL(route.request().url()).pathname.slice(3);
        if (name === 'page.html')
          return route.fulfill({
            contentType: 'text/html',
            body: '<!doctype html><title>arcface/browser test</title>',
            headers: {
              'content-security-policy': PAGE_CSP,
              ...(isolated
                ? {
                    'cross-origin-opener-policy': 'same-origin',
                    'cross-origin-embedder-policy': 'require-corp',
                  }
                : {}),
            },
          });
        const body = files.get(name);
        return body
          ? route.fulfill({
              body,
              contentType: 'application/octet-stream',
              headers: { 'cross-origin-resource-policy': 'same-origin' },
            })
          : route.fulfill({ status: 404, body: 'no such photo' });
      });
      await page.goto(new URL('/t/page.html', url).href);
      return page;
    };

    const page = await open(false);
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));

    const created = await run<{
      model: string;
      threshold: number;
      backend: string;
      threads: number;
      ms: number;
    }>(
      page,
      `const t0 = performance.now();
     const { FaceRecognizer } = await import('/lib/arcface.js');
     window.rec = await FaceRecognizer.create();
     return { model: rec.manifest.name, threshold: rec.threshold, backend: rec.runtime.backend,
              threads: rec.runtime.threads, ms: performance.now() - t0 };`,
    );
    t.diagnostic(
      `browser create(): ${Math.round(created.ms)} ms (${created.backend}, ${created.threads} thread)`,
    );

    await t.test("create(): the server's model and threshold, everything fetched from this server", () => {
      assert.equal(created.model, rec.manifest.name);
      assert.equal(created.threshold, rec.threshold);
      assert.equal(created.backend, 'wasm');
      assert.equal(created.threads, 1, 'not cross-origin isolated: one thread');
      const origin = new URL(url).origin;
      assert.deepEqual(
        requests.filter((r) => new URL(r).origin !== origin),
        [],
      );
      for (const path of [
        '/lib/arcface.js',
        '/lib/ort/ort-wasm-simd-threaded.wasm',
        '/lib/models/index.json',
        '/lib/models/dlib-resnet-v1.onnx',
        '/lib/models/faceapi-ssd.onnx',
        '/lib/models/faceapi-landmarks.onnx',
      ])
        assert.ok(
          requests.some((r) => new URL(r).pathname === path),
          `${path} was fetched`,
        );
    });

    const browserEmbed = (expr: string) =>
      run<{ embedding: number[]; width: number; height: number; crop: string }>(
        page,
        `const e = await rec.embed(${expr});
       return { embedding: Array.from(e.embedding), width: e.width, height: e.height, crop: e.crop };`,
      );

    const cosines: Record<string, number> = {};
    const sizes = new Map<string, number[]>();
    await t.test(
      'embed: the Node embedding of each photo, to cosine >= 0.999 (URL, Blob, ImageBitmap)',
      async () => {
        // Each input kind once: a URL string, a Blob (as a File from an <input>), an ImageBitmap.
        const how = (name: string, i: number) =>
          i % 3 === 0
            ? `'/t/${name}'`
            : i % 3 === 1
              ? `await (await fetch('/t/${name}')).blob()`
              : `await createImageBitmap(await (await fetch('/t/${name}')).blob(), { imageOrientation: 'from-image' })`;
        const names = [...PHOTOS.map((p) => basename(p)), 'rotated.jpg'];
        for (const [i, name] of names.entries()) {
          // The ImageBitmap path reads the whole photo: the large JPEG goes as a Blob, as Node reads its file.
          const kind = name === basename(LARGE) ? 1 : i;
          const node = await rec.embed(files.get(name)!);
          const got = await browserEmbed(how(name, kind));
          assert.equal(got.crop, 'detected');
          assert.deepEqual(
            [got.width, got.height],
            [node.width, node.height],
            `${name}: size after EXIF rotation`,
          );
          const c = cosine(Float32Array.from(got.embedding), node.embedding);
          cosines[name] = c;
          sizes.set(name, [got.width, got.height]);
          assert.ok(c >= 0.999, `${name}: browser vs Node cosine ${c.toFixed(6)} < 0.999`);
        }
        // The rotated copy is read upright (EXIF honoured): portrait, as obama2.jpg.
        assert.deepEqual(sizes.get('rotated.jpg'), [626, 1200]);
        t.diagnostic(
          `browser vs Node cosine: ${Object.entries(cosines)
            .map(([n, c]) => `${n} ${c.toFixed(7)} (1 - cos ${(1 - c).toExponential(1)})`)
            .join(', ')}`,
        );
      },
    );

    await t.test("detect and embedAll: Node's faces and embeddings, two people in one photo", async () => {
      const node = await rec.detect(TWO);
      const nodeAll = await rec.embedAll(TWO);
      const got = await run<{ size: number[]; boxes: number[][]; embeddings: number[][] }>(
        page,
        `const d = await rec.detect('/t/two_people.jpg');
         const all = await rec.embedAll('/t/two_people.jpg');
         return { size: [d.image.width, d.image.height], boxes: d.faces.map((f) => [f.box.x1, f.box.y1, f.box.x2, f.box.y2]),
                  embeddings: all.map((e) => Array.from(e.embedding)) };`,
      );
      assert.deepEqual(got.size, [node.image.width, node.image.height]);
      assert.equal(node.faces.length, 2);
      assert.equal(got.boxes.length, 2);
      node.faces.forEach((f, i) =>
        [f.box.x1, f.box.y1, f.box.x2, f.box.y2].forEach((v, j) =>
          assert.ok(Math.abs(got.boxes[i]![j]! - v) < 0.5, `face ${i} box: ${got.boxes[i]} vs Node's`),
        ),
      );
      assert.equal(got.embeddings.length, nodeAll.length);
      nodeAll.forEach((e, i) =>
        assert.ok(cosine(Float32Array.from(got.embeddings[i]!), e.embedding) >= 0.999),
      );
    });

    await t.test("verify: Node's verdicts at Node's threshold, on a same and a different pair", async () => {
      for (const [a, b] of [
        [OBAMA, OBAMA2],
        [OBAMA, BIDEN],
      ]) {
        const node = await rec.verify(a, b);
        const got = await run<{
          same: boolean;
          similarity: number;
          threshold: number;
          far: number | null;
          angle: number;
        }>(
          page,
          `const v = await rec.verify('/t/${basename(a)}', await (await fetch('/t/${basename(b)}')).blob());
         return { same: v.same, similarity: v.similarity, threshold: v.threshold, far: v.far, angle: v.angle };`,
        );
        assert.equal(got.same, node.same, `${basename(a)} / ${basename(b)}`);
        assert.equal(got.threshold, node.threshold);
        assert.ok(
          Math.abs(got.similarity - node.similarity) < 0.002,
          `${got.similarity} vs ${node.similarity}`,
        );
        assert.ok(got.far !== null && node.far !== null);
        t.diagnostic(
          `${basename(a)} / ${basename(b)}: browser ${got.similarity.toFixed(4)} vs Node ${node.similarity.toFixed(4)} (threshold ${node.threshold}, same: ${node.same})`,
        );
      }
    });

    await t.test('bad inputs: a non-image Blob, a photo without a face, a missing URL, no GPU', async () => {
      const err = (expr: string) =>
        run<{ name: string; code: string; message: string }>(
          page,
          `try { await rec.embed(${expr}); return { name: 'none', code: '', message: 'no error' }; }
         catch (e) { return { name: e.name, code: e.code, message: e.message }; }`,
        );
      const text = await err(`new Blob(['this is not an image'], { type: 'text/plain' })`);
      assert.equal(text.code, 'BAD_INPUT');
      assert.match(text.message, /^text\/plain of 20 bytes: not a readable image \(/);
      const noFace = await err(`'/t/noface.jpg'`);
      assert.deepEqual([noFace.name, noFace.code], ['NoFaceError', 'BAD_INPUT']);
      assert.equal(noFace.message, '/t/noface.jpg: no face found');
      const missing = await err(`'/t/nothing.jpg'`);
      assert.deepEqual([missing.code, missing.message], ['NOT_FOUND', '/t/nothing.jpg: HTTP 404']);
      const empty = await err(`new Blob([])`);
      assert.match(empty.message, /empty file \(0 bytes\)/);
      // WebGPU where the browser has a GPU; where it has none, a clear refusal, not a quiet wasm fallback.
      const gpu = await run<{ adapter: boolean; backend?: string; message?: string }>(
        page,
        `const adapter = !!(await navigator.gpu?.requestAdapter().catch(() => null));
         try { const { FaceRecognizer } = await import('/lib/arcface.js');
               const r = await FaceRecognizer.create({ backend: 'webgpu' });
               const backend = r.runtime.backend; await r.dispose(); return { adapter, backend }; }
         catch (e) { return { adapter, message: e.message }; }`,
      );
      if (gpu.adapter) assert.equal(gpu.backend, 'webgpu');
      else assert.match(gpu.message ?? '', /^backend webgpu: .*; use wasm$/);
    });

    await t.test('threads on a cross-origin isolated page: 2 wasm threads, the same embedding', async () => {
      const iso = await open(true);
      const got = await run<{ isolated: boolean; threads: number; embedding: number[] }>(
        iso,
        `const { FaceRecognizer } = await import('/lib/arcface.js');
       const r = await FaceRecognizer.create({ threads: 2 });
       const e = await r.embed('/t/obama.jpg');
       await r.dispose();
       return { isolated: crossOriginIsolated, threads: r.runtime.threads, embedding: Array.from(e.embedding) };`,
      );
      assert.equal(got.isolated, true);
      assert.equal(got.threads, 2);
      const node = await rec.embed(OBAMA);
      assert.ok(cosine(Float32Array.from(got.embedding), node.embedding) >= 0.999);
      await iso.close();
    });
  },
);
