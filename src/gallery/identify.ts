/**
 * Open-set identification and 1:1 verification on top of any GalleryStore. "Unknown" is a valid
 * answer: the best subject is returned only when its (exact, re-scored) cosine reaches the caller's
 * threshold, the model's calibrated one (`thresholdFor` in src/models/user_config.ts, as
 * FaceRecognizer.verify uses it), so a stranger is not named after the nearest enrolled person.
 */
import { ArcfaceError, badInput } from '../errors.js';
import { checkModel, dotRow, unitEmbedding } from './embedding.js';
import { excludedSubjects } from './corrections.js';
import type { Aggregate, GalleryStore, PhotoBox, Probe, SubjectMatch } from './types.js';

export interface IdentifyOptions {
  /** Cosine from which the best subject is accepted. */
  threshold: number;
  /** Candidates returned (default 5). */
  k?: number;
  aggregate?: Aggregate;
  /**
   * The probe's photo (sha256 of its bytes) and the face's box in it: the subjects a correction
   * says this face is not are never answered nor listed (types.ts Correction).
   */
  photo?: { imageSha256: string; box?: PhotoBox };
  /** Answer unnamed clusters too (default false). */
  clusters?: boolean;
}

export interface Identification {
  /** The best subject when its score reaches the threshold, else null ('unknown'). */
  subject: SubjectMatch | null;
  /** The best subject's score (null for an empty gallery), whether or not it reached the threshold. */
  score: number | null;
  threshold: number;
  /** The top-k subjects, best first, thresholded or not. */
  candidates: SubjectMatch[];
}

export interface SubjectVerification {
  same: boolean;
  /** Best or mean cosine over the subject's faces. */
  score: number;
  threshold: number;
  /** The subject's face closest to the probe. */
  faceId: number;
}

function checkThreshold(threshold: number, what: string): void {
  if (typeof threshold !== 'number' || !(threshold >= -1 && threshold <= 1))
    throw badInput(`${what}: threshold must be a cosine in [-1, 1], got ${threshold}`);
}

/** Who is this? The top-k subjects of the gallery for one probe face, and the answer or 'unknown'. */
export async function identify(
  store: GalleryStore,
  gallery: string,
  probe: Probe,
  options: IdentifyOptions,
): Promise<Identification> {
  checkThreshold(options.threshold, `identify in gallery '${gallery}'`);
  const corrections = options.photo
    ? await store.listCorrections(gallery, { imageSha256: options.photo.imageSha256 })
    : [];
  const exclude = excludedSubjects(corrections, options.photo?.box);
  const candidates = await store.search(gallery, probe, {
    k: options.k ?? 5,
    aggregate: options.aggregate,
    exclude,
    clusters: options.clusters,
  });
  const best = candidates[0];
  return {
    subject: best && best.score >= options.threshold ? best : null,
    score: best ? best.score : null,
    threshold: options.threshold,
    candidates,
  };
}

/** Is this subject X? 1:1 against every enrolled face of one subject ('max' by default, or 'mean'). */
export async function verifySubject(
  store: GalleryStore,
  gallery: string,
  subjectId: number,
  probe: Probe,
  threshold: number,
  aggregate: Aggregate = 'max',
): Promise<SubjectVerification> {
  checkThreshold(threshold, `verify against subject ${subjectId} of gallery '${gallery}'`);
  const g = await store.getGallery(gallery);
  if (!g) throw new ArcfaceError('NOT_FOUND', `no gallery '${gallery}' in ${store.location}`);
  checkModel(g, probe.model, 'verify');
  const q = unitEmbedding(probe.embedding, g.dim, `verify in gallery '${gallery}'`);
  if (!(await store.getSubject(gallery, subjectId)))
    throw new ArcfaceError('NOT_FOUND', `gallery '${gallery}' has no subject ${subjectId}`);
  const faces = await store.listFaces(gallery, subjectId);
  if (faces.length === 0) throw badInput(`subject ${subjectId} of gallery '${gallery}' has no enrolled face`);
  let best = -Infinity;
  let faceId = faces[0].id;
  let sum = 0;
  for (const f of faces) {
    const s = dotRow(q, f.embedding, 0);
    sum += s;
    if (s > best) [best, faceId] = [s, f.id];
  }
  const score = aggregate === 'mean' ? sum / faces.length : best;
  return { same: score >= threshold, score, threshold, faceId };
}
