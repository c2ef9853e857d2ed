/*
 * fixed16_avx512.h: Q8_0/Q4_0 weights x F16 input batches on AVX-512 VNNI
 * with 16 weight rows in the lanes. Included once, by avx512.c, after
 * fixed16_x86.h (whose input conversion, one-token tile and walk it uses).
 *
 * Same numbers as fixed16_x86.h's 8-lane family: the input in 16-bit fixed
 * point per block (qh_convert_n), per (row, block) the exact int32 sum
 * S = sum_j w_j i_j, then acc = fma((float)S, d_w * s_b, acc) per row,
 * blocks in order. Here one vpdpwssd (int16 pairs, int32 accumulation)
 * serves 16 rows x 2 k where the AVX2 family spends a vpmaddwd and an add
 * on 8 rows: 16 instructions per (16 rows, token, block) plus the tail,
 * against 32 per 8 rows. |S| <= 32 * 128 * 32767 < 2^27: no overflow.
 *
 * Packing widens each row's block to 32 int16 in element order (Q4_0:
 * q - 8) and transposes 16 rows x 16 dwords, so vector g holds elements
 * 2g, 2g + 1 of rows 0..15, matching input pair g.
 */

#define QH16_KS 8    /* blocks of a k-slab packed at once (16 rows: 8.5 KiB) */
#define QH16_G 4     /* row groups of 16 packed per slab (64 rows, 34 KiB) */
#define QH16_T 8     /* tokens per tile */
#define QH16_TB 256  /* tokens per pass */

typedef struct qh16_blk { /* one block of 16 rows, interleaved */
  __m512i g[16]; /* (16 k-pairs) x (16 rows x 2 int16) */
  __m512 d;      /* the 16 rows' d_w */
} qh16_blk;

/* One row's block as 32 int16 in element order (Q4_0: q - 8). */
NB__ALWAYS_INLINE __m512i qh16_widen(int q4, const uint8_t *blk) {
  if (q4) {
    __m256i u = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(blk + 2)));
    __m256i lo = _mm256_sub_epi16(_mm256_and_si256(u, _mm256_set1_epi16(0x0f)), _mm256_set1_epi16(8));
    __m256i hi = _mm256_sub_epi16(_mm256_srli_epi16(u, 4), _mm256_set1_epi16(8));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
  }
  return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(blk + 2)));
}

/* 16 x 16 dword transpose: o[j] lane r = v[r] dword j. Row pairs
 * interleaved (32-bit, then 64-bit unpacks: each 128-bit lane L of u[4q+i]
 * holds dword 4L + i of rows 4q..4q+3), then the 128-bit lanes regrouped
 * with two rounds of shuffles. */
NB__ALWAYS_INLINE void qh16_transpose(const __m512i v[16], __m512i o[16]) {
  __m512i t[16], u[16];
  NB__UNROLL(8) for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
  }
  NB__UNROLL(4) for (int q = 0; q < 4; q++) {
    u[4 * q + 0] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
    u[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
    u[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
    u[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
  }
  NB__UNROLL(4) for (int i = 0; i < 4; i++) {
    __m512i a0 = _mm512_shuffle_i32x4(u[i], u[4 + i], 0x44);
    __m512i a1 = _mm512_shuffle_i32x4(u[i], u[4 + i], 0xee);
    __m512i a2 = _mm512_shuffle_i32x4(u[8 + i], u[12 + i], 0x44);
    __m512i a3 = _mm512_shuffle_i32x4(u[8 + i], u[12 + i], 0xee);
    o[i] = _mm512_shuffle_i32x4(a0, a2, 0x88);
    o[4 + i] = _mm512_shuffle_i32x4(a0, a2, 0xdd);
    o[8 + i] = _mm512_shuffle_i32x4(a1, a3, 0x88);
    o[12 + i] = _mm512_shuffle_i32x4(a1, a3, 0xdd);
  }
}

/* nb__lw_pack_fn for 16 rows (missing rows repeat the last one). */
NB__ALWAYS_INLINE void qh16_pack(int q4, const uint8_t *w, size_t ldw, int nr,
                                 int64_t nbk, void *ov, const uint8_t *pf) {
  qh16_blk *o = ov;
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  const uint8_t *p[16];
  for (int i = 0; i < 16; i++) p[i] = w + (size_t)(i < nr ? i : nr - 1) * ldw;
  for (int64_t b = 0; b < nbk; b++) {
    const size_t off = (size_t)b * bs;
    nb__pf_span(pf + 16 * off, 16 * bs);
    __m512i v[16];
    NB__UNROLL(16) for (int i = 0; i < 16; i++) v[i] = qh16_widen(q4, p[i] + off);
    qh16_transpose(v, o[b].g);
    _mm512_store_ps((float *)&o[b].d, q16_scales(p, off));
  }
}

/* T tokens x one packed group over nbk blocks (nb__lw_tile_fn); xs[t]:
 * token t's converted blocks (qhl_x) at the slab. */
NB__ALWAYS_INLINE void qh16_tile(int T, int64_t nbk, const void *pkv,
                                 const void *const *xsv, float *acc_io) {
  const qh16_blk *pk = pkv;
  const qhl_x *xs[QH16_T];
  __m512 acc[QH16_T];
  NB__UNROLL(8) for (int t = 0; t < T; t++) {
    xs[t] = xsv[t];
    acc[t] = _mm512_load_ps(acc_io + 16 * t);
  }
  for (int64_t b = 0; b < nbk; b++) {
    __m512i a[QH16_T];
    NB__UNROLL(8) for (int t = 0; t < T; t++) a[t] = _mm512_setzero_si512();
    NB__UNROLL(16) for (int g = 0; g < 16; g++) {
      const __m512i wg = _mm512_load_si512(&pk[b].g[g]);
      NB__UNROLL(8) for (int t = 0; t < T; t++) {
        int32_t xg;
        memcpy(&xg, &xs[t][b].q[2 * g], 4);
        a[t] = _mm512_dpwssd_epi32(a[t], wg, _mm512_set1_epi32(xg));
      }
    }
    const __m512 dw = _mm512_load_ps((const float *)&pk[b].d);
    NB__UNROLL(8) for (int t = 0; t < T; t++)
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[t]),
                               _mm512_mul_ps(dw, _mm512_set1_ps(xs[t][b].s)), acc[t]);
  }
  NB__UNROLL(8) for (int t = 0; t < T; t++) _mm512_store_ps(acc_io + 16 * t, acc[t]);
}

/* T tokens x the QH16_G groups of a step (nb__lw_tileg_fn): each input
 * pair broadcast once into a register serves the 4 groups' 64 rows (see
 * q16_tileg). The same per-(row, token) sequence as qh16_tile. */
NB__ALWAYS_INLINE void qh16_tileg(int T, int64_t nbk, const void *pkv,
                                  size_t pks, const void *const *xsv,
                                  float *acc_io, size_t accs) {
  const qh16_blk *pk[QH16_G];
  const qhl_x *xs[NB__LW_TTG];
  __m512 acc[QH16_G][NB__LW_TTG];
  NB__UNROLL(4) for (int h = 0; h < QH16_G; h++) {
    pk[h] = (const qh16_blk *)((const unsigned char *)pkv + (size_t)h * pks);
    NB__UNROLL(4) for (int t = 0; t < T; t++)
      acc[h][t] = _mm512_load_ps(acc_io + (size_t)h * accs + 16 * t);
  }
  NB__UNROLL(4) for (int t = 0; t < T; t++) xs[t] = xsv[t];
  for (int64_t b = 0; b < nbk; b++) {
    __m512i a[QH16_G][NB__LW_TTG];
    NB__UNROLL(4) for (int h = 0; h < QH16_G; h++)
      NB__UNROLL(4) for (int t = 0; t < T; t++) a[h][t] = _mm512_setzero_si512();
    NB__UNROLL(16) for (int g = 0; g < 16; g++) {
      __m512i wg[QH16_G];
      NB__UNROLL(4) for (int h = 0; h < QH16_G; h++) wg[h] = _mm512_load_si512(&pk[h][b].g[g]);
      NB__UNROLL(4) for (int t = 0; t < T; t++) {
        int32_t xg;
        memcpy(&xg, &xs[t][b].q[2 * g], 4);
        __m512i xb = _mm512_set1_epi32(xg);
        Q16_IN_REG(xb);
        NB__UNROLL(4) for (int h = 0; h < QH16_G; h++)
          a[h][t] = _mm512_dpwssd_epi32(a[h][t], wg[h], xb);
      }
    }
    NB__UNROLL(4) for (int h = 0; h < QH16_G; h++) {
      const __m512 dw = _mm512_load_ps((const float *)&pk[h][b].d);
      NB__UNROLL(4) for (int t = 0; t < T; t++)
        acc[h][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[h][t]),
                                    _mm512_mul_ps(dw, _mm512_set1_ps(xs[t][b].s)), acc[h][t]);
    }
  }
  NB__UNROLL(4) for (int h = 0; h < QH16_G; h++)
    NB__UNROLL(4) for (int t = 0; t < T; t++)
      _mm512_store_ps(acc_io + (size_t)h * accs + 16 * t, acc[h][t]);
}

#define QH16_GONE(T)                                                         \
  static void qh16_tileg_##T(int64_t nbk, const void *pk, size_t pks,        \
                             const uint8_t *const *x, const void *const *xs, \
                             float *acc, size_t accs) {                      \
    (void)x;                                                                 \
    qh16_tileg(T, nbk, pk, pks, xs, acc, accs);                              \
  }
QH16_GONE(1) QH16_GONE(2) QH16_GONE(3) QH16_GONE(4)

#define QH16_ONE(T)                                                          \
  static void qh16_tile_##T(int64_t nbk, const void *pk,                     \
                            const uint8_t *const *x, const void *const *xs,  \
                            float *acc) {                                    \
    (void)x;                                                                 \
    qh16_tile(T, nbk, pk, xs, acc);                                          \
  }
QH16_ONE(1) QH16_ONE(2) QH16_ONE(3) QH16_ONE(4)
QH16_ONE(5) QH16_ONE(6) QH16_ONE(7) QH16_ONE(8)
static void qh16_pack_q8(const uint8_t *w, size_t ldw, int nr, int64_t nbk,
                         void *o, const uint8_t *pf) {
  qh16_pack(0, w, ldw, nr, nbk, o, pf);
}
static void qh16_pack_q4(const uint8_t *w, size_t ldw, int nr, int64_t nbk,
                         void *o, const uint8_t *pf) {
  qh16_pack(1, w, ldw, nr, nbk, o, pf);
}

/* The families for lanes_walk.h: 16 rows per group, 4 groups per step
 * (64 rows), slabs of 8 blocks, 8 tokens per tile, passes of 256 tokens
 * converted once per pass (the walk takes the rows from the heap when they
 * outgrow its stack buffer; down to 16 tokens per pass otherwise), prefetch
 * one step ahead. Long passes: packing widens every weight to int16 and
 * transposes it, so it is worth sharing (TinyLlama Q4_0 f16 pp512: 24% of
 * the time at 32 tokens; 64 -> 128 tokens +7-8%; 128 -> 256, packing
 * 7.5% -> 4.8% of the time, +3%). The Q8-input family (qqlanes_avx512.h)
 * packs bytes without widening and stays at 128: 256 measured the same. */
NB__LW_CHECK(QH16_G, QH16_KS, sizeof(qh16_blk), QH16_TB, 16, sizeof(qhl_x));
#define QH16_TILES                                                           \
  {0, qh16_tile_1, qh16_tile_2, qh16_tile_3, qh16_tile_4,                    \
   qh16_tile_5, qh16_tile_6, qh16_tile_7, qh16_tile_8}
#define QH16_GTILES {0, qh16_tileg_1, qh16_tileg_2, qh16_tileg_3, qh16_tileg_4}
static const nb__lw qh16_fam[2] = {
    {16, QH16_KS, QH16_G, QH16_T, QH16_TB, 16, 1, sizeof(nb__block_q8_0),
     32 * sizeof(nb_f16), sizeof(qh16_blk), sizeof(qhl_x), qh16_pack_q8,
     qhl_prep, QH16_TILES, 4, QH16_GTILES},
    {16, QH16_KS, QH16_G, QH16_T, QH16_TB, 16, 1, sizeof(nb__block_q4_0),
     32 * sizeof(nb_f16), sizeof(qh16_blk), sizeof(qhl_x), qh16_pack_q4,
     qhl_prep, QH16_TILES, 4, QH16_GTILES},
};

/* ------------------------------------------------ one token (decode) */

/* One token, Q4_0: the fixed-point input is split into bytes so a vector
 * holds two blocks of a row and the 16-row fold (about 44 shuffles and
 * adds) is paid per block pair, as in the Q8 kernel, not per block as with
 * one vpdpwssd per row and block:
 *   i = 256 hi + lo,  hi = i >> 8 in [-128, 127],  lo = i & 255,
 *   v = (vpdpbusd(0, q, hi) << 8) + vpdpbusd(., lo, q)   (q in [0, 15])
 *   S = v - 2048 sum hi - 8 sum lo   ((q - 8) i = 256 q hi + q lo
 *                                     - 2048 hi - 8 lo).
 * Every term is an exact int32 (|v| < 256 * 32 * 15 * 128 + 32 * 255 * 15),
 * so S is the same integer as the batch tile's vpdpwssd sum and the same
 * float sequence follows: decode and prefill give the same logits.
 * Measured (TinyLlama Q4_0 x F16 decode, 2 threads, back to back): 29.8 ->
 * 32.7 t/s (q8 input: 36.6). Folding the -8 of q - 8 into the per-block
 * bias (one vpsubb less per row and pair) and the 16 row scales by one
 * gather (q16_scales_g) took it 36.0 -> 36.4 -> 37.1 t/s, and 7B Q4_0
 * 5.46 -> 5.74.
 * One token, Q8_0: AVX2's 4-row tile (qh1_rows, fixed16_x86.h; the same
 * numbers). The split needs a sign flip and a -32768 sum hi bias there and
 * measured 1.5% slower than a 16-row vpdpwssd kernel, which in turn was
 * 2-6% slower than the 4-row tile (TinyLlama Q8_0 f16 tg64: 21.1-21.9 vs
 * 22.0-22.4 t/s back to back). */

/* The Q4_0 kernel's input: the fixed-point values' bytes, element order
 * per block, one zero block after the last (a lone last block's step reads
 * a pair). */
typedef struct qh16_x4 {
  _Alignas(64) int8_t hi[QH1_KB + 1][32];  /* (blocks + 1, 32) i >> 8 */
  _Alignas(64) uint8_t lo[QH1_KB + 1][32]; /* (blocks + 1, 32) i & 255 */
  int32_t bias[QH1_KB];                    /* (blocks) -2048 sum hi - 8 sum lo */
} qh16_x4;

/* sum lo by one vpsadbw; sum hi = (sum i - sum lo) / 256 exactly (c->sum:
 * the block's sum of i). Why not a byte loop: this runs once per call, and
 * decode's shared row ranges (sys/share.h) make several calls per matmul
 * and thread; the loop took most of the call's ~0.8 us input preparation
 * at k = 2048. */
static void qh16_split(const qh1_x *c, int64_t nb, qh16_x4 *o) {
  for (int64_t b = 0; b < nb; b++) {
    const __m512i i16 = _mm512_load_si512(c->q[b]);
    const __m256i lo = _mm512_cvtepi16_epi8(i16);
    _mm256_store_si256((__m256i *)o->hi[b], _mm512_cvtepi16_epi8(_mm512_srai_epi16(i16, 8)));
    _mm256_store_si256((__m256i *)o->lo[b], lo);
    const __m256i u = _mm256_sad_epu8(lo, _mm256_setzero_si256());
    const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
    const int32_t sl = (int32_t)_mm_cvtsi128_si64(_mm_add_epi64(h, _mm_unpackhi_epi64(h, h)));
    const int32_t sh = (c->sum[b] - sl) / 256;
    o->bias[b] = -2048 * sh - 8 * sl;
  }
  memset(o->hi[nb], 0, 32);
  memset(o->lo[nb], 0, 32);
}

/* acc = fma((float)(s + bias), d_w * s_b, acc) for the 16 rows p[] of
 * block b: the batch tile's float step (d_w gathered: rows at p[0] +
 * idx, see q16_ridx). */
NB__ALWAYS_INLINE __m512 qh16_fstep(__m512 acc, __m512i s, int32_t bias,
                                    const uint8_t *const *p, __m512i idx, size_t off,
                                    float sb) {
  s = _mm512_add_epi32(s, _mm512_set1_epi32(bias));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                         _mm512_mul_ps(q16_scales_g(p[0], idx, off), _mm512_set1_ps(sb)), acc);
}

/* One block pair (two = 0: block b alone) of 16 rows p[]. */
NB__ALWAYS_INLINE __m512 qh16_step(int two, int64_t b, const uint8_t *const *p, __m512i idx,
                                   const qh1_x *c, const qh16_x4 *x, __m512 acc) {
  const size_t bs = sizeof(nb__block_q4_0);
  const __m512i hi = _mm512_load_si512(x->hi[b]), lo = _mm512_load_si512(x->lo[b]);
  __m512i v[16];
  NB__UNROLL(16) for (int r = 0; r < 16; r++) {
    const __m512i q = q16_wpair(1, two, p[r] + (size_t)b * bs);
    const __m512i t = _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, hi), 8);
    v[r] = _mm512_dpbusd_epi32(t, lo, q);
  }
  __m512i sb, sb1;
  q16_fold(v, &sb, &sb1);
  acc = qh16_fstep(acc, sb, x->bias[b], p, idx, (size_t)b * bs, c->s[b]);
  if (two) acc = qh16_fstep(acc, sb1, x->bias[b + 1], p, idx, (size_t)(b + 1) * bs, c->s[b + 1]);
  return acc;
}

/* nr (<= 16) Q4_0 rows from w for one token. Missing rows repeat the last
 * one and are not stored. pf: the prefetch span's start (the rows two
 * tiles ahead). */
static void qh16_one_q4(int64_t nb, const uint8_t *w, size_t ldw, int nr,
                        const qh1_x *c, const qh16_x4 *x, float *y,
                        const uint8_t *pf) {
  const size_t bs = sizeof(nb__block_q4_0);
  const uint8_t *p[16];
  for (int i = 0; i < 16; i++) p[i] = w + (size_t)(i < nr ? i : nr - 1) * ldw;
  __m512 acc = _mm512_setzero_ps(); /* (16) rows in lanes */
  const __m512i idx = q16_ridx(nr, ldw);
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    nb__pf_span(pf + (size_t)b * 16 * bs, 32 * bs);
    acc = qh16_step(1, b, p, idx, c, x, acc);
  }
  if (b < nb) acc = qh16_step(0, b, p, idx, c, x, acc);
  _Alignas(64) float o[16];
  _mm512_store_ps(o, acc);
  memcpy(y, o, (size_t)nr * sizeof(float));
}

/* qh1_rows_fn: Q4_0 rows in tiles of 16, each read front to back; Q8_0
 * rows through AVX2's 4-row tile (see above). */
static void qh16_rows(int q4, int64_t nb, const uint8_t *w, size_t ldw,
                      const qh1_x *c, float *y, int64_t r0, int64_t r1) {
  if (!q4 || ldw > Q16_LDW_MAX) { /* the gather's int32 offsets */
    qh1_rows(q4, nb, w, ldw, c, y, r0, r1);
    return;
  }
  qh16_x4 x;
  qh16_split(c, nb, &x);
  for (int64_t r = r0; r < r1; r += 16) {
    const int nr = r1 - r < 16 ? (int)(r1 - r) : 16;
    const uint8_t *wr = w + (size_t)r * ldw;
    qh16_one_q4(nb, wr, ldw, nr, c, &x, y + r, wr + (size_t)NB__PF_TILES * 16 * ldw);
  }
}
