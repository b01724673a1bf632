// C[M,N] (+)= A[M,K] * B[K,N], row-major f32, with B packed into panels of 8 columns.
// Register tiles of 6x8 (12 accumulators, 2 B vectors, 1 splat of A: 15 of the 16 xmm registers
// V8 allocates on x64; the layout of XNNPACK's f32-gemm 6x8 wasmsimd "loadsplat" micro-kernels)
// and 4x8, chosen per call (gemm.ts): V8 12.4 (Node 22) hoists the 6 splats of an iteration above
// the multiply-adds and spills accumulators (32-39 GFLOP/s with FMA, 50-54 with 4x8); V8 13.6
// (Node 24) keeps the 6x8 tile in registers (55-62 against 48-54). Every element of C sums over k
// in the same order in both tiles, so the choice never changes a result.
// Built twice by build.sh: gemm.wasm with f32x4 mul + add (every wasm SIMD engine) and
// gemm_fma.wasm with -DUSE_FMA, f32x4.relaxed_madd (one FMA where the CPU has it; results may
// differ in the last bit between CPUs that fuse and those that do not).
#include <stdint.h>
#include <wasm_simd128.h>

#ifdef USE_FMA
#define MADD(a, b, c) wasm_f32x4_relaxed_madd((a), (b), (c))
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul((a), (b)), (c))
#endif

// Packs B[K,N] (row stride ldb) into ceil(N/8) panels of K x 8 floats, zero beyond N.
__attribute__((export_name("gemm_pack_b"))) void gemm_pack_b(const float *b, int32_t K, int32_t N, int32_t ldb,
                                                           float *packed) {
  for (int32_t n0 = 0; n0 < N; n0 += 8) {
    const int32_t w = N - n0 < 8 ? N - n0 : 8;
    for (int32_t k = 0; k < K; k++) {
      const float *src = b + (int64_t)k * ldb + n0;
      float *dst = packed + (int64_t)n0 * K + (int64_t)k * 8;
      for (int32_t j = 0; j < 8; j++) dst[j] = j < w ? src[j] : 0.0f;
    }
  }
}

// Stores rows x cols of the accumulators acc[2r], acc[2r+1] (row r) to C, adding to it if asked.
static inline void store(const v128_t *acc, float *c, int32_t ldc, int32_t rows, int32_t cols, int32_t accumulate) {
  for (int32_t r = 0; r < rows; r++) {
    float *dst = c + (int64_t)r * ldc;
    if (cols == 8) {
      v128_t v0 = acc[2 * r], v1 = acc[2 * r + 1];
      if (accumulate) {
        v0 = wasm_f32x4_add(v0, wasm_v128_load(dst));
        v1 = wasm_f32x4_add(v1, wasm_v128_load(dst + 4));
      }
      wasm_v128_store(dst, v0);
      wasm_v128_store(dst + 4, v1);
    } else {
      float t[8];
      wasm_v128_store(t, acc[2 * r]);
      wasm_v128_store(t + 4, acc[2 * r + 1]);
      for (int32_t j = 0; j < cols; j++) dst[j] = accumulate ? dst[j] + t[j] : t[j];
    }
  }
}


// One tile of up to 6 rows x 8 columns over depth K; A's element (r, k) is a[r*rs + k*ks], so
// A may be read transposed (rs = 1: the 6 values of one k are adjacent). `accumulate` adds to C.
static inline void tile6(const float *a, int32_t rs, int32_t ks, const float *bp, int32_t K, float *c, int32_t ldc,
                        int32_t rows, int32_t cols, int32_t accumulate) {
  // Rows past `rows` re-read the last real row: their sums are computed and never stored.
  const float *a0 = a;
  const float *a1 = rows > 1 ? a0 + rs : a0;
  const float *a2 = rows > 2 ? a1 + rs : a1;
  const float *a3 = rows > 3 ? a2 + rs : a2;
  const float *a4 = rows > 4 ? a3 + rs : a3;
  const float *a5 = rows > 5 ? a4 + rs : a4;
  v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  v128_t c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int32_t k = 0; k < K; k++) {
    const v128_t b0 = wasm_v128_load(bp);
    const v128_t b1 = wasm_v128_load(bp + 4);
    bp += 8;
    v128_t x = wasm_v128_load32_splat(a0);
    c00 = MADD(x, b0, c00);
    c01 = MADD(x, b1, c01);
    x = wasm_v128_load32_splat(a1);
    c10 = MADD(x, b0, c10);
    c11 = MADD(x, b1, c11);
    x = wasm_v128_load32_splat(a2);
    c20 = MADD(x, b0, c20);
    c21 = MADD(x, b1, c21);
    x = wasm_v128_load32_splat(a3);
    c30 = MADD(x, b0, c30);
    c31 = MADD(x, b1, c31);
    x = wasm_v128_load32_splat(a4);
    c40 = MADD(x, b0, c40);
    c41 = MADD(x, b1, c41);
    x = wasm_v128_load32_splat(a5);
    c50 = MADD(x, b0, c50);
    c51 = MADD(x, b1, c51);
    a0 += ks;
    a1 += ks;
    a2 += ks;
    a3 += ks;
    a4 += ks;
    a5 += ks;
  }
  const v128_t acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  store(acc, c, ldc, rows, cols, accumulate);
}

// The same over up to 4 rows.
static inline void tile4(const float *a, int32_t rs, int32_t ks, const float *bp, int32_t K, float *c, int32_t ldc,
                         int32_t rows, int32_t cols, int32_t accumulate) {
  const float *a0 = a;
  const float *a1 = rows > 1 ? a0 + rs : a0;
  const float *a2 = rows > 2 ? a1 + rs : a1;
  const float *a3 = rows > 3 ? a2 + rs : a2;
  v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int32_t k = 0; k < K; k++) {
    const v128_t b0 = wasm_v128_load(bp);
    const v128_t b1 = wasm_v128_load(bp + 4);
    bp += 8;
    v128_t x = wasm_v128_load32_splat(a0);
    c00 = MADD(x, b0, c00);
    c01 = MADD(x, b1, c01);
    x = wasm_v128_load32_splat(a1);
    c10 = MADD(x, b0, c10);
    c11 = MADD(x, b1, c11);
    x = wasm_v128_load32_splat(a2);
    c20 = MADD(x, b0, c20);
    c21 = MADD(x, b1, c21);
    x = wasm_v128_load32_splat(a3);
    c30 = MADD(x, b0, c30);
    c31 = MADD(x, b1, c31);
    a0 += ks;
    a1 += ks;
    a2 += ks;
    a3 += ks;
  }
  const v128_t acc[8] = {c00, c01, c10, c11, c20, c21, c30, c31};
  store(acc, c, ldc, rows, cols, accumulate);
}

// C[M,N] = A * B (accumulate = 0) or C += A * B, with A[r, k] = a[r*rs + k*ks] and B packed by
// gemm_pack_b, in tiles of mr rows. Rows go in blocks of MC so a block of A stays in L2 while every
// panel of B passes over it; depth in blocks of KC so a panel slice (KC x 8 floats) stays in L1.
// The sum over k is always in the same order for the same K, whatever M, N, the strides or the
// tile: results are reproducible. One exported function per tile (`blocked` inlined with a
// constant mr), so V8 compiles each loop on its own: one function holding both tiles ran the 6x8
// loop ~10% slower on V8 13.6.
static inline __attribute__((always_inline)) void blocked(const int32_t mr, const float *a, int32_t rs, int32_t ks,
                                                         const float *bpacked, float *c, int32_t ldc, int32_t M,
                                                         int32_t K, int32_t N, int32_t accumulate) {
  enum { MC = 96, KC = 256 };
  for (int32_t m0 = 0; m0 < M; m0 += MC) {
    const int32_t mEnd = m0 + MC < M ? m0 + MC : M;
    for (int32_t k0 = 0; k0 < K; k0 += KC) {
      const int32_t kc = K - k0 < KC ? K - k0 : KC;
      const int32_t acc = accumulate || k0 > 0;
      for (int32_t n0 = 0; n0 < N; n0 += 8) {
        const float *bp = bpacked + (int64_t)n0 * K + (int64_t)k0 * 8;
        const int32_t cols = N - n0 < 8 ? N - n0 : 8;
        for (int32_t m = m0; m < mEnd; m += mr) {
          const int32_t rows = mEnd - m < mr ? mEnd - m : mr;
          const float *am = a + (int64_t)m * rs + (int64_t)k0 * ks;
          float *cm = c + (int64_t)m * ldc + n0;
          if (mr == 6)
            tile6(am, rs, ks, bp, kc, cm, ldc, rows, cols, acc);
          else
            tile4(am, rs, ks, bp, kc, cm, ldc, rows, cols, acc);
        }
      }
    }
  }
}

__attribute__((export_name("gemm_packed6"))) void gemm_packed6(const float *a, int32_t rs, int32_t ks,
                                                             const float *bpacked, float *c, int32_t ldc, int32_t M,
                                                             int32_t K, int32_t N, int32_t accumulate) {
  blocked(6, a, rs, ks, bpacked, c, ldc, M, K, N, accumulate);
}

__attribute__((export_name("gemm_packed4"))) void gemm_packed4(const float *a, int32_t rs, int32_t ks,
                                                             const float *bpacked, float *c, int32_t ldc, int32_t M,
                                                             int32_t K, int32_t N, int32_t accumulate) {
  blocked(4, a, rs, ks, bpacked, c, ldc, M, K, N, accumulate);
}
