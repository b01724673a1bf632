/**
 * From per-face cosines to ranked subjects, shared by every search path (exact, HNSW re-scored,
 * pgvector): a subject scores the best ('max') or the mean ('mean') cosine over its faces.
 */
import type { Aggregate } from './types.js';

export interface RankedSubject {
  subjectId: number;
  score: number;
  /** The subject's best face among those scored, and its cosine. */
  faceId: number;
  faceScore: number;
}

/** Per-subject accumulator; `add` every scored face, then `top`. For 'mean' every face of a subject must be added. */
export class SubjectRanker {
  private readonly acc = new Map<number, { sum: number; n: number; best: number; face: number }>();
  add(subjectId: number, faceId: number, score: number): void {
    const a = this.acc.get(subjectId);
    if (!a) this.acc.set(subjectId, { sum: score, n: 1, best: score, face: faceId });
    else {
      a.sum += score;
      a.n++;
      if (score > a.best || (score === a.best && faceId < a.face)) {
        a.best = score;
        a.face = faceId;
      }
    }
  }
  get subjects(): number {
    return this.acc.size;
  }
  /** The k best subjects, best first; ties go to the lower subject id so results repeat exactly. */
  top(k: number, aggregate: Aggregate): RankedSubject[] {
    const out: RankedSubject[] = [];
    for (const [subjectId, a] of this.acc)
      out.push({
        subjectId,
        score: aggregate === 'max' ? a.best : a.sum / a.n,
        faceId: a.face,
        faceScore: a.best,
      });
    out.sort((x, y) => y.score - x.score || x.subjectId - y.subjectId);
    return out.slice(0, k);
  }
}
