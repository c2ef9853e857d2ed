/*
 * kernels.h: the compute kernels the executor calls, as one table per
 * instruction set. The scalar table is the oracle; an ISA table starts as a
 * copy of it and overrides the entries it speeds up, so every entry is always
 * callable. Tables live in the context (no globals); they are picked once at
 * start-up from the CPU's features or NB_KERNELS.
 */
#ifndef NB_KERNELS_H
#define NB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "fp16.h"
#include "nibble.h"
#include "types.h"

/* Formats a matmul input (activation) row can take. The executor converts
 * its activation to the format the weight's kernel wants (nb__xfmt_for). */
typedef enum nb__xfmt {
  NB__X_F32 = 0,  /* float */
  NB__X_F16 = 1,  /* nb_f16 */
  NB__X_Q8 = 2,   /* nb__block_q8_0 per 32 elements (ggml's quantize_row_q8_0
                     rounding) */
  NB__X_QH = 3,   /* an F16 row already in a set's 16-bit fixed point: per 32
                     elements NB__QH_BLOCK bytes (32 int16, then a float
                     scale) made by the set's prep_qh; only sets with a
                     prep_qh have gemm entries for it */
  NB__X_COUNT
} nb__xfmt;

/* Bytes of one NB__X_QH block (32 elements). */
#define NB__QH_BLOCK 68

/* Bytes of one activation row of k elements in format f. */
size_t nb__xfmt_row_bytes(nb__xfmt f, int64_t k);
/* Which input format a weight type uses under an activation mode:
 * F32 act -> F32; F16 act -> F16; Q8 act -> Q8 for Q8_0/Q4_0 weights and F16
 * for float weights. */
nb__xfmt nb__xfmt_for(uint32_t wtype, nb_act act);

/*
 * gemm: y[t*ldy + r] = sum_{i<k} W[r][i] * X[t][i]
 *   for rows r in [r0, r1) and tokens t in [0, nt).
 *   W: weight rows of k elements of the weight type, row r at w + r*ldw bytes.
 *   X: nt activation rows in the kernel's xfmt, row t at x + t*ldx bytes.
 *   y: floats, ldy floats between tokens.
 * k is a multiple of the weight's block size (and of 32 for NB__X_Q8).
 * Contract for determinism: the value of y[t][r] depends only on row r of W
 * and row t of X, never on r0/r1/nt or on which neighbouring rows/tokens are
 * processed in the same tile (so any split across threads, and batch versus
 * one-token evaluation, give bit-identical results).
 */
typedef void (*nb__gemm_fn)(int64_t k, const void *w, size_t ldw,
                            const void *x, size_t ldx, float *y, int64_t ldy,
                            int64_t r0, int64_t r1, int64_t nt);

/*
 * gemm_nn: y[i*ldy + j] = sum_{d<k} x[i*ldx + d] * B[d][j]
 *   for i in [0, m) and j in [0, n).
 *   x: m float rows of k; B: k rows of n elements of the table entry's type
 *   (F32 or F16), row d at b + d*ldb bytes; y: floats, ldy between rows.
 * Every y[i][j] is one float accumulated in d order without fusing:
 *   s = 0; for d = 0..k-1: s = s + x[i][d] * B[d][j]  (product rounded,
 *   then the sum), so every kernel set gives the same bits as the scalar
 *   one, whatever m, n or the tiling. Used for attention scores (B = the
 *   keys, stored transposed: one row per key element, positions along it):
 *   with the positions in the vector lanes nothing needs a horizontal sum,
 *   and the order is llama2.c run.c's (score += q[i] * k[i]).
 */
typedef void (*nb__gemm_nn_fn)(int64_t m, int64_t n, int64_t k,
                               const float *x, size_t ldx, const void *b,
                               size_t ldb, float *y, size_t ldy);

typedef struct nb__kernels {
  const char *name; /* "scalar", "avx2", "avx512", "neon" */
  /* [weight type][input format]; NULL where the pair is not supported */
  nb__gemm_fn gemm[NB_TYPE_COUNT][NB__X_COUNT];
  /* [B type]: F32 and F16 only (NULL elsewhere) */
  nb__gemm_nn_fn gemm_nn[NB_TYPE_COUNT];
  /* softmax in place, n >= 1 finite values (attention scores):
   *   x[j] = x[j] / scale; m = max_j x[j]; e_j = exp(x[j] - m);
   *   x[j] = e_j / sum_j e_j  (IEEE divisions).
   * The scalar set is run.c's loop (libm expf, the sum in j order), so
   * --act f32 on the scalar set still gives run.c's logits bit for bit.
   * The SIMD sets use nb__exp_le0 (expf_poly.h, within 1 ulp, vectorized
   * step for step) and add the e_j in 8 lanes (lane l: j = l mod 8, j
   * increasing) combined by nb__sum8_tree: the same bits in every SIMD
   * set, within a few ulp of the scalar set (test_kernels states it). */
  void (*softmax)(float *x, int64_t n, float scale);
  /* An F16 row of k (a multiple of 32) elements to NB__X_QH at o: what the
   * set's Q8_0 / Q4_0 x F16 gemm does to its input first, done once so
   * that the gemm[..][NB__X_QH] entries, given the result, skip it and
   * give the same bits as gemm[..][NB__X_F16] on the row. Why: a batch
   * calls several gemms on one input (q, k, v; gate and up in tiles) from
   * every thread, and each converted the whole input again (4% of
   * TinyLlama f16 prefill). NULL (and no NB__X_QH entries) in sets
   * without a fixed-point F16 path. */
  void (*prep_qh)(const void *x, void *o, int64_t k);
  /* SwiGLU in place: g[j] = silu(g[j]) * u[j], silu(v) = v * sigmoid(v).
   * Scalar: run.c's v * (1 / (1 + expf(-v))) * u. SIMD sets: with
   * e = nb__exp_le0(-|v|), sigmoid = 1 / (1 + e) for v >= 0 and
   * e / (1 + e) below, then (v * sigmoid) * u: the same bits in every
   * SIMD set, within a few ulp of the scalar set (test_kernels). */
  void (*swiglu)(float *g, const float *u, int64_t n);
  /* activation conversions, n any length (q8: multiple of 32) */
  void (*f32_to_f16)(const float *src, nb_f16 *dst, int64_t n);
  void (*f16_to_f32)(const nb_f16 *src, float *dst, int64_t n);
  void (*quantize_q8)(const float *src, void *dst, int64_t n);
} nb__kernels;

/* Fills `k` with the named set ("scalar", "avx2", "avxvnni", "avx512",
 * "neon"; NULL or "auto" for the best this CPU runs). NB_EUNSUPPORTED if the set is not
 * compiled in or the CPU lacks its features. */
int nb__kernels_init(nb__kernels *k, const char *name, nb_err *err);

/* Per-ISA fillers: each starts from the scalar table already in `k`. */
void nb__kernels_fill_scalar(nb__kernels *k);
void nb__kernels_fill_avx2(nb__kernels *k);
void nb__kernels_fill_avxvnni(nb__kernels *k);
void nb__kernels_fill_avxvnni_emu(nb__kernels *k); /* test_kernels only */
void nb__kernels_fill_avx512(nb__kernels *k);
/* avx512.c compiled on SIMDe for machines without AVX-512 (avx512_emu.h):
 * linked into test_kernels only, never into the library. */
void nb__kernels_fill_avx512_emu(nb__kernels *k);
void nb__kernels_fill_neon(nb__kernels *k);

#endif /* NB_KERNELS_H */
