/*
 * qqlanes_avx2.h: Q4_0 / Q8_0 weights x Q8 input on AVX2 with 8 weight rows
 * in the 8 lanes of a vector. Included once, by avx2.c.
 *
 * Why: a row-per-vector kernel spends, per (row, token, block), a maddubs,
 * a madd, a subtract, a conversion, a multiply and an FMA on one row. Here
 * the weights of 8 rows are interleaved (4 bytes of each row per lane), so
 * one maddubs serves 8 rows x 4 k and the per-block tail (convert,
 * multiply, FMA) is paid once per 8 rows. Q4_0: int16 sums of a whole
 * block stay exact in the lanes (|q x| pairs <= 2 * 15 * 128; 8 of them fit
 * int16): about 21 instructions per (8 rows, token, block) instead of about
 * 60. Q8_0: |x| * sign(w, x) pairs (<= 2 * 128 * 127) go to int32 at once
 * (madd), about 45 instead of about 55.
 *
 * The interleaving is done on the fly, from the mapped file into a small
 * buffer (8 rows x up to Q4L_KS blocks, in L1/L2) by lanes_walk.h's walk:
 * no repacked copy of the weights is kept. Vector g (0..7) of a packed block holds elements
 * 4g .. 4g + 3 of the 8 rows, matching input bytes 4g.. of the Q8 block
 * (Q4_0: dword g of the 16 quant bytes, low nibbles for g < 4, high
 * nibbles for the elements 16 + 4g.. of g + 4; Q8_0: dword g of the 32).
 *
 * Per (row r, token t, block b), in every walk:
 *   s = sum_j (q_j - 8) x_j or sum_j q_j x_j   (Q4_0 / Q8_0, exact int32)
 *   acc = fma((float)s, d_w * d_x, acc)  (one float per row, blocks in order)
 * and y = acc. avx2.c's one-token walk runs the same arithmetic, so
 * results never depend on the batch, the row split or the tile.
 *
 * With VNNI (NB__VNNI256, the avxvnni set) one vpdpbusd per (8 rows,
 * token, 4 k) replaces the maddubs + add (Q4_0) or sign + abs + maddubs +
 * madd + add (Q8_0): the weights go in unsigned (Q4_0 q; Q8_0 w + 128,
 * exact for every int8 pair, -128 weights included) and the chain starts
 * at -8 sum x or -128 sum x, as in qqlanes_avx512.h. The block sums are
 * the same exact integers, so the results are the avx2 set's bits.
 */

#include "lanes_walk.h"
#include "vnni_x86.h"

#define Q4L_KS 64   /* blocks of a k-slab packed at once (8 rows: 18 KiB) */
#define Q4L_G 4     /* row groups of 8 packed per slab (32 rows) */
#define Q4L_T 4     /* tokens per tile */
#define Q4L_TB 64   /* tokens per pass, at most */

typedef struct q4l_blk { /* one block of 8 rows, interleaved */
  __m256i g[8]; /* (8 k-groups) x (8 rows x 4 bytes): Q4_0 q in [0, 15],
                   Q8_0 q as int8 (VNNI: q + 128 as uint8) */
  __m256 d;     /* the 8 rows' d_w */
} q4l_blk;

typedef struct q4l_x { /* a token's input scalars of one block */
  int32_t xa; /* subtracted from the block sum: Q4_0 8 * sum x; Q8_0 with
                 VNNI 128 * sum x, without 0 */
  float d;    /* d_x */
} q4l_x;

/* Packs blocks [0, nbk) of rows w + i * ldw (i < nr; missing rows repeat
 * the last one, their lanes are never stored) into o. pf: where this
 * block's share of the prefetch starts: the 8 rows one packing step ahead
 * are one contiguous region, swept 8 blocks' bytes per block over k
 * (nb__pf_span), so it is requested whole by the time the step gets there. */
NB__ALWAYS_INLINE void q4l_pack(int q4, const uint8_t *w, size_t ldw, int nr,
                                int64_t nbk, void *ov, const uint8_t *pf) {
  q4l_blk *o = ov;
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  const uint8_t *p[8];
  for (int i = 0; i < 8; i++) p[i] = w + (size_t)(i < nr ? i : nr - 1) * ldw;
  const __m256i m = _mm256_set1_epi8(0x0f);
  for (int64_t b = 0; b < nbk; b++) {
    const size_t off = (size_t)b * bs;
    nb__pf_span(pf + 8 * off, 8 * bs);
    q4l_blk *ob = &o[b];
    /* 16 quant bytes at off + h of each row, 4 x 4 dword transpose in each
     * 128-bit half: lanes = rows 0-3 | 4-7 */
    for (int h = 0; h < (q4 ? 1 : 2); h++) {
#define Q4L_ROWS(a, c)                                                       \
  _mm256_inserti128_si256(                                                   \
      _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p[a] + off + 2 + 16 * h))), \
      _mm_loadu_si128((const __m128i *)(p[c] + off + 2 + 16 * h)), 1)
      __m256i v0 = Q4L_ROWS(0, 4), v1 = Q4L_ROWS(1, 5);
      __m256i v2 = Q4L_ROWS(2, 6), v3 = Q4L_ROWS(3, 7);
#undef Q4L_ROWS
      __m256i t0 = _mm256_unpacklo_epi32(v0, v1), t1 = _mm256_unpackhi_epi32(v0, v1);
      __m256i t2 = _mm256_unpacklo_epi32(v2, v3), t3 = _mm256_unpackhi_epi32(v2, v3);
      __m256i g[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                      _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
      for (int j = 0; j < 4; j++) {
        if (q4) {
          _mm256_store_si256(&ob->g[j], _mm256_and_si256(g[j], m));
          _mm256_store_si256(&ob->g[j + 4], _mm256_and_si256(_mm256_srli_epi16(g[j], 4), m));
        } else {
#ifdef NB__VNNI256
          _mm256_store_si256(&ob->g[4 * h + j], _mm256_xor_si256(g[j], _mm256_set1_epi8((char)0x80)));
#else
          _mm256_store_si256(&ob->g[4 * h + j], g[j]);
#endif
        }
      }
    }
    /* the scales by word inserts (8 narrow stores then one wide load
     * would stall store forwarding) */
    __m128i d = _mm_cvtsi32_si128(*(const uint16_t *)(const void *)(p[0] + off));
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[1] + off), 1);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[2] + off), 2);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[3] + off), 3);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[4] + off), 4);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[5] + off), 5);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[6] + off), 6);
    d = _mm_insert_epi16(d, *(const uint16_t *)(const void *)(p[7] + off), 7);
    _mm256_store_ps((float *)&ob->d, _mm256_cvtph_ps(d));
  }
}

/* d_x (and for Q4_0 8 * sum x) of blocks [0, nbk) of one token's Q8 row
 * x. Done once per token and pass, not per row step: recomputed per step
 * it took a sixth of the tile time. */
NB__ALWAYS_INLINE void q4l_prep(int q4, const uint8_t *x, int64_t nbk, void *ov) {
  q4l_x *o = ov;
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nbk; b++) {
    const uint8_t *blk = x + (size_t)b * sizeof(nb__block_q8_0);
    __m256i xv = _mm256_loadu_si256((const __m256i *)(blk + 2));
    __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, xv), ones16);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
#ifdef NB__VNNI256
    o[b].xa = (q4 ? 8 : 128) * _mm_cvtsi128_si32(h);
#else
    o[b].xa = q4 ? 8 * _mm_cvtsi128_si32(h) : 0;
#endif
    o[b].d = ld_scale(blk);
  }
}

/* T tokens x one packed group of 8 rows over nbk blocks (nb__lw_tile_fn):
 * x[t] token t's Q8 row at the slab, xs[t] its input scalars there;
 * acc: (T, 8) kept between slabs. */
NB__ALWAYS_INLINE void q4l_tile(int T, int q4, int64_t nbk, const void *pkv,
                                const uint8_t *const *x, const void *const *xsv,
                                float *acc_io) {
  const q4l_blk *pk = pkv;
  const q4l_x *xs[Q4L_T];
#ifdef NB__VNNI256
  (void)q4; /* the bias in xs carries the type */
#else
  const __m256i ones16 = _mm256_set1_epi16(1);
#endif
  __m256 acc[Q4L_T];
  _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
    xs[t] = xsv[t];
    acc[t] = _mm256_load_ps(acc_io + 8 * t);
  }
  for (int64_t b = 0; b < nbk; b++) {
    __m256i a[Q4L_T];
#ifdef NB__VNNI256
    __m256i a1[Q4L_T]; /* the odd k-groups' chains */
#endif
    _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) {
      const __m256i wg = _mm256_load_si256(&pk[b].g[g]);
      _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
        int32_t xg;
        memcpy(&xg, x[t] + (size_t)b * sizeof(nb__block_q8_0) + 2 + 4 * g, 4);
        __m256i xv = _mm256_set1_epi32(xg);
#ifdef NB__VNNI256
        /* two chains per token, even and odd g: 8 independent vpdpbusd
         * chains cover its latency (about 5 cycles at 2 per cycle), in 14
         * of the 16 ymm registers */
        if (g & 1) {
          a1[t] = nb__dpbusd(g == 1 ? _mm256_setzero_si256() : a1[t], wg, xv);
          __asm__("" : "+x"(a1[t]));
        } else {
          a[t] = nb__dpbusd(g == 0 ? _mm256_set1_epi32(-xs[t][b].xa) : a[t], wg, xv);
          __asm__("" : "+x"(a[t]));
        }
#else
        if (q4) {
          __m256i p = _mm256_maddubs_epi16(wg, xv);
          a[t] = g == 0 ? p : _mm256_add_epi16(a[t], p);
        } else {
          /* |x| * sign(w, x): exact for x = -128 too (the Q8 input may
           * hold it); a -128 weight meeting a negative x wraps, as in
           * ggml (our and ggml's quantizers give [-127, 127]) */
          __m256i p = _mm256_madd_epi16(
              _mm256_maddubs_epi16(_mm256_abs_epi8(xv), _mm256_sign_epi8(wg, xv)), ones16);
          a[t] = g == 0 ? p : _mm256_add_epi32(a[t], p);
        }
        /* keeps the sum a running register: GCC would otherwise compute
         * all 8 * T products first and add them as a tree (integer adds
         * reassociate), spilling most of them to the stack */
        __asm__("" : "+x"(a[t]));
#endif
      }
    }
    const __m256 dw = _mm256_load_ps((const float *)&pk[b].d);
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
#ifdef NB__VNNI256
      __m256i s = _mm256_add_epi32(a[t], a1[t]);
#else
      __m256i s = q4 ? _mm256_sub_epi32(_mm256_madd_epi16(a[t], ones16),
                                        _mm256_set1_epi32(xs[t][b].xa))
                     : a[t];
#endif
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
                               _mm256_mul_ps(dw, _mm256_set1_ps(xs[t][b].d)),
                               acc[t]);
    }
  }
  _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) _mm256_store_ps(acc_io + 8 * t, acc[t]);
}

#define Q4L_ONE(Q, T)                                                        \
  static void q4l_tile_##Q##_##T(int64_t nbk, const void *pk,                \
                                 const uint8_t *const *x,                    \
                                 const void *const *xs, float *acc) {        \
    q4l_tile(T, Q, nbk, pk, x, xs, acc);                                     \
  }
Q4L_ONE(0, 1) Q4L_ONE(0, 2) Q4L_ONE(0, 3) Q4L_ONE(0, 4)
Q4L_ONE(1, 1) Q4L_ONE(1, 2) Q4L_ONE(1, 3) Q4L_ONE(1, 4)

#define Q4L_FAM(Q, PACK, PREP)                                               \
  static void PACK(const uint8_t *w, size_t ldw, int nr, int64_t nbk,        \
                   void *o, const uint8_t *pf) {                             \
    q4l_pack(Q, w, ldw, nr, nbk, o, pf);                                     \
  }                                                                          \
  static void PREP(const uint8_t *x, int64_t nbk, void *o) {                 \
    q4l_prep(Q, x, nbk, o);                                                  \
  }
Q4L_FAM(0, q4l_pack_q8, q4l_prep_q8)
Q4L_FAM(1, q4l_pack_q4, q4l_prep_q4)

/* The two families for lanes_walk.h: 8 rows per group, 4 groups per step
 * (32 rows), slabs of 64 blocks (18 KiB per group), 4 tokens per tile,
 * passes of 64 tokens whose input scalars are prepared once (passes get
 * shorter rather than preparing per slab), prefetch two steps ahead. */
NB__LW_CHECK(Q4L_G, Q4L_KS, sizeof(q4l_blk), Q4L_TB, 8, sizeof(q4l_x));
static const nb__lw q4l_fam[2] = {
    {8, Q4L_KS, Q4L_G, Q4L_T, Q4L_TB, 1, 2, sizeof(nb__block_q8_0),
     sizeof(nb__block_q8_0), sizeof(q4l_blk), sizeof(q4l_x), q4l_pack_q8,
     q4l_prep_q8, {0, q4l_tile_0_1, q4l_tile_0_2, q4l_tile_0_3, q4l_tile_0_4}, 0, {0}},
    {8, Q4L_KS, Q4L_G, Q4L_T, Q4L_TB, 1, 2, sizeof(nb__block_q4_0),
     sizeof(nb__block_q8_0), sizeof(q4l_blk), sizeof(q4l_x), q4l_pack_q4,
     q4l_prep_q4, {0, q4l_tile_1_1, q4l_tile_1_2, q4l_tile_1_3, q4l_tile_1_4}, 0, {0}},
};
