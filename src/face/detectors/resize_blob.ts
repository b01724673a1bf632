/**
 * The detectors' whole pre-processing in one pass: bilinear resize of the decoded image into the
 * letterbox content, channel order, mean and scale, zero padding bottom/right, written straight into
 * the planar NCHW float blob. No intermediate canvas, and the blob can be a buffer reused across calls.
 *
 * The resize follows cv2.resize(..., interpolation=INTER_LINEAR), which InsightFace's SCRFD.detect
 * and OpenCV's FaceDetectorYN pipelines feed their models (imgproc/src/resize.cpp, resizeGeneric_):
 * pixel centres at +0.5, src = (dst + 0.5) * (srcSize / dstSize) - 0.5, a source index below 0 or at
 * the last pixel clamped there with weight 0 on the neighbour (edges repeat), no anti-aliasing.
 * Interpolation is horizontal then vertical as in OpenCV, in float with OpenCV's float32 coordinates,
 * so the values equal cv2.resize on float32 input to float rounding (3e-5 on the fixtures) and cv2's
 * 8-bit fixed point to one grey level; the blob keeps the fractions (not rounded to bytes). Only the
 * 2 x 2 source pixels under each output pixel are read (a 4000x3000 photo costs 4 x 640 x 480 byte
 * triplets, not 12 MP), and when enlarging each source row is interpolated once for all the output
 * rows that use it. About 2-3.5 ms for a 640x640 YuNet input on this project's machine, where sharp's
 * resize then toBlob took 6 ms (bench/README.md, Pipeline).
 */
import { badInput } from '../../errors.js';
import type { RgbImage } from '../../image/types.js';
import type { BlobOptions } from './blob.js';
import type { Letterbox } from './letterbox.js';

/** Per output index: the first source tap (times `step`) and the weight of the next one. */
interface Taps {
  i0: Int32Array;
  f: Float32Array;
}

/**
 * cv2.resize INTER_LINEAR taps for one axis, `dst` outputs from `src` inputs. The second tap is
 * always the first + `step` (a source of 1 pixel aside): an output clamped onto the last pixel takes
 * it as weight 1 from its left neighbour, the same value as OpenCV's weight 0 on the right, with no
 * index check in the pixel loop.
 */
export function linearTaps(src: number, dst: number, step = 1): Taps {
  const i0 = new Int32Array(dst);
  const f = new Float32Array(dst);
  const scale = src / dst;
  for (let d = 0; d < dst; d++) {
    // In float32 like OpenCV's `fx = (float)((dx + 0.5) * scale_x - 0.5)`: the weights then agree
    // with cv2's to float rounding (a float64 coordinate differs by up to 3e-4 grey levels).
    const s = Math.fround((d + 0.5) * scale - 0.5);
    let k = Math.floor(s);
    let t = Math.fround(s - k);
    if (k < 0) [k, t] = [0, 0];
    if (k >= src - 1) [k, t] = src > 1 ? [src - 2, 1] : [0, 0];
    i0[d] = k * step;
    f[d] = t;
  }
  return { i0, f };
}

/** The three destination planes (in source channel order) and the affine map of each value. */
interface Planes {
  p0: Float32Array;
  p1: Float32Array;
  p2: Float32Array;
  /** blob value = interpolated source value * s + c{k} */
  s: number;
  c0: number;
  c1: number;
  c2: number;
  /** Canvas row length. */
  W: number;
}

/**
 * Resize `img` into `g`'s content (top-left), pad the rest of the canvas with 0 and return the
 * [3, g.height, g.width] blob: blob channel c = (source value - mean[c]) * scale. Writes into `out`
 * when given (every value is overwritten, padding included).
 */
export function letterboxBlob(img: RgbImage, g: Letterbox, o: BlobOptions, out?: Float32Array): Float32Array {
  const { width: W, height: H, contentWidth: cw, contentHeight: ch } = g;
  const sw = img.width;
  const sh = img.height;
  if (img.data.length !== sw * sh * 3 || !(sw >= 1 && sh >= 1))
    throw badInput(
      `letterboxBlob: image data has ${img.data.length} bytes, ${sw}x${sh} RGB needs ${sw * sh * 3}`,
    );
  if (!(Number.isInteger(cw) && Number.isInteger(ch) && cw >= 1 && ch >= 1 && cw <= W && ch <= H))
    throw badInput(`letterboxBlob: content ${cw}x${ch} does not fit the ${W}x${H} canvas`);
  const plane = W * H;
  if (out && out.length !== 3 * plane)
    throw badInput(`letterboxBlob: buffer holds ${out.length} floats, a 3x${H}x${W} blob needs ${3 * plane}`);
  const blob = out ?? new Float32Array(3 * plane);

  // Source channel k goes to blob plane to[k]; the mean is given in blob order.
  const to = o.order === 'rgb' ? [0, 1, 2] : [2, 1, 0];
  const s = o.scale;
  const planes: Planes = {
    p0: blob.subarray(to[0] * plane, (to[0] + 1) * plane),
    p1: blob.subarray(plane, 2 * plane),
    p2: blob.subarray(to[2] * plane, (to[2] + 1) * plane),
    s,
    c0: -o.mean[to[0]] * s,
    c1: -o.mean[1] * s,
    c2: -o.mean[to[2]] * s,
    W,
  };
  const xt = linearTaps(sw, cw, 3);
  const yt = linearTaps(sh, ch);
  // Enlarging by 1.5x or more, most output rows share their source rows with the previous one:
  // interpolating each source row once pays. Otherwise the four taps per pixel are read directly
  // (that loop assumes a right and a lower neighbour: 1-pixel-wide or -high sources go by rows).
  if (ch >= 1.5 * sh || sw === 1 || sh === 1) resizeByRows(img, xt, yt, cw, planes);
  else resizeDirect(img, xt, yt, cw, planes);

  const { p0, p1, p2 } = planes;
  if (cw < W)
    for (let y = 0, o0 = cw; y < ch; y++, o0 += W) {
      p0.fill(0, o0, o0 + W - cw);
      p1.fill(0, o0, o0 + W - cw);
      p2.fill(0, o0, o0 + W - cw);
    }
  if (ch < H) {
    p0.fill(0, ch * W);
    p1.fill(0, ch * W);
    p2.fill(0, ch * W);
  }
  return blob;
}

/** Each output pixel from its 2 x 2 source pixels, horizontally then vertically (as OpenCV). */
function resizeDirect(img: RgbImage, xt: Taps, yt: Taps, cw: number, d: Planes): void {
  const src = img.data;
  const stride = img.width * 3;
  const { p0, p1, p2, s, c0, c1, c2, W } = d;
  const xi = xt.i0;
  const xf = xt.f;
  for (let y = 0, n = yt.i0.length; y < n; y++) {
    const row = yt.i0[y] * stride;
    const t = yt.f[y];
    const wa = (1 - t) * s;
    const wb = t * s;
    const o0 = y * W;
    for (let x = 0; x < cw; x++) {
      const a = row + xi[x];
      const b = a + stride;
      const u = xf[x];
      const a0 = src[a];
      const a1 = src[a + 1];
      const a2 = src[a + 2];
      const b0 = src[b];
      const b1 = src[b + 1];
      const b2 = src[b + 2];
      const h0 = a0 + (src[a + 3] - a0) * u;
      const h1 = a1 + (src[a + 4] - a1) * u;
      const h2 = a2 + (src[a + 5] - a2) * u;
      const k0 = b0 + (src[b + 3] - b0) * u;
      const k1 = b1 + (src[b + 4] - b1) * u;
      const k2 = b2 + (src[b + 5] - b2) * u;
      p0[o0 + x] = h0 * wa + k0 * wb + c0;
      p1[o0 + x] = h1 * wa + k1 * wb + c1;
      p2[o0 + x] = h2 * wa + k2 * wb + c2;
    }
  }
}

/**
 * The same values with each needed source row interpolated horizontally once into planar rows
 * (OpenCV's row cache), kept while the following output rows use it, then blended vertically.
 */
function resizeByRows(img: RgbImage, xt: Taps, yt: Taps, cw: number, d: Planes): void {
  const stride = img.width * 3;
  const ny = img.height > 1 ? 1 : 0;
  let a = [new Float32Array(cw), new Float32Array(cw), new Float32Array(cw)];
  let b = [new Float32Array(cw), new Float32Array(cw), new Float32Array(cw)];
  let heldA = -1;
  let heldB = -1;
  const { s, W } = d;
  const planes = [d.p0, d.p1, d.p2];
  const c = [d.c0, d.c1, d.c2];
  for (let y = 0, n = yt.i0.length; y < n; y++) {
    const ya = yt.i0[y];
    const yb = ya + ny;
    if (heldA !== ya) {
      if (heldB === ya) {
        [a, b] = [b, a];
        heldB = heldA;
      } else horizontal(img.data, ya * stride, img.width > 1 ? 3 : 0, xt, cw, a);
      heldA = ya;
    }
    if (heldB !== yb) {
      horizontal(img.data, yb * stride, img.width > 1 ? 3 : 0, xt, cw, b);
      heldB = yb;
    }
    const t = yt.f[y];
    for (let k = 0; k < 3; k++) vertical(a[k], b[k], planes[k], y * W, cw, (1 - t) * s, t * s, c[k]);
  }
}

function horizontal(
  src: Uint8Array,
  row: number,
  nx: number,
  xt: Taps,
  cw: number,
  out: Float32Array[],
): void {
  const [r0, r1, r2] = out;
  const xi = xt.i0;
  const xf = xt.f;
  for (let x = 0; x < cw; x++) {
    const a = row + xi[x];
    const u = xf[x];
    const a0 = src[a];
    const a1 = src[a + 1];
    const a2 = src[a + 2];
    r0[x] = a0 + (src[a + nx] - a0) * u;
    r1[x] = a1 + (src[a + nx + 1] - a1) * u;
    r2[x] = a2 + (src[a + nx + 2] - a2) * u;
  }
}

function vertical(
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  o0: number,
  cw: number,
  wa: number,
  wb: number,
  c: number,
): void {
  for (let x = 0; x < cw; x++) out[o0 + x] = a[x] * wa + b[x] * wb + c;
}

/**
 * Blob buffers a detector reuses across detect() calls. A buffer is taken for the duration of one
 * inference (onnxruntime reads it during the run), so concurrent detect() calls on one detector each
 * get their own; at most `keep` idle buffers are held (one per size for dynamic-input models).
 */
export class BlobBuffers {
  private readonly idle: Float32Array[] = [];

  constructor(private readonly keep = 2) {}

  take(length: number): Float32Array {
    const i = this.idle.findIndex((b) => b.length === length);
    return i >= 0 ? this.idle.splice(i, 1)[0] : new Float32Array(length);
  }

  give(buffer: Float32Array): void {
    this.idle.push(buffer);
    if (this.idle.length > this.keep) this.idle.shift();
  }
}
