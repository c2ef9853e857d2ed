/*
 * test_quant.c: the type-traits table (names, sizes, ggml-exact
 * from_float on hand-computed vectors and edge data, to_float round trips)
 * and the scalar kernel table (every gemm pair against a double-precision
 * reference, the split-invariance contract, activation conversions).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels.h"
#include "nb_internal.h"
#include "testutil.h"
#include "types.h"

/* ----------------------------------------------------------- helpers */

typedef struct {
  uint64_t s;
} rng_t;
static uint32_t rng_u32(rng_t *r) { /* xorshift64* */
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return (uint32_t)((r->s * 2685821657736338717ull) >> 32);
}
static float rng_unit(rng_t *r) { /* [-1, 1) */
  return (float)((double)rng_u32(r) / 2147483648.0 - 1.0);
}
/* roughly normal (sum of 4 uniforms), scaled */
static float rng_normal(rng_t *r, float sd) {
  float s = rng_unit(r) + rng_unit(r) + rng_unit(r) + rng_unit(r);
  return s * sd * 0.866f;
}

static const nb__type_traits *tt(uint32_t t) {
  const nb__type_traits *p = nb__type_traits_get(t);
  ck_assert_ptr_nonnull(p);
  return p;
}

static const uint32_t k_types[] = {NB_TYPE_F32, NB_TYPE_F16, NB_TYPE_BF16,
                                   NB_TYPE_Q8_0, NB_TYPE_Q4_0};

/* ------------------------------------------------------- table and names */

START_TEST(test_table_rows) {
  ck_assert_str_eq(tt(NB_TYPE_F32)->name, "f32");
  ck_assert_str_eq(tt(NB_TYPE_F16)->name, "f16");
  ck_assert_str_eq(tt(NB_TYPE_BF16)->name, "bf16");
  ck_assert_str_eq(tt(NB_TYPE_Q8_0)->name, "q8_0");
  ck_assert_str_eq(tt(NB_TYPE_Q4_0)->name, "q4_0");
  ck_assert_int_eq(tt(NB_TYPE_F32)->blck, 1);
  ck_assert_uint_eq(tt(NB_TYPE_F32)->bytes, 4);
  ck_assert_uint_eq(tt(NB_TYPE_F16)->bytes, 2);
  ck_assert_uint_eq(tt(NB_TYPE_BF16)->bytes, 2);
  ck_assert_int_eq(tt(NB_TYPE_Q8_0)->blck, 32);
  ck_assert_uint_eq(tt(NB_TYPE_Q8_0)->bytes, 34);
  ck_assert_int_eq(tt(NB_TYPE_Q4_0)->blck, 32);
  ck_assert_uint_eq(tt(NB_TYPE_Q4_0)->bytes, 18);
  ck_assert(!tt(NB_TYPE_F32)->quantized && !tt(NB_TYPE_F16)->quantized &&
            !tt(NB_TYPE_BF16)->quantized);
  ck_assert(tt(NB_TYPE_Q8_0)->quantized && tt(NB_TYPE_Q4_0)->quantized);
  for (size_t i = 0; i < NB__ARRAY_LEN(k_types); i++) {
    ck_assert(nb_type_supported(k_types[i]));
    ck_assert_ptr_nonnull(tt(k_types[i])->to_float);
    ck_assert_ptr_nonnull(tt(k_types[i])->from_float);
    ck_assert_str_eq(nb_type_name(k_types[i]), tt(k_types[i])->name);
  }
  /* every other id is unsupported */
  int n_supported = 0;
  for (uint32_t t = 0; t < 200; t++) n_supported += nb_type_supported(t);
  ck_assert_int_eq(n_supported, 5);
  ck_assert(!nb_type_supported(UINT32_MAX));
  ck_assert_ptr_null(nb__type_traits_get(NB_TYPE_COUNT));
}
END_TEST

START_TEST(test_names) {
  ck_assert_int_eq(nb_type_from_name("f32"), NB_TYPE_F32);
  ck_assert_int_eq(nb_type_from_name("F16"), NB_TYPE_F16);
  ck_assert_int_eq(nb_type_from_name("Bf16"), NB_TYPE_BF16);
  ck_assert_int_eq(nb_type_from_name("Q8_0"), NB_TYPE_Q8_0);
  ck_assert_int_eq(nb_type_from_name("q4_0"), NB_TYPE_Q4_0);
  ck_assert_int_eq(nb_type_from_name("q4_1"), NB_EBADTYPE); /* unsupported */
  ck_assert_int_eq(nb_type_from_name("q4_0 "), NB_EBADTYPE);
  ck_assert_int_eq(nb_type_from_name("q4"), NB_EBADTYPE);
  ck_assert_int_eq(nb_type_from_name(""), NB_EBADTYPE);
  ck_assert_int_eq(nb_type_from_name(NULL), NB_EBADTYPE);
  /* real ggml types we do not support still have their ggml names */
  ck_assert_str_eq(nb_type_name(3), "q4_1");
  ck_assert_str_eq(nb_type_name(6), "q5_0");
  ck_assert_str_eq(nb_type_name(7), "q5_1");
  ck_assert_str_eq(nb_type_name(9), "q8_1");
  ck_assert_str_eq(nb_type_name(10), "q2_k");
  ck_assert_str_eq(nb_type_name(12), "q4_k");
  ck_assert_str_eq(nb_type_name(14), "q6_k");
  ck_assert_str_eq(nb_type_name(23), "iq4_xs");
  ck_assert_str_eq(nb_type_name(28), "f64");
  ck_assert_str_eq(nb_type_name(35), "tq2_0");
  ck_assert_str_eq(nb_type_name(38), "iq4_nl_8x8");
  ck_assert_str_eq(nb_type_name(40), "type#40");
  ck_assert_str_eq(nb_type_name(123), "type#123");
  ck_assert_str_eq(nb_type_name(999), "type#999");
  ck_assert_str_eq(nb_type_name(70000), "type#>999");
  for (uint32_t t = 0; t < 1000; t++) ck_assert_ptr_nonnull(nb_type_name(t));
}
END_TEST

START_TEST(test_sizes) {
  ck_assert_int_eq(nb_type_block(NB_TYPE_Q4_0), 32);
  ck_assert_int_eq(nb_type_block(NB_TYPE_F16), 1);
  ck_assert_int_eq(nb_type_block(3), 0);
  ck_assert_uint_eq(nb_type_block_bytes(NB_TYPE_Q8_0), 34);
  ck_assert_uint_eq(nb_type_block_bytes(12), 0);
  ck_assert_uint_eq(nb_type_row_bytes(NB_TYPE_F32, 3), 12);
  ck_assert_uint_eq(nb_type_row_bytes(NB_TYPE_F16, 172), 344);
  ck_assert_uint_eq(nb_type_row_bytes(NB_TYPE_BF16, 5), 10);
  ck_assert_uint_eq(nb_type_row_bytes(NB_TYPE_Q8_0, 64), 68);
  ck_assert_uint_eq(nb_type_row_bytes(NB_TYPE_Q4_0, 64), 36);
  ck_assert_uint_eq(nb_type_row_bytes(NB_TYPE_Q4_0, 4096), 2304);
  ck_assert_uint_eq(nb_type_row_bytes(NB_TYPE_Q8_0, 172), 0); /* not a multiple */
  ck_assert_uint_eq(nb_type_row_bytes(NB_TYPE_Q4_0, 33), 0);
  ck_assert_uint_eq(nb_type_row_bytes(NB_TYPE_Q8_0, 0), 0);
  ck_assert_uint_eq(nb_type_row_bytes(NB_TYPE_F32, -4), 0);
  ck_assert_uint_eq(nb_type_row_bytes(2000, 64), 0);
  ck_assert_uint_eq(nb_type_row_bytes(NB_TYPE_F32, INT64_MAX), 0); /* wraps */
}
END_TEST

/* ------------------------------------------------------- float types */

START_TEST(test_f16_bf16_rows) {
  /* known bit patterns, including +-65504, the smallest subnormal, values
   * that round to the subnormal range, ties to even, overflow to inf */
  const float x[] = {0.0f, -0.0f, 1.0f, -2.0f, 65504.0f, -65504.0f,
                     5.9604644775390625e-8f, -5.9604644775390625e-8f,
                     6.0975551605224609e-5f, 1.0f + 1.0f / 2048,
                     65520.0f, 1e-9f, 0.333333333f, 3.0e-8f};
  const uint16_t h[] = {0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0xfbff,
                        0x0001, 0x8001, 0x03ff, 0x3c00,
                        0x7c00, 0x0000, 0x3555, 0x0001};
  const int n = (int)NB__ARRAY_LEN(x);
  unsigned char buf[64];
  float back[16];
  tt(NB_TYPE_F16)->from_float(x, buf, n);
  for (int i = 0; i < n; i++) {
    uint16_t got;
    memcpy(&got, buf + 2 * i, 2);
    ck_assert_msg(got == h[i], "f16 of %g: %04x want %04x", (double)x[i],
                  got, h[i]);
  }
  tt(NB_TYPE_F16)->to_float(buf, back, n);
  ck_assert(back[4] == 65504.0f && back[5] == -65504.0f);
  ck_assert(back[6] == 5.9604644775390625e-8f);
  ck_assert(back[8] == 6.0975551605224609e-5f);
  ck_assert(isinf(back[10]));
  ck_assert(signbit(back[1]) && back[1] == 0.0f);

  const float xb[] = {1.0f, -1.0f, 1.00390625f, 1.01171875f, 3.0e38f,
                      1e-40f, -65504.0f};
  const uint16_t hb[] = {0x3f80, 0xbf80, 0x3f80, 0x3f82, 0x7f62, 0x0001,
                         0xc780};
  tt(NB_TYPE_BF16)->from_float(xb, buf, 7);
  for (int i = 0; i < 7; i++) {
    uint16_t got;
    memcpy(&got, buf + 2 * i, 2);
    ck_assert_msg(got == hb[i], "bf16 of %g: %04x want %04x", (double)xb[i],
                  got, hb[i]);
  }
  tt(NB_TYPE_BF16)->to_float(buf, back, 7);
  ck_assert(back[0] == 1.0f && back[1] == -1.0f && back[6] == -65536.0f);

  /* F32 rows are copied bit for bit (including -0 and nan payloads) */
  const float xf[4] = {-0.0f, 1e-45f, 3.4e38f, NAN};
  float yf[4];
  tt(NB_TYPE_F32)->from_float(xf, buf, 4);
  tt(NB_TYPE_F32)->to_float(buf, yf, 4);
  ck_assert_int_eq(memcmp(xf, yf, sizeof xf), 0);
}
END_TEST

/* Every half is a fixed point of to_float -> from_float. */
START_TEST(test_f16_bf16_roundtrip_all) {
  for (uint32_t b = 0; b < 65536; b++) {
    uint16_t h = (uint16_t)b, g;
    float f;
    tt(NB_TYPE_F16)->to_float(&h, &f, 1);
    if (!isnan(f)) {
      tt(NB_TYPE_F16)->from_float(&f, &g, 1);
      ck_assert_uint_eq(g, h);
    }
    tt(NB_TYPE_BF16)->to_float(&h, &f, 1);
    if (!isnan(f)) {
      tt(NB_TYPE_BF16)->from_float(&f, &g, 1);
      ck_assert_uint_eq(g, h);
    }
  }
}
END_TEST

/* -------------------------------------------------------------- Q8_0 */

static void q8_block(const unsigned char *p, int b, uint16_t *d,
                     int8_t *qs) {
  memcpy(d, p + 34 * b, 2);
  memcpy(qs, p + 34 * b + 2, 32);
}

START_TEST(test_q8_0_known) {
  /* amax 127 -> d = 1 exactly, id = 1, q = roundf(x): halves go away from
   * zero (2.5 -> 3, -2.5 -> -3), which distinguishes ggml's roundf from
   * rint's ties-to-even. */
  float x[32] = {127.0f, -127.0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 0.49f,
                 -0.49f, 3.75f, 100.2f, -64.5f};
  for (int j = 12; j < 32; j++) x[j] = (float)(j - 20);
  const int8_t want[12] = {127, -127, 1, -1, 2, 3, -3, 0, 0, 4, 100, -65};
  unsigned char buf[34];
  tt(NB_TYPE_Q8_0)->from_float(x, buf, 32);
  uint16_t d;
  int8_t qs[32];
  q8_block(buf, 0, &d, qs);
  ck_assert_uint_eq(d, 0x3c00);
  for (int j = 0; j < 12; j++) ck_assert_int_eq(qs[j], want[j]);
  for (int j = 12; j < 32; j++) ck_assert_int_eq(qs[j], j - 20);
  float y[32];
  tt(NB_TYPE_Q8_0)->to_float(buf, y, 32);
  for (int j = 0; j < 32; j++) ck_assert(y[j] == (float)qs[j]);

  /* every half-integer in [-127, 127] and its float neighbours: at d = 1
   * the level is exactly roundf(x) (halves away from zero) */
  for (int i = -254; i <= 254; i++) {
    float blk[32];
    blk[0] = 127.0f; /* amax 127 -> d = 1, id = 1 */
    const float v = (float)i * 0.5f;
    for (int j = 1; j < 32; j++) {
      float c = v;
      if (j % 3 == 1) c = nextafterf(v, 200.0f);
      if (j % 3 == 2) c = nextafterf(v, -200.0f);
      blk[j] = fmaxf(-127.0f, fminf(127.0f, c + (float)((j / 3) % 2)));
    }
    tt(NB_TYPE_Q8_0)->from_float(blk, buf, 32);
    q8_block(buf, 0, &d, qs);
    ck_assert_uint_eq(d, 0x3c00);
    for (int j = 0; j < 32; j++)
      ck_assert_msg(qs[j] == (int8_t)roundf(blk[j]), "x=%.9g: q %d", (double)blk[j], qs[j]);
  }

  /* amax 1.0: d = 1/127 (fp16 0x2008), q = roundf(x * 127) */
  float z[32];
  for (int j = 0; j < 32; j++) z[j] = (float)j / 31.0f - 0.5f;
  z[7] = -1.0f;
  tt(NB_TYPE_Q8_0)->from_float(z, buf, 32);
  q8_block(buf, 0, &d, qs);
  ck_assert_uint_eq(d, 0x2008);
  ck_assert_int_eq(qs[7], -127);
  ck_assert_int_eq(qs[0], -64);  /* -0.5*127 = -63.5 -> -64 */
  ck_assert_int_eq(qs[31], 64);  /* 0.5*127 = 63.5 -> 64 */
  ck_assert_int_eq(qs[16], 2);   /* (16/31-0.5)*127 = 2.048 -> 2 */
}
END_TEST

START_TEST(test_q8_0_edges) {
  unsigned char buf[34 * 4];
  uint16_t d;
  int8_t qs[32];
  float x[128], y[128];
  /* block 0: all zeros -> d = 0, q = 0 */
  for (int j = 0; j < 32; j++) x[j] = 0.0f;
  /* block 1: +-65504 (the largest half) */
  for (int j = 0; j < 32; j++) x[32 + j] = (j & 1) ? -65504.0f : 65504.0f * j / 31.0f;
  /* block 2: negative max, tiny values */
  for (int j = 0; j < 32; j++) x[64 + j] = 1e-6f * (float)(j - 10);
  x[64 + 5] = -3e-5f;
  /* block 3: one huge value dominates, others round to 0 */
  for (int j = 0; j < 32; j++) x[96 + j] = 1e-3f;
  x[96 + 31] = 1e6f;
  tt(NB_TYPE_Q8_0)->from_float(x, buf, 128);
  tt(NB_TYPE_Q8_0)->to_float(buf, y, 128);

  q8_block(buf, 0, &d, qs);
  ck_assert_uint_eq(d, 0);
  for (int j = 0; j < 32; j++) ck_assert_int_eq(qs[j], 0);
  for (int j = 0; j < 32; j++) ck_assert(y[j] == 0.0f);

  q8_block(buf, 1, &d, qs);
  ck_assert_uint_eq(d, nb__f32_to_f16(65504.0f / 127.0f));
  ck_assert_int_eq(qs[1], -127);
  ck_assert_int_eq(qs[0], 0);

  q8_block(buf, 2, &d, qs);
  ck_assert_int_eq(qs[5], -127);
  ck_assert_uint_eq(d, nb__f32_to_f16(3e-5f / 127.0f)); /* a half subnormal */
  ck_assert_uint_lt(d, 0x0400);

  q8_block(buf, 3, &d, qs);
  ck_assert_int_eq(qs[31], 127);
  for (int j = 0; j < 31; j++) ck_assert_int_eq(qs[j], 0);
  ck_assert_uint_eq(d, nb__f32_to_f16(1e6f / 127.0f));

  /* error bound for blocks whose scale is a normal half:
   * |x - q*d16| <= d/2 + 127*|d - d16| <= d * (0.5 + 127 * 2^-11) */
  for (int b = 1; b < 4; b += 2) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
    const double bound = amax / 127.0 * (0.5 + 127.0 / 2048.0) * 1.0001;
    for (int j = 0; j < 32; j++)
      ck_assert_msg(fabs((double)x[32 * b + j] - y[32 * b + j]) <= bound,
                    "block %d elem %d: %g vs %g", b, j,
                    (double)x[32 * b + j], (double)y[32 * b + j]);
  }
}
END_TEST

/* -------------------------------------------------------------- Q4_0 */

static void q4_levels(const unsigned char *p, int b, uint16_t *d, int *q) {
  memcpy(d, p + 18 * b, 2);
  for (int j = 0; j < 16; j++) {
    q[j] = p[18 * b + 2 + j] & 0x0f;
    q[j + 16] = p[18 * b + 2 + j] >> 4;
  }
}

START_TEST(test_q4_0_known) {
  /* max = +8 (the element of largest |x|, with its sign) -> d = -1,
   * id = -1, q = MIN(15, (int8_t)(8.5 - x)), truncating toward zero. */
  float x[32] = {0};
  x[0] = 8.0f;    /* 0.5 -> 0 */
  x[1] = -8.0f;   /* 16.5 -> 16 -> clamped 15 */
  x[2] = 0.0f;    /* 8.5 -> 8 */
  x[3] = 1.0f;    /* 7.5 -> 7 */
  x[4] = -1.0f;   /* 9.5 -> 9 */
  x[5] = 0.5f;    /* 8.0 -> 8 */
  x[6] = -0.5f;   /* 9.0 -> 9 */
  x[7] = 0.6f;    /* 7.9 -> 7 */
  x[8] = 3.5f;    /* 5.0 -> 5 */
  x[9] = -3.5f;   /* 12.0 -> 12 */
  x[16] = 7.9f;   /* 0.6 -> 0: element 16 is the high nibble of byte 0 */
  x[17] = -7.4f;  /* 15.9 -> 15 */
  x[31] = 2.0f;   /* 6.5 -> 6 */
  const int want[32] = {0, 15, 8, 7, 9, 8, 9, 7, 5, 12, 8, 8, 8, 8, 8, 8,
                        0, 15, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 6};
  unsigned char buf[18];
  tt(NB_TYPE_Q4_0)->from_float(x, buf, 32);
  uint16_t d;
  int q[32];
  q4_levels(buf, 0, &d, q);
  ck_assert_uint_eq(d, 0xbc00); /* -1.0 */
  for (int j = 0; j < 32; j++)
    ck_assert_msg(q[j] == want[j], "elem %d: q %d want %d", j, q[j], want[j]);
  ck_assert_uint_eq(buf[2], 0x00);  /* elem 0 low, elem 16 high */
  ck_assert_uint_eq(buf[3], 0xff);  /* elem 1 low (15), elem 17 high (15) */
  ck_assert_uint_eq(buf[17], 0x68); /* elem 15 low (8), elem 31 high (6) */
  float y[32];
  tt(NB_TYPE_Q4_0)->to_float(buf, y, 32);
  for (int j = 0; j < 32; j++) ck_assert(y[j] == (float)(q[j] - 8) * -1.0f);
  ck_assert(y[0] == 8.0f && y[1] == -7.0f);
}
END_TEST

START_TEST(test_q4_0_edges) {
  float x[32 * 4], y[32 * 4];
  unsigned char buf[18 * 4];
  uint16_t d;
  int q[32];
  /* block 0: zeros -> d = 0, every level 8 (bytes 0x88) */
  for (int j = 0; j < 32; j++) x[j] = 0.0f;
  /* block 1: negative max -> positive d; -max maps to 16 -> 15 */
  for (int j = 0; j < 32; j++) x[32 + j] = (float)(j - 16) * 0.25f;
  x[32 + 3] = -8.0f; /* max = -8, d = 1 */
  x[32 + 4] = 8.0f;  /* same magnitude, later: not chosen */
  /* block 2: ties in magnitude, the first wins: max = -4, d = 0.5 */
  for (int j = 0; j < 32; j++) x[64 + j] = 0.0f;
  x[64 + 2] = -4.0f;
  x[64 + 9] = 4.0f;
  /* block 3: +-65504 */
  for (int j = 0; j < 32; j++) x[96 + j] = (j % 3 == 0) ? 65504.0f : -65504.0f * j / 40.0f;
  tt(NB_TYPE_Q4_0)->from_float(x, buf, 128);
  tt(NB_TYPE_Q4_0)->to_float(buf, y, 128);

  q4_levels(buf, 0, &d, q);
  /* max = 0 -> d = 0.0f / -8 = -0.0f: the stored scale is negative zero
   * (0x8000), as in ggml's files */
  ck_assert_uint_eq(d, 0x8000);
  for (int j = 0; j < 16; j++) ck_assert_uint_eq(buf[2 + j], 0x88);
  for (int j = 0; j < 32; j++) ck_assert(y[j] == 0.0f);

  q4_levels(buf, 1, &d, q);
  ck_assert_uint_eq(d, 0x3c00); /* +1.0 */
  ck_assert_int_eq(q[3], 0);
  ck_assert_int_eq(q[4], 15);
  ck_assert(y[32 + 3] == -8.0f && y[32 + 4] == 7.0f);
  for (int j = 0; j < 32; j++)
    if (j != 3 && j != 4)
      ck_assert_int_eq(q[j], (int)((float)(j - 16) * 0.25f + 8.5f));

  q4_levels(buf, 2, &d, q);
  ck_assert_uint_eq(d, 0x3800); /* +0.5 */
  ck_assert_int_eq(q[2], 0);
  ck_assert_int_eq(q[9], 15);
  ck_assert_int_eq(q[0], 8);

  q4_levels(buf, 3, &d, q);
  ck_assert_uint_eq(d, nb__f32_to_f16(65504.0f / -8.0f));
  ck_assert_int_eq(q[0], 0);
  /* |x - deq| <= |d|/2 except the clamped +8|d| end (error up to |d|) */
  for (int j = 0; j < 32; j++)
    ck_assert(fabs((double)x[96 + j] - y[96 + j]) <= 8188.0 * 1.001);
}
END_TEST

/* Random rows: to_float(from_float(x)) is within the per-type error bound
 * and from_float is deterministic and row-split invariant (quantizing a
 * row at once or block by block gives the same bytes). */
START_TEST(test_roundtrip_random) {
  rng_t r = {0x9e3779b97f4a7c15ull};
  enum { N = 32 * 64 };
  static float x[N], y[N];
  static unsigned char a[N * 4], b[N * 4];
  for (int i = 0; i < N; i++) x[i] = rng_normal(&r, 0.02f);
  for (size_t ti = 0; ti < NB__ARRAY_LEN(k_types); ti++) {
    const nb__type_traits *t = tt(k_types[ti]);
    t->from_float(x, a, N);
    for (int blk = 0; blk < N / 32; blk++)
      t->from_float(x + 32 * blk, b + (size_t)blk * 32 / t->blck * t->bytes, 32);
    ck_assert_int_eq(memcmp(a, b, nb_type_row_bytes(k_types[ti], N)), 0);
    t->to_float(a, y, N);
    double se = 0, sx = 0;
    for (int i = 0; i < N; i++) {
      se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
      sx += (double)x[i] * x[i];
    }
    const double snr = se > 0 ? 10 * log10(sx / se) : INFINITY;
    /* measured SNR floors: f32 exact; f16 ~ 70 dB, bf16 ~ 50 dB,
     * q8_0 ~ 40 dB, q4_0 ~ 18 dB on normal data */
    const double floor_db[] = {1e9, 65, 45, 35, 15};
    ck_assert_msg(snr >= floor_db[ti], "%s: snr %.2f dB", t->name, snr);
    if (k_types[ti] != NB_TYPE_F32) ck_assert(isfinite(snr));
  }
}
END_TEST

/* from_float reproduces every block llama.cpp's quantizer wrote for
 * stories260K (Q8_0 and Q4_0 tensors, and the F16 ffn_down fallbacks),
 * starting from the F32 file llama.cpp quantized. */
START_TEST(test_from_float_equals_llamacpp) {
  const char *refs[] = {"llamacpp/stories260K-q8_0.gguf",
                        "llamacpp/stories260K-q4_0.gguf"};
  nb_gguf *src = NULL;
  nb_err e;
  ck_assert_int_eq(nb_gguf_open(&src, nbt_shared("llamacpp/stories260K-f32.gguf"), &e), 0);
  for (int f = 0; f < 2; f++) {
    nb_gguf *ref = NULL;
    ck_assert_int_eq(nb_gguf_open(&ref, nbt_shared(refs[f]), &e), 0);
    int n_checked[NB_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < nb_gguf_n_tensors(ref); i++) {
      const nb_tensor_info *t = nb_gguf_tensor(ref, i);
      if (t->type == NB_TYPE_F32) continue;
      char name[128];
      snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
      const int64_t j = nb_gguf_find_tensor(src, name);
      ck_assert_int_ge(j, 0);
      const nb_tensor_info *s = nb_gguf_tensor(src, j);
      ck_assert_uint_eq(s->type, NB_TYPE_F32);
      const int64_t n = (int64_t)(s->nbytes / 4);
      unsigned char *buf = nb_malloc(t->nbytes);
      tt(t->type)->from_float(s->data, buf, n);
      ck_assert_msg(memcmp(buf, t->data, t->nbytes) == 0, "%s %s: %s",
                    refs[f], name, tt(t->type)->name);
      nb_free(buf);
      n_checked[t->type]++;
    }
    if (f == 0) {
      ck_assert_int_eq(n_checked[NB_TYPE_Q8_0], 32);
    } else {
      ck_assert_int_eq(n_checked[NB_TYPE_Q4_0], 31);
      ck_assert_int_eq(n_checked[NB_TYPE_Q8_0], 1);
    }
    ck_assert_int_eq(n_checked[NB_TYPE_F16], 5);
    nb_gguf_close(ref);
  }
  nb_gguf_close(src);
}
END_TEST

/* ----------------------------------------------------------- kernels */

enum { KR = 9, KT = 3 }; /* weight rows, tokens */

/* Builds X (nt rows of k) in format f from float values and writes back
 * the values the kernel will actually see (after conversion). */
static size_t make_x(nb__xfmt f, const float *src, int64_t k, int nt,
                     unsigned char *xbuf, float *seen) {
  const size_t ldx = nb__xfmt_row_bytes(f, k);
  for (int t = 0; t < nt; t++) {
    const float *s = src + (size_t)t * k;
    unsigned char *row = xbuf + (size_t)t * ldx;
    float *v = seen + (size_t)t * k;
    switch (f) {
      case NB__X_F32:
        memcpy(row, s, (size_t)k * 4);
        memcpy(v, s, (size_t)k * 4);
        break;
      case NB__X_F16:
        tt(NB_TYPE_F16)->from_float(s, row, k);
        tt(NB_TYPE_F16)->to_float(row, v, k);
        break;
      default:
        tt(NB_TYPE_Q8_0)->from_float(s, row, k);
        tt(NB_TYPE_Q8_0)->to_float(row, v, k);
        break;
    }
  }
  return ldx;
}

static void check_gemm_pair(const nb__kernels *kt, uint32_t wt, nb__xfmt f,
                            int64_t k, rng_t *r, float wscale) {
  const nb__type_traits *t = tt(wt);
  const size_t ldw = nb_type_row_bytes(wt, k);
  float *wf = nb_malloc((size_t)KR * k * 4);        /* (KR, k) */
  float *wseen = nb_malloc((size_t)KR * k * 4);     /* (KR, k) */
  unsigned char *w = nb_malloc(KR * ldw);           /* (KR, ldw bytes) */
  float *xf = nb_malloc((size_t)KT * k * 4);        /* (KT, k) */
  float *xseen = nb_malloc((size_t)KT * k * 4);     /* (KT, k) */
  unsigned char *x = nb_malloc((size_t)KT * k * 4); /* (KT, ldx bytes) */
  float y[KT * KR], y2[KT * KR], y3[KT * KR];
  for (int64_t i = 0; i < KR * k; i++) wf[i] = rng_normal(r, wscale);
  for (int64_t i = 0; i < KT * k; i++) xf[i] = rng_normal(r, 1.0f);
  /* a few edge rows: zero weights, a zero input, a large outlier */
  for (int64_t i = 0; i < k; i++) wf[2 * k + i] = 0.0f;
  wf[4 * k + 5] = 60000.0f * wscale;
  for (int64_t i = 0; i < k; i++) xf[1 * k + i] = 0.0f;
  for (int i = 0; i < KR; i++) {
    t->from_float(wf + (size_t)i * k, w + i * ldw, k);
    t->to_float(w + i * ldw, wseen + (size_t)i * k, k);
  }
  const size_t ldx = make_x(f, xf, k, KT, x, xseen);
  nb__gemm_fn g = kt->gemm[wt][f];
  ck_assert_msg(g != NULL, "%s x %d: no gemm", t->name, (int)f);

  /* (1) against a double reference over the values the kernel sees.
   * Tolerance: float accumulation of k terms has error at most about
   * k * 2^-24 * sum|w x| (sequential summation bound); we assert
   * |y - ref| <= k * 2^-24 * sum|w x| + 1e-30. A layout bug (wrong nibble,
   * missing -8, wrong scale) is off by O(1) relative. */
  g(k, w, ldw, x, ldx, y, KR, 0, KR, KT);
  for (int tk = 0; tk < KT; tk++)
    for (int rr = 0; rr < KR; rr++) {
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < k; i++) {
        const double p = (double)wseen[(size_t)rr * k + i] * xseen[(size_t)tk * k + i];
        ref += p;
        mag += fabs(p);
      }
      const double tol = (double)k * ldexp(1.0, -24) * mag + 1e-30;
      const double got = y[tk * KR + rr];
      ck_assert_msg(fabs(got - ref) <= tol,
                    "%s x xfmt %d, k %lld, row %d tok %d: %.9g vs ref %.9g "
                    "(tol %.3g)",
                    t->name, (int)f, (long long)k, rr, tk, got, ref, tol);
      if (rr == 2 || tk == 1) ck_assert(got == 0.0f);
    }

  /* (2) split invariance: per row, per token, and odd row ranges with a
   * different ldy all give the same bits */
  for (int rr = 0; rr < KR; rr++)
    for (int tk = 0; tk < KT; tk++)
      g(k, w, ldw, x + (size_t)tk * ldx, ldx, y2 + tk * KR, KR, rr, rr + 1, 1);
  ck_assert_int_eq(memcmp(y, y2, sizeof y), 0);
  g(k, w, ldw, x, ldx, y3, KR, 0, 4, KT);
  g(k, w, ldw, x, ldx, y3, KR, 4, 7, 2);
  g(k, w, ldw, x + 2 * ldx, ldx, y3 + 2 * KR, KR, 4, 7, 1);
  g(k, w, ldw, x, ldx, y3, KR, 7, KR, KT);
  ck_assert_int_eq(memcmp(y, y3, sizeof y), 0);
  /* a weight pointer advanced by r0 rows with r0 = 0 is the same rows */
  float y4[KT * KR];
  g(k, w + 3 * ldw, ldw, x, ldx, y4, KR, 0, KR - 3, KT);
  for (int tk = 0; tk < KT; tk++)
    ck_assert_int_eq(memcmp(y + tk * KR + 3, y4 + tk * KR, (KR - 3) * 4), 0);

  nb_free(wf);
  nb_free(wseen);
  nb_free(w);
  nb_free(xf);
  nb_free(xseen);
  nb_free(x);
}

START_TEST(test_scalar_gemm_all_pairs) {
  nb__kernels kt;
  nb__kernels_fill_scalar(&kt);
  ck_assert_str_eq(kt.name, "scalar");
  rng_t r = {12345};
  const int64_t ks[] = {32, 64, 288, 1024};
  int n_pairs = 0;
  for (size_t ti = 0; ti < NB__ARRAY_LEN(k_types); ti++)
    for (int f = 0; f < NB__X_COUNT; f++) {
      const uint32_t wt = k_types[ti];
      /* NB__X_QH (prepared fixed-point input) exists only in SIMD sets */
      const bool want = f != NB__X_QH && ((f != NB__X_Q8) || tt(wt)->quantized);
      ck_assert_msg((kt.gemm[wt][f] != NULL) == want, "%s x %d",
                    tt(wt)->name, f);
      if (!want) continue;
      n_pairs++;
      for (size_t ki = 0; ki < NB__ARRAY_LEN(ks); ki++)
        check_gemm_pair(&kt, wt, (nb__xfmt)f, ks[ki], &r, 0.05f);
    }
  ck_assert_int_eq(n_pairs, 12);
  /* nothing else is filled in */
  int n_filled = 0;
  for (int t = 0; t < NB_TYPE_COUNT; t++)
    for (int f = 0; f < NB__X_COUNT; f++) n_filled += kt.gemm[t][f] != NULL;
  ck_assert_int_eq(n_filled, 12);
}
END_TEST

/* F32 x F32 is run.c's matmul: sequential float sum, bit for bit. */
START_TEST(test_scalar_f32_is_runc) {
  nb__kernels kt;
  nb__kernels_fill_scalar(&kt);
  rng_t r = {777};
  enum { K = 288, R = 5 };
  float w[R * K], x[K], y[R];
  for (int i = 0; i < R * K; i++) w[i] = rng_normal(&r, 0.1f);
  for (int i = 0; i < K; i++) x[i] = rng_normal(&r, 1.0f);
  kt.gemm[NB_TYPE_F32][NB__X_F32](K, w, K * 4, x, K * 4, y, R, 0, R, 1);
  for (int i = 0; i < R; i++) {
    volatile float val = 0.0f; /* volatile: no reassociation, no fma */
    for (int j = 0; j < K; j++) {
      volatile float p = w[i * K + j] * x[j];
      val = val + p;
    }
    ck_assert_msg(y[i] == val, "row %d: %.9g vs %.9g", i, (double)y[i],
                  (double)val);
  }
}
END_TEST

/* Q8 x Q8: the integer block sums exactly, then (dw*dx)*isum per block.
 * Checked on levels that make every product exact in float. */
START_TEST(test_scalar_q8_integer_dot) {
  nb__kernels kt;
  nb__kernels_fill_scalar(&kt);
  float wv[64], xv[64];
  for (int j = 0; j < 64; j++) {
    wv[j] = (float)((j * 37) % 255 - 127); /* levels at d = 1 */
    xv[j] = (float)((j * 11) % 253 - 126);
  }
  wv[0] = 127.0f;
  xv[0] = -127.0f;
  wv[32] = -127.0f;
  xv[32] = 127.0f;
  unsigned char w8[68], w4[36], x8[68];
  tt(NB_TYPE_Q8_0)->from_float(wv, w8, 64);
  tt(NB_TYPE_Q8_0)->from_float(xv, x8, 64);
  long want = 0;
  for (int j = 0; j < 64; j++) want += (long)wv[j] * (long)xv[j];
  float y = 0;
  kt.gemm[NB_TYPE_Q8_0][NB__X_Q8](64, w8, 68, x8, 68, &y, 1, 0, 1, 1);
  ck_assert(y == (float)want);
  /* Q4_0 levels at d = -1: max element +8 */
  float w4v[64];
  for (int j = 0; j < 64; j++) w4v[j] = (float)((j * 5) % 16 - 7);
  w4v[0] = 8.0f;
  w4v[32] = 8.0f;
  tt(NB_TYPE_Q4_0)->from_float(w4v, w4, 64);
  float deq[64];
  tt(NB_TYPE_Q4_0)->to_float(w4, deq, 64);
  want = 0;
  for (int j = 0; j < 64; j++) {
    ck_assert(deq[j] == w4v[j]);
    want += (long)w4v[j] * (long)xv[j];
  }
  kt.gemm[NB_TYPE_Q4_0][NB__X_Q8](64, w4, 36, x8, 68, &y, 1, 0, 1, 1);
  ck_assert(y == (float)want);
}
END_TEST

START_TEST(test_scalar_conversions) {
  nb__kernels kt;
  nb__kernels_fill_scalar(&kt);
  rng_t r = {99};
  enum { N = 32 * 7 };
  float x[N], back[N];
  nb_f16 h[N];
  unsigned char q1[N / 32 * 34], q2[N / 32 * 34];
  for (int i = 0; i < N; i++) x[i] = rng_normal(&r, 3.0f);
  x[3] = 65504.0f;
  x[4] = -1e-7f;
  x[5] = 70000.0f;
  kt.f32_to_f16(x, h, N);
  for (int i = 0; i < N; i++) ck_assert_uint_eq(h[i], nb__f32_to_f16(x[i]));
  kt.f16_to_f32(h, back, N);
  for (int i = 0; i < N; i++)
    ck_assert(memcmp(&back[i], &(float){nb__f16_to_f32(h[i])}, 4) == 0);
  kt.f32_to_f16(x, h, 3); /* any length */
  kt.quantize_q8(x, q1, N);
  tt(NB_TYPE_Q8_0)->from_float(x, q2, N);
  ck_assert_int_eq(memcmp(q1, q2, sizeof q1), 0);
  /* xfmt helpers */
  ck_assert_uint_eq(nb__xfmt_row_bytes(NB__X_F32, 64), 256);
  ck_assert_uint_eq(nb__xfmt_row_bytes(NB__X_F16, 64), 128);
  ck_assert_uint_eq(nb__xfmt_row_bytes(NB__X_Q8, 64), 68);
  ck_assert_int_eq(nb__xfmt_for(NB_TYPE_Q4_0, NB_ACT_Q8), NB__X_Q8);
  ck_assert_int_eq(nb__xfmt_for(NB_TYPE_Q8_0, NB_ACT_Q8), NB__X_Q8);
  ck_assert_int_eq(nb__xfmt_for(NB_TYPE_F16, NB_ACT_Q8), NB__X_F16);
  ck_assert_int_eq(nb__xfmt_for(NB_TYPE_F32, NB_ACT_Q8), NB__X_F16);
  ck_assert_int_eq(nb__xfmt_for(NB_TYPE_Q4_0, NB_ACT_F16), NB__X_F16);
  ck_assert_int_eq(nb__xfmt_for(NB_TYPE_Q4_0, NB_ACT_F32), NB__X_F32);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("quant");
  TCase *tc = tcase_create("types");
  tcase_add_test(tc, test_table_rows);
  tcase_add_test(tc, test_names);
  tcase_add_test(tc, test_sizes);
  tcase_add_test(tc, test_f16_bf16_rows);
  tcase_add_test(tc, test_f16_bf16_roundtrip_all);
  tcase_add_test(tc, test_q8_0_known);
  tcase_add_test(tc, test_q8_0_edges);
  tcase_add_test(tc, test_q4_0_known);
  tcase_add_test(tc, test_q4_0_edges);
  tcase_add_test(tc, test_roundtrip_random);
  tcase_add_test(tc, test_from_float_equals_llamacpp);
  suite_add_tcase(s, tc);
  TCase *tk = tcase_create("scalar kernels");
  tcase_add_test(tk, test_scalar_gemm_all_pairs);
  tcase_add_test(tk, test_scalar_f32_is_runc);
  tcase_add_test(tk, test_scalar_q8_integer_dot);
  tcase_add_test(tk, test_scalar_conversions);
  suite_add_tcase(s, tk);
  return s;
}

int main(void) { return nbt_run_suite(suite()); }
