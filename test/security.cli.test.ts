/**
 * Hardening of the CLI and the portable file (issue 12): three concurrent `arcface enroll G NAME`
 * land in one subject; `arcface verify` gives "no face" its own exit status; `gallery import` keeps
 * the file's times and refuses oversized crops, non-unit or non-finite embeddings and wrong sizes,
 * naming the line, without touching what the store already holds.
 *
 * The CLI runs in this process (`main`, the function bin.ts calls) so three enrolls are three real
 * store connections to one SQLite folder without paying three Node start-ups.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { main } from '../src/cli/main.js';
import { arcface, captured } from './cli_inproc.js';
import { embeddingToBytes, openStore, type GalleryStore, type NewSubject } from '../src/gallery/index.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { RecognitionService } from '../src/service/service.js';
import { exportGallery, importGallery } from '../src/service/portable.js';
import { seededUniform, DEEPFACE, NOFACE, W600K, skipUnless } from './helpers.js';

const DF = DEEPFACE;
const MODEL = W600K;
const skip = skipUnless([DF, NOFACE, MODEL], 'deepface photos, w600k recogniser');
const tmp = mkdtempSync(join(tmpdir(), 'arcface-sec-cli-'));
// No calibrated threshold of this machine's user leaks in.
process.env.ARCFACE_HOME = join(tmp, 'home');
process.env.XDG_CONFIG_HOME = join(tmp, 'xdg');
const img = (n: string) => join(DF, n);

const DIM = 512; // w600k-mbf-int8: 112x112 crops, 512-d embeddings
const unit = (seed: number) => {
  const v = seededUniform(seed, DIM);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

test(
  'three concurrent `arcface enroll G newbie IMG` land in one subject with every photo',
  { skip },
  async () => {
    const store = join(tmp, 'race');
    // Small photos: the race is in the store, not in the pixels.
    const photos = ['img5.jpg', 'img25.jpg', 'img12.jpg'];
    // Each call opens its own store connection; all three find no subject, then race to create it.
    const {
      value: codes,
      out,
      err,
    } = await captured(() =>
      Promise.all(
        photos.map((p) => main(['enroll', 'G', 'newbie', img(p), '-m', MODEL, '--store', store, '--json'])),
      ),
    );
    assert.deepEqual(codes, [0, 0, 0], err);
    const results = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(results.length, 3);
    assert.equal(new Set(results.map((r) => r.subject.id)).size, 1, 'one subject for all three');
    assert.equal(results.filter((r) => r.subjectCreated).length, 1, 'created once');
    const s = await openStore(store);
    try {
      const subjects = await s.listSubjects('G');
      assert.deepEqual(
        subjects.map((x) => [x.externalId, x.faces]),
        [['newbie', 3]],
      );
    } finally {
      await s.close();
    }
  },
);

test(
  'enroll by external id: a subject another connection creates between find and insert is used',
  { skip },
  async () => {
    const dir = join(tmp, 'race-at-insert');
    const other = await openStore(dir); // the other process's connection
    const mine = await openStore(dir);
    // This call's store, where the other process wins the race just before the insert.
    let raced = false;
    const racing: GalleryStore = Object.assign(Object.create(mine) as GalleryStore, {
      async addSubject(gallery: string, s: NewSubject) {
        if (!raced) {
          raced = true;
          const theirs = await other.addSubject(gallery, s);
          await other.addFaces(gallery, theirs.id, [{ embedding: unit(9), model: 'w600k-mbf-int8' }]);
        }
        return mine.addSubject(gallery, s);
      },
    });
    const rec = await FaceRecognizer.create({ model: MODEL });
    const svc = new RecognitionService(racing, rec);
    try {
      const r = await svc.enroll('G', { externalId: 'newbie' }, [img('img5.jpg')], { createGallery: true });
      assert.ok(raced);
      assert.equal(r.subjectCreated, false);
      assert.equal(r.subject.faces, 2);
      assert.deepEqual(
        (await mine.listSubjects('G')).map((x) => [x.externalId, x.faces]),
        [['newbie', 2]],
      );
    } finally {
      await rec.dispose();
      await other.close();
      await mine.close();
    }
  },
);

test('verify: a photo without a face exits 3, not 1 ("different people")', { skip }, async () => {
  // 0 same, 1 different and 2 bad input are test/cli.recognition.test.ts's.
  const none = await arcface('verify', img('img5.jpg'), NOFACE, '-m', MODEL, '--json');
  assert.equal(none.code, 3, none.err);
  assert.match(none.err, /017_0\.jpg: no face found/);
  assert.deepEqual([JSON.parse(none.out).code, JSON.parse(none.out).same], ['NO_FACE', false]);
  const usage = await arcface('verify', '--help');
  assert.match(usage.out, /1 different person, 2 bad input, 3 no face/);
});

// ---- gallery import ---------------------------------------------------------------------------------

/** The bytes of a PNG whose header says WxH, with no image data: what a decompression bomb starts with. */
function pngHeader(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const len = Buffer.alloc(4);
  len.writeUInt32BE(13);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    len,
    Buffer.from('IHDR'),
    ihdr,
    Buffer.alloc(4), // CRC (not checked by a header reader)
    Buffer.alloc(4000),
  ]);
}

test('gallery import: times kept; bad crops and embeddings refused by line; the store untouched', async () => {
  const src = await openStore(join(tmp, 'src'));
  const dst: GalleryStore = await openStore(join(tmp, 'dst'));
  try {
    const crop = new Uint8Array(
      await sharp({ create: { width: 112, height: 112, channels: 3, background: '#888' } })
        .png()
        .toBuffer(),
    );
    await src.createGallery({ name: 'staff', model: 'w600k-mbf-int8', dim: DIM });
    const a = await src.addSubject('staff', { name: 'Ann', externalId: 'ann' });
    const b = await src.addSubject('staff', { name: 'Bob', externalId: 'bob' });
    await src.addFaces('staff', a.id, [{ embedding: unit(1), model: 'w600k-mbf-int8', crop }]);
    await src.addFaces('staff', b.id, [{ embedding: unit(2), model: 'w600k-mbf-int8', crop }]);
    const file = join(tmp, 'staff.jsonl');
    await exportGallery(src, 'staff', file);
    // The file's times are months ago: an import must keep them, not stamp "now".
    const OLD = ['2024-01-02T03:04:05.000Z', '2024-02-03T04:05:06.000Z'];
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    lines[0].gallery.createdAt = '2023-12-31T00:00:00.000Z';
    lines[1].subject.createdAt = OLD[0];
    lines[2].subject.createdAt = OLD[1];
    lines[3].face.createdAt = OLD[0];
    lines[4].face.createdAt = OLD[1];
    const write = (name: string, recs: unknown[]) => {
      const f = join(tmp, name);
      writeFileSync(f, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
      return f;
    };
    const good = write('good.jsonl', lines);

    // Something already in the destination store, which no refused import may touch.
    await dst.createGallery({ name: 'keep', model: 'w600k-mbf-int8', dim: DIM });
    const k = await dst.addSubject('keep', { name: 'Kim', externalId: 'kim' });
    await dst.addFaces('keep', k.id, [{ embedding: unit(3), model: 'w600k-mbf-int8', crop }]);

    const im = await importGallery(dst, good, { as: 'moved' });
    assert.equal(im.faces, 2);
    assert.equal(im.gallery.createdAt, '2023-12-31T00:00:00.000Z');
    const subjects = await dst.listSubjects('moved');
    assert.deepEqual(
      subjects.map((s) => [s.externalId, s.createdAt]),
      [
        ['ann', OLD[0]],
        ['bob', OLD[1]],
      ],
    );
    assert.deepEqual(
      (await dst.listFaces('moved', subjects[1]!.id)).map((f) => f.createdAt),
      [OLD[1]],
    );

    const variant = (name: string, line: number, change: (face: Record<string, unknown>) => void) => {
      const copy = structuredClone(lines);
      change(copy[line].face);
      return write(name, copy);
    };
    const b64 = (v: Float32Array) => embeddingToBytes(v).toString('base64');
    const cases: [string, string, RegExp][] = [
      [
        'bomb',
        variant('bomb.jsonl', 4, (f) => (f.crop = pngHeader(30000, 30000).toString('base64'))),
        /bomb\.jsonl:5: .*crop of 30000x30000.*112x112/,
      ],
      [
        'not a png',
        variant('junk.jsonl', 3, (f) => (f.crop = Buffer.from('GIF89a....').toString('base64'))),
        /junk\.jsonl:4: .*crop is not a PNG/,
      ],
      [
        'non-unit',
        variant('long.jsonl', 4, (f) => (f.embedding = b64(unit(4).map((x) => x * 2)))),
        /long\.jsonl:5: .*embedding has norm 2\.000.*unit/,
      ],
      [
        'non-finite',
        variant('nan.jsonl', 3, (f) => (f.embedding = b64(unit(5).map((x, i) => (i === 7 ? NaN : x))))),
        /nan\.jsonl:4: .*embedding is not finite/,
      ],
      [
        'wrong dims',
        variant('short.jsonl', 3, (f) => (f.embedding = b64(unit(6).slice(0, 128)))),
        /short\.jsonl:4: .*128 values.*512/,
      ],
      [
        'bad time',
        variant('time.jsonl', 4, (f) => (f.createdAt = 'yesterday')),
        /time\.jsonl:5: .*createdAt 'yesterday' is not an ISO 8601 time/,
      ],
    ];
    for (const [what, f, message] of cases) {
      await assert.rejects(importGallery(dst, f, { as: 'bad' }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'BAD_INPUT', `${what}: ${err.message}`);
        assert.match(err.message, message, what);
        return true;
      });
      assert.equal(await dst.getGallery('bad'), null, `${what}: nothing imported`);
    }
    // Nothing already stored is lost or changed.
    assert.deepEqual(
      (await dst.listGalleries()).map((g) => [g.name, g.subjects, g.faces]),
      [
        ['keep', 1, 1],
        ['moved', 2, 2],
      ],
    );
  } finally {
    await src.close();
    await dst.close();
  }
});
