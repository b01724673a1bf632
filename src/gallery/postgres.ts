/**
 * The scale-out gallery store: PostgreSQL with the `vector` extension (pgvector 0.8), through `pg`
 * and `pgvector`, selected by a `postgres://` URL (src/gallery/open.ts). Same behaviour as the
 * embedded store (sqlite.ts), checked by the same suite (test/gallery_suite.ts).
 *
 * Design, and why:
 * - One `faces` table for every gallery with an untyped `vector` column (float32, exact: it is what
 *   `listFaces`, export and re-scoring read). A `vector(dim)` column cannot vary per row, and one
 *   table per dimension would split subjects, crops and counts across tables for nothing: the
 *   per-gallery dimension lives in `galleries.dim`, checked on every write.
 * - One partial HNSW index per gallery (dim <= 4000, pgvector's halfvec HNSW limit) on the
 *   expression `(embedding::halfvec(dim)) halfvec_cosine_ops WHERE gallery_id = <id>`: each graph
 *   holds only its gallery (no filtering loss, no other gallery's dimension), in half precision
 *   (half the index size; the error is removed by re-scoring). The query repeats the same
 *   expression and predicate, with the gallery id inlined, so the planner can prove the predicate.
 * - Search: below `annThreshold` faces (default 10,000: a sequential scan of 20 MB is a few ms)
 *   the candidate subjects come from an exact scan; above, from the HNSW index with
 *   `hnsw.ef_search` = max(128, candidates) set per transaction (pgvector's default 40 gave recall
 *   0.88 at 100k in issue 5's measurements, 128 gave 0.994). Either way every face of each candidate
 *   subject is re-scored in float64 from the stored float32 embedding (as search_index.ts does)
 *   before ranking, so open-set thresholds never see an approximate or half-precision score.
 * - `galleries.face_count` is kept by statement-level triggers (any delete path, cascades
 *   included), so choosing exact vs HNSW never counts a million rows.
 * - Enrolling is one transaction that first locks the gallery row (FOR NO KEY UPDATE): a
 *   concurrent `replaceEmbeddings` cannot switch the model between the check and the insert, and
 *   enrolls into one gallery queue there rather than deadlock on the face counter.
 * - The tables live in their own Postgres schema (default `arcface`, `?schema=` in the URL or the
 *   `schema` option), with a version table `arcface_schema`; migrations run under an advisory lock,
 *   so two processes opening a new database at once do not race.
 *
 * Deleting is permanent at the SQL level: the rows (embedding, crop, and the halfvec copy in the
 * HNSW index) are gone from every query when the DELETE commits. Physically, PostgreSQL's MVCC
 * leaves the deleted tuples in their pages as dead tuples until VACUUM (autovacuum, or `vacuum()`
 * here, or `vacuumAfterDelete`) removes them from the heap, the TOAST table (the crops) and the
 * indexes and marks the space reusable; the freed bytes are not overwritten until reused, and WAL
 * segments, replicas and base backups keep copies until they are recycled or expire. For erasure
 * on disk: `vacuum({ full: true })` (VACUUM FULL rewrites the tables into new files and unlinks the
 * old ones), with a WAL and backup retention that fits the deployment's policy.
 */
import { metadataJson } from './metadata.js';
import { checkName, lookupName, notFound } from './names.js';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import pgvector from 'pgvector';
import { ArcfaceError, badInput } from '../errors.js';
import { checkModel, dotRow, unitEmbedding } from './embedding.js';
import { SubjectRanker } from './rank.js';
import { checkClusterWrite } from './cluster_write.js';
import { checkNewFaces, type CheckedFace } from './new_faces.js';
import {
  boxColumns,
  boxFromColumns,
  checkBox,
  checkSha256,
  normalLinks,
  toCorrection,
  type CorrectionRow,
} from './corrections.js';
import { storedTime } from './time.js';
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
  ReplacementRow,
  SearchOptions,
  StoredFace,
  Subject,
  SubjectMatch,
  FaceNeighbour,
} from './types.js';

export interface PostgresStoreOptions {
  /** Postgres schema holding the store's tables (default `arcface`, or `?schema=` in the URL). */
  schema?: string;
  /** Faces from which a gallery is searched through its HNSW index (default 10,000). */
  annThreshold?: number;
  /** HNSW `m` and `ef_construction` for new galleries' indexes (defaults 16 and 64). */
  hnswM?: number;
  hnswEfConstruction?: number;
  /** `hnsw.ef_search` at least this (default 128); raised to the candidate count when larger. */
  efSearch?: number;
  /** Faces taken from the index and subjects from the exact scan: max(`minCandidates`, `candidatesPerK` x k) (64, 4). */
  minCandidates?: number;
  candidatesPerK?: number;
  /** Run VACUUM on the store's tables after every delete (default false: autovacuum does it). */
  vacuumAfterDelete?: boolean;
  /** Pool size (default 4). */
  maxConnections?: number;
}

/** Version of the tables below; `arcface_schema.version` in the database. */
export const POSTGRES_SCHEMA_VERSION = 2;
/** pgvector's HNSW supports halfvec up to 4,000 dimensions; larger galleries are searched exactly. */
const HNSW_MAX_DIM = 4000;
/** pgvector's `vector` type holds at most 16,000 dimensions. */
const VECTOR_MAX_DIM = 16000;
/** pgvector's limit for hnsw.ef_search. */
const EF_MAX = 1000;

/** Step i takes the schema from version i to i + 1 (run with search_path = the store's schema). */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE galleries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    model text NOT NULL,
    dim integer NOT NULL CHECK (dim >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- kept by the triggers below: the exact/HNSW switch reads it instead of counting
    face_count bigint NOT NULL DEFAULT 0
  );
  CREATE TABLE subjects (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gallery_id bigint NOT NULL REFERENCES galleries (id) ON DELETE CASCADE,
    external_id text NOT NULL,
    name text NOT NULL,
    metadata jsonb NOT NULL DEFAULT 'null',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (gallery_id, external_id)
  );
  CREATE TABLE faces (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_id bigint NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    gallery_id bigint NOT NULL REFERENCES galleries (id) ON DELETE CASCADE,
    model text NOT NULL,
    image_sha256 text,
    det_score double precision,
    created_at timestamptz NOT NULL DEFAULT now(),
    embedding vector NOT NULL
  );
  CREATE INDEX faces_gallery ON faces (gallery_id, id);
  CREATE INDEX faces_subject ON faces (subject_id, id);
  CREATE INDEX subjects_gallery ON subjects (gallery_id, id);
  -- crops apart, so scans of faces never touch the PNGs' TOAST pages
  CREATE TABLE crops (
    face_id bigint PRIMARY KEY REFERENCES faces (id) ON DELETE CASCADE,
    png bytea NOT NULL
  );
  CREATE FUNCTION faces_counted_in() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    UPDATE galleries g SET face_count = g.face_count + c.n
      FROM (SELECT gallery_id, count(*) AS n FROM changed GROUP BY gallery_id) c WHERE g.id = c.gallery_id;
    RETURN NULL;
  END $$;
  CREATE FUNCTION faces_counted_out() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    UPDATE galleries g SET face_count = g.face_count - c.n
      FROM (SELECT gallery_id, count(*) AS n FROM changed GROUP BY gallery_id) c WHERE g.id = c.gallery_id;
    RETURN NULL;
  END $$;
  CREATE TRIGGER faces_count_insert AFTER INSERT ON faces REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION faces_counted_in();
  CREATE TRIGGER faces_count_delete AFTER DELETE ON faces REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION faces_counted_out();
  `,
  // 2: clusters (unnamed subjects), where a face came from, corrections and face links (issue 13).
  `
  ALTER TABLE subjects ADD COLUMN kind text NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'cluster'));
  ALTER TABLE faces ADD COLUMN photo_name text,
    ADD COLUMN box_x1 double precision, ADD COLUMN box_y1 double precision,
    ADD COLUMN box_x2 double precision, ADD COLUMN box_y2 double precision;
  CREATE INDEX faces_sha ON faces (gallery_id, image_sha256);
  -- "face F is not subject S": by stored face and/or by photo sha256 + box (see types.ts Correction)
  CREATE TABLE corrections (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gallery_id bigint NOT NULL REFERENCES galleries (id) ON DELETE CASCADE,
    subject_id bigint NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    face_id bigint REFERENCES faces (id) ON DELETE SET NULL,
    image_sha256 text,
    box_x1 double precision, box_y1 double precision, box_x2 double precision, box_y2 double precision,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX corrections_sha ON corrections (gallery_id, image_sha256);
  CREATE INDEX corrections_face ON corrections (face_id);
  CREATE INDEX corrections_subject ON corrections (subject_id);
  -- must-link ('same') and cannot-link ('apart') pairs a person decided, for re-clustering
  CREATE TABLE face_links (
    gallery_id bigint NOT NULL REFERENCES galleries (id) ON DELETE CASCADE,
    face_a bigint NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
    face_b bigint NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('same', 'apart')),
    PRIMARY KEY (face_a, face_b),
    CHECK (face_a < face_b)
  );
  CREATE INDEX face_links_gallery ON face_links (gallery_id);
  CREATE INDEX face_links_b ON face_links (face_b);
  `,
];

interface GalleryRow {
  id: number;
  name: string;
  model: string;
  dim: number;
  created_at: Date;
  face_count: number;
}

interface SubjectRow {
  id: number;
  kind: SubjectKind;
  external_id: string;
  name: string;
  metadata: JsonValue;
  created_at: Date;
  faces: number;
}

interface FaceRow {
  id: number;
  subject_id: number;
  model: string;
  image_sha256: string | null;
  det_score: number | null;
  created_at: Date;
  embedding: Float32Array;
  has_crop: boolean;
  photo_name: string | null;
  box_x1: number | null;
  box_y1: number | null;
  box_x2: number | null;
  box_y2: number | null;
  png?: Buffer | null;
}

/** The probe or an embedding as pgvector's text form (float32 values print and parse back exactly). */
function vectorParam(v: Float32Array): string {
  return pgvector.toSql(Array.from(v)) as string;
}

function parseVector(text: string): Float32Array {
  return Float32Array.from(pgvector.fromSql(text) as number[]);
}

/**
 * pgvector's binary form (`vector_send`: int16 dim, int16 unused, dim big-endian float4), which
 * pg hands over as a Buffer: 8 hex digits a value on the wire against 10-12 characters as decimal
 * text, and no float parsing (the search path reads every face of up to max(64, 4k) subjects).
 */
function decodeVectorSend(b: Buffer): Float32Array {
  const dim = b.readInt16BE(0);
  if (b.length !== 4 + 4 * dim) throw new Error(`vector_send: ${b.length} bytes for ${dim} values`);
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = b.readFloatBE(4 + 4 * i);
  return out;
}

/** The URL without its password, and the `schema` query parameter taken out of it. */
function parseUrl(url: string): { connectionString: string; location: string; schema: string | null } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ArcfaceError('BAD_CONFIG', `gallery store: '${url}' is not a postgres:// URL`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw new ArcfaceError('BAD_CONFIG', `gallery store: '${url}' is not a postgres:// URL`);
  const schema = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  const connectionString = u.toString();
  if (u.password) u.password = '***';
  return { connectionString, location: u.toString(), schema };
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
    metadata: r.metadata,
    createdAt: r.created_at.toISOString(),
    faces: r.faces,
  };
}

function toFace(r: FaceRow): Face {
  return {
    id: r.id,
    subjectId: r.subject_id,
    model: r.model,
    embedding: r.embedding,
    imageSha256: r.image_sha256,
    detScore: r.det_score,
    hasCrop: r.has_crop,
    photoName: r.photo_name,
    box: boxFromColumns(r),
    createdAt: r.created_at.toISOString(),
  };
}

export class PostgresGalleryStore implements GalleryStore {
  readonly location: string;
  /** The Postgres schema of the store's tables. */
  readonly schema: string;
  private readonly opts: Required<Omit<PostgresStoreOptions, 'schema'>>;
  private readonly pool: pg.Pool;
  private closed = false;

  /** Use `openPostgresStore`: the constructor does not create the schema. */
  private constructor(location: string, schema: string, pool: pg.Pool, opts: PostgresStoreOptions) {
    this.location = location;
    this.schema = schema;
    this.pool = pool;
    this.opts = {
      annThreshold: opts.annThreshold ?? 10_000,
      hnswM: opts.hnswM ?? 16,
      hnswEfConstruction: opts.hnswEfConstruction ?? 64,
      efSearch: opts.efSearch ?? 128,
      minCandidates: opts.minCandidates ?? 64,
      candidatesPerK: opts.candidatesPerK ?? 4,
      vacuumAfterDelete: opts.vacuumAfterDelete ?? false,
      maxConnections: opts.maxConnections ?? 4,
    };
    for (const key of [
      'annThreshold',
      'hnswM',
      'hnswEfConstruction',
      'efSearch',
      'minCandidates',
      'candidatesPerK',
      'maxConnections',
    ] as const)
      if (!(Number.isInteger(this.opts[key]) && this.opts[key] >= 1))
        throw badInput(`${location}: option ${key} must be a positive integer, got ${this.opts[key]}`);
  }

  /** Connects, creates the extension, schema and tables on first use (migrating older ones), and opens a pool. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresGalleryStore> {
    const { connectionString, location, schema: fromUrl } = parseUrl(url);
    const schema = options.schema ?? fromUrl ?? 'arcface';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
      throw new ArcfaceError(
        'BAD_CONFIG',
        `${location}: schema '${schema}' must be lower-case letters, digits and _ (at most 63)`,
      );
    const boot = new pg.Client({ connectionString });
    let vectorOid: number;
    let extSchema: string;
    try {
      await boot.connect();
    } catch (e) {
      throw new ArcfaceError(
        'BAD_CONFIG',
        `gallery store ${location}: cannot connect (${(e as Error).message})`,
      );
    }
    try {
      await boot.query('BEGIN');
      // One opener at a time creates or migrates (the key: 'arcface' in ASCII).
      await boot.query('SELECT pg_advisory_xact_lock(6310561947067754853)');
      try {
        await boot.query('CREATE EXTENSION IF NOT EXISTS vector');
      } catch (e) {
        throw new ArcfaceError(
          'BAD_CONFIG',
          `gallery store ${location}: the pgvector extension 'vector' is not available or may not be ` +
            `created by this user (${(e as Error).message}); install pgvector 0.8 (tools/ci/postgres.sh ` +
            `install) and run CREATE EXTENSION vector as a superuser`,
        );
      }
      const ext = await boot.query<{ schema: string; oid: number }>(
        `SELECT n.nspname AS schema, t.oid::int AS oid FROM pg_extension e
           JOIN pg_namespace n ON n.oid = e.extnamespace
           JOIN pg_type t ON t.typname = 'vector' AND t.typnamespace = e.extnamespace
          WHERE e.extname = 'vector'`,
      );
      [{ schema: extSchema, oid: vectorOid }] = ext.rows;
      await boot.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await boot.query(`SET LOCAL search_path TO ${schema}, ${quoteIdent(extSchema)}`);
      await boot.query('CREATE TABLE IF NOT EXISTS arcface_schema (version integer NOT NULL)');
      const have = await boot.query<{ version: number }>('SELECT version FROM arcface_schema');
      const version = have.rows[0]?.version ?? 0;
      if (version > POSTGRES_SCHEMA_VERSION)
        throw new ArcfaceError(
          'BAD_CONFIG',
          `${location}: gallery schema '${schema}' is at version ${version}, newer than this arcface ` +
            `understands (${POSTGRES_SCHEMA_VERSION}); upgrade arcface`,
        );
      for (let v = version; v < POSTGRES_SCHEMA_VERSION; v++) await boot.query(MIGRATIONS[v]);
      if (have.rows.length === 0)
        await boot.query('INSERT INTO arcface_schema (version) VALUES ($1)', [POSTGRES_SCHEMA_VERSION]);
      else await boot.query('UPDATE arcface_schema SET version = $1', [POSTGRES_SCHEMA_VERSION]);
      await boot.query('COMMIT');
    } catch (e) {
      await boot.query('ROLLBACK').catch(() => {});
      if (e instanceof ArcfaceError) throw e;
      throw new ArcfaceError('BAD_CONFIG', `gallery store ${location}: ${(e as Error).message}`);
    } finally {
      await boot.end();
    }
    const pool = new pg.Pool({
      connectionString,
      max: options.maxConnections ?? 4,
      // Every connection sees the store's tables, then the extension's types and operators.
      options: `-c search_path=${schema},${extSchema}`,
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
          if (oid === vectorOid) return parseVector;
          if (oid === pg.types.builtins.INT8) return Number;
          return pg.types.getTypeParser(oid, format);
        }) as typeof pg.types.getTypeParser,
      },
    });
    // An idle connection dropped by the server must not crash the process (pg emits 'error').
    pool.on('error', () => {});
    return new PostgresGalleryStore(location, schema, pool, options);
  }

  async createGallery(g: NewGallery): Promise<Gallery> {
    checkName(g.name, 'gallery name');
    checkName(g.model, `gallery '${g.name}': model name`);
    if (!(Number.isInteger(g.dim) && g.dim >= 1 && g.dim <= VECTOR_MAX_DIM))
      throw badInput(
        `gallery '${g.name}': embedding dim must be an integer in 1..${VECTOR_MAX_DIM} (pgvector's limit), got ${g.dim}`,
      );
    const createdAt = g.createdAt === undefined ? null : storedTime(g.createdAt, `gallery '${g.name}'`);
    await this.transaction(async (c) => {
      const r = await c.query<{ id: number }>(
        'INSERT INTO galleries (name, model, dim, created_at) VALUES ($1, $2, $3, COALESCE($4::timestamptz, now())) ' +
          'ON CONFLICT (name) DO NOTHING RETURNING id',
        [g.name, g.model, g.dim, createdAt],
      );
      if (r.rows.length === 0) throw badInput(`gallery '${g.name}' already exists in ${this.location}`);
      await this.createIndex(c, r.rows[0].id, g.dim);
    });
    return (await this.getGallery(g.name))!;
  }

  async getGallery(name: string): Promise<Gallery | null> {
    const r = await this.query<GalleryRow>('SELECT * FROM galleries WHERE name = $1', [name]);
    return r.rows[0] ? this.toGallery(r.rows[0]) : null;
  }

  async listGalleries(): Promise<Gallery[]> {
    const r = await this.query<GalleryRow>('SELECT * FROM galleries ORDER BY name');
    return Promise.all(r.rows.map((g) => this.toGallery(g)));
  }

  async deleteGallery(name: string): Promise<boolean> {
    const deleted = await this.transaction(async (c) => {
      const r = await c.query<{ id: number }>('DELETE FROM galleries WHERE name = $1 RETURNING id', [name]);
      if (r.rows.length === 0) return false;
      await c.query(`DROP INDEX IF EXISTS ${indexName(r.rows[0].id)}`);
      return true;
    });
    if (deleted) await this.afterDelete();
    return deleted;
  }

  async addSubject(gallery: string, s: NewSubject): Promise<Subject> {
    const g = await this.galleryRow(gallery);
    const name = checkName(s.name, `gallery '${gallery}': subject name`);
    const externalId = checkName(s.externalId ?? randomUUID(), `gallery '${gallery}': subject external id`);
    const metadata = metadataJson(s.metadata, `gallery '${gallery}'`);
    const createdAt =
      s.createdAt === undefined
        ? null
        : storedTime(s.createdAt, `gallery '${gallery}': subject '${externalId}'`);
    const kind = s.kind ?? 'person';
    if (kind !== 'person' && kind !== 'cluster')
      throw badInput(
        `gallery '${gallery}': subject kind must be 'person' or 'cluster', got '${String(kind)}'`,
      );
    const r = await this.query<{ id: number }>(
      'INSERT INTO subjects (gallery_id, external_id, name, metadata, created_at, kind) ' +
        'VALUES ($1, $2, $3, $4, COALESCE($5::timestamptz, now()), $6) ' +
        'ON CONFLICT (gallery_id, external_id) DO NOTHING RETURNING id',
      [g.id, externalId, name, metadata, createdAt, kind],
    );
    if (r.rows.length === 0)
      throw badInput(`gallery '${gallery}' already has a subject with external id '${externalId}'`);
    return (await this.getSubject(gallery, r.rows[0].id))!;
  }

  async getSubject(gallery: string, subjectId: number): Promise<Subject | null> {
    const g = await this.galleryRow(gallery);
    const r = await this.query<SubjectRow>(`${SUBJECT_SQL} WHERE s.gallery_id = $1 AND s.id = $2`, [
      g.id,
      subjectId,
    ]);
    return r.rows[0] ? toSubject(r.rows[0]) : null;
  }

  async findSubject(gallery: string, externalId: string): Promise<Subject | null> {
    const g = await this.galleryRow(gallery);
    const r = await this.query<SubjectRow>(`${SUBJECT_SQL} WHERE s.gallery_id = $1 AND s.external_id = $2`, [
      g.id,
      lookupName(externalId),
    ]);
    return r.rows[0] ? toSubject(r.rows[0]) : null;
  }

  async listSubjects(gallery: string, options: { kind?: SubjectKind | 'all' } = {}): Promise<Subject[]> {
    const g = await this.galleryRow(gallery);
    const r = await this.query<SubjectRow>(
      `${SUBJECT_SQL} WHERE s.gallery_id = $1 AND ($2 = 'all' OR s.kind = $2) ORDER BY s.id`,
      [g.id, options.kind ?? 'person'],
    );
    return r.rows.map(toSubject);
  }

  async updateSubject(gallery: string, subjectId: number, u: SubjectUpdate): Promise<Subject> {
    const g = await this.galleryRow(gallery);
    const what = `gallery '${gallery}': subject ${subjectId}`;
    const name = u.name === undefined ? null : checkName(u.name, `${what}: name`);
    const externalId = u.externalId === undefined ? null : checkName(u.externalId, `${what}: external id`);
    const metadata = u.metadata === undefined ? null : metadataJson(u.metadata, what);
    if (u.kind !== undefined && u.kind !== 'person') throw badInput(`${what}: kind may only become 'person'`);
    let r;
    try {
      r = await this.query(
        'UPDATE subjects SET name = coalesce($3, name), external_id = coalesce($4, external_id), ' +
          'metadata = coalesce($5::jsonb, metadata), kind = coalesce($6, kind) WHERE gallery_id = $1 AND id = $2',
        [g.id, subjectId, name, externalId, metadata, u.kind ?? null],
      );
    } catch (e) {
      if ((e as Error).message.includes('subjects_gallery_id_external_id_key'))
        throw badInput(`gallery '${gallery}' already has a subject with external id '${externalId}'`);
      throw e;
    }
    if (!r.rowCount) throw notFound(`gallery '${gallery}' has no subject ${subjectId}`);
    return (await this.getSubject(gallery, subjectId))!;
  }

  async deleteSubject(gallery: string, subjectId: number): Promise<boolean> {
    const g = await this.galleryRow(gallery);
    // Cascades to faces (the count trigger fires) and their crops.
    const r = await this.query('DELETE FROM subjects WHERE gallery_id = $1 AND id = $2', [g.id, subjectId]);
    if (!r.rowCount) return false;
    await this.afterDelete();
    return true;
  }

  async addFaces(gallery: string, subjectId: number, faces: NewFace[]): Promise<number[]> {
    this.live();
    if (!Array.isArray(faces) || faces.length === 0)
      throw badInput(`gallery '${gallery}': addFaces needs faces`);
    return this.transaction(async (c) => {
      const g = await this.lockGallery(c, gallery);
      return this.insertFaces(c, g, gallery, subjectId, checkNewFaces(g, faces));
    });
  }

  async writeClusters(gallery: string, w: ClusterWrite): Promise<ClusterWriteResult> {
    this.live();
    const { join, create } = checkClusterWrite(gallery, w);
    if (join.length + create.length === 0) return { joined: [], created: [], removedClusters: [] };
    return this.transaction(async (c) => {
      const g = await this.lockGallery(c, gallery);
      const joins = join.map((j, i) => ({ ...j, faces: checkNewFaces(g, j.faces, `, join ${i}`) }));
      const creates = create.map((x, i) => ({ ...x, faces: checkNewFaces(g, x.faces, `, cluster ${i}`) }));
      const joined: number[][] = [];
      for (const j of joins) joined.push(await this.insertFaces(c, g, gallery, j.subjectId, j.faces));
      const from = new Set<number>();
      const created: ClusterWriteResult['created'] = [];
      for (const x of creates) {
        const r = await c.query<{ id: number }>(
          'INSERT INTO subjects (gallery_id, external_id, name, kind) ' +
            "VALUES ($1, $2, 'unnamed', 'cluster') RETURNING id",
          [g.id, randomUUID()],
        );
        const subjectId = r.rows[0].id;
        const faceIds = x.faces.length ? await this.insertFaces(c, g, gallery, subjectId, x.faces) : [];
        if (x.move.length) for (const s of await this.moveInto(c, g, gallery, x.move, subjectId)) from.add(s);
        created.push({ subjectId, faceIds });
      }
      for (const x of created) from.delete(x.subjectId);
      return { joined, created, removedClusters: await this.deleteEmptied(c, from) };
    });
  }

  /** The gallery's row, locked until commit: the model and dim checked are the ones faces are stored under. */
  private async lockGallery(c: pg.PoolClient, gallery: string): Promise<GalleryRow> {
    const gr = await c.query<GalleryRow>('SELECT * FROM galleries WHERE name = $1 FOR NO KEY UPDATE', [
      gallery,
    ]);
    if (!gr.rows[0]) throw notFound(`no gallery '${gallery}' in ${this.location}`);
    return gr.rows[0];
  }

  /** Inserts checked faces (and their crops) of one subject, inside the caller's transaction. */
  private async insertFaces(
    c: pg.PoolClient,
    g: GalleryRow,
    gallery: string,
    subjectId: number,
    prepared: CheckedFace[],
  ): Promise<number[]> {
    const s = await c.query('SELECT 1 FROM subjects WHERE gallery_id = $1 AND id = $2 FOR KEY SHARE', [
      g.id,
      subjectId,
    ]);
    if (s.rows.length === 0) throw notFound(`gallery '${gallery}' has no subject ${subjectId}`);
    const ids: number[] = [];
    for (const f of prepared) {
      const r = await c.query<{ id: number }>(
        'INSERT INTO faces (subject_id, gallery_id, model, image_sha256, det_score, embedding, created_at, ' +
          'photo_name, box_x1, box_y1, box_x2, box_y2) ' +
          'VALUES ($1, $2, $3, $4, $5, $6::vector, COALESCE($7::timestamptz, now()), $8, $9, $10, $11, $12) RETURNING id',
        [
          subjectId,
          g.id,
          f.model,
          f.imageSha256 ?? null,
          f.detScore ?? null,
          vectorParam(f.embedding),
          f.createdAt ?? null,
          f.photoName ?? null,
          ...boxColumns(f.box),
        ],
      );
      const id = r.rows[0].id;
      if (f.crop)
        await c.query('INSERT INTO crops (face_id, png) VALUES ($1, $2)', [
          id,
          Buffer.from(f.crop.buffer, f.crop.byteOffset, f.crop.byteLength),
        ]);
      ids.push(id);
    }
    return ids;
  }

  async listFaces(gallery: string, subjectId: number): Promise<Face[]> {
    const g = await this.galleryRow(gallery);
    const r = await this.query<FaceRow>(
      `${FACE_SQL} WHERE f.gallery_id = $1 AND f.subject_id = $2 ORDER BY f.id`,
      [g.id, subjectId],
    );
    return r.rows.map(toFace);
  }

  async getFace(gallery: string, faceId: number): Promise<Face | null> {
    const g = await this.galleryRow(gallery);
    const r = await this.query<FaceRow>(`${FACE_SQL} WHERE f.gallery_id = $1 AND f.id = $2`, [g.id, faceId]);
    return r.rows[0] ? toFace(r.rows[0]) : null;
  }

  async moveFaces(gallery: string, faceIds: number[], toSubjectId: number): Promise<number[]> {
    if (!Array.isArray(faceIds) || faceIds.length === 0)
      throw badInput(`gallery '${gallery}': move needs faces`);
    const g = await this.galleryRow(gallery);
    return this.transaction(async (c) => {
      const from = await this.moveInto(c, g, gallery, faceIds, toSubjectId);
      from.delete(toSubjectId);
      return this.deleteEmptied(c, from);
    });
  }

  /** Moves faces to a subject inside the caller's transaction; returns the subjects they left. */
  private async moveInto(
    c: pg.PoolClient,
    g: GalleryRow,
    gallery: string,
    faceIds: number[],
    toSubjectId: number,
  ): Promise<Set<number>> {
    const to = await c.query('SELECT 1 FROM subjects WHERE gallery_id = $1 AND id = $2 FOR KEY SHARE', [
      g.id,
      toSubjectId,
    ]);
    if (to.rows.length === 0) throw notFound(`gallery '${gallery}' has no subject ${toSubjectId}`);
    const moved = await c.query<{ id: number; from: number }>(
      'UPDATE faces f SET subject_id = $3 FROM faces o WHERE o.id = f.id AND f.gallery_id = $1 ' +
        'AND f.id = ANY($2::bigint[]) RETURNING f.id, o.subject_id AS "from"',
      [g.id, faceIds, toSubjectId],
    );
    const found = new Set(moved.rows.map((r) => r.id));
    const missing = faceIds.find((id) => !found.has(id));
    if (missing !== undefined) throw notFound(`gallery '${gallery}' has no face ${missing}`);
    return new Set(moved.rows.map((r) => r.from));
  }

  /** Deletes those of `subjects` that are clusters left with no face (caller's transaction); their ids. */
  private async deleteEmptied(c: pg.PoolClient, subjects: Set<number>): Promise<number[]> {
    if (subjects.size === 0) return [];
    const gone = await c.query<{ id: number }>(
      "DELETE FROM subjects s WHERE s.id = ANY($1::bigint[]) AND s.kind = 'cluster' " +
        'AND NOT EXISTS (SELECT 1 FROM faces f WHERE f.subject_id = s.id) RETURNING s.id',
      [[...subjects]],
    );
    return gone.rows.map((r) => r.id).sort((a, b) => a - b);
  }

  async addCorrection(gallery: string, c: NewCorrection): Promise<Correction> {
    const g = await this.galleryRow(gallery);
    const what = `gallery '${gallery}': correction`;
    let sha = c.imageSha256 === undefined ? null : checkSha256(c.imageSha256, what);
    let box = c.box === undefined ? null : checkBox(c.box, what);
    const createdAt = c.createdAt === undefined ? null : storedTime(c.createdAt, what);
    if (c.faceId === undefined && sha === null)
      throw badInput(`${what}: give the face (faceId) or its photo (imageSha256)`);
    return this.transaction(async (client) => {
      const s = await client.query('SELECT 1 FROM subjects WHERE gallery_id = $1 AND id = $2 FOR KEY SHARE', [
        g.id,
        c.subjectId,
      ]);
      if (s.rows.length === 0) throw notFound(`gallery '${gallery}' has no subject ${c.subjectId}`);
      if (c.faceId !== undefined) {
        const f = await client.query<CorrectionRow>(
          'SELECT image_sha256, box_x1, box_y1, box_x2, box_y2 FROM faces WHERE gallery_id = $1 AND id = $2 FOR KEY SHARE',
          [g.id, c.faceId],
        );
        if (!f.rows[0]) throw notFound(`gallery '${gallery}' has no face ${c.faceId}`);
        // The face's photo and box, so the correction holds when that photo is identified again.
        sha ??= f.rows[0].image_sha256;
        box ??= boxFromColumns(f.rows[0]);
      }
      const r = await client.query<CorrectionRow>(
        'INSERT INTO corrections (gallery_id, subject_id, face_id, image_sha256, box_x1, box_y1, box_x2, box_y2, created_at) ' +
          'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9::timestamptz, now())) RETURNING *',
        [g.id, c.subjectId, c.faceId ?? null, sha, ...boxColumns(box), createdAt],
      );
      return toCorrection(r.rows[0]);
    });
  }

  async listCorrections(gallery: string, options: { imageSha256?: string } = {}): Promise<Correction[]> {
    const g = await this.galleryRow(gallery);
    const r = await this.query<CorrectionRow>(
      'SELECT * FROM corrections WHERE gallery_id = $1 AND ($2::text IS NULL OR image_sha256 = $2) ORDER BY id',
      [g.id, options.imageSha256 ?? null],
    );
    return r.rows.map(toCorrection);
  }

  async deleteCorrection(gallery: string, correctionId: number): Promise<boolean> {
    const g = await this.galleryRow(gallery);
    const r = await this.query('DELETE FROM corrections WHERE gallery_id = $1 AND id = $2', [
      g.id,
      correctionId,
    ]);
    return (r.rowCount ?? 0) > 0;
  }

  async addLinks(gallery: string, links: FaceLink[]): Promise<void> {
    const g = await this.galleryRow(gallery);
    const rows = normalLinks(links, `gallery '${gallery}'`);
    if (rows.length === 0) return;
    await this.transaction(async (c) => {
      const ids = [...new Set(rows.flatMap((l) => [l.faceA, l.faceB]))];
      const have = await c.query<{ id: number }>(
        'SELECT id FROM faces WHERE gallery_id = $1 AND id = ANY($2::bigint[]) FOR KEY SHARE',
        [g.id, ids],
      );
      const found = new Set(have.rows.map((r) => r.id));
      const missing = ids.find((id) => !found.has(id));
      if (missing !== undefined) throw notFound(`gallery '${gallery}' has no face ${missing}`);
      // The last word on a pair wins (a later split after a merge).
      const last = new Map(rows.map((l) => [`${l.faceA},${l.faceB}`, l]));
      const list = [...last.values()];
      await c.query(
        'INSERT INTO face_links (gallery_id, face_a, face_b, kind) ' +
          'SELECT $1, a, b, k FROM unnest($2::bigint[], $3::bigint[], $4::text[]) AS v (a, b, k) ' +
          'ON CONFLICT (face_a, face_b) DO UPDATE SET kind = excluded.kind',
        [g.id, list.map((l) => l.faceA), list.map((l) => l.faceB), list.map((l) => l.kind)],
      );
    });
  }

  async listLinks(gallery: string): Promise<FaceLink[]> {
    const g = await this.galleryRow(gallery);
    const r = await this.query<FaceLink>(
      'SELECT face_a AS "faceA", face_b AS "faceB", kind FROM face_links WHERE gallery_id = $1 ORDER BY face_a, face_b',
      [g.id],
    );
    return r.rows;
  }

  async getCrop(gallery: string, faceId: number): Promise<Uint8Array | null> {
    const g = await this.galleryRow(gallery);
    const r = await this.query<{ png: Buffer | null }>(
      'SELECT c.png FROM faces f LEFT JOIN crops c ON c.face_id = f.id WHERE f.gallery_id = $1 AND f.id = $2',
      [g.id, faceId],
    );
    if (!r.rows[0]) throw notFound(`gallery '${gallery}' has no face ${faceId}`);
    const png = r.rows[0].png;
    return png ? new Uint8Array(png) : null;
  }

  async deleteFace(gallery: string, faceId: number): Promise<boolean> {
    const g = await this.galleryRow(gallery);
    const r = await this.query('DELETE FROM faces WHERE gallery_id = $1 AND id = $2', [g.id, faceId]);
    if (!r.rowCount) return false;
    await this.afterDelete();
    return true;
  }

  async nearestFaces(gallery: string, probe: Probe, k: number): Promise<FaceNeighbour[]> {
    if (!(Number.isInteger(k) && k >= 1))
      throw badInput(`nearest faces: k must be a positive integer, got ${k}`);
    const g = await this.galleryRow(gallery);
    checkModel({ name: g.name, model: g.model } as Gallery, probe.model, 'nearest faces');
    const q = unitEmbedding(probe.embedding, g.dim, `nearest faces in gallery '${gallery}'`);
    if (g.face_count === 0) return [];
    const qv = vectorParam(q);
    // Candidates from the HNSW index when the gallery has one, else pgvector's exact order; then
    // exact float64 cosines decide, as search() scores.
    const c = Math.max(this.opts.minCandidates, 2 * k);
    const sql = (from: string) =>
      `SELECT id, vector_send(embedding) AS v FROM faces WHERE gallery_id = $1 ${from} LIMIT $3`;
    const rows = this.usesIndex(g)
      ? await this.transaction(async (client) => {
          await this.annSettings(client, Math.min(c, EF_MAX));
          return client.query<{ id: number; v: Buffer }>(
            sql(`ORDER BY embedding::halfvec(${g.dim}) <=> $2::halfvec(${g.dim})`),
            [g.id, qv, Math.min(c, EF_MAX)],
          );
        })
      : await this.query<{ id: number; v: Buffer }>(sql('ORDER BY embedding <#> $2::vector'), [g.id, qv, c]);
    return rows.rows
      .map((r) => ({ faceId: Number(r.id), score: dotRow(q, decodeVectorSend(r.v), 0) }))
      .sort((a, b) => b.score - a.score || a.faceId - b.faceId)
      .slice(0, k);
  }

  async search(gallery: string, probe: Probe, options: SearchOptions = {}): Promise<SubjectMatch[]> {
    const k = options.k ?? 5;
    const aggregate = options.aggregate ?? 'max';
    if (!(Number.isInteger(k) && k >= 1)) throw badInput(`search: k must be a positive integer, got ${k}`);
    if (aggregate !== 'max' && aggregate !== 'mean')
      throw badInput(`search: aggregate must be 'max' or 'mean', got '${aggregate}'`);
    const g = await this.galleryRow(gallery);
    // checkModel reads the name and model only: no counting on the search path.
    checkModel({ name: g.name, model: g.model } as Gallery, probe.model, 'search');
    const q = unitEmbedding(probe.embedding, g.dim, `search in gallery '${gallery}'`);
    if (g.face_count === 0) return [];
    const c = Math.max(this.opts.minCandidates, this.opts.candidatesPerK * k);
    const qv = vectorParam(q);
    // Subjects never answered: the corrected ones, and unnamed clusters unless asked.
    const skip = new Set(options.exclude ?? []);
    if (!options.clusters)
      for (const r of (
        await this.query<{ id: number }>(
          "SELECT id FROM subjects WHERE gallery_id = $1 AND kind = 'cluster'",
          [g.id],
        )
      ).rows)
        skip.add(r.id);
    const skipped = [...skip];
    let subjects: number[] | null = null;
    if (this.usesIndex(g)) {
      subjects = (await this.annCandidates(g, qv, Math.min(c, EF_MAX))).filter((s) => !skip.has(s));
      // Too few distinct subjects among the graph's candidates (many faces per subject, or k
      // beyond what ef allows): the exact scan decides.
      if (subjects.length < Math.min(k, g.face_count)) subjects = null;
    }
    if (!subjects) {
      // Candidate subjects by their max or mean inner product (unit vectors: the cosine) in
      // pgvector's float32 arithmetic; a margin of c >= 4k subjects absorbs its rounding.
      // <#> is the negative inner product: the best face has the smallest.
      const agg = aggregate === 'max' ? 'min' : 'avg';
      const r = await this.query<{ subject_id: number }>(
        `SELECT subject_id FROM faces WHERE gallery_id = $1 AND subject_id <> ALL($4::bigint[]) ` +
          `GROUP BY subject_id ORDER BY ${agg}(embedding <#> $2::vector) ASC, subject_id LIMIT $3`,
        [g.id, qv, c, skipped],
      );
      subjects = r.rows.map((x) => x.subject_id);
    }
    // Exact float64 cosines over every face of each candidate subject, as search_index.ts scores.
    const faces = await this.query<{ id: number; subject_id: number; v: Buffer }>(
      'SELECT id, subject_id, vector_send(embedding) AS v FROM faces ' +
        'WHERE gallery_id = $1 AND subject_id = ANY($2::bigint[])',
      [g.id, subjects],
    );
    const ranker = new SubjectRanker();
    for (const f of faces.rows) ranker.add(f.subject_id, f.id, dotRow(q, decodeVectorSend(f.v), 0));
    const ranked = ranker.top(k, aggregate);
    if (ranked.length === 0) return [];
    const names = new Map(
      (
        await this.query<{ id: number; external_id: string; name: string }>(
          'SELECT id, external_id, name FROM subjects WHERE id = ANY($1::bigint[])',
          [ranked.map((r) => r.subjectId)],
        )
      ).rows.map((r) => [r.id, r]),
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

  /** Pages by id (not one long-running cursor), so the caller may write to the store between faces. */
  async *faces(gallery: string, options: { crops?: boolean } = {}): AsyncIterable<StoredFace> {
    const g = await this.galleryRow(gallery);
    const sql =
      `${options.crops ? FACE_SQL.replace('SELECT', 'SELECT c.png AS png,') : FACE_SQL} ` +
      'WHERE f.gallery_id = $1 AND f.id > $2 ORDER BY f.id LIMIT 500';
    let last = 0;
    for (;;) {
      const rows = (await this.query<FaceRow>(sql, [g.id, last])).rows;
      if (rows.length === 0) return;
      for (const r of rows) {
        last = r.id;
        yield { ...toFace(r), crop: r.png ? new Uint8Array(r.png) : null };
      }
    }
  }

  async replaceEmbeddings(gallery: string, model: string, rows: ReplacementRow[]): Promise<void> {
    checkName(model, `reindex of gallery '${gallery}': model name`);
    await this.transaction(async (c) => {
      const gr = await c.query<GalleryRow>('SELECT * FROM galleries WHERE name = $1 FOR UPDATE', [gallery]);
      if (!gr.rows[0]) throw notFound(`no gallery '${gallery}' in ${this.location}`);
      const g = gr.rows[0];
      const dim = rows[0]?.embedding.length ?? g.dim;
      if (dim > VECTOR_MAX_DIM)
        throw badInput(
          `reindex of gallery '${gallery}': ${dim} dimensions, pgvector holds at most ${VECTOR_MAX_DIM}`,
        );
      const prepared = rows.map((r) => ({
        faceId: r.faceId,
        embedding: unitEmbedding(r.embedding, dim, `reindex of gallery '${gallery}', face ${r.faceId}`),
      }));
      const given = new Set(prepared.map((r) => r.faceId));
      if (given.size !== prepared.length)
        throw badInput(`reindex of gallery '${gallery}': a face id is repeated`);
      const ids = (await c.query<{ id: number }>('SELECT id FROM faces WHERE gallery_id = $1', [g.id])).rows;
      const missing = ids.filter((r) => !given.has(r.id));
      if (missing.length || ids.length !== prepared.length)
        throw badInput(
          `reindex of gallery '${gallery}': ${prepared.length} new embeddings for ${ids.length} faces ` +
            `(every face needs one${missing.length ? `; face ${missing[0].id} has none` : ''})`,
        );
      // The old graph indexes the old dimension: dropped, and built again on the new vectors.
      await c.query(`DROP INDEX IF EXISTS ${indexName(g.id)}`);
      await c.query(
        'UPDATE faces f SET embedding = v.e::vector, model = $1 ' +
          'FROM unnest($2::bigint[], $3::text[]) AS v (id, e) WHERE f.gallery_id = $4 AND f.id = v.id',
        [model, prepared.map((r) => r.faceId), prepared.map((r) => vectorParam(r.embedding)), g.id],
      );
      await c.query('UPDATE galleries SET model = $1, dim = $2 WHERE id = $3', [model, dim, g.id]);
      await this.createIndex(c, g.id, dim);
    });
    // The old model's vectors are dead tuples now, like deleted ones.
    await this.afterDelete();
  }

  /**
   * VACUUM of the store's tables: removes dead tuples (deleted faces and crops, replaced embeddings)
   * from the heap, TOAST and index pages. `full` rewrites the tables into new files (an ACCESS
   * EXCLUSIVE lock for its duration), which leaves no deleted row in the live files.
   */
  async vacuum(options: { full?: boolean } = {}): Promise<void> {
    this.live();
    await this.pool.query(
      `VACUUM ${options.full ? '(FULL) ' : ''}faces, crops, subjects, galleries, corrections, face_links`,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /**
   * Drops a gallery's HNSW graph (searches scan exactly until `buildIndex`). For bulk loads:
   * pgvector inserts into a graph one search at a time, while a build from the table is several
   * times faster and gives a graph at least as good.
   */
  async dropIndex(gallery: string): Promise<void> {
    const g = await this.galleryRow(gallery);
    await this.query(`DROP INDEX IF EXISTS ${indexName(g.id)}`);
  }

  /**
   * Builds a gallery's HNSW graph again from its rows (after `dropIndex` and a bulk load, or to
   * apply new `hnswM` / `hnswEfConstruction`). `maintenanceWorkMem` (e.g. '4GB') lets the build keep
   * the graph in memory, which pgvector needs to build fast (it warns when the graph outgrows it).
   */
  async buildIndex(gallery: string, options: { maintenanceWorkMem?: string } = {}): Promise<void> {
    const mem = options.maintenanceWorkMem;
    if (mem !== undefined && !/^\d+\s*(kB|MB|GB)$/.test(mem))
      throw badInput(`buildIndex: maintenanceWorkMem must look like '512MB' or '4GB', got '${mem}'`);
    await this.transaction(async (c) => {
      const r = await c.query<GalleryRow>('SELECT * FROM galleries WHERE name = $1 FOR UPDATE', [gallery]);
      if (!r.rows[0]) throw notFound(`no gallery '${gallery}' in ${this.location}`);
      if (mem) await c.query(`SET LOCAL maintenance_work_mem = '${mem}'`);
      await c.query(`DROP INDEX IF EXISTS ${indexName(r.rows[0].id)}`);
      await this.createIndex(c, r.rows[0].id, r.rows[0].dim);
    });
  }

  /** The HNSW candidates' subjects, in the graph's order, within a transaction that raises ef_search. */
  private async annCandidates(g: GalleryRow, qv: string, c: number): Promise<number[]> {
    return this.transaction(async (client) => {
      await this.annSettings(client, c);
      const r = await client.query<{ subject_id: number }>(annSql(g.id, g.dim), [qv, c]);
      return [...new Set(r.rows.map((x) => x.subject_id))];
    });
  }

  /** PostgreSQL's plan for a gallery's ANN candidate query (to check that its HNSW index serves it). */
  async explainSearch(gallery: string, probe: Float32Array): Promise<string> {
    const g = await this.galleryRow(gallery);
    const qv = vectorParam(unitEmbedding(probe, g.dim, `explain in gallery '${gallery}'`));
    return this.transaction(async (client) => {
      await this.annSettings(client, this.opts.minCandidates);
      const r = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${annSql(g.id, g.dim)}`, [
        qv,
        this.opts.minCandidates,
      ]);
      return r.rows.map((x) => x['QUERY PLAN']).join('\n');
    });
  }

  /**
   * Per transaction: ef_search at least the candidates asked for, and sorts priced out, so the
   * planner takes the HNSW index (the only ordered path) even with stale statistics that make a
   * scan of the gallery and a sort look cheap (a fresh, never-analysed table does).
   */
  private async annSettings(client: pg.PoolClient, c: number): Promise<void> {
    await client.query(`SET LOCAL hnsw.ef_search = ${Math.min(EF_MAX, Math.max(this.opts.efSearch, c))}`);
    await client.query('SET LOCAL enable_sort = off');
  }

  /** True when the gallery is large enough and has an HNSW index (its dim fits halfvec HNSW). */
  private usesIndex(g: GalleryRow): boolean {
    return g.dim <= HNSW_MAX_DIM && g.face_count >= this.opts.annThreshold;
  }

  private async createIndex(c: pg.PoolClient, galleryId: number, dim: number): Promise<void> {
    if (dim > HNSW_MAX_DIM) return;
    await c.query(
      `CREATE INDEX ${indexName(galleryId)} ON faces USING hnsw ((embedding::halfvec(${dim})) halfvec_cosine_ops) ` +
        `WITH (m = ${this.opts.hnswM}, ef_construction = ${this.opts.hnswEfConstruction}) WHERE gallery_id = ${galleryId}`,
    );
  }

  private async afterDelete(): Promise<void> {
    if (this.opts.vacuumAfterDelete) await this.vacuum();
  }

  private live(): void {
    if (this.closed) throw badInput(`${this.location}: the store is closed`);
  }

  private async query<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    this.live();
    try {
      return await this.pool.query<R>(sql, params);
    } catch (e) {
      throw this.wrap(e);
    }
  }

  private async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    this.live();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw this.wrap(e);
    }
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw this.wrap(e);
    } finally {
      client.release();
    }
  }

  /** ArcfaceErrors pass; a database error becomes BACKEND naming the store (no password). */
  private wrap(e: unknown): Error {
    if (e instanceof ArcfaceError) return e;
    const err = e as Error & { code?: string };
    if (err.code === '23503') return notFound(`${this.location}: ${err.message} (deleted meanwhile?)`);
    return new ArcfaceError('BACKEND', `gallery store ${this.location}: ${err.message}`);
  }

  private async galleryRow(name: string): Promise<GalleryRow> {
    const r = await this.query<GalleryRow>('SELECT * FROM galleries WHERE name = $1', [name]);
    if (!r.rows[0]) throw notFound(`no gallery '${name}' in ${this.location}`);
    return r.rows[0];
  }

  private async toGallery(r: GalleryRow): Promise<Gallery> {
    const s = await this.query<{ n: number; c: number; cf: number }>(
      "SELECT count(*) FILTER (WHERE kind = 'person') AS n, count(*) FILTER (WHERE kind = 'cluster') AS c, " +
        "(SELECT count(*) FROM faces f JOIN subjects t ON t.id = f.subject_id WHERE t.gallery_id = $1 AND t.kind = 'cluster') AS cf " +
        'FROM subjects WHERE gallery_id = $1',
      [r.id],
    );
    return {
      name: r.name,
      model: r.model,
      dim: r.dim,
      createdAt: r.created_at.toISOString(),
      subjects: s.rows[0].n,
      clusters: s.rows[0].c,
      faces: r.face_count - s.rows[0].cf,
      clusterFaces: s.rows[0].cf,
    };
  }
}

function indexName(galleryId: number): string {
  return `faces_hnsw_${galleryId}`;
}

/** The ANN query: the same expression and predicate as the gallery's partial index, the id inlined. */
function annSql(galleryId: number, dim: number): string {
  return (
    `SELECT subject_id FROM faces WHERE gallery_id = ${galleryId} ` +
    `ORDER BY embedding::halfvec(${dim}) <=> $1::halfvec(${dim}) LIMIT $2`
  );
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Opens (creating on first use) the store at a `postgres://` or `postgresql://` URL. */
export function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresGalleryStore> {
  return PostgresGalleryStore.open(url, options);
}
