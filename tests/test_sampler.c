/*
 * test_sampler.c: greedy rules, the sampled distributions against the ones
 * the documented steps define (computed here in double precision from the
 * definitions), repetition penalty, seeding, and non-number logits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nb_internal.h"
#include "testutil.h"

#define NV 8
#define DRAWS 200000

static nb_sampler *mk(float temp, int32_t top_k, float top_p, float min_p,
                      uint64_t seed, int32_t n_vocab) {
  nb_sampler_params p;
  nb_sampler_params_default(&p);
  p.temp = temp;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  p.repeat_penalty = 1.0f;
  p.seed = seed;
  nb_sampler *s = NULL;
  nb_err e;
  ck_assert_msg(nb_sampler_new(&s, &p, n_vocab, &e) == 0, "%s", e.msg);
  return s;
}

/* ------------------------------------------------------------- greedy */

START_TEST(test_greedy_first_max) {
  nb_sampler *s = mk(0.0f, 0, 1.0f, 0.0f, 1, 4);
  float a[4] = {1, 3, 3, 2};
  ck_assert_int_eq(nb_sampler_sample(s, a), 1);
  float b[4] = {NAN, 2, 5, 5};
  ck_assert_int_eq(nb_sampler_sample(s, b), 2);
  float c[4] = {1, INFINITY, INFINITY, NAN};
  ck_assert_int_eq(nb_sampler_sample(s, c), 1);
  float d[4] = {-INFINITY, -INFINITY, NAN, -INFINITY};
  ck_assert_int_eq(nb_sampler_sample(s, d), 0);
  float e[4] = {NAN, NAN, NAN, NAN};
  ck_assert_int_eq(nb_sampler_sample(s, e), NB_EINVAL);
  /* logits are not modified */
  ck_assert(a[0] == 1 && a[1] == 3 && a[2] == 3 && a[3] == 2);
  nb_sampler_free(s);
}
END_TEST

/* top-k = 1 picks what greedy picks, at any temperature, ties included. */
START_TEST(test_top_k1_is_greedy) {
  enum { N = 300 };
  float l[N];
  uint64_t x = 12345;
  for (int trial = 0; trial < 200; trial++) {
    for (int i = 0; i < N; i++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      /* few distinct values: many ties */
      l[i] = (float)((x >> 33) % 17) - 8.0f;
    }
    nb_sampler *g = mk(0.0f, 0, 1.0f, 0.0f, 1, N);
    nb_sampler *k = mk(0.3f + 0.1f * (float)(trial % 20), 1, 0.9f, 0.05f,
                       (uint64_t)trial, N);
    ck_assert_int_eq(nb_sampler_sample(k, l), nb_sampler_sample(g, l));
    nb_sampler_free(g);
    nb_sampler_free(k);
  }
}
END_TEST

/* ------------------------------------------------------ distributions */

static const float L[NV] = {2.0f, 1.4f, 1.1f, 0.5f, 0.0f, -0.6f, -1.2f, -3.0f};

/* The distribution the documented steps define, in double. */
static void expected(const float *logit, float temp, int top_k, double top_p,
                     double min_p, double *p) {
  int order[NV];
  for (int i = 0; i < NV; i++) order[i] = i;
  for (int i = 0; i < NV; i++) /* sort by logit desc, id asc */
    for (int j = i + 1; j < NV; j++)
      if (logit[order[j]] > logit[order[i]]) {
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
  bool keep[NV];
  for (int r = 0; r < NV; r++) keep[order[r]] = top_k == 0 || r < top_k;
  double z = 0;
  for (int i = 0; i < NV; i++) {
    p[i] = keep[i] ? exp((double)logit[i] / temp) : 0.0;
    z += p[i];
  }
  for (int i = 0; i < NV; i++) p[i] /= z;
  double pmax = p[order[0]];
  if (top_p < 1.0) {
    double cum = 0;
    bool reached = false;
    for (int r = 0; r < NV; r++) {
      if (reached) p[order[r]] = 0;
      cum += p[order[r]];
      if (cum >= top_p) reached = true;
    }
  }
  for (int i = 0; i < NV; i++)
    if (p[i] < min_p * pmax) p[i] = 0;
  z = 0;
  for (int i = 0; i < NV; i++) z += p[i];
  for (int i = 0; i < NV; i++) p[i] /= z;
}

/* chi-square critical values at p = 0.001 for 1..7 degrees of freedom */
static const double CHI2_999[] = {0, 10.83, 13.82, 16.27, 18.47,
                                  20.52, 22.46, 24.32};

/* Draws DRAWS tokens and compares with `want`: zero-probability tokens
 * never appear, the chi-square statistic is under the 0.1% critical value
 * and no frequency is off by more than 0.005 (about 4.5 standard errors). */
static void check_distribution(nb_sampler *s, const float *logit,
                               const double *want, const char *what) {
  long cnt[NV] = {0};
  for (int i = 0; i < DRAWS; i++) {
    int32_t id = nb_sampler_sample(s, logit);
    ck_assert_int_ge(id, 0);
    ck_assert_int_lt(id, NV);
    cnt[id]++;
  }
  double chi2 = 0;
  int df = -1;
  for (int i = 0; i < NV; i++) {
    double f = (double)cnt[i] / DRAWS;
    if (want[i] == 0) {
      ck_assert_msg(cnt[i] == 0, "%s: token %d drawn %ld times, want never",
                    what, i, cnt[i]);
      continue;
    }
    double e = want[i] * DRAWS;
    chi2 += (cnt[i] - e) * (cnt[i] - e) / e;
    df++;
    ck_assert_msg(fabs(f - want[i]) < 0.005, "%s: token %d freq %.4f want "
                  "%.4f", what, i, f, want[i]);
  }
  if (df > 0)
    ck_assert_msg(chi2 < CHI2_999[df], "%s: chi2 %.2f (df %d) > %.2f", what,
                  chi2, df, CHI2_999[df]);
}

START_TEST(test_distributions) {
  static const struct {
    const char *what;
    float temp;
    int top_k;
    float top_p, min_p;
    int n_kept; /* tokens with non-zero probability (guards the setup) */
  } cases[] = {
      {"softmax t=1", 1.0f, 0, 1.0f, 0.0f, 8},
      {"t=0.5", 0.5f, 0, 1.0f, 0.0f, 8},
      {"t=2", 2.0f, 0, 1.0f, 0.0f, 8},
      {"top-k 3", 1.0f, 3, 1.0f, 0.0f, 3},
      {"top-p 0.75", 1.0f, 0, 0.75f, 0.0f, 3},
      {"top-p 0.5", 1.0f, 0, 0.5f, 0.0f, 2},
      {"min-p 0.2", 1.0f, 0, 1.0f, 0.2f, 4},
      {"min-p 0.05 t=2", 2.0f, 0, 1.0f, 0.05f, 8},
      {"k5 t0.7 p0.85 m0.3", 0.7f, 5, 0.85f, 0.3f, 2},
      {"k6 t1.3 p0.9 m0.25", 1.3f, 6, 0.9f, 0.25f, 4},
  };
  for (size_t c = 0; c < NB__ARRAY_LEN(cases); c++) {
    double want[NV];
    expected(L, cases[c].temp, cases[c].top_k, cases[c].top_p,
             cases[c].min_p, want);
    int kept = 0;
    for (int i = 0; i < NV; i++) kept += want[i] > 0;
    ck_assert_msg(kept == cases[c].n_kept, "%s: %d kept", cases[c].what,
                  kept);
    nb_sampler *s = mk(cases[c].temp, cases[c].top_k, cases[c].top_p,
                       cases[c].min_p, 1000 + c, NV);
    check_distribution(s, L, want, cases[c].what);
    nb_sampler_free(s);
  }
}
END_TEST

/* --------------------------------------------------- repetition penalty */

static nb_sampler *mk_pen(float temp, float pen, int32_t last_n, int32_t nv) {
  nb_sampler_params p;
  nb_sampler_params_default(&p);
  p.temp = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repeat_penalty = pen;
  p.repeat_last_n = last_n;
  p.seed = 77;
  nb_sampler *s;
  ck_assert_int_eq(nb_sampler_new(&s, &p, nv, NULL), 0);
  return s;
}

START_TEST(test_repetition_penalty) {
  /* positive logit divided */
  nb_sampler *s = mk_pen(0.0f, 2.0f, 4, 3);
  float a[3] = {5, 4, 3};
  ck_assert_int_eq(nb_sampler_sample(s, a), 0);
  nb_sampler_accept(s, 0);
  ck_assert_int_eq(nb_sampler_sample(s, a), 1); /* 2.5 < 4 */
  /* applied once per distinct id, not per occurrence */
  float b[3] = {4.0f, 1.9f, 0.0f};
  nb_sampler_accept(s, 0);
  nb_sampler_accept(s, 0);
  ck_assert_int_eq(nb_sampler_sample(s, b), 0); /* 2.0 > 1.9 */
  /* the window: four other ids push 0 out */
  for (int i = 0; i < 4; i++) nb_sampler_accept(s, 2);
  ck_assert_int_eq(nb_sampler_sample(s, a), 0);
  /* reset clears the history */
  nb_sampler_accept(s, 0);
  ck_assert_int_eq(nb_sampler_sample(s, a), 1);
  nb_sampler_reset(s);
  ck_assert_int_eq(nb_sampler_sample(s, a), 0);
  nb_sampler_free(s);
  /* negative logit multiplied */
  s = mk_pen(0.0f, 2.0f, 4, 2);
  float c[2] = {-1.0f, -1.5f};
  nb_sampler_accept(s, 0);
  ck_assert_int_eq(nb_sampler_sample(s, c), 1); /* -2 < -1.5 */
  nb_sampler_free(s);
  /* repeat_last_n = 0: off */
  s = mk_pen(0.0f, 2.0f, 0, 3);
  nb_sampler_accept(s, 0);
  ck_assert_int_eq(nb_sampler_sample(s, a), 0);
  nb_sampler_free(s);

  /* Exactly the penalised ids change: the sampled distribution (t = 1) is
   * the softmax of L with ids 1, 5 (positive: / 1.5) and 6 (negative:
   * x 1.5) changed, id 6 once although it was accepted twice. */
  s = mk_pen(1.0f, 1.5f, 8, NV);
  const int32_t hist[] = {1, 6, 5, 6};
  for (size_t i = 0; i < NB__ARRAY_LEN(hist); i++)
    nb_sampler_accept(s, hist[i]);
  float pl[NV];
  memcpy(pl, L, sizeof pl);
  pl[1] /= 1.5f;
  pl[5] = L[5] > 0 ? L[5] / 1.5f : L[5] * 1.5f;
  pl[6] *= 1.5f;
  double want[NV];
  expected(pl, 1.0f, 0, 1.0, 0.0, want);
  check_distribution(s, L, want, "penalty");
  nb_sampler_free(s);
}
END_TEST

/* set_params keeps the history; a longer window keeps what fits. */
START_TEST(test_set_params_keeps_history) {
  nb_sampler *s = mk_pen(0.0f, 2.0f, 2, 3);
  float a[3] = {5, 4, 3};
  nb_sampler_accept(s, 0);
  nb_sampler_accept(s, 2);
  nb_sampler_params p;
  nb_sampler_params_default(&p);
  p.temp = 0.0f;
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 16;
  p.seed = 77;
  ck_assert_int_eq(nb_sampler_set_params(s, &p, NULL), 0);
  ck_assert_int_eq(nb_sampler_sample(s, a), 1); /* 0 still penalised */
  p.repeat_last_n = 1; /* only the last id (2) remains */
  ck_assert_int_eq(nb_sampler_set_params(s, &p, NULL), 0);
  ck_assert_int_eq(nb_sampler_sample(s, a), 0);
  nb_sampler_free(s);
}
END_TEST

/* ------------------------------------------------------- reproducibility */

static void draw_seq(nb_sampler *s, const float *l, int n, int32_t *out) {
  for (int i = 0; i < n; i++) {
    out[i] = nb_sampler_sample(s, l);
    nb_sampler_accept(s, out[i]);
  }
}

START_TEST(test_seed_reproducible) {
  enum { N = 1000 };
  int32_t a[N], b[N], c[N];
  nb_sampler *s1 = mk(1.0f, 0, 1.0f, 0.0f, 42, NV);
  nb_sampler *s2 = mk(1.0f, 0, 1.0f, 0.0f, 42, NV);
  nb_sampler *s3 = mk(1.0f, 0, 1.0f, 0.0f, 43, NV);
  draw_seq(s1, L, N, a);
  draw_seq(s2, L, N, b);
  draw_seq(s3, L, N, c);
  ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
  ck_assert_int_ne(memcmp(a, c, sizeof a), 0);
  /* reset re-seeds */
  nb_sampler_reset(s1);
  draw_seq(s1, L, N, b);
  ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
  /* set_params: same seed continues the stream, a new seed restarts it */
  nb_sampler_params p;
  nb_sampler_params_default(&p);
  p.temp = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 42;
  nb_sampler_reset(s2);
  draw_seq(s2, L, N / 2, b);
  ck_assert_int_eq(nb_sampler_set_params(s2, &p, NULL), 0);
  draw_seq(s2, L, N / 2, b + N / 2);
  ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
  p.seed = 43;
  ck_assert_int_eq(nb_sampler_set_params(s2, &p, NULL), 0);
  draw_seq(s2, L, N, b);
  ck_assert_int_eq(memcmp(b, c, sizeof b), 0);
  nb_sampler_free(s1);
  nb_sampler_free(s2);
  nb_sampler_free(s3);
}
END_TEST

/* ------------------------------------------------------- non-numbers */

START_TEST(test_nan_inf) {
  enum { N = 64 };
  float l[N];
  for (int i = 0; i < N; i++) l[i] = (i % 3 == 0) ? NAN : (float)(i % 7) - 3;
  l[5] = -INFINITY;
  static const float temps[] = {0.5f, 1.0f, 3.0f};
  for (int t = 0; t < 3; t++) {
    nb_sampler *s = mk(temps[t], t == 1 ? 10 : 0, t == 2 ? 0.9f : 1.0f, 0.0f,
                       (uint64_t)t, N);
    for (int i = 0; i < 20000; i++) {
      int32_t id = nb_sampler_sample(s, l);
      ck_assert_int_ge(id, 0);
      ck_assert_msg(!isnan(l[id]) && id != 5, "picked %d (%g)", id, l[id]);
    }
    nb_sampler_free(s);
  }
  /* +inf logits share all the probability */
  float m[4] = {1.0f, INFINITY, 50.0f, INFINITY};
  nb_sampler *s = mk(1.0f, 0, 1.0f, 0.0f, 9, 4);
  long cnt[4] = {0};
  for (int i = 0; i < 20000; i++) cnt[nb_sampler_sample(s, m)]++;
  ck_assert_int_eq(cnt[0] + cnt[2], 0);
  ck_assert(labs(cnt[1] - cnt[3]) < 1000); /* 10000 each, sd ~71 */
  /* all -inf (and NaN): the first -inf; all NaN: an error */
  float n[4] = {NAN, -INFINITY, -INFINITY, NAN};
  ck_assert_int_eq(nb_sampler_sample(s, n), 1);
  float o[4] = {NAN, NAN, NAN, NAN};
  ck_assert_int_eq(nb_sampler_sample(s, o), NB_EINVAL);
  nb_sampler_free(s);
}
END_TEST

START_TEST(test_bad_params) {
  nb_sampler_params p;
  nb_sampler *s = (nb_sampler *)1;
  nb_err e;
  nb_sampler_params_default(&p);
  ck_assert_int_eq(nb_sampler_new(&s, &p, 0, &e), NB_EINVAL);
  ck_assert_ptr_null(s);
  struct {
    float temp, top_p, min_p, pen;
    int32_t top_k, last_n;
  } bad[] = {
      {NAN, 1, 0, 1, 0, 0},  {1, 1.5f, 0, 1, 0, 0}, {1, -0.1f, 0, 1, 0, 0},
      {1, 1, -0.1f, 1, 0, 0}, {1, 1, 2.0f, 1, 0, 0}, {1, 1, 0, 0.0f, 0, 0},
      {1, 1, 0, NAN, 0, 0},  {1, 1, 0, 1, -1, 0},   {1, 1, 0, 1, 0, -1},
      {INFINITY, 1, 0, 1, 0, 0},
  };
  nb_sampler *good;
  ck_assert_int_eq(nb_sampler_new(&good, &p, 10, &e), 0);
  for (size_t i = 0; i < NB__ARRAY_LEN(bad); i++) {
    nb_sampler_params q = p;
    q.temp = bad[i].temp;
    q.top_p = bad[i].top_p;
    q.min_p = bad[i].min_p;
    q.repeat_penalty = bad[i].pen;
    q.top_k = bad[i].top_k;
    q.repeat_last_n = bad[i].last_n;
    ck_assert_msg(nb_sampler_new(&s, &q, 10, &e) == NB_EINVAL, "case %zu", i);
    ck_assert_msg(nb_sampler_set_params(good, &q, &e) == NB_EINVAL,
                  "case %zu", i);
  }
  nb_sampler_free(good);
  nb_sampler_free(NULL);
}
END_TEST

int main(void) {
  Suite *s = suite_create("sampler");
  TCase *tc = tcase_create("sampler");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_greedy_first_max);
  tcase_add_test(tc, test_top_k1_is_greedy);
  tcase_add_test(tc, test_distributions);
  tcase_add_test(tc, test_repetition_penalty);
  tcase_add_test(tc, test_set_params_keeps_history);
  tcase_add_test(tc, test_seed_reproducible);
  tcase_add_test(tc, test_nan_inf);
  tcase_add_test(tc, test_bad_params);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
