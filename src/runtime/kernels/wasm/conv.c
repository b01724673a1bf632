/*
 * Data-movement helpers for the wasm conv-gradient kernels (NHWC, float32). The module imports
 * the tfjs wasm backend's linear memory, so pointers are tensor offsets in that heap; the heavy
 * arithmetic stays in the backend's XNNPACK GEMM. Built by build_conv.sh.
 */
typedef unsigned int u32;

/*
 * Transposed im2col for dW = A * dy (A: [KH*KW*C, P], dy: [P, Co], P = N*OH*OW):
 *   A[(ky*kw + kx)*c + ci][p] = x[b, oy*sh + ky - pt, ox*sw + kx - pl, ci], 0 outside x,
 * with p = (b*oh + oy)*ow + ox. Per (b, oy, ky, kx) each destination row gets one contiguous run
 * of ow floats, written run by run (ci outer): the c rows are P floats apart, often a multiple
 * of 4 KiB, and interleaving writes across them thrashed the cache sets. The source row of x
 * (w*c floats) stays in L1 while it is read with stride c.
 */
__attribute__((export_name("im2col_t")))
void im2col_t(const float *x, float *out, int n, int h, int w, int c, int kh, int kw, int oh,
              int ow, int sh, int sw, int pt, int pl) {
  const u32 P = (u32)n * oh * ow;
  for (int b = 0; b < n; b++) {
    for (int oy = 0; oy < oh; oy++) {
      const u32 p0 = ((u32)b * oh + oy) * ow;
      for (int ky = 0; ky < kh; ky++) {
        const int iy = oy * sh + ky - pt;
        const int inside = iy >= 0 && iy < h;
        for (int kx = 0; kx < kw; kx++) {
          float *o = out + (u32)(ky * kw + kx) * c * P + p0;
          /* valid ox: 0 <= ox*sw + kx - pl < w */
          int lo = 0, hi = 0;
          if (inside) {
            const int a = pl - kx;
            lo = a > 0 ? (a + sw - 1) / sw : 0;
            hi = (w - 1 + pl - kx) >= 0 ? (w - 1 + pl - kx) / sw + 1 : 0;
            if (hi > ow) hi = ow;
            if (lo > hi) lo = hi;
          }
          const float *src = inside ? x + (((u32)b * h + iy) * w + (lo * sw + kx - pl)) * c : x;
          const u32 step = (u32)sw * c;
          for (int ci = 0; ci < c; ci++) {
            float *d = o + (u32)ci * P;
            int ox = 0;
            for (; ox < lo; ox++) d[ox] = 0.0f;
            const float *s = src + ci;
            for (; ox < hi; ox++, s += step) d[ox] = *s;
            for (; ox < ow; ox++) d[ox] = 0.0f;
          }
        }
      }
    }
  }
}
