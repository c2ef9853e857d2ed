/*
 * avx512.c: the AVX-512 kernel table (F, BW, VL, DQ, VNNI; compiled with
 * those -m flags into its own static library and only called after cpu.c
 * has seen all of them plus the OS's ZMM/opmask state support).
 *
 * It mirrors avx2.c kernel for kernel (same tiles and walks, same
 * determinism argument), with 16 lanes where avx2.c has 8:
 *  - F16 weights x F16/F32 inputs: one 16-lane FMA accumulator per output
 *    over k in steps of 16, horizontal sum, the k % 16 tail in scalar order.
 *  - Q8_0/Q4_0 weights x F32 inputs: per 32-block a 16-lane partial
 *    p = w_lo * x_lo + w_hi * x_hi, then acc = fma(p, d_w, acc).
 *  - Q8_0/Q4_0 weights x F16 inputs: the 16-bit fixed-point kernels of
 *    fixed16_x86.h (shared with avx2.c; one token), batches with 16 rows
 *    in the lanes and vpdpwssd (fixed16_avx512.h): the same numbers.
 *  - Q8_0/Q4_0 weights x Q8 inputs: VNNI vpdpbusd (unsigned x signed bytes,
 *    int32 accumulation, no saturation) with 16 weight rows in the lanes
 *    (qqlanes_avx512.h): Q4_0 sum (q - 8) x = dpbusd(-8 * sum x, q, x),
 *    q in [0, 15]; Q8_0 sum w x = dpbusd(-128 * sum x, w + 128, x), exact
 *    for every int8 pair (including -128, unlike the AVX2 sign trick).
 *    Then acc = fma((float)s, d_w * d_x, acc), one float per row.
 * test_kernels runs it natively wherever the CPU has the features (it was
 * written on a Zen 3 without them, then measured and tuned on an AVX-512
 * VNNI Xeon), and on SIMDe's emulation (avx512_emu.h) everywhere else, so
 * every CI machine checks it against the scalar oracle.
 */
#ifdef NB__AVX512_EMU /* test-only build on SIMDe: see avx512_emu.h */
#include "avx512_emu.h"
#define NB__AVX512_FILL nb__kernels_fill_avx512_emu
#define NB__AVX512_NAME "avx512-emu"
#else
#include <immintrin.h>
#define NB__AVX512_FILL nb__kernels_fill_avx512
#define NB__AVX512_NAME "avx512"
#endif
#include <string.h>

#include "kernels.h"
#include "tile.h"
#include "x86_util.h"

/* --------------------------------------------------------------- helpers */

static inline float hsum16(__m512 v) {
  return hsum8(_mm256_add_ps(_mm512_castps512_ps256(v),
                             _mm512_extractf32x8_ps(v, 1)));
}

/* Two blocks' fp16 scales as [d0 x 8, d1 x 8] (b1 NULL: d1 = 0): both
 * broadcast as fp16 words into one 256-bit vector, one exact conversion. */
static inline __m512 ld_scale16(const uint8_t *b0, const uint8_t *b1) {
  int16_t d0, d1 = 0;
  memcpy(&d0, b0, 2);
  if (b1) memcpy(&d1, b1, 2);
  __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(d0)),
                                      _mm_set1_epi16(d1), 1);
  return _mm512_cvtph_ps(h);
}

/* 16 floats of an input row at element i: F16 (xf32 = 0) or F32. */
static inline __m512 ld_x16(int xf32, const uint8_t *x, int64_t i) {
  if (xf32) return _mm512_loadu_ps((const float *)(const void *)x + i);
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + 2 * i)));
}
/* Same as int8 q - 8. */
static inline __m256i q4_unpack_s8(const uint8_t *qs) {
  return _mm256_sub_epi8(q4_unpack_u8(qs), _mm256_set1_epi8(8));
}
/* Half j (0, 1) of 32 int8 as 16 floats. */
static inline __m512 s8_to_f32(__m256i q, int j) {
  __m128i h = j == 0 ? _mm256_castsi256_si128(q) : _mm256_extracti128_si256(q, 1);
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(h));
}

/* ------------------------------------------------ F16 weights x float in */

NB__ALWAYS_INLINE void tile_f16(int R, int T, int xf32, int64_t k,
                                const uint8_t *w, size_t ldw,
                                const uint8_t *x, size_t ldx, float *y,
                                int64_t ldy) {
  __m512 acc[NB__TMAX_R][NB__TMAX_T];
  NB__UNROLL(4) for (int r = 0; r < R; r++)
  NB__UNROLL(4) for (int t = 0; t < T; t++)
    acc[r][t] = _mm512_setzero_ps();
  const uint8_t *pf = w + (size_t)NB__PF_TILES * R * ldw;
  int64_t i = 0;
  NB__UNROLL(2) for (; i + 16 <= k; i += 16) {
    nb__pf_span(pf + 2 * i * R, 32 * R);
    __m512 xv[NB__TMAX_T];
    NB__UNROLL(4) for (int t = 0; t < T; t++)
      xv[t] = ld_x16(xf32, x + t * ldx, i);
    NB__UNROLL(4) for (int r = 0; r < R; r++) {
      __m512 wv = _mm512_cvtph_ps(
          _mm256_loadu_si256((const __m256i *)(w + r * ldw + 2 * i)));
      NB__UNROLL(4) for (int t = 0; t < T; t++)
        acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) {
      float s = hsum16(acc[r][t]);
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
  __m512 acc[NB__TMAX_R][NB__TMAX_T];
  NB__UNROLL(4) for (int r = 0; r < R; r++)
  NB__UNROLL(4) for (int t = 0; t < T; t++)
    acc[r][t] = _mm512_setzero_ps();
  const int64_t nb = k / 32;
  const uint8_t *pf = w + (size_t)NB__PF_TILES * R * ldw;
  for (int64_t b = 0; b < nb; b++) {
    nb__pf_span(pf + b * R * bs, R * bs);
    __m256i q[NB__TMAX_R];
    __m512 d[NB__TMAX_R];
    NB__UNROLL(4) for (int r = 0; r < R; r++) {
      const uint8_t *blk = w + r * ldw + b * bs;
      q[r] = q4 ? q4_unpack_s8(blk + 2)
                : _mm256_loadu_si256((const __m256i *)(blk + 2));
      d[r] = _mm512_set1_ps(ld_scale(blk));
    }
    __m512 x0[NB__TMAX_T], x1[NB__TMAX_T];
    NB__UNROLL(4) for (int t = 0; t < T; t++) {
      x0[t] = ld_x16(xf32, x + t * ldx, b * 32);
      x1[t] = ld_x16(xf32, x + t * ldx, b * 32 + 16);
    }
    NB__UNROLL(4) for (int r = 0; r < R; r++) {
      __m512 w0 = s8_to_f32(q[r], 0), w1 = s8_to_f32(q[r], 1);
      NB__UNROLL(4) for (int t = 0; t < T; t++) {
        __m512 p = _mm512_mul_ps(w0, x0[t]);
        p = _mm512_fmadd_ps(w1, x1[t], p);
        acc[r][t] = _mm512_fmadd_ps(p, d[r], acc[r][t]);
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) y[t * ldy + r] = hsum16(acc[r][t]);
}

/* ---------------------------------------- Q8_0 / Q4_0 weights x Q8 input:
 * 16 weight rows in the lanes, vpdpbusd (qqlanes_avx512.h) */
#include "qqlanes_avx512.h"

static void gemm_q8_0_q8(int64_t k, const void *w, size_t ldw, const void *x,
                         size_t ldx, float *y, int64_t ldy, int64_t r0,
                         int64_t r1, int64_t nt) {
  walk_q16(0, k, w, ldw, x, ldx, y, ldy, r0, r1, nt);
}
static void gemm_q4_0_q8(int64_t k, const void *w, size_t ldw, const void *x,
                         size_t ldx, float *y, int64_t ldy, int64_t r0,
                         int64_t r1, int64_t nt) {
  walk_q16(1, k, w, ldw, x, ldx, y, ldy, r0, r1, nt);
}

/* Q8_0 / Q4_0 weights x F16 input: the 16-bit fixed-point kernels shared
 * with avx2.c (same numbers on both sets; see the header). */
#include "fixed16_x86.h"
#include "fixed16_avx512.h"

NB__QH_GEMMS(qh16_fam, qh16_rows)

/* ------------------------------------------------- families and entries */

#define FAM_F16_F16(R, T, ...) tile_f16(R, T, 0, __VA_ARGS__)
#define FAM_F16_F32(R, T, ...) tile_f16(R, T, 1, __VA_ARGS__)
#define FAM_Q8_F32(R, T, ...) tile_qf(R, T, 0, 1, __VA_ARGS__)
#define FAM_Q4_F32(R, T, ...) tile_qf(R, T, 1, 1, __VA_ARGS__)
NB__TILES(FAM_F16_F16)
NB__TILES(FAM_F16_F32)
NB__TILES(FAM_Q8_F32)
NB__TILES(FAM_Q4_F32)

NB__GEMM(gemm_f16_f32, FAM_F16_F32, NB_TYPE_F16, 4, 4)
NB__GEMM(gemm_q8_0_f32, FAM_Q8_F32, NB_TYPE_Q8_0, 4, 4)
NB__GEMM(gemm_q4_0_f32, FAM_Q4_F32, NB_TYPE_Q4_0, 4, 4)

/* ------------------------------------------------------------ conversions */

static void f32_to_f16(const float *src, nb_f16 *dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256((__m256i *)(dst + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(src + i),
                                        _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++) dst[i] = nb__f32_to_f16(src[i]);
}

static void f16_to_f32(const nb_f16 *src, float *dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(
                                  (const __m256i *)(src + i))));
  for (; i < n; i++) dst[i] = nb__f16_to_f32(src[i]);
}

NB__GEMM_F16(gemm_f16_f16, FAM_F16_F16_tiles, 4, 4, FAM_F16_F32_tiles, 4, f16_to_f32)

/* roundf (half away from zero) exactly: for a = |v| < 2^23, floor(a) and
 * a - floor(a) are exact, so the tie test is exact too. */
static inline __m512i round_half_away(__m512 v) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  __m512 a = _mm512_andnot_ps(sign, v);
  __m512 f = _mm512_floor_ps(a);
  __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(a, f), _mm512_set1_ps(0.5f),
                                    _CMP_GE_OQ);
  f = _mm512_mask_add_ps(f, up, f, _mm512_set1_ps(1.0f));
  return _mm512_cvttps_epi32(_mm512_or_ps(f, _mm512_and_ps(sign, v)));
}

/* ggml's quantize_row_q8_0_ref, byte for byte (see avx2.c). */
static void quantize_q8(const float *src, void *dst, int64_t n) {
  uint8_t *out = dst;
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / 32; b++) {
    const float *x = src + b * 32;
    __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    __m512 m = _mm512_max_ps(_mm512_andnot_ps(sign, v0),
                             _mm512_andnot_ps(sign, v1));
    const float amax = _mm512_reduce_max_ps(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512 idv = _mm512_set1_ps(id);
    /* |q| <= 127, so vpmovdb's truncation to bytes is exact */
    __m128i q0 = _mm512_cvtepi32_epi8(round_half_away(_mm512_mul_ps(v0, idv)));
    __m128i q1 = _mm512_cvtepi32_epi8(round_half_away(_mm512_mul_ps(v1, idv)));
    nb_f16 dh = nb__f32_to_f16(d);
    uint8_t *blk = out + b * sizeof(nb__block_q8_0);
    memcpy(blk, &dh, 2);
    _mm_storeu_si128((__m128i *)(blk + 2), q0);
    _mm_storeu_si128((__m128i *)(blk + 18), q1);
  }
}

/* -------------------------------------------------- gemm_nn (kernels.h)
 * nn_x86.h's arithmetic with 16-column vectors first (R <= 8 rows x V <= 2
 * vectors), then its 8-column tile and tail (R <= 4). Why 8 rows: with
 * 32 registers one B vector load (and f16 conversion) serves 8 rows; an
 * attention item of TinyLlama's shape is 8 rows (8 query heads per kv
 * head), which 4-row tiles read and converted twice. */
#include "nn_x86.h"
#include "softmax_x86.h"

static inline __m512 nn_ld16(int f16, const uint8_t *bd, int64_t j) {
  if (f16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(bd + 2 * j)));
  return _mm512_loadu_ps((const float *)(const void *)bd + j);
}

NB__ALWAYS_INLINE void nn_tile16(int R, int V, int f16, int64_t k,
                                 const float *x, size_t ldx, const void *b,
                                 size_t ldb, float *y, size_t ldy, int64_t j) {
  __m512 acc[8][2];
  NB__UNROLL(8) for (int r = 0; r < R; r++)
    NB__UNROLL(2) for (int v = 0; v < V; v++) acc[r][v] = _mm512_setzero_ps();
  for (int64_t d = 0; d < k; d++) {
    const uint8_t *bd = (const uint8_t *)b + (size_t)d * ldb;
    __m512 bv[2];
    NB__UNROLL(2) for (int v = 0; v < V; v++) bv[v] = nn_ld16(f16, bd, j + 16 * v);
    NB__UNROLL(8) for (int r = 0; r < R; r++) {
      const __m512 xv = _mm512_set1_ps(x[(size_t)r * ldx + (size_t)d]);
      NB__UNROLL(2) for (int v = 0; v < V; v++)
        acc[r][v] = _mm512_add_ps(acc[r][v], _mm512_mul_ps(xv, bv[v]));
    }
  }
  NB__UNROLL(8) for (int r = 0; r < R; r++)
    NB__UNROLL(2) for (int v = 0; v < V; v++)
      _mm512_storeu_ps(y + (size_t)r * ldy + (size_t)(j + 16 * v), acc[r][v]);
}

/* The columns under 16 left of an 8-row group, as two 4-row groups. */
NB__ALWAYS_INLINE void nn_rest8(int f16, int64_t n, int64_t k, const float *x,
                                size_t ldx, const void *b, size_t ldb, float *y,
                                size_t ldy, int64_t j0) {
  NB__UNROLL(2) for (int h = 0; h < 2; h++) {
    const float *xi = x + (size_t)(4 * h) * ldx;
    float *yi = y + (size_t)(4 * h) * ldy;
    int64_t j = j0;
    for (; j + 8 <= n; j += 8) nn_tile8(4, 1, f16, k, xi, ldx, b, ldb, yi, ldy, j);
    if (j < n) nn_tail8(4, f16, k, xi, ldx, b, ldb, yi, ldy, j, (int)(n - j));
  }
}

NB__ALWAYS_INLINE void nn_gemm(int f16, int64_t m, int64_t n, int64_t k,
                               const float *x, size_t ldx, const void *b,
                               size_t ldb, float *y, size_t ldy) {
  int64_t i = 0;
  for (; i + 8 <= m; i += 8) {
    const float *xi = x + (size_t)i * ldx;
    float *yi = y + (size_t)i * ldy;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) nn_tile16(8, 2, f16, k, xi, ldx, b, ldb, yi, ldy, j);
    for (; j + 16 <= n; j += 16) nn_tile16(8, 1, f16, k, xi, ldx, b, ldb, yi, ldy, j);
    if (j < n) nn_rest8(f16, n, k, xi, ldx, b, ldb, yi, ldy, j);
  }
  x += (size_t)i * ldx;
  y += (size_t)i * ldy;
  m -= i;
  NB__NN_ROWS(m, x, ldx, y, ldy, {
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) nn_tile16(R, 2, f16, k, xi, ldx, b, ldb, yi, ldy, j);
    for (; j + 16 <= n; j += 16) nn_tile16(R, 1, f16, k, xi, ldx, b, ldb, yi, ldy, j);
    for (; j + 8 <= n; j += 8) nn_tile8(R, 1, f16, k, xi, ldx, b, ldb, yi, ldy, j);
    if (j < n) nn_tail8(R, f16, k, xi, ldx, b, ldb, yi, ldy, j, (int)(n - j));
  });
}
NB__GEMM_NN_ENTRIES(nn_gemm)

/* ------------------------------------------------- softmax (kernels.h)
 * softmax_x86.h's recipe with the exp 16 lanes at a time: nb__exp8 step
 * for step (so the same e_j), and each 16 e_j added to the 8 lane sums as
 * two halves in j order (the 8-lane loop's order, so the same sums).
 * x / scale is x * (1 / scale) when scale is a power of two (head_dim 64:
 * scale 8): both are the one rounding of the same real number, and the
 * division cost about a third of the kernel. */
static inline __m512 nb__exp16(__m512 v) {
  const __mmask16 ok = _mm512_cmp_ps_mask(v, _mm512_set1_ps(NB__EXP_LO), _CMP_GE_OQ);
  const __m512 n = _mm512_floor_ps(
      _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(NB__EXP_LOG2E)), _mm512_set1_ps(0.5f)));
  __m512 r = _mm512_sub_ps(v, _mm512_mul_ps(n, _mm512_set1_ps(NB__EXP_C1)));
  r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(NB__EXP_C2)));
  __m512 p = _mm512_set1_ps(NB__EXP_P0);
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(NB__EXP_P1));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(NB__EXP_P2));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(NB__EXP_P3));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(NB__EXP_P4));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(NB__EXP_P5));
  __m512 y = _mm512_mul_ps(p, _mm512_mul_ps(r, r));
  y = _mm512_add_ps(y, r);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  /* lanes below LO may hold any n: their result is masked to +0. n is
   * integral, so truncation converts it as nb__exp8's rounding does. */
  const __m512i e = _mm512_slli_epi32(
      _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mov_ps(ok, _mm512_mul_ps(y, _mm512_castsi512_ps(e)));
}

/* 1 / s when s is a power of two whose inverse is a normal float, else 0. */
static inline float inv_pow2(float s) {
  uint32_t u;
  memcpy(&u, &s, 4);
  const uint32_t e = (u >> 23) & 0xff;
  if ((u & 0x807fffffu) != 0 || e < 2 || e > 252) return 0.0f;
  const uint32_t v = (254u - e) << 23;
  float r;
  memcpy(&r, &v, 4);
  return r;
}

/* swiglu (kernels.h): softmax_x86.h's swiglu8 16 lanes at a time, with
 * one division: the sigmoid's numerator (1 for v >= 0, else e) is chosen
 * before dividing, which gives the quotient swiglu8 picks after computing
 * both. */
static void swiglu16(float *g, const float *u, int64_t n) {
  const int64_t n16 = n & ~(int64_t)15;
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t j = 0; j < n16; j += 16) {
    const __m512 v = _mm512_loadu_ps(g + j);
    const __m512 e = nb__exp16(_mm512_or_ps(v, _mm512_set1_ps(-0.0f)));
    const __m512 d = _mm512_add_ps(one, e);
    const __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ);
    const __m512 s = _mm512_div_ps(_mm512_mask_mov_ps(e, pos, one), d);
    _mm512_storeu_ps(g + j, _mm512_mul_ps(_mm512_mul_ps(v, s), _mm512_loadu_ps(u + j)));
  }
  if (n16 < n) swiglu8(g + n16, u + n16, n - n16);
}

static void softmax16(float *x, int64_t n, float scale) {
  const int64_t n16 = n & ~(int64_t)15, n8 = n & ~(int64_t)7;
  const float inv = inv_pow2(scale);
  if (inv != 0.0f) {
    const __m512 iv = _mm512_set1_ps(inv);
    for (int64_t j = 0; j < n16; j += 16)
      _mm512_storeu_ps(x + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), iv));
    for (int64_t j = n16; j < n; j++) x[j] = x[j] * inv;
  } else {
    const __m512 sv = _mm512_set1_ps(scale);
    for (int64_t j = 0; j < n16; j += 16)
      _mm512_storeu_ps(x + j, _mm512_div_ps(_mm512_loadu_ps(x + j), sv));
    for (int64_t j = n16; j < n; j++) x[j] = x[j] / scale;
  }
  /* the maximum of finite values does not depend on the order */
  __m512 mv = _mm512_set1_ps(x[0]);
  for (int64_t j = 0; j < n16; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(x + j));
  float mx = _mm512_reduce_max_ps(mv);
  for (int64_t j = n16; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  const __m512 m16 = _mm512_set1_ps(mx);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t j = 0; j < n16; j += 16) {
    const __m512 e = nb__exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), m16));
    _mm512_storeu_ps(x + j, e);
    acc = _mm256_add_ps(acc, _mm512_castps512_ps256(e));
    acc = _mm256_add_ps(acc, _mm512_extractf32x8_ps(e, 1));
  }
  if (n16 < n8) {
    const __m256 e = nb__exp8(_mm256_sub_ps(_mm256_loadu_ps(x + n16), _mm512_castps512_ps256(m16)));
    _mm256_storeu_ps(x + n16, e);
    acc = _mm256_add_ps(acc, e);
  }
  _Alignas(32) float t[8];
  _mm256_store_ps(t, acc);
  for (int64_t j = n8; j < n; j++) {
    x[j] = nb__exp_le0(x[j] - mx);
    t[j - n8] = t[j - n8] + x[j];
  }
  const float sum = nb__sum8_tree(t);
  const __m512 s16 = _mm512_set1_ps(sum);
  for (int64_t j = 0; j < n16; j += 16)
    _mm512_storeu_ps(x + j, _mm512_div_ps(_mm512_loadu_ps(x + j), s16));
  for (int64_t j = n16; j < n; j++) x[j] = x[j] / sum;
}

void NB__AVX512_FILL(nb__kernels *k) {
  k->name = NB__AVX512_NAME;
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
  k->softmax = softmax16;
  k->swiglu = swiglu16;
  k->f32_to_f16 = f32_to_f16;
  k->f16_to_f32 = f16_to_f32;
  k->quantize_q8 = quantize_q8;
}
