/*
 * vnni_x86.h: the two 256-bit VNNI dot steps (vpdpbusd, vpdpwssd) for the
 * AVX2-width kernels (qqlanes_avx2.h, fixed16_x86.h, avx2.c's one-token
 * tiles), and NB__VNNI256, set when this compilation has them.
 *
 * Why: without VNNI a u8 x s8 dot of 4 bytes into an int32 lane takes
 * vpmaddubsw (int16 pairs, saturating), then vpmaddwd with ones and vpaddd,
 * and an s16 x s16 pair dot takes vpmaddwd then vpaddd; VNNI does either
 * in one instruction, accumulating in place, without saturation. Most
 * x86 laptop CPUs without AVX-512 (Intel Alder Lake and later) have the
 * VEX-encoded AVX-VNNI: the avxvnni set is avx2.c compiled with
 * -mavxvnni.
 *
 *   nb__dpbusd(acc, u, s): acc + sum of the 4 products u8 x s8 per lane
 *   nb__dpwssd(acc, a, b): acc + sum of the 2 products s16 x s16 per lane
 *
 * Both exact (int32, wrapping like vpaddd; no sum here comes near 2^31).
 * Implementations, in order: AVX-VNNI (VEX, __AVXVNNI__); AVX-512 VNNI
 * with VL (EVEX, the avx512 set's 256-bit code); NB__AVXVNNI_EMU: the same
 * integers from AVX2 instructions, for the test-only "avxvnni-emu" build
 * that checks the avxvnni set's code on CPUs without AVX-VNNI.
 * Include only from files compiled with at least AVX2.
 */
#ifndef NB_VNNI_X86_H
#define NB_VNNI_X86_H

#include <immintrin.h>

#if defined(__AVXVNNI__) && !defined(NB__AVXVNNI_EMU)
#define NB__VNNI256 1
static inline __m256i nb__dpbusd(__m256i acc, __m256i u, __m256i s) {
  return _mm256_dpbusd_avx_epi32(acc, u, s);
}
static inline __m256i nb__dpwssd(__m256i acc, __m256i a, __m256i b) {
  return _mm256_dpwssd_avx_epi32(acc, a, b);
}
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__) && !defined(NB__AVXVNNI_EMU)
#define NB__VNNI256 1
static inline __m256i nb__dpbusd(__m256i acc, __m256i u, __m256i s) {
  return _mm256_dpbusd_epi32(acc, u, s);
}
static inline __m256i nb__dpwssd(__m256i acc, __m256i a, __m256i b) {
  return _mm256_dpwssd_epi32(acc, a, b);
}
#elif defined(NB__AVXVNNI_EMU)
#define NB__VNNI256 1
/* Even and odd bytes widened to int16 (u zero-, s sign-extended), so each
 * vpmaddwd adds two exact products (|u s| <= 255 * 128) into int32. */
static inline __m256i nb__dpbusd(__m256i acc, __m256i u, __m256i s) {
  const __m256i lo = _mm256_set1_epi16(0x00ff);
  const __m256i ue = _mm256_and_si256(u, lo), uo = _mm256_srli_epi16(u, 8);
  const __m256i se = _mm256_srai_epi16(_mm256_slli_epi16(s, 8), 8);
  const __m256i so = _mm256_srai_epi16(s, 8);
  return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(ue, se),
                                                _mm256_madd_epi16(uo, so)));
}
static inline __m256i nb__dpwssd(__m256i acc, __m256i a, __m256i b) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
}
#endif

#endif /* NB_VNNI_X86_H */
