/**
 * A person's edits of clusters (unnamed subjects) on any GalleryStore: name, merge, split, move one
 * face. Each edit moves faces in one store transaction, then records what the person decided as
 * face links ('same': must-link, 'apart': cannot-link), so a later re-clustering keeps it; links
 * are between faces, which outlive the clusters that held them (a merge deletes its source).
 *
 * Moving a face out of a named person also stores a correction "this face is not that person", so
 * identify never answers it for that face's photo again.
 */
import { badInput } from '../errors.js';
import { notFound } from './names.js';
import type { FaceLink, GalleryStore, JsonValue, Subject } from './types.js';

async function subjectOf(store: GalleryStore, gallery: string, id: number): Promise<Subject> {
  const s = await store.getSubject(gallery, id);
  if (!s) throw notFound(`gallery '${gallery}' has no subject ${id}`);
  return s;
}

async function cluster(store: GalleryStore, gallery: string, id: number): Promise<Subject> {
  const s = await subjectOf(store, gallery, id);
  if (s.kind !== 'cluster')
    throw badInput(`subject ${id} of gallery '${gallery}' is a person, not a cluster`);
  return s;
}

async function faceIds(store: GalleryStore, gallery: string, subjectId: number): Promise<number[]> {
  return (await store.listFaces(gallery, subjectId)).map((f) => f.id);
}

/** 'same' links from an anchor face to each other face (a chain: n - 1 rows say all n are one person). */
function sameAs(anchor: number, others: number[]): FaceLink[] {
  return others.filter((id) => id !== anchor).map((id) => ({ faceA: anchor, faceB: id, kind: 'same' }));
}

/**
 * Names a cluster: it becomes a person of the gallery. With the external id of a person already in
 * the gallery, the cluster's faces join that person instead (and the cluster goes).
 */
export async function nameCluster(
  store: GalleryStore,
  gallery: string,
  clusterId: number,
  person: { name: string; externalId?: string; metadata?: JsonValue },
): Promise<Subject> {
  await cluster(store, gallery, clusterId);
  const faces = await faceIds(store, gallery, clusterId);
  const existing = person.externalId ? await store.findSubject(gallery, person.externalId) : null;
  if (existing && existing.id !== clusterId) {
    if (faces.length) await mergeInto(store, gallery, existing.id, clusterId);
    return subjectOf(store, gallery, existing.id);
  }
  const named = await store.updateSubject(gallery, clusterId, { ...person, kind: 'person' });
  if (faces.length > 1) await store.addLinks(gallery, sameAs(faces[0]!, faces));
  return named;
}

async function mergeInto(
  store: GalleryStore,
  gallery: string,
  intoId: number,
  fromId: number,
): Promise<number> {
  const into = await faceIds(store, gallery, intoId);
  const moved = await faceIds(store, gallery, fromId);
  if (moved.length === 0) return 0;
  await store.moveFaces(gallery, moved, intoId);
  const all = [...into, ...moved];
  await store.addLinks(gallery, sameAs(all[0]!, all));
  return moved.length;
}

/**
 * Merges clusters into one subject (a cluster or a person): their faces move there, the emptied
 * clusters go, and every face is linked 'same'. Persons are never merged away (only clusters).
 */
export async function mergeClusters(
  store: GalleryStore,
  gallery: string,
  intoId: number,
  fromIds: number[],
): Promise<{ subject: Subject; moved: number }> {
  await subjectOf(store, gallery, intoId);
  if (fromIds.length === 0) throw badInput(`merge into subject ${intoId}: give the clusters to merge`);
  for (const id of fromIds) {
    if (id === intoId) throw badInput(`merge: subject ${id} cannot be merged into itself`);
    await cluster(store, gallery, id);
  }
  let moved = 0;
  for (const id of fromIds) moved += await mergeInto(store, gallery, intoId, id);
  return { subject: await subjectOf(store, gallery, intoId), moved };
}

/**
 * Splits chosen faces out of a subject into a new cluster: they are linked 'same' among themselves
 * and 'apart' from every face left behind (|chosen| x |rest| pairs), so re-clustering keeps them apart.
 */
export async function splitCluster(
  store: GalleryStore,
  gallery: string,
  subjectId: number,
  chosen: number[],
): Promise<Subject> {
  const from = await subjectOf(store, gallery, subjectId);
  const have = await faceIds(store, gallery, subjectId);
  const picked = [...new Set(chosen)];
  if (picked.length === 0) throw badInput(`split of subject ${subjectId}: choose the faces to split off`);
  const missing = picked.find((id) => !have.includes(id));
  if (missing !== undefined)
    throw badInput(`split of subject ${subjectId}: face ${missing} is not one of its faces`);
  if (picked.length === have.length && from.kind === 'cluster')
    throw badInput(`split of cluster ${subjectId}: every face chosen, nothing would be left`);
  const made = await store.addSubject(gallery, { name: 'unnamed', kind: 'cluster' });
  try {
    await store.moveFaces(gallery, picked, made.id);
  } catch (err) {
    await store.deleteSubject(gallery, made.id).catch(() => undefined);
    throw err;
  }
  const rest = have.filter((id) => !picked.includes(id));
  const links = sameAs(picked[0]!, picked);
  for (const a of picked) for (const b of rest) links.push({ faceA: a, faceB: b, kind: 'apart' });
  if (links.length) await store.addLinks(gallery, links);
  if (from.kind === 'person')
    for (const id of picked) await store.addCorrection(gallery, { subjectId, faceId: id });
  return subjectOf(store, gallery, made.id);
}

/**
 * Moves one face to another subject: linked 'apart' from the faces it leaves and 'same' to one it
 * joins; leaving a person also stores "this face is not that person" for identify.
 */
export async function moveFace(
  store: GalleryStore,
  gallery: string,
  faceId: number,
  toSubjectId: number,
): Promise<{ subject: Subject; removedClusters: number[] }> {
  const face = await store.getFace(gallery, faceId);
  if (!face) throw notFound(`gallery '${gallery}' has no face ${faceId}`);
  const to = await subjectOf(store, gallery, toSubjectId);
  if (face.subjectId === toSubjectId) return { subject: to, removedClusters: [] };
  const from = await subjectOf(store, gallery, face.subjectId);
  const left = (await faceIds(store, gallery, from.id)).filter((id) => id !== faceId);
  const joined = await faceIds(store, gallery, toSubjectId);
  const removedClusters = await store.moveFaces(gallery, [faceId], toSubjectId);
  const links: FaceLink[] = left.map((id) => ({ faceA: faceId, faceB: id, kind: 'apart' }));
  if (joined.length) links.push({ faceA: joined[0]!, faceB: faceId, kind: 'same' });
  if (links.length) await store.addLinks(gallery, links);
  if (from.kind === 'person') await store.addCorrection(gallery, { subjectId: from.id, faceId });
  return { subject: await subjectOf(store, gallery, toSubjectId), removedClusters };
}
