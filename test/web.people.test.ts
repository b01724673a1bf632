/**
 * The web page's People tab in headless Chromium (test/web_harness.ts), on clusters made of real
 * faces: deepface's photos enrolled once, their faces dealt into unnamed clusters through the store
 * (the tab must not depend on how clusters are found). Each edit is made on the page and checked
 * through the API: merge, split, name, "not this person" (with its correction), move; "Add photos"
 * clusters real photos into the gallery (POST /galleries/:g/cluster) and refuses a non-image; the
 * accessibility check; 360 px width.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Locator } from 'playwright-core';
import {
  a11yProblems,
  enterKey,
  openWebSession,
  photo,
  watchedPage,
  webSkip as skip,
} from './web_harness.js';

const G = 'people';

test(
  'People tab in headless Chromium: clusters as rows of crops; name, merge, split, move',
  { skip },
  async (t) => {
    const { browser, service, admin, url } = await openWebSession(t);
    const store = service.store;
    await service.createGallery(G);
    // One enroll of every photo (one inference each), then the faces dealt out. id01 is Cleo (img26 is
    // id02, wrongly among her faces); clusters: id03 in two parts, id04 with an id05 face, an id01 face alone.
    const files = ['img1.jpg', 'img2.jpg', 'img26.jpg', 'img47.jpg', 'img48.jpg', 'img49.jpg'];
    files.push('img53.jpg', 'img54.jpg', 'img13.jpg', 'img4.jpg');
    const enrolled = await service.enroll(G, { externalId: 'cleo', name: 'Cleo' }, files.map(photo));
    assert.deepEqual(enrolled.failures, []);
    const face = Object.fromEntries(files.map((f, i) => [f, enrolled.faces[i]!.faceId]));
    const cleo = enrolled.subject.id;
    const cluster = async (names: string[]) => {
      const c = await store.addSubject(G, { name: 'unnamed', kind: 'cluster' });
      await store.moveFaces(
        G,
        names.map((n) => face[n]!),
        c.id,
      );
      return c.id;
    };
    const c1 = await cluster(['img47.jpg', 'img48.jpg']);
    const c2 = await cluster(['img49.jpg']);
    const c3 = await cluster(['img53.jpg', 'img54.jpg', 'img13.jpg']);
    const c4 = await cluster(['img4.jpg']);

    const get = async (path: string) => {
      const r = await fetch(new URL(`galleries/${G}${path}`, url), { headers: { 'x-api-key': admin } });
      assert.equal(r.status, 200, `GET ${path}: ${r.status}`);
      return r.json();
    };
    type Sub = { id: number; name: string; kind: string; faces: number };
    const clusters = async () =>
      ((await get('/clusters?singletons=true')).clusters as Sub[]).map((c) => [c.id, c.faces]);
    const facesOf = async (id: number) =>
      ((await get(`/subjects/${id}/faces`)).faces as { id: number }[]).map((f) => f.id);

    const { page, pageErrors, notFound, screenshot } = await watchedPage(browser);
    await page.goto(url);
    await enterKey(page, admin);
    const rowOf = (id: number): Locator => page.locator(`#panel-people li.person-row[data-subject="${id}"]`);
    const crops = (id: number) =>
      rowOf(id)
        .locator('.face-tiles img')
        .evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth));
    const rowIds = (list: 'clusters' | 'persons') =>
      page
        .locator(`#${list}-list li.person-row`)
        .evaluateAll((lis) => lis.map((l) => Number((l as HTMLElement).dataset.subject)));
    const done = (text: string) => page.locator('#people-status', { hasText: text }).waitFor();

    await t.test('the tab lists the clusters as rows of crops, largest first, and the named', async () => {
      // Keyboard: the ARIA tabs pattern reaches People from Identify.
      await page.getByRole('tab', { name: 'Identify' }).click();
      await page.keyboard.press('ArrowRight');
      assert.equal(await page.getByRole('tab', { name: 'People' }).getAttribute('aria-selected'), 'true');
      await rowOf(c4).locator('img').waitFor();
      await page.locator('#people-lists[aria-busy="false"]').waitFor();
      assert.deepEqual(await rowIds('clusters'), [c3, c1, c2, c4]);
      assert.deepEqual(await rowIds('persons'), [cleo]);
      assert.equal(await page.locator('#clusters-title').innerText(), 'Unnamed people (4)');
      // dlib's 150x150 face chips, every face of each row.
      assert.deepEqual(await crops(c3), [150, 150, 150]);
      assert.deepEqual(await crops(c1), [150, 150]);
      assert.deepEqual(await crops(cleo), [150, 150, 150]);
      // A cluster's only face has no "Not this person": nothing would be left.
      assert.equal(
        await rowOf(c2)
          .getByRole('button', { name: /^Not this person/ })
          .count(),
        0,
      );
      assert.equal(
        await rowOf(c1)
          .getByRole('button', { name: /^Not this person/ })
          .count(),
        2,
      );
      assert.deepEqual(await a11yProblems(page), []);
      await screenshot('people-clusters');
    });

    await t.test('merge: two clusters become one with all their faces', async () => {
      // One row chosen: refused on the page, the choice kept, nothing asked of the server.
      await page.getByLabel(`Select Unnamed #${c1} to merge`).check();
      await page.getByRole('button', { name: 'Merge selected' }).click();
      await page.locator('#people-error', { hasText: 'Select two or more rows' }).waitFor();
      assert.equal(await page.getByLabel(`Select Unnamed #${c1} to merge`).isChecked(), true);
      await page.getByLabel(`Select Unnamed #${c2} to merge`).check();
      await page.getByRole('button', { name: 'Merge selected' }).click();
      await done(`Merged Unnamed #${c2} into Unnamed #${c1}: 3 faces.`);
      assert.equal(await page.locator('#people-error').isHidden(), true);
      assert.deepEqual(await clusters(), [
        [c1, 3],
        [c3, 3],
        [c4, 1],
      ]);
      assert.deepEqual(await facesOf(c1), [face['img47.jpg'], face['img48.jpg'], face['img49.jpg']]);
      assert.deepEqual(await crops(c1), [150, 150, 150]);
      assert.equal(await rowOf(c2).count(), 0);
      // Focus follows the result: the merged row's heading.
      assert.equal(await page.evaluate(() => document.activeElement?.id), `p${c1}-title`);
    });

    await t.test('split: a chosen face leaves its cluster for a new one, kept apart', async () => {
      await rowOf(c3).getByLabel(`Choose face ${face['img13.jpg']} of Unnamed #${c3}`).check();
      await page.getByRole('button', { name: `Split off chosen faces of Unnamed #${c3}` }).click();
      await page
        .locator('#people-status', { hasText: `Split 1 face off Unnamed #${c3}: now Unnamed #` })
        .waitFor();
      const made = (await clusters()).find(([id]) => ![c1, c3, c4].includes(id!))!;
      assert.deepEqual(made.slice(1), [1]);
      assert.deepEqual(await facesOf(made[0]!), [face['img13.jpg']]);
      assert.deepEqual(await facesOf(c3), [face['img53.jpg'], face['img54.jpg']]);
      // Re-clustering keeps them apart: the split face is cannot-linked to the two it left.
      const apart = (await store.listLinks(G)).filter((l) => l.kind === 'apart');
      for (const other of [face['img53.jpg'], face['img54.jpg']])
        assert.ok(
          apart.some((l) => [l.faceA, l.faceB].sort().join() === [face['img13.jpg'], other].sort().join()),
        );
      assert.equal(await rowOf(made[0]!).locator('img').count(), 1);
    });

    await t.test('name: a cluster becomes a person, whom identify now answers', async () => {
      const nameField = page.getByLabel(`Name this person: Unnamed #${c3}`);
      // No name: refused on the page, the field focused.
      await page.getByRole('button', { name: `Name Unnamed #${c3}` }).click();
      await page.locator('#people-error', { hasText: `Enter a name for Unnamed #${c3}` }).waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.id), `p${c3}-name`);
      await nameField.fill('Dana');
      await nameField.press('Enter');
      await done(`Unnamed #${c3} is now Dana.`);
      const subjects = (await get('/subjects')).subjects as Sub[];
      assert.deepEqual(
        subjects.map((s) => [s.name, s.kind, s.faces]),
        [
          ['Cleo', 'person', 3],
          ['Dana', 'person', 2],
        ],
      );
      assert.ok(!(await clusters()).some(([id]) => id === c3));
      assert.deepEqual(await rowIds('persons'), [cleo, c3]);
      // A third photo of the same person (deepface id04) is answered Dana.
      const who = await service.identify(G, photo('img55.jpg'));
      assert.equal(who.faces[0]?.subject?.name, 'Dana');
    });

    await t.test(
      '"Not this person": a named person\'s face leaves them, the correction recorded',
      async () => {
        const wrong = face['img26.jpg']!;
        await page.getByRole('button', { name: `Not this person: face ${wrong} is not Cleo` }).click();
        await done(`Face ${wrong} is not Cleo: now Unnamed #`);
        await page
          .locator('#people-status', { hasText: 'Identify will not answer Cleo for its photo.' })
          .waitFor();
        assert.deepEqual(await facesOf(cleo), [face['img1.jpg'], face['img2.jpg']]);
        const corrections = (await get('/corrections')).corrections as {
          subjectId: number;
          faceId: number;
        }[];
        assert.deepEqual(
          corrections.map((c) => [c.subjectId, c.faceId]),
          [[cleo, wrong]],
        );
        // The face is now an unnamed person of its own.
        const holders = [];
        for (const c of (await get('/clusters?singletons=true')).clusters as Sub[])
          if ((await facesOf(c.id)).includes(wrong)) holders.push(c);
        assert.deepEqual(
          holders.map((c) => c.faces),
          [1],
        );
      },
    );

    await t.test('move: a face chosen in one row goes to the person picked in its list', async () => {
      const row = rowOf(c4);
      await row.getByLabel(`Choose face ${face['img4.jpg']} of Unnamed #${c4}`).check();
      await row.getByLabel('Move chosen faces to').selectOption({ label: 'Cleo' });
      await row.getByRole('button', { name: `Move chosen faces of Unnamed #${c4}` }).click();
      await done(`Moved 1 face from Unnamed #${c4} to Cleo.`);
      assert.deepEqual(await facesOf(cleo), [face['img1.jpg'], face['img2.jpg'], face['img4.jpg']]);
      // The emptied cluster is gone.
      assert.ok(!(await clusters()).some(([id]) => id === c4));
      assert.equal(await rowOf(c4).count(), 0);
      assert.deepEqual(await crops(cleo), [150, 150, 150]);
    });

    await t.test('"Add photos": real photos clustered into the gallery; a non-image refused', async () => {
      const picker = page.locator('#panel-people input[type=file]');
      // Not an image: listed with the server's reason, nothing stored, the picker cleared.
      await picker.setInputFiles({
        name: 'notes.jpg',
        mimeType: 'image/jpeg',
        buffer: Buffer.from('not a photo'),
      });
      const before = await get('');
      await page.getByRole('button', { name: 'Add photos' }).click();
      await page.locator('#people-error', { hasText: '1 photo could not be read' }).waitFor();
      assert.match(await page.locator('#people-error').innerText(), /not an image/);
      assert.equal((await get('')).faces, before.faces);
      // Two more photos of Cleo's person (id01): their faces join her, voted in by her stored faces.
      const had = await facesOf(cleo);
      await picker.setInputFiles([photo('img5.jpg'), photo('img6.jpg')]);
      await page.getByRole('button', { name: 'Add photos' }).click();
      await done('2 faces in 2 photos: 2 in 1 person, 0 seen only once.');
      const now = await facesOf(cleo);
      assert.equal(now.length, had.length + 2);
      assert.equal(await page.locator('#people-error').isHidden(), true);
      assert.equal(await page.locator('#panel-people .thumbs img').count(), 0);
      assert.equal(await rowOf(cleo).locator('.face-tiles img').count(), now.length);
    });

    await t.test('phone width (360 px): the rows wrap, nothing overflows sideways', async () => {
      await page.setViewportSize({ width: 360, height: 740 });
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 360, `the page is ${width} px wide at a 360 px viewport`);
      await screenshot('people-phone');
    });

    assert.deepEqual(pageErrors, []);
    assert.deepEqual(notFound, []);
  },
);
