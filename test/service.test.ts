/**
 * The recognition service on real photos (deepface's labelled test set in ../shared) and a temporary
 * SQLite folder: enroll, identify (named, unknown, several faces), 1:1 against a subject, the
 * all-or-nothing enroll, models that never mix, reindex from the stored crops, and a gallery moved
 * through the portable export file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/gallery/index.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import {
  RecognitionService,
  ServiceError,
  exportGallery,
  importGallery,
  sniffImage,
  checkGalleryName,
} from '../src/service/index.js';

const SHARED = join(import.meta.dirname, '../../shared');
const DF = join(SHARED, 'data/faces/deepface/tests/unit/dataset');
const NOFACE = join(SHARED, 'data/faces/compreface/embedding-calculator/sample_images/017_0.jpg');
const MODEL = join(SHARED, 'models/recognizers/w600k-mbf-int8/w600k_mbf_int8.onnx');
const OTHER = join(SHARED, 'models/recognizers/mobilefacenet-foamliu/mobilefacenet.onnx');
const skip = [DF, NOFACE, MODEL, OTHER].every(existsSync)
  ? false
  : '../shared (deepface photos, w600k and foamliu recognisers) is absent: service tests skipped';
const img = (n: string) => join(DF, n);
const tmp = mkdtempSync(join(tmpdir(), 'arcface-service-'));

test('gallery names are identifiers; uploads are judged by their magic bytes', () => {
  for (const ok of ['staff', 'a', 'Team_2-b']) assert.equal(checkGalleryName(ok), ok);
  for (const bad of ['', '../etc', 'a/b', '.hidden', '-x', 'x'.repeat(65), 'a b', 'é'])
    assert.throws(() => checkGalleryName(bad), /gallery name .* is not valid/);
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
  assert.equal(sniffImage(png), 'png');
  assert.equal(sniffImage(Buffer.from('ffd8ffe000104a4649460001', 'hex')), 'jpeg');
  assert.equal(sniffImage(Buffer.from('RIFF\0\0\0\0WEBPVP8 ')), 'webp');
  assert.equal(sniffImage(Buffer.from('#!/bin/sh\necho hi\n')), null);
  assert.equal(sniffImage(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')), null);
});

test('service: enroll, identify, unknown, verifySubject, reindex, export/import', { skip }, async (t) => {
  const svc = await RecognitionService.open({ store: join(tmp, 'a'), recognizer: { model: MODEL } });
  t.after(() => svc.close());
  assert.equal(svc.model, 'w600k-mbf-int8');

  await t.test('enroll: one face per image, subject created once, gallery bound to the model', async () => {
    const a = await svc.enroll(
      'people',
      { externalId: 'id01', name: 'Person 1' },
      [img('img1.jpg'), img('img2.jpg')],
      {
        createGallery: true,
      },
    );
    assert.equal(a.subjectCreated, true);
    assert.equal(a.subject.name, 'Person 1');
    assert.equal(a.subject.faces, 2);
    assert.equal(a.faces.length, 2);
    assert.match(a.faces[0]!.imageSha256, /^[0-9a-f]{64}$/);
    const again = await svc.enroll('people', { externalId: 'id01' }, [img('img4.jpg')]);
    assert.equal(again.subjectCreated, false);
    assert.equal(again.subject.id, a.subject.id);
    assert.equal(again.subject.faces, 3);
    await svc.enroll('people', { externalId: 'id02' }, [img('img26.jpg'), img('img27.jpg')]);
    const g = await svc.gallery('people');
    assert.deepEqual([g.model, g.dim, g.subjects, g.faces], ['w600k-mbf-int8', 512, 2, 5]);
    // The stored crop is the 112x112 aligned face, PNG.
    const faces = await svc.store.listFaces('people', a.subject.id);
    const crop = await svc.store.getCrop('people', faces[0]!.id);
    assert.equal(sniffImage(crop!), 'png');
    assert.equal(Buffer.from(crop!).readUInt32BE(16), 112); // IHDR width
  });

  await t.test('enroll is all or nothing: a bad image refuses the call and lists it', async () => {
    const notImage = join(tmp, 'notes.jpg');
    writeFileSync(notImage, 'not a picture at all, just text');
    const before = await svc.gallery('people');
    await assert.rejects(
      svc.enroll('people', { externalId: 'id05' }, [img('img13.jpg'), notImage, NOFACE]),
      (err: unknown) => {
        assert.ok(err instanceof ServiceError);
        assert.deepEqual(
          err.failures.map((f) => [f.image, f.code]),
          [
            [notImage, 'UNSUPPORTED_MEDIA'],
            [NOFACE, 'NO_FACE'],
          ],
        );
        assert.match(err.message, /nothing enrolled, 2 of 3 image\(s\) failed/);
        return true;
      },
    );
    const after = await svc.gallery('people');
    assert.deepEqual([after.subjects, after.faces], [before.subjects, before.faces]);
    await assert.rejects(svc.enroll('people', { externalId: 'id05' }, [NOFACE]), { kind: 'NO_FACE' });
    // partial: the good image is enrolled, the bad one listed.
    const p = await svc.enroll('people', { externalId: 'id05' }, [img('img13.jpg'), NOFACE], {
      partial: true,
    });
    assert.equal(p.faces.length, 1);
    assert.deepEqual(
      p.failures.map((f) => f.code),
      ['NO_FACE'],
    );
    await svc.deleteSubject('people', p.subject.id);
    await assert.rejects(svc.enroll('nope', { externalId: 'x' }, [img('img1.jpg')]), { code: 'NOT_FOUND' });
  });

  await t.test(
    'identify: the right person, unknown for a stranger, every face of a group photo',
    async () => {
      const r = await svc.identify('people', img('img5.jpg'));
      assert.equal(r.faces.length, 1);
      assert.equal(r.faces[0]!.subject?.externalId, 'id01');
      assert.ok(r.faces[0]!.score! >= r.threshold);
      assert.equal(r.faces[0]!.candidates.length, 2);
      const r2 = await svc.identify('people', img('img42.jpg'));
      assert.equal(r2.faces[0]!.subject?.externalId, 'id02');
      const stranger = await svc.identify('people', img('img8.jpg')); // id03: not enrolled
      assert.equal(stranger.faces[0]!.subject, null);
      assert.ok(stranger.faces[0]!.score! < stranger.threshold);
      const couple = await svc.identify('people', img('couple.jpg'), { k: 1 });
      assert.equal(couple.faces.length, 2);
      assert.equal(couple.facesFound, 2);
      // Largest face first, each identified on its own: one of the couple is id01, the other unknown.
      assert.deepEqual(couple.faces.map((f) => f.subject?.externalId ?? 'unknown').sort(), [
        'id01',
        'unknown',
      ]);
      assert.equal(couple.faces[0]!.candidates.length, 1);
      const noFace = await svc.identify('people', NOFACE);
      assert.deepEqual(noFace.faces, []);
    },
  );

  await t.test('verifySubject and verify: 1:1', async () => {
    const id01 = (await svc.store.findSubject('people', 'id01'))!;
    const same = await svc.verifySubject('people', id01.id, img('img6.jpg'));
    assert.equal(same.same, true);
    const diff = await svc.verifySubject('people', id01.id, img('img8.jpg'));
    assert.equal(diff.same, false);
    assert.ok(diff.score < same.score);
    await assert.rejects(svc.verifySubject('people', 9999, img('img6.jpg')), { code: 'NOT_FOUND' });
    const v = await svc.verify(img('img1.jpg'), img('img7.jpg'));
    assert.equal(v.same, true);
    await assert.rejects(svc.verify(img('img1.jpg'), NOFACE), { kind: 'NO_FACE' });
  });

  await t.test('export/import: the gallery moves to another store unchanged', async () => {
    const file = join(tmp, 'people.jsonl');
    const ex = await exportGallery(svc.store, 'people', file);
    assert.deepEqual(ex, { subjects: 2, faces: 5 });
    const other = await openStore(join(tmp, 'b'));
    t.after(() => other.close());
    const im = await importGallery(other, file, { as: 'moved' });
    assert.deepEqual(
      [im.gallery.model, im.gallery.dim, im.subjects, im.faces],
      ['w600k-mbf-int8', 512, 2, 5],
    );
    const src = [];
    for await (const f of svc.store.faces('people', { crops: true })) src.push(f);
    const dst = [];
    for await (const f of other.faces('moved', { crops: true })) dst.push(f);
    assert.equal(dst.length, src.length);
    for (let i = 0; i < src.length; i++) {
      assert.deepEqual(dst[i]!.crop, src[i]!.crop);
      assert.equal(dst[i]!.imageSha256, src[i]!.imageSha256);
      for (let j = 0; j < 512; j++) assert.ok(Math.abs(dst[i]!.embedding[j]! - src[i]!.embedding[j]!) < 1e-6);
    }
    const names = (await other.listSubjects('moved')).map((s) => [s.externalId, s.name, s.faces]);
    assert.deepEqual(names, [
      ['id01', 'Person 1', 3],
      ['id02', 'id02', 2],
    ]);
    // Same answers from the moved gallery.
    const moved = new RecognitionService(other, svc.recognizer);
    const r = await moved.identify('moved', img('img5.jpg'));
    assert.equal(r.faces[0]!.subject?.externalId, 'id01');
    // Importing again under the same name is a conflict; a truncated file leaves nothing behind.
    await assert.rejects(importGallery(other, file, { as: 'moved' }), { kind: 'CONFLICT' });
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    writeFileSync(join(tmp, 'cut.jsonl'), lines.slice(0, -2).join('\n') + '\n');
    await assert.rejects(importGallery(other, join(tmp, 'cut.jsonl'), { as: 'cut' }), /truncated/);
    assert.equal(await other.getGallery('cut'), null);
  });

  await t.test('models never mix; reindex re-embeds the stored crops with another model', async () => {
    const foam = await FaceRecognizer.create({ model: OTHER, threshold: 0.3 });
    t.after(() => foam.dispose());
    const foamSvc = new RecognitionService(svc.store, foam);
    await assert.rejects(foamSvc.identify('people', img('img5.jpg')), (err: unknown) => {
      assert.ok(err instanceof ServiceError && err.kind === 'CONFLICT');
      assert.match(err.message, /holds embeddings of model 'w600k-mbf-int8'.*'mobilefacenet-foamliu'/);
      return true;
    });
    const r = await svc.reindex('people', foam);
    assert.deepEqual(r, { faces: 5, model: foam.manifest.name });
    const g = await svc.gallery('people');
    assert.deepEqual([g.model, g.dim, g.faces], [foam.manifest.name, 128, 5]);
    const after = await foamSvc.identify('people', img('img5.jpg'));
    assert.equal(after.faces[0]!.candidates[0]!.externalId, 'id01');
    // And now the first service is the one refused.
    await assert.rejects(svc.enroll('people', { externalId: 'id01' }, [img('img6.jpg')]), {
      kind: 'CONFLICT',
    });
  });
});
