/**
 * dlib's face chip against dlib 19.24 itself (test/fixtures/dlib_chip.json, made by
 * tools/reference/dlib_chip_reference.cpp from get_face_chip_details, get_mapping_to_chip,
 * map_det_to_chip, pyramid_down<2> and extract_image_chip), plus how alignFace chooses between the
 * ArcFace template and dlib's chip, and the errors for bad input.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { alignFace } from '../src/face/align.js';
import {
  DLIB_CHIP_INDICES,
  dlibChip,
  dlibChipGeometry,
  dlibChipMatrix,
  dlibChipPoints,
  dlibTemplate5,
  pyramidDown2,
} from '../src/face/dlib_chip.js';
import { ARCFACE_TEMPLATE } from '../src/face/template.js';
import type { Face, Landmarks5, Point } from '../src/face/types.js';
import { applyAffine } from '../src/face/umeyama.js';
import { rgbImage, type RgbImage } from '../src/image/types.js';
import { warpAffine } from '../src/image/warp.js';
import { relErr } from './helpers.js';
import { expectBadInput } from './helpers.js';

type Pt = [number, number];
interface SetCase {
  name: string;
  size: number;
  padding: number;
  points: Pt[];
  rect: [number, number, number, number];
  angle: number;
  matrix: number[];
  mapped?: Pt[];
}
interface ChipCase {
  name: string;
  size: number;
  padding: number;
  landmarks: Pt[];
  matrix: number[];
  width: number;
  height: number;
  data: string;
}
const fx = JSON.parse(readFileSync(new URL('./fixtures/dlib_chip.json', import.meta.url), 'utf8')) as {
  meanFace: { x: number[]; y: number[] };
  templates: { size: number; padding: number; mapped: Pt[] }[];
  sets68: SetCase[];
  sets5: SetCase[];
  image: { width: number; height: number; fnv1a: number };
  pyramid: {
    window: [number, number, number, number];
    levels: { width: number; height: number; data: string }[];
  };
  chips: ChipCase[];
};

/** Inverse of the fixture's packing: base64, inflate, then undo "each byte minus the byte 3 before". */
function unpack(b64: string): Uint8Array {
  const bytes = new Uint8Array(inflateSync(Buffer.from(b64, 'base64')));
  for (let i = 3; i < bytes.length; i++) bytes[i] = (bytes[i] + bytes[i - 3]) & 255;
  return bytes;
}

/** The reference program's test image, from the same integer formula. */
function pattern(w: number, h: number): RgbImage {
  const img = rgbImage(w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const noise = (Math.imul(x, 73856093) ^ Math.imul(y, 19349663)) >>> 30;
      let tri = (x + 2 * y) % 64;
      tri = tri < 32 ? tri : 64 - tri;
      const check = ((Math.floor(x / 3) + Math.floor(y / 3)) & 1) * 40;
      const o = (y * w + x) * 3;
      img.data[o] = Math.floor((x * 239) / (w - 1)) + noise;
      img.data[o + 1] = Math.floor((y * 215) / (h - 1)) + check;
      img.data[o + 2] = 60 + tri * 4;
    }
  return img;
}

function fnv1a(bytes: Uint8Array): number {
  let h = 2166136261;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}

let image: RgbImage | undefined;
const testImage = (): RgbImage => (image ??= pattern(fx.image.width, fx.image.height));

/** Mean |a - b|, max |a - b| and mean (a - b) over all channel values. */
function diff(a: Uint8Array, b: Uint8Array): { mean: number; max: number; bias: number } {
  assert.equal(a.length, b.length);
  let sum = 0;
  let signed = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sum += Math.abs(d);
    signed += d;
    max = Math.max(max, Math.abs(d));
  }
  return { mean: sum / a.length, max, bias: signed / a.length };
}

const mean = (pts: readonly Pt[], ids: number[]): Pt => [
  ids.reduce((s, i) => s + pts[i][0], 0) / ids.length,
  ids.reduce((s, i) => s + pts[i][1], 0) / ids.length,
];
const fiveOf = (p: readonly Pt[]): Landmarks5 => [
  mean(p, [36, 37, 38, 39, 40, 41]),
  mean(p, [42, 43, 44, 45, 46, 47]),
  p[30],
  p[48],
  p[54],
];

describe('dlib chip geometry vs dlib', () => {
  test("the mean face numbers are dlib's (as parsed from its header by the reference program)", () => {
    assert.equal(DLIB_CHIP_INDICES.length, 33);
    // padding 0: (0 + m) / 1 * size, so size 1000 gives 1000 m.
    dlibChipPoints(1000, 0).forEach(([x, y], k) => {
      const i = DLIB_CHIP_INDICES[k];
      assert.ok(Math.abs(x / 1000 - fx.meanFace.x[i - 17]) < 1e-12, `point ${i} x`);
      assert.ok(Math.abs(y / 1000 - fx.meanFace.y[i - 17]) < 1e-12, `point ${i} y`);
    });
  });

  test("the 5-point template is where dlib maps its mean face's eye centres, nose and mouth corners (1e-6 px)", (t) => {
    let worst = 0;
    for (const c of fx.templates) {
      const expected = fiveOf(c.mapped);
      dlibTemplate5(c.size, c.padding).forEach((p, i) => {
        const d = Math.max(Math.abs(p[0] - expected[i][0]), Math.abs(p[1] - expected[i][1]));
        assert.ok(d < 1e-6, `size ${c.size} padding ${c.padding}, point ${i}: off by ${d}`);
        worst = Math.max(worst, d);
      });
    }
    // The numbers quoted in dlib_chip.ts for dlib's recogniser (150, 0.25).
    const quoted = [
      [47.23, 46.29],
      [99.81, 46.29],
      [73.52, 76.05],
      [50.08, 102.34],
      [96.96, 102.34],
    ];
    dlibTemplate5().forEach((p, i) => assert.ok(Math.hypot(p[0] - quoted[i][0], p[1] - quoted[i][1]) < 0.01));
    t.diagnostic(`${fx.templates.length} size/padding pairs: max |ours - dlib| ${worst.toExponential(2)} px`);
  });

  test('dlibChipMatrix equals get_mapping_to_chip(get_face_chip_details(...)) for 68 points (1e-6 relative)', (t) => {
    let worst = 0;
    for (const c of fx.sets68) {
      const g = dlibChipGeometry(c.points, c.size, c.padding);
      const e = relErr(g.matrix, c.matrix);
      assert.ok(e < 1e-6, `${c.name}: relative error ${e}`);
      assert.ok(relErr([g.rect.l, g.rect.t, g.rect.r, g.rect.b], c.rect) < 1e-9, `${c.name}: rect`);
      assert.ok(Math.abs(g.angle - c.angle) < 1e-9, `${c.name}: angle`);
      assert.deepEqual(dlibChipMatrix(c.points, c.size, c.padding), g.matrix);
      // map_det_to_chip rounds the mapped points to integers (floor(x + 0.5)).
      c.points.forEach((p, i) => {
        const q = applyAffine(g.matrix, p);
        assert.deepEqual(
          [Math.floor(q[0] + 0.5), Math.floor(q[1] + 0.5)],
          c.mapped![i],
          `${c.name} point ${i}`,
        );
      });
      worst = Math.max(worst, e);
    }
    t.diagnostic(`${fx.sets68.length} sets: max relative error ${worst.toExponential(2)}`);
  });

  test("for 5 points, equals dlib's chip_details fit of the same mean face's 5 points (1e-6 relative)", (t) => {
    let worst = 0;
    for (const c of fx.sets5) {
      const g = dlibChipGeometry(c.points, c.size, c.padding);
      const e = relErr(g.matrix, c.matrix);
      assert.ok(e < 1e-6, `${c.name}: relative error ${e}`);
      assert.ok(relErr([g.rect.l, g.rect.t, g.rect.r, g.rect.b], c.rect) < 1e-9, `${c.name}: rect`);
      worst = Math.max(worst, e);
    }
    t.diagnostic(`${fx.sets5.length} sets: max relative error ${worst.toExponential(2)}`);
  });

  test('only the 33 fitted points count: the jaw, brows and lower lip can be anywhere', () => {
    const base = fx.sets68[0];
    const moved = base.points.map((p) => [...p] as Pt);
    for (let i = 0; i < 68; i++) if (!DLIB_CHIP_INDICES.includes(i)) moved[i] = [i * 1000, -i * 77];
    assert.deepEqual(
      dlibChipMatrix(moved, base.size, base.padding),
      dlibChipMatrix(base.points, base.size, base.padding),
    );
  });
});

describe('dlib chip pixels vs dlib', () => {
  test('the test image is the reference program’s, byte for byte', () => {
    assert.equal(fnv1a(testImage().data), fx.image.fnv1a);
  });

  test('pyramid_down<2> is bit-exact', () => {
    const [l, t, r, b] = fx.pyramid.window;
    const one = pyramidDown2(testImage(), { l, t, r, b });
    assert.ok(one);
    const two = pyramidDown2(one);
    assert.ok(two);
    for (const [ours, ref] of [
      [one, fx.pyramid.levels[0]],
      [two, fx.pyramid.levels[1]],
    ] as const) {
      assert.equal(ours.width, ref.width);
      assert.equal(ours.height, ref.height);
      assert.deepEqual(ours.data, unpack(ref.data));
    }
    assert.equal(pyramidDown2(rgbImage(8, 100)), null, 'dlib gives an empty image at 8 pixels or fewer');
  });

  test('chips are within 2 grey levels of extract_image_chip, about half a level on average', (t) => {
    // dlib samples in double and truncates; warpAffine uses 1/32-pixel weights and rounds. So most
    // values are equal or one higher here (mean |diff| about 0.4, bias about +0.4), and a few differ
    // by 2 where the 1/32-pixel quantisation meets a sharp edge of the pattern.
    const rows: string[] = [];
    for (const c of fx.chips) {
      const out = dlibChip(testImage(), c.landmarks, c.size, c.padding);
      assert.equal(out.image.width, c.width);
      assert.equal(out.image.height, c.height);
      assert.ok(relErr(out.matrix, c.matrix) < 1e-9, `${c.name}: matrix`);
      const m = /^(?:five-)?pyramid(\d)?/.exec(c.name);
      if (m?.[1]) assert.equal(out.level, Number(m[1]), `${c.name}: pyramid level`);
      if (c.name === 'mild' || c.name === 'upscale') assert.equal(out.level, 0);
      const d = diff(out.image.data, unpack(c.data));
      assert.ok(d.max <= 2, `${c.name}: max |diff| ${d.max}`);
      assert.ok(d.mean <= 0.6, `${c.name}: mean |diff| ${d.mean}`);
      rows.push(
        `${c.name} (level ${out.level}): mean ${d.mean.toFixed(3)}, bias ${d.bias.toFixed(3)}, max ${d.max}`,
      );
    }
    t.diagnostic(rows.join('; '));
  });

  test('without the pyramid a large downscale aliases: a plain warp is far from dlib', (t) => {
    const c = fx.chips.find((x) => x.name === 'pyramid3')!;
    const plain = warpAffine(testImage(), dlibChipMatrix(c.landmarks, c.size, c.padding), c.size, c.size);
    const ref = unpack(c.data);
    const withPyramid = diff(dlibChip(testImage(), c.landmarks, c.size, c.padding).image.data, ref).mean;
    const withoutPyramid = diff(plain.data, ref).mean;
    assert.ok(withoutPyramid > 5 * withPyramid, `${withoutPyramid} vs ${withPyramid}`);
    t.diagnostic(
      `pyramid3: mean |diff| ${withPyramid.toFixed(3)} with the pyramid, ${withoutPyramid.toFixed(3)} without`,
    );
  });

  test('a face wholly outside the image gives a black chip', () => {
    const c = fx.chips[0];
    const far = c.landmarks.map(([x, y]) => [x + 1e5, y] as Pt);
    assert.ok(dlibChip(testImage(), far, 150, 0.25).image.data.every((v) => v === 0));
  });
});

describe('alignFace: ArcFace or dlib', () => {
  const img = pattern(320, 240);
  const set = fx.sets68.find((s) => s.size === 150 && s.padding === 0.25)!;
  // The first 68-point set, scaled into the small image.
  const pts68 = (() => {
    const xs = set.points.map((p) => p[0]);
    const ys = set.points.map((p) => p[1]);
    const x0 = Math.min(...xs);
    const y0 = Math.min(...ys);
    const s = 150 / Math.max(Math.max(...xs) - x0, Math.max(...ys) - y0);
    return set.points.map(([x, y]) => [(x - x0) * s + 80, (y - y0) * s + 40] as Pt);
  })();
  const face: Face = {
    box: { x1: 80, y1: 40, x2: 230, y2: 190 },
    score: 0.9,
    landmarks: fiveOf(pts68),
    landmarks68: pts68,
  };
  const dlib = { template: 'dlib', padding: 0.25 } as const;

  test('the ArcFace path is unchanged: a Face, its 5 landmarks and {template: "arcface"} give the same crop', () => {
    const base = alignFace(img, face.landmarks);
    for (const again of [
      alignFace(img, face),
      alignFace(img, face.landmarks, { alignment: { template: 'arcface' } }),
      alignFace(img, { ...face, landmarks68: undefined }, { alignment: { template: 'arcface' }, size: 112 }),
    ]) {
      assert.deepEqual(again.matrix, base.matrix);
      assert.deepEqual(again.image, base.image);
    }
    assert.equal(base.image.width, 112);
    const placed = base.matrix;
    face.landmarks.forEach((p, i) => {
      const q = applyAffine(placed, p);
      assert.ok(Math.hypot(q[0] - ARCFACE_TEMPLATE[i][0], q[1] - ARCFACE_TEMPLATE[i][1]) < 10);
    });
  });

  test("dlib: a Face's 68 points when it has them, else its 5; 150x150 by default", () => {
    const from68 = alignFace(img, face, { alignment: dlib });
    assert.equal(from68.image.width, 150);
    assert.deepEqual(from68.matrix, dlibChipMatrix(pts68));
    assert.deepEqual(from68.image, dlibChip(img, pts68).image);
    assert.deepEqual(alignFace(img, pts68, { alignment: dlib }).image, from68.image);
    const from5 = alignFace(img, { ...face, landmarks68: undefined }, { alignment: dlib });
    assert.deepEqual(from5.matrix, dlibChipMatrix(face.landmarks));
    assert.deepEqual(alignFace(img, face.landmarks, { alignment: dlib }).image, from5.image);
    const big = alignFace(img, face, { alignment: { template: 'dlib', padding: 0.5 }, size: 200 });
    assert.equal(big.image.width, 200);
    assert.deepEqual(big.matrix, dlibChipMatrix(pts68, 200, 0.5));
    assert.equal(alignFace(img, face, { alignment: dlib, width: 160, height: 160 }).image.height, 160);
  });

  test('from 5 points the chip is close to the one from 68: the eyes land on the template', () => {
    const m = dlibChipMatrix(face.landmarks);
    const m68 = dlibChipMatrix(pts68);
    const template = dlibTemplate5();
    face.landmarks.forEach((p, i) => {
      const a = applyAffine(m, p);
      const b = applyAffine(m68, p);
      assert.ok(Math.hypot(a[0] - b[0], a[1] - b[1]) < 3, `point ${i}: 5-point and 68-point chips disagree`);
      assert.ok(
        Math.hypot(a[0] - template[i][0], a[1] - template[i][1]) < 5,
        `point ${i}: far from the template`,
      );
    });
  });
});

describe('dlib chip: bad input', () => {
  const img = pattern(64, 64);
  const good = fx.sets68[0].points;
  const dlib = { template: 'dlib', padding: 0.25 } as const;

  test('wrong landmark counts', () => {
    for (const n of [0, 4, 6, 67, 69])
      expectBadInput(
        () => dlibChipMatrix([...good, ...good].slice(0, n)),
        new RegExp(`expected 68 iBUG landmarks or 5 .*got ${n}$`),
      );
    expectBadInput(() => alignFace(img, good.slice(0, 30), { alignment: dlib }), /got 30/);
    expectBadInput(() => dlibChipMatrix(undefined as unknown as Point[]), /got undefined/);
    // ArcFace still wants exactly 5.
    expectBadInput(() => alignFace(img, good), /expected 5 landmarks/);
  });

  test('non-finite landmarks name the point', () => {
    const bad = good.map((p) => [...p] as Pt);
    bad[40] = [NaN, 3];
    expectBadInput(() => dlibChipMatrix(bad), /landmark 40 of 68 is \(NaN, 3\)/);
    const five: Pt[] = ARCFACE_TEMPLATE.map((p) => [...p] as Pt);
    five[4] = [1, Infinity];
    expectBadInput(() => alignFace(img, five, { alignment: dlib }), /landmark 4 of 5 is \(1, Infinity\)/);
  });

  test('bad padding, size, shape or template', () => {
    for (const padding of [-0.1, NaN, Infinity])
      expectBadInput(() => dlibChipMatrix(good, 150, padding), /padding must be a finite number >= 0/);
    expectBadInput(
      () => alignFace(img, good, { alignment: { template: 'dlib', padding: -1 } }),
      /padding must be a finite number >= 0 .*got -1/,
    );
    for (const size of [0, 1, 150.5])
      expectBadInput(() => dlibChipMatrix(good, size), /size must be an integer of at least 2/);
    expectBadInput(() => dlibTemplate5(150, -1), /dlibTemplate5: padding/);
    expectBadInput(() => dlibChipPoints(1), /dlibChipPoints: size/);
    expectBadInput(
      () => alignFace(img, good, { alignment: dlib, width: 150, height: 120 }),
      /dlib chips are square/,
    );
    expectBadInput(
      () => alignFace(img, good, { alignment: dlib, size: 150, width: 112 }),
      /dlib chips are square/,
    );
    expectBadInput(
      () => alignFace(img, ARCFACE_TEMPLATE, { alignment: { template: 'insight' } as never }),
      /unknown alignment template "insight"/,
    );
  });

  test('coincident or vanishing faces', () => {
    const same = Array.from({ length: 68 }, () => [10, 10] as Pt);
    expectBadInput(() => dlibChipMatrix(same), /coincide/);
    // Distinct but 1e-3 px apart: the whole chip would cover less than a pixel.
    const tiny = good.map(([x, y]) => [x * 1e-6, y * 1e-6] as Pt);
    expectBadInput(() => dlibChipMatrix(tiny), /too small/);
  });
});
