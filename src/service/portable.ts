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
 * truncated file an error instead of a silently smaller gallery. Times are kept in the file for the
 * record; the importing store stamps its own.
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
} from '../gallery/index.js';
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

/**
 * Reads a file written by exportGallery into a new gallery (`as`, default the exported name). Any
 * error (bad line, missing end, a conflict) removes what was imported: the gallery is complete or absent.
 */
export async function importGallery(
  store: GalleryStore,
  file: string,
  options: { as?: string } = {},
): Promise<{ gallery: Gallery; subjects: number; faces: number }> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let lineNo = 0;
  const bad = (why: string): ArcfaceError => badInput(`${file}:${lineNo}: ${why}`);
  let gallery: Gallery | null = null;
  let created = false;
  const subjectIds = new Map<number, number>();
  const pending = new Map<number, NewFace[]>();
  let faces = 0;
  let ended = false;
  const flush = async (subjectId: number): Promise<void> => {
    const list = pending.get(subjectId);
    if (!list?.length) return;
    await store.addFaces(gallery!.name, subjectId, list);
    faces += list.length;
    pending.set(subjectId, []);
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
      if (!gallery) {
        if (rec.format !== EXPORT_FORMAT || !isObj(rec.gallery))
          throw bad(`not an ${EXPORT_FORMAT} file (its first line must be the header)`);
        if (rec.version !== EXPORT_VERSION)
          throw bad(`format version ${String(rec.version)}, this arcface reads version ${EXPORT_VERSION}`);
        const h = rec.gallery;
        const name = checkGalleryName(options.as ?? h.name);
        if (typeof h.model !== 'string' || !Number.isInteger(h.dim))
          throw bad('header without model and dim');
        if (await store.getGallery(name))
          throw new ServiceError(
            'CONFLICT',
            `gallery '${name}' already exists in ${store.location} (import it under another name with --as)`,
          );
        gallery = await store.createGallery({ name, model: h.model, dim: h.dim as number });
        created = true;
        // PostgreSQL: one graph build at the end instead of one graph insertion per face.
        await store.dropIndex?.(name);
      } else if (isObj(rec.subject)) {
        const s = rec.subject;
        if (!Number.isInteger(s.id) || typeof s.name !== 'string') throw bad('subject without id or name');
        const made = await store.addSubject(gallery.name, {
          name: s.name,
          externalId: typeof s.externalId === 'string' ? s.externalId : undefined,
          metadata: (s.metadata ?? null) as JsonValue,
        });
        subjectIds.set(s.id as number, made.id);
        pending.set(made.id, []);
      } else if (isObj(rec.face)) {
        const f = rec.face;
        const subjectId = subjectIds.get(f.subjectId as number);
        if (subjectId === undefined)
          throw bad(`face of subject ${String(f.subjectId)}, which the file does not list`);
        if (typeof f.embedding !== 'string') throw bad('face without embedding');
        const bytes = Buffer.from(f.embedding, 'base64');
        if (bytes.length !== gallery.dim * 4)
          throw bad(
            `embedding of ${bytes.length} bytes, gallery dim ${gallery.dim} needs ${gallery.dim * 4}`,
          );
        pending.get(subjectId)!.push({
          embedding: embeddingFromBytes(bytes, `${file}:${lineNo}`),
          model: gallery.model,
          imageSha256: typeof f.imageSha256 === 'string' ? f.imageSha256 : undefined,
          detScore: typeof f.detScore === 'number' ? f.detScore : undefined,
          crop: typeof f.crop === 'string' ? new Uint8Array(Buffer.from(f.crop, 'base64')) : undefined,
        });
        if (pending.get(subjectId)!.length >= CHUNK) await flush(subjectId);
      } else if (isObj(rec.end)) {
        for (const id of pending.keys()) await flush(id);
        if (rec.end.subjects !== subjectIds.size || rec.end.faces !== faces)
          throw bad(
            `the end record counts ${String(rec.end.subjects)} subjects and ${String(rec.end.faces)} faces, ` +
              `the file holds ${subjectIds.size} and ${faces}`,
          );
        ended = true;
      } else throw bad('unknown record (expected subject, face or end)');
    }
    if (!gallery) throw badInput(`${file}: empty file`);
    if (!ended) throw badInput(`${file}: no end record: the file is truncated, nothing was imported`);
    await store.buildIndex?.(gallery.name);
    return { gallery: (await store.getGallery(gallery.name))!, subjects: subjectIds.size, faces };
  } catch (err) {
    if (created && gallery) await store.deleteGallery(gallery.name).catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ArcfaceError('NOT_FOUND', `${file}: no such file`);
    throw err;
  } finally {
    lines.close();
  }
}
