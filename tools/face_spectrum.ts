/**
 * How real face embeddings fill the sphere, as the few numbers bench/gallery_search.ts `--data face`
 * needs to generate galleries like them: the norm of the mean embedding, the eigenvalues of the
 * identity centres' covariance (between-class) and the mean squared distance of a face from its
 * identity's centre (within-class), plus the genuine and impostor cosine statistics to check the
 * generator against. Only these statistics are written, never an embedding or a photo.
 *
 *   node --import tsx tools/face_spectrum.ts --crops CROPS [--model w600k-mbf-int8] \
 *     [--out bench/fixtures/face_spectrum.json]
 *
 * CROPS is a tree of aligned 112x112 crops, one folder per identity (`arcface prepare` writes one).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openFaceDataset } from '../src/data/dataset.js';
import { decodeImage } from '../src/image/decode.js';
import { Embedder } from '../src/models/embedder.js';
import { resolveModel } from '../src/models/resolve.js';
import { SHARED_RECOGNISERS } from '../bench/shared_models.js';

const { values } = parseArgs({
  options: {
    crops: { type: 'string' },
    model: { type: 'string', default: 'w600k-mbf-int8' },
    out: { type: 'string', default: 'bench/fixtures/face_spectrum.json' },
  },
});
if (!values.crops) throw new Error('give --crops DIR (aligned crops, a folder per identity)');
const shared = SHARED_RECOGNISERS[values.model!];
const model = await resolveModel(shared?.path ?? values.model!, shared?.preprocess ?? {});
const ds = await openFaceDataset(values.crops);
const embedder = await Embedder.load(model);
const embs: Float32Array[] = [];
for (let i = 0; i < ds.items.length; i += 64) {
  const crops = await Promise.all(ds.items.slice(i, i + 64).map((it) => decodeImage(it.file)));
  embs.push(...(await embedder.embed(crops, { flip: false })));
  process.stderr.write(`\rembedded ${embs.length} / ${ds.items.length}`);
}
process.stderr.write('\n');
await embedder.dispose();
const D = embs[0].length;
const labels = ds.items.map((it) => it.label);

// Centres: the mean of each identity's unit embeddings.
const centres = Array.from({ length: ds.numClasses }, () => new Float64Array(D));
const counts = new Array(ds.numClasses).fill(0);
embs.forEach((e, i) => {
  counts[labels[i]]++;
  for (let j = 0; j < D; j++) centres[labels[i]][j] += e[j];
});
centres.forEach((c, k) => c.forEach((_, j) => (c[j] /= counts[k])));
const mean = new Float64Array(D);
for (const c of centres) for (let j = 0; j < D; j++) mean[j] += c[j] / centres.length;
let within = 0;
embs.forEach((e, i) => {
  for (let j = 0; j < D; j++) within += (e[j] - centres[labels[i]][j]) ** 2;
});
within /= embs.length;

// Between-class covariance of the centres and its eigenvalues (cyclic Jacobi).
const C = Array.from({ length: D }, () => new Float64Array(D));
for (const c of centres)
  for (let a = 0; a < D; a++) {
    const da = c[a] - mean[a];
    for (let b = a; b < D; b++) C[a][b] += (da * (c[b] - mean[b])) / (centres.length - 1);
  }
for (let a = 0; a < D; a++) for (let b = 0; b < a; b++) C[a][b] = C[b][a];
for (let sweep = 0; sweep < 30; sweep++) {
  let off = 0;
  for (let p = 0; p < D; p++) for (let q = p + 1; q < D; q++) off += C[p][q] ** 2;
  if (off < 1e-18) break;
  for (let p = 0; p < D; p++)
    for (let q = p + 1; q < D; q++) {
      if (Math.abs(C[p][q]) < 1e-15) continue;
      const theta = (C[q][q] - C[p][p]) / (2 * C[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < D; k++) {
        const kp = C[k][p];
        const kq = C[k][q];
        C[k][p] = c * kp - s * kq;
        C[k][q] = s * kp + c * kq;
      }
      for (let k = 0; k < D; k++) {
        const pk = C[p][k];
        const qk = C[q][k];
        C[p][k] = c * pk - s * qk;
        C[q][k] = s * pk + c * qk;
      }
    }
}
const eig = Array.from({ length: D }, (_, i) => Math.max(0, C[i][i])).sort((a, b) => b - a);

// Genuine and impostor cosines of the real faces, for checking the generator.
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, j) => s + x * b[j], 0);
const gen: number[] = [];
const imp: number[] = [];
for (let i = 0; i < embs.length; i++)
  for (let j = i + 1; j < embs.length; j += 7)
    (labels[i] === labels[j] ? gen : imp).push(dot(embs[i], embs[j]));
const stats = (xs: number[]) => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  return { mean: m, std: Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length), n: xs.length };
};
const total = eig.reduce((s, x) => s + x, 0);
const out = {
  model: values.model,
  data: `${ds.items.length} crops of ${ds.numClasses} identities`,
  dim: D,
  meanNorm: Math.hypot(...mean),
  withinSq: within,
  // Participation ratio: the number of directions the centres effectively spread over.
  effectiveDim: total ** 2 / eig.reduce((s, x) => s + x * x, 0),
  eigenvalues: eig.map((x) => Number(x.toPrecision(4))),
  genuine: stats(gen),
  impostor: stats(imp),
};
writeFileSync(values.out!, JSON.stringify(out, null, 1) + '\n');
console.log(JSON.stringify({ ...out, eigenvalues: `${eig.length} values, top ${eig.slice(0, 3)}` }, null, 1));
