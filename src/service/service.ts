/**
 * The recognition service: a gallery store plus a FaceRecognizer, the one layer the CLI and the HTTP
 * API both stand on. It decides what a call means (one face per enroll image, every face of an
 * identify photo, which threshold says "unknown") and keeps every write of a call in one store
 * transaction, so a failed or killed enroll leaves nothing half written.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import sharp from 'sharp';
import {
  DEFAULT_LINK_FAR,
  DEFAULT_MIN_FACES,
  farScale,
  type Algorithm,
  type Scale,
} from '../cluster/index.js';
import { ArcfaceError, badInput } from '../errors.js';
import { fpirAt } from '../eval/far.js';
import {
  DEFAULT_MIN_QUALITY,
  faceQuality,
  qualityShortfall,
  type FaceQuality,
  type QualityMeasure,
} from '../face/quality.js';
import type { Face as DetectedFace } from '../face/types.js';
import {
  iou,
  SAME_FACE_IOU,
  identify as identifyInStore,
  openStore,
  verifySubject as verifyInStore,
  type Aggregate,
  type Gallery,
  type GalleryStore,
  type JsonValue,
  type OpenStoreOptions,
  type Correction,
  type NewFace,
  type PhotoBox,
  type PurgeStatus,
  type Subject,
  type SubjectKind,
  type SubjectMatch,
} from '../gallery/index.js';
import { DEFAULT_MAX_PIXELS, decodeImage, encodeImage, maxSideFor, sizeProblem } from '../image/decode.js';
import { decodeSource, type ImageSource } from '../image/source.js';
import { findModel } from '../models/zoo.js';
import type { RgbImage } from '../image/types.js';
import { FaceRecognizer, type OpenSetThreshold, type RecognizerOptions } from '../pipeline/recognizer.js';
import { detectFaces } from '../pipeline/scaled_faces.js';
import { angleDegrees, cosine } from '../pipeline/similarity.js';
import { clusterIntoGallery, readGalleryFaces, type PlacedFace } from './cluster_gallery.js';
import { ServiceError, type ImageFailure } from './errors.js';
import { checkGalleryName, checkMetadata, checkSubjectName } from './names.js';
import { requireImage } from './sniff.js';

/** An image given as bytes (an upload) with a label for messages, or a file path (the CLI). */
export type ImageArg = string | { bytes: Uint8Array; label: string };

export interface ServiceOptions {
  /** Faces identified or detected per image, the largest first (default 20). */
  maxFaces?: number;
  /** Pixel cap before decoding (default: the decoder's 50 MP). */
  maxPixels?: number;
  /** Longest side before decoding (default: the decoder's, 16384 px under the default pixel cap). */
  maxSide?: number;
  /** Combined quality below which enroll refuses a face and identify marks it (default 0.2; 0: off). */
  minQuality?: number;
}

/** A detected face with its quality (src/face/quality.ts). */
export type QualifiedFace = DetectedFace & { quality: FaceQuality };

/**
 * What a call may be stopped by: once `signal` aborts, the call throws its reason at the next
 * stage (after reading the header, decoding, detecting, each embedding batch) and writes nothing.
 */
export interface WorkOptions {
  signal?: AbortSignal;
}

export interface OpenServiceOptions extends ServiceOptions {
  /** A `postgres://` URL or a data folder (default ./arcface-data), or an open store. */
  store?: string | GalleryStore;
  /** Options of the store opened from `store` (search index: exact/HNSW switch, ef...). */
  storeOptions?: OpenStoreOptions;
  /** A ready recogniser, or the options to create one (default: dlib-resnet-v1, faceapi). */
  recognizer?: FaceRecognizer | RecognizerOptions;
}

/** Who to enroll into: an existing subject by id, or by external id (created with `name` when absent). */
export type SubjectRef = { id: number } | { externalId: string; name?: string; metadata?: JsonValue };

export interface EnrollOptions extends WorkOptions {
  /** Create the gallery (bound to this service's model) when it does not exist (default false). */
  createGallery?: boolean;
  /** Enroll the images that worked and list the others, instead of refusing the whole call (default false). */
  partial?: boolean;
  /** Refuse faces whose combined quality is below this (default: the service's; 0 turns the gate off). */
  minQuality?: number;
}

export interface EnrolledFace {
  image: string;
  faceId: number;
  box: DetectedFace['box'];
  detScore: number;
  /** Faces the detector found in the image; only the largest is enrolled. */
  facesInImage: number;
  imageSha256: string;
  quality: FaceQuality;
}

export interface EnrollResult {
  gallery: string;
  subject: Subject;
  subjectCreated: boolean;
  faces: EnrolledFace[];
  failures: ImageFailure[];
}

export interface IdentifyOptions extends WorkOptions {
  k?: number;
  /** Cosine from which the best subject is named (default: chosen for the gallery's size, see `fpir`). */
  threshold?: number;
  /** The chance a stranger is named that the default threshold is chosen for (default 0.01). */
  fpir?: number;
  aggregate?: Aggregate;
  /** Faces below this combined quality are marked lowQuality (default: the service's; 0: none). */
  minQuality?: number;
}

export interface IdentifiedFace {
  box: DetectedFace['box'];
  landmarks: DetectedFace['landmarks'];
  detScore: number;
  /** The best subject when it reaches the threshold, else null: "unknown". */
  subject: SubjectMatch | null;
  /** The best subject's score whether or not it reached the threshold (null: empty gallery). */
  score: number | null;
  /** That score's false-accept rate on the model's impostor distribution (null: no table or no score). */
  far: number | null;
  /** The chance a stranger scores this high against this gallery (null: no table or no score). */
  fpir: number | null;
  candidates: SubjectMatch[];
  quality: FaceQuality;
  /** Below the minimum quality: the answer stands, but is less to be trusted. */
  lowQuality: boolean;
  /** The measure that made it so (null when not lowQuality). */
  lowQualityMeasure: QualityMeasure | null;
}

export interface IdentifyResult {
  gallery: string;
  model: string;
  threshold: number;
  /** How the threshold was chosen, the FPIR it holds, and for how many enrolled faces. */
  thresholdRule: OpenSetThreshold['rule'];
  fpirTarget: number | null;
  enrolled: number;
  width: number;
  height: number;
  /** Faces the detector found; only the `maxFaces` largest are identified. */
  facesFound: number;
  /** sha256 of the photo's bytes: with a face's box, what a correction ("not this person") names. */
  imageSha256: string;
  faces: IdentifiedFace[];
}

/** The threshold rule of an identify answer. */
export type IdentifyRule = Pick<IdentifyResult, 'threshold' | 'thresholdRule' | 'fpirTarget' | 'enrolled'>;

const ruleJson = (rule: OpenSetThreshold): IdentifyRule => ({
  threshold: rule.threshold,
  thresholdRule: rule.rule,
  fpirTarget: rule.rule === 'fpir' ? rule.fpir : null,
  enrolled: rule.enrolled,
});

/** A face identified from its embedding: as IdentifiedFace, less what only the photo gives. */
export type EmbeddingIdentifiedFace = Pick<
  IdentifiedFace,
  'subject' | 'score' | 'far' | 'fpir' | 'candidates'
> & {
  /** The box the client gave for it (for corrections of its photo). */
  box?: PhotoBox;
};

export interface EmbeddingIdentifyResult extends IdentifyRule {
  gallery: string;
  model: string;
  /** The photo's sha256 as the client gave it: what a correction of one of its faces names. */
  imageSha256?: string;
  faces: EmbeddingIdentifiedFace[];
}

export interface EmbeddingEnrollResult {
  gallery: string;
  subject: Subject;
  faces: { faceId: number; hasCrop: boolean }[];
}

/**
 * The face a correction is about: a stored face (enrolled or clustered), a face of a photo given
 * again (its largest face, or the one at `box`), or a photo already identified, by the
 * `imageSha256` and face `box` identify returned (no upload needed).
 */
export type CorrectionTarget =
  { faceId: number } | { image: ImageArg; box?: PhotoBox } | { imageSha256: string; box?: PhotoBox };

export interface PairVerification {
  similarity: number;
  /** The similarity's false-accept rate on the model's impostor distribution (null: no table). */
  far: number | null;
  /** Degrees between the two embeddings. */
  angle: number;
  threshold: number;
  same: boolean;
  /** The face used in each image (its largest). */
  faces: [DetectedFace, DetectedFace];
}

export interface SubjectVerifyResult {
  same: boolean;
  score: number;
  /** The score's false-accept rate on the model's impostor distribution (null: no table). */
  far: number | null;
  threshold: number;
  faceId: number;
  box: DetectedFace['box'];
}

export interface ClusterPhotosOptions extends WorkOptions {
  /** Create the gallery (bound to this service's model) when it does not exist (default false). */
  createGallery?: boolean;
  /** Cluster the images that worked and list the others, instead of refusing the whole call (default false). */
  partial?: boolean;
  /** Faces below this combined quality are not clustered nor stored (default: the service's; 0: off). */
  minQuality?: number;
  /** Default Chinese Whispers (src/cluster/defaults.ts). */
  algorithm?: Algorithm;
  /** A new person needs this many faces; fewer stay singletons (default 3). */
  minFaces?: number;
  /** Neighbours looked at per face (default 32). */
  k?: number;
  /** Which faces link (default: the model's FAR table at FAR 1e-4). */
  scale?: Scale;
}

/** One detected face of a clustered photo, and where it went. */
export interface ClusteredFace {
  /** The image it is in: the path given (CLI), or image[i] for the i-th upload (API). */
  name: string;
  box: DetectedFace['box'];
  detScore: number;
  quality: FaceQuality;
  lowQuality: boolean;
  lowQualityMeasure: QualityMeasure | null;
  /**
   * 'joined' an existing subject (a person or a cluster), in a 'newCluster' made by this call, a
   * 'singleton' (stored as a one-face cluster), or 'lowQuality': below minQuality, not stored.
   */
  outcome: Exclude<PlacedFace['outcome'], 'duplicate'> | 'lowQuality';
  /** The stored face (null: low quality, not stored). */
  faceId: number | null;
  /** The subject holding it: a person, a cluster, or a singleton's own one-face cluster (null: not stored). */
  subjectId: number | null;
  kind: SubjectKind | null;
  /** Alone in a one-face cluster: joined no one. */
  singleton: boolean;
}

export interface ClusterPhotosResult {
  gallery: string;
  model: string;
  /** Every face of every photo clustered, photo by photo in the order given, largest face first. */
  faces: ClusteredFace[];
  /** Photos the gallery already holds (same sha256 of the bytes), or given twice: skipped. */
  duplicates: string[];
  /** Images that could not be read (with `partial`; without it the call is refused). */
  failures: ImageFailure[];
  /** Subjects made by this call with two or more faces. */
  newClusters: number[];
  /** One-face clusters deleted because their face moved into a new cluster. */
  removedClusters: number[];
  summary: {
    photos: number;
    duplicates: number;
    failed: number;
    /** Photos in which no face was found. */
    noFace: number;
    faces: number;
    lowQuality: number;
    /** Faces that joined an existing subject. */
    joined: number;
    newClusters: number;
    /** New one-face clusters. */
    singletons: number;
    /** Stored singletons that moved into a new cluster. */
    singletonsJoined: number;
  };
}

const area = (f: DetectedFace): number => (f.box.x2 - f.box.x1) * (f.box.y2 - f.box.y1);
/** Faces embedded per run between two checks of the signal (maxFaces is 20 by default). */
const EMBED_BATCH = 8;

/** A plain FIFO lock: one inference at a time (CPU-bound, and onnxruntime sessions are not re-entrant). */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(f: () => Promise<T>): Promise<T> {
    const next = this.tail.then(f, f);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export class RecognitionService {
  private readonly serial = new Serial();
  /** Clustering calls one at a time: each reads the gallery, then writes what it decided from that. */
  private readonly clustering = new Serial();
  readonly maxFaces: number;
  readonly maxPixels: number;
  readonly maxSide: number;
  readonly minQuality: number;

  constructor(
    readonly store: GalleryStore,
    readonly recognizer: FaceRecognizer,
    options: ServiceOptions = {},
  ) {
    this.maxFaces = options.maxFaces ?? 20;
    this.maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
    this.maxSide = options.maxSide ?? maxSideFor(this.maxPixels);
    this.minQuality = checkMinQuality(options.minQuality ?? DEFAULT_MIN_QUALITY);
    if (!(Number.isInteger(this.maxFaces) && this.maxFaces >= 1))
      throw badInput(`service: maxFaces must be a positive integer, got ${options.maxFaces}`);
  }

  /** Opens the store and loads the models (the detector too, so the first request is not the slow one). */
  static async open(options: OpenServiceOptions = {}): Promise<RecognitionService> {
    const store =
      typeof options.store === 'object'
        ? options.store
        : await openStore(options.store, options.storeOptions);
    try {
      const recognizer =
        options.recognizer instanceof FaceRecognizer
          ? options.recognizer
          : await FaceRecognizer.create({ maxPixels: options.maxPixels, ...options.recognizer });
      await recognizer.detector();
      return new RecognitionService(store, recognizer, options);
    } catch (err) {
      if (typeof options.store !== 'object') await store.close();
      throw err;
    }
  }

  /** The name every embedding of this service is stored under. */
  get model(): string {
    return this.recognizer.manifest.name;
  }

  get dim(): number {
    const dim = this.recognizer.manifest.output?.dim;
    if (!dim) throw new ArcfaceError('BAD_CONFIG', `model ${this.model}: its manifest gives no output.dim`);
    return dim;
  }

  /** The open-set threshold: the caller's, else the model's calibrated verify threshold. */
  threshold(given?: number): number {
    const t = given ?? this.recognizer.threshold;
    if (t === undefined)
      throw badInput(
        `no threshold is known for model ${this.model}: give one, or calibrate the model with "arcface calibrate"`,
      );
    return t;
  }

  // ---- galleries and subjects -------------------------------------------------------------------

  async createGallery(name: string): Promise<Gallery> {
    checkGalleryName(name);
    if (await this.store.getGallery(name))
      throw new ServiceError('CONFLICT', `gallery '${name}' already exists in ${this.store.location}`);
    return this.store.createGallery({ name, model: this.model, dim: this.dim });
  }

  /** The gallery, NOT_FOUND when absent. */
  async gallery(name: string): Promise<Gallery> {
    checkGalleryName(name);
    const g = await this.store.getGallery(name);
    if (!g) throw new ArcfaceError('NOT_FOUND', `no gallery '${name}' in ${this.store.location}`);
    return g;
  }

  /** The gallery, refused with CONFLICT when it was made with another model than this service's. */
  private async galleryForModel(name: string, action: string): Promise<Gallery> {
    const g = await this.gallery(name);
    if (g.model !== this.model)
      throw new ServiceError(
        'CONFLICT',
        `${action}: gallery '${name}' holds embeddings of model '${g.model}', this service runs ` +
          `'${this.model}' (embeddings of two models never mix: use --model ${g.model}, or reindex the gallery)`,
      );
    return g;
  }

  /** Creates the gallery (bound to this service's model) unless it exists. */
  private async ensureGallery(name: string): Promise<void> {
    checkGalleryName(name);
    if (await this.store.getGallery(name)) return;
    await this.store.createGallery({ name, model: this.model, dim: this.dim }).catch(async (err) => {
      if (!(await this.store.getGallery(name))) throw err; // else: created meanwhile by another call
    });
  }

  /** Deletes a gallery; returns whether its bytes are gone from the files yet (null: the store does not say). */
  async deleteGallery(name: string): Promise<PurgeStatus | null> {
    await this.gallery(name);
    await this.store.deleteGallery(name);
    return this.store.purgeStatus?.() ?? null;
  }

  async subject(gallery: string, id: number): Promise<Subject> {
    await this.gallery(gallery);
    const s = await this.store.getSubject(gallery, id);
    if (!s) throw new ArcfaceError('NOT_FOUND', `gallery '${gallery}' has no subject ${id}`);
    return s;
  }

  async addSubject(
    gallery: string,
    subject: { name: string; externalId?: string; metadata?: JsonValue },
  ): Promise<Subject> {
    // Checked before anything is looked up or stored; the store applies the same rules again.
    const name = checkSubjectName(subject.name, 'subject name');
    const externalId =
      subject.externalId === undefined
        ? undefined
        : checkSubjectName(subject.externalId, 'subject external id');
    checkMetadata(subject.metadata);
    await this.gallery(gallery);
    const conflict = () =>
      new ServiceError(
        'CONFLICT',
        `gallery '${gallery}' already has a subject with external id '${externalId}'`,
      );
    if (externalId !== undefined && (await this.store.findSubject(gallery, externalId))) throw conflict();
    // The fields by name: a caller's object never sets what only an import may (createdAt).
    try {
      return await this.store.addSubject(gallery, { name, externalId, metadata: subject.metadata });
    } catch (err) {
      // Made by a concurrent call between the check above and the insert: the same 409.
      if (externalId !== undefined && (await this.store.findSubject(gallery, externalId))) throw conflict();
      throw err;
    }
  }

  /** Deletes the subject with its embeddings and crops, for good; the purge's status as deleteGallery. */
  async deleteSubject(gallery: string, id: number): Promise<PurgeStatus | null> {
    await this.subject(gallery, id);
    await this.store.deleteSubject(gallery, id);
    return this.store.purgeStatus?.() ?? null;
  }

  // ---- images ------------------------------------------------------------------------------------

  /** Bytes of an image argument, checked by content and by pixel count before any decoding. */
  private async imageBytes(arg: ImageArg): Promise<{ bytes: Uint8Array; label: string }> {
    let bytes: Uint8Array;
    let label: string;
    if (typeof arg === 'string') {
      label = arg;
      try {
        bytes = await readFile(arg);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT')
          throw new ArcfaceError('NOT_FOUND', `${arg}: no such file`);
        throw badInput(`${arg}: cannot read (${(err as Error).message})`);
      }
    } else ({ bytes, label } = arg);
    requireImage(bytes, label);
    let w = 0;
    let h = 0;
    try {
      ({ width: w = 0, height: h = 0 } = await sharp(bytes, { limitInputPixels: false }).metadata());
    } catch (err) {
      throw badInput(`${label}: not a readable image (${(err as Error).message.split('\n')[0]})`);
    }
    if (w * h > this.maxPixels)
      throw new ServiceError(
        'TOO_LARGE',
        `${label}: ${w}x${h} is over the ${(this.maxPixels / 1e6).toFixed(1)} megapixel limit`,
      );
    const over = sizeProblem(w, h, this.maxPixels, this.maxSide);
    if (over) throw new ServiceError('TOO_LARGE', `${label}: ${over}`);
    return { bytes, label };
  }

  /** The photo: a large JPEG at detection scale, its full-resolution regions on demand (image/source.ts). */
  private async decode(
    arg: ImageArg,
    signal?: AbortSignal,
  ): Promise<{ source: ImageSource; bytes: Uint8Array; label: string }> {
    return this.decodeBytes(await this.imageBytes(arg), signal);
  }

  private async decodeBytes(
    { bytes, label }: { bytes: Uint8Array; label: string },
    signal?: AbortSignal,
  ): Promise<{ source: ImageSource; bytes: Uint8Array; label: string }> {
    signal?.throwIfAborted();
    const source = await decodeSource(bytes, {
      maxPixels: this.maxPixels,
      maxSide: this.maxSide,
      name: label,
      detectSide: this.recognizer.detectSide,
    });
    signal?.throwIfAborted();
    return { source, bytes, label };
  }

  /** Detected faces in the photo's pixels, largest first, at most maxFaces. */
  private async faces(
    source: ImageSource,
    signal?: AbortSignal,
  ): Promise<{ faces: DetectedFace[]; found: number }> {
    signal?.throwIfAborted();
    const all = await detectFaces(await this.recognizer.detector(), source, {});
    signal?.throwIfAborted();
    const faces = [...all].sort((a, b) => area(b) - area(a)).slice(0, this.maxFaces);
    return { faces, found: all.length };
  }

  /** The faces aligned and embedded, EMBED_BATCH at a time, the signal checked between batches. */
  private async embedFaces(
    source: ImageSource,
    faces: DetectedFace[],
    signal?: AbortSignal,
  ): Promise<{ crops: RgbImage[]; embeddings: Float32Array[] }> {
    const crops = await this.recognizer.alignAll(source, faces);
    const embeddings: Float32Array[] = [];
    for (let i = 0; i < crops.length; i += EMBED_BATCH) {
      signal?.throwIfAborted();
      embeddings.push(...(await this.recognizer.embedCrops(crops.slice(i, i + EMBED_BATCH))));
    }
    signal?.throwIfAborted();
    return { crops, embeddings };
  }

  /** The quality of each face from its aligned crop (the model's, so it is what gets embedded). */
  private qualities(faces: DetectedFace[], crops: RgbImage[]): FaceQuality[] {
    return faces.map((f, i) => faceQuality(f, crops[i]!, this.recognizer.manifest.alignment));
  }

  /** Every face (up to maxFaces, largest first) with its box, landmarks, detector score and quality. */
  async detect(
    arg: ImageArg,
    { signal }: WorkOptions = {},
  ): Promise<{ width: number; height: number; faces: QualifiedFace[]; found: number }> {
    const { source } = await this.decode(arg, signal);
    const { faces, found, crops } = await this.serial.run(async () => {
      const r = await this.faces(source, signal);
      return { ...r, crops: await this.recognizer.alignAll(source, r.faces) };
    });
    const quality = this.qualities(faces, crops);
    return {
      width: source.width,
      height: source.height,
      faces: faces.map((f, i) => ({ ...f, quality: quality[i]! })),
      found,
    };
  }

  /** Every face with its embedding. */
  async embed(
    arg: ImageArg,
    { signal }: WorkOptions = {},
  ): Promise<{
    width: number;
    height: number;
    found: number;
    faces: { face: DetectedFace; embedding: Float32Array }[];
  }> {
    const { source } = await this.decode(arg, signal);
    return this.serial.run(async () => {
      const { faces, found } = await this.faces(source, signal);
      const { embeddings: embs } = await this.embedFaces(source, faces, signal);
      return {
        width: source.width,
        height: source.height,
        found,
        faces: faces.map((face, i) => ({ face, embedding: embs[i]! })),
      };
    });
  }

  /** 1:1: the largest face of each image against the threshold. */
  async verify(
    a: ImageArg,
    b: ImageArg,
    threshold?: number,
    { signal }: WorkOptions = {},
  ): Promise<PairVerification> {
    const t = this.threshold(threshold);
    const [ia, ib] = [await this.decode(a, signal), await this.decode(b, signal)];
    const fa = await this.largestFace(ia.source, ia.label, signal);
    const fb = await this.largestFace(ib.source, ib.label, signal);
    const similarity = cosine(fa.embedding, fb.embedding);
    return {
      similarity,
      far: this.recognizer.far(similarity),
      angle: angleDegrees(similarity),
      threshold: t,
      same: similarity >= t,
      faces: [fa.face, fb.face],
    };
  }

  /** The largest face: its aligned crop, embedding and detection. NO_FACE when there is none. */
  private async largestFace(
    source: ImageSource,
    label: string,
    signal?: AbortSignal,
  ): Promise<{ face: DetectedFace; found: number; crop: RgbImage; embedding: Float32Array }> {
    return this.serial.run(async () => {
      const { faces, found } = await this.faces(source, signal);
      const face = faces[0];
      if (!face) throw new ServiceError('NO_FACE', `${label}: no face found`);
      const { crops, embeddings } = await this.embedFaces(source, [face], signal);
      return { face, found, crop: crops[0]!, embedding: embeddings[0]! };
    });
  }

  // ---- enroll, identify, verify against a subject ----------------------------------------------

  /**
   * Enrolls the largest face of each image (one face per enroll image: a group photo enrolls its
   * largest face, and `facesInImage` says how many there were). All faces of the call go to the store
   * in one transaction; an image that fails (unreadable, no face, a face below `minQuality`: 422
   * LOW_QUALITY naming the measure) refuses the whole call with every failure listed, unless `partial`.
   */
  async enroll(
    gallery: string,
    subject: SubjectRef,
    images: ImageArg[],
    options: EnrollOptions = {},
  ): Promise<EnrollResult> {
    if (images.length === 0) throw badInput(`enroll into gallery '${gallery}': give at least one image`);
    if (options.createGallery) await this.ensureGallery(gallery);
    await this.galleryForModel(gallery, `enroll into gallery '${gallery}'`);
    // By id: it must exist before any image is read. By external id: found or made after them.
    if ('id' in subject) await this.subject(gallery, subject.id);

    const { signal } = options;
    const minQuality =
      options.minQuality === undefined ? this.minQuality : checkMinQuality(options.minQuality);
    const faces: NewFace[] = [];
    const done: Omit<EnrolledFace, 'faceId'>[] = [];
    const failures: ImageFailure[] = [];
    for (const arg of images) {
      const label = typeof arg === 'string' ? arg : arg.label;
      try {
        const { source, bytes } = await this.decode(arg, signal);
        const { face, found, crop, embedding } = await this.largestFace(source, label, signal);
        const [quality] = this.qualities([face], [crop]);
        const low = qualityShortfall(quality!, minQuality);
        if (low) throw new ServiceError('LOW_QUALITY', `${label}: ${low.message}`);
        const imageSha256 = createHash('sha256').update(bytes).digest('hex');
        faces.push({
          embedding,
          model: this.model,
          imageSha256,
          detScore: face.score,
          crop: new Uint8Array(await encodeImage(crop, 'png')),
          box: face.box,
        });
        done.push({
          image: label,
          box: face.box,
          detScore: face.score,
          facesInImage: found,
          imageSha256,
          quality: quality!,
        });
      } catch (err) {
        if (!(err instanceof ArcfaceError) || signal?.aborted) throw err;
        failures.push({ image: label, code: errorKind(err), message: err.message });
      }
    }
    if (failures.length > 0 && (!options.partial || faces.length === 0)) {
      const only = (k: string) => failures.every((f) => f.code === k);
      const kind = only('NO_FACE') ? 'NO_FACE' : only('LOW_QUALITY') ? 'LOW_QUALITY' : firstKind(failures);
      throw new ServiceError(
        kind,
        `enroll into gallery '${gallery}': nothing enrolled, ${failures.length} of ${images.length} image(s) ` +
          `failed: ${failures.map((f) => f.message).join('; ')}`,
        failures,
      );
    }

    // Stopped (timed out): the caller is told so, and nothing may be stored behind its back.
    signal?.throwIfAborted();
    const { subject: target, created, ids } = await this.storeFaces(gallery, subject, faces);
    const fresh = (await this.store.getSubject(gallery, target.id)) ?? target;
    return {
      gallery,
      subject: fresh,
      subjectCreated: created,
      faces: done.map((d, i) => ({ ...d, faceId: ids[i]! })),
      failures,
    };
  }

  /**
   * The faces into the subject: by id, or found-or-created by external id. Concurrent enrolls of a
   * new external id (three `arcface enroll G NAME` at once, each its own store connection) all land
   * in one subject: the store's unique (gallery, external id) lets one create it, and the others,
   * refused, read it back and use it. A subject this call created and could not fill is removed
   * again, unless another call has put faces in it meanwhile.
   */
  private async storeFaces(
    gallery: string,
    ref: SubjectRef,
    faces: NewFace[],
  ): Promise<{ subject: Subject; created: boolean; ids: number[] }> {
    if ('id' in ref) {
      const subject = await this.subject(gallery, ref.id);
      return { subject, created: false, ids: await this.store.addFaces(gallery, subject.id, faces) };
    }
    for (let attempt = 1; ; attempt++) {
      let subject = await this.store.findSubject(gallery, ref.externalId);
      let created = false;
      if (!subject) {
        try {
          subject = await this.store.addSubject(gallery, {
            name: ref.name ?? ref.externalId,
            externalId: ref.externalId,
            metadata: ref.metadata,
          });
          created = true;
        } catch (err) {
          // Created meanwhile by another call: use it. Anything else (a bad name...) is the caller's.
          subject = await this.store.findSubject(gallery, ref.externalId);
          if (!subject) throw err;
        }
      }
      try {
        return { subject, created, ids: await this.store.addFaces(gallery, subject.id, faces) };
      } catch (err) {
        if (created) {
          const now = await this.store.getSubject(gallery, subject.id).catch(() => null);
          if (now && now.faces === 0)
            await this.store.deleteSubject(gallery, subject.id).catch(() => undefined);
        } else if (attempt < 3 && err instanceof ArcfaceError && err.code === 'NOT_FOUND') {
          // The subject found was removed by the call that made it (its own enroll failed): again.
          if (await this.store.getGallery(gallery)) continue;
        }
        throw err;
      }
    }
  }

  /** Who is in this photo? Every face (largest first, up to maxFaces), each named or "unknown". */
  async identify(gallery: string, arg: ImageArg, options: IdentifyOptions = {}): Promise<IdentifyResult> {
    const g = await this.galleryForModel(gallery, `identify in gallery '${gallery}'`);
    const rule = this.identifyRule(g, options);
    const { signal } = options;
    const minQuality =
      options.minQuality === undefined ? this.minQuality : checkMinQuality(options.minQuality);
    const { source, bytes } = await this.decode(arg, signal);
    const imageSha256 = createHash('sha256').update(bytes).digest('hex');
    const { faces, found, embs, crops } = await this.serial.run(async () => {
      const { faces, found } = await this.faces(source, signal);
      const { embeddings: embs, crops } = await this.embedFaces(source, faces, signal);
      return { faces, found, embs, crops };
    });
    const quality = this.qualities(faces, crops);
    const out: IdentifiedFace[] = [];
    for (let i = 0; i < faces.length; i++) {
      const f = faces[i]!;
      const named = await this.nameFace(gallery, embs[i]!, rule, options, { imageSha256, box: f.box });
      out.push({
        box: f.box,
        landmarks: f.landmarks,
        detScore: f.score,
        ...named,
        quality: quality[i]!,
        ...lowQuality(quality[i]!, minQuality),
      });
    }
    return {
      gallery,
      model: this.model,
      ...ruleJson(rule),
      width: source.width,
      height: source.height,
      facesFound: found,
      imageSha256,
      faces: out,
    };
  }

  /**
   * identify for embeddings a client made itself (the web page's private mode): the same threshold
   * rule, FAR and FPIR, and corrections of the photo when the client names it by `imageSha256` and
   * each face's `box`. The embeddings must come from this gallery's model (CONFLICT otherwise).
   */
  async identifyEmbeddings(
    gallery: string,
    model: string,
    embeddings: ArrayLike<number>[],
    options: IdentifyOptions & { imageSha256?: string; boxes?: PhotoBox[] } = {},
  ): Promise<EmbeddingIdentifyResult> {
    const action = `identify in gallery '${gallery}'`;
    const g = await this.galleryForEmbeddings(gallery, model, action);
    const probes = this.checkEmbeddings(embeddings, this.maxFaces, action);
    const { imageSha256, boxes } = options;
    if (boxes !== undefined && boxes.length !== probes.length)
      throw badInput(
        `${action}: ${boxes.length} boxes for ${probes.length} embeddings: give one box per face`,
      );
    const rule = this.identifyRule(g, options);
    const faces: EmbeddingIdentifiedFace[] = [];
    for (let i = 0; i < probes.length; i++) {
      const box = boxes?.[i];
      const photo = imageSha256 === undefined ? undefined : { imageSha256, box };
      const named = await this.nameFace(gallery, probes[i]!, rule, options, photo);
      faces.push({ ...(box ? { box } : {}), ...named });
    }
    return { gallery, model: this.model, ...ruleJson(rule), ...(imageSha256 ? { imageSha256 } : {}), faces };
  }

  /** Open set: the more faces enrolled, the more chances a stranger has to be named (src/eval/far.ts). */
  private identifyRule(g: Gallery, options: IdentifyOptions): OpenSetThreshold {
    const enrolled = options.aggregate === 'mean' ? g.subjects : g.faces;
    return this.recognizer.openSetThreshold(enrolled, options);
  }

  /** One face's answer: its subject or null ("unknown"), score, FAR, FPIR and candidates. */
  private async nameFace(
    gallery: string,
    embedding: Float32Array,
    rule: OpenSetThreshold,
    options: IdentifyOptions,
    photo?: { imageSha256: string; box?: PhotoBox },
  ): Promise<Pick<IdentifiedFace, 'subject' | 'score' | 'far' | 'fpir' | 'candidates'>> {
    const table = this.recognizer.farTable;
    const r = await identifyInStore(
      this.store,
      gallery,
      { embedding, model: this.model },
      // Corrections of this photo: a subject someone said this face is not is never the answer.
      { threshold: rule.threshold, k: options.k, aggregate: options.aggregate, photo },
    );
    return {
      subject: r.subject,
      score: r.score,
      far: r.score === null ? null : this.recognizer.far(r.score),
      fpir: r.score === null || !table ? null : fpirAt(table, r.score, rule.enrolled),
      candidates: r.candidates,
    };
  }

  // ---- embeddings made elsewhere (the browser) ---------------------------------------------------

  /**
   * The gallery, when embeddings of `model` may go into or be compared with it: the model must be the
   * gallery's and this service's (its thresholds and FAR table are the ones applied). CONFLICT else.
   */
  private async galleryForEmbeddings(name: string, model: string, action: string): Promise<Gallery> {
    const g = await this.gallery(name);
    if (model !== g.model)
      throw new ServiceError(
        'CONFLICT',
        `${action}: the embeddings come from model '${model}' but gallery '${name}' holds embeddings of ` +
          `model '${g.model}' (cosines between two models mean nothing: embed with '${g.model}')`,
      );
    return this.galleryForModel(name, action);
  }

  /**
   * A client's embeddings, checked before anything is looked up or stored: 1 to `cap` of them, each
   * `dim` finite numbers (as float32 too) and not all zero; answered L2-normalised.
   */
  private checkEmbeddings(embeddings: ArrayLike<number>[], cap: number, action: string): Float32Array[] {
    if (!Array.isArray(embeddings) || embeddings.length === 0)
      throw badInput(`${action}: embeddings must be a non-empty array of embeddings (arrays of numbers)`);
    if (embeddings.length > cap)
      throw badInput(`${action}: ${embeddings.length} embeddings, at most ${cap} in one request`);
    const dim = this.dim;
    return embeddings.map((e, i) => {
      if (!Array.isArray(e) && !(e instanceof Float32Array))
        throw badInput(`${action}: embeddings[${i}] is not an array of numbers`);
      if (e.length !== dim)
        throw badInput(
          `${action}: embeddings[${i}] has ${e.length} numbers, model ${this.model} makes ${dim}-d embeddings`,
        );
      const v = new Float32Array(dim);
      let s = 0;
      for (let j = 0; j < dim; j++) {
        const x = e[j];
        v[j] = typeof x === 'number' ? x : NaN;
        // Finite as float32 too: 1e39 is a finite double but Infinity once stored.
        if (!Number.isFinite(v[j]))
          throw badInput(`${action}: embeddings[${i}][${j}] is ${String(x)}, not a finite number`);
        s += v[j]! * v[j]!;
      }
      if (!(s > 0) || !Number.isFinite(s))
        throw badInput(`${action}: embeddings[${i}] is a zero vector (or too small to normalise)`);
      const inv = 1 / Math.sqrt(s);
      for (let j = 0; j < dim; j++) v[j]! *= inv;
      return v;
    });
  }

  /** A client's crop: a PNG at the model's input size (what `reindex` and the thumbnails need). */
  private async checkCrop(bytes: Uint8Array, label: string): Promise<Uint8Array> {
    const { width: w, height: h } = this.recognizer.manifest.input;
    const png = bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e;
    if (!png) throw new ServiceError('UNSUPPORTED_MEDIA', `${label}: not a PNG image`);
    let meta: { width?: number; height?: number };
    try {
      meta = await sharp(bytes, { limitInputPixels: w * h }).metadata();
    } catch (err) {
      throw badInput(`${label}: not a readable PNG (${(err as Error).message.split('\n')[0]})`);
    }
    if (meta.width !== w || meta.height !== h)
      throw badInput(
        `${label}: a ${meta.width}x${meta.height} crop; model ${this.model} takes ${w}x${h} aligned crops`,
      );
    return bytes;
  }

  /**
   * Enrolls embeddings a client made itself (the web page's private mode) into subject `id`, all in
   * one transaction, each with its aligned crop when given (only then can `reindex` re-embed it and
   * the page show it). Nothing is stored when any embedding or crop is refused. No photo reaches the
   * server, so no quality gate applies here: the client holds the photo.
   */
  async enrollEmbeddings(
    gallery: string,
    id: number,
    model: string,
    embeddings: ArrayLike<number>[],
    options: { crops?: Uint8Array[]; maxEmbeddings?: number } = {},
  ): Promise<EmbeddingEnrollResult> {
    const action = `enroll into gallery '${gallery}'`;
    await this.galleryForEmbeddings(gallery, model, action);
    await this.subject(gallery, id);
    const vs = this.checkEmbeddings(embeddings, options.maxEmbeddings ?? 20, action);
    const { crops } = options;
    if (crops !== undefined && crops.length !== vs.length)
      throw badInput(
        `${action}: ${crops.length} crops for ${vs.length} embeddings: give one crop per embedding, or none`,
      );
    const pngs = crops
      ? await Promise.all(crops.map((c, i) => this.checkCrop(c, `${action}: crops[${i}]`)))
      : undefined;
    const faces: NewFace[] = vs.map((embedding, i) => ({ embedding, model: this.model, crop: pngs?.[i] }));
    const ids = await this.store.addFaces(gallery, id, faces);
    const subject = (await this.store.getSubject(gallery, id)) ?? (await this.subject(gallery, id));
    return {
      gallery,
      subject,
      faces: ids.map((faceId, i) => ({ faceId, hasCrop: pngs?.[i] !== undefined })),
    };
  }

  // ---- clustering into a gallery -----------------------------------------------------------------

  /**
   * Every face of every photo (up to maxFaces each), grouped into the gallery's people without
   * re-clustering what it holds (src/service/cluster_gallery.ts): faces join existing subjects
   * (persons too), make new clusters, or stay singletons (one-face clusters), all stored in one
   * transaction. Photos the gallery holds already are skipped, so a re-run stores nothing new;
   * faces below `minQuality` are reported but neither clustered nor stored. An image that cannot be
   * read refuses the whole call with every failure listed (nothing stored), unless `partial`.
   */
  async clusterPhotos(
    gallery: string,
    images: ImageArg[],
    options: ClusterPhotosOptions = {},
  ): Promise<ClusterPhotosResult> {
    if (images.length === 0) throw badInput(`cluster into gallery '${gallery}': give at least one image`);
    if (options.createGallery) await this.ensureGallery(gallery);
    await this.galleryForModel(gallery, `cluster into gallery '${gallery}'`);
    const { signal } = options;
    const minQuality =
      options.minQuality === undefined ? this.minQuality : checkMinQuality(options.minQuality);
    const minFaces = options.minFaces ?? DEFAULT_MIN_FACES;
    if (!(Number.isInteger(minFaces) && minFaces >= 1))
      throw badInput(`cluster: minFaces must be a positive integer, got ${options.minFaces}`);
    const scale = options.scale ?? this.linkScale();
    return this.clustering.run(async () => {
      const snapshot = await readGalleryFaces(this.store, gallery);
      const seen = new Set(snapshot.shas);
      const faces: ClusteredFace[] = [];
      const toStore: NewFace[] = [];
      const storedAt: number[] = []; // toStore[i] is faces[storedAt[i]]
      const duplicates: string[] = [];
      const failures: ImageFailure[] = [];
      let noFace = 0;
      for (const arg of images) {
        const label = typeof arg === 'string' ? arg : arg.label;
        try {
          const read = await this.imageBytes(arg);
          const imageSha256 = createHash('sha256').update(read.bytes).digest('hex');
          if (seen.has(imageSha256)) {
            duplicates.push(label);
            continue;
          }
          const { source } = await this.decodeBytes(read, signal);
          const { found, embs, crops } = await this.serial.run(async () => {
            const { faces: found } = await this.faces(source, signal);
            const { embeddings: embs, crops } = await this.embedFaces(source, found, signal);
            return { found, embs, crops };
          });
          seen.add(imageSha256);
          if (found.length === 0) noFace++;
          const quality = this.qualities(found, crops);
          for (let i = 0; i < found.length; i++) {
            const f = found[i]!;
            const low = lowQuality(quality[i]!, minQuality);
            faces.push({
              name: label,
              box: f.box,
              detScore: f.score,
              quality: quality[i]!,
              ...low,
              outcome: 'lowQuality',
              faceId: null,
              subjectId: null,
              kind: null,
              singleton: false,
            });
            if (low.lowQuality) continue;
            storedAt.push(faces.length - 1);
            toStore.push({
              embedding: embs[i]!,
              model: this.model,
              imageSha256,
              detScore: f.score,
              crop: new Uint8Array(await encodeImage(crops[i]!, 'png')),
              box: f.box,
              photoName: typeof arg === 'string' ? photoNameOf(arg) : undefined,
            });
          }
        } catch (err) {
          if (!(err instanceof ArcfaceError) || signal?.aborted) throw err;
          failures.push({ image: label, code: errorKind(err), message: err.message });
        }
      }
      if (failures.length > 0 && !options.partial)
        throw new ServiceError(
          firstKind(failures),
          `cluster into gallery '${gallery}': nothing stored, ${failures.length} of ${images.length} ` +
            `image(s) failed: ${failures.map((f) => f.message).join('; ')}`,
          failures,
        );
      // Stopped (timed out): the caller is told so, and nothing may be stored behind its back.
      signal?.throwIfAborted();
      const placed = await clusterIntoGallery(this.store, gallery, toStore, {
        algorithm: options.algorithm,
        minFaces,
        k: options.k,
        scale,
        snapshot,
      });
      placed.faces.forEach((p, i) => {
        const f = faces[storedAt[i]!]!;
        // Not a duplicate: its photo's sha256 was checked against the same snapshot above.
        f.outcome = p.outcome as ClusteredFace['outcome'];
        f.faceId = p.faceId;
        f.subjectId = p.subjectId;
        f.kind = p.kind;
        f.singleton = p.outcome === 'singleton';
      });
      const count = (o: ClusteredFace['outcome']) => faces.filter((f) => f.outcome === o).length;
      return {
        gallery,
        model: this.model,
        faces,
        duplicates,
        failures,
        newClusters: placed.newClusters,
        removedClusters: placed.removedClusters,
        summary: {
          photos: images.length,
          duplicates: duplicates.length,
          failed: failures.length,
          noFace,
          faces: faces.length,
          lowQuality: count('lowQuality'),
          joined: count('joined'),
          newClusters: placed.newClusters.length,
          singletons: placed.singletons,
          singletonsJoined: placed.singletonsJoined,
        },
      };
    });
  }

  /** Which faces link when clustering: the model's FAR table at DEFAULT_LINK_FAR. */
  private linkScale(): Scale {
    const table = this.recognizer.farTable;
    if (!table)
      throw badInput(
        `model ${this.model} has no FAR table to set the clustering link threshold: give a cosine (--cosine)`,
      );
    return farScale(table, DEFAULT_LINK_FAR);
  }

  // ---- corrections ---------------------------------------------------------------------------------

  /**
   * "This face is not subject `id`": stored, and respected by every later identify of the face's
   * photo (same sha256, a box overlapping by IoU >= 0.5). A photo given again is detected: its
   * largest face, or the detected face at `box` (NO_FACE when none overlaps it).
   */
  async notSubject(
    gallery: string,
    id: number,
    target: CorrectionTarget,
    options: WorkOptions = {},
  ): Promise<Correction> {
    await this.gallery(gallery);
    await this.subject(gallery, id);
    if ('faceId' in target)
      return this.store.addCorrection(gallery, { subjectId: id, faceId: target.faceId });
    if ('imageSha256' in target)
      return this.store.addCorrection(gallery, {
        subjectId: id,
        imageSha256: target.imageSha256,
        box: target.box,
      });
    const { source, bytes, label } = await this.decode(target.image, options.signal);
    const { faces } = await this.serial.run(() => this.faces(source, options.signal));
    let face = faces[0];
    if (target.box) {
      const want = target.box;
      face = faces
        .filter((f) => iou(f.box, want) >= SAME_FACE_IOU)
        .sort((a, b) => iou(b.box, want) - iou(a.box, want))[0];
    }
    if (!face)
      throw new ServiceError(
        'NO_FACE',
        `${label}: no face${target.box ? ' at the box given' : ''} to correct`,
      );
    const imageSha256 = createHash('sha256').update(bytes).digest('hex');
    return this.store.addCorrection(gallery, { subjectId: id, imageSha256, box: face.box });
  }

  async corrections(gallery: string): Promise<Correction[]> {
    await this.gallery(gallery);
    return this.store.listCorrections(gallery);
  }

  async deleteCorrection(gallery: string, id: number): Promise<void> {
    await this.gallery(gallery);
    if (!(await this.store.deleteCorrection(gallery, id)))
      throw new ArcfaceError('NOT_FOUND', `gallery '${gallery}' has no correction ${id}`);
  }

  /** Is the largest face of this photo subject `id`? */
  async verifySubject(
    gallery: string,
    id: number,
    arg: ImageArg,
    options: { threshold?: number; aggregate?: Aggregate } & WorkOptions = {},
  ): Promise<SubjectVerifyResult> {
    await this.galleryForModel(gallery, `verify against gallery '${gallery}'`);
    await this.subject(gallery, id);
    const threshold = this.threshold(options.threshold);
    const { source, label } = await this.decode(arg, options.signal);
    const { face, embedding } = await this.largestFace(source, label, options.signal);
    const v = await verifyInStore(
      this.store,
      gallery,
      id,
      { embedding, model: this.model },
      threshold,
      options.aggregate,
    );
    return { ...v, far: this.recognizer.far(v.score), box: face.box };
  }

  /**
   * Re-embeds every stored crop of a gallery with another recogniser and switches the gallery to its
   * model, in one store transaction. Faces enrolled without a crop cannot be re-embedded: refused.
   */
  async reindex(
    gallery: string,
    recognizer: FaceRecognizer,
    batch = 32,
  ): Promise<{ faces: number; model: string }> {
    const g = await this.gallery(gallery);
    // The stored crops were made for the gallery's model: re-made from its template for the new one.
    // Models outside the zoo are taken to be ArcFace-aligned, as every recogniser before dlib's was.
    const from = findModel(g.model)?.alignment ?? { template: 'arcface' as const };
    const rows: { faceId: number; embedding: Float32Array }[] = [];
    let pending: { faceId: number; crop: Uint8Array }[] = [];
    const flush = async (): Promise<void> => {
      const crops = await Promise.all(
        pending.map(async (p) => recognizer.realign(await decodeImage(p.crop), from)),
      );
      const embs = await this.serial.run(() => recognizer.embedCrops(crops));
      pending.forEach((p, i) => rows.push({ faceId: p.faceId, embedding: embs[i]! }));
      pending = [];
    };
    for await (const f of this.store.faces(gallery, { crops: true })) {
      if (!f.crop)
        throw badInput(
          `reindex gallery '${gallery}': face ${f.id} has no stored crop, it cannot be re-embedded`,
        );
      pending.push({ faceId: f.id, crop: f.crop });
      if (pending.length >= batch) await flush();
    }
    if (pending.length) await flush();
    await this.store.replaceEmbeddings(gallery, recognizer.manifest.name, rows);
    return { faces: rows.length, model: recognizer.manifest.name };
  }

  async close(): Promise<void> {
    await this.recognizer.dispose();
    await this.store.close();
  }
}

function checkMinQuality(q: number): number {
  if (!(Number.isFinite(q) && q >= 0 && q <= 1))
    throw badInput(`minQuality must be a number from 0 (no gate) to 1, got ${q}`);
  return q;
}

function lowQuality(
  q: FaceQuality,
  minQuality: number,
): Pick<IdentifiedFace, 'lowQuality' | 'lowQualityMeasure'> {
  const low = qualityShortfall(q, minQuality);
  return { lowQuality: low !== null, lowQualityMeasure: low?.measure ?? null };
}

/** A path's file name as a face's photoName, when the store would take it (else none). */
function photoNameOf(path: string): string | undefined {
  const name = basename(path);
  return name.length > 0 && name.length <= 255 && !/[\\/\0]/.test(name) ? name : undefined;
}

/** The stable code of an error, for per-image failure lists. */
export function errorKind(err: ArcfaceError): string {
  return err instanceof ServiceError ? err.kind : err.code;
}

/** The kind a refused multi-image call reports: the most specific of its images' failures. */
function firstKind(failures: ImageFailure[]): ServiceError['kind'] {
  const kinds = ['TOO_LARGE', 'UNSUPPORTED_MEDIA', 'NO_FACE', 'LOW_QUALITY'] as const;
  return kinds.find((k) => failures.some((f) => f.code === k)) ?? 'BAD_INPUT';
}
