/**
 * FaceRecognizer in the browser: the Node pipeline's create / detect / embed / verify, run on the
 * user's device on onnxruntime-web. Everything between the pixels and the verdict is the Node
 * pipeline's own code (no copies): face-api's detector passes (faceapi_core.ts), the large-photo
 * rule (scaled_faces.ts), the alignment warp (face/align.ts, dlib_chip.ts, image/warp.ts), the
 * embedder's pre-processing, flip-sum and normalisation (embedder_core.ts), the cosine, FAR and
 * verdict (pipeline/results.ts). The models are the ONNX graphs `arcface serve` runs, fetched from
 * its /lib/models/, with the server's thresholds and FAR table; nothing else is fetched.
 */
import { badInput } from '../errors.js';
import { farAt, type FarTable } from '../eval/far.js';
import { alignFace, centerCrop, type AlignedFace } from '../face/align.js';
import { FaceApiDetectorCore } from '../face/detectors/faceapi_core.js';
import { FaceApiSessions, type FaceApiNet } from '../face/detectors/faceapi_sessions.js';
import type { DetectOptions } from '../face/detectors/types.js';
import type { Face } from '../face/types.js';
import { isReduced } from '../image/source_core.js';
import type { RgbImage } from '../image/types.js';
import { checkRecogniser, EmbedderCore } from '../models/embedder_core.js';
import { sessionEngine } from '../models/engines/onnx_session.js';
import { validateManifest, type ModelManifest } from '../models/manifest.js';
import {
  NoFaceError,
  noThreshold,
  verdict,
  type EmbedOptions,
  type FaceEmbedding,
  type Verification,
} from '../pipeline/results.js';
import { alignFaces, detectFaces } from '../pipeline/scaled_faces.js';
import { decodeImage, decodeSource, resizeRgb, type BrowserImage } from './decode.js';
import { checkSha256, fetchBytes, fetchJson } from './fetch.js';
import { webOrt, type Backend } from './ort.js';

export interface RecognizerOptions {
  /** The model's name on the server (default: the one `arcface serve` runs). */
  model?: string;
  /** Where `arcface serve`'s /lib/ is (default: the folder this module was loaded from). */
  base?: string | URL;
  detect?: DetectOptions;
  /** Test-time flip-sum; default: the model's (as the server runs it). */
  flip?: boolean;
  /** Cosine threshold for verify(); default: the server's. */
  threshold?: number;
  /** Refuse images with more pixels (default 50 MP). */
  maxPixels?: number;
  /** Large JPEGs are detected on a copy with this longest side (default 2048, as in Node; 0: whole). */
  detectSide?: number;
  /** 'wasm' (default) or 'webgpu' (when navigator.gpu exists). */
  backend?: Backend;
  /** wasm threads: up to 4 by default on a cross-origin isolated page, else 1. */
  threads?: number;
}

/** What the server says it runs (/lib/models/index.json). */
interface LibIndex {
  recognizer: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export class FaceRecognizer {
  private constructor(
    readonly embedder: EmbedderCore,
    private readonly faceDetector: FaceApiDetectorCore,
    private readonly opts: RecognizerOptions,
    /** The runtime actually used: backend and wasm threads. */
    readonly runtime: { backend: Backend; threads: number },
  ) {}

  static async create(opts: RecognizerOptions = {}): Promise<FaceRecognizer> {
    if (opts.threshold !== undefined && !(opts.threshold >= -1 && opts.threshold <= 1))
      throw badInput(`threshold must be a cosine in [-1, 1], got ${opts.threshold}`);
    const lib = new URL(opts.base ?? '.', import.meta.url);
    if (!lib.pathname.endsWith('/')) lib.pathname += '/';
    const at = (path: string) => new URL(path, lib);
    const ort = await webOrt({ wasmPaths: at('ort/').href, backend: opts.backend, threads: opts.threads });
    const name = opts.model ?? ((await fetchJson(at('models/index.json'))) as LibIndex).recognizer;
    if (typeof name !== 'string' || !NAME.test(name)) throw badInput(`model "${name}": not a model name`);
    const manifest = validateManifest(await fetchJson(at(`models/${name}.json`)), `model ${name}`);
    checkRecogniser(manifest, `model ${name}`);
    const nets = new FaceApiSessions(ort, (net: FaceApiNet) => fetchBytes(at(`models/faceapi-${net}.onnx`)));
    const label = at(`models/${manifest.file}`).href;
    const [embedder, detector] = await Promise.allSettled([
      (async () => {
        const bytes = await fetchBytes(at(`models/${manifest.file}`));
        await checkSha256(bytes, manifest.sha256, label);
        const session = await ort.open({ bytes, name: label });
        try {
          return EmbedderCore.fromEngine(manifest, label, sessionEngine(session, ort, manifest, label));
        } catch (err) {
          await session.release();
          throw err;
        }
      })(),
      FaceApiDetectorCore.openOn(nets),
    ]);
    if (embedder.status === 'rejected' || detector.status === 'rejected') {
      if (embedder.status === 'fulfilled') await embedder.value.dispose();
      if (detector.status === 'fulfilled') await detector.value.dispose();
      throw embedder.status === 'rejected' ? embedder.reason : (detector as PromiseRejectedResult).reason;
    }
    return new FaceRecognizer(embedder.value, detector.value, opts, {
      backend: ort.backend,
      threads: ort.threads,
    });
  }

  get manifest(): ModelManifest {
    return this.embedder.manifest;
  }

  get flip(): boolean {
    return this.opts.flip ?? this.manifest.flip;
  }

  /** The verification threshold (the caller's, else the server's), or undefined when none is known. */
  get threshold(): number | undefined {
    return this.opts.threshold ?? this.manifest.thresholds?.verify;
  }

  get farTable(): FarTable | undefined {
    return this.manifest.impostorFar;
  }

  /** The false-accept rate of a cosine for this model, or null when no FAR table is known. */
  far(score: number): number | null {
    const t = this.farTable;
    return t ? farAt(t, score) : null;
  }

  /** The decoded image (whole, EXIF-rotated) and its faces. */
  async detect(input: BrowserImage, opts?: DetectOptions): Promise<{ image: RgbImage; faces: Face[] }> {
    const image = await decodeImage(input, { maxPixels: this.opts.maxPixels });
    const faces = await this.faceDetector.detect(image, { ...this.opts.detect, ...opts });
    return { image, faces };
  }

  /** One face onto the crop the model was trained on (its template, size and alignment). */
  align(image: RgbImage, face: Face): RgbImage {
    return this.warp(image, face).image;
  }

  private warp(image: RgbImage, face: Face): AlignedFace {
    const { width, height } = this.manifest.input;
    return alignFace(image, face, { width, height, alignment: this.manifest.alignment });
  }

  /** Embed crops already at the model's input size. */
  embedCrops(crops: RgbImage[]): Promise<Float32Array[]> {
    return this.embedder.embed(crops, { flip: this.flip });
  }

  /** Crop one image the way `embed` would, without embedding. */
  async crop(
    input: BrowserImage,
    opts: EmbedOptions = {},
  ): Promise<Omit<FaceEmbedding, 'embedding'> & { image: RgbImage }> {
    const { width: w, height: h } = this.manifest.input;
    if (opts.aligned) {
      const image = await decodeImage(input, { maxPixels: this.opts.maxPixels });
      const crop = image.width === w && image.height === h ? image : await resizeRgb(image, w, h);
      return { image: crop, crop: 'aligned', width: image.width, height: image.height };
    }
    const decoded = await decodeSource(input, {
      maxPixels: this.opts.maxPixels,
      detectSide: this.opts.detectSide,
    });
    try {
      const { source } = decoded;
      const { width, height } = source;
      const faces = await detectFaces(this.faceDetector, source, {
        ...this.opts.detect,
        keep: opts.keep ?? 'largest',
      });
      const face = faces[0];
      if (!face) {
        if ((opts.noFace ?? 'error') === 'center-crop') {
          const whole = isReduced(source)
            ? (await source.region({ x1: 0, y1: 0, x2: width - 1, y2: height - 1 })).image
            : source.image;
          const sq = centerCrop(whole, Math.max(w, h));
          const crop = sq.width === w && sq.height === h ? sq : await resizeRgb(sq, w, h);
          return { image: crop, crop: 'center-crop', width, height };
        }
        throw new NoFaceError(decoded.name);
      }
      const [image] = await alignFaces(source, [face], (img, f) => this.warp(img, f));
      return { image: image!, face, crop: 'detected', width, height };
    } finally {
      decoded.release();
    }
  }

  /** One embedding per image: the largest face (or per `keep`), aligned and L2-normalised. */
  async embed(input: BrowserImage, opts: EmbedOptions = {}): Promise<FaceEmbedding> {
    const c = await this.crop(input, opts);
    const [embedding] = await this.embedCrops([c.image]);
    const { image: _drop, ...rest } = c;
    return { ...rest, embedding: embedding! };
  }

  /** Every face in the image, each aligned and embedded. */
  async embedAll(input: BrowserImage): Promise<{ face: Face; embedding: Float32Array }[]> {
    const decoded = await decodeSource(input, {
      maxPixels: this.opts.maxPixels,
      detectSide: this.opts.detectSide,
    });
    try {
      const faces = await detectFaces(this.faceDetector, decoded.source, this.opts.detect ?? {});
      const crops = await alignFaces(decoded.source, faces, (img, f) => this.warp(img, f));
      const embs = await this.embedCrops(crops);
      return faces.map((face, i) => ({ face, embedding: embs[i]! }));
    } finally {
      decoded.release();
    }
  }

  /** 1:1 verification: cosine of the two largest faces against the threshold, as in Node. */
  async verify(a: BrowserImage, b: BrowserImage, opts: EmbedOptions = {}): Promise<Verification> {
    const threshold = this.threshold;
    if (threshold === undefined) throw noThreshold(this.manifest.name);
    const ea = await this.embed(a, opts);
    const eb = await this.embed(b, opts);
    return { ...verdict(ea.embedding, eb.embedding, threshold, this.farTable), a: ea, b: eb };
  }

  async dispose(): Promise<void> {
    await this.embedder.dispose();
    await this.faceDetector.dispose();
  }
}
