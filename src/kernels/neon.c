/*
 * neon.c: the AArch64 Advanced SIMD kernel table (baseline armv8-a, which
 * every AArch64 CPU has). The Q8-input entries are replaced by the
 * dot-product versions of neon_dotprod.c when AT_HWCAP says asimddp.
 *
 * Same tiles, walk and determinism argument as avx2.c (tile.h), 4 lanes:
 *  - F16 weights x F16/F32 inputs: one 4-lane FMA accumulator per output over
 *    k in steps of 4, horizontal sum, the k % 4 tail in scalar order.
 *  - Q8_0/Q4_0 weights x F16/F32 inputs: per 32-block a 4-lane partial of
 *    the 8 products w_j * x_j (the first a multiply), then
 *    acc = fma(p, d_w, acc).
 *  - Q8_0/Q4_0 weights x Q8 inputs: widening int8 multiplies (vmull_s8: every
 *    product of two int8 fits int16, so -128 is exact too) pairwise added
 *    into int32 lanes, then acc = fma((float)s, d_w * d_x, acc).
 */
#include <arm_neon.h>
#include <string.h>

#include "cpu.h"
#include "expf_poly.h"
#include "kernels.h"
#include "tile.h"

void nb__kernels_fill_neon_dotprod(nb__kernels *k);

/* --------------------------------------------------------------- helpers */

static inline float ld_scale(const uint8_t *blk) {
  nb_f16 d;
  memcpy(&d, blk, 2);
  return nb__f16_to_f32(d);
}

/* 4 floats of an input row at element i: F16 (xf32 = 0) or F32. */
static inline float32x4_t ld_x4(int xf32, const uint8_t *x, int64_t i) {
  if (xf32) return vld1q_f32((const float *)(const void *)x + i);
  return vcvt_f32_f16(vreinterpret_f16_u16(
      vld1_u16((const uint16_t *)(const void *)(x + 2 * i))));
}
static inline float ld_x1(int xf32, const uint8_t *x, int64_t i) {
  if (xf32) {
    float f;
    memcpy(&f, x + 4 * i, 4);
    return f;
  }
  nb_f16 h;
  memcpy(&h, x + 2 * i, 2);
  return nb__f16_to_f32(h);
}

/* 32 Q4_0 levels as int8 q - 8 in element order: lo = 0..15, hi = 16..31. */
static inline void q4_unpack_s8(const uint8_t *qs, int8x16_t *lo,
                                int8x16_t *hi) {
  uint8x16_t raw = vld1q_u8(qs);
  int8x16_t eight = vdupq_n_s8(8);
  *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0f))), eight);
  *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight);
}

/* Elements 4j..4j+3 (j = 0..3) of 16 int8 as floats. */
static inline float32x4_t s8_to_f32(int8x16_t v, int j) {
  int16x8_t h = j < 2 ? vmovl_s8(vget_low_s8(v)) : vmovl_s8(vget_high_s8(v));
  int32x4_t i = (j & 1) ? vmovl_s16(vget_high_s16(h)) : vmovl_s16(vget_low_s16(h));
  return vcvtq_f32_s32(i);
}

/* ------------------------------------------------ F16 weights x float in */

NB__ALWAYS_INLINE void tile_f16(int R, int T, int xf32, int64_t k,
                                const uint8_t *w, size_t ldw,
                                const uint8_t *x, size_t ldx, float *y,
                                int64_t ldy) {
  float32x4_t acc[NB__TMAX_R][NB__TMAX_T];
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
  _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
    acc[r][t] = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= k; i += 4) {
    float32x4_t xv[NB__TMAX_T];
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
      xv[t] = ld_x4(xf32, x + t * ldx, i);
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
      float32x4_t wv = ld_x4(0, w + r * ldw, i);
      _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
        acc[r][t] = vfmaq_f32(acc[r][t], wv, xv[t]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) {
      float s = vaddvq_f32(acc[r][t]);
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
  float32x4_t acc[NB__TMAX_R][NB__TMAX_T];
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
  _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
    acc[r][t] = vdupq_n_f32(0.0f);
  const int64_t nb = k / 32;
  for (int64_t b = 0; b < nb; b++) {
    int8x16_t lo[NB__TMAX_R], hi[NB__TMAX_R];
    float d[NB__TMAX_R];
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
      const uint8_t *blk = w + r * ldw + b * bs;
      if (q4) {
        q4_unpack_s8(blk + 2, &lo[r], &hi[r]);
      } else {
        lo[r] = vld1q_s8((const int8_t *)(const void *)(blk + 2));
        hi[r] = vld1q_s8((const int8_t *)(const void *)(blk + 18));
      }
      d[r] = ld_scale(blk);
    }
    float32x4_t p[NB__TMAX_R][NB__TMAX_T];
    {
      float32x4_t xv[NB__TMAX_T];
      _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
        xv[t] = ld_x4(xf32, x + t * ldx, b * 32);
      _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
        float32x4_t wv = s8_to_f32(lo[r], 0);
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
          p[r][t] = vmulq_f32(wv, xv[t]);
      }
    }
    _Pragma("GCC unroll 8") for (int j = 1; j < 8; j++) {
      float32x4_t xv[NB__TMAX_T];
      _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
        xv[t] = ld_x4(xf32, x + t * ldx, b * 32 + j * 4);
      _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
        float32x4_t wv = s8_to_f32(j < 4 ? lo[r] : hi[r], j & 3);
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
          p[r][t] = vfmaq_f32(p[r][t], wv, xv[t]);
      }
    }
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
      acc[r][t] = vfmaq_n_f32(acc[r][t], p[r][t], d[r]);
  }
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) y[t * ldy + r] = vaddvq_f32(acc[r][t]);
}

/* ---------------------------------------- Q8_0 / Q4_0 weights x Q8 input */

static inline int32x4_t dot_s8(int8x16_t a0, int8x16_t a1, int8x16_t b0,
                               int8x16_t b1) {
  int32x4_t s = vdupq_n_s32(0);
  s = vpadalq_s16(s, vmull_s8(vget_low_s8(a0), vget_low_s8(b0)));
  s = vpadalq_s16(s, vmull_s8(vget_high_s8(a0), vget_high_s8(b0)));
  s = vpadalq_s16(s, vmull_s8(vget_low_s8(a1), vget_low_s8(b1)));
  s = vpadalq_s16(s, vmull_s8(vget_high_s8(a1), vget_high_s8(b1)));
  return s;
}

NB__ALWAYS_INLINE void tile_qq(int R, int T, int q4, int64_t k,
                               const uint8_t *w, size_t ldw,
                               const uint8_t *x, size_t ldx, float *y,
                               int64_t ldy) {
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  const size_t xs = sizeof(nb__block_q8_0);
  float32x4_t acc[NB__TMAX_R][NB__TMAX_T];
  _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)
  _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)
    acc[r][t] = vdupq_n_f32(0.0f);
  const int64_t nb = k / 32;
  for (int64_t b = 0; b < nb; b++) {
    int8x16_t x0[NB__TMAX_T], x1[NB__TMAX_T];
    float dx[NB__TMAX_T];
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
      const uint8_t *blk = x + t * ldx + b * xs;
      x0[t] = vld1q_s8((const int8_t *)(const void *)(blk + 2));
      x1[t] = vld1q_s8((const int8_t *)(const void *)(blk + 18));
      dx[t] = ld_scale(blk);
    }
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
      const uint8_t *blk = w + r * ldw + b * bs;
      const float dw = ld_scale(blk);
      int8x16_t w0, w1;
      if (q4) {
        q4_unpack_s8(blk + 2, &w0, &w1);
      } else {
        w0 = vld1q_s8((const int8_t *)(const void *)(blk + 2));
        w1 = vld1q_s8((const int8_t *)(const void *)(blk + 18));
      }
      _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) {
        int32x4_t s = dot_s8(w0, w1, x0[t], x1[t]);
        acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(s), dw * dx[t]);
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) y[t * ldy + r] = vaddvq_f32(acc[r][t]);
}

/* ------------------------------------------------- families and entries */

#define FAM_F16_F16(R, T, ...) tile_f16(R, T, 0, __VA_ARGS__)
#define FAM_F16_F32(R, T, ...) tile_f16(R, T, 1, __VA_ARGS__)
#define FAM_Q8_F16(R, T, ...) tile_qf(R, T, 0, 0, __VA_ARGS__)
#define FAM_Q8_F32(R, T, ...) tile_qf(R, T, 0, 1, __VA_ARGS__)
#define FAM_Q4_F16(R, T, ...) tile_qf(R, T, 1, 0, __VA_ARGS__)
#define FAM_Q4_F32(R, T, ...) tile_qf(R, T, 1, 1, __VA_ARGS__)
#define FAM_Q8_Q8(R, T, ...) tile_qq(R, T, 0, __VA_ARGS__)
#define FAM_Q4_Q8(R, T, ...) tile_qq(R, T, 1, __VA_ARGS__)
NB__TILES(FAM_F16_F16)
NB__TILES(FAM_F16_F32)
NB__TILES(FAM_Q8_F16)
NB__TILES(FAM_Q8_F32)
NB__TILES(FAM_Q4_F16)
NB__TILES(FAM_Q4_F32)
NB__TILES(FAM_Q8_Q8)
NB__TILES(FAM_Q4_Q8)

NB__GEMM(gemm_f16_f16, FAM_F16_F16, NB_TYPE_F16, 4, 4)
NB__GEMM(gemm_f16_f32, FAM_F16_F32, NB_TYPE_F16, 4, 4)
NB__GEMM(gemm_q8_0_f16, FAM_Q8_F16, NB_TYPE_Q8_0, 2, 4)
NB__GEMM(gemm_q8_0_f32, FAM_Q8_F32, NB_TYPE_Q8_0, 2, 4)
NB__GEMM(gemm_q4_0_f16, FAM_Q4_F16, NB_TYPE_Q4_0, 2, 4)
NB__GEMM(gemm_q4_0_f32, FAM_Q4_F32, NB_TYPE_Q4_0, 2, 4)
NB__GEMM(gemm_q8_0_q8, FAM_Q8_Q8, NB_TYPE_Q8_0, 2, 4)
NB__GEMM(gemm_q4_0_q8, FAM_Q4_Q8, NB_TYPE_Q4_0, 2, 4)

/* ------------------------------------------------------------ conversions */

/* FCVTN/FCVTL round to nearest even (FPCR default) and keep subnormals
 * (Linux leaves FPCR.FZ off): bit-exact with nb__f32_to_f16/nb__f16_to_f32. */
static void f32_to_f16(const float *src, nb_f16 *dst, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
  for (; i < n; i++) dst[i] = nb__f32_to_f16(src[i]);
}

static void f16_to_f32(const nb_f16 *src, float *dst, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + i))));
  for (; i < n; i++) dst[i] = nb__f16_to_f32(src[i]);
}

/* roundf (half away from zero) is exactly FCVTAS (vcvtaq_s32_f32). */
static void quantize_q8(const float *src, void *dst, int64_t n) {
  uint8_t *out = dst;
  for (int64_t b = 0; b < n / 32; b++) {
    const float *x = src + b * 32;
    float32x4_t v[8];
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int j = 0; j < 8; j++) {
      v[j] = vld1q_f32(x + 4 * j);
      m = vmaxq_f32(m, vabsq_f32(v[j]));
    }
    const float amax = vmaxvq_f32(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int8_t q[32];
    for (int j = 0; j < 8; j += 2) {
      int32x4_t a = vcvtaq_s32_f32(vmulq_n_f32(v[j], id));
      int32x4_t c = vcvtaq_s32_f32(vmulq_n_f32(v[j + 1], id));
      int16x8_t h = vcombine_s16(vmovn_s32(a), vmovn_s32(c));
      vst1_s8(q + 4 * j, vmovn_s16(h));
    }
    nb_f16 dh = nb__f32_to_f16(d);
    uint8_t *blk = out + b * sizeof(nb__block_q8_0);
    memcpy(blk, &dh, 2);
    memcpy(blk + 2, q, 32);
  }
}

/* -------------------------------------------------- gemm_nn (kernels.h)
 * R <= 4 rows of x by V <= 2 vectors of 4 columns, then the tail:
 * acc = acc + x * b per d with vmulq then vaddq (rounded apart, the
 * scalar oracle's arithmetic, so the bits match it). */
static inline float32x4_t nn_ld4(int f16, const uint8_t *bd, int64_t j) {
  if (f16)
    return vcvt_f32_f16(vreinterpret_f16_u16(
        vld1_u16((const uint16_t *)(const void *)(bd + 2 * j))));
  return vld1q_f32((const float *)(const void *)bd + j);
}

NB__ALWAYS_INLINE void nn_tile4(int R, int V, int f16, int64_t k,
                                const float *x, size_t ldx, const void *b,
                                size_t ldb, float *y, size_t ldy, int64_t j) {
  float32x4_t acc[4][2];
  NB__UNROLL(4) for (int r = 0; r < R; r++)
    NB__UNROLL(2) for (int v = 0; v < V; v++) acc[r][v] = vdupq_n_f32(0.0f);
  for (int64_t d = 0; d < k; d++) {
    const uint8_t *bd = (const uint8_t *)b + (size_t)d * ldb;
    float32x4_t bv[2];
    NB__UNROLL(2) for (int v = 0; v < V; v++) bv[v] = nn_ld4(f16, bd, j + 4 * v);
    NB__UNROLL(4) for (int r = 0; r < R; r++) {
      const float xd = x[(size_t)r * ldx + (size_t)d];
      NB__UNROLL(2) for (int v = 0; v < V; v++)
        acc[r][v] = vaddq_f32(acc[r][v], vmulq_n_f32(bv[v], xd));
    }
  }
  NB__UNROLL(4) for (int r = 0; r < R; r++)
    NB__UNROLL(2) for (int v = 0; v < V; v++)
      vst1q_f32(y + (size_t)r * ldy + (size_t)(j + 4 * v), acc[r][v]);
}

/* R rows, the last w < 4 columns from j: copied into a zero-padded
 * panel NB__NN_PD rows at a time and run through the 4-column arithmetic
 * (nn_x86.h says why not column by column). */
#define NB__NN_PD 64
NB__ALWAYS_INLINE void nn_tail4(int R, int f16, int64_t k, const float *x,
                                size_t ldx, const void *b, size_t ldb,
                                float *y, size_t ldy, int64_t j, int w) {
  const size_t es = f16 ? 2 : 4;
  _Alignas(16) uint8_t panel[NB__NN_PD][16]; /* (d, 4 columns) of B */
  float32x4_t acc[4];
  NB__UNROLL(4) for (int r = 0; r < R; r++) acc[r] = vdupq_n_f32(0.0f);
  memset(panel, 0, sizeof panel);
  for (int64_t d0 = 0; d0 < k; d0 += NB__NN_PD) {
    const int64_t dn = k - d0 < NB__NN_PD ? k - d0 : NB__NN_PD;
    for (int64_t dd = 0; dd < dn; dd++) {
      /* 2-byte moves the compiler inlines (a memcpy call per row cost
       * more than the arithmetic) */
      const uint8_t *src = (const uint8_t *)b + (size_t)(d0 + dd) * ldb + (size_t)j * es;
      for (size_t c = 0; c < (size_t)w * es; c += 2) memcpy(panel[dd] + c, src + c, 2);
    }
    for (int64_t dd = 0; dd < dn; dd++) {
      const float32x4_t bv = nn_ld4(f16, panel[dd], 0);
      NB__UNROLL(4) for (int r = 0; r < R; r++)
        acc[r] = vaddq_f32(acc[r], vmulq_n_f32(bv, x[(size_t)r * ldx + (size_t)(d0 + dd)]));
    }
  }
  NB__UNROLL(4) for (int r = 0; r < R; r++) {
    float o[4];
    vst1q_f32(o, acc[r]);
    memcpy(y + (size_t)r * ldy + (size_t)j, o, (size_t)w * sizeof(float));
  }
}

NB__ALWAYS_INLINE void nn_gemm(int f16, int64_t m, int64_t n, int64_t k,
                               const float *x, size_t ldx, const void *b,
                               size_t ldb, float *y, size_t ldy) {
  NB__NN_ROWS(m, x, ldx, y, ldy, {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) nn_tile4(R, 2, f16, k, xi, ldx, b, ldb, yi, ldy, j);
    for (; j + 4 <= n; j += 4) nn_tile4(R, 1, f16, k, xi, ldx, b, ldb, yi, ldy, j);
    if (j < n) nn_tail4(R, f16, k, xi, ldx, b, ldb, yi, ldy, j, (int)(n - j));
  });
}
NB__GEMM_NN_ENTRIES(nn_gemm)

/* ------------------------------------------------- softmax (kernels.h)
 * nb__exp_le0 (expf_poly.h) four lanes at a time, step for step, and the
 * sum's 8 lanes as two vectors: the bits of softmax_x86.h. */
static inline float32x4_t nb__exp4(float32x4_t v) {
  const uint32x4_t ok = vcgeq_f32(v, vdupq_n_f32(NB__EXP_LO));
  const float32x4_t n = vrndmq_f32(
      vaddq_f32(vmulq_n_f32(v, NB__EXP_LOG2E), vdupq_n_f32(0.5f)));
  float32x4_t r = vsubq_f32(v, vmulq_n_f32(n, NB__EXP_C1));
  r = vsubq_f32(r, vmulq_n_f32(n, NB__EXP_C2));
  float32x4_t p = vdupq_n_f32(NB__EXP_P0);
  p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(NB__EXP_P1));
  p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(NB__EXP_P2));
  p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(NB__EXP_P3));
  p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(NB__EXP_P4));
  p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(NB__EXP_P5));
  float32x4_t y = vmulq_f32(p, vmulq_f32(r, r));
  y = vaddq_f32(y, r);
  y = vaddq_f32(y, vdupq_n_f32(1.0f));
  /* lanes below LO may hold any n: their result is masked */
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vreinterpretq_f32_u32(
      vandq_u32(vreinterpretq_u32_f32(vmulq_f32(y, vreinterpretq_f32_s32(e))), ok));
}

static void softmax(float *x, int64_t n, float scale) {
  const int64_t n8 = n & ~(int64_t)7;
  const float32x4_t sv = vdupq_n_f32(scale);
  for (int64_t j = 0; j < n8; j += 4) vst1q_f32(x + j, vdivq_f32(vld1q_f32(x + j), sv));
  for (int64_t j = n8; j < n; j++) x[j] = x[j] / scale;
  /* the maximum of finite values does not depend on the order */
  float32x4_t mv = vdupq_n_f32(x[0]);
  for (int64_t j = 0; j < n8; j += 4) mv = vmaxq_f32(mv, vld1q_f32(x + j));
  float mx = vmaxvq_f32(mv);
  for (int64_t j = n8; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  const float32x4_t m4 = vdupq_n_f32(mx);
  float32x4_t a0 = vdupq_n_f32(0.0f), a1 = vdupq_n_f32(0.0f); /* lanes 0-3, 4-7 */
  for (int64_t j = 0; j < n8; j += 8) {
    const float32x4_t e0 = nb__exp4(vsubq_f32(vld1q_f32(x + j), m4));
    const float32x4_t e1 = nb__exp4(vsubq_f32(vld1q_f32(x + j + 4), m4));
    vst1q_f32(x + j, e0);
    vst1q_f32(x + j + 4, e1);
    a0 = vaddq_f32(a0, e0);
    a1 = vaddq_f32(a1, e1);
  }
  float t[8];
  vst1q_f32(t, a0);
  vst1q_f32(t + 4, a1);
  for (int64_t j = n8; j < n; j++) {
    x[j] = nb__exp_le0(x[j] - mx);
    t[j - n8] = t[j - n8] + x[j];
  }
  const float sum = nb__sum8_tree(t);
  const float32x4_t s4 = vdupq_n_f32(sum);
  for (int64_t j = 0; j < n8; j += 4) vst1q_f32(x + j, vdivq_f32(vld1q_f32(x + j), s4));
  for (int64_t j = n8; j < n; j++) x[j] = x[j] / sum;
}

/* swiglu (kernels.h), nb__swiglu1 four lanes at a time; -|v| by setting
 * the sign bit (a zero's sign does not change its exp, 1). */
static void swiglu(float *g, const float *u, int64_t n) {
  const int64_t n4 = n & ~(int64_t)3;
  const float32x4_t one = vdupq_n_f32(1.0f);
  for (int64_t j = 0; j < n4; j += 4) {
    const float32x4_t v = vld1q_f32(g + j);
    const float32x4_t e = nb__exp4(vreinterpretq_f32_u32(
        vorrq_u32(vreinterpretq_u32_f32(v), vdupq_n_u32(0x80000000u))));
    const float32x4_t d = vaddq_f32(one, e);
    const uint32x4_t pos = vcgeq_f32(v, vdupq_n_f32(0.0f));
    const float32x4_t s = vbslq_f32(pos, vdivq_f32(one, d), vdivq_f32(e, d));
    vst1q_f32(g + j, vmulq_f32(vmulq_f32(v, s), vld1q_f32(u + j)));
  }
  for (int64_t j = n4; j < n; j++) g[j] = nb__swiglu1(g[j], u[j]);
}

void nb__kernels_fill_neon(nb__kernels *k) {
  k->name = "neon";
  k->gemm[NB_TYPE_F16][NB__X_F16] = gemm_f16_f16;
  k->gemm[NB_TYPE_F16][NB__X_F32] = gemm_f16_f32;
  k->gemm[NB_TYPE_Q8_0][NB__X_F16] = gemm_q8_0_f16;
  k->gemm[NB_TYPE_Q8_0][NB__X_F32] = gemm_q8_0_f32;
  k->gemm[NB_TYPE_Q4_0][NB__X_F16] = gemm_q4_0_f16;
  k->gemm[NB_TYPE_Q4_0][NB__X_F32] = gemm_q4_0_f32;
  k->gemm[NB_TYPE_Q8_0][NB__X_Q8] = gemm_q8_0_q8;
  k->gemm[NB_TYPE_Q4_0][NB__X_Q8] = gemm_q4_0_q8;
  k->gemm_nn[NB_TYPE_F32] = gemm_nn_f32;
  k->gemm_nn[NB_TYPE_F16] = gemm_nn_f16;
  k->softmax = softmax;
  k->swiglu = swiglu;
  k->f32_to_f16 = f32_to_f16;
  k->f16_to_f32 = f16_to_f32;
  k->quantize_q8 = quantize_q8;
  nb__cpu c;
  nb__cpu_detect(&c);
  if (c.asimddp) nb__kernels_fill_neon_dotprod(k);
}
