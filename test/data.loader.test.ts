import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { openFaceDataset, type FaceDataset } from '../src/data/dataset.js';
import { createLoader, epochOrder, flipOf, type Batch, type LoaderOptions } from '../src/data/loader.js';
import { rng } from '../src/util/random.js';

const S = 112;
const PER = S * S * 3;
const tmp = mkdtempSync(join(tmpdir(), 'arcface-loader-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Random RGB bytes per image (PNG is lossless, so these are exactly what decoding gives back). */
const bytesOf = new Map<string, Uint8Array>();
async function makeTree(name: string, ids: number, per: number): Promise<string> {
  const root = join(tmp, name);
  for (let c = 0; c < ids; c++) {
    mkdirSync(join(root, `id${c}`), { recursive: true });
    for (let k = 0; k < per; k++) {
      const r = rng(1000 * c + k + 1);
      const data = Uint8Array.from({ length: PER }, () => Math.floor(r() * 256));
      const file = join(root, `id${c}`, `${k}.png`);
      writeFileSync(
        file,
        await sharp(data, { raw: { width: S, height: S, channels: 3 } })
          .png()
          .toBuffer(),
      );
      bytesOf.set(file, data);
    }
  }
  return root;
}

/** What the loader must give for a file: normalised bytes, mirrored by hand when flipped. */
function expected(file: string, flipped: boolean): Float32Array {
  const src = bytesOf.get(file)!;
  const want = new Float32Array(PER);
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++)
      for (let c = 0; c < 3; c++) {
        const sx = flipped ? S - 1 - x : x;
        want[(y * S + x) * 3 + c] = Math.fround((src[(y * S + sx) * 3 + c] - 127.5) / 127.5);
      }
  return want;
}

async function collect(ds: FaceDataset, opts: LoaderOptions, epoch: number, fromBatch?: number) {
  const loader = createLoader(ds, opts);
  const out: Batch[] = [];
  try {
    for await (const b of loader.epoch(epoch, { fromBatch })) out.push(b);
  } finally {
    await loader.close();
  }
  return out;
}

const root35 = makeTree('n35', 5, 7);

test('every item once per epoch (35 = 7 x 5); with batch 8 the last 3 are dropped; orders differ by epoch', async () => {
  const ds = await openFaceDataset(await root35);
  const epoch0 = await collect(ds, { batchSize: 5, seed: 1, workers: 2 }, 0);
  assert.equal(epoch0.length, 7);
  const seen = epoch0.flatMap((b) => b.files).sort();
  assert.deepEqual(seen, ds.items.map((i) => i.file).sort());
  for (const b of epoch0) {
    assert.equal(b.images.length, 5 * PER);
    assert.deepEqual(
      [...b.labels],
      b.files.map((f) => ds.items.find((i) => i.file === f)!.label),
    );
  }
  const drop = await collect(ds, { batchSize: 8, seed: 1, workers: 0 }, 0);
  assert.equal(drop.length, 4);
  const files = drop.flatMap((b) => b.files);
  assert.equal(new Set(files).size, 32);
  const order = epochOrder(35, 1, 0);
  assert.deepEqual(
    files,
    [...order.subarray(0, 32)].map((i) => ds.items[i].file),
  );
  assert.notDeepEqual(epochOrder(35, 1, 1), order);
  assert.deepEqual(epochOrder(35, 1, 0), order);
});

test('same seed, same batches: across loaders, 0 or 2 workers; fromBatch gives the tail', async () => {
  const ds = await openFaceDataset(await root35);
  const a = await collect(ds, { batchSize: 6, seed: 42, workers: 2 }, 3);
  const b = await collect(ds, { batchSize: 6, seed: 42, workers: 2, prefetch: 1 }, 3);
  const inThread = await collect(ds, { batchSize: 6, seed: 42, workers: 0 }, 3);
  assert.deepEqual(b, a);
  assert.deepEqual(inThread, a);
  const tail = await collect(ds, { batchSize: 6, seed: 42, workers: 1 }, 3, 3);
  assert.deepEqual(tail, a.slice(3));
  assert.notDeepEqual((await collect(ds, { batchSize: 6, seed: 43, workers: 0 }, 3))[0].files, a[0].files);
  const loader = createLoader(ds, { batchSize: 6, seed: 42, workers: 0 });
  assert.throws(() => loader.epoch(3, { fromBatch: 6 }), /fromBatch 6 is not in 0..5/);
  const resumed = [];
  for await (const x of loader.epoch(3, { fromBatch: 4 })) resumed.push(x.index);
  assert.deepEqual(resumed, [4]);
  await loader.close();
});

test('normalisation is (v - 127.5) / 127.5 exactly; flips mirror the pixels, p ~ 0.5, fixed by (seed, epoch, item)', async () => {
  const ds = await openFaceDataset(await root35);
  const batches = await collect(ds, { batchSize: 7, seed: 5, workers: 2 }, 2);
  let flips = 0;
  for (const b of batches)
    b.files.forEach((f, s) => {
      const item = ds.items.findIndex((i) => i.file === f);
      assert.equal(b.flipped[s], flipOf(5, 2, item));
      flips += Number(b.flipped[s]);
      assert.deepEqual(b.images.subarray(s * PER, (s + 1) * PER), expected(f, b.flipped[s]));
    });
  assert.ok(flips > 0 && flips < 35, `${flips} of 35 flipped`);
  // p = 0.5 over many decisions: 10,000 draws, 4.5 sigma band.
  let n = 0;
  for (let e = 0; e < 100; e++) for (let i = 0; i < 100; i++) n += Number(flipOf(9, e, i));
  assert.ok(Math.abs(n - 5000) < 225, `${n} flips of 10000`);
  const plain = await collect(ds, { batchSize: 7, seed: 5, workers: 0, flip: false }, 2);
  assert.ok(plain.every((b) => b.flipped.every((f) => !f)));
  assert.deepEqual(
    plain.map((b) => b.files),
    batches.map((b) => b.files),
  );
});

test('an unreadable file and a wrong-size crop are reported by name once and replaced by the next item', async () => {
  const root = await makeTree('bad', 3, 4);
  writeFileSync(join(root, 'id1', 'broken.png'), 'not a png at all');
  writeFileSync(
    join(root, 'id2', 'small.png'),
    await sharp(Buffer.alloc(100 * 100 * 3, 9), { raw: { width: 100, height: 100, channels: 3 } })
      .png()
      .toBuffer(),
  );
  const ds = await openFaceDataset(root); // 14 items: nothing is decoded when opening
  assert.equal(ds.items.length, 14);
  const run = async (workers: number) => {
    const skipped: string[] = [];
    const loader = createLoader(ds, {
      batchSize: 7,
      seed: 3,
      workers,
      onSkip: (f, m) => skipped.push(`${f}: ${m}`),
    });
    const batches: Batch[] = [];
    for (let e = 0; e < 3; e++) for await (const b of loader.epoch(e)) batches.push(b);
    await loader.close();
    return { batches, skipped, map: loader.skipped };
  };
  const w = await run(2);
  const t = await run(0);
  assert.deepEqual(t.batches, w.batches);
  assert.equal(w.skipped.length, 2);
  assert.match(
    w.skipped.find((s) => s.includes('broken.png'))!,
    /broken\.png.*not a readable image/,
  );
  assert.match(
    w.skipped.find((s) => s.includes('small.png'))!,
    /small\.png: 100x100, expected an aligned 112x112 crop/,
  );
  for (const b of w.batches) {
    assert.equal(b.files.length, 7);
    assert.ok(b.files.every((f) => !f.endsWith('broken.png') && !f.endsWith('small.png')));
    b.files.forEach((f, s) =>
      assert.deepEqual(b.images.subarray(s * PER, (s + 1) * PER), expected(f, b.flipped[s])),
    );
  }
  // The slot of a bad file holds the next usable item of the epoch order.
  for (const [e, b] of w.batches.slice(0, 2).entries()) {
    const order = epochOrder(14, 3, 0);
    const usable = (i: number) => !/broken|small/.test(ds.items[i].file);
    for (let s = 0; s < 7; s++) {
      let p = e * 7 + s;
      while (!usable(order[p % 14])) p++;
      assert.equal(b.files[s], ds.items[order[p % 14]].file);
    }
  }
  // fromBatch decodes nothing before it: in an epoch where both bad files sit in batch 0, starting
  // at batch 1 reports neither.
  const e = [...Array(200).keys()].find((k) => {
    const head = [...epochOrder(14, 3, k).subarray(0, 7)].map((i) => ds.items[i].file);
    return head.some((f) => f.endsWith('broken.png')) && head.some((f) => f.endsWith('small.png'));
  })!;
  const skipped: string[] = [];
  const loader = createLoader(ds, { batchSize: 7, seed: 3, workers: 1, onSkip: (f) => skipped.push(f) });
  for await (const b of loader.epoch(e, { fromBatch: 1 })) assert.equal(b.index, 1);
  assert.deepEqual(skipped, []);
  for await (const b of loader.epoch(e)) void b;
  assert.equal(skipped.length, 2);
  await loader.close();
});

test('bad loader options and use after close are clear errors', async () => {
  const ds = await openFaceDataset(await root35);
  assert.throws(() => createLoader(ds, { batchSize: 0, seed: 1 }), /batchSize must be a positive integer/);
  assert.throws(() => createLoader(ds, { batchSize: 64, seed: 1 }), /35 images make no full batch of 64/);
  assert.throws(() => createLoader(ds, { batchSize: 5, seed: 1.5 }), /seed must be an integer/);
  assert.throws(
    () => createLoader(ds, { batchSize: 5, seed: 1, workers: -1 }),
    /workers must be an integer >= 0/,
  );
  const loader = createLoader(ds, { batchSize: 5, seed: 1, workers: 1 });
  await loader.close();
  await assert.rejects(async () => {
    for await (const _ of loader.epoch(0)) void _;
  }, /used after close/);
});

test('the built worker (dist/data/decode_worker.js) runs and matches the in-thread result', async () => {
  const repo = join(import.meta.dirname, '..');
  const out = mkdtempSync(join(repo, 'node_modules', '.cache-arcface-dist-'));
  try {
    const tsc = spawnSync(
      process.execPath,
      [
        join(repo, 'node_modules/typescript/bin/tsc'),
        '-p',
        join(repo, 'tsconfig.build.json'),
        '--outDir',
        out,
        '--sourceMap',
        'false',
        '--declaration',
        'false',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    const root = await root35;
    const script = `
      const { openFaceDataset } = await import(${JSON.stringify(join(out, 'data/dataset.js'))});
      const { createLoader } = await import(${JSON.stringify(join(out, 'data/loader.js'))});
      const ds = await openFaceDataset(${JSON.stringify(root)});
      const l = createLoader(ds, { batchSize: 5, seed: 11, workers: 2 });
      const sums = [];
      for await (const b of l.epoch(1)) sums.push([b.files, b.images.reduce((s, v, i) => s + v * ((i % 97) + 1), 0)]);
      await l.close();
      process.stdout.write(JSON.stringify(sums));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const ds = await openFaceDataset(root);
    const local = await collect(ds, { batchSize: 5, seed: 11, workers: 0 }, 1);
    assert.deepEqual(
      JSON.parse(r.stdout),
      local.map((b) => [b.files, b.images.reduce((s, v, i) => s + v * ((i % 97) + 1), 0)]),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
