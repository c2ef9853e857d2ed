/*
 * avx2.c: the AVX2 + FMA + F16C kernel table (compiled with -mavx2 -mfma
 * -mf16c into its own static library; only called after cpu.c has seen
 * those features and the OS's YMM state support).
 *
 * Kernel shapes (see tile.h for the walk and the determinism argument):
 *  - F16 weights x F16/F32 inputs: one 8-lane FMA accumulator per output over
 *    k in steps of 8, horizontal sum, then the k % 8 tail in scalar order.
 *  - Q8_0/Q4_0 weights x F16 inputs: fixed16_x86.h (input in 16-bit fixed
 *    point per block, integer weight dots, 8 rows in the lanes in batches).
 *  - Q8_0/Q4_0 weights x F32 inputs: per 32-block an 8-lane partial
 *    p = sum_j w_j * x_j (4 products, the first a multiply), then
 *    acc = fma(p, d_w, acc); horizontal sum at the end.
 *  - Q8_0/Q4_0 weights x Q8 inputs: exact int32 block sums, one float per
 *    row: acc = fma(s, d_w * d_x, acc) (qqlanes_avx2.h: 8 rows in the lanes
 *    for batches; the one-token tile gathers the rows' sums into lanes).
 *    Q4_0: sum (q - 8) x = sum q x - 8 sum x with q in [0,15] unsigned,
 *    exact for every int8 x (including -128). Q8_0: |x| * sign(w, x), exact
 *    when the weight quant is in [-127, 127] (what ggml's and our
 *    quantizers produce; a -128 weight meeting a negative x would wrap, as
 *    in ggml).
 * Results differ from the scalar oracle only by float summation order
 * (and, for F16 inputs x quantized weights, the fixed-point step).
 */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "tile.h"
#include "vnni_x86.h"
#include "x86_util.h"

/* This file is built three times: the avx2 set; with -mavxvnni, the
 * avxvnni set (its Q8_0 / Q4_0 dots on vpdpbusd / vpdpwssd, vnni_x86.h);
 * and for test_kernels only, the avxvnni set's code on AVX2 emulation of
 * those two instructions (NB__AVXVNNI_EMU). */
#if defined(NB__AVXVNNI_EMU)
#define NB__AVX2_FILL nb__kernels_fill_avxvnni_emu
#define NB__AVX2_NAME "avxvnni-emu"
#elif defined(NB__VNNI256)
#define NB__AVX2_FILL nb__kernels_fill_avxvnni
#define NB__AVX2_NAME "avxvnni"
#else
#define NB__AVX2_FILL nb__kernels_fill_avx2
#define NB__AVX2_NAME "avx2"
#endif

/* --------------------------------------------------------------- helpers */

/* 8 floats of an input row at element i: F16 (xf32 = 0) or F32. */
static inline __m256 ld_x8(int xf32, const uint8_t *x, int64_t i) {
  if (xf32) return _mm256_loadu_ps((const float *)(const void *)x + i);
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * i)));
}
/* 32 Q4_0 levels of a block as int8 q - 8, element order. */
static inline __m256i q4_unpack_s8(const uint8_t *qs) {
  return _mm256_sub_epi8(q4_unpack_u8(qs), _mm256_set1_epi8(8));
}
/* Sub-vector j (0..3) of 32 int8 as 8 floats. */
static inline __m256 s8_to_f32(__m256i q, int j) {
  __m128i h = j < 2 ? _mm256_castsi256_si128(q) : _mm256_extracti128_si256(q, 1);
  if (j & 1) h = _mm_srli_si128(h, 8);
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(h));
}

/* ------------------------------------------------ F16 weights x float in */

NB__ALWAYS_INLINE void tile_f16(int R, int T, int xf32, int64_t k,
                                const uint8_t *w, size_t ldw,
                                const uint8_t *x, size_t ldx, float *y,
                                int64_t ldy) {
  __m256 acc[NB__TMAX_R][NB__TMAX_T];
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
  const uint8_t *pf = w + (size_t)NB__PF_TILES * R * ldw;
  int64_t i = 0;
  _Pragma("GCC unroll 4") for (; i + 8 <= k; i += 8) {
    nb__pf_span(pf + 2 * i * R, 16 * R);
    __m256 xv[NB__TMAX_T];
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) xv[t] = ld_x8(xf32, x + t * ldx, i);
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
      __m256 wv = _mm256_cvtph_ps(
          _mm_loadu_si128((const __m128i *)(w + r * ldw + 2 * i)));
      _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
        acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
      float s = hsum8(acc[r][t]);
      for (int64_t j = i; j < k; j++)
        s += ld_x1(0, w + r * ldw, j) * ld_x1(xf32, x + t * ldx, j);
      y[t * ldy + r] = s;
    }
}

/* ------------------------------------ Q8_0 / Q4_0 weights x float inputs */

NB__ALWAYS_INLINE void tile_qf(int R, int T, int q4, int xf32, int64_t k,
                               const uint8_t *w, size_t ldw,
                               const uint8_t *x, size_t ldx, float *y,
                               int64_t ldy) {
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  __m256 acc[NB__TMAX_R][NB__TMAX_T];
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
  const int64_t nb = k / 32;
  const uint8_t *pf = w + (size_t)NB__PF_TILES * R * ldw;
  for (int64_t b = 0; b < nb; b++) {
    nb__pf_span(pf + b * R * bs, R * bs);
    __m256i q[NB__TMAX_R];
    __m256 d[NB__TMAX_R];
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
      const uint8_t *blk = w + r * ldw + b * bs;
      q[r] = q4 ? q4_unpack_s8(blk + 2)
                : _mm256_loadu_si256((const __m256i *)(blk + 2));
      d[r] = _mm256_set1_ps(ld_scale(blk));
    }
    __m256 p[NB__TMAX_R][NB__TMAX_T];
    {
      __m256 xv[NB__TMAX_T];
      _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) xv[t] = ld_x8(xf32, x + t * ldx, b * 32);
      _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
        __m256 wv = s8_to_f32(q[r], 0);
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) p[r][t] = _mm256_mul_ps(wv, xv[t]);
      }
    }
    _Pragma("GCC unroll 4") for (int j = 1; j < 4; j++) {
      __m256 xv[NB__TMAX_T];
      _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) xv[t] = ld_x8(xf32, x + t * ldx, b * 32 + j * 8);
      _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
        __m256 wv = s8_to_f32(q[r], j);
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
          p[r][t] = _mm256_fmadd_ps(wv, xv[t], p[r][t]);
      }
    }
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
      _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
        acc[r][t] = _mm256_fmadd_ps(p[r][t], d[r], acc[r][t]);
  }
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) y[t * ldy + r] = hsum8(acc[r][t]);
}

/* ---------------------------------------- Q8_0 / Q4_0 weights x Q8 input */

/* ---- Q8_0 / Q4_0 weights x Q8 input: qqlanes_avx2.h for batches (8 rows
 * in the lanes, and q4l_prep: the input scalars both walks use); the
 * one-token walk below runs the same arithmetic. */
#include "qqlanes_avx2.h"

/* One token (decode): the input side (d_x, and 8 * sum x for Q4_0 or |x|
 * for Q8_0) computed once per call into a stack buffer, then rows in
 * tiles of 4 over all k, each reading its rows front to back (the prefetch
 * covers the next rows whole). Per block the R rows' exact sums are
 * gathered into lanes (hadd tree) and acc_r = fma((float)S_r, d_w * d_x,
 * acc_r): qqlanes_avx2.h's arithmetic, so bit-identical to the batch walk.
 * Only for k <= 32 * QQ1_KB (larger k: the batch walk with one token). */
#define QQ1_KB 512

typedef struct qq1_x { /* (QQ1_KB, 32) bytes + QQ1_KB scalar pairs */
#ifndef NB__VNNI256
  _Alignas(32) uint8_t a[QQ1_KB][32]; /* Q8_0: |x| (Q4_0: unused) */
#endif
  q4l_x s[QQ1_KB];                     /* Q4_0: 8 * sum x; d_x */
} qq1_x;

/* Per block the R <= 4 rows' exact int32 sums end in the lanes of one
 * 128-bit vector. Q4_0: the maddubs pair sums of two rows are combined
 * with one hadd_epi16 (a sum of 4 products |q x| <= 4 * 15 * 128 fits in
 * int16) before the madd, and 8 sum x is subtracted once for all rows
 * (it does not depend on the row); Q8_0 (products up to 127 * 128) goes
 * through madd per row. The 4 fp16 row scales are packed in a general
 * register (scalar loads, off the vector ports) and moved over once. */
NB__ALWAYS_INLINE void tile_qq1(int R, int q4, int64_t nb, const uint8_t *w,
                                size_t ldw, const uint8_t *x,
                                const qq1_x *c, float *y) {
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  const size_t xs = sizeof(nb__block_q8_0);
#ifndef NB__VNNI256
  const __m256i ones16 = _mm256_set1_epi16(1);
#endif
  __m128 acc = _mm_setzero_ps(); /* (R) rows in lanes */
  const uint8_t *pf = w + (size_t)NB__PF_TILES * R * ldw;
  _Pragma("GCC unroll 2") for (int64_t b = 0; b < nb; b++) {
    nb__pf_span(pf + b * R * bs, R * bs);
    const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + b * xs + 2));
    uint64_t dbits = 0;
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
      uint16_t h;
      memcpy(&h, w + r * ldw + b * bs, sizeof h);
      dbits |= (uint64_t)h << (16 * r);
    }
    __m256i h;
#ifdef NB__VNNI256
    /* one vpdpbusd per row on unsigned weights (Q4_0 q, Q8_0 w + 128);
     * the bias (-8 or -128 sum x) is subtracted below for all rows */
    {
      __m256i s[4];
      _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
        if (r >= R) {
          s[r] = _mm256_setzero_si256();
          continue;
        }
        const uint8_t *q = w + r * ldw + b * bs + 2;
        const __m256i u = q4 ? q4_unpack_u8(q)
                             : _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)q),
                                                _mm256_set1_epi8((char)0x80));
        s[r] = nb__dpbusd(_mm256_setzero_si256(), u, xv);
      }
      h = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
    }
#else
    if (q4) {
      __m256i m[4];
      _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)
        m[r] = r < R ? _mm256_maddubs_epi16(q4_unpack_u8(w + r * ldw + b * bs + 2), xv)
                     : _mm256_setzero_si256();
      h = _mm256_hadd_epi32(_mm256_madd_epi16(_mm256_hadd_epi16(m[0], m[1]), ones16),
                            _mm256_madd_epi16(_mm256_hadd_epi16(m[2], m[3]), ones16));
    } else {
      const __m256i xa = _mm256_load_si256((const __m256i *)c->a[b]);
      __m256i s[4];
      _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
        if (r >= R) {
          s[r] = _mm256_setzero_si256();
          continue;
        }
        __m256i q = _mm256_loadu_si256((const __m256i *)(w + r * ldw + b * bs + 2));
        s[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(q, xv)), ones16);
      }
      h = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
    }
#endif
    /* lanes (r0, r1, r2, r3) of the two halves: Q4_0 after the
     * hadd_epi16/madd step holds (r0, r0, r1, r1 | ...) pairs, and the
     * final hadd_epi32 folds each pair, so both layouts end row-ordered */
    __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
#ifdef NB__VNNI256
    sum = _mm_sub_epi32(sum, _mm_set1_epi32(c->s[b].xa));
#else
    if (q4) sum = _mm_sub_epi32(sum, _mm_set1_epi32(c->s[b].xa));
#endif
    acc = _mm_fmadd_ps(_mm_cvtepi32_ps(sum),
                       _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)dbits)),
                                  _mm_set1_ps(c->s[b].d)),
                       acc);
  }
  _Alignas(16) float o[4];
  _mm_store_ps(o, acc);
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) y[r] = o[r];
}

typedef void (*qq1_tile_fn)(int64_t nb, const uint8_t *w, size_t ldw,
                            const uint8_t *x, const qq1_x *c, float *y);
#define QQ1_ONE(Q, R)                                                        \
  static void qq1_##Q##_##R(int64_t nb, const uint8_t *w, size_t ldw,        \
                            const uint8_t *x, const qq1_x *c, float *y) {    \
    tile_qq1(R, Q, nb, w, ldw, x, c, y);                                     \
  }
QQ1_ONE(0, 1) QQ1_ONE(0, 2) QQ1_ONE(0, 3) QQ1_ONE(0, 4)
QQ1_ONE(1, 1) QQ1_ONE(1, 2) QQ1_ONE(1, 3) QQ1_ONE(1, 4)
static const qq1_tile_fn qq1_tiles[2][NB__TMAX_R + 1] = {
    {0, qq1_0_1, qq1_0_2, qq1_0_3, qq1_0_4},
    {0, qq1_1_1, qq1_1_2, qq1_1_3, qq1_1_4},
};

/* The one-token walk: rows [r0, r1) in tiles of 4 over the hoisted input. */
static void walk_qq1(int q4, int64_t k, const void *w, size_t ldw,
                     const void *x, float *y, int64_t r0, int64_t r1) {
  const uint8_t *xb = x;
  const int64_t nb = k / 32;
  qq1_x c;
  q4l_prep(q4, xb, nb, c.s);
#ifndef NB__VNNI256
  if (!q4) /* |x| as unsigned bytes (|-128| = 128 is exact) */
    for (int64_t b = 0; b < nb; b++) {
      __m256i xv = _mm256_loadu_si256((const __m256i *)(xb + b * sizeof(nb__block_q8_0) + 2));
      _mm256_store_si256((__m256i *)c.a[b], _mm256_sign_epi8(xv, xv));
    }
#endif
  for (int64_t r = r0; r < r1; r += NB__TMAX_R) {
    int nr = r1 - r < NB__TMAX_R ? (int)(r1 - r) : NB__TMAX_R;
    qq1_tiles[q4][nr](nb, (const uint8_t *)w + (size_t)r * ldw, ldw, xb, &c,
                      y + r);
  }
}

#include "fixed16_x86.h"

NB__QH_GEMMS(qhl_fam, qh1_rows)

/* ------------------------------------------------- families and entries */

#define FAM_F16_F16(R, T, ...) tile_f16(R, T, 0, __VA_ARGS__)
#define FAM_F16_F32(R, T, ...) tile_f16(R, T, 1, __VA_ARGS__)
#define FAM_Q8_F32(R, T, ...) tile_qf(R, T, 0, 1, __VA_ARGS__)
#define FAM_Q4_F32(R, T, ...) tile_qf(R, T, 1, 1, __VA_ARGS__)
NB__TILES(FAM_F16_F16)
NB__TILES(FAM_F16_F32)
NB__TILES(FAM_Q8_F32)
NB__TILES(FAM_Q4_F32)

NB__GEMM(gemm_f16_f32, FAM_F16_F32, NB_TYPE_F16, 2, 4)
NB__GEMM(gemm_q8_0_f32, FAM_Q8_F32, NB_TYPE_Q8_0, 2, 2)
NB__GEMM(gemm_q4_0_f32, FAM_Q4_F32, NB_TYPE_Q4_0, 2, 2)
static void gemm_q8_0_q8(int64_t k, const void *w, size_t ldw, const void *x,
                         size_t ldx, float *y, int64_t ldy, int64_t r0,
                         int64_t r1, int64_t nt) {
  if (nt == 1 && k / 32 <= QQ1_KB)
    walk_qq1(0, k, w, ldw, x, y, r0, r1);
  else
    nb__lw_walk(&q4l_fam[0], k, w, ldw, x, ldx, y, ldy, r0, r1, nt);
}
static void gemm_q4_0_q8(int64_t k, const void *w, size_t ldw, const void *x,
                         size_t ldx, float *y, int64_t ldy, int64_t r0,
                         int64_t r1, int64_t nt) {
  if (nt == 1 && k / 32 <= QQ1_KB)
    walk_qq1(1, k, w, ldw, x, y, r0, r1);
  else
    nb__lw_walk(&q4l_fam[1], k, w, ldw, x, ldx, y, ldy, r0, r1, nt);
}

/* -------------------------------------------------- gemm_nn (kernels.h) */
#include "nn_x86.h"
#include "softmax_x86.h"

NB__ALWAYS_INLINE void nn_gemm(int f16, int64_t m, int64_t n, int64_t k,
                               const float *x, size_t ldx, const void *b,
                               size_t ldb, float *y, size_t ldy) {
  NB__NN_ROWS(m, x, ldx, y, ldy, {
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) nn_tile8(R, 2, f16, k, xi, ldx, b, ldb, yi, ldy, j);
    for (; j + 8 <= n; j += 8) nn_tile8(R, 1, f16, k, xi, ldx, b, ldb, yi, ldy, j);
    if (j < n) nn_tail8(R, f16, k, xi, ldx, b, ldb, yi, ldy, j, (int)(n - j));
  });
}
NB__GEMM_NN_ENTRIES(nn_gemm)

/* ------------------------------------------------------------ conversions */

static void f32_to_f16(const float *src, nb_f16 *dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i *)(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                     _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++) dst[i] = nb__f32_to_f16(src[i]);
}

static void f16_to_f32(const nb_f16 *src, float *dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(
                                  (const __m128i *)(src + i))));
  for (; i < n; i++) dst[i] = nb__f16_to_f32(src[i]);
}

NB__GEMM_F16(gemm_f16_f16, FAM_F16_F16_tiles, 4, 3, FAM_F16_F32_tiles, 2, f16_to_f32)

/* roundf (half away from zero) exactly: for a = |v| < 2^23, floor(a) and
 * a - floor(a) are exact, so the tie test is exact too. */
static inline __m256i round_half_away(__m256 v) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 a = _mm256_andnot_ps(sign, v);
  __m256 f = _mm256_floor_ps(a);
  __m256 up = _mm256_cmp_ps(_mm256_sub_ps(a, f), _mm256_set1_ps(0.5f),
                            _CMP_GE_OQ);
  f = _mm256_add_ps(f, _mm256_and_ps(up, _mm256_set1_ps(1.0f)));
  return _mm256_cvttps_epi32(_mm256_or_ps(f, _mm256_and_ps(sign, v)));
}

/* ggml's quantize_row_q8_0_ref, byte for byte: amax, d = amax / 127,
 * id = 1 / d (0 when d is 0), q = roundf(x * id), stored fp16(d). */
static void quantize_q8(const float *src, void *dst, int64_t n) {
  uint8_t *out = dst;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / 32; b++) {
    const float *x = src + b * 32;
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
      v[j] = _mm256_loadu_ps(x + 8 * j);
      m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[j]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 idv = _mm256_set1_ps(id);
    __m256i i0 = round_half_away(_mm256_mul_ps(v[0], idv));
    __m256i i1 = round_half_away(_mm256_mul_ps(v[1], idv));
    __m256i i2 = round_half_away(_mm256_mul_ps(v[2], idv));
    __m256i i3 = round_half_away(_mm256_mul_ps(v[3], idv));
    /* packs work per 128-bit lane; the permute restores element order */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1),
                                   _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    nb_f16 dh = nb__f32_to_f16(d);
    uint8_t *blk = out + b * sizeof(nb__block_q8_0);
    memcpy(blk, &dh, 2);
    _mm256_storeu_si256((__m256i *)(blk + 2), p);
  }
}

void NB__AVX2_FILL(nb__kernels *k) {
  k->name = NB__AVX2_NAME;
  k->gemm[NB_TYPE_F16][NB__X_F16] = gemm_f16_f16;
  k->gemm[NB_TYPE_F16][NB__X_F32] = gemm_f16_f32;
  k->gemm[NB_TYPE_Q8_0][NB__X_F16] = gemm_q8_0_f16;
  k->gemm[NB_TYPE_Q8_0][NB__X_F32] = gemm_q8_0_f32;
  k->gemm[NB_TYPE_Q4_0][NB__X_F16] = gemm_q4_0_f16;
  k->gemm[NB_TYPE_Q8_0][NB__X_QH] = gemm_q8_0_qh;
  k->gemm[NB_TYPE_Q4_0][NB__X_QH] = gemm_q4_0_qh;
  k->prep_qh = prep_qh;
  k->gemm[NB_TYPE_Q4_0][NB__X_F32] = gemm_q4_0_f32;
  k->gemm[NB_TYPE_Q8_0][NB__X_Q8] = gemm_q8_0_q8;
  k->gemm[NB_TYPE_Q4_0][NB__X_Q8] = gemm_q4_0_q8;
  k->gemm_nn[NB_TYPE_F32] = gemm_nn_f32;
  k->gemm_nn[NB_TYPE_F16] = gemm_nn_f16;
  k->softmax = softmax8;
  k->swiglu = swiglu8;
  k->f32_to_f16 = f32_to_f16;
  k->f16_to_f32 = f16_to_f32;
  k->quantize_q8 = quantize_q8;
}
