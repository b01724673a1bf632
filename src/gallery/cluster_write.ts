/**
 * The shape of a ClusterWrite checked before either store opens its transaction: lists where lists
 * belong, subject and face ids that can be ids, no face moved twice, no new cluster left empty.
 */
import { badInput } from '../errors.js';
import type { ClusterWrite } from './types.js';

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;

export function checkClusterWrite(gallery: string, w: ClusterWrite): ClusterWrite {
  const what = `gallery '${gallery}': cluster write`;
  if (typeof w !== 'object' || w === null || !Array.isArray(w.join) || !Array.isArray(w.create))
    throw badInput(`${what}: give { join: [...], create: [...] }`);
  const moved = new Set<number>();
  w.join.forEach((j, i) => {
    if (!isId(j?.subjectId) || !Array.isArray(j.faces) || j.faces.length === 0)
      throw badInput(`${what}: join ${i} needs a subject id and faces`);
  });
  w.create.forEach((c, i) => {
    if (!Array.isArray(c?.faces) || !Array.isArray(c.move) || c.faces.length + c.move.length === 0)
      throw badInput(`${what}: cluster ${i} needs new faces or faces to move in`);
    for (const id of c.move) {
      if (!isId(id)) throw badInput(`${what}: cluster ${i}: ${String(id)} is not a face id`);
      if (moved.has(id)) throw badInput(`${what}: face ${id} is moved twice`);
      moved.add(id);
    }
  });
  return w;
}
