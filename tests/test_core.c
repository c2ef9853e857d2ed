/* test_core.c: status codes, messages, allocation and FP16/BF16 conversion. */
#include <math.h>
#include <string.h>

#include "fp16.h"
#include "nb_internal.h"
#include "testutil.h"

START_TEST(test_codes_distinct_and_named) {
  int codes[] = {
#define XX(c, s) NB_##c,
      NB_ERRNO_MAP(XX)
#undef XX
  };
  for (size_t i = 0; i < NB__ARRAY_LEN(codes); i++) {
    ck_assert_int_lt(codes[i], 0);
    ck_assert_str_ne(nb_strerror(codes[i]), "unknown error");
    ck_assert_int_eq(strncmp(nb_errname(codes[i]), "NB_E", 4), 0);
    for (size_t j = 0; j < i; j++) ck_assert_int_ne(codes[i], codes[j]);
  }
  ck_assert_str_eq(nb_strerror(NB_OK), "success");
  ck_assert_str_eq(nb_strerror(12345), "unknown error");
  ck_assert_str_eq(nb_errname(NB_ETRUNC), "NB_ETRUNC");
}
END_TEST

START_TEST(test_err_fill_and_prefix) {
  nb_err e;
  ck_assert_int_eq(nb__err(&e, NB_ETRUNC, "tensor %s: cut", "x"), NB_ETRUNC);
  ck_assert_int_eq(e.code, NB_ETRUNC);
  ck_assert_str_eq(e.msg, "tensor x: cut");
  nb__err_prefix(&e, NB_EMODEL, "file %s", "a.gguf");
  ck_assert_str_eq(e.msg, "file a.gguf: tensor x: cut");
  ck_assert_int_eq(e.code, NB_EMODEL);
  ck_assert_int_eq(nb__err(NULL, NB_EIO, "ignored"), NB_EIO);
  nb__err(&e, NB_ENOMEM, NULL);
  ck_assert_str_eq(e.msg, "out of memory");
}
END_TEST

START_TEST(test_alloc) {
  char *p = nb_malloc(100);
  ck_assert_ptr_nonnull(p);
  memset(p, 1, 100);
  p = nb_realloc(p, 1000);
  ck_assert_int_eq(p[99], 1);
  nb_free(p);
  int *z = nb_calloc(10, sizeof(int));
  for (int i = 0; i < 10; i++) ck_assert_int_eq(z[i], 0);
  nb_free(z);
  nb_free(NULL);
}
END_TEST

START_TEST(test_f16_known_values) {
  ck_assert_uint_eq(nb__f32_to_f16(1.0f), 0x3c00);
  ck_assert_uint_eq(nb__f32_to_f16(-2.0f), 0xc000);
  ck_assert_uint_eq(nb__f32_to_f16(65504.0f), 0x7bff);
  ck_assert_uint_eq(nb__f32_to_f16(65520.0f), 0x7c00); /* rounds to inf */
  ck_assert_uint_eq(nb__f32_to_f16(5.9604644775390625e-8f), 0x0001);
  ck_assert_uint_eq(nb__f32_to_f16(2.98023223876953125e-8f), 0x0000); /* tie->even */
  ck_assert_uint_eq(nb__f32_to_f16(1.0f + 1.0f / 2048), 0x3c00);      /* tie->even */
  ck_assert_uint_eq(nb__f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);      /* tie->even */
  ck_assert_uint_eq(nb__f32_to_f16(INFINITY), 0x7c00);
  ck_assert(isnan(nb__f16_to_f32(nb__f32_to_f16(NAN))));
  ck_assert(nb__f16_to_f32(0x0001) == 5.9604644775390625e-8f);
  ck_assert(nb__f16_to_f32(0x7bff) == 65504.0f);
  ck_assert_uint_eq(nb__f32_to_bf16(1.0f), 0x3f80);
  ck_assert(nb__bf16_to_f32(0x3f80) == 1.0f);
  ck_assert_uint_eq(nb__f32_to_bf16(1.00390625f), 0x3f80); /* tie->even */
}
END_TEST

/* Every half value survives half -> float -> half. */
START_TEST(test_f16_roundtrip_all) {
  for (uint32_t h = 0; h < 65536; h++) {
    float f = nb__f16_to_f32((nb_f16)h);
    if (isnan(f)) continue;
    ck_assert_uint_eq(nb__f32_to_f16(f), h);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_codes_distinct_and_named);
  tcase_add_test(tc, test_err_fill_and_prefix);
  tcase_add_test(tc, test_alloc);
  tcase_add_test(tc, test_f16_known_values);
  tcase_add_test(tc, test_f16_roundtrip_all);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
