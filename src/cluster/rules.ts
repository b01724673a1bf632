/**
 * The rules every algorithm's raw labels go through: photos as small integers (for cannot-link),
 * `minFaces` (a cluster smaller than that is no one's: its faces become singletons, null), and
 * canonical ids (clusters numbered 0, 1, ... in the order of their first face), so two runs that
 * group alike print alike.
 */
import type { Assignment, FaceKey } from './types.js';

/** Photo keys as 0..p-1. */
export function photoIndex(photos: readonly FaceKey[]): Int32Array {
  const ids = new Map<FaceKey, number>();
  return Int32Array.from(photos, (p) => {
    let v = ids.get(p);
    if (v === undefined) ids.set(p, (v = ids.size));
    return v;
  });
}

/** Raw labels (any integers, -1 = none) -> canonical clusters, those under `minFaces` dropped. */
export function finalise(labels: ArrayLike<number>, minFaces: number): Assignment {
  const size = new Map<number, number>();
  for (let i = 0; i < labels.length; i++)
    if (labels[i]! >= 0) size.set(labels[i]!, (size.get(labels[i]!) ?? 0) + 1);
  const id = new Map<number, number>();
  const out: Assignment = [];
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    // A cluster of one is a singleton whatever minFaces says: no one to join.
    if (l < 0 || size.get(l)! < Math.max(2, minFaces)) {
      out.push(null);
      continue;
    }
    if (!id.has(l)) id.set(l, id.size);
    out.push(id.get(l)!);
  }
  return out;
}

/** Per cluster, how many of its faces come from each photo (cannot-link bookkeeping). */
export class PhotoSets {
  private readonly sets = new Map<number, Map<number, number>>();
  has(cluster: number, photo: number): boolean {
    return (this.sets.get(cluster)?.get(photo) ?? 0) > 0;
  }
  add(cluster: number, photo: number): void {
    let m = this.sets.get(cluster);
    if (!m) this.sets.set(cluster, (m = new Map()));
    m.set(photo, (m.get(photo) ?? 0) + 1);
  }
  remove(cluster: number, photo: number): void {
    const m = this.sets.get(cluster)!;
    const c = m.get(photo)! - 1;
    if (c) m.set(photo, c);
    else m.delete(photo);
    if (!m.size) this.sets.delete(cluster);
  }
  /** Whether two clusters share a photo (they may not merge). */
  clash(a: number, b: number): boolean {
    const x = this.sets.get(a);
    const y = this.sets.get(b);
    if (!x || !y) return false;
    const [small, big] = x.size < y.size ? [x, y] : [y, x];
    for (const p of small.keys()) if (big.has(p)) return true;
    return false;
  }
  /** Moves b's photos into a. */
  merge(a: number, b: number): void {
    const y = this.sets.get(b);
    if (!y) return;
    for (const [p, c] of y) for (let t = 0; t < c; t++) this.add(a, p);
    this.sets.delete(b);
  }
}
