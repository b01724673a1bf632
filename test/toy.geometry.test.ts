import { test } from 'node:test';
import assert from 'node:assert/strict';
import { angularDistance, classArcs, featureAngles, minInterClassGap } from '../src/toy/gaps.js';
import { decodePgm, downscale } from '../src/image/pgm.js';
import { syntheticToy, toyBatch } from '../src/toy/data.js';
import { rng } from '../src/util/random.js';

const deg = (d: number) => (d * Math.PI) / 180;
const unit = (angles: number[]) => angles.flatMap((a) => [Math.cos(deg(a)), Math.sin(deg(a))]);

test('featureAngles maps unit vectors to [0, 2pi)', () => {
  const a = featureAngles(unit([0, 90, 180, 270, 359]));
  [0, 90, 180, 270, 359].forEach((d, i) => assert.ok(Math.abs(a[i] - deg(d)) < 1e-9));
});

test('angularDistance is symmetric, wraps, and stays in [0, pi]', () => {
  assert.ok(Math.abs(angularDistance(deg(350), deg(10)) - deg(20)) < 1e-12);
  assert.ok(Math.abs(angularDistance(deg(10), deg(350)) - deg(20)) < 1e-12);
  assert.ok(Math.abs(angularDistance(0, deg(180)) - Math.PI) < 1e-12);
});

test('minInterClassGap is the empty arc between the closest classes, across 0/360', () => {
  // class 0 at 350..10 degrees, class 1 at 40..60, class 2 at 200..220
  const angles = featureAngles(unit([350, 0, 10, 40, 50, 60, 200, 220]));
  const labels = [0, 0, 0, 1, 1, 1, 2, 2];
  assert.ok(Math.abs(minInterClassGap(angles, labels) - deg(30)) < 1e-9);
  // interleaved classes touch: gap is the distance of the closest cross pair
  assert.ok(minInterClassGap(featureAngles(unit([0, 1, 2, 3])), [0, 1, 0, 1]) < deg(1.0001));
});

test('classArcs finds the covered arc of a class that wraps past 0', () => {
  const arcs = classArcs(featureAngles(unit([350, 0, 10, 100, 120])), [0, 0, 0, 1, 1]);
  assert.equal(arcs.length, 2);
  assert.ok(Math.abs(arcs[0].width - deg(20)) < 1e-9);
  assert.ok(Math.abs(arcs[0].start - deg(350)) < 1e-9);
  assert.ok(Math.abs(arcs[0].end - deg(10)) < 1e-9);
  assert.ok(Math.abs(arcs[1].width - deg(20)) < 1e-9);
});

function pgm(header: string, raster: number[]): Uint8Array {
  return Uint8Array.from([...Buffer.from(header, 'latin1'), ...raster]);
}

test('decodePgm reads P5 with comments and P2, and scales maxval to 255', () => {
  const a = decodePgm(pgm('P5\n# comment\n3 2\n255\n', [0, 1, 2, 3, 4, 255]));
  assert.deepEqual([a.width, a.height, ...a.data], [3, 2, 0, 1, 2, 3, 4, 255]);
  const b = decodePgm(Buffer.from('P2 2 1 15 0 15\n'));
  assert.deepEqual([...b.data], [0, 255]);
  const c = decodePgm(pgm('P5 1 2 65535\n', [0xff, 0xff, 0x80, 0x00]));
  assert.deepEqual([...c.data], [255, 128]);
});

test('decodePgm rejects other formats, bad headers and truncated rasters with the file name', () => {
  assert.throws(() => decodePgm(Buffer.from('\x89PNG....'), 'x.png'), /x\.png: not a PGM/);
  assert.throws(() => decodePgm(Buffer.from('P5 0 2 255\n'), 'a.pgm'), /a\.pgm: bad PGM header/);
  assert.throws(() => decodePgm(pgm('P5 4 4 255\n', [1, 2, 3]), 'b.pgm'), /b\.pgm: truncated PGM raster/);
  assert.throws(() => decodePgm(Buffer.from('P5 4'), 'c.pgm'), /c\.pgm: truncated PGM header/);
});

test('downscale averages blocks', () => {
  const img = { width: 4, height: 2, data: Uint8Array.from([0, 2, 10, 10, 4, 6, 20, 20]) };
  assert.deepEqual([...downscale(img, 2).data], [3, 15]);
});

test('toy batches are normalised to [-1, 1] and unaugmented batches are exact', () => {
  const data = syntheticToy(3, 2, 5);
  assert.equal(data.count, 6);
  const { x, y } = toyBatch(data, [0, 5], null);
  assert.deepEqual([...y], [0, 2]);
  const n = data.height * data.width;
  for (let i = 0; i < n; i++) assert.ok(Math.abs(x[i] - (data.images[i] - 127.5) / 127.5) < 1e-6);
  const aug = toyBatch(data, [0, 1, 2, 3, 4, 5], rng(3)).x;
  assert.ok(aug.every((v) => v >= -1.6 && v <= 1.6));
});
