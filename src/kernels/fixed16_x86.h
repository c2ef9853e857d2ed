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
 * on int16 weights: Q8_0 |S| <= 32 * 128 * 32767 < 2^27; Q4_0 widened to
 * q_j - 8 in [-8, 7]), then
 *   acc = fma((float)S, d_w * s_b, acc)   (8 lanes, horizontal sum at the end
 * of each k-chunk of QH_KB blocks; chunks are added to y in k order).
 * Chunk boundaries depend only on k, and each (row, token) output runs the
 * same instruction sequence in every tile shape, so the determinism contract
 * holds. */

#define QH_KB 128 /* blocks per k-chunk of converted input (4096 elements) */
#define QH_TT 4   /* most tokens per batch tile */
#define QH1_NC 4  /* one token: chunks converted at once (k <= 16384) */

typedef struct qh_x { /* one token's converted k-chunk: (QH_KB, 32) */
  _Alignas(32) int16_t q[QH_KB][32]; /* i_j, element order */
  float s[QH_KB];                     /* s_b */
} qh_x;

/* Converts n blocks of fp16 input at x into q (n, 32) and s (n). */
static void qh_convert(const uint8_t *x, int64_t n, int16_t (*q)[32],
                       float *s) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
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
    s[b] = amax / 32767.0f;
    const __m256 iv = _mm256_set1_ps(inv);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v[0], iv));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v[1], iv));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v[2], iv));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v[3], iv));
    /* packs works per 128-bit lane; permute4x64 restores element order */
    __m256i p0 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i0, i1), 0xd8);
    __m256i p1 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i2, i3), 0xd8);
    _mm256_store_si256((__m256i *)q[b], p0);
    _mm256_store_si256((__m256i *)q[b] + 1, p1);
  }
}

/* Batch k-slab: blocks converted at once per token group. Why: every row
 * tile reads the group's converted input again (64 bytes per token and
 * block), which must come from L1; QH_BT tokens x QH_KS blocks x 68 bytes
 * fits beside the weights. */
#ifndef QH_KS
#define QH_KS 64
#endif

/* How a tile call starts and ends (the accumulators may live in memory
 * between calls over consecutive k-slabs of the same QH_KB chunk: storing
 * and reloading a float is exact, so results do not depend on the slabs). */
enum {
  QH_INIT = 1,  /* accumulators start at zero (else loaded from acc_io) */
  QH_FIN = 2,   /* end of a QH_KB chunk: horizontal sums go to y (else the
                   accumulators are stored to acc_io) */
  QH_FIRST = 4, /* with QH_FIN: the chunk is the row's first, y = sum (else
                   y += sum) */
};

/* R rows x T tokens over nbk blocks. Token t's converted blocks: xq + t *
 * QH_KS (nbk, 32) and xs + t * QH_KS (nbk) (a qh_slab; one token: any
 * buffer). acc_io: (R, T) accumulators.
 * pf: where the tile's prefetch span starts (nb__pf_span, tile.h). */
NB__ALWAYS_INLINE void tile_qh(int R, int T, int q4, int64_t nbk,
                               const uint8_t *w, size_t ldw,
                               const int16_t (*xq)[32], const float *xs,
                               __m256 *acc_io, int mode, float *y,
                               int64_t ldy, const uint8_t *pf) {
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  __m256 acc[NB__TMAX_R][QH_TT];
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
      acc[r][t] = (mode & QH_INIT) ? _mm256_setzero_ps() : acc_io[r * T + t];
  _Pragma("GCC unroll 2") for (int64_t b = 0; b < nbk; b++) {
    nb__pf_span(pf + b * R * bs, R * bs);
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
      const uint8_t *blk = w + r * ldw + b * bs;
      __m256 dw = ld_scale8(blk);
      __m256i wa, wb; /* the block's 32 weights as int16, element order */
      if (q4) { /* q - 8 (exactly sum (q - 8) i = sum q i - 8 sum i) */
        __m256i u = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(blk + 2)));
        wa = _mm256_sub_epi16(_mm256_and_si256(u, _mm256_set1_epi16(0x0f)),
                              _mm256_set1_epi16(8));
        wb = _mm256_sub_epi16(_mm256_srli_epi16(u, 4), _mm256_set1_epi16(8));
      } else {
        wa = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 2)));
        wb = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 18)));
      }
      /* The input side is read from memory (L1) again for every row, as
       * instruction operands: the compiler would otherwise keep every
       * token's block in registers across the rows and spill the
       * accumulators instead. The empty asm hides that the pointer is
       * unchanged, so the loads are not merged across rows. */
      const int16_t(*xr)[32] = xq;
      __asm__("" : "+r"(xr));
      _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
        const __m256i *xv = (const __m256i *)xr[t * QH_KS + b];
        __m256i s = _mm256_add_epi32(_mm256_madd_epi16(wa, _mm256_load_si256(xv)),
                                     _mm256_madd_epi16(wb, _mm256_load_si256(xv + 1)));
        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
                                    _mm256_mul_ps(dw, _mm256_set1_ps(xs[t * QH_KS + b])),
                                    acc[r][t]);
      }
    }
  }
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
      if (!(mode & QH_FIN)) {
        acc_io[r * T + t] = acc[r][t];
        continue;
      }
      float v = hsum8(acc[r][t]);
      y[t * ldy + r] = (mode & QH_FIRST) ? v : y[t * ldy + r] + v;
    }
}

typedef void (*qh_tile_fn)(int64_t nbk, const uint8_t *w, size_t ldw,
                           const int16_t (*xq)[32], const float *xs,
                           __m256 *acc_io, int mode, float *y, int64_t ldy,
                           const uint8_t *pf);
#define QH_ONE(Q, R, T)                                                      \
  static void qh_##Q##_##R##_##T(int64_t nbk, const uint8_t *w, size_t ldw, \
                                 const int16_t (*xq)[32], const float *xs,  \
                                 __m256 *acc_io, int mode, float *y,        \
                                 int64_t ldy, const uint8_t *pf) {          \
    tile_qh(R, T, Q, nbk, w, ldw, xq, xs, acc_io, mode, y, ldy, pf);         \
  }
#define QH_ROW(Q, R) QH_ONE(Q, R, 1) QH_ONE(Q, R, 2) QH_ONE(Q, R, 3) QH_ONE(Q, R, 4)
#define QH_FAM(Q) QH_ROW(Q, 1) QH_ROW(Q, 2) QH_ROW(Q, 3) QH_ROW(Q, 4)
QH_FAM(0)
QH_FAM(1)
#define QH_TROW(Q, R) {0, qh_##Q##_##R##_1, qh_##Q##_##R##_2, qh_##Q##_##R##_3, qh_##Q##_##R##_4}
#define QH_TFAM(Q) {{0, 0, 0, 0, 0}, QH_TROW(Q, 1), QH_TROW(Q, 2), QH_TROW(Q, 3), QH_TROW(Q, 4)}
/* [q4][rows][tokens] */
static const qh_tile_fn qh_tiles[2][NB__TMAX_R + 1][QH_TT + 1] = {QH_TFAM(0), QH_TFAM(1)};

/* Batch tile shape: QH_BR rows x QH_BT tokens (measured, see the commit). */
#ifndef QH_BR
#define QH_BR 2
#endif
#ifndef QH_BT
#define QH_BT 4
#endif
#define QH_RC 128 /* batch: most rows per chunk (bounds the accumulator store) */

typedef struct qh_slab { /* a token group's converted k-slab */
  _Alignas(32) int16_t q[QH_TT][QH_KS][32]; /* (tokens, blocks, 32) */
  float s[QH_TT][QH_KS];                     /* (tokens, blocks) */
} qh_slab;

/* One token: every k-chunk is converted first (stack buffer, k <= 16384),
 * then each row tile of up to 4 rows runs all its chunks, so the tile reads
 * its rows front to back and the prefetch covers the next rows whole.
 * Batch: rows in chunks of ~128 KiB of weights (at most QH_RC rows) that
 * stay in cache while every token group passes over them; per group the
 * input is converted one k-slab at a time and every row tile of the chunk
 * runs that slab, its accumulators kept in acc between slabs. Both orders
 * give each (row, token) the same per-block sequence and the same QH_KB
 * chunk sums, so their results are bit-identical. */
static void walk_qh(int q4, int64_t k, const void *w, size_t ldw,
                    const void *x, size_t ldx, float *y, int64_t ldy,
                    int64_t r0, int64_t r1, int64_t nt) {
  const uint8_t *wb = w;
  const uint8_t *xb = x;
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  const int64_t nb = k / 32;
  if (nb == 0) { /* empty sums, as the other kernels give */
    for (int64_t t = 0; t < nt; t++)
      for (int64_t r = r0; r < r1; r++) y[t * ldy + r] = 0.0f;
    return;
  }
  if (nt == 1 && nb <= QH1_NC * QH_KB) {
    const int rt = NB__TMAX_R;
    qh_x xc1[QH1_NC];
    for (int64_t kb = 0; kb < nb; kb += QH_KB)
      qh_convert(xb + (size_t)kb * 64, nb - kb < QH_KB ? nb - kb : QH_KB,
                 xc1[kb / QH_KB].q, xc1[kb / QH_KB].s);
    for (int64_t r = r0; r < r1; r += rt) {
      int nr = r1 - r < rt ? (int)(r1 - r) : rt;
      const uint8_t *wr = wb + (size_t)r * ldw;
      const uint8_t *pf = wr + (size_t)NB__PF_TILES * nr * ldw;
      for (int64_t kb = 0; kb < nb; kb += QH_KB) {
        int64_t nbk = nb - kb < QH_KB ? nb - kb : QH_KB;
        const qh_x *c = &xc1[kb / QH_KB];
        qh_tiles[q4][nr][1](nbk, wr + (size_t)kb * bs, ldw, c->q, c->s,
                            NULL, QH_INIT | QH_FIN | (kb == 0 ? QH_FIRST : 0),
                            y + r, ldy, pf + (size_t)kb * nr * bs);
      }
    }
    return;
  }
  const int rt = nt == 1 ? NB__TMAX_R : QH_BR;
  const int tt = QH_BT;
  qh_slab xs;                                /* (tt tokens, QH_KS blocks) */
  _Alignas(32) __m256 acc[QH_RC * QH_BT];    /* (rows of the chunk, tt) */
  const int64_t rc = nb__row_chunk((size_t)nb * bs, rt, QH_RC);
  for (int64_t c0 = r0; c0 < r1; c0 += rc) {
    int64_t c1 = c0 + rc < r1 ? c0 + rc : r1;
    for (int64_t t0 = 0; t0 < nt; t0 += tt) {
      int ntile = nt - t0 < tt ? (int)(nt - t0) : tt;
      for (int64_t kb = 0; kb < nb; kb += QH_KB) {
        int64_t ke = nb - kb < QH_KB ? nb : kb + QH_KB; /* chunk end */
        for (int64_t ks = kb; ks < ke; ks += QH_KS) {
          int64_t nbs = ke - ks < QH_KS ? ke - ks : QH_KS;
          int mode = (ks == kb ? QH_INIT : 0) | (ks + nbs == ke ? QH_FIN : 0) |
                     (kb == 0 ? QH_FIRST : 0);
          for (int t = 0; t < ntile; t++)
            qh_convert(xb + (size_t)(t0 + t) * ldx + (size_t)ks * 64, nbs,
                       xs.q[t], xs.s[t]);
          for (int64_t r = c0; r < c1; r += rt) {
            int nr = c1 - r < rt ? (int)(c1 - r) : rt;
            const uint8_t *wt = wb + (size_t)r * ldw + (size_t)ks * bs;
            qh_tiles[q4][nr][ntile](nbs, wt, ldw, xs.q[0], xs.s[0],
                                    &acc[(r - c0) * tt], mode,
                                    y + t0 * ldy + r, ldy,
                                    wt + (size_t)NB__PF_TILES * nr * ldw);
          }
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
