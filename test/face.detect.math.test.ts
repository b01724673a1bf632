/** Pure parts of the detectors: NMS, letterbox mapping, priors, post-processing, specs, scoring. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toBlob } from '../src/face/detectors/blob.js';
import { matchToPoints, median, parseNoseAnnotations } from '../src/face/detectors/evaluate.js';
import {
  boxToSource,
  createDetector,
  finalizeFaces,
  iou,
  letterbox,
  letterboxGeometry,
  nms,
  parseDetectorSpec,
  resolveOptions,
  retinaPriors,
  toCanvas,
  toSource,
} from '../src/face/detectors/index.js';
import { rgbImage } from '../src/image/types.js';
import type { Box, Face, Landmarks5 } from '../src/face/types.js';
import { rng } from '../src/util/random.js';

const box = (x1: number, y1: number, x2: number, y2: number): Box => ({ x1, y1, x2, y2 });
const face = (b: Box, score: number): Face => {
  const cx = (b.x1 + b.x2) / 2;
  const cy = (b.y1 + b.y2) / 2;
  const lm = [
    [cx - 1, cy - 1],
    [cx + 1, cy - 1],
    [cx, cy],
    [cx - 1, cy + 1],
    [cx + 1, cy + 1],
  ] as Landmarks5;
  return { box: b, score, landmarks: lm };
};

describe('iou', () => {
  it('is 1 for identical boxes, 0 for disjoint or touching ones, and symmetric', () => {
    assert.equal(iou(box(0, 0, 4, 4), box(0, 0, 4, 4)), 1);
    assert.equal(iou(box(0, 0, 4, 4), box(4, 0, 8, 4)), 0);
    assert.equal(iou(box(0, 0, 4, 4), box(5, 5, 6, 6)), 0);
    const a = box(0, 0, 2, 2);
    const b = box(1, 0, 3, 2);
    assert.equal(iou(a, b), 2 / 6); // intersection 1x2, union 4 + 4 - 2
    assert.equal(iou(b, a), iou(a, b));
    assert.equal(iou(box(0, 0, 0, 5), box(0, 0, 0, 5)), 0); // empty boxes
  });
});

describe('nms', () => {
  it('keeps the best box of an overlapping pair only when their IoU exceeds the threshold', () => {
    const boxes = [box(0, 0, 2, 2), box(1, 0, 3, 2), box(10, 10, 12, 12)]; // iou(0,1) = 1/3
    const scores = [0.9, 0.8, 0.7];
    assert.deepEqual(nms(boxes, scores, 0.3), [0, 2]);
    assert.deepEqual(nms(boxes, scores, 1 / 3), [0, 1, 2]); // not strictly greater: kept
    assert.deepEqual(nms(boxes, [0.7, 0.8, 0.9], 0.3), [2, 1]);
  });

  it('is stable: equal scores keep input order', () => {
    const boxes = [box(0, 0, 2, 2), box(0, 0, 2, 2), box(5, 5, 6, 6), box(5, 5, 6, 6)];
    assert.deepEqual(nms(boxes, [0.5, 0.5, 0.5, 0.5], 0.5), [0, 2]);
  });

  it('on random boxes: kept boxes overlap <= t, each dropped box overlaps a better kept one > t', () => {
    const r = rng(7);
    for (let trial = 0; trial < 20; trial++) {
      const boxes = Array.from({ length: 40 }, () => {
        const x = r() * 50;
        const y = r() * 50;
        return box(x, y, x + 5 + r() * 20, y + 5 + r() * 20);
      });
      const scores = boxes.map(() => Math.round(r() * 10) / 10); // ties on purpose
      const t = 0.2 + 0.6 * r();
      const keep = nms(boxes, scores, t);
      for (let i = 1; i < keep.length; i++) assert.ok(scores[keep[i - 1]] >= scores[keep[i]]);
      for (const a of keep) for (const b of keep) if (a !== b) assert.ok(iou(boxes[a], boxes[b]) <= t);
      for (let i = 0; i < boxes.length; i++) {
        if (keep.includes(i)) continue;
        assert.ok(
          keep.some((k) => scores[k] >= scores[i] && iou(boxes[k], boxes[i]) > t),
          `box ${i} dropped without a reason`,
        );
      }
    }
  });

  it('rejects mismatched inputs', () => {
    assert.throws(() => nms([box(0, 0, 1, 1)], [], 0.5), /1 boxes but 0 scores/);
  });
});

describe('letterbox', () => {
  it('matches InsightFace SCRFD.detect sizes: int(640 / ratio) on the short side', () => {
    const g = letterboxGeometry(4912, 7360, 640, 640);
    assert.deepEqual([g.contentWidth, g.contentHeight], [427, 640]); // int(640 / (7360/4912)) = 427
    const h = letterboxGeometry(819, 546, 640, 640);
    assert.deepEqual([h.contentWidth, h.contentHeight], [640, 426]);
    const up = letterboxGeometry(100, 50, 640, 640); // small images are scaled up
    assert.deepEqual([up.contentWidth, up.contentHeight], [640, 320]);
  });

  it('keeps the aspect ratio within a pixel and maps points back and forth exactly', () => {
    const r = rng(3);
    for (let i = 0; i < 200; i++) {
      const w = 1 + Math.floor(r() * 8000);
      const h = 1 + Math.floor(r() * 8000);
      const g = letterboxGeometry(w, h, 640, 480);
      assert.ok(g.contentWidth <= 640 && g.contentHeight <= 480);
      assert.ok(
        g.contentWidth === 640 || g.contentHeight === 480 || g.contentWidth === 1 || g.contentHeight === 1,
      );
      const s = Math.min(640 / w, 480 / h); // one scale for both axes, each side rounded down
      assert.ok(g.contentWidth <= Math.max(1, w * s + 1e-6) && g.contentWidth > w * s - 1);
      assert.ok(g.contentHeight <= Math.max(1, h * s + 1e-6) && g.contentHeight > h * s - 1);
      const p: [number, number] = [r() * w, r() * h];
      const q = toSource(g, toCanvas(g, p));
      assert.ok(Math.abs(q[0] - p[0]) < 1e-9 * w && Math.abs(q[1] - p[1]) < 1e-9 * h);
      // the image corners land on the content corners
      const c = toCanvas(g, [w, h]);
      assert.ok(Math.abs(c[0] - g.contentWidth) < 1e-9 && Math.abs(c[1] - g.contentHeight) < 1e-9);
      const b = boxToSource(g, box(0, 0, g.contentWidth, g.contentHeight));
      assert.ok(Math.abs(b.x2 - w) < 1e-9 * w && Math.abs(b.y2 - h) < 1e-9 * h);
    }
  });

  it('puts the resized image top-left and pads the rest with zeros', async () => {
    const img = rgbImage(4, 2, new Uint8Array(4 * 2 * 3).fill(200));
    const g = letterboxGeometry(4, 2, 8, 8);
    const out = await letterbox(img, g);
    assert.deepEqual([out.width, out.height], [8, 8]);
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) {
        const v = out.data[(y * 8 + x) * 3];
        if (y < 4) assert.equal(v, 200, `content pixel ${x},${y}`);
        else assert.equal(v, 0, `padding pixel ${x},${y}`);
      }
  });
});

describe('blob', () => {
  it('makes planar NCHW with the channel order, mean and scale asked for', () => {
    const img = rgbImage(2, 1, Uint8Array.from([10, 20, 30, 40, 50, 60]));
    assert.deepEqual([...toBlob(img, { order: 'rgb', mean: [0, 0, 0], scale: 1 })], [10, 40, 20, 50, 30, 60]);
    assert.deepEqual([...toBlob(img, { order: 'bgr', mean: [0, 0, 0], scale: 1 })], [30, 60, 20, 50, 10, 40]);
    const scrfd = toBlob(img, { order: 'rgb', mean: [127.5, 127.5, 127.5], scale: 1 / 128 });
    assert.equal(scrfd[0], (10 - 127.5) / 128);
    const retina = toBlob(img, { order: 'bgr', mean: [104, 117, 123], scale: 1 });
    assert.deepEqual([...retina], [30 - 104, 60 - 104, 20 - 117, 50 - 117, 10 - 123, 40 - 123]);
  });
});

describe('retinaPriors', () => {
  it('has the 16800 priors of a 640x640 input in prior_box.py order', () => {
    const p = retinaPriors(640, 640);
    assert.equal(p.length / 4, 80 * 80 * 2 + 40 * 40 * 2 + 20 * 20 * 2);
    assert.deepEqual([...p.subarray(0, 8)], [4, 4, 16, 16, 4, 4, 32, 32]); // cell (0,0): both sizes
    assert.deepEqual([...p.subarray(8, 12)], [12, 4, 16, 16]); // then along the row
    assert.deepEqual([...p.subarray(80 * 2 * 4, 80 * 2 * 4 + 4)], [4, 12, 16, 16]); // next row
    assert.deepEqual([...p.subarray(12800 * 4, 12800 * 4 + 4)], [8, 8, 64, 64]); // stride 16 starts
    assert.deepEqual([...p.subarray(16800 * 4 - 4)], [624, 624, 512, 512]);
  });
});

describe('post-processing', () => {
  const img = { width: 100, height: 100 };
  const defaults = { scoreThreshold: 0.5, nmsIou: 0.4 };
  const faces = [
    face(box(0, 0, 40, 40), 0.9), // large, off-centre
    face(box(45, 45, 60, 60), 0.8), // small, centred
    face(box(1, 1, 41, 41), 0.85), // duplicate of the first
    face(box(80, 80, 90, 90), 0.4), // below threshold
    face(box(70, 10, 75, 15), 0.7), // tiny
  ];

  it('filters by score, suppresses duplicates and sorts by score', () => {
    const out = finalizeFaces(faces, img, resolveOptions({}, defaults));
    assert.deepEqual(
      out.map((f) => f.score),
      [0.9, 0.8, 0.7],
    );
    const all = finalizeFaces(faces, img, resolveOptions({ scoreThreshold: 0, nmsIou: 1 }, defaults));
    assert.equal(all.length, 5);
  });

  it('drops faces smaller than minFaceSize on the shorter side', () => {
    const out = finalizeFaces(faces, img, resolveOptions({ minFaceSize: 10 }, defaults));
    assert.deepEqual(
      out.map((f) => f.score),
      [0.9, 0.8],
    );
  });

  it("keep 'largest' takes the largest box, 'center' trades area for centrality as InsightFace", () => {
    const largest = finalizeFaces(faces, img, resolveOptions({ keep: 'largest' }, defaults));
    assert.deepEqual(largest, [faces[0]]);
    // area - 2 d^2: first 1600 - 2 * (30^2 + 30^2) = -2000; second 225 - 2 * (2.5^2 * 2) = 200
    const center = finalizeFaces(faces, img, resolveOptions({ keep: 'center' }, defaults));
    assert.deepEqual(center, [faces[1]]);
    const top2 = finalizeFaces(faces, img, resolveOptions({ maxFaces: 2 }, defaults));
    assert.deepEqual(top2, [faces[0], faces[1]]);
  });

  it('rejects bad options, naming them', () => {
    assert.throws(() => resolveOptions({ scoreThreshold: 1.5 }, defaults), /scoreThreshold: 1.5/);
    assert.throws(() => resolveOptions({ nmsIou: NaN }, defaults), /nmsIou/);
    assert.throws(() => resolveOptions({ minFaceSize: -1 }, defaults), /minFaceSize/);
    assert.throws(() => resolveOptions({ maxFaces: 0 }, defaults), /maxFaces/);
    assert.throws(() => resolveOptions({ keep: 'biggest' as never }, defaults), /keep: "biggest"/);
  });
});

describe('detector specs', () => {
  it('parses KIND[:PATH], defaulting to faceapi', () => {
    assert.deepEqual(parseDetectorSpec(''), { kind: 'faceapi' });
    assert.deepEqual(parseDetectorSpec('faceapi'), { kind: 'faceapi' });
    assert.deepEqual(parseDetectorSpec('scrfd'), { kind: 'scrfd' });
    assert.deepEqual(parseDetectorSpec('SCRFD:/m/det_10g.onnx'), { kind: 'scrfd', path: '/m/det_10g.onnx' });
    assert.deepEqual(parseDetectorSpec('yunet:C:\\models\\y.onnx'), {
      kind: 'yunet',
      path: 'C:\\models\\y.onnx',
    });
  });

  it('rejects unknown kinds and a path for faceapi, and ONNX kinds without a path', async () => {
    assert.throws(
      () => parseDetectorSpec('mtcnn:x.onnx'),
      /unknown kind "mtcnn".*faceapi, yunet, scrfd, retinaface/,
    );
    assert.throws(() => parseDetectorSpec('faceapi:/x'), /takes no path/);
    await assert.rejects(createDetector('retinaface'), /retinaface: the path of its ONNX model is required/);
  });
});

describe('point matching', () => {
  it('pairs one-to-one by distance to the nose landmark; leftovers are misses and false positives', () => {
    const a = face(box(0, 0, 20, 20), 0.9); // nose (10, 10)
    const b = face(box(5, 0, 25, 20), 0.8); // nose (15, 10)
    const c = face(box(100, 100, 110, 110), 0.7);
    const m = matchToPoints(
      [a, b, c],
      [
        [14, 10],
        [9, 10],
        [50, 50],
      ],
    );
    assert.deepEqual(m.pairs, [
      [0, 1],
      [1, 0],
    ]);
    assert.deepEqual(m.missed, [2]);
    assert.deepEqual(m.unmatched, [2]);
    assert.equal(m.relNoseError[0], 1 / 20);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
  });

  it("reads CompreFace's annotations.py rows", () => {
    const text = "SAMPLE = [\n    Row('000_5.jpg', [(219, 105), (304,251)]),\n    Row('017_0.jpg', [])\n]";
    const m = parseNoseAnnotations(text);
    assert.deepEqual(m.get('000_5.jpg'), [
      [219, 105],
      [304, 251],
    ]);
    assert.deepEqual(m.get('017_0.jpg'), []);
  });
});
