/*
 * Winograd F(2x2, 3x3) (Lavin & Gray 2015) for stride-1 3x3 convolutions, NHWC float32, on the
 * tfjs wasm backend's heap (see build.sh). A conv becomes, per 2x2 output tile t:
 *   V = B^T d B (d: the 4x4 input patch), U = G g G^T (g: the 3x3 filter), Y = A^T (U .* V) A,
 * and the 16 element-wise products, summed over input channels, are 16 GEMMs
 *   M_xi[t, co] = sum_ci V_xi[t, ci] U_xi[ci, co]
 * that the backend's XNNPACK runs: 16 multiplies per 4 outputs against 36 direct.
 * These functions are the transforms; each of the 16 planes is its own tensor, passed as a
 * table of 16 heap pointers.
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))
typedef unsigned int u32;
typedef v128_t V;

#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define MUL wasm_f32x4_mul

/* u[xi][i] for i < c*co, from w [3][3][c][co]. */
EXPORT("wino_filter")
void wino_filter(const float *w, float *const *u, int c, int co) {
  const u32 plane = (u32)c * co;
  const V half = wasm_f32x4_splat(0.5f);
  u32 i = 0;
  for (; i + 4 <= plane; i += 4) {
    V g[3][3], t[4][3];
    for (int ky = 0; ky < 3; ky++)
      for (int kx = 0; kx < 3; kx++) g[ky][kx] = wasm_v128_load(w + (u32)(ky * 3 + kx) * plane + i);
    for (int kx = 0; kx < 3; kx++) {
      t[0][kx] = g[0][kx];
      t[1][kx] = MUL(half, ADD(ADD(g[0][kx], g[1][kx]), g[2][kx]));
      t[2][kx] = MUL(half, ADD(SUB(g[0][kx], g[1][kx]), g[2][kx]));
      t[3][kx] = g[2][kx];
    }
    for (int r = 0; r < 4; r++) {
      wasm_v128_store(u[r * 4 + 0] + i, t[r][0]);
      wasm_v128_store(u[r * 4 + 1] + i, MUL(half, ADD(ADD(t[r][0], t[r][1]), t[r][2])));
      wasm_v128_store(u[r * 4 + 2] + i, MUL(half, ADD(SUB(t[r][0], t[r][1]), t[r][2])));
      wasm_v128_store(u[r * 4 + 3] + i, t[r][2]);
    }
  }
  for (; i < plane; i++) {
    float g[3][3], t[4][3];
    for (int ky = 0; ky < 3; ky++)
      for (int kx = 0; kx < 3; kx++) g[ky][kx] = w[(u32)(ky * 3 + kx) * plane + i];
    for (int kx = 0; kx < 3; kx++) {
      t[0][kx] = g[0][kx];
      t[1][kx] = 0.5f * ((g[0][kx] + g[1][kx]) + g[2][kx]);
      t[2][kx] = 0.5f * ((g[0][kx] - g[1][kx]) + g[2][kx]);
      t[3][kx] = g[2][kx];
    }
    for (int r = 0; r < 4; r++) {
      u[r * 4 + 0][i] = t[r][0];
      u[r * 4 + 1][i] = 0.5f * ((t[r][0] + t[r][1]) + t[r][2]);
      u[r * 4 + 2][i] = 0.5f * ((t[r][0] - t[r][1]) + t[r][2]);
      u[r * 4 + 3][i] = t[r][2];
    }
  }
}

/*
 * v[xi][t*c + ch] = (B^T d B)[xi] for tiles t = (b*th + ty)*tw + tx, d the 4x4 patch of x at
 * (2ty - pt, 2tx - pl), zeros outside x.
 */
EXPORT("wino_input")
void wino_input(const float *x, float *const *v, int n, int h, int w, int c, int th, int tw, int pt,
                int pl) {
  const V zero = wasm_f32x4_splat(0);
  u32 t = 0;
  for (int b = 0; b < n; b++)
    for (int ty = 0; ty < th; ty++)
      for (int tx = 0; tx < tw; tx++, t++) {
        const float *p[16];
        for (int i = 0; i < 4; i++)
          for (int j = 0; j < 4; j++) {
            const int iy = 2 * ty - pt + i, ix = 2 * tx - pl + j;
            p[i * 4 + j] = iy >= 0 && iy < h && ix >= 0 && ix < w ? x + (((u32)b * h + iy) * w + ix) * c : 0;
          }
        const u32 o = t * (u32)c;
        int ch = 0;
        for (; ch + 4 <= c; ch += 4) {
          V d[16], s[16];
          for (int k = 0; k < 16; k++) d[k] = p[k] ? wasm_v128_load(p[k] + ch) : zero;
          for (int j = 0; j < 4; j++) {
            s[0 * 4 + j] = SUB(d[0 * 4 + j], d[2 * 4 + j]);
            s[1 * 4 + j] = ADD(d[1 * 4 + j], d[2 * 4 + j]);
            s[2 * 4 + j] = SUB(d[2 * 4 + j], d[1 * 4 + j]);
            s[3 * 4 + j] = SUB(d[1 * 4 + j], d[3 * 4 + j]);
          }
          for (int i = 0; i < 4; i++) {
            wasm_v128_store(v[i * 4 + 0] + o + ch, SUB(s[i * 4 + 0], s[i * 4 + 2]));
            wasm_v128_store(v[i * 4 + 1] + o + ch, ADD(s[i * 4 + 1], s[i * 4 + 2]));
            wasm_v128_store(v[i * 4 + 2] + o + ch, SUB(s[i * 4 + 2], s[i * 4 + 1]));
            wasm_v128_store(v[i * 4 + 3] + o + ch, SUB(s[i * 4 + 1], s[i * 4 + 3]));
          }
        }
        for (; ch < c; ch++) {
          float d[16], s[16];
          for (int k = 0; k < 16; k++) d[k] = p[k] ? p[k][ch] : 0.0f;
          for (int j = 0; j < 4; j++) {
            s[0 * 4 + j] = d[0 * 4 + j] - d[2 * 4 + j];
            s[1 * 4 + j] = d[1 * 4 + j] + d[2 * 4 + j];
            s[2 * 4 + j] = d[2 * 4 + j] - d[1 * 4 + j];
            s[3 * 4 + j] = d[1 * 4 + j] - d[3 * 4 + j];
          }
          for (int i = 0; i < 4; i++) {
            v[i * 4 + 0][o + ch] = s[i * 4 + 0] - s[i * 4 + 2];
            v[i * 4 + 1][o + ch] = s[i * 4 + 1] + s[i * 4 + 2];
            v[i * 4 + 2][o + ch] = s[i * 4 + 2] - s[i * 4 + 1];
            v[i * 4 + 3][o + ch] = s[i * 4 + 1] - s[i * 4 + 3];
          }
        }
      }
}

/* y[b, 2ty + i, 2tx + j, co] = (A^T M_t A)[i][j] where inside y, M_t[xi] = m[xi][t*co + ch]. */
EXPORT("wino_output")
void wino_output(float *const *m, float *y, int n, int oh, int ow, int co, int th, int tw) {
  u32 t = 0;
  for (int b = 0; b < n; b++)
    for (int ty = 0; ty < th; ty++)
      for (int tx = 0; tx < tw; tx++, t++) {
        const int oy = 2 * ty, ox = 2 * tx, down = oy + 1 < oh, right = ox + 1 < ow;
        float *y00 = y + (((u32)b * oh + oy) * ow + ox) * co;
        float *y10 = y00 + (u32)ow * co;
        const u32 o = t * (u32)co;
        int ch = 0;
        for (; ch + 4 <= co; ch += 4) {
          V q[16], s[8];
          for (int k = 0; k < 16; k++) q[k] = wasm_v128_load(m[k] + o + ch);
          for (int j = 0; j < 4; j++) {
            s[0 * 4 + j] = ADD(ADD(q[0 * 4 + j], q[1 * 4 + j]), q[2 * 4 + j]);
            s[1 * 4 + j] = SUB(SUB(q[1 * 4 + j], q[2 * 4 + j]), q[3 * 4 + j]);
          }
          wasm_v128_store(y00 + ch, ADD(ADD(s[0], s[1]), s[2]));
          if (right) wasm_v128_store(y00 + co + ch, SUB(SUB(s[1], s[2]), s[3]));
          if (down) {
            wasm_v128_store(y10 + ch, ADD(ADD(s[4], s[5]), s[6]));
            if (right) wasm_v128_store(y10 + co + ch, SUB(SUB(s[5], s[6]), s[7]));
          }
        }
        for (; ch < co; ch++) {
          float q[16], s[8];
          for (int k = 0; k < 16; k++) q[k] = m[k][o + ch];
          for (int j = 0; j < 4; j++) {
            s[0 * 4 + j] = (q[0 * 4 + j] + q[1 * 4 + j]) + q[2 * 4 + j];
            s[1 * 4 + j] = (q[1 * 4 + j] - q[2 * 4 + j]) - q[3 * 4 + j];
          }
          y00[ch] = (s[0] + s[1]) + s[2];
          if (right) y00[co + ch] = (s[1] - s[2]) - s[3];
          if (down) {
            y10[ch] = (s[4] + s[5]) + s[6];
            if (right) y10[co + ch] = (s[5] - s[6]) - s[7];
          }
        }
      }
}

/*
 * Weight gradient of the same F(2x2, 3x3) conv. With y = A^T [U .* V] A per tile and loss
 * gradient e (a 2x2 tile of dy): dL/dU = (A e A^T) .* V, so
 *   dW = G^T P G,  P_xi[ci, co] = sum_t V_xi[t, ci] E_xi[t, co],  E = A e A^T,
 * with V the forward's input transform (wino_input). 16 multiplies per tile and channel pair
 * against 36 direct.
 */

/* e[xi][t*co + ch] = (A e_t A^T)[xi], e_t the 2x2 tile of dy at (2ty, 2tx), zeros outside dy. */
EXPORT("wino_dy")
void wino_dy(const float *dy, float *const *e, int n, int oh, int ow, int co, int th, int tw) {
  const V zero = wasm_f32x4_splat(0);
  u32 t = 0;
  for (int b = 0; b < n; b++)
    for (int ty = 0; ty < th; ty++)
      for (int tx = 0; tx < tw; tx++, t++) {
        const int oy = 2 * ty, ox = 2 * tx, down = oy + 1 < oh, right = ox + 1 < ow;
        const float *p00 = dy + (((u32)b * oh + oy) * ow + ox) * co;
        const float *p10 = p00 + (u32)ow * co;
        const u32 o = t * (u32)co;
        int ch = 0;
        for (; ch + 4 <= co; ch += 4) {
          const V e00 = wasm_v128_load(p00 + ch), e01 = right ? wasm_v128_load(p00 + co + ch) : zero;
          const V e10 = down ? wasm_v128_load(p10 + ch) : zero;
          const V e11 = down && right ? wasm_v128_load(p10 + co + ch) : zero;
          /* rows of A e: e0, e0 + e1, e0 - e1, -e1 (A = [1 0; 1 1; 1 -1; 0 -1]) */
          const V r[4][2] = {{e00, e01}, {ADD(e00, e10), ADD(e01, e11)}, {SUB(e00, e10), SUB(e01, e11)},
                             {SUB(zero, e10), SUB(zero, e11)}};
          for (int i = 0; i < 4; i++) {
            wasm_v128_store(e[i * 4 + 0] + o + ch, r[i][0]);
            wasm_v128_store(e[i * 4 + 1] + o + ch, ADD(r[i][0], r[i][1]));
            wasm_v128_store(e[i * 4 + 2] + o + ch, SUB(r[i][0], r[i][1]));
            wasm_v128_store(e[i * 4 + 3] + o + ch, SUB(zero, r[i][1]));
          }
        }
        for (; ch < co; ch++) {
          const float e00 = p00[ch], e01 = right ? p00[co + ch] : 0.0f;
          const float e10 = down ? p10[ch] : 0.0f, e11 = down && right ? p10[co + ch] : 0.0f;
          const float r[4][2] = {{e00, e01}, {e00 + e10, e01 + e11}, {e00 - e10, e01 - e11}, {-e10, -e11}};
          for (int i = 0; i < 4; i++) {
            e[i * 4 + 0][o + ch] = r[i][0];
            e[i * 4 + 1][o + ch] = r[i][0] + r[i][1];
            e[i * 4 + 2][o + ch] = r[i][0] - r[i][1];
            e[i * 4 + 3][o + ch] = -r[i][1];
          }
        }
      }
}

/* dw[ky][kx][i] = (G^T P G)[ky][kx] for i < c*co, P[xi] = p[xi][i]; G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]. */
EXPORT("wino_filter_grad")
void wino_filter_grad(float *const *p, float *dw, int c, int co) {
  const u32 plane = (u32)c * co;
  for (u32 i = 0; i < plane; i++) {
    float q[4][4], s[3][4];
    for (int k = 0; k < 16; k++) q[k / 4][k % 4] = p[k][i];
    for (int j = 0; j < 4; j++) {
      s[0][j] = q[0][j] + 0.5f * (q[1][j] + q[2][j]);
      s[1][j] = 0.5f * (q[1][j] - q[2][j]);
      s[2][j] = 0.5f * (q[1][j] + q[2][j]) + q[3][j];
    }
    for (int r = 0; r < 3; r++) {
      dw[(u32)(r * 3 + 0) * plane + i] = s[r][0] + 0.5f * (s[r][1] + s[r][2]);
      dw[(u32)(r * 3 + 1) * plane + i] = 0.5f * (s[r][1] - s[r][2]);
      dw[(u32)(r * 3 + 2) * plane + i] = 0.5f * (s[r][1] + s[r][2]) + s[r][3];
    }
  }
}
