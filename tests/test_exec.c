/*
 * test_exec.c: the executor against the golden outputs of llama2.c's run.c
 * (../shared/models/golden, see its README.md), on two files: our own
 * conversion of stories260K.bin (nb_convert_llama2c) and llama.cpp's
 * stories260K-f32.gguf. Also the quantized llama.cpp files, the activation
 * modes, batch vs token-by-token, 1 vs 2 threads, context overflow and
 * cancellation.
 *
 * Values marked PINNED are measured regression values (our own output),
 * not references: they make a change in numerics visible.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cli/gen.h"
#include "nibble.h"
#include "testutil.h"

/* ------------------------------------------------------------- helpers */

#define N_GOLDEN 6
static const char *const golden_stems[N_GOLDEN] = {
    "greedy_once_upon_a_time_n64",
    "greedy_once_upon_a_time_n256",
    "greedy_lily_and_tom_went_to_the_park_n64",
    "greedy_lily_and_tom_went_to_the_park_n256",
    "greedy_the_little_dog_n64",
    "greedy_the_little_dog_n256",
};

typedef struct golden {
  int32_t prompt[64];
  int32_t n_prompt;
  int32_t gen[512];
  int32_t n_gen;
  int32_t steps; /* run.c -n */
  char prompt_text[128];
  char *stdout_text; /* nb_malloc'd */
  size_t stdout_len;
} golden;

static int32_t json_ids(const cJSON *arr, int32_t *out, int32_t cap) {
  ck_assert_ptr_nonnull(arr);
  ck_assert(cJSON_IsArray(arr));
  int32_t n = cJSON_GetArraySize(arr);
  ck_assert_int_le(n, cap);
  for (int32_t i = 0; i < n; i++) out[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
  return n;
}

static void golden_load(golden *g, const char *stem) {
  char rel[256];
  snprintf(rel, sizeof rel, "golden/%s.json", stem);
  size_t len;
  char *txt = nbt_read_file(nbt_shared(rel), &len);
  ck_assert_ptr_nonnull(txt);
  cJSON *j = cJSON_Parse(txt);
  ck_assert_ptr_nonnull(j);
  g->n_prompt = json_ids(cJSON_GetObjectItem(j, "prompt_token_ids"), g->prompt, 64);
  g->n_gen = json_ids(cJSON_GetObjectItem(j, "generated_token_ids"), g->gen, 512);
  g->steps = (int32_t)cJSON_GetObjectItem(j, "steps_arg_n")->valuedouble;
  snprintf(g->prompt_text, sizeof g->prompt_text, "%s",
           cJSON_GetObjectItem(j, "prompt")->valuestring);
  cJSON_Delete(j);
  nb_free(txt);
  snprintf(rel, sizeof rel, "golden/%s.stdout.txt", stem);
  g->stdout_text = nbt_read_file(nbt_shared(rel), &g->stdout_len);
  ck_assert_ptr_nonnull(g->stdout_text);
}

/* Our conversion of the llama2.c checkpoint, made once per process. */
static const char *our_f32(void) {
  static char path[1024];
  if (path[0] == '\0') {
    snprintf(path, sizeof path, "%s", nbt_tmp("stories260K-nibble.gguf"));
    nb_err e = {0};
    int rc = nb_convert_llama2c(nbt_shared("stories260K.bin"),
                                nbt_shared("tok512.model"), path, &e);
    ck_assert_msg(rc == 0, "convert: %s", e.msg);
  }
  return path;
}

static const char *model_path(int which) {
  switch (which) {
    case 0: return our_f32();
    case 1: return nbt_shared("llamacpp/stories260K-f32.gguf");
    case 2: return nbt_shared("llamacpp/stories260K-q8_0.gguf");
    default: return nbt_shared("llamacpp/stories260K-q4_0.gguf");
  }
}
static const char *const model_names[] = {"ours-f32", "llamacpp-f32",
                                          "llamacpp-q8_0", "llamacpp-q4_0"};

static nb_model *load(const char *path) {
  nb_model *m = NULL;
  nb_err e = {0};
  int rc = nb_model_load(&m, path, &e);
  ck_assert_msg(rc == 0, "load %s: %s", path, e.msg);
  return m;
}

static nb_ctx *ctx_new_k(nb_model *m, int act, int32_t n_threads,
                         int32_t n_ctx, const char *kernels) {
  nb_ctx_params p;
  nb_ctx_params_default(&p);
  p.kernels = kernels;
  p.act = act;
  p.n_threads = n_threads;
  p.n_ctx = n_ctx;
  nb_ctx *c = NULL;
  nb_err e = {0};
  int rc = nb_ctx_new(&c, m, &p, &e);
  ck_assert_msg(rc == 0, "ctx: %s", e.msg);
  return c;
}

/* The best kernel set for this CPU (or NB_KERNELS). */
static nb_ctx *ctx_new(nb_model *m, int act, int32_t n_threads, int32_t n_ctx) {
  return ctx_new_k(m, act, n_threads, n_ctx, NULL);
}

/* First index of the maximum (run.c's sample_argmax). */
static int32_t argmax(const float *x, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

/* Greedy run.c-style: prompt as one batch, then up to max_gen tokens, stop
 * when BOS (1) is sampled. Returns the number generated. */
static int32_t greedy(nb_ctx *c, const int32_t *prompt, int32_t n_prompt,
                      int32_t max_gen, int32_t *out) {
  nb_err e = {0};
  ck_assert_msg(nb_ctx_eval(c, prompt, n_prompt, &e) == 0, "%s", e.msg);
  int32_t n = 0;
  while (n < max_gen) {
    int32_t id = argmax(nb_ctx_logits(c), 512);
    if (id == 1) break;
    out[n++] = id;
    if (n == max_gen) break;
    ck_assert_msg(nb_ctx_eval(c, &id, 1, &e) == 0, "%s", e.msg);
  }
  return n;
}

static int32_t first_diff(const int32_t *a, int32_t na, const int32_t *b,
                          int32_t nb) {
  int32_t n = na < nb ? na : nb;
  for (int32_t i = 0; i < n; i++)
    if (a[i] != b[i]) return i;
  return na == nb ? -1 : n;
}

/* ------------------------------------------------------------ logits */

#define LOG_ROWS 21
#define VOCAB 512

static float *golden_logits(int32_t *ids) {
  size_t len;
  float *l = (float *)(void *)nbt_read_file(
      nbt_shared("golden/logits_once_upon_a_time.f32le.bin"), &len);
  ck_assert_ptr_nonnull(l);
  ck_assert_uint_eq(len, (size_t)LOG_ROWS * VOCAB * 4);
  char *txt = nbt_read_file(nbt_shared("golden/logits_once_upon_a_time.json"), NULL);
  cJSON *j = cJSON_Parse(txt);
  ck_assert_int_eq(json_ids(cJSON_GetObjectItem(j, "input_token_ids"), ids, LOG_ROWS), LOG_ROWS);
  cJSON_Delete(j);
  nb_free(txt);
  return l;
}

static float max_abs_diff(const float *a, const float *b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; i++) {
    float d = fabsf(a[i] - b[i]);
    if (!(d <= m)) m = d; /* NaN propagates as a failure */
  }
  return m;
}

/* Evaluates the 21 tokens one by one and as one batch; returns the max
 * error of each against the golden, checks batch == token-by-token. */
static void logits_errors(const char *path, int act, float *err_single,
                          float *err_batch) {
  int32_t ids[LOG_ROWS];
  float *gold = golden_logits(ids);
  nb_model *m = load(path);
  nb_ctx *c1 = ctx_new(m, act, 2, 0), *cb = ctx_new(m, act, 2, 0);
  float *batch = nb_malloc((size_t)LOG_ROWS * VOCAB * 4);
  nb_err e = {0};
  ck_assert_int_eq(nb_ctx_eval_all(cb, ids, LOG_ROWS, batch, &e), 0);
  ck_assert_int_eq(nb_ctx_pos(cb), LOG_ROWS);
  /* the last row is also what nb_ctx_logits gives */
  ck_assert(max_abs_diff(nb_ctx_logits(cb), batch + (LOG_ROWS - 1) * VOCAB, VOCAB) == 0);
  *err_single = *err_batch = 0;
  for (int r = 0; r < LOG_ROWS; r++) {
    ck_assert_int_eq(nb_ctx_eval(c1, &ids[r], 1, &e), 0);
    const float *l = nb_ctx_logits(c1);
    float es = max_abs_diff(l, gold + r * VOCAB, VOCAB);
    float eb = max_abs_diff(batch + r * VOCAB, gold + r * VOCAB, VOCAB);
    if (es > *err_single) *err_single = es;
    if (eb > *err_batch) *err_batch = eb;
    /* batch vs token by token: same argmax, (here exactly) same logits: the
     * kernels' results do not depend on the batch */
    ck_assert_int_eq(argmax(l, VOCAB), argmax(batch + r * VOCAB, VOCAB));
    ck_assert_msg(max_abs_diff(l, batch + r * VOCAB, VOCAB) <= 1e-6f,
                  "%s act %s row %d: batch differs from single by %g", path,
                  nb_act_name(act), r, (double)max_abs_diff(l, batch + r * VOCAB, VOCAB));
  }
  nb_free(batch);
  nb_ctx_free(c1);
  nb_ctx_free(cb);
  nb_model_free(m);
  nb_free(gold);
}

START_TEST(test_logits_f32) {
  for (int which = 0; which < 2; which++) {
    float es, eb;
    logits_errors(model_path(which), NB_ACT_F32, &es, &eb);
    printf("logits %s act f32: max |err| single %.3g batch %.3g\n",
           model_names[which], (double)es, (double)eb);
    ck_assert_msg(es <= 1e-4f && eb <= 1e-4f, "%s: %g %g", model_names[which],
                  (double)es, (double)eb);
  }
}
END_TEST

/* The F32 files under --act f16 and q8 (q8 quantizes the inputs of Q8_0 /
 * Q4_0 weights only, so on an F32 file it computes what f16 computes).
 * Measured (scalar and AVX2 kernels): max |logit error| 0.0184 over the 21
 * rows for both modes and both files (logits span about -16..+12). The
 * tolerance sits a little above. (For reference, not asserted here: the
 * llama.cpp q8_0 file gives 0.213 / 0.213 / 0.225 and the q4_0 file 3.84 /
 * 3.85 / 3.87 under f32 / f16 / q8: that is the weights' own error.) */
START_TEST(test_logits_f16_q8) {
  const float tol[3] = {0, 0.025f, 0.025f};
  for (int act = NB_ACT_F16; act <= NB_ACT_Q8; act++)
    for (int which = 0; which < 2; which++) {
      float es, eb;
      logits_errors(model_path(which), act, &es, &eb);
      printf("logits %s act %s: max |err| single %.4g batch %.4g\n",
             model_names[which], nb_act_name(act), (double)es, (double)eb);
      ck_assert_msg(es <= tol[act] && eb <= tol[act], "%s act %s: %g > %g",
                    model_names[which], nb_act_name(act), (double)es,
                    (double)tol[act]);
    }
}
END_TEST

/* ---------------------------------------------------------- greedy ids */

/* run.c's -n counts positions: it samples steps - n_prompt + 1 tokens. */
static int32_t max_gen_of(const golden *g) { return g->steps - g->n_prompt + 1; }

START_TEST(test_greedy_f32_golden) {
  for (int which = 0; which < 2; which++) {
    nb_model *m = load(model_path(which));
    for (int k = 0; k < N_GOLDEN; k++) {
      golden g;
      golden_load(&g, golden_stems[k]);
      nb_ctx *c = ctx_new(m, NB_ACT_F32, 1, 0);
      int32_t out[512];
      int32_t n = greedy(c, g.prompt, g.n_prompt, max_gen_of(&g), out);
      int32_t d = first_diff(out, n, g.gen, g.n_gen);
      ck_assert_msg(d < 0, "%s %s: first difference at token %d (of %d/%d)",
                    model_names[which], golden_stems[k], d, n, g.n_gen);
      nb_ctx_free(c);
      nb_free(g.stdout_text);
    }
    nb_model_free(m);
  }
}
END_TEST

/* First generated position where greedy tokens differ from the run.c golden
 * (-1: none), per model file, act mode and golden file, with the SCALAR
 * kernels (the oracle every machine has; SIMD tables may sum the blocks of
 * a Q8 dot product in another order, which moves these positions: with
 * AVX2 the q8_0 file under --act q8 gives -1, 110, -1, 142, -1, 83).
 * PINNED: measured with this code; a change means the numerics changed:
 * investigate, then re-pin. Rows: ours-f32, llamacpp-f32, llamacpp-q8_0,
 * llamacpp-q4_0; columns: the golden stems in order. */
static const int32_t pinned_first_diff[4][3][N_GOLDEN] = {
    /* ours-f32: f32, f16, q8 */
    {{-1, -1, -1, -1, -1, -1}, {-1, -1, -1, 161, -1, -1}, {-1, -1, -1, 161, -1, -1}},
    /* llamacpp-f32 */
    {{-1, -1, -1, -1, -1, -1}, {-1, -1, -1, 161, -1, -1}, {-1, -1, -1, 161, -1, -1}},
    /* llamacpp-q8_0 */
    {{-1, 110, -1, 200, -1, -1}, {-1, 110, -1, 200, -1, -1}, {-1, 181, -1, 142, 51, 51}},
    /* llamacpp-q4_0 */
    {{23, 23, 5, 5, 14, 14}, {23, 23, 5, 5, 14, 14}, {23, 23, 5, 5, 14, 14}},
};

/* Agreement of the first 64 greedy tokens with the F32 golden (run.c's
 * n256 runs), scalar kernels. llama.cpp's figures (golden/llamacpp-greedy.md,
 * its defaults: q8 activations for quantized weights, F16 KV cache): F32 and
 * Q8_0 64/64 for all three prompts, Q4_0 23, 5 and 14. PINNED like above:
 * [model][act][prompt]. */
static const int32_t pinned_agree64[4][3][3] = {
    {{64, 64, 64}, {64, 64, 64}, {64, 64, 64}},
    {{64, 64, 64}, {64, 64, 64}, {64, 64, 64}},
    {{64, 64, 64}, {64, 64, 64}, {64, 64, 51}},
    {{23, 5, 14}, {23, 5, 14}, {23, 5, 14}},
};

START_TEST(test_greedy_pinned) {
  int failures = 0;
  for (int which = 0; which < 4; which++) {
    nb_model *m = load(model_path(which));
    for (int act = NB_ACT_F32; act <= NB_ACT_Q8; act++) {
      for (int k = 0; k < N_GOLDEN; k++) {
        golden g;
        golden_load(&g, golden_stems[k]);
        nb_ctx *c = ctx_new_k(m, act, 1, 0, "scalar");
        int32_t out[512];
        int32_t n = greedy(c, g.prompt, g.n_prompt, max_gen_of(&g), out);
        int32_t d = first_diff(out, n, g.gen, g.n_gen);
        bool n256 = k % 2 == 1;
        int32_t agree = -1;
        if (n256) {
          int32_t lim = 64;
          agree = 0;
          while (agree < lim && agree < n && agree < g.n_gen && out[agree] == g.gen[agree]) agree++;
        }
        printf("greedy %-14s act %-3s %-42s first diff %4d%s", model_names[which],
               nb_act_name(act), golden_stems[k], d, n256 ? "" : "\n");
        if (n256) printf("  agree64 %d\n", agree);
        if (d != pinned_first_diff[which][act][k]) {
          printf("  ^ PINNED first diff was %d\n", pinned_first_diff[which][act][k]);
          failures++;
        }
        if (n256 && agree != pinned_agree64[which][act][k / 2]) {
          printf("  ^ PINNED agree64 was %d\n", pinned_agree64[which][act][k / 2]);
          failures++;
        }
        nb_ctx_free(c);
        nb_free(g.stdout_text);
      }
    }
    nb_model_free(m);
  }
  ck_assert_int_eq(failures, 0);
}
END_TEST

/* ------------------------------------------------- threads, ctx, cancel */

START_TEST(test_threads_bit_identical) {
  int32_t ids[LOG_ROWS];
  float *gold = golden_logits(ids);
  for (int which = 0; which < 4; which += 3) { /* f32 file and q4_0 file */
    nb_model *m = load(model_path(which));
    for (int act = NB_ACT_F32; act <= NB_ACT_Q8; act++) {
      float *a = nb_malloc((size_t)LOG_ROWS * VOCAB * 4);
      float *b = nb_malloc((size_t)LOG_ROWS * VOCAB * 4);
      nb_ctx *c1 = ctx_new(m, act, 1, 0), *c2 = ctx_new(m, act, 2, 0);
      nb_err e = {0};
      ck_assert_int_eq(nb_ctx_eval_all(c1, ids, LOG_ROWS, a, &e), 0);
      ck_assert_int_eq(nb_ctx_eval_all(c2, ids, LOG_ROWS, b, &e), 0);
      ck_assert_msg(memcmp(a, b, (size_t)LOG_ROWS * VOCAB * 4) == 0,
                    "%s act %s: 1 and 2 threads differ", model_names[which],
                    nb_act_name(act));
      nb_ctx_free(c1);
      nb_ctx_free(c2);
      nb_free(a);
      nb_free(b);
    }
    nb_model_free(m);
  }
  nb_free(gold);
}
END_TEST

START_TEST(test_ctx_overflow_and_bad_tokens) {
  nb_model *m = load(model_path(1));
  nb_ctx *c = ctx_new(m, NB_ACT_F16, 2, 8);
  ck_assert_int_eq(nb_ctx_n_ctx(c), 8);
  ck_assert_ptr_null(nb_ctx_logits(c));
  int32_t ids[9] = {1, 403, 407, 261, 378, 432, 383, 286, 261};
  nb_err e = {0};
  ck_assert_int_eq(nb_ctx_eval(c, ids, 9, &e), NB_ECTX);
  ck_assert_int_eq(nb_ctx_pos(c), 0);
  ck_assert_int_eq(nb_ctx_eval(c, ids, 6, &e), 0);
  float l6[VOCAB];
  memcpy(l6, nb_ctx_logits(c), sizeof l6);
  ck_assert_int_eq(nb_ctx_eval(c, ids + 6, 3, &e), NB_ECTX);
  ck_assert_int_eq(nb_ctx_pos(c), 6);
  ck_assert(memcmp(l6, nb_ctx_logits(c), sizeof l6) == 0);
  int32_t bad[2] = {1, 512};
  ck_assert_int_eq(nb_ctx_eval(c, bad, 2, &e), NB_EINVAL);
  bad[1] = -3;
  ck_assert_int_eq(nb_ctx_eval(c, bad, 2, &e), NB_EINVAL);
  ck_assert_int_eq(nb_ctx_eval(c, bad, 0, &e), NB_EINVAL);
  ck_assert_int_eq(nb_ctx_pos(c), 6);
  ck_assert_int_eq(nb_ctx_eval(c, ids + 6, 2, &e), 0);
  ck_assert_int_eq(nb_ctx_pos(c), 8);
  /* truncate and re-evaluate gives the same logits */
  ck_assert_int_eq(nb_ctx_truncate(c, 6, &e), 0);
  ck_assert_ptr_null(nb_ctx_logits(c));
  ck_assert_int_eq(nb_ctx_truncate(c, 7, &e), NB_EINVAL);
  ck_assert_int_eq(nb_ctx_truncate(c, 5, &e), 0);
  ck_assert_int_eq(nb_ctx_eval(c, ids + 5, 1, &e), 0);
  ck_assert(memcmp(l6, nb_ctx_logits(c), sizeof l6) == 0);
  nb_ctx_free(c);
  /* a context longer than the model's is refused */
  nb_ctx_params p;
  nb_ctx_params_default(&p);
  p.n_ctx = nb_model_hparams(m)->n_ctx_train + 1;
  ck_assert_int_eq(nb_ctx_new(&c, m, &p, &e), NB_EINVAL);
  p.n_ctx = 0;
  p.act = 7;
  ck_assert_int_eq(nb_ctx_new(&c, m, &p, &e), NB_EINVAL);
  nb_model_free(m);
}
END_TEST

START_TEST(test_cancel) {
  nb_model *m = load(model_path(1));
  nb_ctx *c = ctx_new(m, NB_ACT_F32, 2, 0);
  int32_t ids[5] = {1, 403, 407, 261, 378};
  nb_err e = {0};
  ck_assert_int_eq(nb_ctx_eval(c, ids, 3, &e), 0);
  float l3[VOCAB];
  memcpy(l3, nb_ctx_logits(c), sizeof l3);
  volatile int flag = 1;
  nb_ctx_set_cancel_flag(c, &flag);
  ck_assert_int_eq(nb_ctx_eval(c, ids + 3, 2, &e), NB_ECANCELED);
  ck_assert_int_eq(nb_ctx_pos(c), 3);
  ck_assert(memcmp(l3, nb_ctx_logits(c), sizeof l3) == 0);
  flag = 0;
  ck_assert_int_eq(nb_ctx_eval(c, ids + 3, 2, &e), 0);
  ck_assert_int_eq(nb_ctx_pos(c), 5);
  ck_assert_int_eq(argmax(nb_ctx_logits(c), VOCAB), 432); /* ',' as golden */
  nb_ctx_free(c);
  nb_model_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("exec");
  TCase *tc = tcase_create("exec");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_logits_f32);
  tcase_add_test(tc, test_logits_f16_q8);
  tcase_add_test(tc, test_greedy_f32_golden);
  tcase_add_test(tc, test_greedy_pinned);
  tcase_add_test(tc, test_threads_bit_identical);
  tcase_add_test(tc, test_ctx_overflow_and_bad_tokens);
  tcase_add_test(tc, test_cancel);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
