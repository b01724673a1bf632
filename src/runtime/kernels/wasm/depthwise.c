/*
 * Depthwise-conv gradients (NHWC, float32) for tfjs-backend-wasm.
 *
 * Built by build.sh into a tiny module that imports the backend's own linear memory,
 * so it reads and writes tensors in place (pointers are the backend's memoryOffsets): no copies.
 * It must not own any data segment (instantiating would overwrite backend memory), and its shadow
 * stack pointer is moved by the loader into a block malloc'ed from the backend.
 *
 * Layouts: x/dx [N,H,W,C], dy [N,OH,OW,C*M], filter/dw [KH,KW,C,M]. The kernels vectorise over
 * channels (innermost in NHWC) for M == 1; M > 1 runs them on C*M channels (sum_groups below).
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }
/* floor(a / b) for b > 0 and any sign of a (C division truncates toward zero). */
static inline int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* First tap k (>= 0, <= kmax) with k = t - o*s for some output index o in [0, on), stepping s. */
static inline int first_tap(int t, int s, int on) {
  int lo = t - (on - 1) * s; /* tap for the last output index */
  return lo >= 0 ? lo : t % s;
}

#define MAC(acc, p, q) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(p), wasm_v128_load(q)))

/*
 * dx[n,iy,ix,c] = sum over taps with iy + pt = oy*sh + ky (same for x) of dy[n,oy,ox,c] * w[ky,kx,c].
 * Gathering per input pixel keeps the sums in registers and writes dx once, with no zero fill.
 * Along the taps of a pixel, ky += sh means oy -= 1 (same for x): pointer steps, no divisions.
 */
EXPORT("backprop_input")
void backprop_input(const float *dy, const float *w, float *dx, int n_, int h, int wd, int c, int kh,
                    int kw, int oh, int ow, int sh, int sw, int pt, int pl) {
  const long dyrow = (long)ow * c, wky = (long)sh * kw * c, wkx = (long)sw * c;
  for (int n = 0; n < n_; n++) {
    const float *dyn = dy + (long)n * oh * dyrow;
    for (int iy = 0; iy < h; iy++) {
      const int ty = iy + pt, ky0 = first_tap(ty, sh, oh), ky1 = imin(ty, kh - 1);
      const int nky = ky1 >= ky0 ? (ky1 - ky0) / sh + 1 : 0;
      const float *dyy = dyn + (long)((ty - ky0) / sh) * dyrow, *wy = w + (long)ky0 * kw * c;
      for (int ix = 0; ix < wd; ix++) {
        const int tx = ix + pl, kx0 = first_tap(tx, sw, ow), kx1 = imin(tx, kw - 1);
        const int nkx = kx1 >= kx0 ? (kx1 - kx0) / sw + 1 : 0;
        const float *dyx = dyy + (long)((tx - kx0) / sw) * c, *wx = wy + (long)kx0 * c;
        float *out = dx + (((long)n * h + iy) * wd + ix) * c;
        int ch = 0;
        for (; ch + 16 <= c; ch += 16) {
          v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
          const float *pr = dyx + ch, *qr = wx + ch;
          for (int j = 0; j < nky; j++, pr -= dyrow, qr += wky) {
            const float *p = pr, *q = qr;
            for (int i = 0; i < nkx; i++, p -= c, q += wkx) {
              MAC(a0, p, q);
              MAC(a1, p + 4, q + 4);
              MAC(a2, p + 8, q + 8);
              MAC(a3, p + 12, q + 12);
            }
          }
          wasm_v128_store(out + ch, a0);
          wasm_v128_store(out + ch + 4, a1);
          wasm_v128_store(out + ch + 8, a2);
          wasm_v128_store(out + ch + 12, a3);
        }
        for (; ch + 4 <= c; ch += 4) {
          v128_t a0 = wasm_f32x4_splat(0);
          const float *pr = dyx + ch, *qr = wx + ch;
          for (int j = 0; j < nky; j++, pr -= dyrow, qr += wky) {
            const float *p = pr, *q = qr;
            for (int i = 0; i < nkx; i++, p -= c, q += wkx) MAC(a0, p, q);
          }
          wasm_v128_store(out + ch, a0);
        }
        for (; ch < c; ch++) {
          float a = 0;
          const float *pr = dyx + ch, *qr = wx + ch;
          for (int j = 0; j < nky; j++, pr -= dyrow, qr += wky) {
            const float *p = pr, *q = qr;
            for (int i = 0; i < nkx; i++, p -= c, q += wkx) a += *p * *q;
          }
          out[ch] = a;
        }
      }
    }
  }
}

/* d[ch..c) += sum over cnt positions of x * dy, x stepping xs floats and dy c floats. */
static void filter_tap(const float *xb, const float *db, float *d, int ch, int c, int cnt, long xs) {
  for (; ch + 16 <= c; ch += 16) {
    v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
    const float *p = xb + ch, *q = db + ch;
    for (int i = 0; i < cnt; i++, p += xs, q += c) {
      MAC(a0, p, q);
      MAC(a1, p + 4, q + 4);
      MAC(a2, p + 8, q + 8);
      MAC(a3, p + 12, q + 12);
    }
    wasm_v128_store(d + ch, wasm_f32x4_add(wasm_v128_load(d + ch), a0));
    wasm_v128_store(d + ch + 4, wasm_f32x4_add(wasm_v128_load(d + ch + 4), a1));
    wasm_v128_store(d + ch + 8, wasm_f32x4_add(wasm_v128_load(d + ch + 8), a2));
    wasm_v128_store(d + ch + 12, wasm_f32x4_add(wasm_v128_load(d + ch + 12), a3));
  }
  for (; ch + 4 <= c; ch += 4) {
    v128_t a0 = wasm_f32x4_splat(0);
    const float *p = xb + ch, *q = db + ch;
    for (int i = 0; i < cnt; i++, p += xs, q += c) MAC(a0, p, q);
    wasm_v128_store(d + ch, wasm_f32x4_add(wasm_v128_load(d + ch), a0));
  }
  for (; ch < c; ch++) {
    float a = 0;
    const float *p = xb + ch, *q = db + ch;
    for (int i = 0; i < cnt; i++, p += xs, q += c) a += *p * *q;
    d[ch] += a;
  }
}

/*
 * Stride 1, three column taps, outputs ox0..ox1 where all three are inside the row: x[ox+kx-1]
 * for kx = 0, 1, 2 are consecutive positions, so each x vector is loaded once and rotated through
 * registers, serving all three taps (2 loads per 6 multiply-adds instead of 6 per 6).
 * Returns the first channel it did not handle.
 */
static int filter_row3(const float *xb, const float *db, float *d, int c, int cnt) {
  int ch = 0;
  for (; ch + 8 <= c; ch += 8) {
    v128_t a00 = wasm_f32x4_splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
    const float *p = xb + ch, *q = db + ch;
    v128_t x00 = wasm_v128_load(p), x01 = wasm_v128_load(p + 4);
    v128_t x10 = wasm_v128_load(p + c), x11 = wasm_v128_load(p + c + 4);
    for (int i = 0; i < cnt; i++, p += c, q += c) {
      const v128_t x20 = wasm_v128_load(p + 2 * c), x21 = wasm_v128_load(p + 2 * c + 4);
      const v128_t g0 = wasm_v128_load(q), g1 = wasm_v128_load(q + 4);
      a00 = wasm_f32x4_add(a00, wasm_f32x4_mul(x00, g0));
      a01 = wasm_f32x4_add(a01, wasm_f32x4_mul(x01, g1));
      a10 = wasm_f32x4_add(a10, wasm_f32x4_mul(x10, g0));
      a11 = wasm_f32x4_add(a11, wasm_f32x4_mul(x11, g1));
      a20 = wasm_f32x4_add(a20, wasm_f32x4_mul(x20, g0));
      a21 = wasm_f32x4_add(a21, wasm_f32x4_mul(x21, g1));
      x00 = x10, x01 = x11, x10 = x20, x11 = x21;
    }
    float *e = d + ch;
    wasm_v128_store(e, wasm_f32x4_add(wasm_v128_load(e), a00));
    wasm_v128_store(e + 4, wasm_f32x4_add(wasm_v128_load(e + 4), a01));
    e += c;
    wasm_v128_store(e, wasm_f32x4_add(wasm_v128_load(e), a10));
    wasm_v128_store(e + 4, wasm_f32x4_add(wasm_v128_load(e + 4), a11));
    e += c;
    wasm_v128_store(e, wasm_f32x4_add(wasm_v128_load(e), a20));
    wasm_v128_store(e + 4, wasm_f32x4_add(wasm_v128_load(e + 4), a21));
  }
  return ch;
}

/*
 * dw[ky,kx,c] = sum over n,oy,ox of x[n, oy*sh-pt+ky, ox*sw-pl+kx, c] * dy[n,oy,ox,c].
 * Walks one dy row and the kh x rows it touches at a time (each ~W*C floats, L1-sized for the
 * MobileFaceNet shapes) and sums each (ky,kx,channel block) along the row in registers.
 */
EXPORT("backprop_filter")
void backprop_filter(const float *x, const float *dy, float *dw, int n_, int h, int wd, int c, int kh,
                     int kw, int oh, int ow, int sh, int sw, int pt, int pl) {
  __builtin_memset(dw, 0, sizeof(float) * (unsigned long)kh * kw * c);
  const long xs = (long)sw * c; /* x step between neighbouring outputs along a row */
  /* outputs ox whose input column ox*sw - pl + kx lies inside [0, wd), for each kx */
#define OX0(kx) imax(0, floor_div(pl - (kx) + sw - 1, sw))
#define OX1(kx) imin(ow - 1, floor_div(wd - 1 + pl - (kx), sw))
  /* with stride 1 and 3 taps: outputs where all three taps are inside */
  const int fa = OX0(0), fb = OX1(2), fused = sw == 1 && kw == 3 && fa <= fb;
  for (int n = 0; n < n_; n++) {
    for (int oy = 0; oy < oh; oy++) {
      const float *dyr = dy + ((long)n * oh + oy) * ow * c;
      for (int ky = 0; ky < kh; ky++) {
        const int iy = oy * sh - pt + ky;
        if (iy < 0 || iy >= h) continue;
        const float *xr = x + ((long)n * h + iy) * wd * c;
        float *dk = dw + (long)ky * kw * c;
#define TAP(kx, lo, hi, ch)                                                                           \
  if ((lo) <= (hi))                                                                                   \
  filter_tap(xr + ((long)(lo) * sw - pl + (kx)) * c, dyr + (long)(lo) * c, dk + (long)(kx) * c, ch, c, \
             (hi) - (lo) + 1, xs)
        if (fused) {
          const int ch = filter_row3(xr + ((long)fa - pl) * c, dyr + (long)fa * c, dk, c, fb - fa + 1);
          for (int kx = 0; kx < 3; kx++) {
            TAP(kx, fa, fb, ch); /* channels filter_row3 left */
            TAP(kx, OX0(kx), imin(OX1(kx), fa - 1), 0);
            TAP(kx, imax(OX0(kx), fb + 1), OX1(kx), 0);
          }
        } else {
          for (int kx = 0; kx < kw; kx++) TAP(kx, OX0(kx), OX1(kx), 0);
        }
#undef TAP
      }
    }
  }
#undef OX0
#undef OX1
}

/*
 * Channel multiplier m > 1 (MobileFaceNet's 64-group conv runs as a depthwise conv with m = 2)
 * reuses the m = 1 kernels on C*m channels: the filter [KH,KW,C,M] already is [KH,KW,C*M].
 * backprop_input then yields one partial per output channel, summed per group of m by
 * sum_groups; backprop_filter needs x with each channel repeated m times (repeat_each).
 */

/* dst[i] = sum_{j<m} src[i*m + j] for i < count. */
EXPORT("sum_groups")
void sum_groups(const float *src, float *dst, int count, int m) {
  int i = 0;
  if (m == 2) {
    for (; i + 4 <= count; i += 4) {
      const v128_t a = wasm_v128_load(src + 2 * (long)i), b = wasm_v128_load(src + 2 * (long)i + 4);
      wasm_v128_store(dst + i, wasm_f32x4_add(wasm_i32x4_shuffle(a, b, 0, 2, 4, 6),
                                              wasm_i32x4_shuffle(a, b, 1, 3, 5, 7)));
    }
  }
  for (; i < count; i++) {
    float a = 0;
    for (int j = 0; j < m; j++) a += src[(long)i * m + j];
    dst[i] = a;
  }
}

/* dst[i*m + j] = src[i] for i < count, j < m. */
EXPORT("repeat_each")
void repeat_each(const float *src, float *dst, int count, int m) {
  int i = 0;
  if (m == 2) {
    for (; i + 4 <= count; i += 4) {
      const v128_t a = wasm_v128_load(src + i);
      wasm_v128_store(dst + 2 * (long)i, wasm_i32x4_shuffle(a, a, 0, 0, 1, 1));
      wasm_v128_store(dst + 2 * (long)i + 4, wasm_i32x4_shuffle(a, a, 2, 2, 3, 3));
    }
  }
  for (; i < count; i++)
    for (int j = 0; j < m; j++) dst[(long)i * m + j] = src[i];
}
