/*
 * tile.h: the ISA-independent half of the SIMD gemm kernels: instantiating a
 * register tile for every (rows, tokens) shape and the loop that walks the
 * output with those tiles. Included by avx2.c, avx512.c and neon.c.
 *
 * A tile family is an always-inline function
 *   FAM(R, T, k, w, ldw, x, ldx, y, ldy)
 * computing y[t*ldy + r] for r < R rows (row r at w + r*ldw bytes) and t < T
 * tokens (token t at x + t*ldx bytes). R and T are compile-time constants in
 * each instantiation, so the accumulator arrays live in registers.
 *
 * Determinism (kernels.h): every family computes each (r, t) output with its
 * own accumulator(s) and the same instruction sequence whatever R and T are,
 * so how rows and tokens are grouped into tiles never changes a result.
 */
#ifndef NB_TILE_H
#define NB_TILE_H

#include <stddef.h>
#include <stdint.h>

#include "nibble.h"

#define NB__TMAX_R 4
#define NB__TMAX_T 4

#define NB__ALWAYS_INLINE static inline __attribute__((always_inline))

/* Unrolls a register tile's loop (GCC unroll pragma). The SIMDe-emulated
 * AVX-512 build (tests only, avx512_emu.h) leaves the loops rolled: GCC
 * spends many minutes optimising fully unrolled emulated intrinsics, and
 * that build's speed does not matter. */
#define NB__STR_(x) #x
#ifdef NB__AVX512_EMU
#define NB__UNROLL(n)
#else
#define NB__UNROLL(n) _Pragma(NB__STR_(GCC unroll n))
#endif

/* Software prefetch of the weights a tile will read NB__PF_TILES tiles
 * later. Why: a matvec (decode) reads every weight once from memory, and with
 * the work between two tiles the hardware prefetcher alone left the core
 * waiting on memory (Zen 3, TinyLlama Q4_0 decode with 2 threads went from
 * 10.2 to 23 t/s with this hint). A tile of R rows x one block step reads
 * span = R * block bytes of a contiguous region (the rows of a weight matrix
 * are adjacent); nb__pf_span(p, span) touches every 64-byte line of the
 * region ahead exactly when the tile has moved one step, so the whole next
 * region is requested. A prefetch never faults: addresses past the matrix
 * or the mapping are harmless hints.
 * The hint is prefetcht1 (locality 2: into L2, not L1). The AVX-512 decode
 * tile reads 16 rows at once, so two tiles ahead is ~36 KiB of Q4_0 at
 * k = 2048: prefetched into a 48 KiB L1 it was evicted before use. Measured
 * on an AVX-512 Xeon (2 vCPU, TinyLlama decode, 2 threads): Q4_0 x F16
 * 28.3 -> 35.9 t/s on avx2, Q4_0 x Q8 27.1 -> 40.3 t/s on avx512, F16
 * 10.7 -> 15.5 t/s on avx2; nothing got slower. */
#define NB__PF_TILES 2
NB__ALWAYS_INLINE void nb__pf_span(const uint8_t *p, size_t n) {
  for (size_t o = 0; o < n; o += 64) __builtin_prefetch(p + o, 0, 2);
}

typedef void (*nb__tile_fn)(int64_t k, const uint8_t *w, size_t ldw,
                            const uint8_t *x, size_t ldx, float *y,
                            int64_t ldy);

#define NB__TILE_ONE(FAM, R, T)                                              \
  static void FAM##_##R##_##T(int64_t k, const uint8_t *w, size_t ldw,      \
                              const uint8_t *x, size_t ldx, float *y,       \
                              int64_t ldy) {                                 \
    FAM(R, T, k, w, ldw, x, ldx, y, ldy);                                    \
  }
#define NB__TILE_ROW(FAM, R)                                                 \
  NB__TILE_ONE(FAM, R, 1)                                                    \
  NB__TILE_ONE(FAM, R, 2)                                                    \
  NB__TILE_ONE(FAM, R, 3) NB__TILE_ONE(FAM, R, 4)
/* Instantiates FAM for R, T in 1..4 and a table FAM##_tiles[R][T]. */
#define NB__TILES(FAM)                                                       \
  NB__TILE_ROW(FAM, 1)                                                       \
  NB__TILE_ROW(FAM, 2)                                                       \
  NB__TILE_ROW(FAM, 3)                                                       \
  NB__TILE_ROW(FAM, 4)                                                       \
  static const nb__tile_fn FAM##_tiles[NB__TMAX_R + 1][NB__TMAX_T + 1] = {  \
      {0, 0, 0, 0, 0},                                                       \
      {0, FAM##_1_1, FAM##_1_2, FAM##_1_3, FAM##_1_4},                       \
      {0, FAM##_2_1, FAM##_2_2, FAM##_2_3, FAM##_2_4},                       \
      {0, FAM##_3_1, FAM##_3_2, FAM##_3_3, FAM##_3_4},                       \
      {0, FAM##_4_1, FAM##_4_2, FAM##_4_3, FAM##_4_4},                       \
  };

/* Rows per cache chunk of a batch walk: about 128 KiB of weights (at most
 * `cap` rows), a multiple of the row tile rt and at least rt. Shared by
 * every walk so they block the weights the same way. */
static inline int64_t nb__row_chunk(size_t row_bytes, int rt, int64_t cap) {
  int64_t rc = row_bytes ? (int64_t)((128 * 1024) / row_bytes) : 0;
  rc = rc > cap ? cap : rc;
  return rc < rt ? rt : rc - rc % rt;
}

/* Walks rows [r0, r1) x tokens [0, nt) with tiles of up to rt x tt (one
 * token: up to 4 rows). Rows are taken in chunks of about `chunk_bytes` of
 * weights so that, in a batch, a chunk stays in cache while every token
 * group passes over it: weights come from memory once per call. */
static inline void nb__tile_walk(const nb__tile_fn tiles[][NB__TMAX_T + 1],
                                 int rt, int tt, size_t row_bytes,
                                 int64_t k, const void *w, size_t ldw,
                                 const void *x, size_t ldx, float *y,
                                 int64_t ldy, int64_t r0, int64_t r1,
                                 int64_t nt) {
  const uint8_t *wb = w;
  const uint8_t *xb = x;
  if (nt == 1) {
    rt = NB__TMAX_R;
    tt = 1;
  }
  const int64_t rc = nb__row_chunk(row_bytes, rt, INT64_MAX);
  for (int64_t c0 = r0; c0 < r1; c0 += rc) {
    int64_t c1 = c0 + rc < r1 ? c0 + rc : r1;
    for (int64_t t0 = 0; t0 < nt; t0 += tt) {
      int nt_tile = nt - t0 < tt ? (int)(nt - t0) : tt;
      for (int64_t r = c0; r < c1; r += rt) {
        int nr = c1 - r < rt ? (int)(c1 - r) : rt;
        tiles[nr][nt_tile](k, wb + (size_t)r * ldw, ldw,
                           xb + (size_t)t0 * ldx, ldx, y + t0 * ldy + r,
                           ldy);
      }
    }
  }
}

/* One gemm entry (the nb__gemm_fn of kernels.h) over a family's tile table:
 * batch tiles of RT rows x TT tokens of a WTYPE weight. Every ISA file
 * declares its entries with this one macro. */
#define NB__GEMM(NAME, FAM, WTYPE, RT, TT)                                   \
  static void NAME(int64_t k, const void *w, size_t ldw, const void *x,      \
                   size_t ldx, float *y, int64_t ldy, int64_t r0,            \
                   int64_t r1, int64_t nt) {                                 \
    nb__tile_walk(FAM##_tiles, RT, TT, nb_type_row_bytes(WTYPE, k), k, w,   \
                  ldw, x, ldx, y, ldy, r0, r1, nt);                          \
  }

/* The F16-weight x F16-input gemm entry of an x86 ISA file. A batch
 * converts each token tile's input rows to f32 once per chunk of rows
 * (CONV: the file's f16_to_f32, into one nb_malloc'd (NB__TMAX_T, k)
 * buffer) and runs the F32-input tiles (F32_TILES, RT32 rows x NB__TMAX_T
 * tokens) over the chunk; the F16-input tiles convert their input again
 * for every row tile (on AVX-512 8 of their 32 vector uops per 16 k).
 * Chunks of NB__F16_CHUNK bytes of weights stay in L2 while every token
 * tile passes: 128 KiB gave +5%, 256 KiB +12%, 512 KiB +28%, 1 MiB the
 * same, 2 MiB less (TinyLlama F16 pp512 on AVX-512, 92 -> 118 t/s). One
 * token, or a failed allocation, walks the F16-input tiles (F16_TILES,
 * RT16 x TT16). fp16 -> f32 is exact and both tiles run the same FMA
 * sequence per (row, token), so the results are the same bits. */
#define NB__F16_CHUNK (512 * 1024)
#define NB__GEMM_F16(NAME, F16_TILES, RT16, TT16, F32_TILES, RT32, CONV)       \
  static void NAME(int64_t k, const void *w, size_t ldw, const void *x,        \
                   size_t ldx, float *y, int64_t ldy, int64_t r0, int64_t r1,  \
                   int64_t nt) {                                               \
    const size_t rb_ = nb_type_row_bytes(NB_TYPE_F16, k);                      \
    float *xf_ = nt > 1 ? nb_malloc((size_t)NB__TMAX_T * (size_t)k *           \
                                    sizeof(float))                             \
                        : NULL;                                                \
    if (xf_ == NULL) {                                                         \
      nb__tile_walk(F16_TILES, RT16, TT16, rb_, k, w, ldw, x, ldx, y, ldy, r0, \
                    r1, nt);                                                   \
      return;                                                                  \
    }                                                                          \
    const uint8_t *wb_ = w, *xb_ = x;                                          \
    int64_t rc_ = rb_ ? (int64_t)(NB__F16_CHUNK / rb_) : 0;                    \
    rc_ = rc_ < (RT32) ? (RT32) : rc_ - rc_ % (RT32);                          \
    for (int64_t c0_ = r0; c0_ < r1; c0_ += rc_) {                             \
      const int64_t c1_ = c0_ + rc_ < r1 ? c0_ + rc_ : r1;                     \
      for (int64_t t0_ = 0; t0_ < nt; t0_ += NB__TMAX_T) {                     \
        const int n_ = nt - t0_ < NB__TMAX_T ? (int)(nt - t0_) : NB__TMAX_T;   \
        for (int t_ = 0; t_ < n_; t_++)                                        \
          CONV((const nb_f16 *)(const void *)(xb_ + (size_t)(t0_ + t_) * ldx), \
               xf_ + (size_t)t_ * (size_t)k, k);                               \
        for (int64_t r_ = c0_; r_ < c1_; r_ += (RT32)) {                       \
          const int nr_ = c1_ - r_ < (RT32) ? (int)(c1_ - r_) : (RT32);        \
          F32_TILES[nr_][n_](k, wb_ + (size_t)r_ * ldw, ldw,                   \
                             (const uint8_t *)xf_, (size_t)k * sizeof(float),  \
                             y + t0_ * ldy + r_, ldy);                         \
        }                                                                      \
      }                                                                        \
    }                                                                          \
    nb_free(xf_);                                                              \
  }

/* gemm_nn (kernels.h) helpers shared by every ISA file. Runs BODY for each group of R <= 4 rows of x (xi) and y (yi), with R a
 * compile-time constant in each expansion so the tiles unroll. */
#define NB__NN_ROWS(m, x, ldx, y, ldy, BODY)                                 \
  for (int64_t i_ = 0; i_ < (m); i_ += 4) {                                  \
    const float *xi = (x) + (size_t)i_ * (ldx);                              \
    float *yi = (y) + (size_t)i_ * (ldy);                                    \
    switch ((m) - i_ < 4 ? (m) - i_ : 4) {                                   \
      case 1: { const int R = 1; BODY } break;                               \
      case 2: { const int R = 2; BODY } break;                               \
      case 3: { const int R = 3; BODY } break;                               \
      default: { const int R = 4; BODY } break;                              \
    }                                                                        \
  }

/* The two table entries of an ISA's gemm_nn, from its
 * nn_gemm(f16, m, n, k, x, ldx, b, ldb, y, ldy). */
#define NB__GEMM_NN_ENTRIES(NN)                                              \
  static void gemm_nn_f32(int64_t m, int64_t n, int64_t k, const float *x,   \
                          size_t ldx, const void *b, size_t ldb, float *y,   \
                          size_t ldy) {                                      \
    NN(0, m, n, k, x, ldx, b, ldb, y, ldy);                                  \
  }                                                                          \
  static void gemm_nn_f16(int64_t m, int64_t n, int64_t k, const float *x,   \
                          size_t ldx, const void *b, size_t ldb, float *y,   \
                          size_t ldy) {                                      \
    NN(1, m, n, k, x, ldx, b, ldb, y, ldy);                                  \
  }

#endif /* NB_TILE_H */
