/**
 * 5-point alignment against skimage's SimilarityTransform and cv2.warpAffine / cv2.resize
 * (test/fixtures/align.json, made by tools/reference/align_reference.py), plus the properties a
 * least-squares similarity and a bilinear warp must have, and the errors for bad input.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { alignFace, centerCrop } from '../src/face/align.js';
import { ARCFACE_TEMPLATE, alignmentTemplate } from '../src/face/template.js';
import type { Landmarks5, Point } from '../src/face/types.js';
import { applyAffine, estimateSimilarity, invertAffine, type Affine } from '../src/face/umeyama.js';
import { rgbImage, type RgbImage } from '../src/image/types.js';
import { warpAffine } from '../src/image/warp.js';
import { rng } from '../src/util/random.js';
import { expectBadInput } from './helpers.js';

const fx = JSON.parse(readFileSync(new URL('./fixtures/align.json', import.meta.url), 'utf8'));

/** Inverse of the fixture's packing: base64, inflate, then undo "each byte minus the byte 3 before". */
function unpack(b64: string): Uint8Array {
  const bytes = new Uint8Array(inflateSync(Buffer.from(b64, 'base64')));
  for (let i = 3; i < bytes.length; i++) bytes[i] = (bytes[i] + bytes[i - 3]) & 255;
  return bytes;
}

const images: Record<string, RgbImage> = Object.fromEntries(
  Object.entries(fx.images as Record<string, { width: number; height: number; data: string }>).map(
    ([k, v]) => [k, rgbImage(v.width, v.height, unpack(v.data))],
  ),
);

function pixelDiff(a: Uint8Array, b: Uint8Array): { max: number; ones: number } {
  assert.equal(a.length, b.length);
  let max = 0;
  let ones = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    if (d === 1) ones++;
  }
  return { max, ones };
}

function assertAffineClose(actual: Affine, expected: readonly number[], tol: number, what: string): void {
  for (let i = 0; i < 6; i++)
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `${what}: entry ${i} is ${actual[i]}, expected ${expected[i]} (tolerance ${tol})`,
    );
}

/** The similarity with scale s, angle a (radians) and shift (tx, ty). */
function similarity(s: number, a: number, tx: number, ty: number): Affine {
  return [s * Math.cos(a), -s * Math.sin(a), tx, s * Math.sin(a), s * Math.cos(a), ty];
}

/** m ∘ n: apply n, then m. */
function compose(m: Affine, n: Affine): Affine {
  return [
    m[0] * n[0] + m[1] * n[3],
    m[0] * n[1] + m[1] * n[4],
    m[0] * n[2] + m[1] * n[5] + m[2],
    m[3] * n[0] + m[4] * n[3],
    m[3] * n[1] + m[4] * n[4],
    m[3] * n[2] + m[4] * n[5] + m[5],
  ];
}

const mapAll = (m: Affine, pts: readonly Point[]): Point[] => pts.map((p) => applyAffine(m, p));

describe('alignment vs skimage and OpenCV', () => {
  test('estimateSimilarity matches skimage SimilarityTransform to 1e-6', () => {
    for (const c of fx.similarity) {
      const m = estimateSimilarity(c.src, c.dst);
      assertAffineClose(m, c.matrix, 1e-6, c.name);
    }
  });

  test('templates match InsightFace estimate_norm sizes', () => {
    for (const c of fx.templates) {
      const t = alignmentTemplate({ width: c.width, height: c.height });
      assert.equal(t.width, c.width);
      assert.equal(t.height, c.height);
      t.points.forEach((p, i) => {
        assert.ok(Math.abs(p[0] - c.points[i][0]) < 1e-9 && Math.abs(p[1] - c.points[i][1]) < 1e-9);
      });
    }
    assert.deepEqual(alignmentTemplate().points, ARCFACE_TEMPLATE);
    assert.deepEqual(alignmentTemplate(224), alignmentTemplate({ width: 224, height: 224 }));
    assert.deepEqual(alignmentTemplate({ width: 96, height: 112 }).points[0], [38.2946 - 8, 51.6963]);
  });

  test('warpAffine is within 1 grey level of cv2.warpAffine (smooth, sharp-edged and noise images)', (t) => {
    let max = 0;
    let ones = 0;
    let pixels = 0;
    for (const c of fx.warps) {
      const out = warpAffine(images[c.image], c.matrix, c.width, c.height);
      assert.equal(out.width, c.width);
      assert.equal(out.height, c.height);
      const d = pixelDiff(out.data, unpack(c.expected));
      assert.ok(d.max <= 1, `${c.name}: max difference ${d.max} grey levels`);
      max = Math.max(max, d.max);
      ones += d.ones;
      pixels += out.data.length;
    }
    t.diagnostic(
      `${fx.warps.length} warps, ${pixels} channel values: max |diff| ${max}, ${ones} differ by 1`,
    );
  });

  test('centerCrop is within 1 grey level of cv2.resize of the centred square', (t) => {
    let max = 0;
    for (const c of fx.centerCrops) {
      const out = centerCrop(images[c.image], c.size);
      const d = pixelDiff(out.data, unpack(c.expected));
      assert.ok(d.max <= 1, `${c.image} -> ${c.size}: max difference ${d.max}`);
      max = Math.max(max, d.max);
    }
    t.diagnostic(`centre crops: max |diff| ${max}`);
  });
});

describe('similarity: properties', () => {
  const random = rng(112);
  const cloud = (n: number, spread: number): Point[] =>
    Array.from({ length: n }, () => [(random() - 0.5) * spread, (random() - 0.5) * spread] as Point);

  test('recovers a known similarity exactly, from 2 to 9 points, tiny to huge scales', () => {
    for (const [s, n, spread] of [
      [0.01, 2, 10],
      [0.7, 3, 100],
      [3.5, 5, 1000],
      [80, 9, 40000],
    ]) {
      const truth = similarity(s, random() * 6 - 3, random() * 500, -random() * 500);
      const src = cloud(n, spread);
      const m = estimateSimilarity(src, mapAll(truth, src));
      assertAffineClose(m, truth, 1e-9 * Math.max(1, s * spread), `scale ${s}, ${n} points`);
    }
  });

  test('the template maps to itself by the identity', () => {
    assertAffineClose(
      estimateSimilarity(ARCFACE_TEMPLATE, ARCFACE_TEMPLATE),
      [1, 0, 0, 0, 1, 0],
      1e-12,
      'identity',
    );
  });

  test('never reflects, even for a mirrored face, and is the best rotation for it', () => {
    const mirrored = ARCFACE_TEMPLATE.map(([x, y]) => [112 - x, y] as Point);
    const m = estimateSimilarity(mirrored, ARCFACE_TEMPLATE);
    assert.ok(m[0] * m[4] - m[1] * m[3] > 0, 'determinant must be positive');
    assert.ok(Math.abs(m[0] - m[4]) < 1e-12 && Math.abs(m[1] + m[3]) < 1e-12, 'a scaled rotation');
    // No rotation of the mirrored points fits better: try a fine grid of angles and scales.
    const cost = (mm: Affine): number =>
      mapAll(mm, mirrored).reduce(
        (acc, p, i) => acc + (p[0] - ARCFACE_TEMPLATE[i][0]) ** 2 + (p[1] - ARCFACE_TEMPLATE[i][1]) ** 2,
        0,
      );
    const best = cost(m);
    for (let a = -Math.PI; a < Math.PI; a += 0.05)
      for (const s of [0.5, 0.8, 1, 1.2]) {
        const r = similarity(s, a, 0, 0);
        const c = mapAll(r, mirrored);
        // Best translation for this rotation: match the centroids.
        const tx = ARCFACE_TEMPLATE.reduce((acc, p, i) => acc + p[0] - c[i][0], 0) / 5;
        const ty = ARCFACE_TEMPLATE.reduce((acc, p, i) => acc + p[1] - c[i][1], 0) / 5;
        assert.ok(cost([r[0], r[1], tx, r[3], r[4], ty]) >= best - 1e-9);
      }
  });

  test('moving the landmarks by a similarity moves the estimate by its inverse', () => {
    const src = ARCFACE_TEMPLATE.map(
      ([x, y]) => [x * 3.1 + 200 + random() * 4, y * 3.1 + 150 + random() * 4] as Point,
    );
    const base = estimateSimilarity(src, ARCFACE_TEMPLATE);
    for (const g of [
      similarity(0.25, 1.1, 30, -12),
      similarity(7, -2.5, -900, 3000),
      similarity(1, Math.PI, 0, 0),
    ]) {
      const moved = estimateSimilarity(mapAll(g, src), ARCFACE_TEMPLATE);
      assertAffineClose(moved, compose(base, invertAffine(g)), 1e-9, 'equivariance');
    }
  });

  test('invertAffine and applyAffine round-trip', () => {
    const m: Affine = [0.3, -1.7, 42, 2.2, 0.9, -7];
    const p: Point = [12.5, -3];
    const back = applyAffine(invertAffine(m), applyAffine(m, p));
    assert.ok(Math.abs(back[0] - p[0]) < 1e-12 && Math.abs(back[1] - p[1]) < 1e-12);
    assertAffineClose(compose(m, invertAffine(m)), [1, 0, 0, 0, 1, 0], 1e-12, 'm ∘ m⁻¹');
  });
});

describe('warp and align: properties', () => {
  const noise = images.noise;

  test('identity, integer shifts and 90° turns move pixels exactly', () => {
    assert.deepEqual(warpAffine(noise, [1, 0, 0, 0, 1, 0], noise.width, noise.height).data, noise.data);
    const shifted = warpAffine(noise, [1, 0, -5, 0, 1, -7], 20, 10);
    const turned = warpAffine(noise, [0, -1, noise.height - 1, 1, 0, 0], noise.height, noise.width);
    for (let y = 0; y < 10; y++)
      for (let x = 0; x < 20; x++)
        for (let k = 0; k < 3; k++)
          assert.equal(
            shifted.data[(y * 20 + x) * 3 + k],
            noise.data[((y + 7) * noise.width + x + 5) * 3 + k],
          );
    // dst (x', y') = (h - 1 - y, x)  <=>  src (x, y) = (y', h - 1 - x')
    for (let y = 0; y < turned.height; y++)
      for (let x = 0; x < turned.width; x++)
        for (let k = 0; k < 3; k++)
          assert.equal(
            turned.data[(y * turned.width + x) * 3 + k],
            noise.data[((noise.height - 1 - x) * noise.width + y) * 3 + k],
          );
  });

  test('outside the source is black, and a half-pixel shift averages neighbours', () => {
    const out = warpAffine(noise, [1, 0, 500, 0, 1, 0], 30, 30);
    assert.ok(out.data.every((v) => v === 0));
    // 2^22 px away: 2^22 * 1024 is 2^32, which int32 arithmetic would wrap round to pixel 0.
    assert.ok(warpAffine(noise, [1, 0, -(2 ** 22), 0, 1, 0], 30, 30).data.every((v) => v === 0));
    // A 1e-7 scale: output pixel (0, 0) is source pixel (0, 0), every other one is far outside.
    const far = warpAffine(noise, [1e-7, 0, 0, 0, 1e-7, 0], 3, 3);
    assert.deepEqual([...far.data.subarray(0, 3)], [...noise.data.subarray(0, 3)]);
    assert.ok(far.data.subarray(3).every((v) => v === 0));
    const grey = rgbImage(2, 1, Uint8Array.from([0, 0, 0, 200, 100, 51]));
    const mid = warpAffine(grey, [1, 0, -0.5, 0, 1, 0], 1, 1);
    // (0 + 51) / 2 = 25.5 rounds up in OpenCV's fixed point.
    assert.deepEqual([...mid.data], [100, 50, 26]);
    // The right-hand neighbour of the last column is outside: it counts as 0.
    const edge = warpAffine(grey, [1, 0, -1.5, 0, 1, 0], 1, 1);
    assert.deepEqual([...edge.data], [100, 50, 26]);
  });

  test('alignFace puts the landmarks on the template', () => {
    const placed = similarity(0.45, 0.3, 20, 5);
    const landmarks = mapAll(placed, ARCFACE_TEMPLATE) as Landmarks5;
    for (const opts of [{}, { size: 224 }, { size: 128 }, { width: 96, height: 112 }]) {
      const { image, matrix } = alignFace(images.checker, landmarks, opts);
      const template = alignmentTemplate(opts.size ?? { width: opts.width, height: opts.height });
      assert.equal(image.width, template.width);
      assert.equal(image.height, template.height);
      mapAll(matrix, landmarks).forEach((p, i) => {
        assert.ok(Math.hypot(p[0] - template.points[i][0], p[1] - template.points[i][1]) < 1e-9);
      });
      assert.deepEqual(image.data, warpAffine(images.checker, matrix, template.width, template.height).data);
    }
  });

  test('centerCrop keeps the centred square of a wide image', () => {
    // 6x2 image whose two middle columns are white: their square becomes all white.
    const data = new Uint8Array(6 * 2 * 3);
    for (const y of [0, 1]) for (const x of [2, 3]) data.fill(255, (y * 6 + x) * 3, (y * 6 + x) * 3 + 3);
    assert.ok(centerCrop(rgbImage(6, 2, data), 8).data.every((v) => v === 255));
    const tall = centerCrop(rgbImage(2, 6, data), 2);
    assert.equal(tall.width, 2);
  });
});

describe('alignment: bad input', () => {
  const good = ARCFACE_TEMPLATE.map((p) => [...p] as Point) as Landmarks5;

  test('non-finite landmarks name the point', () => {
    const bad = good.map((p) => [...p]) as Landmarks5;
    bad[2] = [NaN, 70];
    expectBadInput(() => alignFace(images.gradient, bad), /landmark 2 \(nose\) is \(NaN, 70\)/);
    expectBadInput(() => estimateSimilarity(bad, ARCFACE_TEMPLATE), /source point 2 is \(NaN, 70\)/);
    expectBadInput(
      () =>
        estimateSimilarity(ARCFACE_TEMPLATE, [
          [0, 0],
          [1, Infinity],
          [2, 2],
          [3, 3],
          [4, 4],
        ]),
      /destination point 1/,
    );
    expectBadInput(
      () => alignFace(images.gradient, good.slice(0, 4) as unknown as Landmarks5),
      /expected 5 landmarks, got 4|got 4/,
    );
  });

  test('fewer than 2 points, mismatched counts, coincident points', () => {
    expectBadInput(() => estimateSimilarity([[1, 2]], [[3, 4]]), /at least 2 point pairs, got 1/);
    expectBadInput(() => estimateSimilarity([], []), /at least 2 point pairs, got 0/);
    expectBadInput(
      () =>
        estimateSimilarity(
          [
            [1, 2],
            [3, 4],
          ],
          [[0, 0]],
        ),
      /2 source points but 1 destination/,
    );
    const same = Array.from({ length: 5 }, () => [1234.5, 987.25] as Point) as Landmarks5;
    expectBadInput(() => estimateSimilarity(same, ARCFACE_TEMPLATE), /all coincide at \(1234.5, 987.25\)/);
    expectBadInput(() => alignFace(images.gradient, same), /coincide/);
  });

  test('zero or unsupported output sizes, singular matrices', () => {
    expectBadInput(() => warpAffine(images.gradient, [1, 0, 0, 0, 1, 0], 0, 112), /output size .* 0x112/);
    expectBadInput(() => warpAffine(images.gradient, [1, 0, 0, 0, 1, 0], 112, 1.5), /output size/);
    expectBadInput(() => warpAffine(images.gradient, [1, 2, 0, 2, 4, 0], 112, 112), /singular/);
    expectBadInput(() => warpAffine(images.gradient, [1, 0, NaN, 0, 1, 0], 112, 112), /finite/);
    expectBadInput(() => alignFace(images.gradient, good, { size: 0 }), /positive integer, got 0/);
    expectBadInput(
      () => alignFace(images.gradient, good, { size: 100 }),
      /100x100 crop is not a multiple of 112 or 128/,
    );
    expectBadInput(
      () => alignFace(images.gradient, good, { width: 112, height: 96 }),
      /no template for 112x96/,
    );
    expectBadInput(() => alignFace(images.gradient, good, { size: 112, width: 96 }), /conflicts/);
    expectBadInput(
      () => centerCrop(images.gradient, 0),
      /centerCrop: size must be a positive integer, got 0/,
    );
    expectBadInput(() => invertAffine([0, 0, 1, 0, 0, 1]), /singular/);
  });
});
