/**
 * What both stores and identify share about corrections ("face F is not subject S") and face links:
 * the checks of what is stored, and which corrections apply to a probe face of a photo.
 */
import { badInput } from '../errors.js';
import type { Correction, FaceLink, PhotoBox } from './types.js';

/** Boxes of the same face re-detected in the same photo overlap far more than this; two faces far less. */
export const SAME_FACE_IOU = 0.5;

export function checkSha256(sha: unknown, what: string): string {
  if (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha))
    throw badInput(`${what}: imageSha256 must be 64 lower-case hex digits`);
  return sha;
}

export function checkBox(box: unknown, what: string): PhotoBox {
  const b = box as PhotoBox;
  if (
    typeof b !== 'object' ||
    b === null ||
    ![b.x1, b.y1, b.x2, b.y2].every((v) => typeof v === 'number' && Number.isFinite(v)) ||
    !(b.x2 > b.x1 && b.y2 > b.y1)
  )
    throw badInput(`${what}: box must be {x1, y1, x2, y2}, finite numbers with x2 > x1 and y2 > y1`);
  return { x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2 };
}

/** A photo file name as stored: no folder (a path would leak the machine's layout), at most 255 characters. */
export function checkPhotoName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || /[/\\\0]/.test(name))
    throw badInput(`${what}: photoName must be a file name of 1..255 characters without / or \\`);
  return name;
}

/** A box from four nullable columns (null when the face or correction has none). */
export function boxFromColumns(r: {
  box_x1: number | null;
  box_y1: number | null;
  box_x2: number | null;
  box_y2: number | null;
}): PhotoBox | null {
  return r.box_x1 === null || r.box_y1 === null || r.box_x2 === null || r.box_y2 === null
    ? null
    : { x1: r.box_x1, y1: r.box_y1, x2: r.box_x2, y2: r.box_y2 };
}

/** A corrections row as both stores read it (SQLite gives the time as text, PostgreSQL as a Date). */
export interface CorrectionRow {
  id: number;
  subject_id: number;
  face_id: number | null;
  image_sha256: string | null;
  box_x1: number | null;
  box_y1: number | null;
  box_x2: number | null;
  box_y2: number | null;
  created_at: string | Date;
}

export function toCorrection(r: CorrectionRow): Correction {
  return {
    id: r.id,
    subjectId: r.subject_id,
    faceId: r.face_id,
    imageSha256: r.image_sha256,
    box: boxFromColumns(r),
    createdAt: r.created_at instanceof Date ? r.created_at.toISOString() : r.created_at,
  };
}

export function boxColumns(b: PhotoBox | null | undefined): (number | null)[] {
  return b ? [b.x1, b.y1, b.x2, b.y2] : [null, null, null, null];
}

export function iou(a: PhotoBox, b: PhotoBox): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

/**
 * The subjects a face of a photo is not, from the photo's corrections: those without a box (the
 * whole photo) and those whose box is the same face (IoU >= SAME_FACE_IOU); without a probe box,
 * every correction of the photo.
 */
export function excludedSubjects(corrections: Correction[], box: PhotoBox | undefined): number[] {
  const out = new Set<number>();
  for (const c of corrections) if (!box || !c.box || iou(c.box, box) >= SAME_FACE_IOU) out.add(c.subjectId);
  return [...out];
}

/** Links checked and put in stored order (faceA < faceB); a face linked to itself is refused. */
export function normalLinks(links: FaceLink[], what: string): FaceLink[] {
  return links.map((l, i) => {
    if (!Number.isSafeInteger(l.faceA) || !Number.isSafeInteger(l.faceB) || l.faceA === l.faceB)
      throw badInput(`${what}: link ${i} needs two different face ids`);
    if (l.kind !== 'same' && l.kind !== 'apart')
      throw badInput(`${what}: link ${i}: kind must be 'same' or 'apart', got '${String(l.kind)}'`);
    return l.faceA < l.faceB ? l : { faceA: l.faceB, faceB: l.faceA, kind: l.kind };
  });
}
