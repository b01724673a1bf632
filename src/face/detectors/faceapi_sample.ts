/**
 * The input face-api's nets were made for: a region of the photo, black outside the photo,
 * resized by tf.image.resizeBilinear without half-pixel centres (TensorFlow's legacy resize,
 * face-api's NetInput.toBatchTensor after padToSquare): output pixel d samples the region at
 * d * (region size / output size), the last source row/column of the region repeats. The SSD
 * scores faces near its threshold differently under OpenCV's half-pixel resize (a face of
 * CompreFace's 016_8 went from 0.56 to 0.43), so the detectors' letterboxBlob is not used here.
 *
 * Reducing by k >= 2 can average n x n bilinear samples per output pixel (n = floor(k), at most
 * `maxSamples`), centred on the same point, instead of aliasing: a 36 MP photo is 14x its 512 canvas.
 */
import type { RgbImage } from '../../image/types.js';

/** A region of the image in pixel coordinates (pixel i's sample at i), any size, may leave the image. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Taps {
  ia: Int32Array;
  ib: Int32Array;
  wa: Float32Array;
  wb: Float32Array;
}

/** Source taps along one axis: byte offsets (-1 = outside [lo, hi), black) and weights. */
function taps(
  start: number,
  span: number,
  size: number,
  n: number,
  [lo, hi]: [number, number],
  step: number,
): Taps {
  const count = size * n;
  const t: Taps = {
    ia: new Int32Array(count),
    ib: new Int32Array(count),
    wa: new Float32Array(count),
    wb: new Float32Array(count),
  };
  const r = span / size;
  // The region's last pixel: TF clamps the second tap there (not at the image's edge).
  const last = Math.ceil(start + span) - 1;
  const at = (i: number) => (i >= lo && i < hi ? i * step : -1);
  for (let d = 0, k = 0; d < size; d++)
    for (let j = 0; j < n; j++, k++) {
      const s = start + (d + (j + 0.5) / n - 0.5) * r;
      const i0 = Math.floor(s);
      const f = s - i0;
      t.ia[k] = at(i0);
      t.ib[k] = at(Math.min(i0 + 1, Math.max(i0, last)));
      t.wa[k] = 1 - f;
      t.wb[k] = f;
    }
  return t;
}

/**
 * Resize `region` of `img` to outW x outH into `out` (planar RGB, values 0..255, plane stride
 * `planeStride`, rows `rowStride` apart, starting at `offset`).
 */
export function sampleRegion(
  img: RgbImage,
  region: Region,
  outW: number,
  outH: number,
  out: Float32Array,
  layout: {
    offset?: number;
    rowStride?: number;
    planeStride?: number;
    maxSamples?: number;
    /** Pixels shown (integer rectangle); the rest is black. Default the whole image. */
    visible?: Region;
  } = {},
): void {
  const offset = layout.offset ?? 0;
  const rowStride = layout.rowStride ?? outW;
  const plane = layout.planeStride ?? outH * rowStride;
  const k = Math.min(region.width / outW, region.height / outH);
  const n = Math.max(1, Math.min(layout.maxSamples ?? 4, Math.floor(k)));
  const stride = img.width * 3;
  const v = layout.visible ?? { x: 0, y: 0, width: img.width, height: img.height };
  const xt = taps(region.x, region.width, outW, n, [Math.max(0, v.x), Math.min(img.width, v.x + v.width)], 3);
  const yt = taps(
    region.y,
    region.height,
    outH,
    n,
    [Math.max(0, v.y), Math.min(img.height, v.y + v.height)],
    stride,
  );
  const src = img.data;
  const norm = 1 / (n * n);
  for (let y = 0; y < outH; y++) {
    const o = offset + y * rowStride;
    for (let x = 0; x < outW; x++) out[o + x] = out[o + x + plane] = out[o + x + 2 * plane] = 0;
    for (let jy = 0; jy < n; jy++) {
      const ky = y * n + jy;
      const ra = yt.ia[ky];
      const rb = yt.ib[ky];
      if (ra < 0 && rb < 0) continue;
      const wya = yt.wa[ky] * norm;
      const wyb = yt.wb[ky] * norm;
      for (let x = 0; x < outW; x++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let jx = 0, kx = x * n; jx < n; jx++, kx++) {
          const ca = xt.ia[kx];
          const cb = xt.ib[kx];
          const wxa = xt.wa[kx];
          const wxb = xt.wb[kx];
          // Bilinear: the two taps along x in each of the two rows.
          if (ra >= 0) {
            const a = ca >= 0 ? wxa * wya : 0;
            const c = cb >= 0 ? wxb * wya : 0;
            const pa = ra + Math.max(ca, 0);
            const pb = ra + Math.max(cb, 0);
            r += src[pa] * a + src[pb] * c;
            g += src[pa + 1] * a + src[pb + 1] * c;
            b += src[pa + 2] * a + src[pb + 2] * c;
          }
          if (rb >= 0) {
            const a = ca >= 0 ? wxa * wyb : 0;
            const c = cb >= 0 ? wxb * wyb : 0;
            const pa = rb + Math.max(ca, 0);
            const pb = rb + Math.max(cb, 0);
            r += src[pa] * a + src[pb] * c;
            g += src[pa + 1] * a + src[pb + 1] * c;
            b += src[pa + 2] * a + src[pb + 2] * c;
          }
        }
        out[o + x] += r;
        out[o + x + plane] += g;
        out[o + x + 2 * plane] += b;
      }
    }
  }
}
