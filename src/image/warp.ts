/**
 * Affine warp with the conventions and the arithmetic of OpenCV 4.x
 * `cv2.warpAffine(img, M, (w, h), flags=INTER_LINEAR, borderMode=BORDER_CONSTANT, borderValue=0)`,
 * which InsightFace's norm_crop uses, so aligned crops match the ones ArcFace models were trained on.
 *
 * What is reproduced (imgproc/src/imgwarp.cpp, WarpAffineInvoker + remapBilinear for 8-bit):
 * - M maps source to destination; it is inverted in float64 with OpenCV's operation order, and each
 *   destination pixel (x, y), pixel centres at integer coordinates, is mapped back through it.
 * - The source coordinate is built in 1/1024 pixel as round(M'0·x·1024) + round((M'1·y + M'2)·1024)
 *   + 16 (round = half to even, as cvRound), then floored to 1/32 pixel (INTER_BITS = 5): the
 *   integer part picks the 2x2 neighbourhood, the 5-bit fractions fx, fy the bilinear weights.
 * - Weights are OpenCV's 15-bit table (INTER_REMAP_COEF_BITS): (32 - fx)(32 - fy)·32 and so on,
 *   which are exact and sum to 32768; the result is (Σ w·p + 16384) >> 15.
 * - BORDER_CONSTANT 0: a neighbour outside the image contributes 0 (so edges fade toward black).
 * Not reproduced: OpenCV clamps coordinates to 16 bits (sources wider than 32767 px) and to int32;
 * here any far-away coordinate is just outside. On the fixtures the output is bit-identical.
 *
 * Only the source pixels under the output are read: a 112x112 crop of a 4000x3000 photo costs
 * 112·112 lookups, with no per-pixel allocation.
 */
import { badInput } from '../errors.js';
import type { Affine } from '../face/umeyama.js';
import { rgbImage, type RgbImage } from './types.js';

export function warpAffine(img: RgbImage, m: Affine, width: number, height: number): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw badInput(`warpAffine: output size must be positive integers, got ${width}x${height}`);
  const sw = img.width;
  const sh = img.height;
  const src = img.data;
  if (src.length !== sw * sh * 3)
    throw badInput(
      `warpAffine: source image data has ${src.length} bytes, ${sw}x${sh} RGB needs ${sw * sh * 3}`,
    );
  const [i0, i1, i2, i3, i4, i5] = opencvInverse(m);

  const adelta = new Float64Array(width);
  const bdelta = new Float64Array(width);
  let maxDelta = 0;
  for (let x = 0; x < width; x++) {
    adelta[x] = rint(i0 * x * 1024);
    bdelta[x] = rint(i3 * x * 1024);
    maxDelta = Math.max(maxDelta, Math.abs(adelta[x]), Math.abs(bdelta[x]));
  }
  const fits = maxDelta < 2 ** 30;
  const ai = fits ? Int32Array.from(adelta) : adelta;
  const bi = fits ? Int32Array.from(bdelta) : bdelta;
  const out = rgbImage(width, height);
  const dst = out.data;
  const stride = sw * 3;
  let o = 0;
  for (let y = 0; y < height; y++) {
    const X0 = rint((i1 * y + i2) * 1024) + 16;
    const Y0 = rint((i4 * y + i5) * 1024) + 16;
    // Within int32, OpenCV's shifts: 1/1024 -> 1/32 pixel -> whole pixel and 5-bit fraction.
    // Beyond (a map far outside a huge image), exact floor divisions of the same integers held
    // in doubles, where int32 arithmetic would wrap around.
    const small = fits && Math.max(Math.abs(X0), Math.abs(Y0)) + maxDelta < 2 ** 30;
    const X0i = small ? X0 | 0 : 0;
    const Y0i = small ? Y0 | 0 : 0;
    for (let x = 0; x < width; x++, o += 3) {
      let sx, sy, fx, fy;
      if (small) {
        const X = (X0i + ai[x]) >> 5;
        const Y = (Y0i + bi[x]) >> 5;
        sx = X >> 5;
        sy = Y >> 5;
        fx = X & 31;
        fy = Y & 31;
      } else {
        const X = Math.floor((X0 + adelta[x]) / 32);
        const Y = Math.floor((Y0 + bdelta[x]) / 32);
        sx = Math.floor(X / 32);
        sy = Math.floor(Y / 32);
        fx = X - sx * 32;
        fy = Y - sy * 32;
      }
      if (sx >= sw || sx < -1 || sy >= sh || sy < -1) continue; // all four taps outside: stays 0
      const w00 = (32 - fx) * (32 - fy) * 32;
      const w01 = fx * (32 - fy) * 32;
      const w10 = (32 - fx) * fy * 32;
      const w11 = fx * fy * 32;
      const p = sy * stride + sx * 3;
      if (sx >= 0 && sy >= 0 && sx < sw - 1 && sy < sh - 1) {
        const q = p + stride;
        dst[o] = (src[p] * w00 + src[p + 3] * w01 + src[q] * w10 + src[q + 3] * w11 + 16384) >> 15;
        dst[o + 1] =
          (src[p + 1] * w00 + src[p + 4] * w01 + src[q + 1] * w10 + src[q + 4] * w11 + 16384) >> 15;
        dst[o + 2] =
          (src[p + 2] * w00 + src[p + 5] * w01 + src[q + 2] * w10 + src[q + 5] * w11 + 16384) >> 15;
      } else {
        // On the edge: the taps that fall outside count as 0.
        const left = sx >= 0;
        const right = sx + 1 < sw;
        const top = sy >= 0;
        const bottom = sy + 1 < sh;
        for (let k = 0; k < 3; k++) {
          let s = 16384;
          if (top && left) s += src[p + k] * w00;
          if (top && right) s += src[p + 3 + k] * w01;
          if (bottom && left) s += src[p + stride + k] * w10;
          if (bottom && right) s += src[p + stride + 3 + k] * w11;
          dst[o + k] = s >> 15;
        }
      }
    }
  }
  return out;
}

/** OpenCV's inversion (cv::warpAffine without WARP_INVERSE_MAP), same float64 operations in the same order. */
function opencvInverse(m: Affine): Affine {
  if (m.length !== 6 || !m.every(Number.isFinite))
    throw badInput(`warpAffine: matrix [${m.join(', ')}] must be 6 finite numbers`);
  const [m0, m1, m2, m3, m4, m5] = m;
  const det = m0 * m4 - m1 * m3;
  if (det === 0) throw badInput(`warpAffine: matrix [${m.join(', ')}] is singular`);
  const D = 1 / det;
  const i0 = m4 * D;
  const i1 = m1 * -D;
  const i3 = m3 * -D;
  const i4 = m0 * D;
  return [i0, i1, -i0 * m2 - i1 * m5, i3, i4, -i3 * m2 - i4 * m5];
}

/** Round half to even, as cvRound / lrint in the default rounding mode. */
function rint(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
