/*
 * Depthwise-conv gradients (NHWC, float32) for tfjs-backend-wasm.
 *
 * Built by build_depthwise.sh into a tiny module that imports the backend's own linear memory,
 * so it reads and writes tensors in place (pointers are the backend's memoryOffsets): no copies.
 * It must not own any data segment (instantiating would overwrite backend memory), and its shadow
 * stack pointer is moved by the loader into a block malloc'ed from the backend.
 *
 * Layouts: x/dx [N,H,W,C], dy [N,OH,OW,C*M], filter/dw [KH,KW,C,M]. The fast paths need M == 1
 * and vectorise over channels (innermost in NHWC); M > 1 uses the scalar generic loops.
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

/*
 * dx[n,iy,ix,c] = sum over taps with iy + pt = oy*sh + ky (same for x) of dy[n,oy,ox,c] * w[ky,kx,c].
 * Gathering per input pixel keeps the sums in registers and writes dx once, with no zero fill.
 */
EXPORT("backprop_input")
void backprop_input(const float *dy, const float *w, float *dx, int n_, int h, int wd, int c, int kh,
                    int kw, int oh, int ow, int sh, int sw, int pt, int pl) {
  for (int n = 0; n < n_; n++) {
    const float *dyn = dy + (long)n * oh * ow * c;
    for (int iy = 0; iy < h; iy++) {
      const int ty = iy + pt, ky0 = first_tap(ty, sh, oh), ky1 = imin(ty, kh - 1);
      for (int ix = 0; ix < wd; ix++) {
        const int tx = ix + pl, kx0 = first_tap(tx, sw, ow), kx1 = imin(tx, kw - 1);
        float *out = dx + (((long)n * h + iy) * wd + ix) * c;
        int ch = 0;
        for (; ch + 16 <= c; ch += 16) {
          v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
          for (int ky = ky0; ky <= ky1; ky += sh) {
            const float *dyr = dyn + (long)((ty - ky) / sh) * ow * c + ch;
            const float *wr = w + (long)ky * kw * c + ch;
            for (int kx = kx0; kx <= kx1; kx += sw) {
              const float *p = dyr + (long)((tx - kx) / sw) * c, *q = wr + (long)kx * c;
              a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(p), wasm_v128_load(q)));
              a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load(p + 4), wasm_v128_load(q + 4)));
              a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(wasm_v128_load(p + 8), wasm_v128_load(q + 8)));
              a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(wasm_v128_load(p + 12), wasm_v128_load(q + 12)));
            }
          }
          wasm_v128_store(out + ch, a0);
          wasm_v128_store(out + ch + 4, a1);
          wasm_v128_store(out + ch + 8, a2);
          wasm_v128_store(out + ch + 12, a3);
        }
        for (; ch + 4 <= c; ch += 4) {
          v128_t a0 = wasm_f32x4_splat(0);
          for (int ky = ky0; ky <= ky1; ky += sh) {
            const float *dyr = dyn + (long)((ty - ky) / sh) * ow * c + ch;
            const float *wr = w + (long)ky * kw * c + ch;
            for (int kx = kx0; kx <= kx1; kx += sw) {
              const float *p = dyr + (long)((tx - kx) / sw) * c, *q = wr + (long)kx * c;
              a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(p), wasm_v128_load(q)));
            }
          }
          wasm_v128_store(out + ch, a0);
        }
        for (; ch < c; ch++) {
          float a = 0;
          for (int ky = ky0; ky <= ky1; ky += sh)
            for (int kx = kx0; kx <= kx1; kx += sw)
              a += dyn[((long)((ty - ky) / sh) * ow + (tx - kx) / sw) * c + ch] * w[((long)ky * kw + kx) * c + ch];
          out[ch] = a;
        }
      }
    }
  }
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
  for (int n = 0; n < n_; n++) {
    for (int oy = 0; oy < oh; oy++) {
      const float *dyr = dy + ((long)n * oh + oy) * ow * c;
      for (int ky = 0; ky < kh; ky++) {
        const int iy = oy * sh - pt + ky;
        if (iy < 0 || iy >= h) continue;
        const float *xr = x + ((long)n * h + iy) * wd * c;
        for (int kx = 0; kx < kw; kx++) {
          /* outputs whose input column ox*sw - pl + kx lies inside [0, wd) */
          const int ox0 = imax(0, floor_div(pl - kx + sw - 1, sw));
          const int ox1 = imin(ow - 1, floor_div(wd - 1 + pl - kx, sw));
          if (ox0 > ox1) continue;
          const float *xb = xr + ((long)ox0 * sw - pl + kx) * c, *db = dyr + (long)ox0 * c;
          float *d = dw + ((long)ky * kw + kx) * c;
          const int cnt = ox1 - ox0 + 1;
          int ch = 0;
          for (; ch + 16 <= c; ch += 16) {
            v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
            const float *p = xb + ch, *q = db + ch;
            for (int i = 0; i < cnt; i++, p += xs, q += c) {
              a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(p), wasm_v128_load(q)));
              a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load(p + 4), wasm_v128_load(q + 4)));
              a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(wasm_v128_load(p + 8), wasm_v128_load(q + 8)));
              a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(wasm_v128_load(p + 12), wasm_v128_load(q + 12)));
            }
            wasm_v128_store(d + ch, wasm_f32x4_add(wasm_v128_load(d + ch), a0));
            wasm_v128_store(d + ch + 4, wasm_f32x4_add(wasm_v128_load(d + ch + 4), a1));
            wasm_v128_store(d + ch + 8, wasm_f32x4_add(wasm_v128_load(d + ch + 8), a2));
            wasm_v128_store(d + ch + 12, wasm_f32x4_add(wasm_v128_load(d + ch + 12), a3));
          }
          for (; ch + 4 <= c; ch += 4) {
            v128_t a0 = wasm_f32x4_splat(0);
            const float *p = xb + ch, *q = db + ch;
            for (int i = 0; i < cnt; i++, p += xs, q += c)
              a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(p), wasm_v128_load(q)));
            wasm_v128_store(d + ch, wasm_f32x4_add(wasm_v128_load(d + ch), a0));
          }
          for (; ch < c; ch++) {
            float a = 0;
            const float *p = xb + ch, *q = db + ch;
            for (int i = 0; i < cnt; i++, p += xs, q += c) a += *p * *q;
            d[ch] += a;
          }
        }
      }
    }
  }
}

/* Scalar version of both for channel multiplier m > 1 (no MobileFaceNet layer uses it). */
EXPORT("backprop_input_mult")
void backprop_input_mult(const float *dy, const float *w, float *dx, int n_, int h, int wd, int c, int m,
                         int kh, int kw, int oh, int ow, int sh, int sw, int pt, int pl) {
  const int co = c * m;
  for (int n = 0; n < n_; n++)
    for (int iy = 0; iy < h; iy++) {
      const int ty = iy + pt, ky0 = first_tap(ty, sh, oh), ky1 = imin(ty, kh - 1);
      for (int ix = 0; ix < wd; ix++) {
        const int tx = ix + pl, kx0 = first_tap(tx, sw, ow), kx1 = imin(tx, kw - 1);
        for (int ch = 0; ch < c; ch++) {
          float a = 0;
          for (int ky = ky0; ky <= ky1; ky += sh)
            for (int kx = kx0; kx <= kx1; kx += sw) {
              const float *p = dy + (((long)n * oh + (ty - ky) / sh) * ow + (tx - kx) / sw) * co + (long)ch * m;
              const float *q = w + (((long)ky * kw + kx) * c + ch) * m;
              for (int j = 0; j < m; j++) a += p[j] * q[j];
            }
          dx[(((long)n * h + iy) * wd + ix) * c + ch] = a;
        }
      }
    }
}

EXPORT("backprop_filter_mult")
void backprop_filter_mult(const float *x, const float *dy, float *dw, int n_, int h, int wd, int c, int m,
                          int kh, int kw, int oh, int ow, int sh, int sw, int pt, int pl) {
  const int co = c * m;
  __builtin_memset(dw, 0, sizeof(float) * (unsigned long)kh * kw * co);
  for (int n = 0; n < n_; n++)
    for (int oy = 0; oy < oh; oy++)
      for (int ky = 0; ky < kh; ky++) {
        const int iy = oy * sh - pt + ky;
        if (iy < 0 || iy >= h) continue;
        for (int ox = 0; ox < ow; ox++)
          for (int kx = 0; kx < kw; kx++) {
            const int ix = ox * sw - pl + kx;
            if (ix < 0 || ix >= wd) continue;
            const float *p = x + (((long)n * h + iy) * wd + ix) * c;
            const float *q = dy + (((long)n * oh + oy) * ow + ox) * co;
            float *d = dw + ((long)ky * kw + kx) * co;
            for (int ch = 0; ch < c; ch++)
              for (int j = 0; j < m; j++) d[ch * m + j] += p[ch] * q[ch * m + j];
          }
      }
}
