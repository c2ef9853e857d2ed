/*
 * membw.c: nb_measure_read_bandwidth, the streaming-read probe that `nibble
 * bench` runs before and after its tests, so that decode speed can be stated
 * as a fraction of what this machine's memory delivers at that moment.
 *
 * Each thread of a pool sums its own slice of one buffer (much larger than
 * the last-level cache, so every rep streams from DRAM); a rep is timed from
 * dispatch to the last thread's return. nb_measure_read_bandwidth_of runs
 * the same reads over the caller's memory (bench: the model's mapped
 * weights, where the page cache put them). The read loop is the only hot
 * code: it uses 256-bit loads when the CPU has AVX2 (compiled for that one
 * function with a target attribute and chosen at run time), else an
 * unrolled uint64 loop with four independent accumulators.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "nb_internal.h"
#include "sys/pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define NB__MEMBW_MAX_REPS 1000
#define NB__MEMBW_MIN_BYTES (1u << 20)

typedef uint64_t (*nb__sum_fn)(const uint64_t *p, size_t n);

/* n is a multiple of 32 (words). */
static uint64_t sum_u64(const uint64_t *p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i < n; i += 32) {
    for (size_t j = 0; j < 32; j += 4) {
      a += p[i + j];
      b += p[i + j + 1];
      c += p[i + j + 2];
      d += p[i + j + 3];
    }
  }
  return a + b + c + d;
}

#if defined(__x86_64__)
/* n is a multiple of 32 (words), p is 32-byte aligned. */
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint64_t *p,
                                                        size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (size_t i = 0; i < n; i += 32) {
    const __m256i *v = (const __m256i *)(p + i);
    a = _mm256_add_epi64(a, _mm256_load_si256(v + 0));
    b = _mm256_add_epi64(b, _mm256_load_si256(v + 1));
    c = _mm256_add_epi64(c, _mm256_load_si256(v + 2));
    d = _mm256_add_epi64(d, _mm256_load_si256(v + 3));
    a = _mm256_add_epi64(a, _mm256_load_si256(v + 4));
    b = _mm256_add_epi64(b, _mm256_load_si256(v + 5));
    c = _mm256_add_epi64(c, _mm256_load_si256(v + 6));
    d = _mm256_add_epi64(d, _mm256_load_si256(v + 7));
  }
  a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
  uint64_t lanes[4];
  _mm256_storeu_si256((__m256i *)lanes, a);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

static nb__sum_fn pick_sum(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return sum_avx2;
#endif
  return sum_u64;
}

typedef struct membw_task {
  uint64_t *buf;  /* (n_words) 64-byte aligned */
  size_t n_words; /* a multiple of 32 * nth */
  nb__sum_fn sum;
  bool fill;      /* first pass: write the pages (first touch) */
  uint64_t sums[64 * 8]; /* per part, one cache line apart: keeps the reads
                            observable so they are not optimised away */
} membw_task;

static void membw_part(void *arg, int32_t ith, int32_t nth) {
  membw_task *t = arg;
  int64_t b, e;
  nb__split((int64_t)t->n_words, ith, nth, 32, &b, &e);
  uint64_t s;
  if (t->fill) {
    for (int64_t i = b; i < e; i++) t->buf[i] = (uint64_t)i * 0x9e3779b97f4a7c15ull;
    s = 0;
  } else {
    s = t->sum(t->buf + b, (size_t)(e - b));
  }
  if (ith < 64) t->sums[ith * 8] += s;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The probe's body over t->buf (t->n_words): a first pass writes it when
 * t->fill (first touch), then one untimed read pass, then reps timed
 * ones; the median rep in bytes/s, or a negative code. */
static double run_probe(membw_task *t, int32_t n_threads, int reps) {
  double result = NB_ENOMEM;
  nb__pool *pool = NULL;
  double *times = nb_malloc((size_t)reps * sizeof *times);
  if (!times) goto out;
  t->sum = pick_sum();
  int rc = nb__pool_new(&pool, n_threads, NULL);
  if (rc != NB_OK) {
    result = rc;
    goto out;
  }
  /* Touch every page from the threads that will read it (our own buffer
   * only), then one untimed read pass to settle the TLB and the threads. */
  if (t->fill) {
    nb__pool_run(pool, membw_part, t);
    t->fill = false;
  }
  nb__pool_run(pool, membw_part, t);
  const double bytes = (double)t->n_words * sizeof(uint64_t);
  for (int r = 0; r < reps; r++) {
    uint64_t t0 = uv_hrtime();
    nb__pool_run(pool, membw_part, t);
    uint64_t dt = uv_hrtime() - t0;
    times[r] = bytes / ((double)(dt ? dt : 1) * 1e-9);
  }
  qsort(times, (size_t)reps, sizeof *times, cmp_double);
  result = reps % 2 ? times[reps / 2]
                    : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
out:
  nb__pool_free(pool);
  nb_free(times);
  return result;
}

static bool args_ok(int32_t n_threads, int reps) {
  return n_threads >= 1 && n_threads <= 64 && reps >= 1 &&
         reps <= NB__MEMBW_MAX_REPS;
}

double nb_measure_read_bandwidth(int32_t n_threads, size_t bytes, int reps) {
  if (!args_ok(n_threads, reps) || bytes < NB__MEMBW_MIN_BYTES)
    return NB_EINVAL;
  /* Whole 256-byte groups for every part. */
  size_t group = 32 * sizeof(uint64_t) * (size_t)n_threads;
  bytes -= bytes % group;
  double result = NB_ENOMEM;
  membw_task *t = nb_calloc(1, sizeof *t);
  void *raw = nb_malloc(bytes + 64);
  if (!t || !raw) goto out;
  t->buf = (uint64_t *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
  t->n_words = bytes / sizeof(uint64_t);
  t->fill = true;
  result = run_probe(t, n_threads, reps);
out:
  nb_free(raw);
  nb_free(t);
  return result;
}

double nb_measure_read_bandwidth_of(const void *p, size_t bytes,
                                    int32_t n_threads, int reps) {
  if (p == NULL || !args_ok(n_threads, reps)) return NB_EINVAL;
  /* Read only: the 64-byte aligned whole 256-byte groups inside [p,
   * p + bytes) (a small model's weights are cache-resident: that is where
   * they sit, and what this then reports). */
  uintptr_t lo = ((uintptr_t)p + 63) & ~(uintptr_t)63;
  size_t skip = (size_t)(lo - (uintptr_t)p);
  size_t group = 32 * sizeof(uint64_t) * (size_t)n_threads;
  if (bytes < skip + group) return NB_EINVAL;
  size_t n = bytes - skip;
  n -= n % group;
  membw_task *t = nb_calloc(1, sizeof *t);
  if (!t) return NB_ENOMEM;
  t->buf = (uint64_t *)lo; /* never written: fill is off */
  t->n_words = n / sizeof(uint64_t);
  t->fill = false;
  double result = run_probe(t, n_threads, reps);
  nb_free(t);
  return result;
}
