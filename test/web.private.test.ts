/**
 * The web page's private mode ("Process photos on this device") in headless Chromium against a real
 * server (test/web_harness.ts). Every request the page makes is recorded: with the switch on, verify
 * sends nothing but GETs of /lib/, and enroll and identify send JSON embeddings, never a photo (no
 * multipart body, no image content type, no body large enough to hold one). The answers are checked
 * against the Node pipeline and through the API; no face and a non-image file give clear messages;
 * a server that does not publish its model disables the switch, with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Request } from 'playwright-core';
import { SHARED, skipUnless } from './helpers.js';
import { NOFACE, a11yProblems, enterKey, openWebSession, watchedPage, webSkip } from './web_harness.js';

const FR = join(SHARED, 'data/faces/face_recognition/examples');
const OBAMA = join(FR, 'obama.jpg');
const OBAMA2 = join(FR, 'obama2.jpg');
const BIDEN = join(FR, 'biden.jpg');
const skip = webSkip || skipUnless([OBAMA, OBAMA2, BIDEN], 'face_recognition example photos');

interface Sent {
  method: string;
  path: string;
  type: string;
  body: Buffer | null;
}

test('web page, private mode: photos processed in the page, only embeddings sent', { skip }, async (t) => {
  const { browser, service, admin, url } = await openWebSession(t);
  const { page, pageErrors, notFound, screenshot } = await watchedPage(browser);
  const sent: Sent[] = [];
  page.on('request', (r: Request) => {
    // blob: and data: URLs (the pickers' thumbnails, the crops shown) are read inside the page.
    if (/^(blob|data):/.test(r.url())) return;
    sent.push({
      method: r.method(),
      path: new URL(r.url()).pathname,
      type: r.headers()['content-type'] ?? '',
      body: r.postDataBuffer(),
    });
  });
  const api = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(new URL(path, url), {
      ...init,
      headers: { 'x-api-key': admin, 'content-type': 'application/json', ...init.headers },
    });
    return res.json();
  };
  await page.goto(url);
  await enterKey(page, admin);

  const toggle = page.getByLabel('Process photos on this device');
  assert.equal(await toggle.isChecked(), false, 'off by default');
  await toggle.check();
  await page.locator('#private-help', { hasText: 'On: photos stay on this device' }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem('arcface.private')), 'on');

  /** No photo in any request: no multipart, no image, nothing but JSON, and no body that could hold one. */
  const noPhotos = (from: number) => {
    for (const r of sent.slice(from)) {
      const what = `${r.method} ${r.path}`;
      assert.doesNotMatch(r.type, /multipart|image\//, what);
      if (r.method === 'GET') continue;
      assert.match(r.type, /^application\/json/, what);
      const body = JSON.parse(r.body?.toString() ?? 'null');
      if (r.path.endsWith('/embeddings')) {
        assert.ok(Array.isArray(body.embeddings) && typeof body.model === 'string', what);
        assert.ok(
          body.embeddings.every((e: number[]) => e.length === 128),
          what,
        );
        assert.equal(body.crops, undefined, `${what}: crops only when chosen`);
        assert.ok(r.body!.length < 64 * 1024, `${what}: ${r.body!.length} bytes`);
      } else assert.ok(r.body!.length < 1024, `${what}: ${r.body!.length} bytes`);
      assert.doesNotMatch(r.body!.toString(), /base64|\/9j\/|iVBOR/, what); // no JPEG or PNG in base64
    }
  };

  const verdict = async (a: string, b: string) => {
    await page.locator('#panel-verify input[type=file]').first().setInputFiles(a);
    await page.locator('#panel-verify input[type=file]').nth(1).setInputFiles(b);
    await page.getByRole('button', { name: 'Compare' }).click();
    const v = page.locator('#verify-result .verdict');
    await v.waitFor();
    const labels = await page.locator('#verify-result dt').allInnerTexts();
    const numbers = await page.locator('#verify-result dd').allInnerTexts();
    const text = await v.innerText();
    await v.evaluate((e) => e.remove());
    return { text, row: (l: string) => numbers[labels.findIndex((x) => x.startsWith(l))]! };
  };

  await t.test('verify runs wholly in the page: the same verdicts and numbers as the server', async () => {
    const from = sent.length;
    for (const [b, same] of [
      [OBAMA2, 'Same person'],
      [BIDEN, 'Different people'],
    ] as const) {
      const shown = await verdict(OBAMA, b);
      const node = await service.verify(OBAMA, b);
      assert.equal(shown.text, same);
      assert.equal(Number(shown.row('Similarity')), Number(node.similarity.toFixed(3)));
      assert.equal(Number(shown.row('Threshold').split(' ')[0]), Number(node.threshold.toFixed(3)));
      assert.match(shown.row('False-accept rate'), /of different people score this high$/);
      assert.equal(shown.row('Model'), 'dlib-resnet-v1');
      // Both aligned crops are shown, made in the page.
      const crops = await page
        .locator('#verify-result .crops img')
        .evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth));
      assert.deepEqual(crops, [150, 150]);
    }
    await screenshot('private-verify');
    const asked = sent.slice(from);
    assert.ok(
      asked.every((r) => r.method === 'GET' && r.path.startsWith('/lib/')),
      JSON.stringify(asked),
    );
  });

  await t.test('enroll and identify by embedding through the page', async () => {
    const from = sent.length;
    await page.getByRole('tab', { name: 'Enroll' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Barack Obama');
    await page.locator('#panel-enroll input[type=file]').setInputFiles(OBAMA);
    assert.equal(await page.getByLabel('Also store face thumbnails on the server').isChecked(), false);
    await page.getByRole('button', { name: 'Enroll', exact: true }).click();
    await page.locator('#enroll-status', { hasText: 'Enrolled 1 face(s) of Barack Obama' }).waitFor();
    await page.locator('.subject h4', { hasText: 'Barack Obama' }).waitFor();

    // Through the API: the subject has the face, without a crop; identify by photo names them.
    const { subjects } = await api('/galleries/people/subjects');
    const obama = subjects.find((s: { name: string }) => s.name === 'Barack Obama');
    const { faces } = await api(`/galleries/people/subjects/${obama.id}/faces`);
    assert.equal(faces.length, 1);
    assert.equal(faces[0].hasCrop, false);
    const byPhoto = await api('/galleries/people/identify', {
      method: 'POST',
      body: JSON.stringify({ image: readFileSync(OBAMA2).toString('base64') }),
    });
    assert.equal(byPhoto.faces[0].subject.name, 'Barack Obama');

    const identify = async (file: string) => {
      await page.getByRole('tab', { name: 'Identify' }).click();
      await page.locator('#panel-identify input[type=file]').setInputFiles(file);
      await page.getByRole('button', { name: 'Identify', exact: true }).click();
      await page.locator('#identify-result .faces li').first().waitFor();
      return page
        .locator('#identify-result .faces li')
        .evaluateAll((lis) => lis.map((l) => (l as HTMLElement).dataset.name));
    };
    assert.deepEqual(await identify(OBAMA2), ['Barack Obama']);
    const text = await page.locator('#identify-result .faces li').first().innerText();
    assert.match(text, /^Barack Obama — score 0\.\d{3} \(FAR [0-9.e%-]+\)/);
    // The score the page shows is the server's for the photo (same model, same numbers).
    assert.equal(text.match(/score (\S+)/)![1], byPhoto.faces[0].score.toFixed(3));
    const box = await page.locator('#identify-result .box').boundingBox();
    const img = await page.locator('#identify-result .stage img').boundingBox();
    assert.ok(
      box && img && box.width > 20 && box.x >= img.x - 1 && box.x + box.width <= img.x + img.width + 1,
    );
    await screenshot('private-identify');
    assert.deepEqual(await identify(BIDEN), ['unknown']);
    noPhotos(from);
    const posts = sent
      .slice(from)
      .filter((r) => r.method === 'POST')
      .map((r) => r.path);
    assert.deepEqual(posts, [
      '/galleries',
      '/galleries/people/subjects',
      `/galleries/people/subjects/${obama.id}/embeddings`,
      '/galleries/people/identify/embeddings',
      '/galleries/people/identify/embeddings',
    ]);
  });

  await t.test('thumbnails leave the device only when chosen', async () => {
    const from = sent.length;
    await page.getByRole('tab', { name: 'Enroll' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Joe Biden');
    await page.locator('#panel-enroll input[type=file]').setInputFiles(BIDEN);
    await page.getByLabel('Also store face thumbnails on the server').check();
    await page.getByRole('button', { name: 'Enroll', exact: true }).click();
    await page.locator('#enroll-status', { hasText: 'Enrolled 1 face(s) of Joe Biden' }).waitFor();
    await page.locator('.subject', { hasText: 'Joe Biden' }).locator('img').waitFor();
    const post = sent.slice(from).find((r) => r.path.endsWith('/embeddings'))!;
    const body = JSON.parse(post.body!.toString());
    assert.equal(body.crops.length, 1);
    assert.match(body.crops[0], /^data:image\/png;base64,/);
    const { subjects } = await api('/galleries/people/subjects');
    const biden = subjects.find((s: { name: string }) => s.name === 'Joe Biden');
    const { faces } = await api(`/galleries/people/subjects/${biden.id}/faces`);
    assert.equal(faces[0].hasCrop, true);
    await page.getByLabel('Also store face thumbnails on the server').uncheck();
  });

  await t.test('no face, and a file that is not an image: clear messages, nothing sent', async () => {
    const from = sent.length;
    await page.getByRole('tab', { name: 'Verify' }).click();
    const err = page.locator('#verify-error');
    await page.locator('#panel-verify input[type=file]').first().setInputFiles(NOFACE);
    await page.locator('#panel-verify input[type=file]').nth(1).setInputFiles(OBAMA);
    await page.getByRole('button', { name: 'Compare' }).click();
    await err.waitFor({ state: 'visible' });
    assert.match(await err.innerText(), /^NO_FACE 017_0\.jpg: no face found\s+Try a photo where the face/);
    await page
      .locator('#panel-verify input[type=file]')
      .first()
      .setInputFiles({
        name: 'notes.jpg',
        mimeType: 'image/jpeg',
        buffer: Buffer.from('these are notes, not a photo'),
      });
    await page.getByRole('button', { name: 'Compare' }).click();
    await page.locator('#verify-error', { hasText: 'notes.jpg' }).waitFor();
    assert.match(
      await err.innerText(),
      /^UNSUPPORTED_MEDIA notes\.jpg: not a readable image[\s\S]*Use a JPEG/,
    );
    // Enroll: the photo without a face is named, and nothing is enrolled.
    await page.getByRole('tab', { name: 'Enroll' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Nobody');
    await page.locator('#panel-enroll input[type=file]').setInputFiles(NOFACE);
    await page.getByRole('button', { name: 'Enroll', exact: true }).click();
    await page.locator('#enroll-error', { hasText: 'NO_FACE' }).waitFor();
    assert.match(await page.locator('#enroll-error').innerText(), /\n017_0\.jpg: no face found\n/);
    await screenshot('private-errors');
    noPhotos(from);
    // Nothing was made on the server for a photo without a face: no request but reads.
    assert.deepEqual(
      sent.slice(from).filter((r) => r.method !== 'GET'),
      [],
    );
    const { subjects } = await api('/galleries/people/subjects');
    assert.ok(!subjects.some((s: { name: string }) => s.name === 'Nobody'));
    assert.deepEqual(await a11yProblems(page), []);
  });

  await t.test('a model the server does not publish: the switch is disabled, with the reason', async () => {
    const other = await browser.newPage();
    t.after(() => other.close());
    await other.route('**/lib/models/*', (route) => {
      const file = new URL(route.request().url()).pathname.split('/').pop();
      if (file === 'index.json')
        return route.fulfill({ json: { recognizer: 'buffalo_l', published: false, detector: 'faceapi' } });
      const message =
        'model buffalo_l is for non-commercial research only: its weights are not published to browsers';
      return route.fulfill({ status: 403, json: { error: { code: 'FORBIDDEN', message } } });
    });
    // The choice stays on in this browser's storage; the page still will not use it.
    await other.goto(url);
    await other.locator('#private-help', { hasText: 'Unavailable' }).waitFor();
    const sw = other.getByLabel('Process photos on this device');
    assert.equal(await sw.isDisabled(), true);
    assert.equal(await sw.isChecked(), false);
    assert.match(
      await other.locator('#private-help').innerText(),
      /non-commercial research only.*sent to this server/,
    );
  });

  assert.deepEqual(pageErrors, []);
  assert.deepEqual(notFound, []);
});
