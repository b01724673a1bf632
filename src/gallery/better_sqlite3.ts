/**
 * better-sqlite3 12.x without @types/better-sqlite3 (not installed): the few calls the store makes,
 * typed here, and the module loaded through require (it is CommonJS with a native binding).
 */
import { createRequire } from 'node:module';

export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

export interface Statement {
  run(...params: unknown[]): RunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface Database {
  readonly open: boolean;
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): void;
}

type DatabaseConstructor = new (file: string, options?: { timeout?: number }) => Database;

const require = createRequire(import.meta.url);

/** Opens (creating) a database file. */
export function openDatabase(file: string, options?: { timeout?: number }): Database {
  const Ctor = require('better-sqlite3') as DatabaseConstructor;
  return new Ctor(file, options);
}
