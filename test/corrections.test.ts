/**
 * "Not this person" on real photos (deepface's set in ../shared, the fast w600k recogniser), through
 * the HTTP API (fastify.inject) and the service: a correction changes identify's answer for that
 * face of that photo only, and survives a restart of the service and an export/import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStore, RecognitionService, exportGallery, importGallery } from '../src/service/index.js';
import { buildServer } from '../src/server/index.js';
import { arcface } from './cli_inproc.js';
import { DEEPFACE, W600K, skipUnless } from './helpers.js';

/** Runs `arcface gallery ...` in-process; its exit code and stdout. */
const cli = (...argv: string[]) => arcface('gallery', ...argv);

const skip = skipUnless([DEEPFACE, W600K], 'deepface photos, w600k recogniser');
const img = (n: string) => join(DEEPFACE, n);
const tmp = mkdtempSync(join(tmpdir(), 'arcface-corrections-'));

test('"not this person" changes identify and sticks (API, restart, export/import)', { skip }, async (t) => {
  const dir = join(tmp, 'data');
  let service = await RecognitionService.open({ store: dir, recognizer: { model: W600K } });
  const keys = new KeyStore(join(tmp, 'keys.json'));
  const app = await buildServer({ service, keys });
  const A = { 'x-api-key': keys.create('admin', 'admin').token };
  const R = { 'x-api-key': keys.create('recognise', 'reader').token };
  t.after(async () => {
    await app.close();
    await service.close();
  });
  const p1 = (
    await service.enroll('people', { externalId: 'p1' }, [img('img1.jpg'), img('img2.jpg')], {
      createGallery: true,
    })
  ).subject;
  const p2 = (await service.enroll('people', { externalId: 'p2' }, [img('img26.jpg'), img('img27.jpg')]))
    .subject;
  const b64 = (n: string) => readFileSync(img(n)).toString('base64');
  const identify = async (n: string) => {
    const r = await app.inject({
      method: 'POST',
      url: '/galleries/people/identify',
      headers: R,
      payload: { image: b64(n) },
    });
    assert.equal(r.statusCode, 200, r.body);
    return JSON.parse(r.body);
  };

  const before = await identify('img4.jpg');
  assert.equal(before.faces[0].subject.subjectId, p1.id);
  assert.match(before.imageSha256, /^[0-9a-f]{64}$/);
  const { imageSha256 } = before;
  const box = before.faces[0].box;

  // Readers may not correct; a body must name its face once; the subject must exist.
  const post = (headers: Record<string, string>, payload: object) =>
    app.inject({ method: 'POST', url: '/galleries/people/corrections', headers, payload });
  assert.equal((await post(R, { subjectId: p1.id, imageSha256, box })).statusCode, 403);
  assert.equal((await post(A, { subjectId: p1.id })).statusCode, 400);
  assert.equal((await post(A, { subjectId: p1.id, imageSha256, faceId: 1 })).statusCode, 400);
  assert.equal((await post(A, { subjectId: p1.id, imageSha256: 'zz' })).statusCode, 400);
  const missing = await post(A, { subjectId: 9999, imageSha256, box });
  assert.equal(missing.statusCode, 404);
  assert.doesNotMatch(missing.body, /\/tmp\//);
  const noFace = await post(A, {
    subjectId: p1.id,
    image: b64('img4.jpg'),
    box: { x1: 0, y1: 0, x2: 5, y2: 5 },
  });
  assert.equal(noFace.statusCode, 422, noFace.body);

  // By the sha256 and box identify returned: img4's face is not p1.
  const made = await post(A, { subjectId: p1.id, imageSha256, box });
  assert.equal(made.statusCode, 201, made.body);
  const c = JSON.parse(made.body);
  assert.deepEqual([c.subjectId, c.imageSha256, c.box], [p1.id, imageSha256, box]);
  const after = await identify('img4.jpg');
  assert.notEqual(after.faces[0].subject?.subjectId, p1.id);
  assert.ok(after.faces[0].candidates.every((x: { subjectId: number }) => x.subjectId !== p1.id));
  // Another photo of p1 is still p1.
  assert.equal((await identify('img5.jpg')).faces[0].subject.subjectId, p1.id);

  // After a restart of the service (the store reopened), the correction holds.
  await service.close();
  service = await RecognitionService.open({ store: dir, recognizer: { model: W600K } });
  const again = await service.identify('people', img('img4.jpg'));
  assert.notEqual(again.faces[0]!.subject?.subjectId, p1.id);

  // Export and import: the correction travels with the gallery (version 2 file), tied to the new ids.
  const file = join(tmp, 'people.jsonl');
  await exportGallery(service.store, 'people', file);
  const lines = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines[0].version, 2);
  assert.equal(lines.filter((l) => l.correction).length, 1);
  const imported = await importGallery(service.store, file, { as: 'moved' });
  assert.equal(imported.corrections, 1);
  const q1 = (await service.store.findSubject('moved', 'p1'))!;
  assert.deepEqual(
    (await service.corrections('moved')).map((x) => [x.subjectId, x.imageSha256]),
    [[q1.id, imageSha256]],
  );
  assert.notEqual((await service.identify('moved', img('img4.jpg'))).faces[0]!.subject?.subjectId, q1.id);
  assert.equal((await service.identify('moved', img('img5.jpg'))).faces[0]!.subject?.subjectId, q1.id);
  // A correction naming a face the file does not list is refused before anything is written.
  const broken = lines.map((l) => (l.correction ? { correction: { ...l.correction, faceId: 424242 } } : l));
  writeFileSync(join(tmp, 'broken.jsonl'), broken.map((l) => JSON.stringify(l)).join('\n') + '\n');
  await assert.rejects(
    importGallery(service.store, join(tmp, 'broken.jsonl'), { as: 'broken' }),
    /face 424242/,
  );
  assert.equal(await service.store.getGallery('broken'), null);

  // A correction made on the photo itself (its largest face), then listed and removed.
  const p2c = await service.notSubject('people', p2.id, { image: img('img26.jpg') });
  assert.equal(p2c.box !== null && p2c.imageSha256 !== null, true);
  assert.notEqual((await service.identify('people', img('img26.jpg'))).faces[0]!.subject?.subjectId, p2.id);
  await service.deleteCorrection('people', p2c.id);
  assert.equal((await service.identify('people', img('img26.jpg'))).faces[0]!.subject?.subjectId, p2.id);
  await assert.rejects(service.deleteCorrection('people', p2c.id), { code: 'NOT_FOUND' });
  // The CLI: `gallery not` on a photo (its largest face), listed, then removed.
  const not = await cli('not', 'people', 'p2', img('img27.jpg'), '--store', dir, '-m', W600K, '--json');
  assert.equal(not.code, 0);
  const byCli = JSON.parse(not.out).correction;
  assert.equal(byCli.subjectId, p2.id);
  assert.notEqual((await service.identify('people', img('img27.jpg'))).faces[0]!.subject?.subjectId, p2.id);
  const listed = JSON.parse((await cli('corrections', 'people', '--store', dir, '--json')).out);
  assert.deepEqual(
    listed.corrections.map((x: { subjectId: number }) => x.subjectId),
    [p1.id, p2.id],
  );
  assert.equal((await cli('corrections', 'people', '--remove', String(byCli.id), '--store', dir)).code, 0);
  assert.equal((await service.identify('people', img('img27.jpg'))).faces[0]!.subject?.subjectId, p2.id);
  const badBox = await cli('not', 'people', 'p2', img('img27.jpg'), '--box', '1,2', '--store', dir);
  assert.equal(badBox.code, 2);
  assert.match(badBox.err, /--box/);

  // p1's correction is the one left.
  assert.deepEqual(
    (await service.corrections('people')).map((x) => x.subjectId),
    [p1.id],
  );
});
