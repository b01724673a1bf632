/**
 * Face quality (src/face/quality.ts): the measures on inputs with known answers (a checkerboard and
 * its blurred copy, landmarks of a 3D face turned by a known yaw and pitch), then the enroll gate
 * through the service and the HTTP API on a real photo of ../shared and its blurred and shrunk copies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  canonicalCrop,
  combine,
  cropSharpness,
  DEFAULT_QUALITY_RAMPS,
  headPose,
  laplacianVariance,
  limitFor,
  NOSE_DEPTH,
  NOSE_DROP,
  qualityShortfall,
} from '../src/face/quality.js';
import { ARCFACE_TEMPLATE } from '../src/face/template.js';
import type { Landmarks5, Point } from '../src/face/types.js';
import { rgbImage, type RgbImage } from '../src/image/types.js';
import { arcface } from './cli_inproc.js';
import { buildServer } from '../src/server/index.js';
import { KeyStore, RecognitionService } from '../src/service/index.js';
import { ServiceError } from '../src/service/errors.js';
import { DEEPFACE, W600K, skipUnless } from './helpers.js';

function checkerboard(size: number, cell: number): RgbImage {
  const img = rgbImage(size, size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const v = (Math.floor(x / cell) + Math.floor(y / cell)) % 2 ? 220 : 30;
      img.data.fill(v, (y * size + x) * 3, (y * size + x) * 3 + 3);
    }
  return img;
}

/** A k x k box blur, edges clamped. */
function boxBlur(img: RgbImage, k: number): RgbImage {
  const out = rgbImage(img.width, img.height);
  const r = Math.floor(k / 2);
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let dy = -r; dy <= r; dy++)
          for (let dx = -r; dx <= r; dx++) {
            const xx = Math.min(img.width - 1, Math.max(0, x + dx));
            const yy = Math.min(img.height - 1, Math.max(0, y + dy));
            s += img.data[(yy * img.width + xx) * 3 + c]!;
          }
        out.data[(y * img.width + x) * 3 + c] = Math.round(s / (k * k));
      }
  return out;
}

test('sharpness: a checkerboard against its blurred copy, and crops of two sizes compare', () => {
  const sharpCrop = checkerboard(112, 4);
  const blurred = boxBlur(sharpCrop, 5);
  const s = cropSharpness(sharpCrop);
  const b = cropSharpness(blurred);
  // A 4-px checkerboard of contrast 190: the Laplacian is ±2·190 on a quarter of the pixels or so.
  assert.ok(s > 5000, `sharp ${s}`);
  assert.ok(b < s / 20, `blurred ${b} vs sharp ${s}`);
  // A flat image has no Laplacian at all.
  assert.equal(laplacianVariance(rgbImage(50, 50)), 0);
  // The same face as a 224 crop (each pixel doubled): re-warped onto the 112 template, the same value.
  const big = rgbImage(224, 224);
  for (let y = 0; y < 224; y++)
    for (let x = 0; x < 224; x++) {
      const o = ((y >> 1) * 112 + (x >> 1)) * 3;
      big.data.set(sharpCrop.data.subarray(o, o + 3), (y * 224 + x) * 3);
    }
  assert.equal(canonicalCrop(big).width, 112);
  assert.ok(Math.abs(cropSharpness(big) - s) / s < 0.01, `224: ${cropSharpness(big)} vs 112: ${s}`);
});

/**
 * The 5 points of the model face headPose assumes (units of half the eye distance, eyes at depth 0,
 * the nose NOSE_DEPTH in front), turned by yaw about the vertical axis then pitch about the
 * horizontal one, projected orthographically, scaled, rolled in the image plane and moved.
 */
function turned(yawDeg: number, pitchDeg: number, rollDeg = 0, scale = 30): Landmarks5 {
  const t = ARCFACE_TEMPLATE;
  const half = (t[1][0] - t[0][0]) / 2;
  const eyeY = (t[0][1] + t[1][1]) / 2;
  const mouth = ((t[3][1] + t[4][1]) / 2 - eyeY) / half;
  const mw = (t[4][0] - t[3][0]) / 2 / half;
  const pts: [number, number, number][] = [
    [-1, 0, 0],
    [1, 0, 0],
    [0, NOSE_DROP * mouth, NOSE_DEPTH],
    [-mw, mouth, 0],
    [mw, mouth, 0],
  ];
  const [a, b, c] = [yawDeg, pitchDeg, rollDeg].map((d) => (d * Math.PI) / 180) as [number, number, number];
  return pts.map(([x, y, z]) => {
    // yaw: + moves the nose (in front, +z) towards +x.
    const x1 = x * Math.cos(a) + z * Math.sin(a);
    const z1 = -x * Math.sin(a) + z * Math.cos(a);
    // pitch: + turns the face up (the nose, in front, moves up: -y).
    const y2 = y * Math.cos(b) - z1 * Math.sin(b);
    const [u, v] = [x1 * Math.cos(c) - y2 * Math.sin(c), x1 * Math.sin(c) + y2 * Math.cos(c)];
    return [200 + scale * u, 150 + scale * v] as Point;
  }) as Landmarks5;
}

test('pose: a known yaw, pitch and roll are read back; the ArcFace template has no yaw', () => {
  // Its pitch is not 0: NOSE_DROP is the default detector's frontal nose (face-api's point sits lower).
  const frontal = headPose(ARCFACE_TEMPLATE);
  assert.ok(Math.abs(frontal.yaw) < 1, JSON.stringify(frontal));
  for (const yaw of [-50, -30, -10, 0, 15, 40])
    for (const roll of [0, 25, -40]) {
      const p = headPose(turned(yaw, 0, roll));
      assert.ok(Math.abs(p.yaw - yaw) < 0.01, `yaw ${yaw} roll ${roll}: ${p.yaw}`);
      assert.ok(Math.abs(p.pitch) < 0.01, `pitch at yaw ${yaw}: ${p.pitch}`);
    }
  for (const pitch of [-30, -10, 20, 35]) {
    const p = headPose(turned(0, pitch, 10));
    assert.ok(Math.abs(p.pitch - pitch) < 0.01, `pitch ${pitch}: ${p.pitch}`);
    assert.ok(Math.abs(p.yaw) < 0.01);
  }
});

test('combined score: the weakest measure, and the shortfall names it with its limit', () => {
  const good = { interOcular: 80, sharpness: 800, yaw: 2, pitch: -3, detScore: 0.99 };
  assert.equal(combine(good).score, 1);
  const blurry = combine({ ...good, sharpness: DEFAULT_QUALITY_RAMPS.sharpness.bad });
  assert.equal(blurry.score, 0);
  assert.equal(blurry.weakest, 'sharpness');
  const why = qualityShortfall(blurry, 0.5)!;
  assert.equal(why.measure, 'sharpness');
  assert.equal(why.limit, limitFor('sharpness', 0.5));
  assert.match(why.message, /sharpness [\d.]+ is below [\d.]+/);
  assert.equal(qualityShortfall(blurry, 0), null, 'minimum 0: no gate');
  const turnedAway = combine({ ...good, yaw: -70 });
  assert.equal(turnedAway.weakest, 'yaw');
  assert.match(qualityShortfall(turnedAway, 0.5)!.message, /yaw -70\.0° is beyond ±/);
});

const skip = skipUnless([DEEPFACE, W600K], 'deepface photos, w600k recogniser');

test(
  'the enroll gate on a real photo: original enrolls, blurred and shrunk copies are refused',
  { skip },
  async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), 'arcface-quality-'));
    const service = await RecognitionService.open({ store: join(tmp, 'data'), recognizer: { model: W600K } });
    const keys = new KeyStore(join(tmp, 'keys.json'));
    const app = await buildServer({ service, keys });
    t.after(async () => {
      await app.close();
      await service.close();
    });
    const admin = { 'x-api-key': keys.create('admin', 'test').token };
    const original = readFileSync(join(DEEPFACE, 'img1.jpg'));
    const { width = 0, height = 0 } = await sharp(original).metadata();
    const blurred = await sharp(original).blur(20).jpeg().toBuffer();
    // 30 px wide and back: the face is there, at full size, with none of its detail.
    const small = await sharp(original).resize(30).toBuffer();
    const shrunk = await sharp(small).resize(width, height, { kernel: 'cubic' }).jpeg().toBuffer();
    const img = (bytes: Buffer, label: string) => ({ bytes: new Uint8Array(bytes), label });

    // detect: every face has its quality; the original is sharp and near-frontal.
    const d = await service.detect(img(original, 'img1.jpg'));
    const q = d.faces[0]!.quality;
    assert.ok(q.score >= 0.5, JSON.stringify(q));
    assert.ok(Math.abs(q.yaw) < 12 && Math.abs(q.pitch) < 12, `pose ${q.yaw} ${q.pitch}`);
    assert.ok(q.interOcular > 40, `eyes ${q.interOcular}`);

    for (const [bytes, label] of [
      [blurred, 'blurred.jpg'],
      [shrunk, 'shrunk.jpg'],
    ] as const) {
      const err = await service
        .enroll('g', { externalId: 'a' }, [img(bytes, label)], { createGallery: true })
        .then(
          () => assert.fail(`${label} enrolled`),
          (e: unknown) => e,
        );
      assert.ok(err instanceof ServiceError, String(err));
      assert.equal(err.kind, 'LOW_QUALITY');
      assert.match(
        err.message,
        new RegExp(`${label}: low quality [\\d.]+ < 0\\.2: sharpness [\\d.]+ is below [\\d.]+`),
      );
    }
    // A small photo: a sharp face, but 12 px between the eyes.
    const tiny = await sharp(readFileSync(join(DEEPFACE, 'img2.jpg')))
      .resize(100)
      .jpeg()
      .toBuffer();
    await assert.rejects(
      service.enroll('g', { externalId: 'a' }, [img(tiny, 'tiny.jpg')], { createGallery: true }),
      (e: ServiceError) =>
        e.kind === 'LOW_QUALITY' &&
        /tiny\.jpg: low quality [\d.]+ < 0\.2: eye distance [\d.]+ px is below 20\.6 px/.test(e.message),
    );
    assert.equal((await service.store.listGalleries()).find((g) => g.name === 'g')?.faces ?? 0, 0);

    // partial: the original enrolled, the blurred listed as a LOW_QUALITY failure.
    const p = await service.enroll(
      'g',
      { externalId: 'a' },
      [img(original, 'img1.jpg'), img(blurred, 'blurred.jpg')],
      {
        createGallery: true,
        partial: true,
      },
    );
    assert.equal(p.faces.length, 1);
    assert.ok(p.faces[0]!.quality.score >= 0.5);
    assert.deepEqual(
      p.failures.map((f) => [f.image, f.code]),
      [['blurred.jpg', 'LOW_QUALITY']],
    );
    // minQuality 0 turns the gate off.
    const off = await service.enroll('g', { externalId: 'a' }, [img(blurred, 'blurred.jpg')], {
      minQuality: 0,
    });
    assert.equal(off.faces.length, 1);

    // identify still answers a low-quality face, marked.
    const id = await service.identify('g', img(blurred, 'blurred.jpg'));
    assert.equal(id.faces[0]!.lowQuality, true);
    assert.equal(id.faces[0]!.lowQualityMeasure, 'sharpness');
    assert.ok(id.faces[0]!.score !== null);
    const sharpId = await service.identify('g', img(original, 'img1.jpg'));
    assert.equal(sharpId.faces[0]!.lowQuality, false);
    assert.equal(sharpId.faces[0]!.subject?.externalId, 'a');

    // HTTP: 422 LOW_QUALITY naming the measure; minQuality in the body; detect answers quality.
    const subject = p.subject.id;
    const url = `/galleries/g/subjects/${subject}/faces`;
    const refused = await app.inject({
      method: 'POST',
      url,
      headers: admin,
      payload: { images: [shrunk.toString('base64')] },
    });
    assert.equal(refused.statusCode, 422, refused.body);
    const e = JSON.parse(refused.body).error;
    assert.equal(e.code, 'LOW_QUALITY');
    assert.match(e.message, /sharpness [\d.]+ is below/);
    const body = { images: [shrunk.toString('base64')], minQuality: 0 };
    const ok = await app.inject({ method: 'POST', url, headers: admin, payload: body });
    assert.equal(ok.statusCode, 201, ok.body);
    const det = await app.inject({
      method: 'POST',
      url: '/detect',
      headers: admin,
      payload: { image: original.toString('base64') },
    });
    const dq = JSON.parse(det.body).faces[0].quality;
    assert.ok(dq.score >= 0.5 && dq.interOcular > 40 && typeof dq.weakest === 'string', det.body);

    // CLI, in process: exit 1 and the LOW_QUALITY failure for the blurred photo; --min-quality 0 enrolls it.
    const file = join(tmp, 'blurred.jpg');
    writeFileSync(file, blurred);
    const cli = (args: string[]) => arcface(...args);
    const store = ['--store', join(tmp, 'cli-data'), '--model', W600K, '--json'];
    const no = await cli(['enroll', 'g', 'b', file, ...store]);
    assert.equal(no.code, 1, no.out);
    const failure = JSON.parse(no.out).error;
    assert.equal(failure.code, 'LOW_QUALITY');
    assert.match(failure.failures[0].message, /sharpness [\d.]+ is below/);
    const yes = await cli(['enroll', 'g', 'b', file, '--min-quality', '0', ...store]);
    assert.equal(yes.code, 0, yes.out);
    assert.equal(typeof JSON.parse(yes.out).faces[0].quality.sharpness, 'number');
  },
);
