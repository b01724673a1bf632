/**
 * One entry point for every store: a `postgres://` or `postgresql://` URL opens the PostgreSQL
 * store (postgres.ts), anything else is the embedded store's data folder (sqlite.ts). The CLI's
 * `--store` and `arcface serve` take either.
 */
import { openPostgresStore, type PostgresStoreOptions } from './postgres.js';
import { DEFAULT_DATA_DIR, openSqliteStore, type SqliteStoreOptions } from './sqlite.js';
import type { GalleryStore } from './types.js';

export interface OpenStoreOptions {
  sqlite?: Omit<SqliteStoreOptions, 'dir'>;
  postgres?: PostgresStoreOptions;
}

/** True for the URLs the PostgreSQL store takes. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** Opens the store at `location` (default: the embedded store in `./arcface-data`). */
export async function openStore(
  location: string = DEFAULT_DATA_DIR,
  options: OpenStoreOptions = {},
): Promise<GalleryStore> {
  if (isPostgresUrl(location)) return openPostgresStore(location, options.postgres);
  return openSqliteStore({ ...options.sqlite, dir: location });
}
