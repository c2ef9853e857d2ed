/*
 * expf_poly.h: the exponential of the SIMD softmax kernels, written so
 * that every SIMD set computes the same bits: Cody-Waite range reduction
 * and Cephes' degree-5 polynomial (test_kernels measures 0.98 ulp at most
 * on [-87.3, 0]), every step one IEEE single operation (no fused
 * multiply-add, floor for the rounding, exact integer exponent), so the
 * scalar function below (the vector kernels' tails) and the vector
 * versions in avx2/avx512 (softmax_x86.h) and neon.c agree bit for bit.
 * Why not libm's expf: a vector kernel cannot call it, and calling it per
 * element was 5% of prefill. (The scalar set keeps expf: run.c's bits.)
 * Defined for v <= 0 (softmax exponents, x - max): v < NB__EXP_LO (and
 * NaN) gives 0.
 */
#ifndef NB_EXPF_POLY_H
#define NB_EXPF_POLY_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define NB__EXP_LO (-87.33654f) /* exp(LO) ~ 2^-126, the least normal */
#define NB__EXP_LOG2E 1.44269504088896341f
#define NB__EXP_C1 0.693359375f     /* ln 2 = C1 - C2, C1 exact in 9 bits */
#define NB__EXP_C2 (-2.12194440e-4f)
#define NB__EXP_P0 1.9875691500e-4f
#define NB__EXP_P1 1.3981999507e-3f
#define NB__EXP_P2 8.3334519073e-3f
#define NB__EXP_P3 4.1665795894e-2f
#define NB__EXP_P4 1.6666665459e-1f
#define NB__EXP_P5 5.0000001201e-1f

/* exp(v) for v <= 0; the vector versions follow it step for step. */
static inline float nb__exp_le0(float v) {
  if (!(v >= NB__EXP_LO)) return 0.0f;
  const float n = floorf(v * NB__EXP_LOG2E + 0.5f); /* in [-126, 0] */
  float r = v - n * NB__EXP_C1;                      /* n * C1 is exact */
  r = r - n * NB__EXP_C2;
  float p = NB__EXP_P0;
  p = p * r + NB__EXP_P1;
  p = p * r + NB__EXP_P2;
  p = p * r + NB__EXP_P3;
  p = p * r + NB__EXP_P4;
  p = p * r + NB__EXP_P5;
  float y = p * (r * r);
  y = y + r;
  y = y + 1.0f;
  const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23; /* 2^n */
  float s;
  memcpy(&s, &bits, 4);
  return y * s;
}

/* silu(v) * u in the SIMD sets' recipe (kernels.h: swiglu): the vector
 * kernels' tails. */
static inline float nb__swiglu1(float v, float u) {
  const float e = nb__exp_le0(v < 0.0f ? v : -v);
  const float s = v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
  return (v * s) * u;
}

/* The softmax sum's fixed order (kernels.h): 8 lane sums combined as a
 * tree. */
static inline float nb__sum8_tree(const float s[8]) {
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

#endif /* NB_EXPF_POLY_H */
