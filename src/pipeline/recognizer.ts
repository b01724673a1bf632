/**
 * The one entry point most users need: image in, L2-normalised ArcFace embedding out, through the
 * InsightFace pipeline — detect 5 landmarks, warp by a similarity transform onto the template
 * (face_align.norm_crop), embed, normalise — and 1:1 verification on the cosine.
 *
 *   const rec = await FaceRecognizer.create(); // dlib-resnet-v1 + faceapi: offline, public-domain weights
 *   const rec2 = await FaceRecognizer.create({ model: 'buffalo_l' }); // after `arcface models pull buffalo_l`
 *   const { similarity, same } = await rec.verify('a.jpg', 'b.jpg');
 */
import { badInput } from '../errors.js';
import { alignFace, centerCrop, type AlignedFace } from '../face/align.js';
import { dlibTemplate5 } from '../face/dlib_chip.js';
import { alignmentTemplate } from '../face/template.js';
import type { DetectOptions, Detector } from '../face/detectors/types.js';
import type { Face, Landmarks5 } from '../face/types.js';
import { resizeRgb } from '../image/decode.js';
import { DETECT_SIDE, decodeSource, isReduced, sourceOf, type ImageSource } from '../image/source.js';
import type { RgbImage } from '../image/types.js';
import { Embedder } from '../models/embedder.js';
import type { Alignment, ModelManifest } from '../models/manifest.js';
import { DLIB_RECOGNISER } from '../models/zoo.js';
import { openDetector, resolveDetectorSpec } from './detector_path.js';
import { resolveModel, type PreprocessOverrides } from '../models/resolve.js';
import { farTableFor, thresholdFor } from '../models/user_config.js';
import { farAt, fpirAt, openSetThreshold, type FarTable } from '../eval/far.js';
import { describeInput, isRgbImage, loadImage, type ImageInput } from './inputs.js';
import {
  NoFaceError,
  noThreshold,
  verdict,
  type EmbedOptions,
  type FaceEmbedding,
  type Verification,
} from './results.js';
import { alignFaces, detectFaces } from './scaled_faces.js';

export {
  NoFaceError,
  type EmbedOptions,
  type FaceEmbedding,
  type NoFacePolicy,
  type Verdict,
  type Verification,
} from './results.js';

/**
 * dlib's public-domain ResNet recogniser, read from the weights inside the @vladmandic/face-api
 * dependency: works offline with nothing pulled, and its licence allows commercial use.
 * `arcface models pull buffalo_l` then `--model buffalo_l` for InsightFace's stronger pack
 * (non-commercial research only).
 */
export const DEFAULT_MODEL = DLIB_RECOGNISER;
/** Ships inside an npm dependency, so detection works offline with nothing pulled. */
export const DEFAULT_DETECTOR = 'faceapi';

export interface RecognizerOptions {
  /** Zoo name, manifest .json or .onnx path (default: dlib-resnet-v1, see DEFAULT_MODEL). */
  model?: string;
  /** Pre-processing for a bare .onnx model (colour order, mean, std, layout). */
  preprocess?: PreprocessOverrides;
  /** `KIND[:PATH]`: faceapi (default), yunet, scrfd, retinaface. */
  detector?: string;
  detect?: DetectOptions;
  /** Test-time flip-sum; default: the model manifest's choice. */
  flip?: boolean;
  /** Cosine threshold for verify() and identification; default: calibrated (user config), else the manifest's. */
  threshold?: number;
  /**
   * Open-set identification: the chance a stranger is named as someone enrolled (FPIR) that the
   * threshold is chosen for, given the gallery's size (default 0.01). Needs the model's FAR table.
   */
  fpir?: number;
  maxPixels?: number;
  /**
   * Large JPEGs are decoded at this longest side for detection, and at full resolution only around
   * faces that need it (image/source.ts); default DETECT_SIDE (2048), 0 decodes every photo whole.
   */
  detectSide?: number;
  threads?: number;
}

/** How an identification threshold was chosen. */
export interface OpenSetThreshold {
  threshold: number;
  /**
   * 'given': the caller's; 'calibrated': the user's "identify" threshold (user config); 'fpir': from
   * the model's FAR table for this gallery's size at the target FPIR; 'verify': the verification
   * threshold, for models without a FAR table.
   */
  rule: 'given' | 'calibrated' | 'fpir' | 'verify';
  /** The FPIR target ('fpir' rule), else the FPIR the threshold gives for this gallery when a table is known. */
  fpir: number | null;
  /** Enrolled faces the threshold was chosen for. */
  enrolled: number;
}

export class FaceRecognizer {
  private detectorPromise?: Promise<Detector>;

  private constructor(
    readonly embedder: Embedder,
    readonly detectorSpec: string,
    private readonly opts: RecognizerOptions,
  ) {}

  static async create(opts: RecognizerOptions = {}): Promise<FaceRecognizer> {
    const detectorSpec = opts.detector ?? DEFAULT_DETECTOR;
    if (opts.fpir !== undefined && !(opts.fpir > 0 && opts.fpir < 1))
      throw badInput(`fpir must be a rate in (0, 1), e.g. 0.01, got ${opts.fpir}`);
    resolveDetectorSpec(detectorSpec); // fail fast on a bad spec, before loading anything
    const model = await resolveModel(opts.model ?? DEFAULT_MODEL, opts.preprocess);
    const embedder = await Embedder.load(model, { threads: opts.threads });
    return new FaceRecognizer(embedder, detectorSpec, opts);
  }

  get manifest(): ModelManifest {
    return this.embedder.manifest;
  }

  get flip(): boolean {
    return this.opts.flip ?? this.manifest.flip;
  }

  /** The verification threshold, or undefined when none is known for this model. */
  get threshold(): number | undefined {
    return this.opts.threshold ?? thresholdFor(this.manifest, 'verify');
  }

  /** The model's FAR table: the user's calibrated one (arcface calibrate --far-table), else the manifest's. */
  get farTable(): FarTable | undefined {
    return farTableFor(this.manifest);
  }

  /** The false-accept rate of a cosine for this model, or null when no FAR table is known. */
  far(score: number): number | null {
    const t = this.farTable;
    return t ? farAt(t, score) : null;
  }

  /**
   * The threshold from which a probe is named against a gallery of `enrolled` faces: the caller's,
   * else the user's calibrated "identify" one, else the one holding the FPIR target (default 1%)
   * on the model's FAR table, else the verification threshold.
   */
  openSetThreshold(enrolled: number, opts: { threshold?: number; fpir?: number } = {}): OpenSetThreshold {
    const n = Math.max(1, Math.floor(enrolled));
    const table = this.farTable;
    const fpirOf = (t: number): number | null => (table ? fpirAt(table, t, n) : null);
    const given = opts.threshold ?? this.opts.threshold;
    if (given !== undefined) return { threshold: given, rule: 'given', fpir: fpirOf(given), enrolled: n };
    const calibrated = thresholdFor(this.manifest, 'identify');
    if (calibrated !== undefined && opts.fpir === undefined && this.opts.fpir === undefined)
      return { threshold: calibrated, rule: 'calibrated', fpir: fpirOf(calibrated), enrolled: n };
    const fpir = opts.fpir ?? this.opts.fpir ?? 0.01;
    if (table) return { threshold: openSetThreshold(table, n, fpir), rule: 'fpir', fpir, enrolled: n };
    const verify = this.threshold;
    if (verify === undefined)
      throw badInput(
        `no identification threshold is known for model ${this.manifest.name}: pass --threshold, ` +
          `or calibrate one on your labelled pairs with "arcface calibrate"`,
      );
    return { threshold: verify, rule: 'verify', fpir: null, enrolled: n };
  }

  /** The detector is loaded on first use: aligned inputs never need it. */
  detector(): Promise<Detector> {
    this.detectorPromise ??= openDetector(this.detectorSpec, { threads: this.opts.threads }).then(
      (d) => d.detector,
    );
    return this.detectorPromise;
  }

  /** The decoded photo and its faces. (locate() skips decoding all of a large JPEG.) */
  async detect(input: ImageInput, opts?: DetectOptions): Promise<{ image: RgbImage; faces: Face[] }> {
    const image = await loadImage(input, this.opts.maxPixels);
    const faces = await (await this.detector()).detect(image, { ...this.opts.detect, ...opts });
    return { image, faces };
  }

  /** The longest side large JPEGs are decoded at for detection (0: whole). */
  get detectSide(): number {
    return this.opts.detectSide ?? DETECT_SIDE;
  }

  /** A photo as the pipeline reads it: a large JPEG at detection scale, its full-resolution regions on demand. */
  async source(input: ImageInput): Promise<ImageSource> {
    if (isRgbImage(input)) return sourceOf(input);
    return decodeSource(input, { maxPixels: this.opts.maxPixels, detectSide: this.detectSide });
  }

  /** Faces in the photo's pixels (boxes, landmarks), with the source to align them from (alignAll). */
  async locate(input: ImageInput, opts?: DetectOptions): Promise<{ source: ImageSource; faces: Face[] }> {
    const source = await this.source(input);
    const faces = await detectFaces(await this.detector(), source, { ...this.opts.detect, ...opts });
    return { source, faces };
  }

  /**
   * Warp one face onto the crop the model was trained on: the ArcFace template (the default;
   * 112x112 for ArcFace models) or, for `alignment: {template: 'dlib'}`, dlib's face chip from the
   * face's 68 points when the detector gave them, else its 5.
   */
  align(image: RgbImage, face: Face): RgbImage {
    return this.warp(image, face).image;
  }

  /** align() for faces of a source: from its reduced copy, or its own pixels where the crop needs them. */
  alignAll(source: ImageSource, faces: readonly Face[]): Promise<RgbImage[]> {
    return alignFaces(source, faces, (img, f) => this.warp(img, f));
  }

  private warp(image: RgbImage, face: Face): AlignedFace {
    const { width, height } = this.manifest.input;
    return alignFace(image, face, { width, height, alignment: this.manifest.alignment });
  }

  /**
   * A crop made for another model (a gallery's stored crop) re-made for this one: the landmarks sit
   * at the template of the crop's alignment, so a similarity warp moves them onto this model's.
   * What the old crop did not contain (e.g. the chin below an ArcFace crop, in a dlib chip) is
   * filled by the warp's border rule; re-enrolling from the photos gives the exact crops.
   */
  realign(crop: RgbImage, from: Alignment = { template: 'arcface' }): RgbImage {
    const to = this.manifest.alignment ?? { template: 'arcface' };
    const { width, height } = this.manifest.input;
    const same = JSON.stringify(from) === JSON.stringify(to);
    if (same && crop.width === width && crop.height === height) return crop;
    if (crop.width !== crop.height && from.template === 'dlib')
      throw badInput(`realign: a dlib chip is square, this crop is ${crop.width}x${crop.height}`);
    const points: Landmarks5 =
      from.template === 'dlib'
        ? dlibTemplate5(crop.width, from.padding)
        : alignmentTemplate({ width: crop.width, height: crop.height }).points;
    return alignFace(crop, points, { width, height, alignment: to }).image;
  }

  /** Embed crops already at the model's input size. */
  embedCrops(crops: RgbImage[]): Promise<Float32Array[]> {
    return this.embedder.embed(crops, { flip: this.flip });
  }

  /** Crop one image the way `embed` would, without embedding: null when no face and noFace='skip'. */
  async crop(
    input: ImageInput,
    opts: EmbedOptions = {},
  ): Promise<Omit<FaceEmbedding, 'embedding'> & { image: RgbImage }> {
    const { width: w, height: h } = this.manifest.input;
    if (opts.aligned) {
      const image = await loadImage(input, this.opts.maxPixels);
      const crop = image.width === w && image.height === h ? image : await resizeRgb(image, w, h);
      return { image: crop, crop: 'aligned', width: image.width, height: image.height };
    }
    const { source, faces } = await this.locate(input, { keep: opts.keep ?? 'largest' });
    const { width, height } = source;
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
      throw new NoFaceError(describeInput(input));
    }
    const [image] = await this.alignAll(source, [face]);
    return { image, face, crop: 'detected', width, height };
  }

  /** One embedding per image: the largest face (or per `keep`), aligned and L2-normalised. */
  async embed(input: ImageInput, opts: EmbedOptions = {}): Promise<FaceEmbedding> {
    const c = await this.crop(input, opts);
    const [embedding] = await this.embedCrops([c.image]);
    const { image: _drop, ...rest } = c;
    return { ...rest, embedding: embedding! };
  }

  /** Every face in the image, each aligned and embedded (batched). */
  async embedAll(input: ImageInput): Promise<{ face: Face; embedding: Float32Array }[]> {
    const { source, faces } = await this.locate(input);
    const embs = await this.embedCrops(await this.alignAll(source, faces));
    return faces.map((face, i) => ({ face, embedding: embs[i]! }));
  }

  /** 1:1 verification: cosine of the two largest faces against the threshold. */
  async verify(a: ImageInput, b: ImageInput, opts: EmbedOptions = {}): Promise<Verification> {
    const threshold = this.threshold;
    if (threshold === undefined) throw noThreshold(this.manifest.name);
    const ea = await this.embed(a, opts);
    const eb = await this.embed(b, opts);
    return { ...verdict(ea.embedding, eb.embedding, threshold, this.farTable), a: ea, b: eb };
  }

  async dispose(): Promise<void> {
    await this.embedder.dispose();
    if (this.detectorPromise) await (await this.detectorPromise).dispose();
  }
}
