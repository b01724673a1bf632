/*
 * Training-mode batch norm (+ PReLU) forward and backward over x [m, c] (NHWC flattened: the
 * channel is the last axis), float32, in place on the tfjs wasm backend's heap (see build.sh).
 *
 * As tf ops the per-channel sums reduce the leading axes, which tfjs-backend-wasm does by
 * transposing the whole tensor first, and PReLU's gradient adds four more full-size passes: in a
 * MobileFaceNet step that was over half the time. Here each is a streaming pass: the forward reads
 * x three times (mean, variance, normalise), the backward reads dz and x̂ twice.
 *
 * Sums run over blocks of ROWS rows in float32 SIMD lanes, each block's partial then added to a
 * float64 total per channel (acc, a scratch block of the caller's): error stays that of a 64-term
 * float32 sum, whatever m is.
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

/* acc[ch] = sum_r (x[r, ch] - mu[ch])^k, k = 1 (mu unused) or 2. */
static void column_sums(const float *x, const float *mu, double *acc, int m, int c, int squares) {
  for (int ch = 0; ch < c; ch++) acc[ch] = 0;
  for (int r0 = 0; r0 < m; r0 += ROWS) {
    const int r1 = r0 + ROWS < m ? r0 + ROWS : m;
    int ch = 0;
    for (; ch + 8 <= c; ch += 8) {
      const v128_t m0 = squares ? wasm_v128_load(mu + ch) : wasm_f32x4_splat(0);
      const v128_t m1 = squares ? wasm_v128_load(mu + ch + 4) : wasm_f32x4_splat(0);
      v128_t a0 = wasm_f32x4_splat(0), a1 = a0;
      const float *p = x + (u32)r0 * c + ch;
      for (int r = r0; r < r1; r++, p += c) {
        v128_t v0 = wasm_f32x4_sub(wasm_v128_load(p), m0);
        v128_t v1 = wasm_f32x4_sub(wasm_v128_load(p + 4), m1);
        if (squares) {
          v0 = wasm_f32x4_mul(v0, v0);
          v1 = wasm_f32x4_mul(v1, v1);
        }
        a0 = wasm_f32x4_add(a0, v0);
        a1 = wasm_f32x4_add(a1, v1);
      }
      add_f64(acc + ch, a0);
      add_f64(acc + ch + 4, a1);
    }
    for (; ch < c; ch++) {
      const float mc = squares ? mu[ch] : 0.0f;
      float a = 0;
      const float *p = x + (u32)r0 * c + ch;
      for (int r = r0; r < r1; r++, p += c) {
        const float v = *p - mc;
        a += squares ? v * v : v;
      }
      acc[ch] += a;
    }
  }
}

/*
 * mean, var (biased), invstd = 1 / sqrt(var + eps); xhat = (x - mean) invstd;
 * z = gamma xhat + beta, then PReLU (z < 0: alpha z) when alpha != 0. acc: c doubles.
 */
EXPORT("bn_forward")
void bn_forward(const float *x, const float *gamma, const float *beta, const float *alpha, float *z,
                float *xhat, float *mean, float *var, float *invstd, double *acc, int m, int c,
                float eps) {
  column_sums(x, 0, acc, m, c, 0);
  for (int ch = 0; ch < c; ch++) mean[ch] = (float)(acc[ch] / m);
  column_sums(x, mean, acc, m, c, 1);
  for (int ch = 0; ch < c; ch++) {
    var[ch] = (float)(acc[ch] / m);
    invstd[ch] = 1.0f / __builtin_sqrtf(var[ch] + eps);
  }
  const v128_t zero = wasm_f32x4_splat(0);
  for (int r = 0; r < m; r++) {
    const float *p = x + (u32)r * c;
    float *h = xhat + (u32)r * c, *o = z + (u32)r * c;
    int ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      const v128_t xh = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(p + ch), wasm_v128_load(mean + ch)),
                                       wasm_v128_load(invstd + ch));
      v128_t y = wasm_f32x4_add(wasm_f32x4_mul(xh, wasm_v128_load(gamma + ch)), wasm_v128_load(beta + ch));
      if (alpha)
        y = wasm_v128_bitselect(wasm_f32x4_mul(y, wasm_v128_load(alpha + ch)), y, wasm_f32x4_lt(y, zero));
      wasm_v128_store(h + ch, xh);
      wasm_v128_store(o + ch, y);
    }
    for (; ch < c; ch++) {
      const float xh = (p[ch] - mean[ch]) * invstd[ch];
      float y = xh * gamma[ch] + beta[ch];
      if (alpha && y < 0) y *= alpha[ch];
      h[ch] = xh;
      o[ch] = y;
    }
  }
}

/*
 * Backward of bn_forward given dz and the saved xhat, invstd. With y = gamma xhat + beta and
 * dy = dz (y > 0 or no PReLU) or alpha dz: dalpha = sum dz min(y, 0), dbeta = sum dy,
 * dgamma = sum dy xhat, dx = s dy + k1 xhat + k0 with s = gamma invstd, k1 = -s dgamma / m,
 * k0 = -s dbeta / m. acc: 3c doubles, then 3c floats.
 */
EXPORT("bn_backward")
void bn_backward(const float *dz, const float *xhat, const float *gamma, const float *beta,
                 const float *alpha, const float *invstd, float *dx, float *dgamma, float *dbeta,
                 float *dalpha, double *acc, int m, int c) {
  double *sb = acc, *sg = acc + c, *sa = acc + 2 * c;
  for (int ch = 0; ch < 3 * c; ch++) acc[ch] = 0;
  const v128_t zero = wasm_f32x4_splat(0);
  for (int r0 = 0; r0 < m; r0 += ROWS) {
    const int r1 = r0 + ROWS < m ? r0 + ROWS : m;
    int ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      const v128_t g = wasm_v128_load(gamma + ch), b = wasm_v128_load(beta + ch);
      const v128_t al = alpha ? wasm_v128_load(alpha + ch) : zero;
      v128_t ab = zero, ag = zero, aa = zero;
      const float *pd = dz + (u32)r0 * c + ch, *ph = xhat + (u32)r0 * c + ch;
      for (int r = r0; r < r1; r++, pd += c, ph += c) {
        const v128_t d = wasm_v128_load(pd), h = wasm_v128_load(ph);
        v128_t dy = d;
        if (alpha) {
          const v128_t y = wasm_f32x4_add(wasm_f32x4_mul(h, g), b);
          const v128_t pos = wasm_f32x4_gt(y, zero);
          dy = wasm_v128_bitselect(d, wasm_f32x4_mul(d, al), pos);
          aa = wasm_f32x4_add(aa, wasm_f32x4_mul(d, wasm_f32x4_min(y, zero)));
        }
        ab = wasm_f32x4_add(ab, dy);
        ag = wasm_f32x4_add(ag, wasm_f32x4_mul(dy, h));
      }
      add_f64(sb + ch, ab);
      add_f64(sg + ch, ag);
      if (alpha) add_f64(sa + ch, aa);
    }
    for (; ch < c; ch++) {
      float ab = 0, ag = 0, aa = 0;
      const float *pd = dz + (u32)r0 * c + ch, *ph = xhat + (u32)r0 * c + ch;
      for (int r = r0; r < r1; r++, pd += c, ph += c) {
        float dy = *pd;
        if (alpha) {
          const float y = *ph * gamma[ch] + beta[ch];
          if (!(y > 0)) dy *= alpha[ch];
          aa += *pd * (y < 0 ? y : 0.0f);
        }
        ab += dy;
        ag += dy * *ph;
      }
      sb[ch] += ab;
      sg[ch] += ag;
      sa[ch] += aa;
    }
  }
  /* per-channel coefficients s, k1, k0, in the float part of the scratch */
  float *s = (float *)(acc + 3 * c), *k1 = s + c, *k0 = s + 2 * c;
  for (int ch = 0; ch < c; ch++) {
    dbeta[ch] = (float)sb[ch];
    dgamma[ch] = (float)sg[ch];
    if (alpha) dalpha[ch] = (float)sa[ch];
  }
  for (int ch = 0; ch < c; ch++) {
    s[ch] = gamma[ch] * invstd[ch];
    k1[ch] = s[ch] * (dgamma[ch] / (float)-m);
    k0[ch] = s[ch] * (dbeta[ch] / (float)-m);
  }
  for (int r = 0; r < m; r++) {
    const float *pd = dz + (u32)r * c, *ph = xhat + (u32)r * c;
    float *o = dx + (u32)r * c;
    int ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      const v128_t d = wasm_v128_load(pd + ch), h = wasm_v128_load(ph + ch);
      v128_t dy = d;
      if (alpha) {
        const v128_t y = wasm_f32x4_add(wasm_f32x4_mul(h, wasm_v128_load(gamma + ch)), wasm_v128_load(beta + ch));
        dy = wasm_v128_bitselect(d, wasm_f32x4_mul(d, wasm_v128_load(alpha + ch)), wasm_f32x4_gt(y, zero));
      }
      const v128_t v = wasm_f32x4_add(wasm_f32x4_mul(dy, wasm_v128_load(s + ch)),
                                      wasm_f32x4_mul(h, wasm_v128_load(k1 + ch)));
      wasm_v128_store(o + ch, wasm_f32x4_add(v, wasm_v128_load(k0 + ch)));
    }
    for (; ch < c; ch++) {
      float dy = pd[ch];
      if (alpha && !(ph[ch] * gamma[ch] + beta[ch] > 0)) dy *= alpha[ch];
      o[ch] = dy * s[ch] + ph[ch] * k1[ch] + k0[ch];
    }
  }
}

/* out[ch] = sum_r x[r, ch] (the Sum kernel over leading axes, sum.ts). acc: c doubles. */
EXPORT("column_sum")
void column_sum(const float *x, float *out, double *acc, int m, int c) {
  column_sums(x, 0, acc, m, c, 0);
  for (int ch = 0; ch < c; ch++) out[ch] = (float)acc[ch];
}
