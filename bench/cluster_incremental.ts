/**
 * Incremental clustering at scale: a gallery of N clustered faces (SQLite, its search index as the
 * service opens it), then a batch of new photos clustered into it (src/service/cluster_gallery.ts),
 * against clustering everything again from scratch (the HNSW graph of all faces, as `arcface cluster`
 * without --gallery does). Synthetic face-like 512-d embeddings (bench/face_like.ts, w600k's spectrum
 * and FAR table, FAR 1e-4), 4 faces a person; the batch holds a 5th photo of existing people and
 * 4 photos each of people the gallery has never seen.
 *   node --import tsx bench/cluster_incremental.ts [--faces 100000] [--batch 1000] [--md FILE]
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { annNeighbours, clusterFaces, farScale } from '../src/cluster/index.js';
import { scoreClustering } from '../src/eval/clustering.js';
import { openSqliteStore } from '../src/gallery/sqlite.js';
import type { NewFace } from '../src/gallery/types.js';
import { FAR_TABLES } from '../src/models/far_tables.js';
import { clusterIntoGallery, readGalleryFaces } from '../src/service/cluster_gallery.js';
import { rng } from '../src/util/random.js';
import { faceLikeGenerator } from './face_like.js';

const { values } = parseArgs({
  options: {
    faces: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '1000' },
    md: { type: 'string' },
  },
});
const N = Number(values.faces);
const B = Number(values.batch);
const DIM = 512;
const md: string[] = [];
const out = (s = '') => {
  md.push(s);
  console.log(s);
};
const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const sec = (t: number) => ((performance.now() - t) / 1000).toFixed(1);

const random = rng(7);
const { newCentre, face } = faceLikeGenerator(
  random,
  'face',
  join(import.meta.dirname, 'fixtures/face_spectrum.json'),
  DIM,
);
const draw = () => {
  const v = new Float32Array(DIM);
  face(v);
  return v;
};
// Existing people: 4 faces each. The generator draws around the current centre, so each person's
// 5th face (for the batch) is drawn right after their 4.
const people = Math.floor(N / 4);
const existing: { person: number; v: Float32Array }[] = [];
const returning: { person: number; v: Float32Array }[] = [];
const half = Math.floor(B / 2);
for (let p = 0; p < people; p++) {
  newCentre();
  for (let j = 0; j < 4; j++) existing.push({ person: p, v: draw() });
  if (p < half) returning.push({ person: p, v: draw() });
}
const strangers: { person: number; v: Float32Array }[] = [];
for (let p = people; strangers.length < B - half; p++) {
  newCentre();
  for (let j = 0; j < 4 && strangers.length < B - half; j++) strangers.push({ person: p, v: draw() });
}
const batch = [...returning, ...strangers];
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const newFace = (v: Float32Array, photo: string): NewFace => ({
  embedding: v,
  model: 'w600k-mbf-int8',
  imageSha256: sha(photo),
});
const scale = farScale(FAR_TABLES['w600k-mbf-int8']!, 1e-4);
const opts = { scale, minFaces: 3 };

out(
  `# Clustering new photos into a gallery of ${N.toLocaleString('en')} faces (bench/cluster_incremental.ts)`,
);
out();
out(
  `${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.versions.node}, load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} at start. Synthetic face-like 512-d embeddings (w600k spectrum), FAR 1e-4, min faces 3; ` +
    `the batch: ${returning.length} new photos of people in the gallery, ${strangers.length} faces of ` +
    `${Math.ceil(strangers.length / 4)} people it has never seen (4 photos each).`,
);
out();

const dir = mkdtempSync(join(tmpdir(), 'arcface-cluster-inc-'));
try {
  let t = performance.now();
  let store = openSqliteStore({ dir });
  await store.createGallery({ name: 'g', model: 'w600k-mbf-int8', dim: DIM });
  // The gallery as earlier runs left it: a cluster subject per person (one transaction each 1,000).
  for (let p0 = 0; p0 < people; p0 += 1000) {
    const create = [];
    for (let p = p0; p < Math.min(people, p0 + 1000); p++)
      create.push({
        faces: existing.slice(4 * p, 4 * p + 4).map((e, j) => newFace(e.v, `p${p}-${j}`)),
        move: [],
      });
    await store.writeClusters('g', { join: [], create });
  }
  const fill = sec(t);
  log(`filled in ${fill} s`);
  await store.close();
  // Reopened as the service opens it: the index built (HNSW from 100k faces) and saved, then mapped.
  t = performance.now();
  store = openSqliteStore({ dir });
  const firstOpen = sec(t);
  await store.close();
  t = performance.now();
  store = openSqliteStore({ dir });
  const reopen = sec(t);
  log(
    `index built at first open in ${firstOpen} s, mapped at reopen in ${reopen} s (${store.indexOf('g').mode})`,
  );

  t = performance.now();
  const snapshot = await readGalleryFaces(store, 'g');
  const read = sec(t);
  t = performance.now();
  const r = await clusterIntoGallery(
    store,
    'g',
    batch.map((b, i) => newFace(b.v, `new${i}`)),
    { ...opts, snapshot },
  );
  const incremental = sec(t);
  // Right: a returning face joined its person's subject; strangers made new clusters of their own.
  const subjectOf = new Map<number, number>();
  for (let i = 0; i < snapshot.faceIds.length; i++) subjectOf.set(Math.floor(i / 4), snapshot.subjects[i]!);
  const joinedRight = returning.filter((b, i) => r.faces[i]!.subjectId === subjectOf.get(b.person)).length;
  const strangerIds = strangers.map((_, i) => r.faces[returning.length + i]!);
  const strangerScore = scoreClustering(
    strangers.map((s) => String(s.person)),
    strangerIds.map((f) => (f.outcome === 'newCluster' ? f.subjectId : null)),
  );
  const wrongJoin = strangerIds.filter((f) => f.outcome === 'joined').length;
  await store.close();

  // The alternative: everything clustered again, the graph of all N + B faces built first.
  t = performance.now();
  const all = [...existing.map((e) => e.v), ...batch.map((b) => b.v)];
  const source = annNeighbours(all);
  const a = clusterFaces(
    { ids: all.map((_, i) => i), photos: all.map((_, i) => i), embeddings: all },
    {
      ...opts,
      source,
    },
  );
  const fresh = sec(t);
  const freshScore = scoreClustering(
    [...existing.map((e) => String(e.person)), ...batch.map((b) => String(b.person))],
    a,
  );

  out('| step | seconds |');
  out('|---|---:|');
  out(
    `| fill the gallery (${people.toLocaleString('en')} clusters, ${N.toLocaleString('en')} faces, writeClusters) | ${fill} |`,
  );
  out(
    `| open the store (search index: ${N >= 100_000 ? 'the HNSW graph built as the fill passed 100,000 faces, saved at close, mapped' : 'exact'}) | ${firstOpen} |`,
  );
  out(`| open it again | ${reopen} |`);
  out(`| read the gallery's faces (readGalleryFaces) | ${read} |`);
  out(
    `| **cluster ${B.toLocaleString('en')} new faces into it** (neighbours from the store's index, one write) | **${incremental}** |`,
  );
  out(
    `| cluster all ${(N + B).toLocaleString('en')} faces again from scratch (HNSW build + graph + Chinese Whispers) | ${fresh} |`,
  );
  out();
  out(
    `Incremental: ${joinedRight} of ${returning.length} returning faces joined their person (${((100 * joinedRight) / returning.length).toFixed(1)}%); ` +
      `${wrongJoin} of ${strangers.length} strangers' faces joined someone; strangers among themselves: pairwise F1 ${strangerScore.pairwise.f1.toFixed(3)}, ` +
      `${r.newClusters.length} new clusters for ${Math.ceil(strangers.length / 4)} people, ${r.singletons} singletons. ` +
      `From scratch: pairwise F1 ${freshScore.pairwise.f1.toFixed(3)} over everyone.`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (values.md) writeFileSync(values.md, md.join('\n') + '\n');
