/* test_pool.c: the worker pool (sys/pool.h): every thread runs each task
 * exactly once, the caller sees the workers' writes, sleeping workers wake,
 * an idle pool costs no CPU, and nb__split covers its range exactly; the
 * shared row ranges (sys/share.h) hand out every unit exactly once. */
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include "nb_internal.h"
#include "sys/pool.h"
#include "sys/share.h"
#include "testutil.h"

#define MAX_T 16

typedef struct counts {
  _Atomic int32_t hits[MAX_T];   /* calls per ith in this run */
  _Atomic int32_t bad_nth;       /* calls that saw the wrong nth */
  int32_t nth;
} counts;

static void count_fn(void *arg, int32_t ith, int32_t nth) {
  counts *c = arg;
  if (nth != c->nth || ith < 0 || ith >= nth)
    atomic_fetch_add(&c->bad_nth, 1);
  else
    atomic_fetch_add(&c->hits[ith], 1);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Each ith runs exactly once per run, for several pool sizes. */
START_TEST(test_each_thread_once) {
  int sizes[] = {1, 2, 3, 4, 8, MAX_T};
  for (size_t s = 0; s < NB__ARRAY_LEN(sizes); s++) {
    nb__pool *p = NULL;
    nb_err e;
    ck_assert_int_eq(nb__pool_new(&p, sizes[s], &e), NB_OK);
    ck_assert_int_eq(nb__pool_size(p), sizes[s]);
    for (int run = 0; run < 200; run++) {
      counts c;
      memset(&c, 0, sizeof c);
      c.nth = sizes[s];
      nb__pool_run(p, count_fn, &c);
      ck_assert_int_eq(atomic_load(&c.bad_nth), 0);
      for (int i = 0; i < MAX_T; i++)
        ck_assert_int_eq(atomic_load(&c.hits[i]), i < sizes[s] ? 1 : 0);
    }
    nb__pool_free(p);
  }
}
END_TEST

/* Plain (non-atomic) writes made by workers are visible to the caller after
 * nb__pool_run returns, and the caller's writes before the run are visible to
 * the workers. */
typedef struct vis {
  int64_t n;
  int64_t *in;  /* (n) written by the caller before the run */
  int64_t *out; /* (n) written by the threads */
  int64_t stamp;
} vis;

static void vis_fn(void *arg, int32_t ith, int32_t nth) {
  vis *v = arg;
  int64_t b, e;
  nb__split(v->n, ith, nth, 16, &b, &e);
  for (int64_t i = b; i < e; i++) v->out[i] = v->in[i] * 3 + v->stamp;
}

START_TEST(test_memory_visibility) {
  nb__pool *p = NULL;
  ck_assert_int_eq(nb__pool_new(&p, 4, NULL), NB_OK);
  vis v = {.n = 10007};
  v.in = nb_malloc((size_t)v.n * sizeof *v.in);
  v.out = nb_malloc((size_t)v.n * sizeof *v.out);
  for (int run = 0; run < 300; run++) {
    v.stamp = run;
    for (int64_t i = 0; i < v.n; i++) v.in[i] = i + run;
    nb__pool_run(p, vis_fn, &v);
    for (int64_t i = 0; i < v.n; i++)
      ck_assert_int_eq(v.out[i], (i + run) * 3 + run);
  }
  nb_free(v.in);
  nb_free(v.out);
  nb__pool_free(p);
}
END_TEST

/* With one thread the task runs on the caller's thread, no thread made. */
typedef struct self_arg {
  uv_thread_t caller;
  int same;
  int calls;
} self_arg;

static void self_fn(void *arg, int32_t ith, int32_t nth) {
  self_arg *a = arg;
  uv_thread_t me = uv_thread_self();
  if (ith == 0 && nth == 1) {
    a->same = uv_thread_equal(&me, &a->caller);
    a->calls++;
  }
}

START_TEST(test_single_thread_inline) {
  nb__pool *p = NULL;
  ck_assert_int_eq(nb__pool_new(&p, 1, NULL), NB_OK);
  self_arg a = {.caller = uv_thread_self()};
  nb__pool_run(p, self_fn, &a);
  nb__pool_run(p, self_fn, &a);
  ck_assert_int_eq(a.calls, 2);
  ck_assert(a.same);
  nb__pool_free(p);
}
END_TEST

/* The caller is thread 0 also in a multi-thread pool. */
static void zero_fn(void *arg, int32_t ith, int32_t nth) {
  self_arg *a = arg;
  (void)nth;
  if (ith == 0) {
    uv_thread_t me = uv_thread_self();
    a->same = uv_thread_equal(&me, &a->caller);
    a->calls++;
  }
}

START_TEST(test_caller_is_thread_zero) {
  nb__pool *p = NULL;
  ck_assert_int_eq(nb__pool_new(&p, 3, NULL), NB_OK);
  self_arg a = {.caller = uv_thread_self()};
  nb__pool_run(p, zero_fn, &a);
  ck_assert_int_eq(a.calls, 1);
  ck_assert(a.same);
  nb__pool_free(p);
}
END_TEST

/* 100k tiny runs: per-thread counters and a per-run stamp each thread writes
 * to its own slot (non-atomic), checked after every run. */
typedef struct stress {
  int64_t slot[MAX_T * 8]; /* slot[ith * 8]: one cache line each */
  int64_t total[MAX_T * 8];
  int64_t run;
} stress;

static void stress_fn(void *arg, int32_t ith, int32_t nth) {
  stress *s = arg;
  (void)nth;
  s->slot[ith * 8] = s->run;
  s->total[ith * 8]++;
}

START_TEST(test_stress_100k) {
  const int32_t nt = 3; /* more threads than the test machine's cores */
  nb__pool *p = NULL;
  ck_assert_int_eq(nb__pool_new(&p, nt, NULL), NB_OK);
  stress *s = nb_calloc(1, sizeof *s);
  const int64_t runs = 100000;
  for (int64_t r = 1; r <= runs; r++) {
    s->run = r;
    nb__pool_run(p, stress_fn, s);
    for (int32_t i = 0; i < nt; i++)
      if (s->slot[i * 8] != r)
        ck_abort_msg("run %lld: thread %d wrote %lld", (long long)r, (int)i,
                     (long long)s->slot[i * 8]);
  }
  for (int32_t i = 0; i < nt; i++) ck_assert_int_eq(s->total[i * 8], runs);
  nb_free(s);
  nb__pool_free(p);
}
END_TEST

/* Runs separated by pauses longer and shorter than the spin time: workers
 * that went to sleep are woken, and none is lost. */
START_TEST(test_wake_after_sleep) {
  nb__pool *p = NULL;
  ck_assert_int_eq(nb__pool_new(&p, 4, NULL), NB_OK);
  int pauses[] = {0, 1, 2, 3, 5, 10, 30};
  for (int rep = 0; rep < 4; rep++) {
    for (size_t k = 0; k < NB__ARRAY_LEN(pauses); k++) {
      sleep_ms(pauses[k]);
      counts c;
      memset(&c, 0, sizeof c);
      c.nth = 4;
      nb__pool_run(p, count_fn, &c);
      for (int i = 0; i < 4; i++) ck_assert_int_eq(atomic_load(&c.hits[i]), 1);
    }
  }
  nb__pool_free(p);
}
END_TEST

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* An idle pool sleeps: over 300 ms of idleness its threads use far less
 * than the 300 ms per thread that spinning would cost. */
START_TEST(test_idle_costs_no_cpu) {
  nb__pool *p = NULL;
  ck_assert_int_eq(nb__pool_new(&p, 4, NULL), NB_OK);
  counts c;
  memset(&c, 0, sizeof c);
  c.nth = 4;
  nb__pool_run(p, count_fn, &c);
  sleep_ms(50); /* past the spin window */
  double t0 = cpu_seconds();
  sleep_ms(300);
  double used = cpu_seconds() - t0;
  ck_assert_msg(used < 0.05, "idle pool used %.3f s CPU in 0.3 s", used);
  nb__pool_free(p);
}
END_TEST

/* Parts other than 0 really run on the workers when the caller is busy:
 * each part sleeps 2 ms, so a worker has time to claim its part. */
typedef struct who {
  uv_thread_t caller;
  _Atomic int32_t on_worker; /* parts run on a thread other than the caller */
} who;

static void who_fn(void *arg, int32_t ith, int32_t nth) {
  who *w = arg;
  (void)ith;
  (void)nth;
  sleep_ms(2);
  uv_thread_t me = uv_thread_self();
  if (!uv_thread_equal(&me, &w->caller)) atomic_fetch_add(&w->on_worker, 1);
}

START_TEST(test_workers_participate) {
  nb__pool *p = NULL;
  ck_assert_int_eq(nb__pool_new(&p, 2, NULL), NB_OK);
  who w = {.caller = uv_thread_self()};
  for (int run = 0; run < 20; run++) nb__pool_run(p, who_fn, &w);
  ck_assert_int_gt(atomic_load(&w.on_worker), 0);
  nb__pool_free(p);
}
END_TEST

START_TEST(test_bad_sizes) {
  nb__pool *p = (nb__pool *)1;
  nb_err e;
  ck_assert_int_eq(nb__pool_new(&p, 0, &e), NB_EINVAL);
  ck_assert_ptr_null(p);
  ck_assert_int_eq(e.code, NB_EINVAL);
  ck_assert_int_eq(nb__pool_new(&p, -3, NULL), NB_EINVAL);
  nb__pool_free(NULL);
}
END_TEST

/* nb__split: the parts tile [0, n) in order, every inner boundary is a
 * multiple of align, part sizes (in chunks) differ by at most one, and the
 * same inputs give the same split. */
START_TEST(test_split_properties) {
  int64_t ns[] = {0, 1, 5, 31, 32, 33, 100, 1000, 4096, 32000, 5632, 11008};
  int64_t aligns[] = {1, 4, 16, 32, 64};
  for (size_t a = 0; a < NB__ARRAY_LEN(aligns); a++)
    for (size_t k = 0; k < NB__ARRAY_LEN(ns); k++)
      for (int32_t nth = 1; nth <= 9; nth++) {
        int64_t n = ns[k], al = aligns[a], prev = 0;
        int64_t cmin = INT64_MAX, cmax = 0;
        for (int32_t i = 0; i < nth; i++) {
          int64_t b, e, b2, e2;
          nb__split(n, i, nth, al, &b, &e);
          nb__split(n, i, nth, al, &b2, &e2);
          ck_assert(b == b2 && e == e2);
          ck_assert_int_eq(b, prev);
          ck_assert_int_le(b, e);
          ck_assert_int_le(e, n);
          if (e != n) ck_assert_int_eq(e % al, 0);
          int64_t chunks = (e - b + al - 1) / al;
          cmin = NB__MIN(cmin, chunks);
          cmax = NB__MAX(cmax, chunks);
          prev = e;
        }
        ck_assert_int_eq(prev, n);
        ck_assert_int_le(cmax - cmin, 1);
      }
}
END_TEST

/* One slot, one thread: the front halves what is left (at least min), the
 * back takes min, and the two ends never cross. */
START_TEST(test_share_pieces) {
  nb__share s;
  int64_t b, e;
  nb__share_set(&s, 0, 100);
  const int64_t want[][2] = {{0, 50}, {50, 75}, {75, 87}, {87, 93}, {93, 96}, {96, 99}, {99, 100}};
  for (size_t i = 0; i < NB__ARRAY_LEN(want); i++) {
    ck_assert(nb__share_front(&s, 3, &b, &e));
    ck_assert_int_eq(b, want[i][0]);
    ck_assert_int_eq(e, want[i][1]);
  }
  ck_assert(!nb__share_front(&s, 3, &b, &e));
  ck_assert(!nb__share_back(&s, 3, &b, &e));
  nb__share_set(&s, 20, 30);
  ck_assert(nb__share_back(&s, 4, &b, &e));
  ck_assert_int_eq(b, 26);
  ck_assert_int_eq(e, 30);
  ck_assert(nb__share_front(&s, 1, &b, &e)); /* half of [20, 26) */
  ck_assert_int_eq(b, 20);
  ck_assert_int_eq(e, 23);
  ck_assert(nb__share_back(&s, 4, &b, &e)); /* what is left: [23, 26) */
  ck_assert_int_eq(b, 23);
  ck_assert_int_eq(e, 26);
  ck_assert(!nb__share_front(&s, 1, &b, &e));
  nb__share_set(&s, 7, 7); /* empty */
  ck_assert(!nb__share_front(&s, 1, &b, &e));
  ck_assert(!nb__share_back(&s, 1, &b, &e));
}
END_TEST

#define SH_T 4
#define SH_UNITS 5000
typedef struct share_run {
  nb__share slot[SH_T];
  _Atomic int32_t taken[SH_UNITS]; /* times each unit was handed out */
  _Atomic int32_t stolen;          /* pieces taken from another slot */
  int32_t slow;                    /* this part starts late */
} share_run;

static void share_fn(void *arg, int32_t ith, int32_t nth) {
  share_run *r = arg;
  int64_t b, e;
  if (ith == r->slow) sleep_ms(2);
  while (nb__share_front(&r->slot[ith], 2, &b, &e))
    for (int64_t u = b; u < e; u++) atomic_fetch_add(&r->taken[u], 1);
  for (int32_t o = 1; o < nth; o++)
    while (nb__share_back(&r->slot[(ith + o) % nth], 2, &b, &e)) {
      atomic_fetch_add(&r->stolen, 1);
      for (int64_t u = b; u < e; u++) atomic_fetch_add(&r->taken[u], 1);
    }
}

/* Four threads, one of them late: every unit is handed out exactly once,
 * and the late thread's range is shared out (stolen). */
START_TEST(test_share_every_unit_once) {
  nb__pool *p = NULL;
  ck_assert_int_eq(nb__pool_new(&p, SH_T, NULL), NB_OK);
  share_run *r = nb_malloc(sizeof *r);
  ck_assert_ptr_nonnull(r);
  for (int run = 0; run < 40; run++) {
    memset(r, 0, sizeof *r);
    r->slow = run % SH_T;
    for (int32_t i = 0; i < SH_T; i++) {
      int64_t b, e;
      nb__split(SH_UNITS, i, SH_T, 1, &b, &e);
      nb__share_set(&r->slot[i], b, e);
    }
    nb__pool_run(p, share_fn, r);
    for (int u = 0; u < SH_UNITS; u++) ck_assert_int_eq(atomic_load(&r->taken[u]), 1);
    ck_assert_int_gt(atomic_load(&r->stolen), 0);
  }
  nb_free(r);
  nb__pool_free(p);
}
END_TEST

int main(void) {
  Suite *s = suite_create("pool");
  TCase *tc = tcase_create("pool");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_each_thread_once);
  tcase_add_test(tc, test_share_pieces);
  tcase_add_test(tc, test_share_every_unit_once);
  tcase_add_test(tc, test_memory_visibility);
  tcase_add_test(tc, test_single_thread_inline);
  tcase_add_test(tc, test_caller_is_thread_zero);
  tcase_add_test(tc, test_stress_100k);
  tcase_add_test(tc, test_wake_after_sleep);
  tcase_add_test(tc, test_idle_costs_no_cpu);
  tcase_add_test(tc, test_workers_participate);
  tcase_add_test(tc, test_bad_sizes);
  tcase_add_test(tc, test_split_properties);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
