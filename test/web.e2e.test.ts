/**
 * The web page end to end in a real headless Chromium against a real server (test/web_harness.ts):
 * the key field, verify (same and different pair, with their crops), enroll two people
 * from deepface's photos, identify a third photo of one of them, errors shown as the API wrote them,
 * delete with its confirm step, keyboard tabs, a basic accessibility check (labels, button names,
 * alt text) and the page at phone width (360 px). The People tab: test/web.people.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import {
  NOFACE,
  a11yProblems,
  enterKey,
  openWebSession,
  photo,
  watchedPage,
  webSkip as skip,
} from './web_harness.js';

test(
  'web page in headless Chromium: verify, enroll, identify, delete, errors, phone width',
  { skip },
  async (t) => {
    const { browser, admin, url } = await openWebSession(t);
    const { page, pageErrors, notFound, screenshot } = await watchedPage(browser);
    await page.goto(url);

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
      const { page: phone, screenshot: phoneShot } = await watchedPage(browser, {
        viewport: { width: 360, height: 740 },
        isMobile: true,
        hasTouch: true,
      });
      await phone.goto(url);
      await enterKey(phone, admin);
      assert.deepEqual(await identify(phone, photo('img7.jpg')), ['Person A']);
      const width = await phone.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 360, `the page is ${width} px wide at a 360 px viewport`);
      await phoneShot('phone-identify');
      await phone.getByRole('tab', { name: 'Verify' }).click();
      assert.ok((await phone.evaluate(() => document.documentElement.scrollWidth)) <= 360);
      await phoneShot('phone-verify');
      await phone.close();
    });

    assert.deepEqual(pageErrors, []);
    assert.deepEqual(notFound, []);
  },
);
