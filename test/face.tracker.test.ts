/**
 * FaceTracker (src/face/tracker.ts) on synthetic frame sequences: two faces crossing keep their
 * tracks and names, a face missed for a frame keeps its track, a noisy recogniser does not make a
 * name flicker, a stranger is called unknown, a real change of identity wins in the end, and bad
 * options or boxes are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaceTracker, type Observation, type Track } from '../src/face/tracker.js';
import { expectBadInput } from './helpers.js';

const ANN = { id: 1, name: 'Ann' };
const BOB = { id: 2, name: 'Bob' };
const box = (x: number, y: number, size = 100) => ({ x1: x, y1: y, x2: x + size, y2: y + size });
const label = (t: Track) => (t.state === 'named' ? t.subject!.name : t.state);

test('a face named only when 3 frames agree, pending before; a stranger becomes unknown', () => {
  const tr = new FaceTracker();
  const seen: string[] = [];
  for (let f = 0; f < 4; f++) seen.push(label(tr.update([{ box: box(10 + f * 5, 10), subject: ANN }])[0]!));
  assert.deepEqual(seen, ['pending', 'pending', 'Ann', 'Ann']);
  const stranger: string[] = [];
  for (let f = 0; f < 4; f++) {
    const tracks = tr.update([
      { box: box(14 + f * 5, 10), subject: ANN },
      { box: box(400, 50), subject: null },
    ]);
    assert.equal(tracks.length, 2);
    assert.equal(label(tracks[0]!), 'Ann');
    stranger.push(label(tracks[1]!));
  }
  assert.deepEqual(stranger, ['pending', 'pending', 'unknown', 'unknown']);
  const [ann, other] = tr.current();
  assert.deepEqual([ann!.id, other!.id], [1, 2]);
  assert.deepEqual(other!.votes, { unknown: 4 });
  assert.equal(other!.subject, null);
});

test('two faces crossing keep their own tracks and names', () => {
  const tr = new FaceTracker();
  const history: { id: number; x: number; name: string }[][] = [];
  for (let f = 0; f < 30; f++) {
    // Ann walks right, Bob left, Bob a little lower: their boxes overlap for several frames.
    const a: Observation = { box: box(20 + 12 * f, 100), subject: ANN };
    const b: Observation = { box: box(368 - 12 * f, 130), subject: BOB };
    // At the crossing the recogniser confuses them for two frames.
    if (f === 14 || f === 15) [a.subject, b.subject] = [BOB, ANN];
    const tracks = tr.update(f % 2 ? [b, a] : [a, b]); // the detector's order means nothing
    history.push(tracks.map((t) => ({ id: t.id, x: t.box.x1, name: label(t) })));
  }
  assert.ok(
    history.some((h) => Math.abs(h[0]!.x - h[1]!.x) < 20),
    'the boxes really cross',
  );
  for (const [f, h] of history.entries()) {
    assert.equal(h.length, 2, `frame ${f}: two tracks`);
    // Track 1 is Ann's box (moving right) in every frame, track 2 Bob's.
    assert.deepEqual(
      h.map((t) => [t.id, t.x]),
      [
        [1, 20 + 12 * f],
        [2, 368 - 12 * f],
      ],
    );
    if (f >= 2)
      assert.deepEqual(
        h.map((t) => t.name),
        ['Ann', 'Bob'],
        `frame ${f}`,
      );
  }
});

test('a face missed for a frame (or up to maxMissed) keeps its track; longer, the track ends', () => {
  const tr = new FaceTracker({ maxMissed: 2 });
  for (let f = 0; f < 3; f++) tr.update([{ box: box(50, 50), subject: ANN }]);
  const gap = tr.update([]);
  assert.equal(gap.length, 1);
  assert.deepEqual([gap[0]!.id, gap[0]!.missed, label(gap[0]!)], [1, 1, 'Ann']);
  const back = tr.update([{ box: box(56, 52), subject: ANN }]);
  assert.deepEqual([back[0]!.id, back[0]!.missed, back[0]!.frames, label(back[0]!)], [1, 0, 4, 'Ann']);
  tr.update([]);
  assert.equal(tr.update([]).length, 1); // missed 2 = maxMissed: still alive
  assert.deepEqual(tr.update([]), []); // missed 3: gone
  const again = tr.update([{ box: box(56, 52), subject: ANN }]);
  assert.deepEqual([again[0]!.id, label(again[0]!)], [2, 'pending']); // a new track: new evidence
});

test('a noisy recogniser does not make a name flicker; a real change wins by the same rule', () => {
  const tr = new FaceTracker();
  // 1 frame in 3 misnamed (Bob) or unknown: Ann has 60% or more of every window of 10.
  const noisy = ['A', 'A', 'A', 'B', 'A', 'U', 'A', 'B', 'A', 'A', 'U', 'A', 'B', 'A', 'A', 'U', 'A', 'A'];
  const subject = (c: string) => (c === 'A' ? ANN : c === 'B' ? BOB : null);
  const names = noisy.map((c, f) => label(tr.update([{ box: box(100 + f, 100), subject: subject(c) }])[0]!));
  assert.deepEqual(names, ['pending', 'pending', ...Array(noisy.length - 2).fill('Ann')]);
  // Ann loses her majority (an even split): no one else has one, so the name stays.
  const split = ['B', 'U', 'B', 'U', 'B', 'U'];
  for (const c of split)
    assert.equal(label(tr.update([{ box: box(120, 100), subject: subject(c) }])[0]!), 'Ann');
  // Bob now on every frame: he is named once he holds 6 of the last 10 votes, and not before.
  const after: string[] = [];
  for (let f = 0; f < 6; f++) after.push(label(tr.update([{ box: box(120, 100), subject: BOB }])[0]!));
  const t = tr.current()[0]!;
  assert.equal(t.id, 1);
  assert.deepEqual(t.votes, { Bob: 8, unknown: 2 });
  assert.equal(after.at(-1), 'Bob');
  assert.ok(after.indexOf('Bob') > 0, `Bob named only once his votes are a majority: ${after.join(',')}`);
});

test('frames without evidence move the box but do not vote; subjects are told apart by id', () => {
  const tr = new FaceTracker();
  for (let f = 0; f < 5; f++) tr.update([{ box: box(10 + f, 10) }]);
  const [t] = tr.current();
  assert.deepEqual([t!.state, t!.frames, t!.box.x1, t!.votes], ['pending', 5, 14, {}]);
  // Two people called "Sam", interleaved: never 70% for one, though 100% by name.
  const tr2 = new FaceTracker({ majority: 0.7 });
  for (let f = 0; f < 6; f++)
    tr2.update([{ box: box(10, 10), subject: { id: f % 2 ? 'x' : 'y', name: 'Sam' } }]);
  assert.equal(tr2.current()[0]!.state, 'pending');
});

test('bad options and boxes are refused with a clear message', () => {
  expectBadInput(() => new FaceTracker({ iou: 0 }), /iou must be in \(0, 1\]/);
  expectBadInput(() => new FaceTracker({ maxMissed: -1 }), /maxMissed/);
  expectBadInput(() => new FaceTracker({ minFrames: 0 }), /minFrames/);
  expectBadInput(() => new FaceTracker({ window: 2 }), /window must be an integer >= minFrames \(3\)/);
  expectBadInput(() => new FaceTracker({ majority: 0.5 }), /majority must be in \(0\.5, 1\]/);
  const tr = new FaceTracker();
  expectBadInput(() => tr.update([{ box: { x1: 5, y1: 0, x2: 1, y2: 4 } }]), /face 0: a box needs/);
  expectBadInput(() => tr.update([{ box: { x1: 0, y1: 0, x2: NaN, y2: 4 } }]), /face 0/);
  assert.deepEqual(tr.current(), []); // nothing half-applied
});
