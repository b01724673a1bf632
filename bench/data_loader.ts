/**
 * The training loader's throughput and what a training step waits for it: batches/s and ms per
 * batch with 0, 1 and 2 decoding workers, then the wait per batch of a consumer that computes for
 * --step ms (a busy loop, as a wasm training step blocks the main thread) between batches.
 *
 *   node --import tsx bench/data_loader.ts [PREPARED_DIR] [--batch 64] [--batches 12] [--step 500]
 *
 * Without PREPARED_DIR it writes 16 identities x 50 noisy 112x112 PNG crops to a temp folder.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { openFaceDataset } from '../src/data/dataset.js';
import { createLoader } from '../src/data/loader.js';
import { rng } from '../src/util/random.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const BATCH = opt('batch', 64);
const BATCHES = opt('batches', 12);
const STEP_MS = opt('step', 500);
const given = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));

async function makeCrops(root: string, ids: number, per: number) {
  const r = rng(1);
  for (let c = 0; c < ids; c++) {
    mkdirSync(join(root, `id${c}`), { recursive: true });
    for (let k = 0; k < per; k++) {
      // Smooth gradient plus noise: PNG sizes near real crops' (~20-30 KB), not incompressible noise.
      const data = new Uint8Array(112 * 112 * 3);
      for (let p = 0; p < data.length; p++) data[p] = (((p / 3) % 112) + c * 7 + k + r() * 40) & 255;
      await sharp(data, { raw: { width: 112, height: 112, channels: 3 } })
        .png()
        .toFile(join(root, `id${c}`, `${k}.png`));
    }
  }
}

function busy(ms: number) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const tmp = given ? undefined : mkdtempSync(join(tmpdir(), 'arcface-bench-loader-'));
try {
  if (tmp) await makeCrops(tmp, 16, 50);
  const ds = await openFaceDataset(given ?? tmp!);
  const batches = Math.min(BATCHES, Math.floor(ds.items.length / BATCH));
  console.log(
    `${ds.items.length} crops of ${ds.numClasses} identities (${given ?? 'generated'}), batch ${BATCH}, ` +
      `${batches} batches per run, ${availableParallelism()} cores`,
  );
  const rows: string[][] = [];
  for (const workers of [0, 1, 2]) {
    // Throughput: the consumer takes batches as fast as they come, timed from the first batch
    // (worker start-up, and tsx loading inside each worker here, happen once per run).
    let loader = createLoader(ds, { batchSize: BATCH, seed: 1, workers });
    let t0 = 0;
    let n = 0;
    for await (const _ of loader.epoch(0)) {
      if (n === 0) t0 = performance.now();
      if (++n >= batches) break;
    }
    const ms = (performance.now() - t0) / (n - 1);
    await loader.close();
    // Wait: the consumer computes STEP_MS per batch; time spent waiting for the next one, after the
    // first (which nothing could have prefetched).
    loader = createLoader(ds, { batchSize: BATCH, seed: 1, workers });
    let waited = 0;
    n = 0;
    t0 = performance.now();
    for await (const _ of loader.epoch(1)) {
      if (n > 0) waited += performance.now() - t0;
      if (++n >= batches) break;
      busy(STEP_MS);
      t0 = performance.now();
    }
    await loader.close();
    rows.push([
      String(workers),
      (1000 / ms).toFixed(2),
      ms.toFixed(0),
      ((BATCH * 1000) / ms).toFixed(0),
      (waited / (n - 1)).toFixed(1),
    ]);
  }
  const head = ['workers', 'batches/s', 'ms/batch', 'img/s', `wait/batch at ${STEP_MS} ms steps (ms)`];
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (r: string[]) => '| ' + r.map((c, k) => c.padStart(w[k])).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + w.map((x) => '-'.repeat(x + 1) + ':').join('|') + '|');
  for (const r of rows) console.log(line(r));
} finally {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}
