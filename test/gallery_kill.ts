/**
 * Shared by the SQLite and PostgreSQL store tests: a batch enroll of 1,000 subjects in a child
 * process (test/gallery_enroll_child.ts) killed with SIGKILL after its 40th commit must leave every
 * committed subject complete (all 3 faces, embeddings and crops as written) and searchable, and no
 * subject with part of its faces.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { unitEmbedding } from '../src/gallery/embedding.js';
import type { GalleryStore } from '../src/gallery/types.js';
import { clusteredVectors, fakePng } from './gallery_suite.js';

export async function killMidEnroll(location: string, open: () => Promise<GalleryStore>): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'gallery_enroll_child.ts'), location, '1000'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let committed = -1;
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(/committed (\d+)\n(?![\s\S]*committed)/);
      if (m) committed = Number(m[1]);
      if (committed >= 40 && !child.killed) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) =>
      signal === 'SIGKILL' ? resolve() : reject(new Error(`child ended with ${code} before the kill`)),
    );
  });
  assert.ok(committed >= 40);
  const store = await open();
  try {
    const subjects = await store.listSubjects('batch');
    const withFaces = subjects.filter((s) => s.faces > 0);
    // Every reported commit is there; the batch was killed before its end.
    assert.ok(withFaces.length >= committed + 1 && withFaces.length < 1000, `${withFaces.length} enrolled`);
    // All of an addFaces or none of it: 3 faces each (a subject row may exist without faces).
    for (const s of subjects) assert.ok(s.faces === 0 || s.faces === 3, `${s.name} has ${s.faces} faces`);
    const { rows } = clusteredVectors(11, 1000, 3, 64, 0.1);
    for (const s of withFaces) {
      const i = Number(s.externalId.slice(1));
      const faces = await store.listFaces('batch', s.id);
      for (const [j, f] of faces.entries()) {
        assert.deepEqual(f.embedding, unitEmbedding(rows[i * 3 + j].v, 64, 'x'));
        assert.deepEqual(await store.getCrop('batch', f.id), fakePng(i * 3 + j, 16_000));
      }
      const hit = await store.search('batch', { embedding: faces[1].embedding, model: 'm' }, { k: 1 });
      assert.equal(hit[0].subjectId, s.id);
      assert.ok(hit[0].score > 0.99999);
    }
  } finally {
    await store.close();
  }
}
