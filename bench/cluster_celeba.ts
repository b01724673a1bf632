/**
 * Clustering faces into people (issue 13): the algorithms of src/cluster at a few calibrated
 * thresholds, and Immich's published defaults (DBSCAN, min 3 faces, max cosine distance 0.5) on
 * the same embeddings, on the held-out half of ../shared's CelebA subset (bench/celeba.ts: identities
 * no FAR table was read from). One face a photo (the detector's best); photos with no face are left
 * out and counted. Then the time to cluster 100,000 synthetic face-like embeddings (bench/face_like.ts,
 * the w600k spectrum; 4 faces a person as bench/gallery_search.ts) through the usearch HNSW source.
 *
 *   node --import tsx bench/cluster_celeba.ts [--models dlib-resnet-v1,w600k] [--fars 1e-2,1e-3,1e-4]
 *        [--synthetic 100000] [--cache DIR] [--md bench/results/cluster_celeba.md]
 *
 * Embeddings are cached in --cache (default the OS temp dir; biometric data, so not in the repo)
 * by model and file list, so re-running the table does not detect again.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ALGORITHMS,
  annNeighbours,
  clusterFaces,
  cosineScale,
  exactNeighbours,
  farScale,
  type Algorithm,
  type ClusterFaces,
  type Scale,
} from '../src/cluster/index.js';
import type { FarTable } from '../src/eval/far.js';
import { scoreClustering } from '../src/eval/clustering.js';
import { FAR_TABLES } from '../src/models/far_tables.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { rng } from '../src/util/random.js';
import { celebaSplit, embedPhotos } from './celeba.js';
import { faceLikeGenerator } from './face_like.js';
import { SHARED_RECOGNISERS } from './shared_models.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'dlib-resnet-v1,w600k-mbf-int8' },
    fars: { type: 'string', default: '1e-2,1e-3,1e-4,1e-5' },
    'min-faces': { type: 'string', default: '2,3' },
    synthetic: { type: 'string', default: '100000' },
    cache: { type: 'string', default: join(tmpdir(), 'arcface-cluster-cache') },
    md: { type: 'string' },
    seed: { type: 'string', default: '1' },
  },
});
const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const fars = values.fars!.split(',').map(Number);
const minFacesList = values['min-faces']!.split(',').map(Number);
const md: string[] = [];
const out = (s = '') => {
  md.push(s);
  console.log(s);
};

interface Row {
  algorithm: string;
  threshold: string;
  minFaces: number;
  f1: number;
  precision: number;
  recall: number;
  bcubed: number;
  clusters: number;
  people: number;
  singletons: number;
  ms: number;
}

function run(
  faces: ClusterFaces,
  identity: string[],
  algorithm: Algorithm,
  scale: Scale,
  minFaces: number,
  label: string,
): Row {
  const t = performance.now();
  const a = clusterFaces(faces, { algorithm, scale, minFaces, source: exactNeighbours(faces.embeddings) });
  const ms = performance.now() - t;
  const s = scoreClustering(identity, a);
  return {
    algorithm,
    threshold: label,
    minFaces,
    f1: s.pairwise.f1,
    precision: s.pairwise.precision,
    recall: s.pairwise.recall,
    bcubed: s.bcubed.f,
    clusters: s.clusters,
    people: s.peopleWithTwoOrMore,
    singletons: s.singletonShare,
    ms,
  };
}

function table(rows: Row[]): void {
  out(
    '| algorithm | link at | min faces | pairwise F1 (P / R) | BCubed F | clusters / people | singletons | time ms |',
  );
  out('|---|---|---|---|---|---|---|---|');
  for (const r of rows)
    out(
      `| ${r.algorithm} | ${r.threshold} | ${r.minFaces} | ${r.f1.toFixed(3)} (${r.precision.toFixed(3)} / ${r.recall.toFixed(3)}) | ${r.bcubed.toFixed(3)} | ${r.clusters} / ${r.people} | ${(r.singletons * 100).toFixed(1)}% | ${r.ms.toFixed(0)} |`,
    );
}

/** Embeddings of the held-out photos for one model, from the cache when its key matches. */
async function embedded(
  model: string,
  files: string[],
): Promise<{ files: string[]; embs: Float32Array[]; noFace: number }> {
  const key = createHash('sha256')
    .update(`${model}\n${files.join('\n')}`)
    .digest('hex')
    .slice(0, 16);
  mkdirSync(values.cache!, { recursive: true, mode: 0o700 });
  const file = join(values.cache!, `${key}.json`);
  if (existsSync(file)) {
    const c = JSON.parse(readFileSync(file, 'utf8')) as { files: string[]; embs: number[][]; noFace: number };
    log(`${model}: ${c.files.length} embeddings from the cache`);
    return { files: c.files, embs: c.embs.map((e) => Float32Array.from(e)), noFace: c.noFace };
  }
  const shared = SHARED_RECOGNISERS[model];
  const rec = await FaceRecognizer.create(
    shared ? { model: shared.path, preprocess: shared.preprocess } : { model },
  );
  try {
    const e = await embedPhotos(rec, files, model);
    const noFace = new Set(e.noFace);
    const kept = files.filter((f) => e.embeddings.has(f) && !noFace.has(f));
    const embs = kept.map((f) => e.embeddings.get(f)!);
    writeFileSync(
      file,
      JSON.stringify({ files: kept, embs: embs.map((x) => Array.from(x)), noFace: noFace.size }),
      { mode: 0o600 },
    );
    return { files: kept, embs, noFace: noFace.size };
  } finally {
    await rec.dispose();
  }
}

out('# Clustering faces into people (bench/cluster_celeba.ts)');
out();
out(
  `${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.versions.node}, load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} at start.`,
);
out();
const split = await celebaSplit(Number(values.seed));
if (!split)
  out('CelebA subset absent (../shared/data/train/celeba-subset): the real-face tables are skipped.');
for (const model of split ? values.models!.split(',').filter(Boolean) : []) {
  const shared = SHARED_RECOGNISERS[model];
  if (shared && !existsSync(shared.path)) {
    out(`${model}: ${shared.path} absent, skipped.`);
    continue;
  }
  const items = split!.heldOut;
  const idOf = new Map(items.map((x) => [x.file, x.identity]));
  const { files, embs, noFace } = await embedded(
    model,
    items.map((x) => x.file),
  );
  const identity = files.map((f) => idOf.get(f)!);
  const faces: ClusterFaces = { ids: files.map((_, i) => i), photos: files, embeddings: embs };
  const farTable: FarTable = FAR_TABLES[model]!;
  out(`## ${model}`);
  out();
  out(
    `${files.length} faces of ${new Set(identity).size} people (held-out half; ${noFace} photos with no face left out); one face a photo. Exact neighbours, k 32.`,
  );
  out();
  const rows: Row[] = [];
  for (const algorithm of ALGORITHMS)
    for (const far of fars)
      for (const minFaces of minFacesList) {
        const scale = farScale(farTable, far);
        rows.push(
          run(faces, identity, algorithm, scale, minFaces, `FAR ${far} (cos ${scale.link.toFixed(3)})`),
        );
        log(`${model} ${algorithm} ${far} ${minFaces}: F1 ${rows.at(-1)!.f1.toFixed(3)}`);
      }
  // Immich: DBSCAN, minFaces 3 (its core size too), max cosine distance 0.5 = cosine >= 0.5.
  const immich = run(faces, identity, 'dbscan', cosineScale(0.5), 3, 'cosine 0.5 (Immich)');
  immich.algorithm = 'dbscan (Immich defaults)';
  rows.push(immich);
  table(rows);
  out();
}

// 100k synthetic faces: the whole path at scale (HNSW source, k 32), each algorithm.
const n = Number(values.synthetic);
if (n > 0) {
  const DIM = 512;
  const random = rng(n);
  const { newCentre, face } = faceLikeGenerator(
    random,
    'face',
    join(import.meta.dirname, 'fixtures/face_spectrum.json'),
    DIM,
  );
  const embeddings: Float32Array[] = [];
  const identity: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 4 === 0) newCentre();
    const v = new Float32Array(DIM);
    face(v);
    embeddings.push(v);
    identity.push(String(i >> 2));
  }
  const faces: ClusterFaces = {
    ids: embeddings.map((_, i) => i),
    photos: embeddings.map((_, i) => i),
    embeddings,
  };
  const table = FAR_TABLES['w600k-mbf-int8']!;
  out(`## ${n.toLocaleString('en')} synthetic faces (w600k spectrum and FAR table, 4 faces a person)`);
  out();
  let t = performance.now();
  const source = annNeighbours(embeddings);
  const buildS = (performance.now() - t) / 1000;
  log(`HNSW built in ${buildS.toFixed(1)} s`);
  t = performance.now();
  const graph = source.graph(32);
  const graphS = (performance.now() - t) / 1000;
  log(`kNN graph in ${graphS.toFixed(1)} s`);
  // The graph once; each run reads it through a source that hands it back.
  const cached = { size: n, graph: () => graph, search: source.search };
  out(
    `HNSW build (usearch f16, M 16, ef 128, all cores): ${buildS.toFixed(1)} s; kNN graph (k 32, ${n.toLocaleString('en')} queries, candidates re-scored exactly): ${graphS.toFixed(1)} s.`,
  );
  out();
  out(
    '| algorithm | link at | min faces | clustering s (after the graph) | total s | pairwise F1 | BCubed F | clusters / people | singletons |',
  );
  out('|---|---|---|---|---|---|---|---|---|');
  for (const far of fars)
    for (const algorithm of ALGORITHMS) {
      const scale = farScale(table, far);
      t = performance.now();
      const a = clusterFaces(faces, { algorithm, scale, minFaces: 2, source: cached });
      const s = (performance.now() - t) / 1000;
      const sc = scoreClustering(identity, a);
      out(
        `| ${algorithm} | FAR ${far} (cos ${scale.link.toFixed(3)}) | 2 | ${s.toFixed(1)} | ${(buildS + graphS + s).toFixed(1)} | ${sc.pairwise.f1.toFixed(3)} | ${sc.bcubed.f.toFixed(3)} | ${sc.clusters} / ${sc.people} | ${(sc.singletonShare * 100).toFixed(1)}% |`,
      );
    }
  out();
}
if (values.md) writeFileSync(values.md, md.join('\n') + '\n');
