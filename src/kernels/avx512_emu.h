/*
 * avx512_emu.h: lets avx512.c be compiled for a CPU WITHOUT AVX-512, for
 * tests only. Why: the AVX-512 kernels are what runs on the machines nibble
 * is measured on (Zen 4/5, recent Xeons), but a development or CI machine may
 * lack AVX-512, and then test_kernels could not execute them at all. With
 * NB__AVX512_EMU defined, avx512.c includes this header instead of using the
 * native intrinsics: SIMDe (Debian's libsimde-dev, a portable, well-tested
 * implementation of the x86 intrinsics in C) supplies every _mm512_* and
 * VNNI intrinsic it has, and the few that SIMDe 0.7 lacks are written below,
 * lane by lane from Intel's pseudo-code. The AVX2/F16C parts stay native
 * (the file is compiled with -mavx2 -mfma -mf16c). The result is a kernel
 * table "avx512-emu" that test_kernels checks against the scalar oracle like
 * any other set; it is never linked into the library or the nibble binary.
 *
 * What it proves: the algorithm of every AVX-512 kernel (lanes, blocks,
 * nibble order, VNNI bias tricks, tails, tiles) and the determinism contract.
 * What it cannot prove: that the compiler's AVX-512 code generation and the
 * CPU agree with the intrinsics' documented semantics (that needs the
 * hardware; test_kernels runs the native table wherever the CPU has it).
 */
#ifndef NB_AVX512_EMU_H
#define NB_AVX512_EMU_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

/* 16 fp16 -> 16 floats (vcvtph2ps zmm): two native F16C halves. */
static inline simde__m512 nb__emu_cvtph_ps(__m256i h) {
  simde__m512_private r;
  r.m256[0] = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
  r.m256[1] = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
  return simde__m512_from_private(r);
}
#define _mm512_cvtph_ps(h) nb__emu_cvtph_ps(h)

/* 16 floats -> 16 fp16 (vcvtps2ph zmm), round to nearest even. */
static inline __m256i nb__emu_cvtps_ph(simde__m512 v) {
  simde__m512_private a = simde__m512_to_private(v);
  __m128i lo = _mm256_cvtps_ph(a.m256[0], _MM_FROUND_TO_NEAREST_INT);
  __m128i hi = _mm256_cvtps_ph(a.m256[1], _MM_FROUND_TO_NEAREST_INT);
  return _mm256_set_m128i(hi, lo);
}
#define _mm512_cvtps_ph(v, imm) ((void)(imm), nb__emu_cvtps_ph(v))

/* vextractf32x8: 256-bit half imm of a float vector. */
static inline __m256 nb__emu_extractf32x8_ps(simde__m512 v, int imm) {
  simde__m512_private a = simde__m512_to_private(v);
  return a.m256[imm & 1];
}
#define _mm512_extractf32x8_ps(v, imm) nb__emu_extractf32x8_ps(v, imm)

/* Sign-extend 16 int8 to 16 int32 (vpmovsxbd zmm). */
static inline simde__m512i nb__emu_cvtepi8_epi32(__m128i b) {
  int8_t in[16];
  _mm_storeu_si128((__m128i *)(void *)in, b);
  simde__m512i_private r;
  for (int i = 0; i < 16; i++) r.i32[i] = in[i];
  return simde__m512i_from_private(r);
}
#define _mm512_cvtepi8_epi32(b) nb__emu_cvtepi8_epi32(b)

/* Zero-extend 32 uint8 to 32 int16 (vpmovzxbw zmm): two native halves. */
static inline simde__m512i nb__emu_cvtepu8_epi16(__m256i b) {
  simde__m512i_private r;
  r.m256i[0] = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(b));
  r.m256i[1] = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(b, 1));
  return simde__m512i_from_private(r);
}
#define _mm512_cvtepu8_epi16(b) nb__emu_cvtepu8_epi16(b)

/* Truncate 16 int32 to 16 int8 (vpmovdb: low byte of each lane). */
static inline __m128i nb__emu_cvtepi32_epi8(simde__m512i v) {
  simde__m512i_private a = simde__m512i_to_private(v);
  int8_t out[16];
  for (int i = 0; i < 16; i++) out[i] = (int8_t)(uint8_t)((uint32_t)a.i32[i] & 0xff);
  return _mm_loadu_si128((const __m128i *)(const void *)out);
}
#define _mm512_cvtepi32_epi8(v) nb__emu_cvtepi32_epi8(v)

/* Truncate 16 int32 to 16 int16 (vpmovdw: low half of each lane). */
static inline __m256i nb__emu_cvtepi32_epi16(simde__m512i v) {
  simde__m512i_private a = simde__m512i_to_private(v);
  int16_t out[16];
  for (int i = 0; i < 16; i++) out[i] = (int16_t)(uint16_t)((uint32_t)a.i32[i] & 0xffff);
  return _mm256_loadu_si256((const __m256i *)(const void *)out);
}
#define _mm512_cvtepi32_epi16(v) nb__emu_cvtepi32_epi16(v)

/* Gather 16 int32 from base + idx[i] * scale (vpgatherdd). */
static inline simde__m512i nb__emu_i32gather_epi32(simde__m512i idx,
                                                  const void *base, int scale) {
  simde__m512i_private a = simde__m512i_to_private(idx), r;
  for (int i = 0; i < 16; i++)
    memcpy(&r.i32[i], (const char *)base + (ptrdiff_t)a.i32[i] * scale, 4);
  return simde__m512i_from_private(r);
}
#define _mm512_i32gather_epi32(idx, base, scale) nb__emu_i32gather_epi32(idx, base, scale)

/* int32 -> float, round to nearest even (vcvtdq2ps zmm). */
static inline simde__m512 nb__emu_cvtepi32_ps(simde__m512i v) {
  simde__m512i_private a = simde__m512i_to_private(v);
  simde__m512_private r;
  r.m256[0] = _mm256_cvtepi32_ps(a.m256i[0]);
  r.m256[1] = _mm256_cvtepi32_ps(a.m256i[1]);
  return simde__m512_from_private(r);
}
#define _mm512_cvtepi32_ps(v) nb__emu_cvtepi32_ps(v)

/* float -> int32 with truncation (vcvttps2dq zmm). */
static inline simde__m512i nb__emu_cvttps_epi32(simde__m512 v) {
  simde__m512_private a = simde__m512_to_private(v);
  simde__m512i_private r;
  r.m256i[0] = _mm256_cvttps_epi32(a.m256[0]);
  r.m256i[1] = _mm256_cvttps_epi32(a.m256[1]);
  return simde__m512i_from_private(r);
}
#define _mm512_cvttps_epi32(v) nb__emu_cvttps_epi32(v)

/* Round down (vrndscaleps with the floor mode). */
static inline simde__m512 nb__emu_floor_ps(simde__m512 v) {
  simde__m512_private a = simde__m512_to_private(v);
  a.m256[0] = _mm256_floor_ps(a.m256[0]);
  a.m256[1] = _mm256_floor_ps(a.m256[1]);
  return simde__m512_from_private(a);
}
#undef _mm512_floor_ps
#define _mm512_floor_ps(v) nb__emu_floor_ps(v)

/* Maximum of 16 floats (the _mm512_reduce_max_ps sequence). */
static inline float nb__emu_reduce_max_ps(simde__m512 v) {
  simde__m512_private a = simde__m512_to_private(v);
  __m256 m = _mm256_max_ps(a.m256[0], a.m256[1]);
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  return _mm_cvtss_f32(m4);
}
#define _mm512_reduce_max_ps(v) nb__emu_reduce_max_ps(v)

#endif /* NB_AVX512_EMU_H */
