/**
 * A gallery as one portable file, so it moves between stores (SQLite <-> PostgreSQL) and machines:
 * JSON lines, one record a line, readable with any tool and streamed both ways.
 *
 *   {"format":"arcface-gallery","version":1,"gallery":{"name","model","dim","createdAt"}}
 *   {"subject":{"id","externalId","name","metadata","createdAt"}}        one per subject
 *   {"face":{"subjectId","embedding","imageSha256","detScore","crop","createdAt"}}   one per face
 *   {"end":{"subjects":N,"faces":M}}
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
import { storedTime } from '../gallery/time.js';
import { pngSize } from '../image/png_size.js';
import { findModel } from '../models/zoo.js';
import { ServiceError } from './errors.js';
import { checkGalleryName } from './names.js';

export const EXPORT_FORMAT = 'arcface-gallery';
export const EXPORT_VERSION = 1;

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
    await write({
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      gallery: { name: g.name, model: g.model, dim: g.dim, createdAt: g.createdAt },
    });
    const subjects = await store.listSubjects(name);
    for (const s of subjects)
      await write({
        subject: {
          id: s.id,
          externalId: s.externalId,
          name: s.name,
          metadata: s.metadata,
          createdAt: s.createdAt,
        },
      });
    for await (const f of store.faces(name, { crops: true })) {
      await write({
        face: {
          subjectId: f.subjectId,
          embedding: embeddingToBytes(f.embedding).toString('base64'),
          imageSha256: f.imageSha256,
          detScore: f.detScore,
          crop: f.crop ? Buffer.from(f.crop).toString('base64') : null,
          createdAt: f.createdAt,
        },
      });
      faces++;
    }
    await write({ end: { subjects: subjects.length, faces } });
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
  | { kind: 'face'; fileSubject: number; face: NewFace }
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
  let faces = 0;
  let ended = false;
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
        if (rec.version !== EXPORT_VERSION)
          throw bad(`format version ${String(rec.version)}, this arcface reads version ${EXPORT_VERSION}`);
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
        subjectIds.add(id);
        yield {
          kind: 'subject',
          fileId: id,
          subject: {
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
        faces++;
        yield {
          kind: 'face',
          fileSubject: sid,
          face: {
            embedding,
            model: header.model,
            imageSha256: (f.imageSha256 as string | null) ?? undefined,
            detScore: (f.detScore as number | null) ?? undefined,
            crop: png,
            createdAt: time(f.createdAt, what),
          },
        };
      } else if (isObj(rec.end)) {
        if (rec.end.subjects !== subjectIds.size || rec.end.faces !== faces)
          throw bad(
            `the end record counts ${String(rec.end.subjects)} subjects and ${String(rec.end.faces)} faces, ` +
              `the file holds ${subjectIds.size} and ${faces}`,
          );
        ended = true;
        yield { kind: 'end' };
      } else throw bad('unknown record (expected subject, face or end)');
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
): Promise<{ gallery: Gallery; subjects: number; faces: number }> {
  let name = '';
  for await (const r of records(file, options.as)) if (r.kind === 'header') name = r.gallery.name;
  if (await store.getGallery(name))
    throw new ServiceError(
      'CONFLICT',
      `gallery '${name}' already exists in ${store.location} (import it under another name with --as)`,
    );
  let gallery: Gallery | null = null;
  const subjectIds = new Map<number, number>();
  const pending = new Map<number, NewFace[]>();
  let faces = 0;
  const flush = async (subjectId: number): Promise<void> => {
    const list = pending.get(subjectId);
    if (!list?.length) return;
    await store.addFaces(name, subjectId, list);
    faces += list.length;
    pending.set(subjectId, []);
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
        pending.get(id)!.push(r.face);
        if (pending.get(id)!.length >= CHUNK) await flush(id);
      } else for (const id of pending.keys()) await flush(id);
    }
    await store.buildIndex?.(name);
    return { gallery: (await store.getGallery(name))!, subjects: subjectIds.size, faces };
  } catch (err) {
    if (gallery) await store.deleteGallery(name).catch(() => undefined);
    throw err;
  }
}
