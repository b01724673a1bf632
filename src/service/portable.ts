/**
 * A gallery as one portable file, so it moves between stores (SQLite <-> PostgreSQL) and machines:
 * JSON lines, one record a line, readable with any tool and streamed both ways.
 *
 *   {"format":"arcface-gallery","version":2,"gallery":{"name","model","dim","createdAt"}}
 *   {"subject":{"id","kind","externalId","name","metadata","createdAt"}}        one per subject
 *   {"face":{"id","subjectId","embedding","imageSha256","detScore","crop","photoName","box","createdAt"}}
 *   {"correction":{"subjectId","faceId","imageSha256","box","createdAt"}}     version 2: "not this person"
 *   {"link":{"faceA","faceB","kind"}}                                          version 2: must/cannot-link
 *   {"end":{"subjects":N,"faces":M,"corrections":C,"links":L}}
 *
 * Version 2 (issue 13) adds clusters (`kind: "cluster"` subjects), corrections and face links. A
 * gallery with none of them is still written as version 1, which older arcface reads (it ignores
 * the faces' new `id`, `photoName` and `box`); version 1 and 2 files are both read.
 *
 * `embedding` is base64 of float32 little-endian (embeddingToBytes), `crop` base64 of the PNG (or
 * null). Ids are the exporting store's, used only to tie faces to subjects; the `end` line makes a
 * truncated file an error instead of a silently smaller gallery. An import keeps the file's times.
 *
 * An import reads the file twice: first to check every line (a crop larger than the model's input,
 * read from its PNG header without decoding; an embedding of the wrong size, not finite or not unit
 * norm; a bad time or id), then to write. A bad file is refused naming its line before the store is
 * touched, and a write that fails midway removes the new gallery: it is complete or absent.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { ArcfaceError, badInput } from '../errors.js';
import {
  embeddingFromBytes,
  embeddingToBytes,
  type Gallery,
  type GalleryStore,
  type JsonValue,
  type NewFace,
  type NewGallery,
  type NewSubject,
} from '../gallery/index.js';
import { checkName } from '../gallery/names.js';
import { checkBox, checkPhotoName, checkSha256 } from '../gallery/corrections.js';
import type { FaceLink, NewCorrection, PhotoBox } from '../gallery/types.js';
import { storedTime } from '../gallery/time.js';
import { pngSize } from '../image/png_size.js';
import { findModel } from '../models/zoo.js';
import { ServiceError } from './errors.js';
import { checkGalleryName } from './names.js';

export const EXPORT_FORMAT = 'arcface-gallery';
export const EXPORT_VERSION = 2;

/** Writes gallery `name` to `file` (atomically: a temporary file renamed at the end). */
export async function exportGallery(
  store: GalleryStore,
  name: string,
  file: string,
): Promise<{ subjects: number; faces: number }> {
  const g = await store.getGallery(name);
  if (!g) throw new ArcfaceError('NOT_FOUND', `no gallery '${name}' in ${store.location}`);
  const tmp = `${file}.${process.pid}.tmp`;
  const out = createWriteStream(tmp, { mode: 0o600 });
  const write = async (record: unknown): Promise<void> => {
    if (!out.write(JSON.stringify(record) + '\n')) await once(out, 'drain');
  };
  let faces = 0;
  try {
    const corrections = await store.listCorrections(name);
    const links = await store.listLinks(name);
    const subjects = await store.listSubjects(name, { kind: 'all' });
    const v2 = corrections.length > 0 || links.length > 0 || subjects.some((s) => s.kind !== 'person');
    await write({
      format: EXPORT_FORMAT,
      version: v2 ? EXPORT_VERSION : 1,
      gallery: { name: g.name, model: g.model, dim: g.dim, createdAt: g.createdAt },
    });
    for (const s of subjects)
      await write({
        subject: {
          id: s.id,
          kind: s.kind,
          externalId: s.externalId,
          name: s.name,
          metadata: s.metadata,
          createdAt: s.createdAt,
        },
      });
    for await (const f of store.faces(name, { crops: true })) {
      await write({
        face: {
          id: f.id,
          subjectId: f.subjectId,
          embedding: embeddingToBytes(f.embedding).toString('base64'),
          imageSha256: f.imageSha256,
          detScore: f.detScore,
          crop: f.crop ? Buffer.from(f.crop).toString('base64') : null,
          photoName: f.photoName,
          box: f.box,
          createdAt: f.createdAt,
        },
      });
      faces++;
    }
    for (const c of corrections)
      await write({
        correction: {
          subjectId: c.subjectId,
          faceId: c.faceId,
          imageSha256: c.imageSha256,
          box: c.box,
          createdAt: c.createdAt,
        },
      });
    for (const l of links) await write({ link: l });
    await write({
      end: {
        subjects: subjects.length,
        faces,
        ...(v2 ? { corrections: corrections.length, links: links.length } : {}),
      },
    });
    out.end();
    await once(out, 'close');
    await rename(tmp, file);
    return { subjects: subjects.length, faces };
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Subjects' faces are added in chunks of this many (one transaction each). */
const CHUNK = 256;
/** An exported embedding is unit norm to float32 rounding (~1e-7); anything further was not made by arcface. */
const NORM_TOLERANCE = 1e-3;
/** Crop side for a model outside the zoo (its input size is not known here): above any recogniser's input. */
const MAX_CROP_SIDE = 512;

type Rec =
  | { kind: 'header'; gallery: NewGallery }
  | { kind: 'subject'; fileId: number; subject: NewSubject }
  | { kind: 'face'; fileSubject: number; fileId: number | null; face: NewFace }
  | { kind: 'correction'; fileSubject: number; fileFace: number | null; correction: NewCorrection }
  | { kind: 'link'; link: FaceLink }
  | { kind: 'end' };

/**
 * The file's records, each checked (the header against `as`, faces against the gallery's dim and
 * model, ids against the subjects listed, the end record against the counts). Throws BAD_INPUT
 * naming the line; ENOENT becomes NOT_FOUND.
 */
async function* records(file: string, as: string | undefined): AsyncGenerator<Rec> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let lineNo = 0;
  const bad = (why: string): ArcfaceError => badInput(`${file}:${lineNo}: ${why}`);
  const time = (v: unknown, what: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    try {
      return storedTime(v as string, `${file}:${lineNo}: ${what}`);
    } catch (err) {
      throw badInput((err as Error).message);
    }
  };
  let header: NewGallery | null = null;
  let crop = { width: MAX_CROP_SIDE, height: MAX_CROP_SIDE };
  const subjectIds = new Set<number>();
  const externalIds = new Set<string>();
  const faceIds = new Set<number>();
  let faces = 0;
  let corrections = 0;
  let links = 0;
  let version = 1;
  let ended = false;
  const check = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw bad((err as Error).message);
    }
  };
  const fileFace = (v: unknown, what: string): number => {
    if (!Number.isInteger(v) || !faceIds.has(v as number))
      throw bad(`${what}: face ${String(v)}, which the file does not list`);
    return v as number;
  };
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      if (ended) throw bad('text after the end record');
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch {
        throw bad('not a JSON line (is this a file written by "arcface gallery export"?)');
      }
      if (!isObj(rec)) throw bad('expected a JSON object');
      if (!header) {
        if (rec.format !== EXPORT_FORMAT || !isObj(rec.gallery))
          throw bad(`not an ${EXPORT_FORMAT} file (its first line must be the header)`);
        if (rec.version !== 1 && rec.version !== EXPORT_VERSION)
          throw bad(
            `format version ${String(rec.version)}, this arcface reads versions 1 to ${EXPORT_VERSION}`,
          );
        version = rec.version;
        const h = rec.gallery;
        const name = checkGalleryName(as ?? h.name);
        const dim = h.dim as number;
        if (typeof h.model !== 'string' || !(Number.isInteger(dim) && dim >= 1 && dim <= 65536))
          throw bad('header without model and dim (an integer in 1..65536)');
        checkName(h.model, `${file}:${lineNo}: model name`);
        crop = findModel(h.model)?.input ?? crop;
        header = { name, model: h.model, dim, createdAt: time(h.createdAt, `gallery '${name}'`) };
        yield { kind: 'header', gallery: header };
      } else if (isObj(rec.subject)) {
        const s = rec.subject;
        const id = s.id as number;
        if (!Number.isInteger(id) || typeof s.name !== 'string') throw bad('subject without id or name');
        if (subjectIds.has(id)) throw bad(`subject id ${id} is listed twice`);
        checkName(s.name, `${file}:${lineNo}: subject name`);
        let externalId: string | undefined;
        if (s.externalId !== undefined && s.externalId !== null) {
          externalId = checkName(s.externalId, `${file}:${lineNo}: subject external id`);
          if (externalIds.has(externalId)) throw bad(`external id '${externalId}' is listed twice`);
          externalIds.add(externalId);
        }
        if (s.kind !== undefined && s.kind !== 'person' && !(version >= 2 && s.kind === 'cluster'))
          throw bad(
            `subject ${id}: kind '${String(s.kind)}' (version ${version} files hold persons${version >= 2 ? " and 'cluster'" : ''})`,
          );
        subjectIds.add(id);
        yield {
          kind: 'subject',
          fileId: id,
          subject: {
            kind: s.kind === 'cluster' ? 'cluster' : 'person',
            name: s.name,
            externalId,
            metadata: (s.metadata ?? null) as JsonValue,
            createdAt: time(s.createdAt, `subject ${id}`),
          },
        };
      } else if (isObj(rec.face)) {
        const f = rec.face;
        const sid = f.subjectId as number;
        if (!subjectIds.has(sid)) throw bad(`face of subject ${String(sid)}, which the file does not list`);
        const what = `face of subject ${sid}`;
        if (typeof f.embedding !== 'string') throw bad(`${what}: no embedding`);
        const bytes = Buffer.from(f.embedding, 'base64');
        if (bytes.length !== header.dim * 4)
          throw bad(
            `${what}: embedding of ${bytes.length % 4 ? `${bytes.length} bytes` : `${bytes.length / 4} values`}, ` +
              `the gallery's model (dim ${header.dim}) makes ${header.dim}`,
          );
        const embedding = embeddingFromBytes(bytes, `${file}:${lineNo}`);
        let ss = 0;
        for (const x of embedding) ss += x * x;
        if (!Number.isFinite(ss)) throw bad(`${what}: the embedding is not finite`);
        const norm = Math.sqrt(ss);
        if (Math.abs(norm - 1) > NORM_TOLERANCE)
          throw bad(
            `${what}: the embedding has norm ${norm.toFixed(4)}, an export holds unit-norm ones ` +
              `(|norm - 1| <= ${NORM_TOLERANCE})`,
          );
        if (f.imageSha256 !== undefined && f.imageSha256 !== null)
          if (typeof f.imageSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.imageSha256))
            throw bad(`${what}: imageSha256 must be 64 lower-case hex digits`);
        if (f.detScore !== undefined && f.detScore !== null)
          if (typeof f.detScore !== 'number' || !Number.isFinite(f.detScore))
            throw bad(`${what}: detScore must be a finite number`);
        let png: Uint8Array | undefined;
        if (f.crop !== undefined && f.crop !== null) {
          if (typeof f.crop !== 'string') throw bad(`${what}: the crop must be base64 PNG bytes`);
          png = new Uint8Array(Buffer.from(f.crop, 'base64'));
          const size = pngSize(png);
          if (!size) throw bad(`${what}: the crop is not a PNG`);
          if (size.width > crop.width || size.height > crop.height)
            throw bad(
              `${what}: crop of ${size.width}x${size.height} pixels, over the ${crop.width}x${crop.height} ` +
                `of model '${header.model}' (crops are the model's aligned input)`,
            );
          // Stored PNGs are compressed: never more than the raw pixels (RGBA) plus the format's overhead.
          if (png.length > 4 * size.width * size.height + size.height + 65536)
            throw bad(
              `${what}: a crop of ${png.length} bytes is larger than a ${size.width}x${size.height} PNG`,
            );
        }
        let fileId: number | null = null;
        if (f.id !== undefined && f.id !== null) {
          if (!Number.isInteger(f.id) || faceIds.has(f.id as number))
            throw bad(`${what}: face id ${String(f.id)} is not a new integer`);
          fileId = f.id as number;
          faceIds.add(fileId);
        }
        const photoName =
          f.photoName === undefined || f.photoName === null
            ? undefined
            : check(() => checkPhotoName(f.photoName, what));
        const box: PhotoBox | undefined =
          f.box === undefined || f.box === null ? undefined : check(() => checkBox(f.box, what));
        faces++;
        yield {
          kind: 'face',
          fileSubject: sid,
          fileId,
          face: {
            photoName,
            box,
            embedding,
            model: header.model,
            imageSha256: (f.imageSha256 as string | null) ?? undefined,
            detScore: (f.detScore as number | null) ?? undefined,
            crop: png,
            createdAt: time(f.createdAt, what),
          },
        };
      } else if (version >= 2 && isObj(rec.correction)) {
        const c = rec.correction;
        const sid = c.subjectId as number;
        if (!subjectIds.has(sid))
          throw bad(`correction of subject ${String(sid)}, which the file does not list`);
        const what = `correction of subject ${sid}`;
        const face = c.faceId === undefined || c.faceId === null ? null : fileFace(c.faceId, what);
        const sha =
          c.imageSha256 === undefined || c.imageSha256 === null
            ? undefined
            : check(() => checkSha256(c.imageSha256, what));
        if (face === null && sha === undefined)
          throw bad(`${what}: neither a face nor a photo (imageSha256)`);
        const box = c.box === undefined || c.box === null ? undefined : check(() => checkBox(c.box, what));
        corrections++;
        yield {
          kind: 'correction',
          fileSubject: sid,
          fileFace: face,
          correction: { subjectId: sid, imageSha256: sha, box, createdAt: time(c.createdAt, what) },
        };
      } else if (version >= 2 && isObj(rec.link)) {
        const l = rec.link;
        const a = fileFace(l.faceA, 'link');
        const b = fileFace(l.faceB, 'link');
        if (a === b) throw bad('link of a face to itself');
        if (l.kind !== 'same' && l.kind !== 'apart')
          throw bad(`link kind '${String(l.kind)}' (same or apart)`);
        links++;
        yield { kind: 'link', link: { faceA: a, faceB: b, kind: l.kind } };
      } else if (isObj(rec.end)) {
        const e = rec.end;
        const counts = version >= 2 ? [e.corrections ?? 0, e.links ?? 0] : [0, 0];
        if (
          e.subjects !== subjectIds.size ||
          e.faces !== faces ||
          counts[0] !== corrections ||
          counts[1] !== links
        )
          throw bad(
            `the end record counts ${String(e.subjects)} subjects, ${String(e.faces)} faces, ` +
              `${String(counts[0])} corrections and ${String(counts[1])} links; the file holds ` +
              `${subjectIds.size}, ${faces}, ${corrections} and ${links}`,
          );
        ended = true;
        yield { kind: 'end' };
      } else
        throw bad(
          `unknown record (expected subject, face${version >= 2 ? ', correction, link' : ''} or end)`,
        );
    }
    if (!header) throw badInput(`${file}: empty file`);
    if (!ended) throw badInput(`${file}: no end record: the file is truncated, nothing was imported`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ArcfaceError('NOT_FOUND', `${file}: no such file`);
    throw err;
  } finally {
    lines.close();
  }
}

/**
 * Reads a file written by exportGallery into a new gallery (`as`, default the exported name). The
 * whole file is checked before anything is written; a write that fails midway removes the new
 * gallery, so it is complete or absent, and no gallery already in the store is touched.
 */
export async function importGallery(
  store: GalleryStore,
  file: string,
  options: { as?: string } = {},
): Promise<{ gallery: Gallery; subjects: number; faces: number; corrections: number; links: number }> {
  let name = '';
  for await (const r of records(file, options.as)) if (r.kind === 'header') name = r.gallery.name;
  if (await store.getGallery(name))
    throw new ServiceError(
      'CONFLICT',
      `gallery '${name}' already exists in ${store.location} (import it under another name with --as)`,
    );
  let gallery: Gallery | null = null;
  const subjectIds = new Map<number, number>();
  const faceIds = new Map<number, number>();
  const pending = new Map<number, { fileId: number | null; face: NewFace }[]>();
  const links: FaceLink[] = [];
  let faces = 0;
  let corrections = 0;
  const flush = async (subjectId: number): Promise<void> => {
    const list = pending.get(subjectId);
    if (!list?.length) return;
    const ids = await store.addFaces(
      name,
      subjectId,
      list.map((p) => p.face),
    );
    list.forEach((p, i) => p.fileId !== null && faceIds.set(p.fileId, ids[i]!));
    faces += list.length;
    pending.set(subjectId, []);
  };
  const flushAll = async (): Promise<void> => {
    for (const id of pending.keys()) await flush(id);
  };
  try {
    for await (const r of records(file, options.as)) {
      if (r.kind === 'header') {
        gallery = await store.createGallery(r.gallery);
        // PostgreSQL: one graph build at the end instead of one graph insertion per face.
        await store.dropIndex?.(name);
      } else if (r.kind === 'subject') {
        const made = await store.addSubject(name, r.subject);
        subjectIds.set(r.fileId, made.id);
        pending.set(made.id, []);
      } else if (r.kind === 'face') {
        const id = subjectIds.get(r.fileSubject)!;
        pending.get(id)!.push({ fileId: r.fileId, face: r.face });
        if (pending.get(id)!.length >= CHUNK) await flush(id);
      } else if (r.kind === 'correction') {
        // Every face stored first: a correction or link names faces by the file's ids.
        await flushAll();
        await store.addCorrection(name, {
          ...r.correction,
          subjectId: subjectIds.get(r.fileSubject)!,
          faceId: r.fileFace === null ? undefined : faceIds.get(r.fileFace)!,
        });
        corrections++;
      } else if (r.kind === 'link') {
        await flushAll();
        links.push({
          faceA: faceIds.get(r.link.faceA)!,
          faceB: faceIds.get(r.link.faceB)!,
          kind: r.link.kind,
        });
      } else await flushAll();
    }
    for (let i = 0; i < links.length; i += CHUNK) await store.addLinks(name, links.slice(i, i + CHUNK));
    await store.buildIndex?.(name);
    return {
      gallery: (await store.getGallery(name))!,
      subjects: subjectIds.size,
      faces,
      corrections,
      links: links.length,
    };
  } catch (err) {
    if (gallery) await store.deleteGallery(name).catch(() => undefined);
    throw err;
  }
}
