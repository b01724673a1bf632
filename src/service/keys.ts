/**
 * API keys for `arcface serve`. A key is a 32-byte random token shown once at creation; only its
 * sha256 is kept, and a presented token is hashed and compared with timingSafeEqual against every
 * stored hash (no early exit that leaks which key nearly matched).
 *
 * Kinds: 'recognise' may detect, embed, verify, identify, list and get; 'admin' may also create,
 * enroll and delete.
 *
 * Keys live in `keys.json` beside the gallery data (mode 0600, written to a temporary file and
 * renamed, so a reader sees the old or the new file, never half of one), not in the gallery
 * database: they are the server's configuration, the same whichever store (SQLite or PostgreSQL)
 * holds the galleries, and a PostgreSQL gallery database then never holds the server's secrets.
 * The server re-reads the file when it changes, so `arcface keys revoke` takes effect at once; a file
 * that cannot be read leaves no key usable (the server then refuses every request: server/auth.ts).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ArcfaceError, badInput } from '../errors.js';
import { DEFAULT_DATA_DIR, isPostgresUrl } from '../gallery/index.js';

export type KeyKind = 'recognise' | 'admin';
export const KEY_KINDS: readonly KeyKind[] = ['recognise', 'admin'];

export interface ApiKey {
  /** Public id, for listing and revoking. */
  id: string;
  name: string;
  kind: KeyKind;
  /** sha256 (hex) of the token. */
  hash: string;
  createdAt: string;
}

/** Where keys live for a store location: the data folder's keys.json (./arcface-data for PostgreSQL). */
export function keysFileFor(storeLocation: string = DEFAULT_DATA_DIR): string {
  return join(isPostgresUrl(storeLocation) ? DEFAULT_DATA_DIR : storeLocation, 'keys.json');
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export class KeyStore {
  private keys: ApiKey[] = [];
  private stamp = '';

  constructor(readonly file: string) {
    this.reload();
  }

  /**
   * Re-reads the file when its size, modification time or inode changed. A file that cannot be read
   * or parsed throws BAD_CONFIG (its path in the message, for the operator) and leaves no key
   * usable: the next call reads it again rather than trusting what the file said before.
   */
  private reload(): void {
    let st;
    try {
      st = statSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.fail((err as Error).message);
      this.keys = [];
      this.stamp = '';
      return;
    }
    const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (stamp === this.stamp) return;
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      this.fail(`not a readable keys file (${(err as Error).message})`);
    }
    const list = json !== null && typeof json === 'object' ? (json as { keys?: unknown }).keys : undefined;
    if (!Array.isArray(list)) this.fail('expected {"keys": [...]}');
    for (const k of list as ApiKey[])
      if (
        typeof k?.id !== 'string' ||
        !KEY_KINDS.includes(k.kind) ||
        typeof k.hash !== 'string' ||
        !/^[0-9a-f]{64}$/.test(k.hash)
      )
        this.fail('a key entry is malformed');
    this.keys = list as ApiKey[];
    this.stamp = stamp;
  }

  private fail(why: string): never {
    this.keys = [];
    this.stamp = '';
    throw new ArcfaceError('BAD_CONFIG', `${this.file}: ${why}`);
  }

  private save(): void {
    // A folder made here is the data folder: private (0700) as the store makes it (gallery/private_files.ts).
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ keys: this.keys }, null, 2) + '\n', { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    this.stamp = '';
    this.reload();
  }

  /** Keys without their hashes. */
  list(): Omit<ApiKey, 'hash'>[] {
    this.reload();
    return this.keys.map(({ hash: _h, ...k }) => k);
  }

  get size(): number {
    this.reload();
    return this.keys.length;
  }

  /** A new key: the token is returned here and never again. */
  create(kind: KeyKind, name = ''): { key: Omit<ApiKey, 'hash'>; token: string } {
    if (!KEY_KINDS.includes(kind)) throw badInput(`key kind must be recognise or admin, got '${kind}'`);
    this.reload();
    const token = `afk_${randomBytes(32).toString('base64url')}`;
    const key: ApiKey = {
      id: randomBytes(6).toString('hex'),
      name,
      kind,
      hash: sha256(token).toString('hex'),
      createdAt: new Date().toISOString(),
    };
    this.keys = [...this.keys, key];
    this.save();
    const { hash: _h, ...shown } = key;
    return { key: shown, token };
  }

  /** Removes a key; false when there was none with that id. */
  revoke(id: string): boolean {
    this.reload();
    const kept = this.keys.filter((k) => k.id !== id);
    if (kept.length === this.keys.length) return false;
    this.keys = kept;
    this.save();
    return true;
  }

  /** The key a token belongs to, or null. Every stored hash is compared, in constant time each. */
  check(token: string): Omit<ApiKey, 'hash'> | null {
    this.reload();
    const h = sha256(token);
    let found: ApiKey | null = null;
    for (const k of this.keys) if (timingSafeEqual(h, Buffer.from(k.hash, 'hex')) && !found) found = k;
    if (!found) return null;
    const { hash: _h, ...shown } = found;
    return shown;
  }
}
