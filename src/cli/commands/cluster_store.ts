/**
 * `arcface cluster PHOTOS --gallery G`: the photos' faces clustered into a stored gallery through the
 * service (src/service/cluster_gallery.ts), created with the model on first use as `enroll` does.
 * Later runs join the clusters kept there; photos already in the gallery are skipped.
 */
import { join } from 'node:path';
import type { Algorithm, Scale } from '../../cluster/index.js';
import type { Face } from '../../face/types.js';
import type { FaceRecognizer } from '../../pipeline/recognizer.js';
import { RecognitionService, type ClusterPhotosResult } from '../../service/service.js';
import { contactSheet } from '../contact_sheet.js';
import { storeOptionsFromArgs } from '../store_options.js';

export interface ClusterStoreArgs {
  gallery: string;
  store?: string;
  ann?: string;
  ef?: string;
  json?: boolean;
  out?: string;
  minQuality?: number;
  algorithm: Algorithm;
  minFaces: number;
  k?: number;
  scale: Scale;
}

export const round = (b: Face['box']) => ({
  x1: Math.round(b.x1),
  y1: Math.round(b.y1),
  x2: Math.round(b.x2),
  y2: Math.round(b.y2),
});

/** One line per face: the file, its box, the cluster (a subject id; null: a singleton or not stored). */
function jsonLines(r: ClusterPhotosResult): string {
  return r.faces
    .map(
      (f) =>
        JSON.stringify({
          file: f.name,
          box: round(f.box),
          cluster: f.singleton ? null : f.subjectId,
          subjectId: f.subjectId,
          faceId: f.faceId,
          kind: f.kind,
          outcome: f.outcome,
        }) + '\n',
    )
    .join('');
}

function text(r: ClusterPhotosResult): string {
  const s = r.summary;
  // Rows: subjects by id, then the singletons, then the faces not stored (a stable order to read).
  const groups = new Map<string, { order: number; files: string[] }>();
  for (const f of r.faces) {
    const [key, order] =
      f.outcome === 'lowQuality'
        ? ['low quality, not stored', Infinity]
        : f.singleton
          ? ['singletons (one-face clusters)', Number.MAX_SAFE_INTEGER]
          : [`${f.kind} ${f.subjectId}${f.outcome === 'newCluster' ? ' (new)' : ''}`, f.subjectId!];
    const g = groups.get(key);
    if (g) g.files.push(f.name);
    else groups.set(key, { order, files: [f.name] });
  }
  const lines = [...groups]
    .sort((a, b) => a[1].order - b[1].order)
    .map(([k, { files }]) => `${k} (${files.length}): ${files.join(', ')}`);
  return (
    `${s.faces} face(s) in ${s.photos - s.duplicates - s.failed} photo(s) into gallery ${r.gallery}: ` +
    `${s.joined} joined existing subjects, ${s.newClusters} new cluster(s), ${s.singletons} singleton(s)` +
    `${s.singletonsJoined ? `, ${s.singletonsJoined} earlier singleton(s) now in a cluster` : ''}` +
    `${s.lowQuality ? `, ${s.lowQuality} below the quality minimum (not stored)` : ''}` +
    `${s.duplicates ? `; ${s.duplicates} photo(s) already in the gallery, skipped` : ''}\n` +
    (lines.length ? `${lines.join('\n')}\n` : '')
  );
}

/** Runs the stored clustering; the exit status (2 when some photo could not be read). */
export async function clusterIntoStore(
  rec: FaceRecognizer,
  files: string[],
  a: ClusterStoreArgs,
): Promise<number> {
  const service = await RecognitionService.open({
    store: a.store,
    storeOptions: storeOptionsFromArgs(a),
    recognizer: rec,
  });
  try {
    const r = await service.clusterPhotos(a.gallery, files, {
      createGallery: true,
      partial: true,
      minQuality: a.minQuality,
      algorithm: a.algorithm,
      minFaces: a.minFaces,
      k: a.k,
      scale: a.scale,
    });
    process.stdout.write(a.json ? jsonLines(r) : text(r));
    if (a.out) {
      const stored = r.faces.filter((f) => f.faceId !== null);
      const sheet = await Promise.all(
        stored.map(async (f) => ({ file: f.name, png: await service.store.getCrop(a.gallery, f.faceId!) })),
      );
      const clusters = stored.map((f) => (f.singleton ? null : f.subjectId));
      await contactSheet(a.out, sheet, clusters, (c) => `subject ${c}`);
      if (!a.json) process.stdout.write(`contact sheet: ${join(a.out, 'index.html')}\n`);
    }
    if (a.json && r.duplicates.length)
      process.stderr.write(`${r.duplicates.length} photo(s) already in gallery ${a.gallery}, skipped\n`);
    if (r.failures.length)
      process.stderr.write(
        `${r.failures.length} photo(s) skipped:\n  ${r.failures.map((f) => f.message).join('\n  ')}\n`,
      );
    return r.failures.length ? 2 : 0;
  } finally {
    // The recogniser is the caller's: only the store is closed here.
    await service.store.close();
  }
}
