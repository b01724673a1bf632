/*
 * dlib's conv layer tail, y = act((z + bias) * scale + shift [+ r]) with act ReLU or identity,
 * forward and backward over z [m, c] (NHWC flattened, channels last), float32, on the tfjs wasm
 * backend's heap (see build.sh). As tf ops it is 4-5 full-size passes forward and, with autodiff's
 * Step, Cast, Multiply and the bias / scale / shift sums, about ten backward; here one each.
 *
 * Backward, with g = dy where y > 0 (or everywhere without ReLU):
 *   dz = g * scale,  dr = g,  dshift = sum g,  dbias = scale * sum g,  dscale = sum g * (z + bias).
 * The sums run over blocks of ROWS rows in float32 SIMD lanes, each block's partial added to a
 * float64 total per channel (acc, 2c doubles of the caller's), as in bn.c.
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define ROWS 64

typedef unsigned int u32;

static inline void add_f64(double *acc, v128_t v) {
  v128_t lo = wasm_f64x2_promote_low_f32x4(v);
  v128_t hi = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  wasm_v128_store(acc, wasm_f64x2_add(wasm_v128_load(acc), lo));
  wasm_v128_store(acc + 2, wasm_f64x2_add(wasm_v128_load(acc + 2), hi));
}

/* y = act((z + b) * s + t [+ r]); r may be 0 (no residual). The order of the float32 operations
   is the tf ops' (add, multiply, add, add), so results are the composite's to the bit. */
EXPORT("affine_forward")
void affine_forward(const float *z, const float *r, const float *b, const float *s, const float *t, float *y, int m,
                    int c, int relu) {
  const int c4 = c & ~3;
  const v128_t zero = wasm_f32x4_splat(0);
  for (int i = 0; i < m; i++) {
    const float *zi = z + (u32)i * c;
    const float *ri = r ? r + (u32)i * c : 0;
    float *yi = y + (u32)i * c;
    int ch = 0;
    for (; ch < c4; ch += 4) {
      v128_t v = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_add(wasm_v128_load(zi + ch), wasm_v128_load(b + ch)),
                                               wasm_v128_load(s + ch)),
                                wasm_v128_load(t + ch));
      if (ri) v = wasm_f32x4_add(v, wasm_v128_load(ri + ch));
      if (relu) v = wasm_f32x4_max(v, zero);
      wasm_v128_store(yi + ch, v);
    }
    for (; ch < c; ch++) {
      float v = (zi[ch] + b[ch]) * s[ch] + t[ch];
      if (ri) v += ri[ch];
      if (relu && !(v > 0)) v = 0;
      yi[ch] = v;
    }
  }
}

/* dz (and g into dr when dr != 0); sums: dbias, dscale, dshift [c] each. y is only read with ReLU. */
EXPORT("affine_backward")
void affine_backward(const float *dy, const float *z, const float *y, const float *b, const float *s, float *dz,
                     float *dr, float *dbias, float *dscale, float *dshift, double *acc, int m, int c, int relu) {
  const int c4 = c & ~3;
  const v128_t zero = wasm_f32x4_splat(0);
  double *gsum = acc, *gzsum = acc + c;
  for (int ch = 0; ch < 2 * c; ch++) acc[ch] = 0;
  for (int r0 = 0; r0 < m; r0 += ROWS) {
    const int r1 = r0 + ROWS < m ? r0 + ROWS : m;
    int ch = 0;
    for (; ch < c4; ch += 4) {
      const v128_t bv = wasm_v128_load(b + ch), sv = wasm_v128_load(s + ch);
      v128_t a = zero, az = zero;
      for (int i = r0; i < r1; i++) {
        const u32 at = (u32)i * c + ch;
        v128_t g = wasm_v128_load(dy + at);
        if (relu) g = wasm_v128_and(g, wasm_f32x4_gt(wasm_v128_load(y + at), zero));
        wasm_v128_store(dz + at, wasm_f32x4_mul(g, sv));
        if (dr) wasm_v128_store(dr + at, g);
        a = wasm_f32x4_add(a, g);
        az = wasm_f32x4_add(az, wasm_f32x4_mul(g, wasm_f32x4_add(wasm_v128_load(z + at), bv)));
      }
      add_f64(gsum + ch, a);
      add_f64(gzsum + ch, az);
    }
    for (; ch < c; ch++) {
      float a = 0, az = 0;
      for (int i = r0; i < r1; i++) {
        const u32 at = (u32)i * c + ch;
        const float g = relu && !(y[at] > 0) ? 0.0f : dy[at];
        dz[at] = g * s[ch];
        if (dr) dr[at] = g;
        a += g;
        az += g * (z[at] + b[ch]);
      }
      gsum[ch] += a;
      gzsum[ch] += az;
    }
  }
  for (int ch = 0; ch < c; ch++) {
    dshift[ch] = (float)gsum[ch];
    dbias[ch] = (float)(gsum[ch] * s[ch]);
    dscale[ch] = (float)gzsum[ch];
  }
}
