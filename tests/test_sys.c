/* test_sys.c: the system probes: nb_measure_read_bandwidth (argument checks,
 * a finite positive rate for 1 and 2 threads, the same order of magnitude
 * across thread counts) and nb_peak_rss (grows by what we touch). Speed
 * itself is never asserted. */
#include <math.h>
#include <string.h>
#include <sys/mman.h>

#include "nb_internal.h"
#include "testutil.h"

START_TEST(test_membw_rejects_bad_args) {
  ck_assert(nb_measure_read_bandwidth(0, 64u << 20, 3) == NB_EINVAL);
  ck_assert(nb_measure_read_bandwidth(2, 64u << 20, 0) == NB_EINVAL);
  ck_assert(nb_measure_read_bandwidth(2, 1024, 3) == NB_EINVAL);
  ck_assert(nb_measure_read_bandwidth(-1, 64u << 20, 3) == NB_EINVAL);
}
END_TEST

START_TEST(test_membw_positive) {
  /* 64 MiB: larger than any L3 the CI machine has. */
  double one = nb_measure_read_bandwidth(1, 64u << 20, 3);
  double two = nb_measure_read_bandwidth(2, 64u << 20, 4);
  ck_assert_msg(isfinite(one) && one > 0, "1 thread: %g", one);
  ck_assert_msg(isfinite(two) && two > 0, "2 threads: %g", two);
  /* A buffer size that is not a multiple of the per-thread group. */
  double odd = nb_measure_read_bandwidth(3, (64u << 20) + 12345, 1);
  ck_assert_msg(isfinite(odd) && odd > 0, "3 threads: %g", odd);
}
END_TEST

/* The probe over caller memory: argument checks, and a read-only mapping
 * (a write would fault) at an unaligned start and an odd length gives a
 * finite positive rate with the bytes unchanged. */
START_TEST(test_membw_of_caller_memory) {
  size_t n = 32u << 20;
  unsigned char *m = mmap(NULL, n, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert(m != MAP_FAILED);
  for (size_t i = 0; i < n; i++) m[i] = (unsigned char)(i * 131u + 7u);
  ck_assert_int_eq(mprotect(m, n, PROT_READ), 0);
  ck_assert(nb_measure_read_bandwidth_of(NULL, n, 2, 3) == NB_EINVAL);
  ck_assert(nb_measure_read_bandwidth_of(m, n, 0, 3) == NB_EINVAL);
  ck_assert(nb_measure_read_bandwidth_of(m, n, 2, 0) == NB_EINVAL);
  ck_assert(nb_measure_read_bandwidth_of(m + 3, 300, 2, 1) == NB_EINVAL);
  double one = nb_measure_read_bandwidth_of(m + 3, n - 1000, 1, 3);
  double two = nb_measure_read_bandwidth_of(m + 5, n - 77, 2, 3);
  ck_assert_msg(isfinite(one) && one > 0, "1 thread: %g", one);
  ck_assert_msg(isfinite(two) && two > 0, "2 threads: %g", two);
  /* small: cache-resident, still a rate */
  double small = nb_measure_read_bandwidth_of(m + 1, 4096, 2, 2);
  ck_assert_msg(isfinite(small) && small > 0, "4 KiB: %g", small);
  for (size_t i = 0; i < n; i += 4099)
    ck_assert_uint_eq(m[i], (unsigned char)(i * 131u + 7u));
  ck_assert_int_eq(munmap(m, n), 0);
}
END_TEST

START_TEST(test_peak_rss_grows) {
  uint64_t before = nb_peak_rss();
  ck_assert_uint_gt(before, 0);
  size_t n = 256u << 20;
  char *p = nb_malloc(n);
  ck_assert_ptr_nonnull(p);
  memset(p, 1, n); /* resident now */
  uint64_t after = nb_peak_rss();
  ck_assert_msg(after >= before + n - (16u << 20),
                "peak RSS %llu -> %llu after touching %zu bytes",
                (unsigned long long)before, (unsigned long long)after, n);
  nb_free(p);
  /* A high-water mark (Linux keeps RSS counters per thread and folds them
   * in lazily, so allow a MiB of slack). */
  ck_assert_uint_ge(nb_peak_rss() + (1u << 20), after);
}
END_TEST

/* After a reset the peak drops back near the current RSS (the freed block no
 * longer counts), then grows again with what is touched. Linux only: where
 * the reset is impossible nb_peak_rss_reset must say so. */
START_TEST(test_peak_rss_reset) {
#if defined(__linux__)
  size_t n = 256u << 20;
  char *p = nb_malloc(n);
  ck_assert_ptr_nonnull(p);
  memset(p, 1, n);
  uint64_t high = nb_peak_rss();
  nb_free(p); /* mimalloc returns blocks this large to the OS */
  ck_assert(nb_peak_rss_reset());
  uint64_t low = nb_peak_rss();
  ck_assert_msg(low + (128u << 20) < high, "peak %llu after reset, %llu before",
                (unsigned long long)low, (unsigned long long)high);
  p = nb_malloc(64u << 20);
  memset(p, 2, 64u << 20);
  ck_assert_uint_ge(nb_peak_rss(), low + (60u << 20));
  nb_free(p);
#else
  ck_assert(!nb_peak_rss_reset());
#endif
}
END_TEST

int main(void) {
  Suite *s = suite_create("sys");
  TCase *tc = tcase_create("sys");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_membw_rejects_bad_args);
  tcase_add_test(tc, test_membw_positive);
  tcase_add_test(tc, test_membw_of_caller_memory);
  tcase_add_test(tc, test_peak_rss_grows);
  tcase_add_test(tc, test_peak_rss_reset);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
