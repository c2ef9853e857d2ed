/*
 * neon_dotprod.c: the Q8-input entries of the neon table with the ARMv8.2
 * dot-product instruction (SDOT, vdotq_s32: four int8 x int8 products summed
 * into each int32 lane, exact). Compiled with +dotprod into its own static
 * library; nb__kernels_fill_neon calls the filler only when AT_HWCAP has
 * asimddp. Same tiles, walk and per-output accumulation as neon.c.
 */
#include <arm_neon.h>
#include <string.h>

#include "kernels.h"
#include "tile.h"

void nb__kernels_fill_neon_dotprod(nb__kernels *k);

static inline float ld_scale(const uint8_t *blk) {
  nb_f16 d;
  memcpy(&d, blk, 2);
  return nb__f16_to_f32(d);
}

/* 32 Q4_0 levels as int8 q - 8 in element order: lo = 0..15, hi = 16..31. */
static inline void q4_unpack_s8(const uint8_t *qs, int8x16_t *lo,
                                int8x16_t *hi) {
  uint8x16_t raw = vld1q_u8(qs);
  int8x16_t eight = vdupq_n_s8(8);
  *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0f))), eight);
  *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight);
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
        int32x4_t s = vdotq_s32(vdupq_n_s32(0), w0, x0[t]);
        s = vdotq_s32(s, w1, x1[t]);
        acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(s), dw * dx[t]);
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) y[t * ldy + r] = vaddvq_f32(acc[r][t]);
}

#define FAM_Q8_Q8(R, T, ...) tile_qq(R, T, 0, __VA_ARGS__)
#define FAM_Q4_Q8(R, T, ...) tile_qq(R, T, 1, __VA_ARGS__)
NB__TILES(FAM_Q8_Q8)
NB__TILES(FAM_Q4_Q8)

NB__GEMM(gemm_q8_0_q8, FAM_Q8_Q8, NB_TYPE_Q8_0, 2, 4)
NB__GEMM(gemm_q4_0_q8, FAM_Q4_Q8, NB_TYPE_Q4_0, 2, 4)

void nb__kernels_fill_neon_dotprod(nb__kernels *k) {
  k->gemm[NB_TYPE_Q8_0][NB__X_Q8] = gemm_q8_0_q8;
  k->gemm[NB_TYPE_Q4_0][NB__X_Q8] = gemm_q4_0_q8;
}
