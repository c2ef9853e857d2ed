/*
 * scalar.c: the scalar kernel table, the oracle every ISA table is tested
 * against (and the kernels used where no ISA table applies).
 *
 * Accumulation order (fixed, so results are reproducible and any split of
 * rows/tokens across calls or threads is bit-identical, see kernels.h):
 *  - float weights (F32, F16, BF16) with float inputs (F32, F16): one float
 *    accumulator per output, `sum += w[i] * x[i]` for i = 0..k-1 in order,
 *    each operand converted to float first. For F32 x F32 this is exactly
 *    llama2.c run.c's matmul, so the f32 executor reproduces its tokens.
 *  - Q8_0 / Q4_0 weights with float inputs: per 32-block a float partial
 *    sum of q[j] * x[j] (j in element order; q is the integer level, q - 8
 *    for Q4_0), then `sum += partial * d_w` into the row total, block by
 *    block.
 *  - Q8_0 / Q4_0 weights with Q8 inputs: per block the exact int32 sum of
 *    the integer products, then `sum += (d_w * d_x) * (float)isum`, as
 *    ggml's vec_dot_q8_0_q8_0 / vec_dot_q4_0_q8_0 reference loops do.
 * No fused multiply-add is used (C11 mode keeps contraction off), so the
 * results do not depend on the compiler's choice of instructions.
 *
 * Weight rows point into the file mapping. Quantized blocks are read with
 * memcpy (a block's scale may sit at any even offset); float weight rows and
 * activation rows must be aligned to their element size (GGUF data is).
 */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "nb_internal.h"

/* ------------------------------------------------------- element readers */

static inline float ld_f16(const unsigned char *p, int64_t i) {
  nb_f16 h;
  memcpy(&h, p + 2 * i, 2);
  return nb__f16_to_f32(h);
}
static inline float ld_bf16(const unsigned char *p, int64_t i) {
  nb_bf16 h;
  memcpy(&h, p + 2 * i, 2);
  return nb__bf16_to_f32(h);
}
static inline float ld_f32(const unsigned char *p, int64_t i) {
  float f;
  memcpy(&f, p + 4 * i, 4);
  return f;
}
static inline float ld_scale(const unsigned char *blk) {
  nb_f16 d;
  memcpy(&d, blk, 2);
  return nb__f16_to_f32(d);
}

/* ----------------------------------------------------------- dot products */
/* Each returns the dot product of one weight row (k elements) with one
 * input row; w and x are byte pointers to the starts of the rows. */

/* float weights x float inputs: sequential float accumulation. */
#define NB__DOT_FLOAT(NAME, LDW, LDX)                                       \
  static float NAME(int64_t k, const unsigned char *w,                      \
                    const unsigned char *x) {                               \
    float sum = 0.0f;                                                        \
    for (int64_t i = 0; i < k; i++) sum += LDW(w, i) * LDX(x, i);           \
    return sum;                                                              \
  }

/* F32 x F32 keeps run.c's exact loop over typed pointers. */
static float dot_f32_f32(int64_t k, const unsigned char *w,
                         const unsigned char *x) {
  const float *wf = (const float *)(const void *)w; /* (k) */
  const float *xf = (const float *)(const void *)x; /* (k) */
  float sum = 0.0f;
  for (int64_t i = 0; i < k; i++) sum += wf[i] * xf[i];
  return sum;
}
NB__DOT_FLOAT(dot_f32_f16, ld_f32, ld_f16)
NB__DOT_FLOAT(dot_f16_f32, ld_f16, ld_f32)
NB__DOT_FLOAT(dot_f16_f16, ld_f16, ld_f16)
NB__DOT_FLOAT(dot_bf16_f32, ld_bf16, ld_f32)
NB__DOT_FLOAT(dot_bf16_f16, ld_bf16, ld_f16)

/* Quantized weights x float inputs: per-block partial, then scaled. */
#define NB__DOT_Q8_0(NAME, LDX)                                             \
  static float NAME(int64_t k, const unsigned char *w,                      \
                    const unsigned char *x) {                               \
    float sum = 0.0f;                                                        \
    for (int64_t b = 0; b < k / NB_QK8_0; b++) {                            \
      const unsigned char *blk = w + b * (int64_t)sizeof(nb__block_q8_0);   \
      const int8_t *qs = (const int8_t *)(const void *)(blk + 2);           \
      float part = 0.0f;                                                     \
      for (int j = 0; j < NB_QK8_0; j++)                                     \
        part += (float)qs[j] * LDX(x, b * NB_QK8_0 + j);                    \
      sum += part * ld_scale(blk);                                           \
    }                                                                        \
    return sum;                                                              \
  }
NB__DOT_Q8_0(dot_q8_0_f32, ld_f32)
NB__DOT_Q8_0(dot_q8_0_f16, ld_f16)

#define NB__DOT_Q4_0(NAME, LDX)                                             \
  static float NAME(int64_t k, const unsigned char *w,                      \
                    const unsigned char *x) {                               \
    float sum = 0.0f;                                                        \
    for (int64_t b = 0; b < k / NB_QK4_0; b++) {                            \
      const unsigned char *blk = w + b * (int64_t)sizeof(nb__block_q4_0);   \
      const unsigned char *qs = blk + 2;                                     \
      const int64_t base = b * NB_QK4_0;                                     \
      float part = 0.0f;                                                     \
      for (int j = 0; j < NB_QK4_0 / 2; j++)                                 \
        part += (float)((qs[j] & 0x0f) - 8) * LDX(x, base + j);             \
      for (int j = 0; j < NB_QK4_0 / 2; j++)                                 \
        part += (float)((qs[j] >> 4) - 8) * LDX(x, base + NB_QK4_0 / 2 + j); \
      sum += part * ld_scale(blk);                                           \
    }                                                                        \
    return sum;                                                              \
  }
NB__DOT_Q4_0(dot_q4_0_f32, ld_f32)
NB__DOT_Q4_0(dot_q4_0_f16, ld_f16)

/* Quantized weights x Q8 inputs: integer products per block. */
static float dot_q8_0_q8(int64_t k, const unsigned char *w,
                         const unsigned char *x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < k / NB_QK8_0; b++) {
    const unsigned char *bw = w + b * (int64_t)sizeof(nb__block_q8_0);
    const unsigned char *bx = x + b * (int64_t)sizeof(nb__block_q8_0);
    const int8_t *qw = (const int8_t *)(const void *)(bw + 2);
    const int8_t *qx = (const int8_t *)(const void *)(bx + 2);
    int32_t isum = 0;
    for (int j = 0; j < NB_QK8_0; j++) isum += (int32_t)qw[j] * qx[j];
    sum += (ld_scale(bw) * ld_scale(bx)) * (float)isum;
  }
  return sum;
}

static float dot_q4_0_q8(int64_t k, const unsigned char *w,
                         const unsigned char *x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < k / NB_QK4_0; b++) {
    const unsigned char *bw = w + b * (int64_t)sizeof(nb__block_q4_0);
    const unsigned char *bx = x + b * (int64_t)sizeof(nb__block_q8_0);
    const unsigned char *qw = bw + 2;
    const int8_t *qx = (const int8_t *)(const void *)(bx + 2);
    int32_t isum = 0;
    for (int j = 0; j < NB_QK4_0 / 2; j++) {
      isum += ((qw[j] & 0x0f) - 8) * (int32_t)qx[j];
      isum += ((qw[j] >> 4) - 8) * (int32_t)qx[j + NB_QK4_0 / 2];
    }
    sum += (ld_scale(bw) * ld_scale(bx)) * (float)isum;
  }
  return sum;
}

/* ------------------------------------------------------------------ gemm */

/* y[t*ldy + r] = dot(W row r, X row t) for r in [r0, r1), t in [0, nt).
 * Rows outer, tokens inner: a weight row is read once from memory and
 * reused across the tokens of the batch while it is in cache. */
#define NB__GEMM(NAME, DOT)                                                 \
  static void NAME(int64_t k, const void *w, size_t ldw, const void *x,     \
                   size_t ldx, float *y, int64_t ldy, int64_t r0,           \
                   int64_t r1, int64_t nt) {                                \
    const unsigned char *wb = w;                                             \
    const unsigned char *xb = x;                                             \
    for (int64_t r = r0; r < r1; r++) {                                      \
      const unsigned char *wr = wb + (size_t)r * ldw;                        \
      for (int64_t t = 0; t < nt; t++)                                       \
        y[t * ldy + r] = DOT(k, wr, xb + (size_t)t * ldx);                   \
    }                                                                        \
  }

NB__GEMM(gemm_f32_f32, dot_f32_f32)
NB__GEMM(gemm_f32_f16, dot_f32_f16)
NB__GEMM(gemm_f16_f32, dot_f16_f32)
NB__GEMM(gemm_f16_f16, dot_f16_f16)
NB__GEMM(gemm_bf16_f32, dot_bf16_f32)
NB__GEMM(gemm_bf16_f16, dot_bf16_f16)
NB__GEMM(gemm_q8_0_f32, dot_q8_0_f32)
NB__GEMM(gemm_q8_0_f16, dot_q8_0_f16)
NB__GEMM(gemm_q4_0_f32, dot_q4_0_f32)
NB__GEMM(gemm_q4_0_f16, dot_q4_0_f16)
NB__GEMM(gemm_q8_0_q8, dot_q8_0_q8)
NB__GEMM(gemm_q4_0_q8, dot_q4_0_q8)

/* ------------------------------------------------- activation conversions */

static void f32_to_f16(const float *src, nb_f16 *dst, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] = nb__f32_to_f16(src[i]);
}

static void f16_to_f32(const nb_f16 *src, float *dst, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] = nb__f16_to_f32(src[i]);
}

/* gemm_nn (kernels.h): row by row, y[i] built up over d so B is read
 * along its rows; each y[i][j] still sees s = s + x[i][d] * B[d][j] in d
 * order. */
#define NB__GEMM_NN(NAME, LD)                                                \
  static void NAME(int64_t m, int64_t n, int64_t k, const float *x,          \
                   size_t ldx, const void *b, size_t ldb, float *y,          \
                   size_t ldy) {                                             \
    for (int64_t i = 0; i < m; i++) {                                        \
      float *yi = y + (size_t)i * ldy;                                       \
      for (int64_t j = 0; j < n; j++) yi[j] = 0.0f;                          \
      for (int64_t d = 0; d < k; d++) {                                      \
        const float xd = x[(size_t)i * ldx + (size_t)d];                     \
        const unsigned char *bd = (const unsigned char *)b + (size_t)d * ldb; \
        for (int64_t j = 0; j < n; j++) yi[j] = yi[j] + xd * LD(bd, j);      \
      }                                                                      \
    }                                                                        \
  }
NB__GEMM_NN(gemm_nn_f32, ld_f32)
NB__GEMM_NN(gemm_nn_f16, ld_f16)

/* softmax (kernels.h): llama2.c run.c's loop, libm's expf. */
static void softmax(float *x, int64_t n, float scale) {
  for (int64_t j = 0; j < n; j++) x[j] = x[j] / scale;
  float mx = x[0];
  for (int64_t j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  float sum = 0.0f;
  for (int64_t j = 0; j < n; j++) {
    x[j] = expf(x[j] - mx);
    sum += x[j];
  }
  for (int64_t j = 0; j < n; j++) x[j] = x[j] / sum;
}

/* swiglu (kernels.h): run.c's expression. */
static void swiglu(float *g, const float *u, int64_t n) {
  for (int64_t j = 0; j < n; j++) {
    float v = g[j];
    v = v * (1.0f / (1.0f + expf(-v)));
    g[j] = v * u[j];
  }
}

/* Activation row -> Q8_0 blocks, with the weight quantizer's rounding
 * (ggml's quantize_row_q8_0_ref), n a multiple of 32. */
static void quantize_q8(const float *src, void *dst, int64_t n) {
  nb__type_traits_get(NB_TYPE_Q8_0)->from_float(src, dst, n);
}

/* ----------------------------------------------------------------- table */

void nb__kernels_fill_scalar(nb__kernels *k) {
  memset(k, 0, sizeof *k);
  k->name = "scalar";
  k->gemm[NB_TYPE_F32][NB__X_F32] = gemm_f32_f32;
  k->gemm[NB_TYPE_F32][NB__X_F16] = gemm_f32_f16;
  k->gemm[NB_TYPE_F16][NB__X_F32] = gemm_f16_f32;
  k->gemm[NB_TYPE_F16][NB__X_F16] = gemm_f16_f16;
  k->gemm[NB_TYPE_BF16][NB__X_F32] = gemm_bf16_f32;
  k->gemm[NB_TYPE_BF16][NB__X_F16] = gemm_bf16_f16;
  k->gemm[NB_TYPE_Q8_0][NB__X_F32] = gemm_q8_0_f32;
  k->gemm[NB_TYPE_Q8_0][NB__X_F16] = gemm_q8_0_f16;
  k->gemm[NB_TYPE_Q4_0][NB__X_F32] = gemm_q4_0_f32;
  k->gemm[NB_TYPE_Q4_0][NB__X_F16] = gemm_q4_0_f16;
  k->gemm[NB_TYPE_Q8_0][NB__X_Q8] = gemm_q8_0_q8;
  k->gemm[NB_TYPE_Q4_0][NB__X_Q8] = gemm_q4_0_q8;
  k->gemm_nn[NB_TYPE_F32] = gemm_nn_f32;
  k->gemm_nn[NB_TYPE_F16] = gemm_nn_f16;
  k->softmax = softmax;
  k->swiglu = swiglu;
  k->f32_to_f16 = f32_to_f16;
  k->f16_to_f32 = f16_to_f32;
  k->quantize_q8 = quantize_q8;
}
