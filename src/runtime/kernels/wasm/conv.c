/*
 * Data-movement helpers for the wasm conv-gradient kernels (NHWC, float32). The module imports
 * the tfjs wasm backend's linear memory, so pointers are tensor offsets in that heap; the heavy
 * arithmetic stays in the backend's XNNPACK GEMM. Built by build.sh.
 */
#include <wasm_simd128.h>

typedef unsigned int u32;

/*
 * Transposed im2col for dW = A * dy (A: [KH*KW*C, P], dy: [P, Co]) over the output rows
 * r = b*oh + oy in [r0, r1), so P = (r1 - r0)*ow:
 *   A[(ky*kw + kx)*c + ci][p] = x[b, oy*sh + ky - pt, ox*sw + kx - pl, ci], 0 outside x,
 * with p = (r - r0)*ow + ox. Per (row, ky, kx) each destination row gets one contiguous run
 * of ow floats, written run by run (ci outer): the c rows are P floats apart, often a multiple
 * of 4 KiB, and interleaving writes across them thrashed the cache sets. The source row of x
 * (w*c floats) stays in L1 while it is read with stride c.
 */
__attribute__((export_name("im2col_t")))
void im2col_t(const float *x, float *out, int r0, int r1, int h, int w, int c, int kh, int kw,
              int oh, int ow, int sh, int sw, int pt, int pl) {
  const u32 P = (u32)(r1 - r0) * ow;
  for (int r = r0; r < r1; r++) {
    const int b = r / oh, oy = r % oh;
    const u32 p0 = (u32)(r - r0) * ow;
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

/*
 * Batched transpose of the last two axes: dst[b][j][i] = src[b][i][j] for [batch, rows, cols].
 * The wasm backend's BatchMatMul runs its transposeA/transposeB paths 8-20x slower than the
 * plain one (no packed XNNPACK path for them), so transposing first and multiplying plainly
 * wins by far. 4x4 register blocks (SIMD shuffles) inside 32x32 tiles that stay in L1.
 */

__attribute__((export_name("transpose_last2")))
void transpose_last2(const float *src, float *dst, int batch, int rows, int cols) {
  const int T = 32;
  for (int b = 0; b < batch; b++) {
    const float *s = src + (u32)b * rows * cols;
    float *d = dst + (u32)b * rows * cols;
    for (int i0 = 0; i0 < rows; i0 += T) {
      const int i1 = i0 + T < rows ? i0 + T : rows;
      for (int j0 = 0; j0 < cols; j0 += T) {
        const int j1 = j0 + T < cols ? j0 + T : cols;
        int i = i0;
        for (; i + 4 <= i1; i += 4) {
          int j = j0;
          for (; j + 4 <= j1; j += 4) {
            v128_t r0 = wasm_v128_load(s + (u32)i * cols + j);
            v128_t r1 = wasm_v128_load(s + (u32)(i + 1) * cols + j);
            v128_t r2 = wasm_v128_load(s + (u32)(i + 2) * cols + j);
            v128_t r3 = wasm_v128_load(s + (u32)(i + 3) * cols + j);
            v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5);
            v128_t t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
            v128_t t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5);
            v128_t t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
            wasm_v128_store(d + (u32)j * rows + i, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
            wasm_v128_store(d + (u32)(j + 1) * rows + i, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
            wasm_v128_store(d + (u32)(j + 2) * rows + i, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
            wasm_v128_store(d + (u32)(j + 3) * rows + i, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
          }
          for (; j < j1; j++)
            for (int k = 0; k < 4; k++) d[(u32)j * rows + i + k] = s[(u32)(i + k) * cols + j];
        }
        for (; i < i1; i++)
          for (int j = j0; j < j1; j++) d[(u32)j * rows + i] = s[(u32)i * cols + j];
      }
    }
  }
}

/*
 * One phase of Conv2DBackpropInput's output into dx:
 *   dx[b, y0 + sh*i, x0 + sw*j, :] = z[b, zr0 + i, zc0 + j, :],  i < cy, j < cx,
 * z: [n, zrows, zcols, c] (the phase's conv output), dx: [n, hh, ww, c]. Each pixel is one run
 * of c floats (memory.copy). The backend's Transpose and Slice, which did this before, took
 * longer than the conv they followed on IResNet's stride-2 layers.
 */
__attribute__((export_name("scatter_phase")))
void scatter_phase(const float *z, float *dx, int n, int zrows, int zcols, int c, int hh, int ww,
                   int sh, int sw, int y0, int x0, int cy, int cx, int zr0, int zc0) {
  for (int b = 0; b < n; b++) {
    for (int i = 0; i < cy; i++) {
      const float *zr = z + (((u32)b * zrows + zr0 + i) * zcols + zc0) * (u32)c;
      float *d = dx + (((u32)b * hh + y0 + sh * i) * ww + x0) * (u32)c;
      for (int j = 0; j < cx; j++, zr += c, d += sw * c)
        __builtin_memcpy(d, zr, (u32)c * sizeof(float));
    }
  }
}

/* acc[i] += part[i]: dW's chunk sums, in place in the kernel's own accumulator. */
__attribute__((export_name("add_into")))
void add_into(float *acc, const float *part, int count) {
  int i = 0;
  for (; i + 4 <= count; i += 4)
    wasm_v128_store(acc + i, wasm_f32x4_add(wasm_v128_load(acc + i), wasm_v128_load(part + i)));
  for (; i < count; i++) acc[i] += part[i];
}
