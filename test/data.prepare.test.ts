import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { prepareCommand } from '../src/cli/commands/prepare.js';
import { openFaceDataset } from '../src/data/dataset.js';
import { createLoader } from '../src/data/loader.js';
import { cropNames, prepareDataset, REPORT_FILE, type PrepareReport } from '../src/data/prepare.js';
import type { Detector } from '../src/face/detectors/types.js';
import { openDetector } from '../src/pipeline/detector_path.js';

const TRAIN = join(
  import.meta.dirname,
  '../../shared/data/faces/face_recognition/examples/knn_examples/train',
);
const TWO_FACES = join(
  import.meta.dirname,
  '../../shared/data/faces/openface/images/examples/longoria-cooper.jpg',
);
const skip =
  existsSync(TRAIN) && existsSync(TWO_FACES)
    ? false
    : `${TRAIN} is absent (../shared holds the development photos)`;
const tmp = mkdtempSync(join(tmpdir(), 'arcface-prepare-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** A detector that counts its calls. */
function counting(d: Detector): Detector & { calls: number } {
  const c = Object.create(d) as Detector & { calls: number };
  c.calls = 0;
  c.detect = (img, o) => {
    c.calls++;
    return d.detect(img, o);
  };
  return c;
}

const allFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));

test(
  'prepare real photos: 112x112 crops, report, resume without detection, corrupt file listed',
  { skip },
  async () => {
    const raw = join(tmp, 'raw');
    cpSync(TRAIN, raw, { recursive: true });
    mkdirSync(join(raw, 'pair'));
    cpSync(TWO_FACES, join(raw, 'pair', 'two.jpg'));
    writeFileSync(join(raw, 'biden', 'corrupt.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    const out = join(tmp, 'out');

    const code = await prepareCommand.run([raw, out, '--json']);
    const r1 = JSON.parse(readFileSync(join(out, REPORT_FILE), 'utf8')) as PrepareReport;
    assert.equal(code, 2); // the corrupt file
    assert.equal(r1.images, 11);
    assert.equal(r1.identities, 6);
    assert.deepEqual(
      r1.multipleFaces.map((m) => [m.file, m.faces]),
      [['pair/two.jpg', 2]],
    );
    assert.deepEqual(
      r1.unreadable.map((u) => u.file),
      ['biden/corrupt.jpg'],
    );
    assert.match(r1.unreadable[0].reason, /corrupt\.jpg/);
    assert.equal(r1.crops + r1.noFace.length + r1.unreadable.length, 11);
    assert.ok(r1.crops >= 9, `only ${r1.crops} of 10 photos gave a face`);
    assert.equal(r1.run.written, r1.crops);
    assert.equal(r1.run.detected, 10);
    const crops = allFiles(out).filter((f) => f.endsWith('.png'));
    assert.equal(crops.length, r1.crops);
    for (const f of crops) {
      const m = await sharp(f).metadata();
      assert.deepEqual([m.width, m.height, m.format], [112, 112, 'png'], f);
    }
    assert.ok(existsSync(join(out, 'obama', 'obama2.png')) || r1.noFace.includes('obama/obama2.jpg'));
    assert.deepEqual(
      allFiles(out).filter((f) => f.includes('.tmp-')),
      [],
    );

    // Rerun: nothing decoded or detected, the same report contents.
    const { detector } = await openDetector('faceapi');
    const det = counting(detector);
    try {
      const r2 = await prepareDataset({ raw, out, detector: det });
      assert.equal(det.calls, 0);
      assert.deepEqual(r2.run, {
        ...r2.run,
        detected: 0,
        written: 0,
        existing: r1.crops,
        skippedFailed: 11 - r1.crops,
      });
      assert.deepEqual(
        [r2.crops, r2.noFace, r2.unreadable, r2.multipleFaces],
        [r1.crops, r1.noFace, r1.unreadable, r1.multipleFaces],
      );
      // A lost crop is redone alone; --retry-failed tries the failures again.
      rmSync(crops[0]);
      const r3 = await prepareDataset({ raw, out, detector: det });
      assert.equal(det.calls, 1);
      assert.equal(r3.run.written, 1);
      assert.ok(existsSync(crops[0]));
      const r4 = await prepareDataset({ raw, out, detector: det, retryFailed: true });
      assert.equal(det.calls, 1 + r1.noFace.length); // the corrupt file fails before detection
      assert.deepEqual(r4.unreadable, r1.unreadable);
    } finally {
      await detector.dispose();
    }

    // The crops are a training set the loader reads.
    const ds = await openFaceDataset(out);
    assert.equal(ds.items.length, r1.crops);
    const loader = createLoader(ds, { batchSize: 4, seed: 0, workers: 1 });
    for await (const b of loader.epoch(0)) assert.equal(b.images.length, 4 * 112 * 112 * 3);
    await loader.close();
    assert.equal(loader.skipped.size, 0);
  },
);

test('prepare: bad inputs are clear errors', async () => {
  const fake = {
    kind: 'faceapi',
    name: 'none',
    defaults: { scoreThreshold: 0.5, nmsIou: 0.4 },
  } as unknown as Detector;
  await assert.rejects(prepareDataset({ raw: join(tmp, 'nope'), out: join(tmp, 'o1'), detector: fake }), {
    code: 'NOT_FOUND',
    message: /nope: no such folder/,
  });
  const empty = join(tmp, 'empty');
  mkdirSync(join(empty, 'someone'), { recursive: true });
  await assert.rejects(prepareDataset({ raw: empty, out: join(tmp, 'o2'), detector: fake }), /no images/);
  await assert.rejects(
    prepareDataset({ raw: empty, out: join(empty, 'crops'), detector: fake }),
    /OUT_DIR .* is inside RAW_DIR/,
  );
  assert.equal(await prepareCommand.run([empty]).catch((e: Error) => e.message), 'give RAW_DIR and OUT_DIR');
});

test('crop names: identity/sub-folder stems, extensions kept only where two sources share a stem', () => {
  const items = [
    { file: '/r/a/x.jpg', identity: 'a' },
    { file: '/r/a/x.png', identity: 'a' },
    { file: '/r/a/sub/y.jpeg', identity: 'a' },
    { file: '/r/b/x.jpg', identity: 'b' },
  ];
  assert.deepEqual(cropNames('/r', '/o', items), [
    '/o/a/x_jpg.png',
    '/o/a/x_png.png',
    '/o/a/sub_y.png',
    '/o/b/x.png',
  ]);
  assert.throws(
    () => cropNames('/r', '/o', [{ file: '/r/x.jpg', identity: '../up' }]),
    /cannot be a folder name/,
  );
});
