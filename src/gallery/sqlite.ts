/**
 * The embedded gallery store: one SQLite file (`gallery.db`) in a data folder (default
 * `./arcface-data/`), through better-sqlite3, with each gallery's search index (search_index.ts)
 * built from it at open and saved beside it.
 *
 * Settings, and why:
 * - `journal_mode = WAL`: readers never block the writer, and a commit is one append to the WAL.
 * - `synchronous = NORMAL`: in WAL mode SQLite then fsyncs the WAL only at checkpoints, not at each
 *   commit. A committed transaction is in the WAL (in the OS page cache) when `commit` returns, so a
 *   crash or SIGKILL of the process loses nothing committed and never leaves half a transaction; only
 *   a power cut or OS crash may roll back the last few commits, and the file stays consistent even
 *   then (SQLite's documentation: "WAL mode is always consistent with synchronous=NORMAL").
 * - `foreign_keys = ON`: deleting a gallery or subject cascades to its faces and crops.
 * - `secure_delete = ON`: SQLite puts freed pages on its freelist and, by default, leaves their old
 *   bytes there until the page is reused (or a VACUUM rewrites the file); a deleted embedding or crop
 *   would stay readable in the file. With secure_delete the freed content is overwritten with zeros.
 *   In WAL mode the zeroed pages are written to the WAL first and older WAL frames may still hold
 *   the data, so every delete is followed by `wal_checkpoint(TRUNCATE)`: the zeroed pages reach the
 *   database file and the WAL is emptied. VACUUM stays safe (it copies live rows only).
 * - That checkpoint cannot finish while another connection (another process reading the store) is
 *   inside a read transaction that began before the delete: it still reads the old pages. So the
 *   purge is tried without SQLite's busy wait (which would block the event loop), retried for up to
 *   `purgeWaitMs`, and if the reader still holds on, left pending: `purgeStatus()` says so, and the
 *   store finishes it from a background retry, at its next write, at close, or at the next open.
 * - The folder is 0700 and every file 0600, an older folder's included (private_files.ts).
 *
 * Everything one `addFaces` writes (faces, crops, the gallery's change id) is one transaction.
 */
import { metadataJson } from './metadata.js';
import { checkName, lookupName, notFound } from './names.js';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArcfaceError, badInput } from '../errors.js';
import { openDatabase, type Database } from './better_sqlite3.js';
import { checkModel, embeddingFromBytes, embeddingToBytes, unitEmbedding } from './embedding.js';
import { checkClusterWrite } from './cluster_write.js';
import { checkNewFaces, type CheckedFace } from './new_faces.js';
import { preparePrivateFolder } from './private_files.js';
import {
  boxColumns,
  boxFromColumns,
  checkBox,
  checkSha256,
  normalLinks,
  toCorrection,
  type CorrectionRow,
} from './corrections.js';
import { migrate } from './schema.js';
import { storedTime } from './time.js';
import { SearchIndex, discardIndexFile, type IndexRow, type SearchIndexOptions } from './search_index.js';
import type {
  ClusterWrite,
  ClusterWriteResult,
  Correction,
  Face,
  FaceLink,
  NewCorrection,
  SubjectKind,
  SubjectUpdate,
  Gallery,
  GalleryStore,
  JsonValue,
  NewFace,
  NewGallery,
  NewSubject,
  Probe,
  PurgeStatus,
  ReplacementRow,
  SearchOptions,
  StoredFace,
  Subject,
  SubjectMatch,
  FaceNeighbour,
} from './types.js';

export interface SqliteStoreOptions {
  /** Data folder (created when missing; default `./arcface-data`). */
  dir?: string;
  /** Database file name inside it (default `gallery.db`). */
  file?: string;
  /** Search index settings (exact/HNSW switch, M, ef, quantization...). */
  index?: SearchIndexOptions;
  /** Build every gallery's index at open (default true); false builds each at its first search. */
  indexAtOpen?: boolean;
  /** Progress of a gallery's HNSW graph build (faces added, all), for a progress bar. */
  onIndexProgress?: (gallery: string, done: number, total: number) => void;
  /**
   * How long a delete waits for other connections' older read transactions to end before it
   * reports its purge as pending (default 2000 ms; the delete itself is committed at once).
   */
  purgeWaitMs?: number;
}

export const DEFAULT_DATA_DIR = './arcface-data';

/** SQLite's busy wait for ordinary statements (a writer in another process). */
const BUSY_TIMEOUT_MS = 5000;

const PENDING_PURGE =
  'another connection to the gallery database (a process reading the store) still holds a snapshot ' +
  'from before the delete, so the deleted embeddings and crops stay in the database file and its WAL ' +
  'until it ends; the store finishes the purge then (it retries in the background, at its next ' +
  'write, at close and at the next open)';

interface GalleryRow {
  id: number;
  name: string;
  model: string;
  dim: number;
  created_at: string;
  change_id: number;
}

interface FaceRow {
  id: number;
  subject_id: number;
  model: string;
  image_sha256: string | null;
  det_score: number | null;
  created_at: string;
  embedding: Buffer;
  has_crop: number;
  photo_name: string | null;
  box_x1: number | null;
  box_y1: number | null;
  box_x2: number | null;
  box_y2: number | null;
  png?: Buffer | null;
}

function toFace(r: FaceRow, what: string): Face {
  return {
    id: r.id,
    subjectId: r.subject_id,
    model: r.model,
    embedding: embeddingFromBytes(r.embedding, what),
    imageSha256: r.image_sha256,
    detScore: r.det_score,
    hasCrop: r.has_crop === 1,
    photoName: r.photo_name,
    box: boxFromColumns(r),
    createdAt: r.created_at,
  };
}

export class SqliteGalleryStore implements GalleryStore {
  readonly location: string;
  readonly dir: string;
  private readonly db: Database;
  private readonly indexOptions: SearchIndexOptions;
  private readonly indexes = new Map<number, SearchIndex>();
  private readonly onIndexProgress: SqliteStoreOptions['onIndexProgress'];
  private readonly purgeWaitMs: number;
  /** A deletion's bytes may still be in the files (its purging checkpoint has not completed). */
  private unpurged = false;
  private lastWaitMs = 0;
  private retry: NodeJS.Timeout | undefined;

  constructor(options: SqliteStoreOptions = {}) {
    this.dir = resolve(options.dir ?? DEFAULT_DATA_DIR);
    const file = options.file ?? 'gallery.db';
    const path = join(this.dir, file);
    this.location = `sqlite:${path}`;
    this.indexOptions = options.index ?? {};
    this.onIndexProgress = options.onIndexProgress;
    this.purgeWaitMs = options.purgeWaitMs ?? 2000;
    if (!(Number.isFinite(this.purgeWaitMs) && this.purgeWaitMs >= 0))
      throw badInput(`gallery store: purgeWaitMs must be a number >= 0, got ${options.purgeWaitMs}`);
    try {
      preparePrivateFolder(this.dir, file);
      this.db = openDatabase(path, { timeout: BUSY_TIMEOUT_MS });
    } catch (e) {
      throw new ArcfaceError('BAD_CONFIG', `gallery store ${path}: cannot open (${(e as Error).message})`);
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('secure_delete = ON');
    migrate(this.db, path);
    // A purge an earlier process left pending (a reader held it back until that process ended).
    this.checkpoint();
    if (options.indexAtOpen !== false)
      for (const g of this.db.prepare('SELECT * FROM galleries').all() as GalleryRow[]) this.index(g);
  }

  /** The search index of a gallery, (re)built when missing or when another process changed the gallery. */
  indexOf(gallery: string): SearchIndex {
    return this.index(this.galleryRow(gallery));
  }

  async createGallery(g: NewGallery): Promise<Gallery> {
    checkName(g.name, 'gallery name');
    checkName(g.model, `gallery '${g.name}': model name`);
    if (!(Number.isInteger(g.dim) && g.dim >= 1 && g.dim <= 65536))
      throw badInput(`gallery '${g.name}': embedding dim must be an integer in 1..65536, got ${g.dim}`);
    const createdAt = storedTime(g.createdAt, `gallery '${g.name}'`);
    if (this.db.prepare('SELECT 1 FROM galleries WHERE name = ?').get(g.name))
      throw badInput(`gallery '${g.name}' already exists in ${this.location}`);
    this.db
      .prepare('INSERT INTO galleries (name, model, dim, created_at) VALUES (?, ?, ?, ?)')
      .run(g.name, g.model, g.dim, createdAt);
    this.afterWrite();
    return (await this.getGallery(g.name))!;
  }

  async getGallery(name: string): Promise<Gallery | null> {
    const r = this.db.prepare('SELECT * FROM galleries WHERE name = ?').get(name) as GalleryRow | undefined;
    return r ? this.toGallery(r) : null;
  }

  async listGalleries(): Promise<Gallery[]> {
    const rows = this.db.prepare('SELECT * FROM galleries ORDER BY name').all() as GalleryRow[];
    return rows.map((r) => this.toGallery(r));
  }

  async deleteGallery(name: string): Promise<boolean> {
    const r = this.db.prepare('SELECT * FROM galleries WHERE name = ?').get(name) as GalleryRow | undefined;
    if (!r) return false;
    this.db.prepare('DELETE FROM galleries WHERE id = ?').run(r.id);
    // The saved graph holds the gallery's vectors too (biometric data): unlinked now.
    this.indexes.get(r.id)?.close();
    this.indexes.delete(r.id);
    discardIndexFile(this.indexFile(r.id));
    await this.purge();
    return true;
  }

  async addSubject(gallery: string, s: NewSubject): Promise<Subject> {
    const g = this.galleryRow(gallery);
    const name = checkName(s.name, `gallery '${gallery}': subject name`);
    const externalId = checkName(s.externalId ?? randomUUID(), `gallery '${gallery}': subject external id`);
    const metadata = metadataJson(s.metadata, `gallery '${gallery}'`);
    const createdAt = storedTime(s.createdAt, `gallery '${gallery}': subject '${externalId}'`);
    const kind = checkKind(s.kind, gallery);
    const taken = () =>
      badInput(`gallery '${gallery}' already has a subject with external id '${externalId}'`);
    if (
      this.db.prepare('SELECT 1 FROM subjects WHERE gallery_id = ? AND external_id = ?').get(g.id, externalId)
    )
      throw taken();
    let r;
    try {
      r = this.db
        .prepare(
          'INSERT INTO subjects (gallery_id, external_id, name, metadata, created_at, kind) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(g.id, externalId, name, metadata, createdAt, kind);
    } catch (err) {
      // Another process inserted it since the check: the unique (gallery_id, external_id) says so.
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw taken();
      throw err;
    }
    this.afterWrite();
    return (await this.getSubject(gallery, Number(r.lastInsertRowid)))!;
  }

  async getSubject(gallery: string, subjectId: number): Promise<Subject | null> {
    const g = this.galleryRow(gallery);
    const r = this.db.prepare(`${SUBJECT_SQL} WHERE s.gallery_id = ? AND s.id = ?`).get(g.id, subjectId);
    return r ? toSubject(r as SubjectRow) : null;
  }

  async findSubject(gallery: string, externalId: string): Promise<Subject | null> {
    const g = this.galleryRow(gallery);
    const r = this.db
      .prepare(`${SUBJECT_SQL} WHERE s.gallery_id = ? AND s.external_id = ?`)
      .get(g.id, lookupName(externalId));
    return r ? toSubject(r as SubjectRow) : null;
  }

  async listSubjects(gallery: string, options: { kind?: SubjectKind | 'all' } = {}): Promise<Subject[]> {
    const g = this.galleryRow(gallery);
    const kind = options.kind ?? 'person';
    const rows = this.db
      .prepare(`${SUBJECT_SQL} WHERE s.gallery_id = ? AND (? = 'all' OR s.kind = ?) ORDER BY s.id`)
      .all(g.id, kind, kind) as SubjectRow[];
    return rows.map(toSubject);
  }

  async updateSubject(gallery: string, subjectId: number, u: SubjectUpdate): Promise<Subject> {
    const g = this.galleryRow(gallery);
    const what = `gallery '${gallery}': subject ${subjectId}`;
    const name = u.name === undefined ? undefined : checkName(u.name, `${what}: name`);
    const externalId =
      u.externalId === undefined ? undefined : checkName(u.externalId, `${what}: external id`);
    const metadata = u.metadata === undefined ? undefined : metadataJson(u.metadata, what);
    if (u.kind !== undefined && u.kind !== 'person') throw badInput(`${what}: kind may only become 'person'`);
    this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM subjects WHERE gallery_id = ? AND id = ?').get(g.id, subjectId))
        throw notFound(`gallery '${gallery}' has no subject ${subjectId}`);
      if (
        externalId !== undefined &&
        this.db
          .prepare('SELECT 1 FROM subjects WHERE gallery_id = ? AND external_id = ? AND id <> ?')
          .get(g.id, externalId, subjectId)
      )
        throw badInput(`gallery '${gallery}' already has a subject with external id '${externalId}'`);
      this.db
        .prepare(
          'UPDATE subjects SET name = coalesce(?, name), external_id = coalesce(?, external_id), ' +
            'metadata = coalesce(?, metadata), kind = coalesce(?, kind) WHERE id = ?',
        )
        .run(name ?? null, externalId ?? null, metadata ?? null, u.kind ?? null, subjectId);
    })();
    this.afterWrite();
    return (await this.getSubject(gallery, subjectId))!;
  }

  async deleteSubject(gallery: string, subjectId: number): Promise<boolean> {
    const g = this.galleryRow(gallery);
    const index = this.index(g);
    const version = this.db.transaction(() => {
      const r = this.db.prepare('DELETE FROM subjects WHERE gallery_id = ? AND id = ?').run(g.id, subjectId);
      return r.changes ? this.bump(g.id) : null;
    })();
    if (version === null) return false;
    index.removeSubject(subjectId, version);
    await this.purge();
    return true;
  }

  async addFaces(gallery: string, subjectId: number, faces: NewFace[]): Promise<number[]> {
    const g = this.galleryRow(gallery);
    if (!Array.isArray(faces) || faces.length === 0)
      throw badInput(`gallery '${gallery}': addFaces needs faces`);
    const prepared = checkNewFaces(g, faces);
    const index = this.index(g);
    const { ids, version } = this.db.transaction(() => {
      const ids = this.insertFaces(g, gallery, subjectId, prepared);
      return { ids, version: this.bump(g.id) };
    })();
    index.add(
      prepared.map((f, i) => ({ faceId: ids[i], subjectId, embedding: f.embedding })),
      version,
    );
    this.afterWrite();
    return ids;
  }

  async writeClusters(gallery: string, w: ClusterWrite): Promise<ClusterWriteResult> {
    const g = this.galleryRow(gallery);
    const { join, create } = checkClusterWrite(gallery, w);
    const joins = join.map((j, i) => ({ ...j, faces: checkNewFaces(g, j.faces, `, join ${i}`) }));
    const creates = create.map((c, i) => ({ ...c, faces: checkNewFaces(g, c.faces, `, cluster ${i}`) }));
    if (joins.length + creates.length === 0) return { joined: [], created: [], removedClusters: [] };
    const index = this.index(g);
    const insertSubject = this.db.prepare(
      "INSERT INTO subjects (gallery_id, external_id, name, metadata, created_at, kind) VALUES (?, ?, 'unnamed', 'null', ?, 'cluster')",
    );
    const out = this.db.transaction(() => {
      const joined = joins.map((j) => this.insertFaces(g, gallery, j.subjectId, j.faces));
      const from = new Set<number>();
      const created = creates.map((c) => {
        const r = insertSubject.run(g.id, randomUUID(), new Date().toISOString());
        const subjectId = Number(r.lastInsertRowid);
        const faceIds = c.faces.length ? this.insertFaces(g, gallery, subjectId, c.faces) : [];
        if (c.move.length) for (const s of this.moveInto(g, gallery, c.move, subjectId)) from.add(s);
        return { subjectId, faceIds };
      });
      for (const c of created) from.delete(c.subjectId);
      const removedClusters = this.deleteEmptied(from);
      return { joined, created, removedClusters, version: this.bump(g.id) };
    })();
    const rows: IndexRow[] = [];
    joins.forEach((j, i) =>
      j.faces.forEach((f, t) =>
        rows.push({ faceId: out.joined[i]![t]!, subjectId: j.subjectId, embedding: f.embedding }),
      ),
    );
    creates.forEach((c, i) => {
      const { subjectId, faceIds } = out.created[i]!;
      c.faces.forEach((f, t) => rows.push({ faceId: faceIds[t]!, subjectId, embedding: f.embedding }));
    });
    if (rows.length) index.add(rows, out.version);
    creates.forEach((c, i) => {
      if (c.move.length) index.reassign(c.move, out.created[i]!.subjectId, out.version);
    });
    this.afterWrite();
    return { joined: out.joined, created: out.created, removedClusters: out.removedClusters };
  }

  /** Inserts checked faces (and their crops) of one subject, inside the caller's transaction. */
  private insertFaces(g: GalleryRow, gallery: string, subjectId: number, faces: CheckedFace[]): number[] {
    if (!this.db.prepare('SELECT 1 FROM subjects WHERE gallery_id = ? AND id = ?').get(g.id, subjectId))
      throw notFound(`gallery '${gallery}' has no subject ${subjectId}`);
    const insertFace = this.db.prepare(
      'INSERT INTO faces (subject_id, gallery_id, model, image_sha256, det_score, created_at, embedding, ' +
        'photo_name, box_x1, box_y1, box_x2, box_y2) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const insertCrop = this.db.prepare('INSERT INTO crops (face_id, png) VALUES (?, ?)');
    const now = new Date().toISOString();
    return faces.map((f) => {
      const r = insertFace.run(
        subjectId,
        g.id,
        f.model,
        f.imageSha256 ?? null,
        f.detScore ?? null,
        f.createdAt ?? now,
        embeddingToBytes(f.embedding),
        f.photoName ?? null,
        ...boxColumns(f.box),
      );
      const id = Number(r.lastInsertRowid);
      if (f.crop) insertCrop.run(id, Buffer.from(f.crop.buffer, f.crop.byteOffset, f.crop.byteLength));
      return id;
    });
  }

  async listFaces(gallery: string, subjectId: number): Promise<Face[]> {
    const g = this.galleryRow(gallery);
    const rows = this.db
      .prepare(`${FACE_SQL} WHERE f.gallery_id = ? AND f.subject_id = ? ORDER BY f.id`)
      .all(g.id, subjectId) as FaceRow[];
    return rows.map((r) => toFace(r, `${this.location}: face ${r.id}`));
  }

  async getFace(gallery: string, faceId: number): Promise<Face | null> {
    const g = this.galleryRow(gallery);
    const r = this.db.prepare(`${FACE_SQL} WHERE f.gallery_id = ? AND f.id = ?`).get(g.id, faceId) as
      FaceRow | undefined;
    return r ? toFace(r, `${this.location}: face ${r.id}`) : null;
  }

  async moveFaces(gallery: string, faceIds: number[], toSubjectId: number): Promise<number[]> {
    const g = this.galleryRow(gallery);
    if (!Array.isArray(faceIds) || faceIds.length === 0)
      throw badInput(`gallery '${gallery}': move needs faces`);
    const index = this.index(g);
    const { emptied, version } = this.db.transaction(() => {
      const from = this.moveInto(g, gallery, faceIds, toSubjectId);
      from.delete(toSubjectId);
      return { emptied: this.deleteEmptied(from), version: this.bump(g.id) };
    })();
    index.reassign(faceIds, toSubjectId, version);
    this.afterWrite();
    return emptied;
  }

  /** Moves faces to a subject inside the caller's transaction; returns the subjects they left. */
  private moveInto(g: GalleryRow, gallery: string, faceIds: number[], toSubjectId: number): Set<number> {
    if (!this.db.prepare('SELECT 1 FROM subjects WHERE gallery_id = ? AND id = ?').get(g.id, toSubjectId))
      throw notFound(`gallery '${gallery}' has no subject ${toSubjectId}`);
    const from = new Set<number>();
    const owner = this.db.prepare('SELECT subject_id FROM faces WHERE gallery_id = ? AND id = ?');
    const move = this.db.prepare('UPDATE faces SET subject_id = ? WHERE id = ?');
    for (const id of faceIds) {
      const r = owner.get(g.id, id) as { subject_id: number } | undefined;
      if (!r) throw notFound(`gallery '${gallery}' has no face ${id}`);
      from.add(r.subject_id);
      move.run(toSubjectId, id);
    }
    return from;
  }

  /** Deletes those of `subjects` that are clusters left with no face (caller's transaction); their ids. */
  private deleteEmptied(subjects: Iterable<number>): number[] {
    const emptied: number[] = [];
    const del = this.db.prepare(
      "DELETE FROM subjects WHERE id = ? AND kind = 'cluster' AND NOT EXISTS (SELECT 1 FROM faces WHERE subject_id = ?)",
    );
    for (const s of subjects) if (del.run(s, s).changes) emptied.push(s);
    return emptied.sort((a, b) => a - b);
  }

  async addCorrection(gallery: string, c: NewCorrection): Promise<Correction> {
    const g = this.galleryRow(gallery);
    const what = `gallery '${gallery}': correction`;
    let sha = c.imageSha256 === undefined ? null : checkSha256(c.imageSha256, what);
    let box = c.box === undefined ? null : checkBox(c.box, what);
    const createdAt = storedTime(c.createdAt, what);
    if (c.faceId === undefined && sha === null)
      throw badInput(`${what}: give the face (faceId) or its photo (imageSha256)`);
    const id = this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM subjects WHERE gallery_id = ? AND id = ?').get(g.id, c.subjectId))
        throw notFound(`gallery '${gallery}' has no subject ${c.subjectId}`);
      if (c.faceId !== undefined) {
        const f = this.db
          .prepare(
            'SELECT image_sha256, box_x1, box_y1, box_x2, box_y2 FROM faces WHERE gallery_id = ? AND id = ?',
          )
          .get(g.id, c.faceId) as
          Omit<CorrectionRow, 'id' | 'subject_id' | 'face_id' | 'created_at'> | undefined;
        if (!f) throw notFound(`gallery '${gallery}' has no face ${c.faceId}`);
        // The face's photo and box, so the correction holds when that photo is identified again.
        sha ??= f.image_sha256;
        box ??= boxFromColumns(f);
      }
      return Number(
        this.db
          .prepare(
            'INSERT INTO corrections (gallery_id, subject_id, face_id, image_sha256, box_x1, box_y1, box_x2, box_y2, created_at) ' +
              'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
          )
          .run(g.id, c.subjectId, c.faceId ?? null, sha, ...boxColumns(box), createdAt).lastInsertRowid,
      );
    })();
    this.afterWrite();
    return toCorrection(this.db.prepare('SELECT * FROM corrections WHERE id = ?').get(id) as CorrectionRow);
  }

  async listCorrections(gallery: string, options: { imageSha256?: string } = {}): Promise<Correction[]> {
    const g = this.galleryRow(gallery);
    const rows =
      options.imageSha256 === undefined
        ? this.db.prepare('SELECT * FROM corrections WHERE gallery_id = ? ORDER BY id').all(g.id)
        : this.db
            .prepare('SELECT * FROM corrections WHERE gallery_id = ? AND image_sha256 = ? ORDER BY id')
            .all(g.id, options.imageSha256);
    return (rows as CorrectionRow[]).map(toCorrection);
  }

  async deleteCorrection(gallery: string, correctionId: number): Promise<boolean> {
    const g = this.galleryRow(gallery);
    const r = this.db
      .prepare('DELETE FROM corrections WHERE gallery_id = ? AND id = ?')
      .run(g.id, correctionId);
    this.afterWrite();
    return r.changes > 0;
  }

  async addLinks(gallery: string, links: FaceLink[]): Promise<void> {
    const g = this.galleryRow(gallery);
    const rows = normalLinks(links, `gallery '${gallery}'`);
    const has = this.db.prepare('SELECT 1 FROM faces WHERE gallery_id = ? AND id = ?');
    const put = this.db.prepare(
      'INSERT INTO face_links (gallery_id, face_a, face_b, kind) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (face_a, face_b) DO UPDATE SET kind = excluded.kind',
    );
    this.db.transaction(() => {
      for (const l of rows) {
        for (const id of [l.faceA, l.faceB])
          if (!has.get(g.id, id)) throw notFound(`gallery '${gallery}' has no face ${id}`);
        put.run(g.id, l.faceA, l.faceB, l.kind);
      }
    })();
    this.afterWrite();
  }

  async listLinks(gallery: string): Promise<FaceLink[]> {
    const g = this.galleryRow(gallery);
    return this.db
      .prepare(
        'SELECT face_a AS faceA, face_b AS faceB, kind FROM face_links WHERE gallery_id = ? ORDER BY face_a, face_b',
      )
      .all(g.id) as FaceLink[];
  }

  async getCrop(gallery: string, faceId: number): Promise<Uint8Array | null> {
    const g = this.galleryRow(gallery);
    const r = this.db
      .prepare(
        'SELECT c.png FROM faces f LEFT JOIN crops c ON c.face_id = f.id WHERE f.gallery_id = ? AND f.id = ?',
      )
      .get(g.id, faceId) as { png: Buffer | null } | undefined;
    if (!r) throw notFound(`gallery '${gallery}' has no face ${faceId}`);
    return r.png ? new Uint8Array(r.png) : null;
  }

  async deleteFace(gallery: string, faceId: number): Promise<boolean> {
    const g = this.galleryRow(gallery);
    const index = this.index(g);
    const version = this.db.transaction(() => {
      const r = this.db.prepare('DELETE FROM faces WHERE gallery_id = ? AND id = ?').run(g.id, faceId);
      return r.changes ? this.bump(g.id) : null;
    })();
    if (version === null) return false;
    index.remove([faceId], version);
    await this.purge();
    return true;
  }

  async nearestFaces(gallery: string, probe: Probe, k: number): Promise<FaceNeighbour[]> {
    const g = this.galleryRow(gallery);
    if (!(Number.isInteger(k) && k >= 1))
      throw badInput(`nearest faces: k must be a positive integer, got ${k}`);
    checkModel(this.toGallery(g), probe.model, 'nearest faces');
    const q = unitEmbedding(probe.embedding, g.dim, `nearest faces in gallery '${gallery}'`);
    return this.index(g).nearestFaces(q, k);
  }

  async search(gallery: string, probe: Probe, options: SearchOptions = {}): Promise<SubjectMatch[]> {
    const g = this.galleryRow(gallery);
    const k = options.k ?? 5;
    const aggregate = options.aggregate ?? 'max';
    if (!(Number.isInteger(k) && k >= 1)) throw badInput(`search: k must be a positive integer, got ${k}`);
    if (aggregate !== 'max' && aggregate !== 'mean')
      throw badInput(`search: aggregate must be 'max' or 'mean', got '${aggregate}'`);
    checkModel(this.toGallery(g), probe.model, 'search');
    const q = unitEmbedding(probe.embedding, g.dim, `search in gallery '${gallery}'`);
    const skip = new Set(options.exclude ?? []);
    if (!options.clusters)
      for (const r of this.db
        .prepare("SELECT id FROM subjects WHERE gallery_id = ? AND kind = 'cluster'")
        .all(g.id) as { id: number }[])
        skip.add(r.id);
    const ranked = this.index(g).search(q, k, aggregate, skip.size ? (s) => !skip.has(s) : undefined);
    if (ranked.length === 0) return [];
    const names = new Map(
      (
        this.db
          .prepare(
            `SELECT id, external_id, name FROM subjects WHERE id IN (${ranked.map(() => '?').join(',')})`,
          )
          .all(...ranked.map((r) => r.subjectId)) as { id: number; external_id: string; name: string }[]
      ).map((r) => [r.id, r]),
    );
    return ranked.map((r) => ({
      subjectId: r.subjectId,
      externalId: names.get(r.subjectId)!.external_id,
      name: names.get(r.subjectId)!.name,
      score: r.score,
      faceId: r.faceId,
      faceScore: r.faceScore,
    }));
  }

  /** Pages by id (not one long-running statement), so the caller may write to the store between faces. */
  async *faces(gallery: string, options: { crops?: boolean } = {}): AsyncIterable<StoredFace> {
    const g = this.galleryRow(gallery);
    const page = this.db.prepare(
      `${options.crops ? FACE_SQL.replace('SELECT', 'SELECT c.png AS png,') : FACE_SQL} ` +
        'WHERE f.gallery_id = ? AND f.id > ? ORDER BY f.id LIMIT 500',
    );
    let last = 0;
    for (;;) {
      const rows = page.all(g.id, last) as FaceRow[];
      if (rows.length === 0) return;
      for (const r of rows) {
        last = r.id;
        yield { ...toFace(r, `${this.location}: face ${r.id}`), crop: r.png ? new Uint8Array(r.png) : null };
      }
    }
  }

  async replaceEmbeddings(gallery: string, model: string, rows: ReplacementRow[]): Promise<void> {
    const g = this.galleryRow(gallery);
    checkName(model, `reindex of gallery '${gallery}': model name`);
    const dim = rows[0]?.embedding.length ?? g.dim;
    const prepared = rows.map((r) => ({
      faceId: r.faceId,
      embedding: unitEmbedding(r.embedding, dim, `reindex of gallery '${gallery}', face ${r.faceId}`),
    }));
    const update = this.db.prepare(
      'UPDATE faces SET embedding = ?, model = ? WHERE gallery_id = ? AND id = ?',
    );
    this.db.transaction(() => {
      const ids = this.db.prepare('SELECT id FROM faces WHERE gallery_id = ?').all(g.id) as { id: number }[];
      const given = new Set(prepared.map((r) => r.faceId));
      if (given.size !== prepared.length)
        throw badInput(`reindex of gallery '${gallery}': a face id is repeated`);
      const missing = ids.filter((r) => !given.has(r.id));
      if (missing.length || ids.length !== prepared.length)
        throw badInput(
          `reindex of gallery '${gallery}': ${prepared.length} new embeddings for ${ids.length} faces ` +
            `(every face needs one${missing.length ? `; face ${missing[0].id} has none` : ''})`,
        );
      for (const r of prepared) update.run(embeddingToBytes(r.embedding), model, g.id, r.faceId);
      this.db.prepare('UPDATE galleries SET model = ?, dim = ? WHERE id = ?').run(model, dim, g.id);
      this.bump(g.id);
    })();
    // Old-model vectors leave the saved graph too: the rebuilt index overwrites or unlinks it.
    this.indexes.get(g.id)?.discard();
    this.indexes.delete(g.id);
    await this.purge();
    this.indexOf(gallery);
  }

  /**
   * Whether the bytes of every deletion are gone from gallery.db and its WAL, and how long the
   * last delete waited for readers; `reason` (no file path) says why when they are not yet.
   */
  purgeStatus(): PurgeStatus {
    return this.unpurged
      ? { purged: false, waitedMs: this.lastWaitMs, reason: PENDING_PURGE }
      : { purged: true, waitedMs: this.lastWaitMs };
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    clearTimeout(this.retry);
    for (const index of this.indexes.values()) index.close();
    this.indexes.clear();
    // Finishes a pending purge, this store's or one another process's reads held back.
    this.checkpoint();
    this.db.close();
  }

  private galleryRow(name: string): GalleryRow {
    if (!this.db.open) throw badInput(`${this.location}: the store is closed`);
    const r = this.db.prepare('SELECT * FROM galleries WHERE name = ?').get(name) as GalleryRow | undefined;
    if (!r) throw notFound(`no gallery '${name}' in ${this.location}`);
    return r;
  }

  private toGallery(r: GalleryRow): Gallery {
    const c = this.db
      .prepare(
        "SELECT (SELECT count(*) FROM subjects WHERE gallery_id = ? AND kind = 'person') AS s, " +
          "(SELECT count(*) FROM subjects WHERE gallery_id = ? AND kind = 'cluster') AS c, " +
          '(SELECT count(*) FROM faces WHERE gallery_id = ?) AS f, ' +
          "(SELECT count(*) FROM faces f JOIN subjects s ON s.id = f.subject_id WHERE s.gallery_id = ? AND s.kind = 'cluster') AS cf",
      )
      .get(r.id, r.id, r.id, r.id) as { s: number; c: number; f: number; cf: number };
    return {
      name: r.name,
      model: r.model,
      dim: r.dim,
      createdAt: r.created_at,
      subjects: c.s,
      clusters: c.c,
      faces: c.f - c.cf,
      clusterFaces: c.cf,
    };
  }

  /** Bumps a gallery's change id inside the caller's transaction; returns the new one. */
  private bump(galleryId: number): number {
    this.db.prepare('UPDATE galleries SET change_id = change_id + 1 WHERE id = ?').run(galleryId);
    return (
      this.db.prepare('SELECT change_id FROM galleries WHERE id = ?').get(galleryId) as { change_id: number }
    ).change_id;
  }

  private indexFile(galleryId: number): string {
    return join(this.dir, `gallery-${galleryId}.usearch`);
  }

  /** The gallery's index, rebuilt from the database when absent or behind it (a write by another process). */
  private index(g: GalleryRow): SearchIndex {
    const have = this.indexes.get(g.id);
    if (have && have.dim === g.dim && have.version === g.change_id) return have;
    have?.close();
    const rows: IndexRow[] = [];
    const stmt = this.db.prepare(
      'SELECT id, subject_id, embedding FROM faces WHERE gallery_id = ? ORDER BY id',
    );
    for (const r of stmt.all(g.id) as { id: number; subject_id: number; embedding: Buffer }[])
      rows.push({
        faceId: r.id,
        subjectId: r.subject_id,
        embedding: embeddingFromBytes(r.embedding, `${this.location}: face ${r.id}`),
      });
    const progress = this.onIndexProgress;
    const index = new SearchIndex(
      g.dim,
      rows,
      g.change_id,
      progress
        ? { ...this.indexOptions, onBuildProgress: (done, total) => progress(g.name, done, total) }
        : this.indexOptions,
      this.indexFile(g.id),
    );
    this.indexes.set(g.id, index);
    return index;
  }

  /**
   * After a delete: the zeroed pages (secure_delete) go into the file and the WAL is emptied, retried
   * while older readers hold it back, for up to `purgeWaitMs`; then left pending (`purgeStatus`).
   */
  private async purge(): Promise<void> {
    this.unpurged = true;
    this.lastWaitMs = 0;
    if (this.checkpoint()) return;
    const start = Date.now();
    for (let delay = 5; ; delay = Math.min(2 * delay, 100)) {
      const left = this.purgeWaitMs - (Date.now() - start);
      if (left <= 0) break;
      await sleep(Math.min(delay, left));
      // Closed meanwhile (close made the last attempt), or another call's checkpoint completed.
      if (!this.db.open || !this.unpurged || this.checkpoint()) break;
    }
    this.lastWaitMs = Math.max(1, Date.now() - start);
    if (this.unpurged) this.retryLater(500);
  }

  /** A write finishes a pending purge when the readers that held it back are gone. */
  private afterWrite(): void {
    if (this.unpurged) this.checkpoint();
  }

  /** Retries a pending purge in the background (backing off to 30 s) until it completes or the store closes. */
  private retryLater(delay: number): void {
    if (this.retry || !this.db.open) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.db.open && this.unpurged && !this.checkpoint()) this.retryLater(Math.min(2 * delay, 30_000));
    }, delay);
    this.retry.unref();
  }

  /**
   * One TRUNCATE checkpoint without SQLite's busy wait; true when it completed (every page in the
   * database file, the WAL empty), which ends any pending purge.
   */
  private checkpoint(): boolean {
    this.db.pragma('busy_timeout = 0');
    try {
      const [r] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (r.busy === 0) this.unpurged = false;
      return r.busy === 0;
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }
}

interface SubjectRow {
  id: number;
  kind: SubjectKind;
  external_id: string;
  name: string;
  metadata: string;
  created_at: string;
  faces: number;
}

const SUBJECT_SQL =
  'SELECT s.id, s.kind, s.external_id, s.name, s.metadata, s.created_at, ' +
  '(SELECT count(*) FROM faces f WHERE f.subject_id = s.id) AS faces FROM subjects s';

const FACE_SQL =
  'SELECT f.id, f.subject_id, f.model, f.image_sha256, f.det_score, f.created_at, f.embedding, ' +
  'f.photo_name, f.box_x1, f.box_y1, f.box_x2, f.box_y2, ' +
  '(c.face_id IS NOT NULL) AS has_crop FROM faces f LEFT JOIN crops c ON c.face_id = f.id';

function toSubject(r: SubjectRow): Subject {
  return {
    id: r.id,
    kind: r.kind,
    externalId: r.external_id,
    name: r.name,
    metadata: JSON.parse(r.metadata) as JsonValue,
    createdAt: r.created_at,
    faces: r.faces,
  };
}

function checkKind(kind: unknown, gallery: string): SubjectKind {
  if (kind === undefined) return 'person';
  if (kind !== 'person' && kind !== 'cluster')
    throw badInput(`gallery '${gallery}': subject kind must be 'person' or 'cluster', got '${String(kind)}'`);
  return kind;
}

/** Opens (creating) the embedded store. */
export function openSqliteStore(options: SqliteStoreOptions = {}): SqliteGalleryStore {
  return new SqliteGalleryStore(options);
}
