/*
 * fixed16_x86.h: Q8_0/Q4_0 weights x F16 input on x86 (AVX2 instructions,
 * 256-bit), shared verbatim by avx2.c and avx512.c so both sets compute the
 * same numbers: the input in 16-bit fixed point per block, integer weight
 * dots with vpmaddwd. Defines walk_qh (the gemm of either weight type).
 * Include after tile.h from a file compiled with at least AVX2, FMA, F16C.
 */
#ifndef NB_FIXED16_X86_H
#define NB_FIXED16_X86_H

#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "tile.h"
#include "lanes_walk.h"
#include "vnni_x86.h"
#include "x86_util.h"

/* ------------------- Q8_0 / Q4_0 weights x F16 input: 16-bit fixed point
 *
 * The F16 activation row is converted ONCE per call (per k-chunk and token
 * group; a batch's input once for all calls, by prep_qh: kernels.h's
 * NB__X_QH) into 16-bit fixed point per 32-block, so the weight side runs on the
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
 * q_j - 8 in [-8, 7]), then one float per (row, token), blocks in k order:
 *   acc = fma((float)S, d_w * s_b, acc),  y = acc.
 * Batches put 8 weight rows in the 8 lanes (the rows' int16 weights
 * interleaved on the fly into an L1/L2 slab: one vpmaddwd serves 8 rows x
 * 2 k, and the per-block convert / multiply / FMA is paid once per 8 rows);
 * one token gathers each block's row sums into lanes with a hadd tree.
 * Each (row, token) gets the same S and the same float sequence either way,
 * so the determinism contract holds (batch, split, tile). */

#define QH1_KB 512 /* one token: input blocks converted at once (k <= 16384) */
#define QHL_KS 16   /* batch: blocks of a k-slab packed at once */
#define QHL_G 16    /* batch: groups of 8 rows packed per slab (136 KiB) */
#define QHL_T 4     /* batch: tokens per tile */
#define QHL_TB 32   /* batch: tokens per pass */

/* |x| of one block's 32 fp16 inputs, folded to 8 lanes (max over j). */
NB__ALWAYS_INLINE __m256 qh_amax8(const uint8_t *x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  NB__UNROLL(4) for (int j = 0; j < 4; j++)
    m = _mm256_max_ps(m, _mm256_andnot_ps(
                             sign, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 16 * j)))));
  return m;
}

/* One block's 32 fp16 inputs at x times inv, rounded to even, as 32 int16
 * in element order at q. */
NB__ALWAYS_INLINE void qh_quant(const uint8_t *x, float inv, uint8_t *q) {
  const __m256 f = _mm256_set1_ps(inv);
  __m256i c[4];
  NB__UNROLL(4) for (int j = 0; j < 4; j++)
    c[j] = _mm256_cvtps_epi32(
        _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 16 * j))), f));
  /* packs works per 128-bit lane; permute4x64 restores element order */
  _mm256_storeu_si256((__m256i *)(void *)q,
                      _mm256_permute4x64_epi64(_mm256_packs_epi32(c[0], c[1]), 0xd8));
  _mm256_storeu_si256((__m256i *)(void *)(q + 32),
                      _mm256_permute4x64_epi64(_mm256_packs_epi32(c[2], c[3]), 0xd8));
}

/* Blocks [0, n) of fp16 input at x in the fixed point above: block b's 32
 * int16 to q + b * qst bytes, its scale to s + b * sst bytes. Per block
 * amax = max |x_j|, inv = 32767 / amax (0 when amax = 0), s = amax /
 * 32767, then qh_quant. Eight blocks at a time: their maxima fold into one
 * vector's lanes (a 3-level unpack / max tree) and the two divisions run
 * on 8 lanes; the last n % 8 blocks one by one with scalar divisions. The
 * same IEEE operations either way (a maximum of finite values does not
 * depend on the order), so the same bits. */
static void qh_convert_n(const uint8_t *x, int64_t n, uint8_t *q, size_t qst,
                         uint8_t *s, size_t sst) {
  int64_t b = 0;
  for (; b + 8 <= n; b += 8) {
    const uint8_t *xb = x + 64 * (size_t)b;
    __m256 m[8], t[4], u[2];
    NB__UNROLL(8) for (int i = 0; i < 8; i++) m[i] = qh_amax8(xb + 64 * i);
    /* t[i]: blocks 2i, 2i + 1 interleaved, lanes (0,2) / (1,3) folded */
    NB__UNROLL(4) for (int i = 0; i < 4; i++)
      t[i] = _mm256_max_ps(_mm256_unpacklo_ps(m[2 * i], m[2 * i + 1]),
                           _mm256_unpackhi_ps(m[2 * i], m[2 * i + 1]));
    /* u[i]: blocks 4i .. 4i + 3 in lanes 0..3 (low half of each block's
     * lanes) and 4..7 (high half) */
    NB__UNROLL(2) for (int i = 0; i < 2; i++)
      u[i] = _mm256_max_ps(
          _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t[2 * i]), _mm256_castps_pd(t[2 * i + 1]))),
          _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t[2 * i]), _mm256_castps_pd(t[2 * i + 1]))));
    const __m256 amax = _mm256_max_ps(_mm256_permute2f128_ps(u[0], u[1], 0x20),
                                      _mm256_permute2f128_ps(u[0], u[1], 0x31));
    const __m256 pos = _mm256_cmp_ps(amax, _mm256_setzero_ps(), _CMP_GT_OQ);
    const __m256 inv = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(32767.0f), amax), pos);
    _Alignas(32) float iv[8], sv[8];
    _mm256_store_ps(iv, inv);
    _mm256_store_ps(sv, _mm256_div_ps(amax, _mm256_set1_ps(32767.0f)));
    NB__UNROLL(8) for (int i = 0; i < 8; i++) {
      qh_quant(xb + 64 * i, iv[i], q + (size_t)(b + i) * qst);
      memcpy(s + (size_t)(b + i) * sst, &sv[i], sizeof(float));
    }
  }
  for (; b < n; b++) {
    const __m256 m = qh_amax8(x + 64 * (size_t)b);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float sb = amax / 32767.0f;
    qh_quant(x + 64 * (size_t)b, amax > 0.0f ? 32767.0f / amax : 0.0f, q + (size_t)b * qst);
    memcpy(s + (size_t)b * sst, &sb, sizeof sb);
  }
}

/* Converts n blocks of fp16 input at x into q (n, 32) and s (n). */
static void qh_convert(const uint8_t *x, int64_t n, int16_t (*q)[32],
                       float *s) {
  qh_convert_n(x, n, (uint8_t *)q, sizeof q[0], (uint8_t *)s, sizeof s[0]);
}

/* A weight block's 32 quants as int16 in element order: wa elements 0..15,
 * wb 16..31 (Q4_0: q - 8, so sum (q - 8) i is exact). */
static inline void qh_widen(int q4, const uint8_t *blk, __m256i *wa, __m256i *wb) {
  if (q4) {
    __m256i u = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(blk + 2)));
    *wa = _mm256_sub_epi16(_mm256_and_si256(u, _mm256_set1_epi16(0x0f)), _mm256_set1_epi16(8));
    *wb = _mm256_sub_epi16(_mm256_srli_epi16(u, 4), _mm256_set1_epi16(8));
  } else {
    *wa = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 2)));
    *wb = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 18)));
  }
}

/* One token, R (<= 4) rows over nb blocks of converted input (xq, xs):
 * per block the rows' exact sums S_r, gathered into lanes, then
 * acc_r = fma((float)S_r, d_w * s_b, acc_r); y[r] = acc_r.
 * Q4_0 runs on the unsigned levels q and adds -8 sum i per block (xsum:
 * sum (q - 8) i = sum q i - 8 sum i, the same exact S) instead of two
 * subtractions per row and block.
 * pf: where the tile's prefetch span starts (nb__pf_span, tile.h). */
NB__ALWAYS_INLINE void tile_qh1(int R, int q4, int64_t nb, const uint8_t *w,
                                size_t ldw, const int16_t (*xq)[32],
                                const float *xs, const int32_t *xsum, float *y,
                                const uint8_t *pf) {
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  __m128 acc = _mm_setzero_ps();
  NB__UNROLL(2) for (int64_t b = 0; b < nb; b++) {
    nb__pf_span(pf + b * R * bs, R * bs);
    const __m256i x0 = _mm256_load_si256((const __m256i *)xq[b]);
    const __m256i x1 = _mm256_load_si256((const __m256i *)xq[b] + 1);
    __m256i s[4];
    uint64_t dbits = 0; /* the R fp16 row scales, packed in a GPR */
    NB__UNROLL(4) for (int r = 0; r < 4; r++) {
      if (r >= R) {
        s[r] = _mm256_setzero_si256();
        continue;
      }
      const uint8_t *blk = w + r * ldw + b * bs;
      __m256i wa, wb; /* the block's 32 weights as int16, element order */
      if (q4) { /* unsigned levels q in [0, 15] */
        const __m256i u = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(blk + 2)));
        wa = _mm256_and_si256(u, _mm256_set1_epi16(0x0f));
        wb = _mm256_srli_epi16(u, 4);
      } else {
        qh_widen(q4, blk, &wa, &wb);
      }
#ifdef NB__VNNI256
      s[r] = nb__dpwssd(_mm256_madd_epi16(wa, x0), wb, x1);
#else
      s[r] = _mm256_add_epi32(_mm256_madd_epi16(wa, x0), _mm256_madd_epi16(wb, x1));
#endif
      uint16_t hd;
      memcpy(&hd, blk, sizeof hd);
      dbits |= (uint64_t)hd << (16 * r);
    }
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]),
                                  _mm256_hadd_epi32(s[2], s[3]));
    __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    if (q4) sum = _mm_add_epi32(sum, _mm_set1_epi32(-8 * xsum[b]));
    acc = _mm_fmadd_ps(_mm_cvtepi32_ps(sum),
                       _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)dbits)),
                                  _mm_set1_ps(xs[b])),
                       acc);
  }
  _Alignas(16) float o[4];
  _mm_store_ps(o, acc);
  NB__UNROLL(4) for (int r = 0; r < R; r++) y[r] = o[r];
}

typedef void (*qh1_tile_fn)(int64_t nb, const uint8_t *w, size_t ldw,
                            const int16_t (*xq)[32], const float *xs,
                            const int32_t *xsum, float *y, const uint8_t *pf);
#define QH1_ONE(Q, R)                                                        \
  static void qh1_##Q##_##R(int64_t nb, const uint8_t *w, size_t ldw,        \
                            const int16_t (*xq)[32], const float *xs,        \
                            const int32_t *xsum, float *y,                   \
                            const uint8_t *pf) {                             \
    tile_qh1(R, Q, nb, w, ldw, xq, xs, xsum, y, pf);                         \
  }
QH1_ONE(0, 1) QH1_ONE(0, 2) QH1_ONE(0, 3) QH1_ONE(0, 4)
QH1_ONE(1, 1) QH1_ONE(1, 2) QH1_ONE(1, 3) QH1_ONE(1, 4)
static const qh1_tile_fn qh1_tiles[2][NB__TMAX_R + 1] = {
    {0, qh1_0_1, qh1_0_2, qh1_0_3, qh1_0_4},
    {0, qh1_1_1, qh1_1_2, qh1_1_3, qh1_1_4},
};

/* ---- batch: 8 rows in the lanes */

typedef struct qhl_blk { /* one block of 8 rows, interleaved */
  __m256i g[16]; /* (16 k-pairs) x (8 rows x 2 int16), element pair 2g, 2g+1 */
  __m256 d;      /* the 8 rows' d_w */
} qhl_blk;

/* 8 x 8 dword transpose: o[j] lane i = v[i] dword j. */
static inline void qhl_transpose(const __m256i v[8], __m256i o[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
  }
  for (int i = 0; i < 2; i++) { /* rows 4i .. 4i+3 */
    u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int j = 0; j < 4; j++) {
    o[j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x20);
    o[j + 4] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x31);
  }
}

/* Packs blocks [0, nbk) of rows w + i * ldw (i < nr; missing rows repeat
 * the last one, their lanes are never stored) into o. pf: this group's
 * share of the prefetch of the rows one packing step ahead (as in
 * qqlanes_avx2.h). */
NB__ALWAYS_INLINE void qhl_pack(int q4, const uint8_t *w, size_t ldw, int nr,
                                int64_t nbk, void *ov, const uint8_t *pf) {
  qhl_blk *o = ov;
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  const uint8_t *p[8];
  for (int i = 0; i < 8; i++) p[i] = w + (size_t)(i < nr ? i : nr - 1) * ldw;
  for (int64_t b = 0; b < nbk; b++) {
    const size_t off = (size_t)b * bs;
    nb__pf_span(pf + 8 * off, 8 * bs);
    __m256i va[8], vb[8];
    __m128i d = _mm_setzero_si128();
    for (int i = 0; i < 8; i++) qh_widen(q4, p[i] + off, &va[i], &vb[i]);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[0] + off), 0);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[1] + off), 1);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[2] + off), 2);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[3] + off), 3);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[4] + off), 4);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[5] + off), 5);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[6] + off), 6);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[7] + off), 7);
    qhl_transpose(va, &o[b].g[0]);
    qhl_transpose(vb, &o[b].g[8]);
    o[b].d = _mm256_cvtph_ps(d);
  }
}

/* A token's converted input block (the walk's prepared input). */
typedef struct qhl_x {
  int16_t q[32];
  float s;
} qhl_x;

_Static_assert(sizeof(qhl_x) == NB__QH_BLOCK, "qhl_x is kernels.h's NB__X_QH block");

static void qhl_prep(const uint8_t *x, int64_t nbk, void *ov) {
  qhl_x *o = ov;
  qh_convert_n(x, nbk, (uint8_t *)o->q, sizeof *o, (uint8_t *)&o->s, sizeof *o);
}

/* kernels.h's prep_qh: a row of k F16 inputs as the batch families prepare
 * them. */
static void prep_qh(const void *x, void *o, int64_t k) { qhl_prep(x, k / 32, o); }

/* T tokens x one packed group over nbk blocks (nb__lw_tile_fn): xs[t]
 * token t's converted blocks at the slab; acc: (T, 8) kept between
 * slabs. */
NB__ALWAYS_INLINE void qhl_tile(int T, int64_t nbk, const void *pkv,
                                const void *const *xsv, float *acc_io) {
  const qhl_blk *pk = pkv;
  const qhl_x *xs[QHL_T];
  __m256 acc[QHL_T];
  NB__UNROLL(4) for (int t = 0; t < T; t++) {
    xs[t] = xsv[t];
    acc[t] = _mm256_load_ps(acc_io + 8 * t);
  }
  for (int64_t b = 0; b < nbk; b++) {
    __m256i a[QHL_T];
#ifdef NB__VNNI256
    __m256i a1[QHL_T]; /* the odd k-pairs' chains */
#endif
    NB__UNROLL(16) for (int g = 0; g < 16; g++) {
      const __m256i wg = _mm256_load_si256(&pk[b].g[g]);
      NB__UNROLL(4) for (int t = 0; t < T; t++) {
        int32_t xg;
        memcpy(&xg, &xs[t][b].q[2 * g], 4);
#ifdef NB__VNNI256
        /* two chains per token (even and odd g), as in qqlanes_avx2.h:
         * one chain of 16 vpdpwssd would wait on their latency */
        const __m256i xv = _mm256_set1_epi32(xg);
        if (g & 1) {
          a1[t] = g == 1 ? _mm256_madd_epi16(wg, xv) : nb__dpwssd(a1[t], wg, xv);
          __asm__("" : "+x"(a1[t]));
        } else {
          a[t] = g == 0 ? _mm256_madd_epi16(wg, xv) : nb__dpwssd(a[t], wg, xv);
          __asm__("" : "+x"(a[t]));
        }
#else
        __m256i p = _mm256_madd_epi16(wg, _mm256_set1_epi32(xg));
        a[t] = g == 0 ? p : _mm256_add_epi32(a[t], p);
        /* keeps the sum a running register (see qqlanes_avx2.h) */
        __asm__("" : "+x"(a[t]));
#endif
      }
    }
#ifdef NB__VNNI256
    NB__UNROLL(4) for (int t = 0; t < T; t++) a[t] = _mm256_add_epi32(a[t], a1[t]);
#endif
    const __m256 dw = _mm256_load_ps((const float *)&pk[b].d);
    NB__UNROLL(4) for (int t = 0; t < T; t++)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[t]),
                               _mm256_mul_ps(dw, _mm256_set1_ps(xs[t][b].s)),
                               acc[t]);
  }
  NB__UNROLL(4) for (int t = 0; t < T; t++) _mm256_store_ps(acc_io + 8 * t, acc[t]);
}

#define QHL_ONE(T)                                                           \
  static void qhl_tile_##T(int64_t nbk, const void *pk,                      \
                           const uint8_t *const *x, const void *const *xs,   \
                           float *acc) {                                     \
    (void)x;                                                                 \
    qhl_tile(T, nbk, pk, xs, acc);                                           \
  }
QHL_ONE(1) QHL_ONE(2) QHL_ONE(3) QHL_ONE(4)
static void qhl_pack_q8(const uint8_t *w, size_t ldw, int nr, int64_t nbk,
                        void *o, const uint8_t *pf) {
  qhl_pack(0, w, ldw, nr, nbk, o, pf);
}
static void qhl_pack_q4(const uint8_t *w, size_t ldw, int nr, int64_t nbk,
                        void *o, const uint8_t *pf) {
  qhl_pack(1, w, ldw, nr, nbk, o, pf);
}

/* The batch families for lanes_walk.h: 8 rows per group, 16 groups per
 * step (128 rows), slabs of 16 blocks, 4 tokens per tile, passes of 32
 * tokens converted once per pass when their rows fit the buffer (down to
 * 16 tokens per pass; else per slab), prefetch one step ahead. */
NB__LW_CHECK(QHL_G, QHL_KS, sizeof(qhl_blk), QHL_TB, 8, sizeof(qhl_x));
static const nb__lw qhl_fam[2] = {
    {8, QHL_KS, QHL_G, QHL_T, QHL_TB, 16, 1, sizeof(nb__block_q8_0),
     32 * sizeof(nb_f16), sizeof(qhl_blk), sizeof(qhl_x), qhl_pack_q8,
     qhl_prep, {0, qhl_tile_1, qhl_tile_2, qhl_tile_3, qhl_tile_4}, 0, {0}},
    {8, QHL_KS, QHL_G, QHL_T, QHL_TB, 16, 1, sizeof(nb__block_q4_0),
     32 * sizeof(nb_f16), sizeof(qhl_blk), sizeof(qhl_x), qhl_pack_q4,
     qhl_prep, {0, qhl_tile_1, qhl_tile_2, qhl_tile_3, qhl_tile_4}, 0, {0}},
};

/* One token's converted input (k <= 32 * QH1_KB). */
typedef struct qh1_x {
  _Alignas(64) int16_t q[QH1_KB][32]; /* (blocks, 32) fixed-point inputs */
  float s[QH1_KB];                    /* (blocks) their scales */
  int32_t sum[QH1_KB];                /* (blocks) sum of q: the bias of a
                                         kernel on unsigned Q4_0 levels */
} qh1_x;

/* Rows [r0, r1) of one token: y[r] for r in [r0, r1). */
typedef void (*qh1_rows_fn)(int q4, int64_t nb, const uint8_t *w, size_t ldw,
                            const qh1_x *c, float *y, int64_t r0, int64_t r1);

/* AVX2's: rows in tiles of 4 over all k, each reading its rows front to
 * back (the prefetch covers the next rows whole). */
static inline void qh1_rows(int q4, int64_t nb, const uint8_t *w, size_t ldw,
                            const qh1_x *c, float *y, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; r += NB__TMAX_R) {
    int nr = r1 - r < NB__TMAX_R ? (int)(r1 - r) : NB__TMAX_R;
    const uint8_t *wr = w + (size_t)r * ldw;
    qh1_tiles[q4][nr](nb, wr, ldw, c->q, c->s, c->sum, y + r,
                      wr + (size_t)NB__PF_TILES * nr * ldw);
  }
}

/* The gemm of either weight type. One token (k <= 32 * QH1_KB): the input
 * converted once, then `one` over the rows. Otherwise the lanes walk with
 * the batch family fam. The pairs (qh1_rows, qhl_fam) and avx512.c's
 * 16-lane (qh16_rows, qh16_fam) each give the same numbers in both paths. */
static inline void walk_qh(const nb__lw *fam, qh1_rows_fn one, int q4,
                           int64_t k, const void *w, size_t ldw,
                           const void *x, size_t ldx, float *y, int64_t ldy,
                           int64_t r0, int64_t r1, int64_t nt) {
  const int64_t nb = k / 32;
  if (nt == 1 && nb <= QH1_KB) {
    qh1_x c;
    qh_convert(x, nb, c.q, c.s);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
      __m256i v = _mm256_add_epi32(
          _mm256_madd_epi16(_mm256_load_si256((const __m256i *)c.q[b]), ones),
          _mm256_madd_epi16(_mm256_load_si256((const __m256i *)c.q[b] + 1), ones));
      __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
      h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
      h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
      c.sum[b] = _mm_cvtsi128_si32(h);
    }
    one(q4, nb, w, ldw, &c, y, r0, r1);
    return;
  }
  nb__lw_walk(fam, k, w, ldw, x, ldx, y, ldy, r0, r1, nt);
}

/* The gemm entries of a set's fixed-point families: Q8_0 / Q4_0 weights x
 * F16 input (walk_qh with the batch family FAM and the one-token rows
 * ROWS), and x NB__X_QH input, already converted by prep_qh (the batch
 * family reading it in place). One macro for avx2.c's 8-lane and
 * avx512.c's 16-lane families. */
#define NB__QH_ENTRY(NAME, BODY)                                               \
  static void NAME(int64_t k, const void *w, size_t ldw, const void *x,        \
                   size_t ldx, float *y, int64_t ldy, int64_t r0, int64_t r1,  \
                   int64_t nt) {                                               \
    BODY;                                                                      \
  }
#define NB__QH_GEMMS(FAM, ROWS)                                                \
  NB__QH_ENTRY(gemm_q8_0_f16, walk_qh(&FAM[0], ROWS, 0, k, w, ldw, x, ldx, y,  \
                                      ldy, r0, r1, nt))                        \
  NB__QH_ENTRY(gemm_q4_0_f16, walk_qh(&FAM[1], ROWS, 1, k, w, ldw, x, ldx, y,  \
                                      ldy, r0, r1, nt))                        \
  NB__QH_ENTRY(gemm_q8_0_qh, nb__lw_walk_pre(&FAM[0], 1, k, w, ldw, x, ldx, y, \
                                             ldy, r0, r1, nt))                 \
  NB__QH_ENTRY(gemm_q4_0_qh, nb__lw_walk_pre(&FAM[1], 1, k, w, ldw, x, ldx, y, \
                                             ldy, r0, r1, nt))

#endif /* NB_FIXED16_X86_H */
