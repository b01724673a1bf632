/**
 * The checks every store applies to faces before storing them (addFaces, writeClusters), in one
 * place: the model, the embedding (stored unit-norm), the photo's sha256, name and box, the detector
 * score, PNG crop bytes and the creation time. Nothing is written until every face has passed.
 */
import { badInput } from '../errors.js';
import { checkBox, checkPhotoName, checkSha256 } from './corrections.js';
import { checkModel, unitEmbedding } from './embedding.js';
import { storedTime } from './time.js';
import type { Gallery, NewFace } from './types.js';

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** A face as stored: its embedding unit-norm, its time (when given) in canonical ISO form. */
export type CheckedFace = NewFace & { createdAt: string | undefined };

export function checkNewFaces(
  g: Pick<Gallery, 'name' | 'model' | 'dim'>,
  faces: NewFace[],
  where = '',
): CheckedFace[] {
  return faces.map((f, i) => {
    const what = `gallery '${g.name}'${where}, face ${i}`;
    checkModel(g, f.model, `enroll (${what})`);
    const embedding = unitEmbedding(f.embedding, g.dim, what);
    if (f.imageSha256 !== undefined) checkSha256(f.imageSha256, what);
    if (f.photoName !== undefined) checkPhotoName(f.photoName, what);
    if (f.box !== undefined) checkBox(f.box, what);
    if (f.detScore !== undefined && !Number.isFinite(f.detScore))
      throw badInput(`${what}: detScore is not finite`);
    if (f.crop !== undefined && !PNG_MAGIC.every((b, j) => f.crop![j] === b))
      throw badInput(`${what}: the crop must be PNG bytes`);
    const createdAt = f.createdAt === undefined ? undefined : storedTime(f.createdAt, what);
    return { ...f, embedding, createdAt };
  });
}
