/**
 * Labelled image sets for identification: either one folder per identity
 * (ROOT/<identity>/*.jpg, and images one folder further down, ROOT/<identity>/<sub>/*.jpg) or a
 * `file,identity` CSV with paths relative to ROOT. Sorted by file path (code-point order, not
 * locale), so every run enrols and probes the same images.
 */
import type { Dirent } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ArcfaceError, badInput } from '../errors.js';
import { csvFields, readText, textLines, under } from './pairs.js';

export interface LabelledImage {
  file: string;
  identity: string;
}

export const IMAGE_EXTENSIONS = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.bmp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
  '.pgm',
  '.ppm',
]);

const FILE_COLS = ['file', 'path', 'image', 'img', 'filename'];
const ID_COLS = ['identity', 'id', 'label', 'name', 'person', 'class', 'celeba_identity'];

const byFile = (x: LabelledImage, y: LabelledImage) => (x.file < y.file ? -1 : x.file > y.file ? 1 : 0);

export async function readLabelledImages(root: string, labelsCsv?: string): Promise<LabelledImage[]> {
  const items = labelsCsv ? await fromCsv(root, labelsCsv) : await fromTree(root);
  return items.sort(byFile);
}

async function list(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ArcfaceError('NOT_FOUND', `${dir}: no such folder`);
    if (code === 'ENOTDIR')
      throw badInput(`${dir}: not a folder (give the folder with one subfolder per identity)`);
    throw badInput(`${dir}: cannot list (${(err as Error).message})`);
  }
}

const isImage = (name: string) => !name.startsWith('.') && IMAGE_EXTENSIONS.has(extname(name).toLowerCase());

/**
 * A directory entry's kind, following a symbolic link to what it points at (a tree of links to
 * identity folders or photos elsewhere is a common way to assemble a data set); a broken link is
 * neither. The tree is read two levels deep at most, so a link loop cannot recurse.
 */
async function kindOf(dir: string, e: Dirent): Promise<'dir' | 'file' | null> {
  if (e.isDirectory()) return 'dir';
  if (e.isFile()) return 'file';
  if (!e.isSymbolicLink()) return null;
  try {
    const s = await stat(join(dir, e.name));
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : null;
  } catch {
    return null;
  }
}

async function fromTree(root: string): Promise<LabelledImage[]> {
  const out: LabelledImage[] = [];
  for (const idDir of await list(root)) {
    if (idDir.name.startsWith('.') || (await kindOf(root, idDir)) !== 'dir') continue;
    const dir = join(root, idDir.name);
    for (const e of await list(dir)) {
      const kind = await kindOf(dir, e);
      if (kind === 'file' && isImage(e.name)) out.push({ file: join(dir, e.name), identity: idDir.name });
      else if (kind === 'dir' && !e.name.startsWith('.'))
        for (const f of await list(join(dir, e.name)))
          if ((await kindOf(join(dir, e.name), f)) === 'file' && isImage(f.name))
            out.push({ file: join(dir, e.name, f.name), identity: idDir.name });
    }
  }
  if (out.length === 0)
    throw badInput(`${root}: no images in identity folders (expected ${join(root, '<identity>', '*.jpg')})`);
  return out;
}

async function fromCsv(root: string, csv: string): Promise<LabelledImage[]> {
  const lines = textLines(await readText(csv));
  if (lines.length === 0) throw badInput(`${csv}: empty labels file`);
  const head = csvFields(lines[0].text).map((h) => h.toLowerCase());
  let cols = [0, 1];
  let body = lines;
  if (FILE_COLS.includes(head[0]) || ID_COLS.includes(head[1] ?? '')) {
    cols = [head.findIndex((h) => FILE_COLS.includes(h)), head.findIndex((h) => ID_COLS.includes(h))];
    if (cols.some((c) => c < 0))
      throw badInput(
        `${csv}:${lines[0].no}: cannot tell the file and identity columns from '${lines[0].text}'`,
      );
    body = lines.slice(1);
  }
  const seen = new Map<string, { identity: string; no: number }>();
  const items: (LabelledImage & { no: number })[] = [];
  for (const { no, text } of body) {
    const f = csvFields(text);
    const file = f[cols[0]];
    const identity = f[cols[1]];
    if (!file || !identity) throw badInput(`${csv}:${no}: expected 'file,identity', got '${text}'`);
    const path = under(root, file);
    const prev = seen.get(path);
    if (prev && prev.identity !== identity)
      throw badInput(
        `${csv}:${no}: ${file} is labelled '${identity}' here but '${prev.identity}' on line ${prev.no}`,
      );
    if (prev) continue;
    seen.set(path, { identity, no });
    items.push({ file: path, identity, no });
  }
  if (items.length === 0) throw badInput(`${csv}: no labelled images`);
  // Check every file before any work starts, and name all the missing ones at once.
  const missing: string[] = [];
  await Promise.all(
    items.map(async (it) => {
      try {
        await access(it.file);
      } catch {
        missing.push(`${it.file} (line ${it.no})`);
      }
    }),
  );
  if (missing.length > 0) {
    missing.sort();
    const shown = missing.slice(0, 10).join(', ');
    throw new ArcfaceError(
      'NOT_FOUND',
      `${csv}: ${missing.length} of ${items.length} listed images are missing under ${root}: ${shown}` +
        (missing.length > 10 ? `, and ${missing.length - 10} more` : ''),
    );
  }
  return items.map(({ file, identity }) => ({ file, identity }));
}
