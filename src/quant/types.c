/*
 * types.c: the type-traits table (one row per element type nibble computes
 * with) and the public nb_type_* queries.
 *
 * from_float reproduces ggml's reference quantizers bit for bit
 * (quantize_row_q8_0_ref / quantize_row_q4_0_ref in ggml-quants.c), because
 * the quantizer's output must equal llama.cpp's byte for byte:
 *   Q8_0: amax = max |x|, d = amax / 127, id = d ? 1/d : 0,
 *         q = roundf(x * id) (half away from zero; computed without the
 *         libm call, same result), stored d = fp16(d).
 *   Q4_0: max = the element of largest |x| (first one on ties) WITH its sign,
 *         d = max / -8, id = d ? 1/d : 0,
 *         q = MIN(15, (int8_t)(x * id + 8.5f)) (truncation toward zero),
 *         element j in the low nibble of byte j, element j+16 in the high
 *         nibble; stored d = fp16(d) (negative when max > 0).
 * The scales are computed in float from the float inputs and only the stored
 * scale is rounded to fp16, exactly as ggml does; dequantization uses the
 * stored (fp16) scale.
 */
#include <math.h>
#include <string.h>

#include "nb_internal.h"
#include "types.h"

/* ------------------------------------------------------------ converters */

static void f32_to_float(const void *src, float *dst, int64_t n) {
  memcpy(dst, src, (size_t)n * sizeof(float));
}
static void f32_from_float(const float *src, void *dst, int64_t n) {
  memcpy(dst, src, (size_t)n * sizeof(float));
}

/* src may be unaligned (it points into a mapped file): read with memcpy. */
static void f16_to_float(const void *src, float *dst, int64_t n) {
  const unsigned char *p = src;
  for (int64_t i = 0; i < n; i++) {
    nb_f16 h;
    memcpy(&h, p + 2 * i, 2);
    dst[i] = nb__f16_to_f32(h);
  }
}
static void f16_from_float(const float *src, void *dst, int64_t n) {
  unsigned char *p = dst;
  for (int64_t i = 0; i < n; i++) {
    nb_f16 h = nb__f32_to_f16(src[i]);
    memcpy(p + 2 * i, &h, 2);
  }
}

static void bf16_to_float(const void *src, float *dst, int64_t n) {
  const unsigned char *p = src;
  for (int64_t i = 0; i < n; i++) {
    nb_bf16 h;
    memcpy(&h, p + 2 * i, 2);
    dst[i] = nb__bf16_to_f32(h);
  }
}
static void bf16_from_float(const float *src, void *dst, int64_t n) {
  unsigned char *p = dst;
  for (int64_t i = 0; i < n; i++) {
    nb_bf16 h = nb__f32_to_bf16(src[i]);
    memcpy(p + 2 * i, &h, 2);
  }
}

static void q8_0_to_float(const void *src, float *dst, int64_t n) {
  const unsigned char *p = src;
  for (int64_t b = 0; b < n / NB_QK8_0; b++) {
    nb__block_q8_0 blk;
    memcpy(&blk, p + b * (int64_t)sizeof blk, sizeof blk);
    const float d = nb__f16_to_f32(blk.d);
    for (int j = 0; j < NB_QK8_0; j++) dst[b * NB_QK8_0 + j] = blk.qs[j] * d;
  }
}
/* roundf(v) as an integer (halves away from zero), for |v| < 2^31,
 * without a libm call: v - trunc(v) is exact in float. */
static inline int32_t round_half_away(float v) {
  int32_t i = (int32_t)v; /* truncates toward zero */
  const float f = v - (float)i;
  if (f >= 0.5f) i++;
  else if (f <= -0.5f) i--;
  return i;
}

static void q8_0_from_float(const float *src, void *dst, int64_t n) {
  unsigned char *p = dst;
  for (int64_t b = 0; b < n / NB_QK8_0; b++) {
    const float *x = src + b * NB_QK8_0;
    float amax = 0.0f;
    for (int j = 0; j < NB_QK8_0; j++) {
      const float a = fabsf(x[j]);
      amax = amax > a ? amax : a; /* ggml's MAX(amax, fabsf(v)) */
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    nb__block_q8_0 blk;
    blk.d = nb__f32_to_f16(d);
    for (int j = 0; j < NB_QK8_0; j++) {
      /* x*id is within [-127, 127] (up to rounding) for finite input, so
       * the clamp changes nothing there; it only gives inf/nan input
       * (undefined in ggml) a defined result. */
      float v = x[j] * id;
      v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
      blk.qs[j] = (int8_t)(v == v ? round_half_away(v) : 0);
    }
    memcpy(p + b * (int64_t)sizeof blk, &blk, sizeof blk);
  }
}

static void q4_0_to_float(const void *src, float *dst, int64_t n) {
  const unsigned char *p = src;
  for (int64_t b = 0; b < n / NB_QK4_0; b++) {
    nb__block_q4_0 blk;
    memcpy(&blk, p + b * (int64_t)sizeof blk, sizeof blk);
    const float d = nb__f16_to_f32(blk.d);
    float *y = dst + b * NB_QK4_0;
    for (int j = 0; j < NB_QK4_0 / 2; j++) {
      y[j] = (float)((blk.qs[j] & 0x0f) - 8) * d;
      y[j + NB_QK4_0 / 2] = (float)((blk.qs[j] >> 4) - 8) * d;
    }
  }
}
/* ggml's MIN(15, (int8_t)v): (int8_t) truncates toward zero and v lies in
 * [0.5, 16.5] for finite input; the range check only gives inf/nan input
 * (undefined in ggml) a defined result. */
static inline uint8_t q4_level(float v) {
  if (!(v >= 0.0f)) return 0;
  if (v >= 15.0f) return 15;
  return (uint8_t)(int8_t)v;
}

static void q4_0_from_float(const float *src, void *dst, int64_t n) {
  unsigned char *p = dst;
  for (int64_t b = 0; b < n / NB_QK4_0; b++) {
    const float *x = src + b * NB_QK4_0;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < NB_QK4_0; j++) {
      if (amax < fabsf(x[j])) { /* strict: the first of equal magnitudes */
        amax = fabsf(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    nb__block_q4_0 blk;
    blk.d = nb__f32_to_f16(d);
    for (int j = 0; j < NB_QK4_0 / 2; j++) {
      const uint8_t q0 = q4_level(x[j] * id + 8.5f);
      const uint8_t q1 = q4_level(x[j + NB_QK4_0 / 2] * id + 8.5f);
      blk.qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
    memcpy(p + b * (int64_t)sizeof blk, &blk, sizeof blk);
  }
}

/* ------------------------------------------------------------------ table */

static const nb__type_traits k_traits[NB_TYPE_COUNT] = {
    [NB_TYPE_F32] = {"f32", 1, 4, false, f32_to_float, f32_from_float},
    [NB_TYPE_F16] = {"f16", 1, 2, false, f16_to_float, f16_from_float},
    [NB_TYPE_BF16] = {"bf16", 1, 2, false, bf16_to_float, bf16_from_float},
    [NB_TYPE_Q8_0] = {"q8_0", NB_QK8_0, sizeof(nb__block_q8_0), true,
                      q8_0_to_float, q8_0_from_float},
    [NB_TYPE_Q4_0] = {"q4_0", NB_QK4_0, sizeof(nb__block_q4_0), true,
                      q4_0_to_float, q4_0_from_float},
};

/* ggml's names for every type id it has defined (including ids whose types
 * were later removed), in lower case (ggml writes the k-quants "q4_K"), so
 * an error about a real-but-unsupported type names it ("q4_k") rather than
 * giving a number. Only the rows of k_traits are
 * supported. */
static const char *const k_ggml_names[] = {
    [0] = "f32",       [1] = "f16",        [2] = "q4_0",
    [3] = "q4_1",      [4] = "q4_2",       [5] = "q4_3",
    [6] = "q5_0",      [7] = "q5_1",       [8] = "q8_0",
    [9] = "q8_1",      [10] = "q2_k",      [11] = "q3_k",
    [12] = "q4_k",     [13] = "q5_k",      [14] = "q6_k",
    [15] = "q8_k",     [16] = "iq2_xxs",   [17] = "iq2_xs",
    [18] = "iq3_xxs",  [19] = "iq1_s",     [20] = "iq4_nl",
    [21] = "iq3_s",    [22] = "iq2_s",     [23] = "iq4_xs",
    [24] = "i8",       [25] = "i16",       [26] = "i32",
    [27] = "i64",      [28] = "f64",       [29] = "iq1_m",
    [30] = "bf16",     [31] = "q4_0_4x4",  [32] = "q4_0_4x8",
    [33] = "q4_0_8x8", [34] = "tq1_0",     [35] = "tq2_0",
    [36] = "iq4_nl_4x4", [37] = "iq4_nl_4x8", [38] = "iq4_nl_8x8",
    [39] = "mxfp4",
};

/* "type#N" for ids ggml does not name, as constant strings (the library
 * keeps no mutable state): 40..999 are spelled out by the preprocessor. */
#define NB__TN(n) "type#" #n
#define NB__T10(p)                                                         \
  NB__TN(p##0), NB__TN(p##1), NB__TN(p##2), NB__TN(p##3), NB__TN(p##4),    \
      NB__TN(p##5), NB__TN(p##6), NB__TN(p##7), NB__TN(p##8), NB__TN(p##9)
#define NB__T100(p)                                                        \
  NB__T10(p##0), NB__T10(p##1), NB__T10(p##2), NB__T10(p##3),              \
      NB__T10(p##4), NB__T10(p##5), NB__T10(p##6), NB__T10(p##7),          \
      NB__T10(p##8), NB__T10(p##9)
static const char *const k_numbered[1000] = {
    NB__T10(),  NB__T10(1), NB__T10(2), NB__T10(3), NB__T10(4),
    NB__T10(5), NB__T10(6), NB__T10(7), NB__T10(8), NB__T10(9),
    NB__T100(1), NB__T100(2), NB__T100(3), NB__T100(4), NB__T100(5),
    NB__T100(6), NB__T100(7), NB__T100(8), NB__T100(9),
};
#undef NB__TN
#undef NB__T10
#undef NB__T100

const nb__type_traits *nb__type_traits_get(uint32_t type) {
  if (type >= NB_TYPE_COUNT || k_traits[type].name == NULL) return NULL;
  return &k_traits[type];
}

bool nb_type_supported(uint32_t type) {
  return nb__type_traits_get(type) != NULL;
}

const char *nb_type_name(uint32_t type) {
  if (type < NB__ARRAY_LEN(k_ggml_names) && k_ggml_names[type])
    return k_ggml_names[type];
  if (type < NB__ARRAY_LEN(k_numbered)) return k_numbered[type];
  return "type#>999";
}

static bool ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char ca = *a, cb = *b;
    if (ca >= 'A' && ca <= 'Z') ca = (char)(ca - 'A' + 'a');
    if (cb >= 'A' && cb <= 'Z') cb = (char)(cb - 'A' + 'a');
    if (ca != cb) return false;
  }
  return *a == *b;
}

int nb_type_from_name(const char *name) {
  if (name == NULL) return NB_EBADTYPE;
  for (uint32_t t = 0; t < NB_TYPE_COUNT; t++)
    if (k_traits[t].name && ieq(name, k_traits[t].name)) return (int)t;
  return NB_EBADTYPE;
}

int64_t nb_type_block(uint32_t type) {
  const nb__type_traits *tt = nb__type_traits_get(type);
  return tt ? tt->blck : 0;
}

size_t nb_type_block_bytes(uint32_t type) {
  const nb__type_traits *tt = nb__type_traits_get(type);
  return tt ? tt->bytes : 0;
}

size_t nb_type_row_bytes(uint32_t type, int64_t n) {
  const nb__type_traits *tt = nb__type_traits_get(type);
  if (tt == NULL || n < 0 || n % tt->blck != 0) return 0;
  uint64_t r;
  if (!nb__mul_u64((uint64_t)(n / tt->blck), tt->bytes, &r) || r > SIZE_MAX)
    return 0;
  return (size_t)r;
}
