/*
 * fixed16_x86.h: Q8_0/Q4_0 weights x F16 input on x86 (AVX2 instructions,
 * 256-bit), shared verbatim by avx2.c and avx512.c so both sets compute the
 * same numbers: the input in 16-bit fixed point per block, integer weight
 * dots with vpmaddwd. Defines gemm_q8_0_f16 and gemm_q4_0_f16 (static).
 * Include after tile.h from a file compiled with at least AVX2, FMA, F16C.
 */
#ifndef NB_FIXED16_X86_H
#define NB_FIXED16_X86_H

#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "tile.h"
#include "x86_util.h"

/* ------------------- Q8_0 / Q4_0 weights x F16 input: 16-bit fixed point
 *
 * The F16 activation row is converted ONCE per call (per k-chunk and token
 * group) into 16-bit fixed point per 32-block, so the weight side runs on the
 * integer units with exact int32 sums, like the Q8 path, instead of
 * converting every weight to float for every row:
 *   amax_b = max_j |x_j| (x_j the exact float value of the fp16 input),
 *   inv_b = fl(32767 / amax_b),  i_j = round_nearest_even(fl(x_j * inv_b)),
 *   s_b = fl(amax_b / 32767)     (amax_b = 0: i_j = 0, s_b = 0),
 * so x_j ~= s_b * i_j with |i_j| <= 32767 and
 *   |x_j - s_b * i_j| <= amax_b * (0.5 / 32767 + 4 * 2^-24)  (< amax_b * 2^-15.9)
 * (the 0.5 from rounding to an integer; 2^-24 * 32767 < 0.002 from the
 * product's rounding is inside the 4 * 2^-24 term together with the relative
 * error of s_b * inv_b against 1). That is at most 1/32 of an fp16 ulp of
 * amax_b: no more than the fp16 rounding error (half an ulp) already in every
 * element within 1/8 of its block's largest magnitude; smaller elements
 * keep that absolute error (their relative precision drops below fp16's).
 * For comparison, --act q8 rounds to steps of amax_b / 127 (error up to
 * amax_b / 254, ~258 times larger).
 * Per weight row and block: S = sum_j w_j * i_j exactly in int32 (vpmaddwd
 * on int16 weights: Q8_0 |S| <= 32 * 128 * 32767 < 2^27; Q4_0 as
 * sum q_j i_j - 8 * sum i_j with q in [0, 15]), then
 *   acc = fma((float)S, d_w * s_b, acc)   (8 lanes, horizontal sum at the end
 * of each k-chunk of QH_KB blocks; chunks are added to y in k order).
 * Chunk boundaries depend only on k, and each (row, token) output runs the
 * same instruction sequence in every tile shape, so the determinism contract
 * holds. */

#define QH_KB 128 /* blocks per k-chunk of converted input (4096 elements) */
#define QH_TT 2   /* tokens per group in a batch */
#define QH1_NC 4  /* one token: chunks converted at once (k <= 16384) */

typedef struct qh_x { /* one token's converted k-chunk: (QH_KB, 32) */
  _Alignas(32) int16_t q[QH_KB][32]; /* i_j, element order */
  _Alignas(32) int32_t off[QH_KB][8]; /* 8 * (i_2l + i_2l+1 + i_16+2l + i_17+2l) */
  float s[QH_KB];                     /* s_b */
} qh_x;

/* Converts n blocks of fp16 input at x into c. */
static void qh_convert(const uint8_t *x, int64_t n, qh_x *c) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < n; b++) {
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
      v[j] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 64 * b + 16 * j)));
      m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[j]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
    c->s[b] = amax / 32767.0f;
    const __m256 iv = _mm256_set1_ps(inv);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v[0], iv));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v[1], iv));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v[2], iv));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v[3], iv));
    /* packs works per 128-bit lane; permute4x64 restores element order */
    __m256i p0 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i0, i1), 0xd8);
    __m256i p1 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i2, i3), 0xd8);
    _mm256_store_si256((__m256i *)c->q[b], p0);
    _mm256_store_si256((__m256i *)c->q[b] + 1, p1);
    __m256i o = _mm256_add_epi32(_mm256_madd_epi16(p0, ones16),
                                 _mm256_madd_epi16(p1, ones16));
    _mm256_store_si256((__m256i *)c->off[b], _mm256_slli_epi32(o, 3));
  }
}

NB__ALWAYS_INLINE void tile_qh(int R, int T, int q4, int64_t nbk,
                               const uint8_t *w, size_t ldw, const qh_x *xc,
                               float *y, int64_t ldy, int first,
                               const uint8_t *pf) {
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  __m256 acc[NB__TMAX_R][QH_TT];
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
  _Pragma("GCC unroll 2") for (int64_t b = 0; b < nbk; b++) {
    nb__pf_span(pf + b * R * bs, R * bs);
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
      const uint8_t *blk = w + r * ldw + b * bs;
      __m256 dw = ld_scale8(blk);
      __m256i wa, wb;
      if (q4) {
        __m256i u = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(blk + 2)));
        wa = _mm256_and_si256(u, _mm256_set1_epi16(0x0f));
        wb = _mm256_srli_epi16(u, 4);
      } else {
        wa = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 2)));
        wb = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 18)));
      }
      _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
        const qh_x *c = xc + t;
        __m256i s = _mm256_add_epi32(
            _mm256_madd_epi16(wa, _mm256_load_si256((const __m256i *)c->q[b])),
            _mm256_madd_epi16(wb, _mm256_load_si256((const __m256i *)c->q[b] + 1)));
        if (q4) s = _mm256_sub_epi32(s, _mm256_load_si256((const __m256i *)c->off[b]));
        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
                                    _mm256_mul_ps(dw, _mm256_set1_ps(c->s[b])),
                                    acc[r][t]);
      }
    }
  }
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
      float v = hsum8(acc[r][t]);
      y[t * ldy + r] = first ? v : y[t * ldy + r] + v;
    }
}

/* pf: where the tile's prefetch span starts (nb__pf_span, tile.h). */
typedef void (*qh_tile_fn)(int64_t nbk, const uint8_t *w, size_t ldw,
                           const qh_x *xc, float *y, int64_t ldy, int first,
                           const uint8_t *pf);
#define QH_ONE(Q, R, T)                                                      \
  static void qh_##Q##_##R##_##T(int64_t nbk, const uint8_t *w, size_t ldw, \
                                 const qh_x *xc, float *y, int64_t ldy,     \
                                 int first, const uint8_t *pf) {             \
    tile_qh(R, T, Q, nbk, w, ldw, xc, y, ldy, first, pf);                    \
  }
#define QH_FAM(Q)                                                            \
  QH_ONE(Q, 1, 1) QH_ONE(Q, 1, 2) QH_ONE(Q, 2, 1) QH_ONE(Q, 2, 2)            \
  QH_ONE(Q, 3, 1) QH_ONE(Q, 3, 2) QH_ONE(Q, 4, 1) QH_ONE(Q, 4, 2)
QH_FAM(0)
QH_FAM(1)
/* [q4][rows][tokens] */
static const qh_tile_fn qh_tiles[2][NB__TMAX_R + 1][QH_TT + 1] = {
    {{0, 0, 0}, {0, qh_0_1_1, qh_0_1_2}, {0, qh_0_2_1, qh_0_2_2},
     {0, qh_0_3_1, qh_0_3_2}, {0, qh_0_4_1, qh_0_4_2}},
    {{0, 0, 0}, {0, qh_1_1_1, qh_1_1_2}, {0, qh_1_2_1, qh_1_2_2},
     {0, qh_1_3_1, qh_1_3_2}, {0, qh_1_4_1, qh_1_4_2}},
};

/* The walk of nb__tile_walk with the input conversion hoisted: rows in
 * chunks of ~128 KiB of weights (one token: all rows at once), per chunk
 * token groups of QH_TT, per group k-chunks of QH_KB blocks converted once
 * into a stack buffer (QH_TT * ~12.5 KiB) and used by every row tile. */
static void walk_qh(int q4, int64_t k, const void *w, size_t ldw,
                    const void *x, size_t ldx, float *y, int64_t ldy,
                    int64_t r0, int64_t r1, int64_t nt) {
  const uint8_t *wb = w;
  const uint8_t *xb = x;
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  const int rt = NB__TMAX_R;
  const int64_t nb = k / 32;
  qh_x xc[QH_TT];
  if (nb == 0) { /* empty sums, as the other kernels give */
    for (int64_t t = 0; t < nt; t++)
      for (int64_t r = r0; r < r1; r++) y[t * ldy + r] = 0.0f;
    return;
  }
  if (nt == 1 && nb <= QH1_NC * QH_KB) {
    /* One token: every k-chunk converted first, then each row tile runs
     * all its chunks, so the tile reads its rows front to back and the
     * prefetch covers the next rows whole. Same chunks, same per-chunk sums
     * as the batch order below: bit-identical results. */
    qh_x xc1[QH1_NC];
    for (int64_t kb = 0; kb < nb; kb += QH_KB)
      qh_convert(xb + (size_t)kb * 64, nb - kb < QH_KB ? nb - kb : QH_KB,
                 &xc1[kb / QH_KB]);
    for (int64_t r = r0; r < r1; r += rt) {
      int nr = r1 - r < rt ? (int)(r1 - r) : rt;
      const uint8_t *wr = wb + (size_t)r * ldw;
      const uint8_t *pf = wr + (size_t)NB__PF_TILES * nr * ldw;
      for (int64_t kb = 0; kb < nb; kb += QH_KB) {
        int64_t nbk = nb - kb < QH_KB ? nb - kb : QH_KB;
        qh_tiles[q4][nr][1](nbk, wr + (size_t)kb * bs, ldw, &xc1[kb / QH_KB],
                            y + r, ldy, kb == 0, pf + (size_t)kb * nr * bs);
      }
    }
    return;
  }
  int64_t rc = r1 - r0;
  if (nt > 1) {
    const size_t row_bytes = (size_t)nb * bs;
    rc = row_bytes ? (int64_t)((128 * 1024) / row_bytes) : 0;
    rc = rc < rt ? rt : rc - rc % rt;
  }
  for (int64_t c0 = r0; c0 < r1; c0 += rc) {
    int64_t c1 = c0 + rc < r1 ? c0 + rc : r1;
    for (int64_t t0 = 0; t0 < nt; t0 += QH_TT) {
      int ntile = nt - t0 < QH_TT ? (int)(nt - t0) : QH_TT;
      for (int64_t kb = 0; kb < nb; kb += QH_KB) {
        int64_t nbk = nb - kb < QH_KB ? nb - kb : QH_KB;
        for (int t = 0; t < ntile; t++)
          qh_convert(xb + (size_t)(t0 + t) * ldx + (size_t)kb * 64, nbk, &xc[t]);
        for (int64_t r = c0; r < c1; r += rt) {
          int nr = c1 - r < rt ? (int)(c1 - r) : rt;
          const uint8_t *wt = wb + (size_t)r * ldw + (size_t)kb * bs;
          qh_tiles[q4][nr][ntile](nbk, wt, ldw, xc, y + t0 * ldy + r, ldy,
                                  kb == 0,
                                  wt + (size_t)NB__PF_TILES * nr * ldw);
        }
      }
    }
  }
}
static void gemm_q8_0_f16(int64_t k, const void *w, size_t ldw, const void *x,
                          size_t ldx, float *y, int64_t ldy, int64_t r0,
                          int64_t r1, int64_t nt) {
  walk_qh(0, k, w, ldw, x, ldx, y, ldy, r0, r1, nt);
}
static void gemm_q4_0_f16(int64_t k, const void *w, size_t ldw, const void *x,
                          size_t ldx, float *y, int64_t ldy, int64_t r0,
                          int64_t r1, int64_t nt) {
  walk_qh(1, k, w, ldw, x, ldx, y, ldy, r0, r1, nt);
}

#endif /* NB_FIXED16_X86_H */
