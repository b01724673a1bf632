/**
 * Synthetic embeddings (bench/gallery_search.ts, bench/cluster_celeba.ts): 'iso', isotropic unit
 * centres; 'face', centres drawn with the eigenvalue spectrum of real embeddings
 * (bench/fixtures/face_spectrum.json, from tools/face_spectrum.ts) so the data is as anisotropic as
 * faces are. A face is its person's centre plus isotropic noise of the measured within-class spread,
 * then unit norm. Draws from `random` in a fixed order, so a seed gives the same data.
 */
import { readFileSync } from 'node:fs';

/** tools/face_spectrum.ts's statistics of real embeddings. */
export interface FaceSpectrum {
  model: string;
  meanNorm: number;
  withinSq: number;
  eigenvalues: number[];
  genuine: { mean: number; std: number };
  impostor: { mean: number; std: number };
}

/** `newCentre()` starts a new person; `face(out)` writes one face of the current person into `out`. */
export function faceLikeGenerator(
  random: () => number,
  data: 'iso' | 'face',
  spectrumFile: string,
  dim: number,
): { newCentre: () => void; face: (out: Float32Array) => void } {
  // Box-Muller, both outputs used.
  let spare = NaN;
  const gauss = () => {
    if (!Number.isNaN(spare)) {
      const s = spare;
      spare = NaN;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12)));
    const a = 2 * Math.PI * random();
    spare = r * Math.sin(a);
    return r * Math.cos(a);
  };
  const normalise = (v: Float32Array) => {
    let s = 0;
    for (const x of v) s += x * x;
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < v.length; i++) v[i] *= inv;
    return v;
  };
  const centre = new Float32Array(dim);
  let newCentre: () => void;
  let spread: number;
  if (data === 'face') {
    // Centres ~ N(mean, diag(eigenvalues)) (every method here is rotation invariant, so the
    // eigenbasis may as well be the axes; the mean on the last, weakest axis), faces = centre +
    // isotropic noise with the measured within-class spread, then unit norm.
    const spec = JSON.parse(readFileSync(spectrumFile, 'utf8')) as FaceSpectrum;
    const sd = spec.eigenvalues.map(Math.sqrt);
    spread = Math.sqrt(spec.withinSq / dim);
    newCentre = () => {
      for (let j = 0; j < dim; j++) centre[j] = sd[j] * gauss();
      centre[dim - 1] += spec.meanNorm;
    };
  } else {
    spread = 0.75 / Math.sqrt(dim);
    newCentre = () => {
      for (let j = 0; j < dim; j++) centre[j] = gauss();
      normalise(centre);
    };
  }
  const face = (out: Float32Array) => {
    for (let j = 0; j < dim; j++) out[j] = centre[j] + spread * gauss();
    normalise(out);
  };
  return { newCentre, face };
}
