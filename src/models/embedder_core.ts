/**
 * Face embeddings from a recogniser: aligned crops in, unit vectors out. Pre-processing follows
 * the manifest (channel order, (x - mean) / std, layout); with `flip` the embedding is
 * L2norm(e(x) + e(hflip(x))), the test-time convention of InsightFace's verification code, and the
 * flipped copies run in the same batch as the originals.
 *
 * The network runs on an engine (engines/): this module holds everything else and no Node import,
 * so the Node pipeline (embedder.ts, which opens the engines) and the browser build embed the same
 * way, to the same numbers.
 */
import { ArcfaceError, badInput, badShape } from '../errors.js';
import type { RgbImage } from '../image/types.js';
import type { EmbedEngine, EngineName } from './engines/types.js';
import type { InputSpec, ModelManifest } from './manifest.js';

export interface EmbedOptions {
  /** Flip-sum (default: the manifest's `flip`). */
  flip?: boolean;
  /** Faces per run (default 32); models with a batch axis fixed at 1 run one at a time. */
  batchSize?: number;
}

export interface EmbeddingInfo {
  model: string;
  dim: number;
  flip: boolean;
  licence: string;
  trainingData: string;
  researchOnly: boolean;
}

/** Per channel lookup tables: value of byte v in tensor channel c, as float32 like the tensor. */
function lookupTables(spec: InputSpec): Float32Array[] {
  return [0, 1, 2].map((c) => Float32Array.from({ length: 256 }, (_, v) => (v - spec.mean[c]) / spec.std[c]));
}

/**
 * Writes one image into `out` at `offset` as the model wants it. Tensor channel c takes source channel
 * c (RGB) or 2 - c (BGR); mean[c] and std[c] belong to tensor channel c.
 */
export function fillInput(
  img: RgbImage,
  spec: InputSpec,
  out: Float32Array,
  offset: number,
  flip = false,
  tables = lookupTables(spec),
): void {
  const { width: w, height: h } = spec;
  if (img.width !== w || img.height !== h)
    throw badShape(`image is ${img.width}x${img.height}, expected ${w}x${h}`);
  const src = img.data;
  // Branches hoisted out of the pixel loop; out[base_c + d] is channel c of pixel d (NCHW: base_c =
  // offset + c * plane, d steps by 1; NHWC: base_c = offset + c, d steps by 3).
  const [s0, s1, s2] = spec.color === 'rgb' ? [0, 1, 2] : [2, 1, 0];
  const [t0, t1, t2] = tables;
  const nchw = spec.layout === 'nchw';
  const plane = w * h;
  const b0 = offset;
  const b1 = offset + (nchw ? plane : 1);
  const b2 = offset + (nchw ? 2 * plane : 2);
  const step = nchw ? 1 : 3;
  const dir = flip ? -3 : 3;
  let d = 0;
  for (let y = 0; y < h; y++) {
    let s = (y * w + (flip ? w - 1 : 0)) * 3;
    for (let x = 0; x < w; x++, s += dir, d += step) {
      out[b0 + d] = t0[src[s + s0]];
      out[b1 + d] = t1[src[s + s1]];
      out[b2 + d] = t2[src[s + s2]];
    }
  }
}

export class EmbedderCore {
  readonly dim: number;
  /** Which engine runs the network. */
  readonly engine: EngineName;
  private checkedRun = false;
  private readonly tables: Float32Array[];
  private runner: EmbedEngine | undefined;

  protected constructor(
    readonly manifest: ModelManifest,
    readonly path: string,
    runner: EmbedEngine,
  ) {
    this.dim = manifest.output!.dim;
    this.tables = lookupTables(manifest.input);
    this.runner = runner;
    this.engine = runner.name;
  }

  /** An embedder over an engine already open (the browser's onnxruntime-web session); `path` names it. */
  static fromEngine(manifest: ModelManifest, path: string, engine: EmbedEngine): EmbedderCore {
    checkRecogniser(manifest, path);
    return new EmbedderCore(manifest, path, engine);
  }

  embeddingInfo(): EmbeddingInfo {
    const m = this.manifest;
    return {
      model: m.name,
      dim: this.dim,
      flip: m.flip,
      licence: m.licence,
      trainingData: m.trainingData,
      researchOnly: m.researchOnly,
    };
  }

  /** One unit-length embedding per face; faces must be the model's input size (aligned crops). */
  async embed(faces: RgbImage[], opts: EmbedOptions = {}): Promise<Float32Array[]> {
    const runner = this.runner;
    if (!runner) throw new ArcfaceError('BAD_INPUT', `${this.path}: embedder used after dispose()`);
    const flip = opts.flip ?? this.manifest.flip;
    const batchSize = opts.batchSize ?? 32;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw badInput(`batchSize must be a positive integer, got ${batchSize}`);
    const { width, height } = this.manifest.input;
    faces.forEach((f, i) => {
      if (f.width !== width || f.height !== height)
        throw badShape(
          `face ${i} is ${f.width}x${f.height}; model ${this.manifest.name} takes ${width}x${height} aligned crops`,
        );
    });
    const copies = flip ? 2 : 1;
    // A batch axis fixed at 1 takes one image per run, the flipped copy included.
    const perRun = runner.single ? 1 : batchSize * copies;
    const items = faces.flatMap((_, i) => (flip ? [[i, 0] as const, [i, 1] as const] : [[i, 0] as const]));
    const raw = new Float32Array(faces.length * copies * this.dim);
    const size = 3 * width * height;
    for (let start = 0; start < items.length; start += perRun) {
      const chunk = items.slice(start, start + perRun);
      const data = new Float32Array(chunk.length * size);
      chunk.forEach(([i, f], k) =>
        fillInput(faces[i], this.manifest.input, data, k * size, f === 1, this.tables),
      );
      const dims =
        this.manifest.input.layout === 'nchw'
          ? [chunk.length, 3, height, width]
          : [chunk.length, height, width, 3];
      const out = await runner.run(data, dims);
      const values = out.data;
      if (!this.checkedRun || values.length !== chunk.length * this.dim) {
        if (out.type !== 'float32' || values.length !== chunk.length * this.dim)
          throw badShape(
            `${this.path}: for ${chunk.length} image(s) the model returned ${out.type} [${out.dims.join(', ')}], expected [${chunk.length}, ${this.dim}] (output.dim of ${this.manifest.name})`,
          );
        this.checkedRun = true;
      }
      raw.set(values, start * this.dim);
    }
    return faces.map((_, i) => {
      const e = new Float64Array(this.dim);
      for (let c = 0; c < copies; c++) {
        const base = (i * copies + c) * this.dim;
        for (let j = 0; j < this.dim; j++) e[j] += raw[base + j];
      }
      let ss = 0;
      for (let j = 0; j < this.dim; j++) ss += e[j] * e[j];
      if (!Number.isFinite(ss))
        throw new ArcfaceError(
          'BACKEND',
          `${this.path}: the model returned NaN or infinite values for face ${i}`,
        );
      if (ss === 0)
        throw new ArcfaceError(
          'BACKEND',
          `${this.path}: the model returned an all-zero embedding for face ${i}`,
        );
      const inv = 1 / Math.sqrt(ss);
      return Float32Array.from(e, (v) => v * inv);
    });
  }

  async dispose(): Promise<void> {
    const r = this.runner;
    this.runner = undefined;
    await r?.release();
  }
}

/** A manifest the embedder can use: a recogniser with an output size. */
export function checkRecogniser(m: ModelManifest, path: string): void {
  if (m.task !== 'recognition' || !m.output)
    throw badInput(`${path}: model ${m.name} is a ${m.task} model, not a face recogniser`);
}
