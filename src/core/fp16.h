/*
 * fp16.h: scalar IEEE half and bfloat16 conversions, bit-exact with F16C /
 * numpy (round to nearest, ties to even; NaN stays NaN; overflow -> inf).
 * These are the oracle the SIMD conversions are tested against.
 */
#ifndef NB_FP16_H
#define NB_FP16_H

#include <stdint.h>
#include <string.h>

typedef uint16_t nb_f16; /* IEEE binary16 bits */
typedef uint16_t nb_bf16; /* bfloat16 bits */

static inline uint32_t nb__f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static inline float nb__bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static inline float nb__f16_to_f32(nb_f16 h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) { /* inf / nan */
    bits = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0u);
  } else if (exp != 0) { /* normal */
    bits = sign | ((exp + 112u) << 23) | (man << 13);
  } else if (man == 0) { /* zero */
    bits = sign;
  } else { /* subnormal: value = man * 2^-24 */
    float v = (float)man * 5.9604644775390625e-8f;
    bits = sign | nb__f32_bits(v);
  }
  return nb__bits_f32(bits);
}

static inline nb_f16 nb__f32_to_f16(float f) {
  uint32_t x = nb__f32_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) { /* inf or nan */
    if (ax > 0x7f800000u) return (nb_f16)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    return (nb_f16)(sign | 0x7c00u);
  }
  if (ax >= 0x477ff000u) return (nb_f16)(sign | 0x7c00u); /* rounds to inf */
  if (ax < 0x38800000u) { /* result is subnormal or zero */
    if (ax < 0x33000000u) return (nb_f16)sign; /* < 2^-25: rounds to 0 */
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    /* value = m * 2^(e-150) and the half subnormal unit is 2^-24, so the
     * result is m >> (126 - e), rounded to nearest even; s is in [14, 24]. */
    uint32_t s = 126u - e;
    uint32_t q = m >> s;
    uint32_t rem = m & ((1u << s) - 1u);
    uint32_t half = 1u << (s - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (nb_f16)(sign | q);
  }
  /* normal */
  uint32_t r = ax + 0xc8000fffu + ((ax >> 13) & 1u); /* rebias + RNE */
  return (nb_f16)(sign | (r >> 13));
}

static inline float nb__bf16_to_f32(nb_bf16 h) {
  return nb__bits_f32((uint32_t)h << 16);
}

static inline nb_bf16 nb__f32_to_bf16(float f) {
  uint32_t x = nb__f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (nb_bf16)((x >> 16) | 64u); /* quiet nan */
  x += 0x7fffu + ((x >> 16) & 1u);
  return (nb_bf16)(x >> 16);
}

#endif /* NB_FP16_H */
