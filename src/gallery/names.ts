/**
 * Checks shared by the stores: names and external ids, and the NOT_FOUND error they raise. Every
 * write of a name goes through checkName (the HTTP API, the CLI, import), so the rule lives here, at
 * the bottom: a name is shown in lists, logs and terminals, and must read as what it is.
 */
import { ArcfaceError, badInput } from '../errors.js';

/** Longest gallery / subject name or external id a store accepts, in code points. */
export const MAX_NAME = 200;

/** Bidirectional controls (LRE..RLO, LRI..PDI, LRM, RLM, ALM): they make "gpj.exe" read as "exe.jpg". */
const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/u;
/** C0, DEL, C1 controls and the line/paragraph separators: they break lines, logs and terminals. */
const CONTROL = /[\p{Cc}\u2028\u2029]/u;
/** Half of a surrogate pair: not text, and a store would silently keep U+FFFD instead. */
const LONE_SURROGATE = /\p{Cs}/u;

const hex = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * The name as stored: NFC (one spelling per name, so "é" typed either way is one external id), at
 * most MAX_NAME code points (an emoji counts one), without bidi controls, control characters or lone
 * surrogates. Throws BAD_INPUT saying which rule failed.
 */
export function checkName(value: unknown, what: string): string {
  if (typeof value !== 'string') throw badInput(`${what} must be a string, got ${typeof value}`);
  const bad = (why: string) => badInput(`${what} ${why}`);
  const lone = LONE_SURROGATE.exec(value);
  if (lone) throw bad(`has a lone surrogate (${hex(lone[0])}): not valid Unicode text`);
  const name = value.normalize('NFC');
  if (name.trim() === '') throw bad('must not be empty');
  const length = [...name].length;
  if (length > MAX_NAME) throw bad(`is ${length} characters long: at most ${MAX_NAME} characters`);
  const bidi = BIDI.exec(name);
  if (bidi) throw bad(`has a bidi control character (${hex(bidi[0])}): it can make a name read as another`);
  const control = CONTROL.exec(name);
  if (control) throw bad(`has a control character (${hex(control[0])})`);
  return name;
}

/** The stored form of an external id to look up (NFC, as checkName stores it); never throws. */
export function lookupName(value: string): string {
  return value.normalize('NFC');
}

export function notFound(message: string): ArcfaceError {
  return new ArcfaceError('NOT_FOUND', message);
}

const CANONICAL_ID = /^[1-9][0-9]{0,15}$/;

/**
 * A subject or face id written as text (a URL, a command line): only plain decimal digits, 1 to
 * 2^53 - 1. "0x10", "1e1", "9.0", "01", "+1" are null, never read as some other id.
 */
export function parseId(text: string): number | null {
  const n = CANONICAL_ID.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(n) ? n : null;
}
