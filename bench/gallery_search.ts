/**
 * Identify latency and throughput on galleries of N random-but-clustered 512-d unit embeddings
 * (issue 5, §7): N/4 identities of 4 faces, each face its identity's centre plus noise of norm 0.75
 * (cosine to the centre 0.8, between two faces of one person 0.64; centres are isotropic, so two
 * people are at cosine 0 +- 0.044: the hardest case for a graph index, where no region of the sphere
 * is denser than another). Probes are new faces of enrolled people, as identification sees them.
 *
 * Methods, all through the code the service runs, k 10, 'max' aggregation, one search thread:
 * - `js loop`: every cosine in plain JS (the floor we started from; n <= 100k);
 * - `exact`: SearchIndex 'exact' (usearch's SIMD exactSearch over the contiguous matrix, re-scored);
 * - `hnsw`: SearchIndex 'hnsw' (usearch, f16), built once per M / ef_construction, saved, then
 *   memory-mapped with each search ef; its max(64, 4k) candidates re-scored exactly;
 * - `pgvector`: PostgresGalleryStore.search over the store's halfvec HNSW index (bulk-loaded, then
 *   built in one pass by `buildIndex`), with each `hnsw.ef_search`, and its exact scan (n <= 100k).
 * Recall@1 and @10 of the top subjects against `exact`; QPS; build time; memory (the exact
 * matrix, the graph file's size, the Postgres index's size).
 *
 * The memory-bandwidth bound of exact search: a scan reads n x 512 x 4 bytes; the single-thread copy
 * bandwidth measured here (Float32Array.set over 256 MiB, best of 5) bounds the scans per second.
 *
 *   node --import tsx bench/gallery_search.ts [--n 10000,100000,1000000] [--queries 200]
 *        [--hnsw 32:128] [--ef 64,128,256,512] [--methods js,exact,hnsw,pgvector] [--md FILE] [--json]
 *   ARCFACE_PG_SETTINGS="-c shared_buffers=4GB" bash tools/ci/with_postgres.sh \
 *     node --import tsx bench/gallery_search.ts --methods exact,hnsw,pgvector      # with PostgreSQL
 *
 * pgvector runs against --pg URL, else $ARCFACE_TEST_POSTGRES_URL (set by with_postgres.sh), in a
 * schema of its own that it drops at the end. Print /proc/loadavg with the numbers: the machine may
 * be busy.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { dotRow } from '../src/gallery/embedding.js';
import { openPostgresStore, type PostgresGalleryStore } from '../src/gallery/postgres.js';
import { SearchIndex, type IndexRow } from '../src/gallery/search_index.js';
import { rng } from '../src/util/random.js';
import { faceLikeGenerator } from './face_like.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000,100000' },
    queries: { type: 'string', default: '200' },
    hnsw: { type: 'string', default: '32:128' },
    ef: { type: 'string', default: '64,128,256,512' },
    'pg-hnsw': { type: 'string', default: '16:64' },
    'pg-ef': { type: 'string', default: '128,256,512' },
    methods: { type: 'string', default: 'js,exact,hnsw,pgvector' },
    threads: { type: 'string', default: '0' },
    pg: { type: 'string' },
    md: { type: 'string' },
    json: { type: 'boolean', default: false },
    data: { type: 'string', default: 'iso' },
    spectrum: { type: 'string', default: join(import.meta.dirname, 'fixtures/face_spectrum.json') },
  },
});
if (values.data !== 'iso' && values.data !== 'face') throw new Error('--data: iso or face');

const sizes = values.n!.split(',').map(Number);
const Q = Number(values.queries);
const methods = new Set(values.methods!.split(','));
const hnswSpecs = values.hnsw!.split(',').map((s) => s.split(':').map(Number) as [number, number]);
const efs = values.ef!.split(',').map(Number);
const pgSpec = values['pg-hnsw']!.split(':').map(Number) as [number, number];
const pgEfs = values['pg-ef']!.split(',').map(Number);
const threads = Number(values.threads);
const pgUrl = values.pg ?? process.env.ARCFACE_TEST_POSTGRES_URL;
const DIM = 512;
const K = 10;
const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

if (methods.has('pgvector') && !pgUrl) {
  log(
    'pgvector: skipped (no --pg URL and no $ARCFACE_TEST_POSTGRES_URL; see the header for with_postgres.sh)',
  );
  methods.delete('pgvector');
}

/** Best-of-5 single-thread copy bandwidth in bytes/s over buffers far larger than the caches. */
function copyBandwidth(): number {
  const src = new Float32Array(64 * 2 ** 20).fill(1); // 256 MiB
  const dst = new Float32Array(src.length);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    dst.set(src);
    best = Math.min(best, performance.now() - t);
  }
  return src.byteLength / (best / 1000);
}

/** N faces (row i is a face of identity i >> 2) in one matrix, and Q probes; seeded by N. */
function data(n: number) {
  const random = rng(n);
  const { newCentre, face } = faceLikeGenerator(random, values.data as 'iso' | 'face', values.spectrum!, DIM);
  const matrix = new Float32Array(n * DIM);
  const probes: Float32Array[] = [];
  const probeOf = new Set(Array.from({ length: Q }, () => Math.floor(random() * (n / 4))));
  for (let id = 0; id < n / 4; id++) {
    newCentre();
    for (let f = 0; f < 4; f++) face(matrix.subarray((4 * id + f) * DIM, (4 * id + f + 1) * DIM));
    if (probeOf.has(id)) face((probes[probes.length] = new Float32Array(DIM)));
  }
  while (probes.length < Q) probes.push(probes[probes.length % probeOf.size]);
  const rows = (): IndexRow[] =>
    Array.from({ length: n }, (_, i) => ({
      faceId: i + 1,
      subjectId: (i >> 2) + 1,
      embedding: matrix.subarray(i * DIM, (i + 1) * DIM),
    }));
  // Genuine (two faces of one person) and impostor cosines of what was generated, to compare with
  // the real ones (tools/face_spectrum.ts) and to print with the table.
  const cos = (a: number, b: number) => dotRow(matrix.subarray(a * DIM, (a + 1) * DIM), matrix, b);
  const gen: number[] = [];
  const imp: number[] = [];
  for (let t = 0; t < 2000; t++) {
    const id = Math.floor(random() * (n / 4));
    gen.push(cos(4 * id, 4 * id + 1 + (t % 3)));
    imp.push(cos(Math.floor(random() * n), Math.floor(random() * n)));
  }
  const ms = (xs: number[]) => {
    const m = xs.reduce((a, x) => a + x, 0) / xs.length;
    return `${m.toFixed(3)} +- ${Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length).toFixed(3)}`;
  };
  const cosines = `genuine cosine ${ms(gen)}, impostor ${ms(imp)}`;
  return { matrix, rows, probes, cosines };
}

interface Row {
  n: number;
  method: string;
  params: string;
  qps: number;
  recall1: number;
  recall10: number;
  buildS: number;
  memMiB: number;
}

const table: Row[] = [];
const bandwidth = copyBandwidth();
log(`copy bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s (one thread)`);
const bounds: { n: number; boundQps: number; exactQps: number }[] = [];
const dataNotes = new Set<string>();

async function pgvectorRows(n: number, matrix: Float32Array, probes: Float32Array[], truth: number[][]) {
  const schema = `bench_${n}_${process.pid}`;
  const url = `${pgUrl}${pgUrl!.includes('?') ? '&' : '?'}schema=${schema}`;
  const [m, efc] = pgSpec;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  const stores: PostgresGalleryStore[] = [];
  try {
    const store = await openPostgresStore(url, { annThreshold: 1, hnswM: m, hnswEfConstruction: efc });
    stores.push(store);
    await store.createGallery({ name: 'bench', model: 'synthetic', dim: DIM });
    // Bulk load: subjects, then faces in batches with the graph dropped (built in one pass after).
    await store.dropIndex('bench');
    let t0 = performance.now();
    await admin.query(`SET search_path = ${schema}, public`);
    const gid = (await admin.query('SELECT id FROM galleries WHERE name = $1', ['bench'])).rows[0].id;
    await admin.query(
      'INSERT INTO subjects (gallery_id, external_id, name) ' +
        `SELECT $1, i::text, 'p' || i FROM generate_series(1, $2::int) i`,
      [gid, n / 4],
    );
    const subjectOf = new Map<number, number>(
      (await admin.query('SELECT id, external_id FROM subjects WHERE gallery_id = $1', [gid])).rows.map(
        (r: { id: string; external_id: string }) => [Number(r.external_id), Number(r.id)],
      ),
    );
    const pgToBench = new Map([...subjectOf].map(([b, p]) => [p, b]));
    // A search through the store, answering with the bench's subject numbers.
    const searchWith = (s: PostgresGalleryStore) => async (p: Float32Array) =>
      (await s.search('bench', { embedding: p, model: 'synthetic' }, { k: K })).map((r) =>
        pgToBench.get(r.subjectId)!,
      );
    const B = 2000;
    for (let i = 0; i < n; i += B) {
      const ids: number[] = [];
      const vecs: string[] = [];
      for (let r = i; r < Math.min(n, i + B); r++) {
        ids.push(subjectOf.get((r >> 2) + 1)!);
        vecs.push(`[${matrix.subarray(r * DIM, (r + 1) * DIM).join(',')}]`);
      }
      await admin.query(
        'INSERT INTO faces (subject_id, gallery_id, model, embedding) ' +
          `SELECT s, $1, 'synthetic', e::vector FROM unnest($2::bigint[], $3::text[]) AS v (s, e)`,
        [gid, ids, vecs],
      );
      if ((i / B) % 50 === 0) log(`pgvector n ${n}: loaded ${i + ids.length}`);
    }
    await admin.query('ANALYZE faces');
    const loadS = (performance.now() - t0) / 1000;
    log(
      `pgvector n ${n}: loaded in ${loadS.toFixed(0)} s; building the index (m ${m}, ef_construction ${efc})`,
    );
    t0 = performance.now();
    await store.buildIndex('bench', { maintenanceWorkMem: '8GB' });
    const buildS = (performance.now() - t0) / 1000;
    const size = (
      await admin.query(`SELECT pg_relation_size($1::regclass) AS b`, [`${schema}.faces_hnsw_${gid}`])
    ).rows[0].b;
    const memMiB = Number(size) / 2 ** 20;
    log(`pgvector n ${n}: index built in ${buildS.toFixed(0)} s, ${memMiB.toFixed(0)} MiB`);
    await store.close();
    stores.length = 0;
    for (const ef of pgEfs) {
      const s = await openPostgresStore(url, { annThreshold: 1, efSearch: ef, maxConnections: 1 });
      stores.push(s);
      const fn = searchWith(s);
      await fn(probes[0]); // warm: pool connection, plan
      await measure(n, 'pgvector hnsw', `halfvec m${m} efc${efc} ef${ef}`, fn, probes, truth, buildS, memMiB);
      await s.close();
      stores.length = 0;
    }
    if (n <= 100_000) {
      const s = await openPostgresStore(url, { annThreshold: Number.MAX_SAFE_INTEGER, maxConnections: 1 });
      stores.push(s);
      const fn = searchWith(s);
      await fn(probes[0]);
      await measure(n, 'pgvector exact', 'seq scan', fn, probes, truth, loadS, 0, Math.min(Q, 20));
    }
  } finally {
    for (const s of stores) await s.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

function score(got: number[], want: number[]): [number, number] {
  const w = new Set(want);
  return [got[0] === want[0] ? 1 : 0, got.filter((s) => w.has(s)).length / K];
}

/** Times `fn` over the probes (awaited one by one) and scores its subjects against exact search's. */
async function measure(
  n: number,
  method: string,
  params: string,
  fn: (p: Float32Array) => number[] | Promise<number[]>,
  probes: Float32Array[],
  truth: number[][],
  buildS: number,
  memMiB: number,
  q = probes.length,
) {
  let r1 = 0;
  let r10 = 0;
  const t = performance.now();
  for (let i = 0; i < q; i++) {
    const [a, b] = score(await fn(probes[i]), truth[i]);
    r1 += a;
    r10 += b;
  }
  const s = (performance.now() - t) / 1000;
  table.push({ n, method, params, qps: q / s, recall1: r1 / q, recall10: r10 / q, buildS, memMiB });
  log(`n ${n} ${method} ${params}: ${(q / s).toFixed(1)} QPS, recall@1 ${(r1 / q).toFixed(3)}`);
}

for (const n of sizes) {
  if (!(Number.isInteger(n / 4) && n > 0)) throw new Error(`--n: ${n} is not a positive multiple of 4`);
  let t0 = performance.now();
  const { matrix, rows, probes, cosines } = data(n);
  log(`n ${n}: data in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${cosines}`);
  dataNotes.add(cosines);

  t0 = performance.now();
  const exact = new SearchIndex(DIM, rows(), 1, { ann: 'exact' });
  const exactBuild = (performance.now() - t0) / 1000;
  // The index's own copy of the vectors (RSS moves with GC too much to read at small n).
  const exactMem = (n * DIM * 4) / 2 ** 20;
  const truth = probes.map((p) => exact.search(p, K, 'max').map((r) => r.subjectId));

  if (methods.has('js') && n <= 100_000) {
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
    await measure(
      n,
      'js loop',
      'float64 dot',
      jsTop,
      probes,
      truth,
      0,
      (n * DIM * 4) / 2 ** 20,
      Math.min(Q, 20),
    );
  }
  const eq = n >= 1_000_000 ? Math.min(Q, 50) : Q;
  await measure(
    n,
    'exact (ours)',
    'usearch exactSearch f32',
    (p) => exact.search(p, K, 'max').map((r) => r.subjectId),
    probes,
    truth,
    exactBuild,
    exactMem,
    eq,
  );
  const exactQps = table[table.length - 1].qps;
  bounds.push({ n, boundQps: bandwidth / (n * DIM * 4), exactQps });

  if (methods.has('hnsw'))
    for (const [M, efAdd] of hnswSpecs) {
      const dir = mkdtempSync(join(tmpdir(), 'arcface-bench-'));
      const file = join(dir, 'g.usearch');
      t0 = performance.now();
      new SearchIndex(
        DIM,
        rows(),
        1,
        { ann: 'hnsw', connectivity: M, expansionAdd: efAdd, buildThreads: threads },
        file,
      ).close();
      const build = (performance.now() - t0) / 1000;
      const graphMiB = statSync(file).size / 2 ** 20;
      log(`n ${n} hnsw M ${M} ef_construction ${efAdd}: built and saved in ${build.toFixed(1)} s`);
      for (const ef of efs) {
        t0 = performance.now();
        const ann = new SearchIndex(
          DIM,
          rows(),
          1,
          { ann: 'hnsw', connectivity: M, expansionSearch: ef },
          file,
        );
        if (ann.origin !== 'mapped') throw new Error('the saved graph was not mapped');
        await measure(
          n,
          'hnsw (ours)',
          `f16 M${M} efc${efAdd} ef${ef}`,
          (p) => ann.search(p, K, 'max').map((r) => r.subjectId),
          probes,
          truth,
          build,
          graphMiB,
        );
        ann.close();
      }
      rmSync(dir, { recursive: true, force: true });
    }

  if (methods.has('pgvector')) await pgvectorRows(n, matrix, probes, truth);
  exact.close();
}

const load = readFileSync('/proc/loadavg', 'utf8').trim();
const head =
  `gallery search, ${DIM}-d clustered (4 faces a person), ` +
  `${values.data === 'face' ? 'face-like spectrum' : 'isotropic'} centres, ${Q} probes, k ${K}, 'max', one search thread`;
const dataLine = `Generated data: ${[...dataNotes].join('; ')}.`;
const lines = [
  '| n | method | parameters | QPS | recall@1 | recall@10 | build s | memory MiB |',
  '|---|---|---|---|---|---|---|---|',
  ...table.map(
    (r) =>
      `| ${r.n.toLocaleString('en')} | ${r.method} | ${r.params} | ${r.qps.toFixed(1)} | ${r.recall1.toFixed(3)} | ` +
      `${r.recall10.toFixed(3)} | ${r.buildS.toFixed(1)} | ${r.memMiB.toFixed(0)} |`,
  ),
];
const bw = [
  `Copy bandwidth (one thread, 256 MiB): ${(bandwidth / 1e9).toFixed(1)} GB/s.`,
  '',
  '| n | bytes a scan | bound QPS | exact QPS | bound / exact |',
  '|---|---|---|---|---|',
  ...bounds.map(
    (b) =>
      `| ${b.n.toLocaleString('en')} | ${((b.n * DIM * 4) / 2 ** 20).toFixed(0)} MiB | ${b.boundQps.toFixed(1)} | ` +
      `${b.exactQps.toFixed(1)} | ${(b.boundQps / b.exactQps).toFixed(2)} |`,
  ),
];
if (values.json) console.log(JSON.stringify({ loadavg: load, bandwidth, bounds, rows: table }));
else console.log([head, '', dataLine, '', ...lines, '', ...bw, '', `/proc/loadavg: ${load}`].join('\n'));
if (values.md)
  writeFileSync(
    values.md,
    [
      `# ${head}`,
      '',
      `Command: \`${process.argv.slice(1).join(' ')}\``,
      '',
      dataLine,
      '',
      ...lines,
      '',
      ...bw,
      '',
      `/proc/loadavg at the end: ${load}`,
      '',
    ].join('\n'),
  );
