/**
 * The web page end to end in a real headless Chromium (Debian's, driven by playwright-core; no
 * browser is downloaded) against a real server on 127.0.0.1 with a temporary SQLite store and an
 * admin key: the key field, verify (same and different pair, with their crops), enroll two people
 * from deepface's photos, identify a third photo of one of them, errors shown as the API wrote them,
 * delete with its confirm step, keyboard tabs, a basic accessibility check (labels, button names,
 * alt text) and the page at phone width (360 px). Screenshots go to test-artifacts/web/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { KeyStore, RecognitionService } from '../src/service/index.js';
import { startServer } from '../src/server/index.js';

const SHARED = join(import.meta.dirname, '../../shared');
const DF = join(SHARED, 'data/faces/deepface/tests/unit/dataset');
const NOFACE = join(SHARED, 'data/faces/compreface/embedding-calculator/sample_images/017_0.jpg');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '../test-artifacts/web');

let playwright: typeof import('playwright-core') | null = null;
try {
  playwright = await import('playwright-core');
} catch {
  playwright = null;
}
const skip = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (install it with tools/ci/chromium.sh, or set CHROMIUM_PATH): web page test skipped`
  : !playwright
    ? 'playwright-core is not installed (npm install): web page test skipped'
    : ![DF, NOFACE].every(existsSync)
      ? '../shared (deepface photos) is absent: web page test skipped'
      : false;

const photo = (n: string) => join(DF, n);

/** Problems an assistive technology would trip on: unlabelled inputs, nameless buttons, images without alt. */
function a11yProblems(page: Page): Promise<string[]> {
  // Plain JS text, not a function: tsx compiles functions with a __name helper the page does not have.
  return page.evaluate(`(() => {
    const out = [];
    const describe = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '');
    const named = (e) => {
      const by = e.getAttribute('aria-labelledby');
      return (
        !!e.getAttribute('aria-label')?.trim() ||
        (!!by && by.split(' ').every((id) => document.getElementById(id)?.textContent?.trim()))
      );
    };
    for (const e of document.querySelectorAll('input, select, textarea')) {
      if (e.type === 'hidden') continue;
      if (![...(e.labels ?? [])].some((l) => l.textContent.trim()) && !named(e)) out.push(describe(e) + ' has no label');
    }
    for (const b of document.querySelectorAll('button, [role="button"], [role="tab"]'))
      // A name of symbols only ("×") tells a screen reader nothing: a letter or digit is required.
      if (!/[a-z0-9]/i.test(b.textContent) && !named(b)) out.push(describe(b) + ' has no accessible name');
    for (const img of document.querySelectorAll('img'))
      if (!img.hasAttribute('alt')) out.push('img ' + (img.getAttribute('src') ?? '').slice(0, 30) + ' has no alt');
    for (const s of document.querySelectorAll('[role="tabpanel"]'))
      if (!named(s)) out.push(describe(s) + ' (tabpanel) has no name');
    if (!document.querySelector('[aria-live]')) out.push('no aria-live region');
    return out;
  })()`);
}

test(
  'web page in headless Chromium: verify, enroll, identify, delete, errors, phone width',
  { skip },
  async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), 'arcface-web-'));
    mkdirSync(ARTIFACTS, { recursive: true });
    // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
    const browser: Browser = await playwright!.chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox'],
    });
    // The defaults `npm start` serves (dlib-resnet-v1 + faceapi): the page is judged as users get it.
    const service = await RecognitionService.open({ store: join(tmp, 'data') });
    const keys = new KeyStore(join(tmp, 'data', 'keys.json'));
    const admin = keys.create('admin', 'web test').token;
    const { app, url } = await startServer({ service, keys, host: '127.0.0.1', port: 0 });
    t.after(async () => {
      await browser.close();
      await app.close();
      await service.close();
      rmSync(tmp, { recursive: true, force: true });
    });
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // The page never asks for what it has not made: no 404 (a gallery before its first enroll).
    const notFound: string[] = [];
    page.on('response', (r) => {
      if (r.status() === 404) notFound.push(`${r.request().method()} ${new URL(r.url()).pathname}`);
    });
    page.on('console', (m) => {
      // A 4xx the page handles (the first /models without a key) is logged by Chromium too: not a page bug.
      if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) pageErrors.push(m.text());
    });
    // A bound for a stuck page, not a speed check: inference on a loaded 2-core machine can take seconds.
    const WAIT_MS = 60_000;
    page.setDefaultTimeout(WAIT_MS);
    await page.goto(url);
    const screenshot = (name: string, p: Page = page) =>
      p.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

    await t.test('no key yet: the API error is shown readably; the key field unlocks it', async () => {
      await page.locator('#model-info', { hasText: 'Enter an API key' }).waitFor();
      await page.locator('#panel-verify input[type=file]').first().setInputFiles(photo('img1.jpg'));
      await page.locator('#panel-verify input[type=file]').nth(1).setInputFiles(photo('img2.jpg'));
      await page.getByRole('button', { name: 'Compare' }).click();
      const err = page.locator('#verify-error');
      await err.waitFor({ state: 'visible' });
      assert.match(await err.innerText(), /UNAUTHORIZED[\s\S]*API key is required[\s\S]*Enter an API key/);
      await page.getByLabel('API key').fill(admin);
      await page.getByLabel('API key').press('Tab'); // change event: stored in sessionStorage
      await page.locator('#model-info', { hasText: 'dlib-resnet-v1' }).waitFor();
      const footer = await page.locator('#model-info').innerText();
      assert.match(footer, /Licence: public domain/);
      // The default's weights may be used commercially: no research-only notice.
      assert.doesNotMatch(footer, /Research use only/);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('arcface.apiKey')), admin);
    });

    const verdict = async (a: string, b: string) => {
      await page.locator('#panel-verify input[type=file]').first().setInputFiles(photo(a));
      await page.locator('#panel-verify input[type=file]').nth(1).setInputFiles(photo(b));
      await page.getByRole('button', { name: 'Compare' }).click();
      const v = page.locator('#verify-result .verdict');
      await v.waitFor();
      const crops = await page
        .locator('#verify-result .crops img')
        .evaluateAll((imgs) =>
          imgs.map((i) => [(i as HTMLImageElement).naturalWidth, (i as HTMLImageElement).naturalHeight]),
        );
      // The numbers by their labels (dt), whatever rows the page shows between them.
      const labels = await page.locator('#verify-result dt').allInnerTexts();
      const numbers = await page.locator('#verify-result dd').allInnerTexts();
      const row = (label: string) => numbers[labels.findIndex((l) => l.startsWith(label))]!;
      return {
        text: await v.innerText(),
        crops,
        similarity: Number(row('Similarity')),
        angle: parseFloat(row('Angle')),
        far: row('False-accept rate'),
      };
    };

    await t.test('verify: a same pair and a different pair, with both aligned crops', async () => {
      const same = await verdict('img1.jpg', 'img2.jpg');
      assert.equal(await page.locator('#verify-error').isHidden(), true); // the earlier error is cleared
      assert.equal(same.text, 'Same person');
      // dlib's 150x150 face chips, the default model's input.
      assert.deepEqual(same.crops, [
        [150, 150],
        [150, 150],
      ]);
      // The angle shown is the arccos of the similarity shown (to their printed precision).
      assert.ok(Math.abs(Math.cos((same.angle * Math.PI) / 180) - same.similarity) < 0.01);
      // Each score is given a meaning: the share of different people scoring as high.
      assert.match(same.far, /^[0-9.e-]+ of different people score this high$/);
      await screenshot('verify-same');
      await page.locator('#verify-result .verdict').evaluate((e) => e.remove());
      const diff = await verdict('img1.jpg', 'img8.jpg');
      assert.equal(diff.text, 'Different people');
      assert.ok(diff.similarity < same.similarity);
      await screenshot('verify-different');
    });

    const enroll = async (name: string, files: string[]) => {
      await page.getByLabel('Name', { exact: true }).fill(name);
      await page.locator('#panel-enroll input[type=file]').setInputFiles(files.map(photo));
      assert.equal(await page.locator('#panel-enroll .thumbs img').count(), files.length);
      await page.getByRole('button', { name: 'Enroll', exact: true }).click();
      await page
        .locator('#enroll-status', { hasText: `Enrolled ${files.length} face(s) of ${name}` })
        .waitFor();
      await page.locator('.subject h4', { hasText: name }).waitFor();
    };

    await t.test('enroll two people: the gallery is created and shows each with their crops', async () => {
      // Keyboard: arrows move between tabs (the ARIA tabs pattern) and show the panel.
      await page.getByRole('tab', { name: 'Verify' }).focus();
      await page.keyboard.press('ArrowRight');
      assert.equal(await page.getByRole('tab', { name: 'Enroll' }).getAttribute('aria-selected'), 'true');
      // Focus is visible: the keyboard-focused tab has the page's focus ring.
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'tab-enroll');
      assert.equal(
        await page.getByRole('tab', { name: 'Enroll' }).evaluate((e) => getComputedStyle(e).outlineStyle),
        'solid',
      );
      assert.equal(await page.locator('#panel-enroll').isVisible(), true);
      assert.equal(await page.locator('#panel-verify').isVisible(), false);
      await page.locator('#enroll-grid', { hasText: 'No one enrolled yet' }).waitFor();
      await enroll('Person A', ['img1.jpg', 'img2.jpg', 'img4.jpg']);
      await enroll('Person B', ['img26.jpg', 'img27.jpg', 'img28.jpg']);
      const cards = page.locator('.subject');
      assert.equal(await cards.count(), 2);
      for (const name of ['Person A', 'Person B']) {
        const card = cards.filter({ hasText: name });
        await card.locator('img').nth(2).waitFor();
        const sizes = await card
          .locator('img')
          .evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth));
        assert.deepEqual(sizes, [150, 150, 150]);
        assert.match(await card.innerText(), /3 faces/);
      }
      await screenshot('enroll-gallery');
    });

    const identify = async (p: Page, file: string) => {
      await p.getByRole('tab', { name: 'Identify' }).click();
      await p.locator('#panel-identify input[type=file]').setInputFiles(file);
      await p.getByRole('button', { name: 'Identify', exact: true }).click();
      await p.locator('#identify-result .faces li').first().waitFor();
      return p
        .locator('#identify-result .faces li')
        .evaluateAll((lis) => lis.map((l) => (l as HTMLElement).dataset.name));
    };

    await t.test(
      'identify: a third photo of Person A is named on the page, with a box on the face',
      async () => {
        assert.deepEqual(await identify(page, photo('img5.jpg')), ['Person A']);
        const text = await page.locator('#identify-result .faces li').first().innerText();
        assert.match(text, /^Person A — score 0\.\d{3} \(FAR [0-9.e-]+\)/);
        // The face's quality, small, after the answer (src/face/quality.ts).
        assert.match(text, / · quality (0\.\d\d|1\.00)$/);
        const box = await page.locator('#identify-result .box').boundingBox();
        const img = await page.locator('#identify-result .stage img').boundingBox();
        assert.ok(box && img && box.width > 20 && box.height > 20);
        // The box lies inside the photo.
        assert.ok(box.x >= img.x - 1 && box.y >= img.y - 1);
        assert.ok(box.x + box.width <= img.x + img.width + 1 && box.y + box.height <= img.y + img.height + 1);
        await page.locator('#identify-result .box span', { hasText: 'Person A' }).waitFor();
        await screenshot('identify-person-a');
        // A stranger is "unknown", with a score shown all the same.
        assert.deepEqual(await identify(page, photo('img8.jpg')), ['unknown']);
        assert.match(
          await page.locator('#identify-result .faces li').first().innerText(),
          /^unknown — score -?0\.\d{3} \(FAR [0-9.e%-]+\)/,
        );
      },
    );

    await t.test(
      'a photo without a face: identify says so; verify shows the API error and a hint',
      async () => {
        await page.locator('#panel-identify input[type=file]').setInputFiles(NOFACE);
        await page.getByRole('button', { name: 'Identify', exact: true }).click();
        await page.locator('#identify-result', { hasText: 'No face found in this photo.' }).waitFor();
        assert.equal(await page.locator('#identify-result .box').count(), 0);
        await page.getByRole('tab', { name: 'Verify' }).click();
        await page.locator('#panel-verify input[type=file]').first().setInputFiles(NOFACE);
        await page.locator('#panel-verify input[type=file]').nth(1).setInputFiles(photo('img2.jpg'));
        await page.getByRole('button', { name: 'Compare' }).click();
        const err = page.locator('#verify-error');
        await err.waitFor({ state: 'visible' });
        assert.equal(await err.getAttribute('role'), 'alert');
        // The API's {error: {code, message}} as written, then what to do about it.
        assert.match(
          await err.innerText(),
          /^NO_FACE a: no face found\s+Try a photo where the face is larger/,
        );
        await screenshot('verify-error');
      },
    );

    await t.test(
      'basic accessibility: every input labelled, every button named, every image with alt',
      async () => {
        // All three panels are in the DOM (hidden ones too): checked at once, results included.
        assert.deepEqual(await a11yProblems(page), []);
      },
    );

    await t.test('delete a subject: cancel keeps it, confirm removes it for good', async () => {
      await page.getByRole('tab', { name: 'Enroll' }).click();
      // Showing the tab redraws the grid (aria-busy while it loads): act on the redrawn one.
      await page.locator('#enroll-grid[aria-busy="false"]').waitFor();
      await page.getByRole('button', { name: 'Delete Person B', exact: true }).click();
      await page.getByRole('button', { name: 'Cancel' }).click();
      assert.equal(await page.locator('.subject').count(), 2);
      await page.getByRole('button', { name: 'Delete Person B', exact: true }).click();
      await page.getByRole('button', { name: 'Yes, delete Person B' }).click();
      await page.locator('#enroll-status', { hasText: 'Deleted Person B' }).waitFor();
      assert.deepEqual(await page.locator('.subject h4').allInnerTexts(), ['Person A']);
      const api = await fetch(new URL('galleries/people/subjects', url), { headers: { 'x-api-key': admin } });
      const { subjects } = (await api.json()) as { subjects: { name: string }[] };
      assert.deepEqual(
        subjects.map((s) => s.name),
        ['Person A'],
      );
    });

    await t.test('phone width (360 px): nothing overflows sideways; identify still works', async () => {
      const phone = await browser.newPage({
        viewport: { width: 360, height: 740 },
        isMobile: true,
        hasTouch: true,
      });
      phone.setDefaultTimeout(WAIT_MS);
      await phone.goto(url);
      await phone.getByLabel('API key').fill(admin);
      await phone.getByLabel('API key').press('Tab');
      await phone.locator('#model-info', { hasText: 'dlib-resnet-v1' }).waitFor();
      assert.deepEqual(await identify(phone, photo('img7.jpg')), ['Person A']);
      const width = await phone.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 360, `the page is ${width} px wide at a 360 px viewport`);
      await screenshot('phone-identify', phone);
      await phone.getByRole('tab', { name: 'Verify' }).click();
      assert.ok((await phone.evaluate(() => document.documentElement.scrollWidth)) <= 360);
      await screenshot('phone-verify', phone);
      await phone.close();
    });

    assert.deepEqual(pageErrors, []);
    assert.deepEqual(notFound, []);
  },
);
