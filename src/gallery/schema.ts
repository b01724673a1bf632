/**
 * The embedded store's schema and its migrations. The schema version is SQLite's `user_version`
 * (in the database header, no table needed); `migrate` applies each missing step in its own
 * transaction, so a database opened by an older arcface is brought forward once and a newer one is
 * refused rather than misread.
 */
import { ArcfaceError } from '../errors.js';
import type { Database } from './better_sqlite3.js';

/** Step i takes a database from version i to i + 1. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE galleries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    dim INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    -- bumped by every write to the gallery's faces: the search index's staleness check
    change_id INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE subjects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gallery_id INTEGER NOT NULL REFERENCES galleries(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT 'null',
    created_at TEXT NOT NULL,
    UNIQUE (gallery_id, external_id)
  );
  -- the embedding last, after the small columns; crops in their own table so a scan of the
  -- embeddings (the index build at open) never reads the PNG overflow pages
  CREATE TABLE faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    gallery_id INTEGER NOT NULL REFERENCES galleries(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    image_sha256 TEXT,
    det_score REAL,
    created_at TEXT NOT NULL,
    embedding BLOB NOT NULL
  );
  CREATE INDEX faces_gallery ON faces (gallery_id, id);
  CREATE INDEX faces_subject ON faces (subject_id, id);
  CREATE INDEX subjects_gallery ON subjects (gallery_id, id);
  CREATE TABLE crops (
    face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    png BLOB NOT NULL
  );
  `,
  // 2: clusters (unnamed subjects), where a face came from, corrections and face links (issue 13).
  `
  ALTER TABLE subjects ADD COLUMN kind TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'cluster'));
  ALTER TABLE faces ADD COLUMN photo_name TEXT;
  ALTER TABLE faces ADD COLUMN box_x1 REAL;
  ALTER TABLE faces ADD COLUMN box_y1 REAL;
  ALTER TABLE faces ADD COLUMN box_x2 REAL;
  ALTER TABLE faces ADD COLUMN box_y2 REAL;
  CREATE INDEX faces_sha ON faces (gallery_id, image_sha256);
  -- "face F is not subject S": by stored face and/or by photo sha256 + box (see types.ts Correction)
  CREATE TABLE corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gallery_id INTEGER NOT NULL REFERENCES galleries(id) ON DELETE CASCADE,
    subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    face_id INTEGER REFERENCES faces(id) ON DELETE SET NULL,
    image_sha256 TEXT,
    box_x1 REAL, box_y1 REAL, box_x2 REAL, box_y2 REAL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX corrections_sha ON corrections (gallery_id, image_sha256);
  CREATE INDEX corrections_face ON corrections (face_id);
  CREATE INDEX corrections_subject ON corrections (subject_id);
  -- must-link ('same') and cannot-link ('apart') pairs a person decided, for re-clustering
  CREATE TABLE face_links (
    gallery_id INTEGER NOT NULL REFERENCES galleries(id) ON DELETE CASCADE,
    face_a INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    face_b INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('same', 'apart')),
    PRIMARY KEY (face_a, face_b),
    CHECK (face_a < face_b)
  );
  CREATE INDEX face_links_gallery ON face_links (gallery_id);
  CREATE INDEX face_links_b ON face_links (face_b);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to SCHEMA_VERSION; the path is for the error of a database newer than this code. */
export function migrate(db: Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION)
    throw new ArcfaceError(
      'BAD_CONFIG',
      `${path}: gallery database schema version ${version} is newer than this arcface understands ` +
        `(${SCHEMA_VERSION}); upgrade arcface`,
    );
  for (let v = version; v < SCHEMA_VERSION; v++)
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
}
