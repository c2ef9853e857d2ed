/*
 * nn_x86.h: the pieces of gemm_nn (kernels.h) shared by avx2.c and
 * avx512.c: an 8-column tile on 256-bit vectors, the tail of fewer than 8
 * columns (tile.h has the walk over row groups, NB__NN_ROWS). Every piece
 * computes acc = acc + x * b per d with the product and the sum rounded
 * apart (the scalar oracle's arithmetic, so the bits match it whatever the
 * tiling).
 * Include after tile.h from a file compiled with at least AVX2 and F16C.
 */
#ifndef NB_NN_X86_H
#define NB_NN_X86_H

#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "tile.h"

/* 8 elements of B row bd from column j as floats (F16 or F32). */
static inline __m256 nn_ld8(int f16, const uint8_t *bd, int64_t j) {
  if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(bd + 2 * j)));
  return _mm256_loadu_ps((const float *)(const void *)bd + j);
}

/* R <= 4 rows of x by V <= 2 vectors of 8 columns from j: per d one load
 * (and conversion) of each B vector serves the R rows. */
NB__ALWAYS_INLINE void nn_tile8(int R, int V, int f16, int64_t k,
                                const float *x, size_t ldx, const void *b,
                                size_t ldb, float *y, size_t ldy, int64_t j) {
  __m256 acc[4][2];
  NB__UNROLL(4) for (int r = 0; r < R; r++)
    NB__UNROLL(2) for (int v = 0; v < V; v++) acc[r][v] = _mm256_setzero_ps();
  for (int64_t d = 0; d < k; d++) {
    const uint8_t *bd = (const uint8_t *)b + (size_t)d * ldb;
    __m256 bv[2];
    NB__UNROLL(2) for (int v = 0; v < V; v++) bv[v] = nn_ld8(f16, bd, j + 8 * v);
    NB__UNROLL(4) for (int r = 0; r < R; r++) {
      const __m256 xv = _mm256_broadcast_ss(x + (size_t)r * ldx + (size_t)d);
      NB__UNROLL(2) for (int v = 0; v < V; v++)
        acc[r][v] = _mm256_add_ps(acc[r][v], _mm256_mul_ps(xv, bv[v]));
    }
  }
  NB__UNROLL(4) for (int r = 0; r < R; r++)
    NB__UNROLL(2) for (int v = 0; v < V; v++)
      _mm256_storeu_ps(y + (size_t)r * ldy + (size_t)(j + 8 * v), acc[r][v]);
}

/* R rows, the last w < 8 columns from j. Why not column by column: a
 * scalar column costs k fp16 conversions and k dependent adds per row, and
 * with the scores' n = n_pos the tail comes in every call (it took longer
 * than the vector part at n ~ 256). B's w columns are copied into a
 * zero-padded panel, NB__NN_PD rows at a time, and run through the
 * 8-column arithmetic; the extra lanes are computed and dropped. */
#define NB__NN_PD 64
NB__ALWAYS_INLINE void nn_tail8(int R, int f16, int64_t k, const float *x,
                                size_t ldx, const void *b, size_t ldb,
                                float *y, size_t ldy, int64_t j, int w) {
  const size_t es = f16 ? 2 : 4;
  _Alignas(32) uint8_t panel[NB__NN_PD][32]; /* (d, 8 columns) of B */
  __m256 acc[4];
  NB__UNROLL(4) for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
  memset(panel, 0, sizeof panel);
  for (int64_t d0 = 0; d0 < k; d0 += NB__NN_PD) {
    const int64_t dn = k - d0 < NB__NN_PD ? k - d0 : NB__NN_PD;
    for (int64_t dd = 0; dd < dn; dd++) {
      /* 2-byte moves the compiler inlines (a memcpy call per row cost
       * more than the arithmetic) */
      const uint8_t *src = (const uint8_t *)b + (size_t)(d0 + dd) * ldb + (size_t)j * es;
      for (size_t c = 0; c < (size_t)w * es; c += 2) memcpy(panel[dd] + c, src + c, 2);
    }
    for (int64_t dd = 0; dd < dn; dd++) {
      const __m256 bv = nn_ld8(f16, panel[dd], 0);
      NB__UNROLL(4) for (int r = 0; r < R; r++) {
        const __m256 xv = _mm256_broadcast_ss(x + (size_t)r * ldx + (size_t)(d0 + dd));
        acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(xv, bv));
      }
    }
  }
  NB__UNROLL(4) for (int r = 0; r < R; r++) {
    _Alignas(32) float o[8];
    _mm256_store_ps(o, acc[r]);
    memcpy(y + (size_t)r * ldy + (size_t)j, o, (size_t)w * sizeof(float));
  }
}

#endif /* NB_NN_X86_H */
