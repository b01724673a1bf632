/**
 * How well a clustering matches the truth (faces labelled by person).
 *
 * Singletons (cluster null) count as clusters of one face each, in every metric: a face left alone
 * claims no pair, so it costs pairwise recall and BCubed recall but never precision (grouping
 * nothing is never wrong, only unhelpful); `singletonShare` says how much of that happened.
 * - pairwise: over all pairs of faces, precision = same cluster and same person / same cluster,
 *   recall = same cluster and same person / same person, F1 their harmonic mean (1 when there is no
 *   pair to get right or wrong);
 * - BCubed (Bagga and Baldwin 1998): per face, precision = share of its cluster that is its person,
 *   recall = share of its person that is in its cluster; averaged over faces; F the harmonic mean.
 *   Unlike pairwise, big clusters do not dominate it;
 * - clusters (non-singleton) vs people (identities with 2+ faces could be grouped at all, counted
 *   apart from all identities).
 */
import { badInput } from '../errors.js';

export interface ClusteringScores {
  faces: number;
  pairwise: { precision: number; recall: number; f1: number };
  bcubed: { precision: number; recall: number; f: number };
  /** Non-singleton clusters found. */
  clusters: number;
  /** Identities among the faces, and those with at least two faces. */
  people: number;
  peopleWithTwoOrMore: number;
  /** Faces left as singletons (cluster null), as a share of all faces. */
  singletonShare: number;
}

const hm = (p: number, r: number) => (p + r > 0 ? (2 * p * r) / (p + r) : 0);
const pairs = (c: number) => (c * (c - 1)) / 2;

export function scoreClustering(
  identities: readonly string[],
  clusters: readonly (number | string | null)[],
): ClusteringScores {
  const n = identities.length;
  if (clusters.length !== n)
    throw badInput(`clustering score: ${n} identities but ${clusters.length} cluster labels`);
  // A singleton gets a key no cluster has.
  const key = (i: number) => (clusters[i] === null ? `s:${i}` : `c:${String(clusters[i])}`);
  const bySize = (keys: string[]) => {
    const m = new Map<string, number>();
    for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
    return m;
  };
  const cKeys = Array.from({ length: n }, (_, i) => key(i));
  const both = bySize(cKeys.map((c, i) => `${c}\u0000${identities[i]}`));
  const cSize = bySize(cKeys);
  const lSize = bySize([...identities]);
  let tp = 0;
  for (const c of both.values()) tp += pairs(c);
  let predicted = 0;
  for (const c of cSize.values()) predicted += pairs(c);
  let truth = 0;
  for (const c of lSize.values()) truth += pairs(c);
  const precision = predicted ? tp / predicted : 1;
  const recall = truth ? tp / truth : 1;
  let bp = 0;
  let br = 0;
  for (let i = 0; i < n; i++) {
    const inter = both.get(`${cKeys[i]}\u0000${identities[i]}`)!;
    bp += inter / cSize.get(cKeys[i]!)!;
    br += inter / lSize.get(identities[i]!)!;
  }
  bp = n ? bp / n : 1;
  br = n ? br / n : 1;
  const singles = clusters.filter((c) => c === null).length;
  return {
    faces: n,
    pairwise: { precision, recall, f1: predicted || truth ? hm(precision, recall) : 1 },
    bcubed: { precision: bp, recall: br, f: hm(bp, br) },
    clusters: new Set(clusters.filter((c) => c !== null)).size,
    people: lSize.size,
    peopleWithTwoOrMore: [...lSize.values()].filter((c) => c >= 2).length,
    singletonShare: n ? singles / n : 0,
  };
}
