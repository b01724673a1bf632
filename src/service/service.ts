/**
 * The recognition service: a gallery store plus a FaceRecognizer, the one layer the CLI and the HTTP
 * API both stand on. It decides what a call means (one face per enroll image, every face of an
 * identify photo, which threshold says "unknown") and keeps every write of a call in one store
 * transaction, so a failed or killed enroll leaves nothing half written.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { ArcfaceError, badInput } from '../errors.js';
import { fpirAt } from '../eval/far.js';
import type { Face as DetectedFace } from '../face/types.js';
import {
  identify as identifyInStore,
  openStore,
  verifySubject as verifyInStore,
  type Aggregate,
  type Gallery,
  type GalleryStore,
  type JsonValue,
  type OpenStoreOptions,
  type NewFace,
  type Subject,
  type SubjectMatch,
} from '../gallery/index.js';
import { DEFAULT_MAX_PIXELS, decodeImage, encodeImage } from '../image/decode.js';
import { decodeSource, type ImageSource } from '../image/source.js';
import { findModel } from '../models/zoo.js';
import type { RgbImage } from '../image/types.js';
import { FaceRecognizer, type OpenSetThreshold, type RecognizerOptions } from '../pipeline/recognizer.js';
import { detectFaces } from '../pipeline/scaled_faces.js';
import { angleDegrees, cosine } from '../pipeline/similarity.js';
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

export interface EnrollOptions {
  /** Create the gallery (bound to this service's model) when it does not exist (default false). */
  createGallery?: boolean;
  /** Enroll the images that worked and list the others, instead of refusing the whole call (default false). */
  partial?: boolean;
}

export interface EnrolledFace {
  image: string;
  faceId: number;
  box: DetectedFace['box'];
  detScore: number;
  /** Faces the detector found in the image; only the largest is enrolled. */
  facesInImage: number;
  imageSha256: string;
}

export interface EnrollResult {
  gallery: string;
  subject: Subject;
  subjectCreated: boolean;
  faces: EnrolledFace[];
  failures: ImageFailure[];
}

export interface IdentifyOptions {
  k?: number;
  /** Cosine from which the best subject is named (default: chosen for the gallery's size, see `fpir`). */
  threshold?: number;
  /** The chance a stranger is named that the default threshold is chosen for (default 0.01). */
  fpir?: number;
  aggregate?: Aggregate;
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
  faces: IdentifiedFace[];
}

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

const area = (f: DetectedFace): number => (f.box.x2 - f.box.x1) * (f.box.y2 - f.box.y1);

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
  readonly maxFaces: number;
  readonly maxPixels: number;

  constructor(
    readonly store: GalleryStore,
    readonly recognizer: FaceRecognizer,
    options: ServiceOptions = {},
  ) {
    this.maxFaces = options.maxFaces ?? 20;
    this.maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
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

  async deleteGallery(name: string): Promise<void> {
    await this.gallery(name);
    await this.store.deleteGallery(name);
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
    if (externalId !== undefined && (await this.store.findSubject(gallery, externalId)))
      throw new ServiceError(
        'CONFLICT',
        `gallery '${gallery}' already has a subject with external id '${externalId}'`,
      );
    return this.store.addSubject(gallery, { name, externalId, metadata: subject.metadata });
  }

  /** Deletes the subject with its embeddings and crops, for good. */
  async deleteSubject(gallery: string, id: number): Promise<void> {
    await this.subject(gallery, id);
    await this.store.deleteSubject(gallery, id);
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
    return { bytes, label };
  }

  /** The photo: a large JPEG at detection scale, its full-resolution regions on demand (image/source.ts). */
  private async decode(arg: ImageArg): Promise<{ source: ImageSource; bytes: Uint8Array; label: string }> {
    const { bytes, label } = await this.imageBytes(arg);
    const source = await decodeSource(bytes, {
      maxPixels: this.maxPixels,
      name: label,
      detectSide: this.recognizer.detectSide,
    });
    return { source, bytes, label };
  }

  /** Detected faces in the photo's pixels, largest first, at most maxFaces. */
  private async faces(source: ImageSource): Promise<{ faces: DetectedFace[]; found: number }> {
    const all = await detectFaces(await this.recognizer.detector(), source, {});
    const faces = [...all].sort((a, b) => area(b) - area(a)).slice(0, this.maxFaces);
    return { faces, found: all.length };
  }

  /** Every face (up to maxFaces, largest first) with its box, landmarks and detector score. */
  async detect(
    arg: ImageArg,
  ): Promise<{ width: number; height: number; faces: DetectedFace[]; found: number }> {
    const { source } = await this.decode(arg);
    const { faces, found } = await this.serial.run(() => this.faces(source));
    return { width: source.width, height: source.height, faces, found };
  }

  /** Every face with its embedding. */
  async embed(arg: ImageArg): Promise<{
    width: number;
    height: number;
    found: number;
    faces: { face: DetectedFace; embedding: Float32Array }[];
  }> {
    const { source } = await this.decode(arg);
    return this.serial.run(async () => {
      const { faces, found } = await this.faces(source);
      const embs = await this.recognizer.embedCrops(await this.recognizer.alignAll(source, faces));
      return {
        width: source.width,
        height: source.height,
        found,
        faces: faces.map((face, i) => ({ face, embedding: embs[i]! })),
      };
    });
  }

  /** 1:1: the largest face of each image against the threshold. */
  async verify(a: ImageArg, b: ImageArg, threshold?: number): Promise<PairVerification> {
    const t = this.threshold(threshold);
    const [ia, ib] = [await this.decode(a), await this.decode(b)];
    const fa = await this.largestFace(ia.source, ia.label);
    const fb = await this.largestFace(ib.source, ib.label);
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
  ): Promise<{ face: DetectedFace; found: number; crop: RgbImage; embedding: Float32Array }> {
    return this.serial.run(async () => {
      const { faces, found } = await this.faces(source);
      const face = faces[0];
      if (!face) throw new ServiceError('NO_FACE', `${label}: no face found`);
      const [crop] = await this.recognizer.alignAll(source, [face]);
      const [embedding] = await this.recognizer.embedCrops([crop]);
      return { face, found, crop, embedding: embedding! };
    });
  }

  // ---- enroll, identify, verify against a subject ----------------------------------------------

  /**
   * Enrolls the largest face of each image (one face per enroll image: a group photo enrolls its
   * largest face, and `facesInImage` says how many there were). All faces of the call go to the store
   * in one transaction; an image that fails (unreadable, no face) refuses the whole call with every
   * failure listed, unless `partial` is set.
   */
  async enroll(
    gallery: string,
    subject: SubjectRef,
    images: ImageArg[],
    options: EnrollOptions = {},
  ): Promise<EnrollResult> {
    if (images.length === 0) throw badInput(`enroll into gallery '${gallery}': give at least one image`);
    checkGalleryName(gallery);
    if (options.createGallery && !(await this.store.getGallery(gallery)))
      await this.store
        .createGallery({ name: gallery, model: this.model, dim: this.dim })
        .catch(async (err) => {
          if (!(await this.store.getGallery(gallery))) throw err; // else: created meanwhile by another call
        });
    await this.galleryForModel(gallery, `enroll into gallery '${gallery}'`);
    let existing: Subject | null = null;
    if ('id' in subject) existing = await this.subject(gallery, subject.id);
    else existing = await this.store.findSubject(gallery, subject.externalId);

    const faces: NewFace[] = [];
    const done: Omit<EnrolledFace, 'faceId'>[] = [];
    const failures: ImageFailure[] = [];
    for (const arg of images) {
      const label = typeof arg === 'string' ? arg : arg.label;
      try {
        const { source, bytes } = await this.decode(arg);
        const { face, found, crop, embedding } = await this.largestFace(source, label);
        const imageSha256 = createHash('sha256').update(bytes).digest('hex');
        faces.push({
          embedding,
          model: this.model,
          imageSha256,
          detScore: face.score,
          crop: new Uint8Array(await encodeImage(crop, 'png')),
        });
        done.push({ image: label, box: face.box, detScore: face.score, facesInImage: found, imageSha256 });
      } catch (err) {
        if (!(err instanceof ArcfaceError)) throw err;
        failures.push({ image: label, code: errorKind(err), message: err.message });
      }
    }
    if (failures.length > 0 && (!options.partial || faces.length === 0)) {
      const kind = failures.every((f) => f.code === 'NO_FACE') ? 'NO_FACE' : firstKind(failures);
      throw new ServiceError(
        kind,
        `enroll into gallery '${gallery}': nothing enrolled, ${failures.length} of ${images.length} image(s) ` +
          `failed: ${failures.map((f) => f.message).join('; ')}`,
        failures,
      );
    }

    let subjectCreated = false;
    if (!existing) {
      const ref = subject as { externalId: string; name?: string; metadata?: JsonValue };
      existing = await this.store.addSubject(gallery, {
        name: ref.name ?? ref.externalId,
        externalId: ref.externalId,
        metadata: ref.metadata,
      });
      subjectCreated = true;
    }
    let ids: number[];
    try {
      ids = await this.store.addFaces(gallery, existing.id, faces);
    } catch (err) {
      if (subjectCreated) await this.store.deleteSubject(gallery, existing.id).catch(() => undefined);
      throw err;
    }
    const fresh = (await this.store.getSubject(gallery, existing.id)) ?? existing;
    return {
      gallery,
      subject: fresh,
      subjectCreated,
      faces: done.map((d, i) => ({ ...d, faceId: ids[i]! })),
      failures,
    };
  }

  /** Who is in this photo? Every face (largest first, up to maxFaces), each named or "unknown". */
  async identify(gallery: string, arg: ImageArg, options: IdentifyOptions = {}): Promise<IdentifyResult> {
    const g = await this.galleryForModel(gallery, `identify in gallery '${gallery}'`);
    // Open set: the more faces enrolled, the more chances a stranger has to be named (src/eval/far.ts).
    const enrolled = options.aggregate === 'mean' ? g.subjects : g.faces;
    const rule = this.recognizer.openSetThreshold(enrolled, options);
    const { threshold } = rule;
    const table = this.recognizer.farTable;
    const fpirOf = (score: number | null): number | null =>
      score === null || !table ? null : fpirAt(table, score, rule.enrolled);
    const { source } = await this.decode(arg);
    const { faces, found, embs } = await this.serial.run(async () => {
      const { faces, found } = await this.faces(source);
      const embs = await this.recognizer.embedCrops(await this.recognizer.alignAll(source, faces));
      return { faces, found, embs };
    });
    const out: IdentifiedFace[] = [];
    for (let i = 0; i < faces.length; i++) {
      const r = await identifyInStore(
        this.store,
        gallery,
        { embedding: embs[i]!, model: this.model },
        { threshold, k: options.k, aggregate: options.aggregate },
      );
      const f = faces[i]!;
      out.push({
        box: f.box,
        landmarks: f.landmarks,
        detScore: f.score,
        subject: r.subject,
        score: r.score,
        far: r.score === null ? null : this.recognizer.far(r.score),
        fpir: fpirOf(r.score),
        candidates: r.candidates,
      });
    }
    return {
      gallery,
      model: this.model,
      threshold,
      thresholdRule: rule.rule,
      fpirTarget: rule.rule === 'fpir' ? rule.fpir : null,
      enrolled: rule.enrolled,
      width: source.width,
      height: source.height,
      facesFound: found,
      faces: out,
    };
  }

  /** Is the largest face of this photo subject `id`? */
  async verifySubject(
    gallery: string,
    id: number,
    arg: ImageArg,
    options: { threshold?: number; aggregate?: Aggregate } = {},
  ): Promise<SubjectVerifyResult> {
    await this.galleryForModel(gallery, `verify against gallery '${gallery}'`);
    await this.subject(gallery, id);
    const threshold = this.threshold(options.threshold);
    const { source, label } = await this.decode(arg);
    const { face, embedding } = await this.largestFace(source, label);
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

/** The stable code of an error, for per-image failure lists. */
export function errorKind(err: ArcfaceError): string {
  return err instanceof ServiceError ? err.kind : err.code;
}

/** The kind a refused multi-image call reports: the most specific of its images' failures. */
function firstKind(failures: ImageFailure[]): ServiceError['kind'] {
  const kinds = ['TOO_LARGE', 'UNSUPPORTED_MEDIA', 'NO_FACE'] as const;
  return kinds.find((k) => failures.some((f) => f.code === k)) ?? 'BAD_INPUT';
}
