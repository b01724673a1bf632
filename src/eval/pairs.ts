/**
 * Verification pair lists: LFW's pairs.txt family and CSV files.
 *
 * LFW (http://vis-www.cs.umass.edu/lfw/README.txt): the first line is `10 300` (folds x pairs of
 * each class per fold; each fold is 300 same-person lines then 300 different-person lines) or a
 * single count N (pairsDevTrain.txt / pairsDevTest.txt: N same lines then N different lines).
 * A same line is `name n1 n2`, a different line `name1 n1 name2 n2`; image n of a person is
 * ROOT/name/name_%04d.jpg.
 *
 * CSV: `img1,img2,same`, header optional; same is 1/0, true/false, yes/no, same/different
 * (any case). With a header, columns are found by name, which also reads deepface's
 * `master.csv` (file_x,file_y,Decision) and `face-recognition-pivot.csv` (file_x,file_y,decision,...).
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { ArcfaceError, badInput } from '../errors.js';

export interface Pair {
  a: string;
  b: string;
  same: boolean;
}

export interface PairList {
  pairs: Pair[];
  /** Number of folds an LFW header declares (`10 300` -> 10). */
  folds?: number;
  format: 'lfw' | 'csv';
}

/** Split one CSV line: commas, double-quoted fields with "" escapes, surrounding spaces trimmed. */
export function csvFields(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (ch === ',') {
      out.push(field.trim());
      field = '';
    } else field += ch;
  }
  out.push(field.trim());
  return out;
}

/** Non-empty lines with their 1-based line numbers (a BOM and CR line ends are dropped). */
export function textLines(text: string): { no: number; text: string }[] {
  return text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .map((t, i) => ({ no: i + 1, text: t.replace(/\r$/, '') }))
    .filter((l) => l.text.trim() !== '');
}

export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ArcfaceError('NOT_FOUND', `${file}: no such file`);
    throw badInput(`${file}: cannot read (${(err as Error).message})`);
  }
}

export function under(root: string, p: string): string {
  return isAbsolute(p) ? p : join(root, p);
}

export async function readPairs(file: string, root: string): Promise<PairList> {
  const lines = textLines(await readText(file));
  if (lines.length === 0) throw badInput(`${file}: no pairs (the file is empty)`);
  const first = lines[0].text.trim();
  if (/^\d+(\s+\d+)?$/.test(first)) return parseLfw(file, root, lines);
  return parseCsv(file, root, lines);
}

const INT = /^\d+$/;

function parseLfw(file: string, root: string, lines: { no: number; text: string }[]): PairList {
  const head = lines[0].text.trim().split(/\s+/).map(Number);
  const [folds, perClass] = head.length === 2 ? head : [undefined, head[0]];
  const expected = 2 * perClass * (folds ?? 1);
  const body = lines.slice(1);
  if (body.length !== expected)
    throw badInput(
      `${file}: header '${lines[0].text.trim()}' promises ${expected} pair lines ` +
        `(${folds ?? 1} x ${perClass} same + ${perClass} different) but the file has ${body.length}`,
    );
  const image = (name: string, n: string) => join(root, name, `${name}_${n.padStart(4, '0')}.jpg`);
  const pairs = body.map(({ no, text }): Pair => {
    const f = text.trim().split(/\s+/);
    const bad = (why: string) => badInput(`${file}:${no}: ${why} in '${text.trim()}'`);
    if (f.length === 3) {
      if (!INT.test(f[1]) || !INT.test(f[2])) throw bad('image numbers must be integers');
      return { a: image(f[0], f[1]), b: image(f[0], f[2]), same: true };
    }
    if (f.length === 4) {
      if (!INT.test(f[1]) || !INT.test(f[3])) throw bad('image numbers must be integers');
      return { a: image(f[0], f[1]), b: image(f[2], f[3]), same: false };
    }
    throw bad(`expected 3 fields (name n1 n2) or 4 (name1 n1 name2 n2), got ${f.length}`);
  });
  return { pairs, folds, format: 'lfw' };
}

const A_COLS = ['img1', 'image1', 'file1', 'path1', 'file_x', 'a', 'left'];
const B_COLS = ['img2', 'image2', 'file2', 'path2', 'file_y', 'b', 'right'];
const SAME_COLS = ['same', 'issame', 'is_same', 'label', 'decision', 'match', 'target'];
const TRUE = new Set(['1', 'true', 'yes', 'same']);
const FALSE = new Set(['0', 'false', 'no', 'different']);

function parseCsv(file: string, root: string, lines: { no: number; text: string }[]): PairList {
  const head = csvFields(lines[0].text).map((h) => h.toLowerCase());
  let cols = [0, 1, 2];
  let body = lines;
  const sameValue = head[2] ?? '';
  if (!TRUE.has(sameValue) && !FALSE.has(sameValue)) {
    // A header row: find the columns by name.
    const find = (names: string[]) => head.findIndex((h) => names.includes(h));
    cols = [find(A_COLS), find(B_COLS), find(SAME_COLS)];
    if (cols.some((c) => c < 0))
      throw badInput(
        `${file}:${lines[0].no}: cannot tell the columns from the header '${lines[0].text.trim()}' ` +
          `(expected img1,img2,same or file_x,file_y,decision)`,
      );
    body = lines.slice(1);
  }
  const width = Math.max(...cols) + 1;
  const pairs = body.map(({ no, text }): Pair => {
    const f = csvFields(text);
    if (f.length < width)
      throw badInput(`${file}:${no}: expected at least ${width} comma-separated fields, got ${f.length}`);
    const [a, b, s] = cols.map((c) => f[c]);
    if (!a || !b) throw badInput(`${file}:${no}: empty image path`);
    const v = s.toLowerCase();
    if (!TRUE.has(v) && !FALSE.has(v))
      throw badInput(
        `${file}:${no}: '${s}' is not a same/different label (1/0, true/false, yes/no, same/different)`,
      );
    return { a: under(root, a), b: under(root, b), same: TRUE.has(v) };
  });
  if (pairs.length === 0) throw badInput(`${file}: no pairs after the header`);
  return { pairs, format: 'csv' };
}
