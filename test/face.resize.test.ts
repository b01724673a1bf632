/**
 * The detectors' fused letterbox + blob (src/face/detectors/resize_blob.ts) against cv2.resize
 * INTER_LINEAR (test/fixtures/resize.json, made by tools/reference/resize_reference.py): within one
 * grey level of cv2 on uint8 images, within 1e-4 of cv2 on the same images as float32; then the
 * letterbox padding, channel order / mean / scale, buffer reuse and the errors for bad input.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { inflateSync } from 'node:zlib';
import { ArcfaceError } from '../src/errors.js';
import { toBlob, type BlobOptions } from '../src/face/detectors/blob.js';
import type { Letterbox } from '../src/face/detectors/letterbox.js';
import { BlobBuffers, letterboxBlob, linearTaps } from '../src/face/detectors/resize_blob.js';
import { rgbImage, type RgbImage } from '../src/image/types.js';
import { rng } from '../src/util/random.js';

interface Case {
  name: string;
  src: { width: number; height: number; data: string };
  width: number;
  height: number;
  uint8: string;
  float32: string;
}
const fx = JSON.parse(readFileSync(new URL('./fixtures/resize.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

/** Inverse of the fixture's uint8 packing: base64, inflate, undo "each byte minus the byte 3 before". */
function unpackU8(b64: string): Uint8Array {
  const bytes = new Uint8Array(inflateSync(Buffer.from(b64, 'base64')));
  for (let i = 3; i < bytes.length; i++) bytes[i] = (bytes[i] + bytes[i - 3]) & 255;
  return bytes;
}

function unpackF32(b64: string): Float32Array {
  const bytes = inflateSync(Buffer.from(b64, 'base64'));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

/** A canvas of the given size whose content is w x h (scales are not used by the resize). */
function geometry(w: number, h: number, width = w, height = h): Letterbox {
  return { width, height, contentWidth: w, contentHeight: h, scaleX: NaN, scaleY: NaN };
}

const RAW: BlobOptions = { order: 'rgb', mean: [0, 0, 0], scale: 1 };

/** Interleaved HWC values of an RGB blob's content (to compare with cv2's HWC output). */
function hwc(blob: Float32Array, g: Letterbox): Float64Array {
  const plane = g.width * g.height;
  const out = new Float64Array(g.contentWidth * g.contentHeight * 3);
  for (let y = 0; y < g.contentHeight; y++)
    for (let x = 0; x < g.contentWidth; x++)
      for (let c = 0; c < 3; c++) out[(y * g.contentWidth + x) * 3 + c] = blob[c * plane + y * g.width + x];
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('letterboxBlob against cv2.resize INTER_LINEAR', () => {
  assert.ok(fx.cases.length >= 20);
  for (const c of fx.cases) {
    it(c.name, () => {
      const src = rgbImage(c.src.width, c.src.height, unpackU8(c.src.data));
      const g = geometry(c.width, c.height);
      const ours = hwc(letterboxBlob(src, g, RAW), g);
      const u8 = unpackU8(c.uint8);
      const f32 = unpackF32(c.float32);
      assert.equal(u8.length, ours.length);
      // cv2's uint8 path is 11-bit fixed point rounded to bytes; its float path is our arithmetic.
      assert.ok(maxDiff(ours, u8) <= 1, `uint8: max difference ${maxDiff(ours, u8)} grey levels`);
      assert.ok(maxDiff(ours, f32) <= 1e-4, `float32: max difference ${maxDiff(ours, f32)}`);
    });
  }

  it('is not the other common conventions (corner-aligned, or no half-pixel offset)', () => {
    // The checkerboard's one-pixel lines make a half-pixel shift visible: a test that could pass
    // with the wrong convention would not be worth much.
    const c = fx.cases.find((k) => k.name === 'checker 37x23 -> 20x13')!;
    const src = rgbImage(c.src.width, c.src.height, unpackU8(c.src.data));
    const f32 = unpackF32(c.float32);
    const sample = (sx: number, sy: number, k: number): number => {
      const x0 = Math.min(Math.floor(sx), src.width - 1);
      const y0 = Math.min(Math.floor(sy), src.height - 1);
      const x1 = Math.min(x0 + 1, src.width - 1);
      const y1 = Math.min(y0 + 1, src.height - 1);
      const u = sx - x0;
      const v = sy - y0;
      const p = (x: number, y: number) => src.data[(y * src.width + x) * 3 + k];
      return (1 - v) * ((1 - u) * p(x0, y0) + u * p(x1, y0)) + v * ((1 - u) * p(x0, y1) + u * p(x1, y1));
    };
    const other = (map: (d: number, s: number, n: number) => number): Float64Array => {
      const out = new Float64Array(c.width * c.height * 3);
      for (let y = 0; y < c.height; y++)
        for (let x = 0; x < c.width; x++)
          for (let k = 0; k < 3; k++)
            out[(y * c.width + x) * 3 + k] = sample(
              map(x, src.width, c.width),
              map(y, src.height, c.height),
              k,
            );
      return out;
    };
    assert.ok(
      maxDiff(
        other((d, s, n) => (d * (s - 1)) / (n - 1)),
        f32,
      ) > 20,
    );
    assert.ok(
      maxDiff(
        other((d, s, n) => (d * s) / n),
        f32,
      ) > 20,
    );
  });
});

describe('linearTaps', () => {
  it('puts source = (dst + 0.5) * scale - 0.5, clamped to the edge pixels', () => {
    const t = linearTaps(4, 8);
    // dst 0: -0.25 -> pixel 0; dst 3: 1.25 -> 1 + 0.25; dst 7: 3.25 -> the last pixel (as 2 + weight 1)
    assert.deepEqual([t.i0[0], t.f[0]], [0, 0]);
    assert.deepEqual([t.i0[3], t.f[3]], [1, 0.25]);
    assert.deepEqual([t.i0[7], t.f[7]], [2, 1]);
    const down = linearTaps(9, 3, 3); // scale 3: centres 1, 4, 7 exactly, offsets times the step
    assert.deepEqual([...down.i0], [3, 12, 21]);
    assert.deepEqual([...down.f], [0, 0, 0]);
    const one = linearTaps(1, 5); // a 1-pixel source: every output is that pixel
    assert.deepEqual([...one.i0, ...one.f], new Array(10).fill(0));
  });
});

describe('letterboxBlob as the detectors use it', () => {
  const r = rng(11);
  const image = (w: number, h: number): RgbImage =>
    rgbImage(
      w,
      h,
      Uint8Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256)),
    );

  it('pads right and bottom with zeros even in a reused buffer holding old values', () => {
    const img = image(9, 7);
    const g = geometry(12, 5, 16, 8);
    const buf = new Float32Array(3 * 16 * 8).fill(NaN);
    const out = letterboxBlob(img, g, { order: 'bgr', mean: [104, 117, 123], scale: 1 }, buf);
    assert.ok(out === buf, 'writes into the buffer given');
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 8; y++)
        for (let x = 0; x < 16; x++) {
          const v = out[c * 128 + y * 16 + x];
          if (x >= 12 || y >= 5) assert.equal(v, 0, `padding ${c},${y},${x}`);
          else assert.ok(Number.isFinite(v) && v !== 0, `content ${c},${y},${x}`);
        }
  });

  it('equals toBlob of the same resize for every channel order, mean and scale the detectors use', () => {
    const img = image(23, 17);
    const g = geometry(31, 11);
    const plain = letterboxBlob(img, g, RAW);
    // The resized RGB values as an image of floats, through toBlob's own arithmetic.
    const resized = { width: 31, height: 11, data: Float64Array.from(hwc(plain, g)) };
    const options: BlobOptions[] = [
      { order: 'bgr', mean: [0, 0, 0], scale: 1 },
      { order: 'rgb', mean: [127.5, 127.5, 127.5], scale: 1 / 128 },
      { order: 'bgr', mean: [104, 117, 123], scale: 1 },
    ];
    for (const o of options) {
      const want = toBlob(resized as unknown as RgbImage, o);
      assert.ok(maxDiff(letterboxBlob(img, g, o), want) < 1e-4, `${o.order} ${o.mean.join(',')} ${o.scale}`);
    }
  });

  it('reads the image size it is given: a copy at the same size is the image itself', () => {
    const img = image(13, 6);
    const g = geometry(13, 6, 32, 32);
    const out = letterboxBlob(img, g, RAW);
    for (let y = 0; y < 6; y++)
      for (let x = 0; x < 13; x++)
        for (let c = 0; c < 3; c++) assert.equal(out[c * 1024 + y * 32 + x], img.data[(y * 13 + x) * 3 + c]);
  });

  it('rejects a buffer of the wrong size, content larger than the canvas and short image data', () => {
    const img = image(4, 4);
    assert.throws(
      () => letterboxBlob(img, geometry(4, 4, 8, 8), RAW, new Float32Array(10)),
      (e: unknown) =>
        e instanceof ArcfaceError && /buffer holds 10 floats, a 3x8x8 blob needs 192/.test(e.message),
    );
    assert.throws(
      () => letterboxBlob(img, geometry(9, 4, 8, 8), RAW),
      /content 9x4 does not fit the 8x8 canvas/,
    );
    assert.throws(
      () => letterboxBlob(rgbImage(4, 4, new Uint8Array(5)), geometry(4, 4), RAW),
      /image data has 5 bytes, 4x4 RGB needs 48/,
    );
  });
});

describe('BlobBuffers', () => {
  it('hands a returned buffer out again, and a busy one to nobody else', () => {
    const b = new BlobBuffers(2);
    const x = b.take(12);
    const y = b.take(12);
    assert.notEqual(x, y);
    b.give(x);
    assert.equal(b.take(12), x);
    b.give(y);
    assert.notEqual(b.take(24), y); // another size gets its own
    assert.equal(b.take(12), y);
  });

  it('keeps at most `keep` idle buffers', () => {
    const b = new BlobBuffers(1);
    const x = b.take(4);
    const y = b.take(4);
    b.give(x);
    b.give(y); // x is dropped
    assert.equal(b.take(4), y);
    assert.notEqual(b.take(4), x);
  });
});
