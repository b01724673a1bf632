/**
 * `-o OUT/` of `arcface cluster`: OUT/index.html with a row of face crops per person, then the faces
 * that joined no one; each crop as OUT/faces/N.png. Private files (biometric data): 0700 / 0600.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

export interface SheetFace {
  file: string;
  /** The aligned crop as PNG bytes (null: none stored, shown without a picture). */
  png: Uint8Array | null;
}

const html = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Writes the sheet; `title` names a row of cluster `c` (default "person c"). */
export async function contactSheet(
  out: string,
  faces: SheetFace[],
  clusters: (number | null)[],
  title: (c: number) => string = (c) => `person ${c}`,
): Promise<void> {
  await mkdir(join(out, 'faces'), { recursive: true, mode: 0o700 });
  const rows = new Map<number | null, number[]>();
  clusters.forEach((c, i) => {
    const row = rows.get(c);
    if (row) row.push(i);
    else rows.set(c, [i]);
  });
  for (let i = 0; i < faces.length; i++) {
    const png = faces[i]!.png;
    if (png) await writeFile(join(out, 'faces', `${i}.png`), png, { mode: 0o600 });
  }
  const row = (heading: string, idx: number[]) =>
    `<h2>${html(heading)}</h2>\n<div class="row">${idx
      .map((i) => {
        const f = faces[i]!;
        const img = f.png ? `<img src="faces/${i}.png" alt="">` : '';
        return `<figure>${img}<figcaption>${html(basename(f.file))}</figcaption></figure>`;
      })
      .join('')}</div>`;
  const people = [...rows.keys()].filter((c): c is number => c !== null).sort((a, b) => a - b);
  const body = [
    ...people.map((c) => row(`${title(c)} (${rows.get(c)!.length} faces)`, rows.get(c)!)),
    ...(rows.has(null) ? [row(`no one (${rows.get(null)!.length} faces)`, rows.get(null)!)] : []),
  ].join('\n');
  await writeFile(
    join(out, 'index.html'),
    `<!doctype html><meta charset="utf-8"><title>arcface cluster</title>
<style>body{font-family:sans-serif}.row{display:flex;flex-wrap:wrap;gap:6px}figure{margin:0;width:120px}
img{width:120px;height:auto}figcaption{font-size:11px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}</style>
<h1>${people.length} people, ${rows.get(null)?.length ?? 0} face(s) with no one</h1>
${body}
`,
    { mode: 0o600 },
  );
}
