/*
 * qqlanes_avx512.h: Q4_0 / Q8_0 weights x Q8 input on AVX-512 VNNI with
 * 16 weight rows in the 16 int32 lanes of a vector. Included once, by
 * avx512.c (native and SIMDe-emulated builds).
 *
 * Why: the row-per-vector kernel this replaces spent, per (row, token,
 * block pair), a vpdpbusd, a conversion, a multiply and an FMA plus the
 * weight unpacking (shared by 4 tokens) and the input bias (shared by 4
 * rows): about 4 instructions per (row, token, block). With 16 rows
 * interleaved (4 bytes of each row per lane, qqlanes_avx2.h's layout at
 * twice the width), one vpdpbusd serves 16 rows x 4 k straight from the
 * unsigned weights and a broadcast input dword (embedded {1to16}), and the
 * per-block bias, conversion, scale and FMA are paid once per 16 rows:
 * about 12 instructions per (16 rows, token, block), 0.75 per row.
 *
 * Unsigned weights for vpdpbusd (u8 x s8): Q4_0 q in [0, 15] with the
 * block's sum (q - 8) x = sum q x - 8 sum x; Q8_0 w + 128 with
 * sum w x = sum (w + 128) x - 128 sum x, exact for every int8 pair. The
 * int32 sums are exact (|sum| <= 32 * 255 * 128), so the bias can start
 * the chain.
 *
 * Per (row r, token t, block b), in both walks:
 *   s = exact int32 block sum  (bias - 8 or -128 sum x included)
 *   acc = fma((float)s, d_w * d_x, acc)  (one float per row, blocks in order)
 * and y = acc. The one-token walk (decode) computes each row's block sums
 * without packing (one vpdpbusd per row and block pair, then a transpose
 * and add tree that leaves 16 rows' sums in the lanes) and then runs the
 * same float sequence, so batch prefill and decode give identical logits.
 */

#include "lanes_walk.h"

#define Q16_KS 32   /* blocks of a k-slab packed at once (16 rows: 18 KiB) */
#define Q16_G 4     /* row groups of 16 packed per slab (64 rows) */
#define Q16_T 8     /* tokens per tile: 8 independent vpdpbusd chains */
#define Q16_TB 128  /* tokens per pass, at most */
#define Q16_1KB 512 /* one token: blocks of input scalars prepared at once */

typedef struct q16_blk { /* one block of 16 rows, interleaved */
  __m512i g[8]; /* (8 k-groups) x (16 rows x 4 bytes): Q4_0 q, Q8_0 w + 128 */
  __m512 d;     /* the 16 rows' d_w */
} q16_blk;

typedef struct q16_x { /* a token's input scalars of one block */
  int32_t xa; /* the chain's start: -8 sum x (Q4_0) or -128 sum x (Q8_0) */
  float d;    /* d_x */
} q16_x;

/* The fp16 scales of block offset off of 16 rows p[0..15] as 16 floats:
 * packed 4 per general register (scalar loads, off the vector ports). */
static inline __m512 q16_scales(const uint8_t *const *p, size_t off) {
  uint64_t q[4];
  for (int i = 0; i < 4; i++) {
    uint64_t v = 0;
    for (int j = 0; j < 4; j++) {
      uint16_t h;
      memcpy(&h, p[4 * i + j] + off, 2);
      v |= (uint64_t)h << (16 * j);
    }
    q[i] = v;
  }
  return _mm512_cvtph_ps(_mm256_set_epi64x((long long)q[3], (long long)q[2],
                                           (long long)q[1], (long long)q[0]));
}

/* The same 16 scales by one gather (the one-token kernels): row r's scale
 * at base + idx[r] + off, idx from q16_ridx. The 4 bytes read are the
 * scale and the first 2 quant bytes of the block: never past the block.
 * Why: in decode the 16 scalar loads, shifts and ors per block took about
 * a quarter of the Q8 input kernel in cache; the gather measured +10% in
 * cache and +4-8% on Q8_0 from memory (Q4_0 unchanged from memory). */
static inline __m512 q16_scales_g(const uint8_t *base, __m512i idx, size_t off) {
  const __m512i g = _mm512_i32gather_epi32(idx, (const void *)(base + off), 1);
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
}

/* Byte offsets of 16 rows ldw apart, missing rows (r >= nr) repeating the
 * last. Needs 15 * ldw <= INT32_MAX (Q16_LDW_MAX: the callers check). */
#define Q16_LDW_MAX ((size_t)INT32_MAX / 16)
static inline __m512i q16_ridx(int nr, size_t ldw) {
  const __m512i r = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  return _mm512_mullo_epi32(_mm512_min_epi32(r, _mm512_set1_epi32(nr - 1)),
                            _mm512_set1_epi32((int)ldw));
}

/* Blocks [0, nbk) of rows w + i * ldw (i < nr; missing rows repeat the
 * last) into o, prefetching pf (nb__lw_pack_fn). Per block and 16-byte
 * half h: vector j holds rows j, 4 + j, 8 + j, 12 + j in its four 128-bit
 * lanes; a 4 x 4 dword transpose per lane gives dword m of rows 0..15 in
 * lane order. */
NB__ALWAYS_INLINE void q16_pack(int q4, const uint8_t *w, size_t ldw, int nr,
                                int64_t nbk, void *ov, const uint8_t *pf) {
  q16_blk *o = ov;
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  const uint8_t *p[16];
  for (int i = 0; i < 16; i++) p[i] = w + (size_t)(i < nr ? i : nr - 1) * ldw;
  const __m512i m = _mm512_set1_epi8(0x0f), flip = _mm512_set1_epi8((char)0x80);
  for (int64_t b = 0; b < nbk; b++) {
    const size_t off = (size_t)b * bs;
    nb__pf_span(pf + 16 * off, 16 * bs);
    q16_blk *ob = &o[b];
    for (int h = 0; h < (q4 ? 1 : 2); h++) {
      __m512i v[4];
      for (int j = 0; j < 4; j++) {
        const size_t o2 = off + 2 + 16 * (size_t)h;
        __m512i t = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[j] + o2)));
        t = _mm512_inserti32x4(t, _mm_loadu_si128((const __m128i *)(p[4 + j] + o2)), 1);
        t = _mm512_inserti32x4(t, _mm_loadu_si128((const __m128i *)(p[8 + j] + o2)), 2);
        v[j] = _mm512_inserti32x4(t, _mm_loadu_si128((const __m128i *)(p[12 + j] + o2)), 3);
      }
      __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]), t1 = _mm512_unpackhi_epi32(v[0], v[1]);
      __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]), t3 = _mm512_unpackhi_epi32(v[2], v[3]);
      __m512i g[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2),
                      _mm512_unpacklo_epi64(t1, t3), _mm512_unpackhi_epi64(t1, t3)};
      for (int j = 0; j < 4; j++) {
        if (q4) {
          _mm512_store_si512(&ob->g[j], _mm512_and_si512(g[j], m));
          _mm512_store_si512(&ob->g[j + 4], _mm512_and_si512(_mm512_srli_epi16(g[j], 4), m));
        } else {
          _mm512_store_si512(&ob->g[4 * h + j], _mm512_xor_si512(g[j], flip));
        }
      }
    }
    _mm512_store_ps((float *)&ob->d, q16_scales(p, off));
  }
}

/* A token's input scalars of blocks [0, nbk) (nb__lw_prep_fn). */
NB__ALWAYS_INLINE void q16_prep(int q4, const uint8_t *x, int64_t nbk,
                                void *ov) {
  q16_x *o = ov;
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  for (int64_t b = 0; b < nbk; b++) {
    const uint8_t *blk = x + (size_t)b * sizeof(nb__block_q8_0);
    /* sum x = sum (x + 128) - 32 * 128: one vpsadbw gives the unsigned
     * sums of the four 8-byte groups */
    const __m256i u = _mm256_sad_epu8(
        _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), flip),
        _mm256_setzero_si256());
    const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
    const int s = (int)_mm_cvtsi128_si64(_mm_add_epi64(h, _mm_unpackhi_epi64(h, h))) - 32 * 128;
    o[b].xa = -s * (q4 ? 8 : 128);
    o[b].d = ld_scale(blk);
  }
}

/* T tokens x one packed group of 16 rows over nbk blocks
 * (nb__lw_tile_fn). */
NB__ALWAYS_INLINE void q16_tile(int T, int64_t nbk, const void *pkv,
                                const uint8_t *const *x, const void *const *xsv,
                                float *acc_io) {
  const q16_blk *pk = pkv;
  const q16_x *xs[Q16_T];
  __m512 acc[Q16_T];
  NB__UNROLL(8) for (int t = 0; t < T; t++) {
    xs[t] = xsv[t];
    acc[t] = _mm512_load_ps(acc_io + 16 * t);
  }
  for (int64_t b = 0; b < nbk; b++) {
    __m512i a[Q16_T];
    NB__UNROLL(8) for (int t = 0; t < T; t++) a[t] = _mm512_set1_epi32(xs[t][b].xa);
    NB__UNROLL(8) for (int g = 0; g < 8; g++) {
      const __m512i wg = _mm512_load_si512(&pk[b].g[g]);
      NB__UNROLL(8) for (int t = 0; t < T; t++) {
        int32_t xg;
        memcpy(&xg, x[t] + (size_t)b * sizeof(nb__block_q8_0) + 2 + 4 * g, 4);
        /* one instruction per step, so GCC keeps the chains in
         * registers (the AVX2 tiles' add chains needed an asm barrier) */
        a[t] = _mm512_dpbusd_epi32(a[t], wg, _mm512_set1_epi32(xg));
      }
    }
    const __m512 dw = _mm512_load_ps((const float *)&pk[b].d);
    NB__UNROLL(8) for (int t = 0; t < T; t++)
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[t]),
                               _mm512_mul_ps(dw, _mm512_set1_ps(xs[t][b].d)), acc[t]);
  }
  NB__UNROLL(8) for (int t = 0; t < T; t++) _mm512_store_ps(acc_io + 16 * t, acc[t]);
}

/* An empty asm that makes GCC materialize v in a vector register (not
 * on SIMDe's emulation, where v is a struct). */
#ifdef NB__AVX512_EMU
#define Q16_IN_REG(v) ((void)0)
#else
#define Q16_IN_REG(v) __asm__("" : "+v"(v))
#endif

/* T tokens x the Q16_G groups of a step (nb__lw_tileg_fn): each input
 * dword is broadcast once into a register and serves the 4 groups' 64
 * rows; 4 x T independent chains. The same per-(row, token) sequence as
 * q16_tile, so the same bits. Kernel alone (in L1/L2): ~15% faster than
 * two q16_tile calls of 8 tokens per 4 groups x 8 tokens. */
NB__ALWAYS_INLINE void q16_tileg(int T, int64_t nbk, const void *pkv,
                                 size_t pks, const uint8_t *const *x,
                                 const void *const *xsv, float *acc_io,
                                 size_t accs) {
  const q16_blk *pk[Q16_G];
  const q16_x *xs[NB__LW_TTG];
  __m512 acc[Q16_G][NB__LW_TTG];
  NB__UNROLL(4) for (int h = 0; h < Q16_G; h++) {
    pk[h] = (const q16_blk *)((const unsigned char *)pkv + (size_t)h * pks);
    NB__UNROLL(4) for (int t = 0; t < T; t++)
      acc[h][t] = _mm512_load_ps(acc_io + (size_t)h * accs + 16 * t);
  }
  NB__UNROLL(4) for (int t = 0; t < T; t++) xs[t] = xsv[t];
  for (int64_t b = 0; b < nbk; b++) {
    __m512i a[Q16_G][NB__LW_TTG];
    NB__UNROLL(4) for (int t = 0; t < T; t++) {
      const __m512i s = _mm512_set1_epi32(xs[t][b].xa);
      NB__UNROLL(4) for (int h = 0; h < Q16_G; h++) a[h][t] = s;
    }
    NB__UNROLL(8) for (int g = 0; g < 8; g++) {
      __m512i wg[Q16_G];
      NB__UNROLL(4) for (int h = 0; h < Q16_G; h++) wg[h] = _mm512_load_si512(&pk[h][b].g[g]);
      NB__UNROLL(4) for (int t = 0; t < T; t++) {
        int32_t xg;
        memcpy(&xg, x[t] + (size_t)b * sizeof(nb__block_q8_0) + 2 + 4 * g, 4);
        __m512i xb = _mm512_set1_epi32(xg);
        /* keep the broadcast in a register: folded back into each
         * vpdpbusd as a {1to16} memory operand it costs the throughput
         * this tile is for */
        Q16_IN_REG(xb);
        NB__UNROLL(4) for (int h = 0; h < Q16_G; h++)
          a[h][t] = _mm512_dpbusd_epi32(a[h][t], wg[h], xb);
      }
    }
    NB__UNROLL(4) for (int h = 0; h < Q16_G; h++) {
      const __m512 dw = _mm512_load_ps((const float *)&pk[h][b].d);
      NB__UNROLL(4) for (int t = 0; t < T; t++)
        acc[h][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[h][t]),
                                    _mm512_mul_ps(dw, _mm512_set1_ps(xs[t][b].d)), acc[h][t]);
    }
  }
  NB__UNROLL(4) for (int h = 0; h < Q16_G; h++)
    NB__UNROLL(4) for (int t = 0; t < T; t++)
      _mm512_store_ps(acc_io + (size_t)h * accs + 16 * t, acc[h][t]);
}

#define Q16_GONE(T)                                                          \
  static void q16_tileg_##T(int64_t nbk, const void *pk, size_t pks,         \
                            const uint8_t *const *x, const void *const *xs,  \
                            float *acc, size_t accs) {                       \
    q16_tileg(T, nbk, pk, pks, x, xs, acc, accs);                            \
  }
Q16_GONE(1) Q16_GONE(2) Q16_GONE(3) Q16_GONE(4)

#define Q16_ONE(Q, T)                                                        \
  static void q16_tile_##Q##_##T(int64_t nbk, const void *pk,                \
                                 const uint8_t *const *x,                    \
                                 const void *const *xs, float *acc) {        \
    q16_tile(T, nbk, pk, x, xs, acc);                                        \
  }
Q16_ONE(0, 1) Q16_ONE(0, 2) Q16_ONE(0, 3) Q16_ONE(0, 4)
Q16_ONE(0, 5) Q16_ONE(0, 6) Q16_ONE(0, 7) Q16_ONE(0, 8)

#define Q16_FAM(Q, PACK, PREP)                                               \
  static void PACK(const uint8_t *w, size_t ldw, int nr, int64_t nbk,        \
                   void *o, const uint8_t *pf) {                             \
    q16_pack(Q, w, ldw, nr, nbk, o, pf);                                     \
  }                                                                          \
  static void PREP(const uint8_t *x, int64_t nbk, void *o) {                 \
    q16_prep(Q, x, nbk, o);                                                  \
  }
Q16_FAM(0, q16_pack_q8, q16_prep_q8)
Q16_FAM(1, q16_pack_q4, q16_prep_q4)

/* The two families for lanes_walk.h: 16 rows per group, 4 groups per step
 * (64 rows), slabs of 32 blocks (18 KiB per group), 8 tokens per tile (4
 * per all-groups tile), passes of 128 tokens (at 64, packing took 9% of
 * prefill), prefetch two steps ahead. The tiles do not depend on the
 * weight type (the bias is in the prepared scalars). */
NB__LW_CHECK(Q16_G, Q16_KS, sizeof(q16_blk), Q16_TB, 16, sizeof(q16_x));
#define Q16_TILES                                                            \
  {0, q16_tile_0_1, q16_tile_0_2, q16_tile_0_3, q16_tile_0_4,                \
   q16_tile_0_5, q16_tile_0_6, q16_tile_0_7, q16_tile_0_8}
#define Q16_GTILES {0, q16_tileg_1, q16_tileg_2, q16_tileg_3, q16_tileg_4}
static const nb__lw q16_fam[2] = {
    {16, Q16_KS, Q16_G, Q16_T, Q16_TB, 1, 2, sizeof(nb__block_q8_0),
     sizeof(nb__block_q8_0), sizeof(q16_blk), sizeof(q16_x), q16_pack_q8,
     q16_prep_q8, Q16_TILES, 4, Q16_GTILES},
    {16, Q16_KS, Q16_G, Q16_T, Q16_TB, 1, 2, sizeof(nb__block_q4_0),
     sizeof(nb__block_q8_0), sizeof(q16_blk), sizeof(q16_x), q16_pack_q4,
     q16_prep_q4, Q16_TILES, 4, Q16_GTILES},
};

/* ------------------------------------------------ one token (decode) */

/* 64 unsigned weights of the block pair (b, b + 1) of one row (two = 0:
 * block b alone, the high half zero): Q4_0 q in [0, 15], element order
 * per block; Q8_0 w + 128. */
NB__ALWAYS_INLINE __m512i q16_wpair(int q4, int two, const uint8_t *blk) {
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  if (q4) {
    /* 128-bit lanes [qs_b, qs_b, qs_b+1, qs_b+1], odd lanes shifted by 4 */
    __m512i t = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(blk + 2)));
    t = _mm512_inserti64x4(
        t, two ? _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + bs + 2)))
               : _mm256_setzero_si256(), 1);
    t = _mm512_srlv_epi64(t, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    return _mm512_and_si512(t, _mm512_set1_epi8(0x0f));
  }
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  __m256i lo = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), flip);
  __m256i hi = two ? _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + bs + 2)), flip)
                   : _mm256_setzero_si256();
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* v[r] (r < 16): lanes 0-7 partial sums of block b, 8-15 of block b + 1,
 * of row r. Returns the 16 rows' sums of block b in *sb and of b + 1 in
 * *sb1 (lane r = row r): pairs of rows folded with unpack + add (32-bit,
 * then 64-bit), then 128-bit lanes regrouped with shuffles + add. */
NB__ALWAYS_INLINE void q16_fold(const __m512i v[16], __m512i *sb, __m512i *sb1) {
  __m512i a[8], c[4], d[2];
  NB__UNROLL(8) for (int i = 0; i < 8; i++)
    a[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                            _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  /* per 128-bit lane of c[q]: rows 4q .. 4q + 3 */
  NB__UNROLL(4) for (int q = 0; q < 4; q++)
    c[q] = _mm512_add_epi32(_mm512_unpacklo_epi64(a[2 * q], a[2 * q + 1]),
                            _mm512_unpackhi_epi64(a[2 * q], a[2 * q + 1]));
  /* d[i]: [rows 8i..8i+3 of b, of b+1, rows 8i+4..8i+7 of b, of b+1] */
  NB__UNROLL(2) for (int i = 0; i < 2; i++)
    d[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(c[2 * i], c[2 * i + 1], 0x88),
                            _mm512_shuffle_i32x4(c[2 * i], c[2 * i + 1], 0xdd));
  *sb = _mm512_shuffle_i32x4(d[0], d[1], 0x88);
  *sb1 = _mm512_shuffle_i32x4(d[0], d[1], 0xdd);
}

/* One block pair (two = 0: block b alone) of 16 rows p[] for one token. */
NB__ALWAYS_INLINE void q16_one_step(int q4, int two, int64_t b,
                                    const uint8_t *const *p, const uint8_t *x,
                                    const q16_x *xs, __m512i idx, __m512 *acc) {
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  const size_t xbs = sizeof(nb__block_q8_0);
  const uint8_t *xb = x + (size_t)b * xbs + 2;
  __m512i xv = _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)xb)),
      two ? _mm256_loadu_si256((const __m256i *)(xb + xbs)) : _mm256_setzero_si256(), 1);
  __m512i v[16];
  NB__UNROLL(16) for (int r = 0; r < 16; r++)
    v[r] = _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                               q16_wpair(q4, two, p[r] + (size_t)b * bs), xv);
  __m512i sb, sb1;
  q16_fold(v, &sb, &sb1);
  sb = _mm512_add_epi32(sb, _mm512_set1_epi32(xs[b].xa));
  *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sb),
                         _mm512_mul_ps(q16_scales_g(p[0], idx, (size_t)b * bs), _mm512_set1_ps(xs[b].d)),
                         *acc);
  if (two) {
    sb1 = _mm512_add_epi32(sb1, _mm512_set1_epi32(xs[b + 1].xa));
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sb1),
                           _mm512_mul_ps(q16_scales_g(p[0], idx, (size_t)(b + 1) * bs),
                                         _mm512_set1_ps(xs[b + 1].d)),
                           *acc);
  }
}

/* nr (<= 16) rows from w over nb blocks for one token: y[r] (r < nr).
 * Missing rows repeat the last one and are not stored. pf: the prefetch
 * span's start (the rows two tiles ahead, swept 16 blocks per block). */
NB__ALWAYS_INLINE void q16_one(int q4, int64_t nb, const uint8_t *w,
                               size_t ldw, int nr, const uint8_t *x,
                               const q16_x *xs, float *y, const uint8_t *pf) {
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  const uint8_t *p[16];
  for (int i = 0; i < 16; i++) p[i] = w + (size_t)(i < nr ? i : nr - 1) * ldw;
  __m512 acc = _mm512_setzero_ps(); /* (16) rows in lanes */
  const __m512i idx = q16_ridx(nr, ldw);
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    nb__pf_span(pf + (size_t)b * 16 * bs, 32 * bs);
    q16_one_step(q4, 1, b, p, x, xs, idx, &acc);
  }
  if (b < nb) q16_one_step(q4, 0, b, p, x, xs, idx, &acc);
  _Alignas(64) float o[16];
  _mm512_store_ps(o, acc);
  memcpy(y, o, (size_t)nr * sizeof(float));
}

static void q16_one_q8(int64_t nb, const uint8_t *w, size_t ldw, int nr,
                       const uint8_t *x, const q16_x *xs, float *y,
                       const uint8_t *pf) {
  q16_one(0, nb, w, ldw, nr, x, xs, y, pf);
}
static void q16_one_q4(int64_t nb, const uint8_t *w, size_t ldw, int nr,
                       const uint8_t *x, const q16_x *xs, float *y,
                       const uint8_t *pf) {
  q16_one(1, nb, w, ldw, nr, x, xs, y, pf);
}

/* The gemm: one token with k <= 32 * Q16_1KB (and rows under
 * Q16_LDW_MAX bytes) through the unpacked
 * one-token tile (rows in tiles of 16, each read front to back, the
 * prefetch covering the tile two ahead), everything else through the
 * lanes walk. */
static void walk_q16(int q4, int64_t k, const void *w, size_t ldw,
                     const void *x, size_t ldx, float *y, int64_t ldy,
                     int64_t r0, int64_t r1, int64_t nt) {
  const int64_t nb = k / 32;
  if (nt != 1 || nb > Q16_1KB || ldw > Q16_LDW_MAX) {
    nb__lw_walk(&q16_fam[q4], k, w, ldw, x, ldx, y, ldy, r0, r1, nt);
    return;
  }
  q16_x xs[Q16_1KB];
  q16_fam[q4].prep(x, nb, xs);
  const uint8_t *wb = w;
  for (int64_t r = r0; r < r1; r += 16) {
    const int nr = r1 - r < 16 ? (int)(r1 - r) : 16;
    const uint8_t *wr = wb + (size_t)r * ldw;
    (q4 ? q16_one_q4 : q16_one_q8)(nb, wr, ldw, nr, x, xs, y + r,
                                   wr + (size_t)NB__PF_TILES * 16 * ldw);
  }
}
