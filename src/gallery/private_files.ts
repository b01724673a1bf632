/**
 * The embedded store's files hold biometric data (embeddings, face crops): the data folder is 0700
 * and every file the store writes 0600, whatever the process umask (a mode given at creation is
 * masked by it; an explicit chmod is not). SQLite creates `-wal` and `-shm` with the database file's
 * own mode, so creating that file 0600 before SQLite opens it covers them.
 *
 * A folder and files left by an older arcface (0755 / 0644 under the usual umask 022) are tightened
 * when the store opens, with one process warning naming what changed. The folder is tightened only
 * when this user owns it and it is not a shared sticky folder such as /tmp (`--store /tmp` must not
 * lock other users out of it); its files are 0600 in any case.
 */
import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const FOLDER_MODE = 0o700;
const FILE_MODE = 0o600;

/** The store's own files in its folder: the database with its WAL/SHM/journal, saved search graphs. */
function isStoreFile(name: string, dbFile: string): boolean {
  return (
    [dbFile, `${dbFile}-wal`, `${dbFile}-shm`, `${dbFile}-journal`].includes(name) ||
    /^gallery-\d+\.usearch(\.json)?(\.tmp)?$/.test(name)
  );
}

/**
 * Creates the data folder (0700) and an empty database file (0600) when missing, and tightens the
 * modes of an existing folder and of the store's files in it. Returns what it tightened.
 */
export function preparePrivateFolder(dir: string, dbFile: string): string[] {
  const tightened: string[] = [];
  const created = mkdirSync(dir, { recursive: true, mode: FOLDER_MODE }) !== undefined;
  // Windows has no POSIX modes (its ACLs decide; chmod only toggles read-only).
  if (process.platform === 'win32') return tightened;
  const st = statSync(dir);
  const mine = typeof process.getuid !== 'function' || st.uid === process.getuid();
  if ((st.mode & 0o777) !== FOLDER_MODE && (created || (mine && (st.mode & 0o1000) === 0))) {
    chmodSync(dir, FOLDER_MODE);
    if (!created) tightened.push(`${dir} (folder, was 0${(st.mode & 0o777).toString(8)})`);
  }
  for (const name of readdirSync(dir)) {
    if (!isStoreFile(name, dbFile)) continue;
    const path = join(dir, name);
    const m = statSync(path).mode & 0o777;
    if (m === FILE_MODE || !tryChmod(path)) continue;
    tightened.push(`${name} (was 0${m.toString(8)})`);
  }
  privateFile(join(dir, dbFile));
  if (tightened.length)
    process.emitWarning(
      `arcface: made the gallery data private to its owner (folder 0700, files 0600): ${tightened.join(', ')}`,
      { code: 'ARCFACE_PRIVATE_DATA' },
    );
  return tightened;
}

/**
 * Creates `path` empty with mode 0600 when missing, or sets an existing file's mode to 0600 (left
 * as it is when this user does not own it: a store shared through group permissions still opens).
 */
export function privateFile(path: string): void {
  const fd = openSync(path, 'a', FILE_MODE);
  try {
    fchmodSync(fd, FILE_MODE);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
  } finally {
    closeSync(fd);
  }
}

function tryChmod(path: string): boolean {
  try {
    chmodSync(path, FILE_MODE);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EPERM') return false;
    throw e;
  }
}
