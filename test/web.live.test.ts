/**
 * The Identify tab's live camera in headless Chromium, fed by a fake camera: a video made of photos
 * from ../shared (test/fake_camera.ts), Obama (face_recognition's obama2.jpg; obama.jpg is the one
 * enrolled) then a stranger (openface's carell.jpg). The page must name Obama's track, call the
 * stranger's unknown, never name anyone else, keep one frame in flight at a time and release the
 * camera on Stop; a denied camera gives a clear message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeY4m } from './fake_camera.js';
import { SHARED } from './helpers.js';
import { enterKey, openWebSession, watchedPage, webSkip } from './web_harness.js';

const FACES = join(SHARED, 'data/faces');
const OBAMA = join(FACES, 'face_recognition/examples/obama.jpg');
const OBAMA2 = join(FACES, 'face_recognition/examples/obama2.jpg');
const ALEX = join(FACES, 'face_recognition/examples/alex-lacamoire.png');
const STRANGER = join(FACES, 'openface/images/examples/carell.jpg');
const skip =
  webSkip ||
  (![OBAMA, OBAMA2, ALEX, STRANGER].every(existsSync) && '../shared photos absent: live test skipped');

/** Records every name each track shows, and the camera streams the page opened (to check Stop). */
const RECORDER = `(() => {
  window.__names = {};
  window.__streams = [];
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => {
    const s = await gum(c);
    window.__streams.push(s);
    return s;
  };
  new MutationObserver(() => {
    for (const li of document.querySelectorAll('#live-tracks li')) {
      const seen = (window.__names[li.dataset.track] ??= []);
      if (seen.at(-1) !== li.dataset.name) seen.push(li.dataset.name);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
})()`;

test('live camera: a fake camera of Obama then a stranger, named and unknown', { skip }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'arcface-live-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const video = join(tmp, 'camera.y4m');
  // 8 s of each at 5 frames a second, the stranger where Obama was not (a track follows a box, not a
  // face: one person replacing another in the same place would be one track whose name changes).
  // Chromium loops the file from its start when the camera opens.
  await writeY4m(
    video,
    [
      { file: OBAMA2, frames: 40, place: 'left' },
      { file: STRANGER, frames: 40, place: 'right' },
    ],
    { width: 400, height: 240 },
  );
  const { browser, service, admin, url } = await openWebSession(t, {
    args: [
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-video-capture=${video}`,
    ],
  });
  await service.enroll('people', { externalId: 'obama', name: 'Barack Obama' }, [OBAMA], {
    createGallery: true,
  });
  await service.enroll('people', { externalId: 'alex', name: 'Alex Lacamoire' }, [ALEX]);

  await t.test(
    'server path: Obama is named, then the stranger is unknown; Stop frees the camera',
    async () => {
      const { page, pageErrors, notFound, screenshot } = await watchedPage(browser);
      await page.addInitScript(RECORDER);
      let inFlight = 0;
      let most = 0;
      let frames = 0;
      const isFrame = (r: { url(): string; method(): string }) =>
        r.method() === 'POST' && new URL(r.url()).pathname === '/galleries/people/identify';
      page.on('request', (r) => {
        if (!isFrame(r)) return;
        frames++;
        most = Math.max(most, ++inFlight);
        assert.match(r.headers()['content-type'] ?? '', /^multipart\/form-data/);
      });
      const done = (r: { url(): string; method(): string }) => isFrame(r) && inFlight--;
      page.on('requestfinished', done);
      page.on('requestfailed', done);
      await page.goto(url);
      await enterKey(page, admin);
      await page.getByRole('tab', { name: 'Identify' }).click();
      await page.getByRole('button', { name: 'Start camera' }).click();
      await page.locator('#live-tracks li[data-name="Barack Obama"]').waitFor();
      await page.locator('#live-boxes .box.known span', { hasText: 'Barack Obama' }).waitFor();
      await screenshot('live-named');
      await page.locator('#live-tracks li[data-name="unknown"]').waitFor({ timeout: 30_000 });
      await screenshot('live-unknown');
      await page.getByRole('button', { name: 'Stop camera' }).click();
      await page.locator('#live-status', { hasText: 'Camera off.' }).waitFor();

      const names = (await page.evaluate('window.__names')) as Record<string, string[]>;
      const tracks = Object.values(names);
      // Every track is pending first; a named track keeps its one name; no one else is ever named.
      for (const seen of tracks) {
        assert.equal(seen[0], 'pending', JSON.stringify(names));
        assert.ok(seen.length <= 2, `a track changed its name: ${JSON.stringify(names)}`);
      }
      assert.deepEqual(
        [...new Set(tracks.flat())].sort(),
        ['Barack Obama', 'pending', 'unknown'],
        JSON.stringify(names),
      );
      // Obama's track came first (the video starts with him), the stranger's after.
      const first = (n: string) => Object.keys(names).findIndex((k) => names[k]!.includes(n));
      assert.ok(first('Barack Obama') < first('unknown'), JSON.stringify(names));
      assert.ok(frames >= 6, `${frames} frames identified`);
      assert.equal(most, 1, 'one frame in flight at a time');
      // The camera is released: every track of the stream ended, the video shows nothing.
      const released = `window.__streams.length > 0 &&
        window.__streams.every((s) => s.getTracks().every((t) => t.readyState === 'ended'))`;
      assert.equal(await page.evaluate(released), true);
      assert.equal(await page.evaluate(`document.getElementById('live-video').srcObject`), null);
      assert.equal(await page.locator('#live-tracks li').count(), 0);
      // Leaving the Identify tab turns the camera off too: it is never on out of sight.
      await page.getByRole('button', { name: 'Start camera' }).click();
      await page.locator('#live-status', { hasText: 'Camera on' }).waitFor();
      await page.getByRole('tab', { name: 'Verify' }).click();
      await page.getByRole('tab', { name: 'Identify' }).click();
      await page.locator('#live-status', { hasText: 'Camera off.' }).waitFor();
      assert.equal(await page.evaluate('window.__streams.length'), 2);
      assert.equal(await page.evaluate(released), true);
      assert.deepEqual(pageErrors, []);
      assert.deepEqual(notFound, []);
      await page.close();
    },
  );

  await t.test('private mode: faces embedded in the page, no frame leaves it', async () => {
    const { page, pageErrors } = await watchedPage(browser);
    // The page's private-mode switch, as private.js keeps it.
    await page.addInitScript(`localStorage.setItem('arcface.private', 'on')`);
    const sent: { path: string; type: string; body: Buffer | null }[] = [];
    page.on('request', (r) => {
      if (r.method() !== 'GET')
        sent.push({
          path: new URL(r.url()).pathname,
          type: r.headers()['content-type'] ?? '',
          body: r.postDataBuffer(),
        });
    });
    await page.goto(url);
    await enterKey(page, admin);
    await page.getByRole('tab', { name: 'Identify' }).click();
    await page.getByRole('button', { name: 'Start camera' }).click();
    await page.locator('#live-status', { hasText: 'identified on this device' }).waitFor();
    await page.locator('#live-tracks li[data-name="Barack Obama"]').waitFor();
    await page.getByRole('button', { name: 'Stop camera' }).click();
    assert.deepEqual(pageErrors, []);
    // The frames stayed here: only embeddings (JSON numbers) were sent.
    const frames = sent.filter((r) => r.path.startsWith('/galleries/'));
    assert.ok(frames.length >= 1);
    for (const r of frames) {
      assert.equal(r.path, '/galleries/people/identify/embeddings');
      assert.equal(r.type, 'application/json');
      const body = JSON.parse(r.body!.toString()) as { model: string; embeddings: number[][] };
      assert.deepEqual(Object.keys(body).sort(), ['embeddings', 'model']);
      assert.equal(body.model, 'dlib-resnet-v1');
      assert.ok(body.embeddings.every((e) => e.length === 128 && e.every(Number.isFinite)));
    }
    await page.close();
  });

  await t.test('a denied camera: a clear message, and Start is offered again', async () => {
    const { page, pageErrors } = await watchedPage(browser);
    await page.addInitScript(`navigator.mediaDevices.getUserMedia = () =>
      Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));`);
    await page.goto(url);
    await enterKey(page, admin);
    await page.getByRole('tab', { name: 'Identify' }).click();
    await page.getByRole('button', { name: 'Start camera' }).click();
    const err = page.locator('#live-error');
    await err.waitFor({ state: 'visible' });
    assert.equal(await err.getAttribute('role'), 'alert');
    assert.match(await err.innerText(), /Camera access was denied\. Allow this site to use the camera/);
    assert.equal(await page.getByRole('button', { name: 'Start camera' }).isEnabled(), true);
    assert.equal(await page.getByRole('button', { name: 'Stop camera' }).isDisabled(), true);
    assert.equal(await page.locator('#live-stage').isHidden(), true);
    assert.deepEqual(pageErrors, []);
    await page.close();
  });
});
