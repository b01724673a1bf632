/**
 * Faces followed across the frames of a video, each with a name from the evidence of many frames
 * rather than the last one (a live camera's answers flicker: a frame in ten misnames or misses a
 * face). No Node imports: the web page's live mode runs it from the browser build.
 *
 * Tracking: each frame's boxes are matched to the tracks greedily by IoU, highest first, a pair
 * only when IoU >= `iou`; an unmatched box starts a track, a track missed more than `maxMissed`
 * frames in a row ends. Naming: every frame a track is seen votes for its subject (or for
 * "unknown"); a label wins when it has at least `minFrames` of the track's last `window` votes and
 * at least `majority` of them. Until a label wins the track is pending; once one has won it stays
 * until another wins by the same rule, so a noisy frame never changes a name.
 */
import { badInput } from '../errors.js';
import { iou } from './detectors/nms.js';
import type { Box } from './types.js';

/** One face of one frame: its box and who the recogniser said it is. */
export interface Observation {
  box: Box;
  /** The subject named in this frame; null: "unknown"; undefined: no evidence this frame (box only). */
  subject?: { id: string | number; name: string } | null;
}

export interface TrackerOptions {
  /** A box continues a track when their IoU is at least this (default 0.3). */
  iou?: number;
  /** A track ends after this many frames in a row without its face (default 5). */
  maxMissed?: number;
  /** Votes kept per track: its last this many frames with evidence (default 10). */
  window?: number;
  /** A label needs at least this many votes in the window (default 3). */
  minFrames?: number;
  /** ...and at least this share of them (default 0.6; above 0.5, so two labels cannot both win). */
  majority?: number;
}

export type TrackState = 'pending' | 'named' | 'unknown';

export interface Track {
  /** 1, 2, ...: stable for the life of the track, never reused by this tracker. */
  id: number;
  /** The box it was last seen at. */
  box: Box;
  state: TrackState;
  /** The subject when named, else null. */
  subject: { id: string | number; name: string } | null;
  /** Frames in a row it has been missed (0: seen in the last frame). */
  missed: number;
  /** Frames it has been seen in. */
  frames: number;
  /** Votes per label in the window: a subject's name, or "unknown". */
  votes: Record<string, number>;
}

const UNKNOWN = '\u0000unknown'; // a vote key no subject id can take

interface Internal {
  id: number;
  box: Box;
  missed: number;
  frames: number;
  history: string[];
  names: Map<string, { id: string | number; name: string }>;
  label: string | null;
}

function checkBox(b: Box, where: string): void {
  const ok = [b?.x1, b?.y1, b?.x2, b?.y2].every(Number.isFinite) && b.x2 >= b.x1 && b.y2 >= b.y1;
  if (!ok) throw badInput(`${where}: a box needs finite x1 <= x2 and y1 <= y2, got ${JSON.stringify(b)}`);
}

export class FaceTracker {
  private readonly opts: Required<TrackerOptions>;
  private tracks: Internal[] = [];
  private nextId = 1;

  constructor(options: TrackerOptions = {}) {
    const o = { iou: 0.3, maxMissed: 5, window: 10, minFrames: 3, majority: 0.6, ...options };
    if (!(o.iou > 0 && o.iou <= 1)) throw badInput(`iou must be in (0, 1], got ${o.iou}`);
    if (!Number.isInteger(o.maxMissed) || o.maxMissed < 0)
      throw badInput(`maxMissed must be an integer >= 0, got ${o.maxMissed}`);
    if (!Number.isInteger(o.minFrames) || o.minFrames < 1)
      throw badInput(`minFrames must be an integer >= 1, got ${o.minFrames}`);
    if (!Number.isInteger(o.window) || o.window < o.minFrames)
      throw badInput(`window must be an integer >= minFrames (${o.minFrames}), got ${o.window}`);
    if (!(o.majority > 0.5 && o.majority <= 1))
      throw badInput(`majority must be in (0.5, 1], got ${o.majority}`);
    this.opts = o;
  }

  /** Feeds one frame's faces; returns the live tracks (seen now or missed at most maxMissed frames). */
  update(faces: readonly Observation[]): Track[] {
    faces.forEach((f, i) => checkBox(f.box, `face ${i}`));
    const pairs: [number, number, number][] = [];
    this.tracks.forEach((t, ti) =>
      faces.forEach((f, fi) => {
        const v = iou(t.box, f.box);
        if (v >= this.opts.iou) pairs.push([v, ti, fi]);
      }),
    );
    // Greedy, best overlap first; ties in input order so the result does not depend on the sort.
    pairs.sort((a, b) => b[0] - a[0] || a[1] - b[1] || a[2] - b[2]);
    const trackOf = new Map<number, number>();
    const taken = new Set<number>();
    for (const [, ti, fi] of pairs) {
      if (taken.has(ti) || trackOf.has(fi)) continue;
      taken.add(ti);
      trackOf.set(fi, ti);
    }
    this.tracks.forEach((t, ti) => {
      if (!taken.has(ti)) t.missed++;
    });
    faces.forEach((f, fi) => {
      const ti = trackOf.get(fi);
      const t: Internal =
        ti === undefined
          ? {
              id: this.nextId++,
              box: f.box,
              missed: 0,
              frames: 0,
              history: [],
              names: new Map(),
              label: null,
            }
          : this.tracks[ti]!;
      if (ti === undefined) this.tracks.push(t);
      t.box = { ...f.box };
      t.missed = 0;
      t.frames++;
      if (f.subject !== undefined) this.vote(t, f.subject);
    });
    this.tracks = this.tracks.filter((t) => t.missed <= this.opts.maxMissed);
    return this.current();
  }

  /** The live tracks, oldest first. */
  current(): Track[] {
    return this.tracks.map((t) => {
      const votes: Record<string, number> = {};
      for (const k of t.history) {
        const label = k === UNKNOWN ? 'unknown' : t.names.get(k)!.name;
        votes[label] = (votes[label] ?? 0) + 1;
      }
      const subject = t.label !== null && t.label !== UNKNOWN ? { ...t.names.get(t.label)! } : null;
      const state: TrackState = t.label === null ? 'pending' : t.label === UNKNOWN ? 'unknown' : 'named';
      return { id: t.id, box: { ...t.box }, state, subject, missed: t.missed, frames: t.frames, votes };
    });
  }

  /** Forgets every track (a new video, or the camera restarted). */
  reset(): void {
    this.tracks = [];
  }

  private vote(t: Internal, subject: Observation['subject']): void {
    const key = subject ? `s:${String(subject.id)}` : UNKNOWN;
    if (subject) t.names.set(key, { id: subject.id, name: String(subject.name) });
    t.history.push(key);
    if (t.history.length > this.opts.window) t.history.shift();
    const counts = new Map<string, number>();
    for (const k of t.history) counts.set(k, (counts.get(k) ?? 0) + 1);
    let best: string | null = null;
    let n = 0;
    for (const [k, c] of counts)
      if (c > n) {
        best = k;
        n = c;
      }
    // The majority is over the votes held, so one label at most can pass it (majority > 0.5).
    if (best !== null && n >= this.opts.minFrames && n >= this.opts.majority * t.history.length)
      t.label = best;
    // Names no longer voted for are dropped with their votes (a long track holds `window` at most).
    for (const k of [...t.names.keys()]) if (!counts.has(k) && k !== t.label) t.names.delete(k);
  }
}
