/*
 * x86_util.h: the small AVX2-level helpers avx2.c, avx512.c and
 * fixed16_x86.h share (one copy, so the sets read blocks identically).
 * Include only from files compiled with at least AVX2, FMA and F16C.
 */
#ifndef NB_X86_UTIL_H
#define NB_X86_UTIL_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "fp16.h"

/* Horizontal sum of 8 floats, in a fixed order. */
static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* Block scale: F16C's conversion is exact, like nb__f16_to_f32. */
static inline float ld_scale(const uint8_t *blk) {
  nb_f16 d;
  memcpy(&d, blk, 2);
  return _cvtsh_ss(d);
}

/* A block's fp16 scale as 8 equal floats: vpbroadcastw + vcvtph2ps (exact,
 * the same value as ld_scale). */
static inline __m256 ld_scale8(const uint8_t *blk) {
  int16_t d;
  memcpy(&d, blk, 2);
  return _mm256_cvtph_ps(_mm_set1_epi16(d));
}

/* Element i of an input row: F32 (xf32 = 1) or F16. */
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

/* Stores the first n (1..8) lanes of v at y (a batch walk's 8-row group
 * with a row tail). */
static inline void st_lanes8(float *y, __m256 v, int n) {
  if (n == 8) {
    _mm256_storeu_ps(y, v);
    return;
  }
  _Alignas(32) float tmp[8];
  _mm256_store_ps(tmp, v);
  memcpy(y, tmp, (size_t)n * sizeof(float));
}

/* 32 Q4_0 levels of a block, unsigned q in [0, 15], element order: the 16
 * bytes broadcast to both halves, the high half shifted by 4 (vpsrlvq), one
 * mask (3 instructions). */
static inline __m256i q4_unpack_u8(const uint8_t *qs) {
  __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
  raw = _mm256_srlv_epi64(raw, _mm256_setr_epi64x(0, 0, 4, 4));
  return _mm256_and_si256(raw, _mm256_set1_epi8(0x0f));
}

#endif /* NB_X86_UTIL_H */
