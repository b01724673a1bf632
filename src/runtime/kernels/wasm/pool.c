/*
 * Max-pool gradient (NHWC, float32) on the tfjs wasm backend's heap (see build.sh): each dy value
 * goes to the first maximum of its window in row-major order (strictly greater replaces), as the
 * tfjs cpu backend's maxPoolPositions picks it; ties are common after a ReLU (windows of zeros).
 * Vectorised over channels: per lane the best value and the offset it came from.
 */
#include <wasm_simd128.h>

typedef unsigned int u32;

__attribute__((export_name("max_pool_grad")))
void max_pool_grad(const float *x, const float *dy, float *dx, int n, int h, int w, int c, int kh,
                   int kw, int oh, int ow, int sh, int sw, int pt, int pl) {
  __builtin_memset(dx, 0, sizeof(float) * (u32)n * h * w * c);
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < oh; oy++) {
      const int y0 = oy * sh - pt;
      const int ya = y0 < 0 ? 0 : y0, yb = y0 + kh < h ? y0 + kh : h;
      for (int ox = 0; ox < ow; ox++) {
        const int x0 = ox * sw - pl;
        const int xa = x0 < 0 ? 0 : x0, xb = x0 + kw < w ? x0 + kw : w;
        const float *g = dy + (((u32)b * oh + oy) * ow + ox) * c;
        const u32 base = (u32)b * h * w * c;
        int ch = 0;
        for (; ch + 4 <= c; ch += 4) {
          v128_t best = wasm_f32x4_splat(-__builtin_inff());
          v128_t at = wasm_i32x4_splat(-1);
          for (int y = ya; y < yb; y++)
            for (int xx = xa; xx < xb; xx++) {
              const int off = (int)(base + ((u32)y * w + xx) * c + ch);
              const v128_t v = wasm_v128_load(x + off);
              const v128_t gt = wasm_f32x4_gt(v, best);
              best = wasm_v128_bitselect(v, best, gt);
              at = wasm_v128_bitselect(wasm_i32x4_splat(off), at, gt);
            }
          int o[4];
          wasm_v128_store(o, at);
          for (int k = 0; k < 4; k++)
            if (o[k] >= 0) dx[o[k] + k] += g[ch + k];
        }
        for (; ch < c; ch++) {
          float best = -__builtin_inff();
          int at = -1;
          for (int y = ya; y < yb; y++)
            for (int xx = xa; xx < xb; xx++) {
              const int off = (int)(base + ((u32)y * w + xx) * c + ch);
              if (x[off] > best) best = x[off], at = off;
            }
          if (at >= 0) dx[at] += g[ch];
        }
      }
    }
}
