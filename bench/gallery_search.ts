/**
 * Gallery search at N x 512 random-but-clustered unit embeddings (N/4 identities of 4 faces, noise
 * like face embeddings: cos to the identity's centre about 0.8): a plain JS scan, our exact search
 * (SearchIndex 'exact': usearch's SIMD exactSearch over the contiguous matrix, re-scored), and our
 * HNSW (usearch, f16, M 32, ef 128, exact re-scoring of max(64, 4k) candidates). Recall@1 and
 * @10 of the top subjects against the exact search, QPS (one thread, 'max' aggregation, k 10),
 * build time, and memory: RSS growth for the exact matrix, the saved graph's size for HNSW (built
 * once, saved, then memory-mapped with each ef).
 *
 *   node --import tsx bench/gallery_search.ts [--n 10000,100000] [--queries 200] [--threads 1] [--json]
 *
 * --threads is for building the graph (searches always use one). Print /proc/loadavg with the
 * numbers: the machine may be busy.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SearchIndex, type IndexRow } from '../src/gallery/search_index.js';
import { dotRow } from '../src/gallery/embedding.js';
import { gaussian, rng } from '../src/util/random.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000,100000' },
    queries: { type: 'string', default: '200' },
    threads: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
const sizes = values.n!.split(',').map(Number);
const Q = Number(values.queries);
const threads = Number(values.threads);
const DIM = 512;
const K = 10;

function unit(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const inv = 1 / Math.sqrt(s);
  return v.map((x) => x * inv);
}

function data(n: number) {
  const random = rng(n);
  const ids = n / 4;
  const spread = 0.75 / Math.sqrt(DIM); // noise norm 0.75: cos(face, centre) about 0.8
  const centres = Array.from({ length: ids }, () =>
    unit(Float32Array.from({ length: DIM }, () => gaussian(random))),
  );
  const rows: IndexRow[] = [];
  for (let i = 0; i < n; i++)
    rows.push({
      faceId: i + 1,
      subjectId: Math.floor(i / 4) + 1,
      embedding: unit(Float32Array.from(centres[Math.floor(i / 4)], (x) => x + spread * gaussian(random))),
    });
  const probes = Array.from({ length: Q }, () =>
    unit(Float32Array.from(centres[Math.floor(random() * ids)], (x) => x + spread * gaussian(random))),
  );
  return { rows, probes };
}

const rss = () => process.memoryUsage().rss / 2 ** 20;

interface Row {
  n: number;
  method: string;
  qps: number;
  recall1: number;
  recall10: number;
  buildS: number;
  memMiB: number;
}

const table: Row[] = [];
for (const n of sizes) {
  const { rows, probes } = data(n);

  const m0 = rss();
  let t0 = performance.now();
  const exact = new SearchIndex(DIM, rows, 1, { ann: 'exact' });
  const exactBuild = (performance.now() - t0) / 1000;
  const exactMem = rss() - m0;
  const truth = probes.map((p) => exact.search(p, K, 'max').map((r) => r.subjectId));

  // Plain JS: every cosine, best per subject (the subject of row i is i / 4).
  const matrix = new Float32Array(n * DIM);
  rows.forEach((r, i) => matrix.set(r.embedding, i * DIM));
  const jsTop = (p: Float32Array) => {
    const best = new Float32Array(n / 4).fill(-2);
    for (let i = 0; i < n; i++) {
      const s = dotRow(p, matrix, i);
      if (s > best[i >> 2]) best[i >> 2] = s;
    }
    return [...best.keys()]
      .sort((a, b) => best[b] - best[a])
      .slice(0, K)
      .map((s) => s + 1);
  };

  const measure = (
    method: string,
    fn: (p: Float32Array) => number[],
    buildS: number,
    memMiB: number,
    q = Q,
  ) => {
    let r1 = 0;
    let r10 = 0;
    const t = performance.now();
    for (let i = 0; i < q; i++) {
      const got = fn(probes[i]);
      if (got[0] === truth[i][0]) r1++;
      const want = new Set(truth[i]);
      r10 += got.filter((s) => want.has(s)).length / K;
    }
    const s = (performance.now() - t) / 1000;
    table.push({ n, method, qps: q / s, recall1: r1 / q, recall10: r10 / q, buildS, memMiB });
  };

  measure('js loop', jsTop, 0, (n * DIM * 4) / 2 ** 20, Math.min(Q, 50));
  measure('exact (ours)', (p) => exact.search(p, K, 'max').map((r) => r.subjectId), exactBuild, exactMem);

  // Built once (f16, M 32), saved, then mapped with each ef (ef is a search-time setting, not in the file).
  const dir = mkdtempSync(join(tmpdir(), 'arcface-bench-'));
  const file = join(dir, 'g.usearch');
  t0 = performance.now();
  new SearchIndex(DIM, rows, 1, { ann: 'hnsw', buildThreads: threads }, file).close();
  const build = (performance.now() - t0) / 1000;
  const graphMiB = statSync(file).size / 2 ** 20;
  for (const ef of [128, 512]) {
    t0 = performance.now();
    const ann = new SearchIndex(DIM, rows, 1, { ann: 'hnsw', expansionSearch: ef }, file);
    const mapS = (performance.now() - t0) / 1000;
    if (ann.origin !== 'mapped') throw new Error('the saved graph was not mapped');
    measure(`hnsw f16 M32 ef${ef}`, (p) => ann.search(p, K, 'max').map((r) => r.subjectId), build, graphMiB);
    console.error(`n ${n} ef ${ef}: open (matrix + map) ${mapS.toFixed(2)} s`);
    ann.close();
  }
  rmSync(dir, { recursive: true, force: true });
}

const load = readFileSync('/proc/loadavg', 'utf8').trim();
if (values.json) console.log(JSON.stringify({ loadavg: load, threads, rows: table }));
else {
  console.log(`gallery search, ${DIM}-d, k ${K}, 'max', 1 search thread, build threads ${threads}`);
  console.log('n        method                 QPS     recall@1  recall@10  build s  mem MiB');
  for (const r of table)
    console.log(
      `${String(r.n).padEnd(8)} ${r.method.padEnd(20)} ${r.qps.toFixed(1).padStart(7)} ${r.recall1
        .toFixed(3)
        .padStart(9)} ${r.recall10.toFixed(3).padStart(10)} ${r.buildS.toFixed(2).padStart(8)} ${r.memMiB
        .toFixed(0)
        .padStart(8)}`,
    );
  console.log(`/proc/loadavg: ${load}`);
}
