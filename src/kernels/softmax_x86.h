/*
 * softmax_x86.h: the softmax and swiglu kernels (kernels.h) on 256-bit
 * vectors: nb__exp_le0 (expf_poly.h) eight lanes at a time, step for step,
 * and the sum in its 8 lanes (kernels.h's SIMD order, which neon.c follows
 * too). avx2.c's kernels; avx512.c has 16-lane versions of both (the same
 * bits) and uses nb__exp8 and swiglu8 for its tails.
 * Include from a file compiled with at least AVX2.
 */
#ifndef NB_SOFTMAX_X86_H
#define NB_SOFTMAX_X86_H

#include <immintrin.h>

#include "expf_poly.h"

static inline __m256 nb__exp8(__m256 v) {
  const __m256 ok = _mm256_cmp_ps(v, _mm256_set1_ps(NB__EXP_LO), _CMP_GE_OQ);
  const __m256 n = _mm256_floor_ps(_mm256_add_ps(
      _mm256_mul_ps(v, _mm256_set1_ps(NB__EXP_LOG2E)), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_sub_ps(v, _mm256_mul_ps(n, _mm256_set1_ps(NB__EXP_C1)));
  r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(NB__EXP_C2)));
  __m256 p = _mm256_set1_ps(NB__EXP_P0);
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(NB__EXP_P1));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(NB__EXP_P2));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(NB__EXP_P3));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(NB__EXP_P4));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(NB__EXP_P5));
  __m256 y = _mm256_mul_ps(p, _mm256_mul_ps(r, r));
  y = _mm256_add_ps(y, r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  /* lanes below LO may hold any n (even -inf): their result is masked */
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(e)), ok);
}

static inline void softmax8(float *x, int64_t n, float scale) {
  const int64_t n8 = n & ~(int64_t)7;
  const __m256 sv = _mm256_set1_ps(scale);
  for (int64_t j = 0; j < n8; j += 8)
    _mm256_storeu_ps(x + j, _mm256_div_ps(_mm256_loadu_ps(x + j), sv));
  for (int64_t j = n8; j < n; j++) x[j] = x[j] / scale;
  /* the maximum of finite values does not depend on the order */
  __m256 mv = _mm256_set1_ps(x[0]);
  for (int64_t j = 0; j < n8; j += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + j));
  _Alignas(32) float t[8];
  _mm256_store_ps(t, mv);
  float mx = t[0];
  for (int l = 1; l < 8; l++) mx = t[l] > mx ? t[l] : mx;
  for (int64_t j = n8; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  const __m256 m8 = _mm256_set1_ps(mx);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t j = 0; j < n8; j += 8) {
    const __m256 e = nb__exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), m8));
    _mm256_storeu_ps(x + j, e);
    acc = _mm256_add_ps(acc, e);
  }
  _mm256_store_ps(t, acc);
  for (int64_t j = n8; j < n; j++) {
    x[j] = nb__exp_le0(x[j] - mx);
    t[j - n8] = t[j - n8] + x[j];
  }
  const __m256 s8 = _mm256_set1_ps(nb__sum8_tree(t));
  for (int64_t j = 0; j < n8; j += 8)
    _mm256_storeu_ps(x + j, _mm256_div_ps(_mm256_loadu_ps(x + j), s8));
  const float sum = nb__sum8_tree(t);
  for (int64_t j = n8; j < n; j++) x[j] = x[j] / sum;
}

/* swiglu (kernels.h), nb__swiglu1 eight lanes at a time; -|v| by setting
 * the sign bit (a zero's sign does not change its exp, 1). */
static void swiglu8(float *g, const float *u, int64_t n) {
  const int64_t n8 = n & ~(int64_t)7;
  const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
  for (int64_t j = 0; j < n8; j += 8) {
    const __m256 v = _mm256_loadu_ps(g + j);
    const __m256 e = nb__exp8(_mm256_or_ps(v, sign));
    const __m256 d = _mm256_add_ps(one, e);
    const __m256 pos = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ);
    const __m256 s = _mm256_blendv_ps(_mm256_div_ps(e, d), _mm256_div_ps(one, d), pos);
    _mm256_storeu_ps(g + j, _mm256_mul_ps(_mm256_mul_ps(v, s), _mm256_loadu_ps(u + j)));
  }
  for (int64_t j = n8; j < n; j++) g[j] = nb__swiglu1(g[j], u[j]);
}

#endif /* NB_SOFTMAX_X86_H */
