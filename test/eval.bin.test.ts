/**
 * The .bin reader on the fixtures of tools/reference/make_bin.py (the Python 2 protocol-2
 * stream of InsightFace's files and the Python 3 variants): pairs, image bytes decoded by sharp
 * against the generating formula, and clear errors for truncated, corrupt and hostile files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBin } from '../src/eval/bin.js';
import { decodeImage } from '../src/image/decode.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'arcface-bin-'));

/** make_bin.py's pixel formula and image sizes. */
const pixel = (i: number, x: number, y: number) => [
  (31 * i + 40 * x) % 256,
  (17 * i + 60 * y) % 256,
  (7 * i + 9 * x * y) % 256,
];
const size = (i: number) => (i === 3 ? [24, 16] : [i % 2 === 0 ? 6 : 5, 4]);

const VARIANTS = ['tiny', 'tiny_py3', 'tiny_codecs', 'tiny_numpy2', 'tiny_numpy5'];

for (const v of VARIANTS) {
  test(`${v}.bin: 4 pairs, 8 PNGs with the pixels they were written with`, async () => {
    const { images, issame } = await readBin(join(fixtures, `${v}.bin`));
    assert.deepEqual(issame, [true, false, true, false]);
    assert.equal(images.length, 8);
    for (let i = 0; i < 8; i++) {
      const img = await decodeImage(images[i], { name: `${v}[${i}]` });
      const [w, h] = size(i);
      assert.deepEqual([img.width, img.height], [w, h]);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          assert.deepEqual(
            [...img.data.subarray((y * w + x) * 3, (y * w + x) * 3 + 3)],
            pixel(i, x, y),
            `${v}[${i}] (${x},${y})`,
          );
    }
  });
}

test('the Python 2 stream and the Python 3 repacks hold the same bytes', async () => {
  const ref = await readBin(join(fixtures, 'tiny.bin'));
  for (const v of VARIANTS.slice(1)) {
    const r = await readBin(join(fixtures, `${v}.bin`));
    assert.deepEqual(
      r.images.map((b) => Buffer.from(b).toString('hex')),
      ref.images.map((b) => Buffer.from(b).toString('hex')),
      v,
    );
  }
});

test('every truncation of the file fails with an error naming the file', async () => {
  const bytes = readFileSync(join(fixtures, 'tiny.bin'));
  for (const cut of [0, 1, 2, 7, 100, 1000, bytes.length - 40, bytes.length - 1]) {
    const f = join(tmp, `cut${cut}.bin`);
    writeFileSync(f, bytes.subarray(0, cut));
    await assert.rejects(
      readBin(f),
      (e: Error) => e.message.startsWith(f) && /truncated|not a pickle/.test(e.message),
      `cut at ${cut}`,
    );
  }
});

test('corrupt and hostile pickles are refused without running anything', async () => {
  const f = join(tmp, 'bad.bin');
  // A classic exploit: os.system('echo pwned') via GLOBAL + REDUCE.
  writeFileSync(
    f,
    Buffer.from('\x80\x02cos\nsystem\nq\x00X\x0b\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03.', 'latin1'),
  );
  await assert.rejects(readBin(f), /bad\.bin: refusing to load 'os\.system'/);
  // Unknown opcode (protocol 0 STRING).
  writeFileSync(f, Buffer.from("\x80\x02S'abc'\n.", 'latin1'));
  await assert.rejects(readBin(f), /protocol 0/);
  // Right pickle, wrong content: 3 images for 1 pair.
  writeFileSync(f, Buffer.from('\x80\x02]q\x00(U\x01aU\x01bU\x01ce]q\x01\x88a\x86q\x02.', 'latin1'));
  await assert.rejects(readBin(f), /3 images for 1 pairs/);
  // Not a pickle at all.
  writeFileSync(f, 'hello');
  await assert.rejects(readBin(f), /not a pickle/);
  await assert.rejects(readBin(join(tmp, 'missing.bin')), /missing\.bin: no such file/);
});
