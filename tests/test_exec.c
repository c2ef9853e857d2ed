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
#include <sys/wait.h>

#include "../src/cli/gen.h"
#include "../src/cli/ppl.h"
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

/* Our conversion quantized by our quantizer (llama.cpp's policy), made once
 * per process. */
static const char *our_quant(uint32_t type) {
  static char paths[2][1024];
  char *path = paths[type == NB_TYPE_Q4_0];
  if (path[0] == '\0') {
    snprintf(path, 1024, "%s",
             nbt_tmp(type == NB_TYPE_Q4_0 ? "stories260K-q4_0.gguf" : "stories260K-q8_0.gguf"));
    nb_quant_params p;
    nb_quant_params_default(&p, type);
    nb_err e = {0};
    int rc = nb_quantize_file(our_f32(), path, &p, NULL, NULL, &e);
    ck_assert_msg(rc == 0, "quantize: %s", e.msg);
  }
  return path;
}

#define N_MODELS 6
static const char *model_path(int which) {
  switch (which) {
    case 0: return our_f32();
    case 1: return nbt_shared("llamacpp/stories260K-f32.gguf");
    case 2: return nbt_shared("llamacpp/stories260K-q8_0.gguf");
    case 3: return nbt_shared("llamacpp/stories260K-q4_0.gguf");
    case 4: return our_quant(NB_TYPE_Q8_0);
    default: return our_quant(NB_TYPE_Q4_0);
  }
}
static const char *const model_names[N_MODELS] = {
    "ours-f32", "llamacpp-f32", "llamacpp-q8_0", "llamacpp-q4_0", "ours-q8_0", "ours-q4_0"};

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
 * Measured: max |logit error| 0.0184 (scalar kernels) and 0.0166 (AVX2) over the 21
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
 * investigate, then re-pin. Rows: model_names; columns: the golden stems in
 * order. Our q8_0 file behaves exactly as llama.cpp's. Our conversion keeps
 * llama2.c's shared classifier (output tied to token_embd), so our Q4_0
 * quantizer gives the tied embedding the output rule (Q8_0), as llama.cpp's
 * does; llama.cpp's own file instead has a separate Q8_0 output.weight and a
 * Q4_0 embedding, which differs only under --act q8 on "The little dog". */
static const int32_t pinned_first_diff[N_MODELS][3][N_GOLDEN] = {
    /* ours-f32: f32, f16, q8 */
    {{-1, -1, -1, -1, -1, -1}, {-1, -1, -1, 161, -1, -1}, {-1, -1, -1, 161, -1, -1}},
    /* llamacpp-f32 */
    {{-1, -1, -1, -1, -1, -1}, {-1, -1, -1, 161, -1, -1}, {-1, -1, -1, 161, -1, -1}},
    /* llamacpp-q8_0 */
    {{-1, 110, -1, 200, -1, -1}, {-1, 110, -1, 200, -1, -1}, {-1, 181, -1, 142, 51, 51}},
    /* llamacpp-q4_0 */
    {{23, 23, 5, 5, 14, 14}, {23, 23, 5, 5, 14, 14}, {23, 23, 5, 5, 14, 14}},
    /* ours-q8_0 */
    {{-1, 110, -1, 200, -1, -1}, {-1, 110, -1, 200, -1, -1}, {-1, 181, -1, 142, 51, 51}},
    /* ours-q4_0 */
    {{23, 23, 5, 5, 14, 14}, {23, 23, 5, 5, 14, 14}, {23, 23, 5, 5, 21, 21}},
};

/* Agreement of the first 64 greedy tokens with the F32 golden (run.c's
 * n256 runs), scalar kernels. llama.cpp's figures (golden/llamacpp-greedy.md,
 * its defaults: q8 activations for quantized weights, F16 KV cache): F32 and
 * Q8_0 64/64 for all three prompts, Q4_0 23, 5 and 14. PINNED like above:
 * [model][act][prompt]. */
static const int32_t pinned_agree64[N_MODELS][3][3] = {
    {{64, 64, 64}, {64, 64, 64}, {64, 64, 64}},
    {{64, 64, 64}, {64, 64, 64}, {64, 64, 64}},
    {{64, 64, 64}, {64, 64, 64}, {64, 64, 51}},
    {{23, 5, 14}, {23, 5, 14}, {23, 5, 14}},
    {{64, 64, 64}, {64, 64, 64}, {64, 64, 51}},
    {{23, 5, 14}, {23, 5, 14}, {23, 5, 21}},
};

START_TEST(test_greedy_pinned) {
  int failures = 0;
  for (int which = 0; which < N_MODELS; which++) {
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
      /* and token by token, exactly: on the q4_0 file a batch under f16
       * takes the kernels' prepared fixed-point input (NB__X_QH), one
       * token the F16 path */
      nb_ctx *cs = ctx_new(m, act, 2, 0);
      for (int r = 0; r < LOG_ROWS; r++) {
        ck_assert_int_eq(nb_ctx_eval(cs, &ids[r], 1, &e), 0);
        ck_assert_msg(memcmp(nb_ctx_logits(cs), a + (size_t)r * VOCAB, VOCAB * 4) == 0,
                      "%s act %s row %d: batch and token by token differ",
                      model_names[which], nb_act_name(act), r);
      }
      nb_ctx_free(cs);
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

/* ------------------------------------------------------ text via nb_gen */

typedef struct sink {
  char *buf;
  size_t len, cap;
  int32_t ids[512];
  int32_t n_ids;
} sink;

static void sink_text(void *ud, const char *s, size_t n) {
  sink *k = ud;
  if (k->len + n + 1 > k->cap) {
    k->cap = (k->len + n + 1) * 2;
    k->buf = nb_realloc(k->buf, k->cap);
    ck_assert_ptr_nonnull(k->buf);
  }
  memcpy(k->buf + k->len, s, n);
  k->len += n;
  k->buf[k->len] = '\0';
}

static void sink_token(void *ud, int32_t id) {
  sink *k = ud;
  ck_assert_int_lt(k->n_ids, 512);
  k->ids[k->n_ids++] = id;
}

/* What `nibble run --act f32 --temp 0 -p PROMPT -n N` does, in process:
 * tokenize, echo the prompt through the detokenizer, generate, add "\n".
 * stdout must equal run.c's byte for byte. */
START_TEST(test_text_equals_runc_stdout) {
  for (int which = 0; which < 2; which++) {
    nb_model *m = load(model_path(which));
    nb_tokenizer *tok = NULL;
    nb_err e = {0};
    ck_assert_msg(nb_tokenizer_from_gguf(&tok, nb_model_gguf(m), &e) == 0, "%s", e.msg);
    for (int k = 0; k < N_GOLDEN; k++) {
      golden g;
      golden_load(&g, golden_stems[k]);
      int32_t *ids = NULL, n = 0;
      ck_assert_int_eq(nb_tokenize(tok, g.prompt_text, strlen(g.prompt_text),
                                   nb_tokenizer_add_bos(tok), &ids, &n, &e), 0);
      ck_assert_int_eq(first_diff(ids, n, g.prompt, g.n_prompt), -1);
      nb_ctx *c = ctx_new(m, NB_ACT_F32, 1, 0);
      nb_sampler_params sp;
      nb_sampler_params_default(&sp);
      sp.temp = 0;
      nb_sampler *smp = NULL;
      nb_detok *dt = NULL;
      ck_assert_int_eq(nb_sampler_new(&smp, &sp, 512, &e), 0);
      ck_assert_int_eq(nb_detok_new(&dt, tok, &e), 0);
      sink out = {0};
      for (int32_t i = 0; i < n; i++) {
        nb_str piece;
        ck_assert_int_eq(nb_detok_push(dt, ids[i], &piece, &e), 0);
        sink_text(&out, piece.data, piece.len);
      }
      nb_gen gen;
      nb_gen_init(&gen, c, smp, tok, dt);
      gen.n_predict = max_gen_of(&g);
      gen.on_text = sink_text;
      gen.on_token = sink_token;
      gen.ud = &out;
      nb_gen_stats st;
      ck_assert_int_eq(nb_gen_run(&gen, ids, n, &st, &e), 0);
      sink_text(&out, "\n", 1);
      ck_assert_int_eq(first_diff(out.ids, out.n_ids, g.gen, g.n_gen), -1);
      ck_assert_int_eq(st.n_prompt, n);
      ck_assert_int_eq(st.n_gen, g.n_gen);
      /* the little dog n256 ends on BOS, the others on -n */
      ck_assert_str_eq(nb_gen_stop_name(st.stop), k == 5 ? "eos" : "length");
      ck_assert_uint_eq(out.len, g.stdout_len);
      ck_assert_msg(memcmp(out.buf, g.stdout_text, out.len) == 0,
                    "%s %s: text differs", model_names[which], golden_stems[k]);
      nb_free(out.buf);
      nb_free(ids);
      nb_detok_free(dt);
      nb_sampler_free(smp);
      nb_ctx_free(c);
      nb_free(g.stdout_text);
    }
    nb_tokenizer_free(tok);
    nb_model_free(m);
  }
}
END_TEST

/* Stop reasons other than eos/length: a full context (the last token is
 * emitted but not evaluated) and cancellation. */
START_TEST(test_gen_context_and_cancel) {
  nb_model *m = load(model_path(1));
  nb_tokenizer *tok = NULL;
  nb_err e = {0};
  ck_assert_int_eq(nb_tokenizer_from_gguf(&tok, nb_model_gguf(m), &e), 0);
  nb_sampler_params sp;
  nb_sampler_params_default(&sp);
  sp.temp = 0;
  nb_sampler *smp = NULL;
  ck_assert_int_eq(nb_sampler_new(&smp, &sp, 512, &e), 0);
  nb_ctx *c = ctx_new(m, NB_ACT_F32, 1, 8);
  int32_t prompt[5] = {1, 403, 407, 261, 378};
  sink out = {0};
  nb_gen g;
  nb_gen_init(&g, c, smp, tok, NULL);
  g.n_predict = 100;
  g.on_token = sink_token;
  g.ud = &out;
  nb_gen_stats st;
  ck_assert_int_eq(nb_gen_run(&g, prompt, 5, &st, &e), 0);
  ck_assert_str_eq(nb_gen_stop_name(st.stop), "context");
  ck_assert_int_eq(st.n_gen, 8 - 5 + 1);
  ck_assert_int_eq(nb_ctx_pos(c), 8);
  ck_assert_int_eq(first_diff(out.ids, out.n_ids, (const int32_t[]){432, 383, 286, 261}, 4), -1);
  /* a prompt that does not fit: NB_ECTX, nothing evaluated */
  ck_assert_int_eq(nb_ctx_truncate(c, 0, &e), 0);
  int32_t long_prompt[9] = {1, 403, 407, 261, 378, 432, 383, 286, 261};
  ck_assert_int_eq(nb_gen_run(&g, long_prompt, 9, &st, &e), NB_ECTX);
  ck_assert_int_eq(nb_ctx_pos(c), 0);
  /* canceled before the prompt: nothing evaluated, nothing generated */
  volatile int flag = 1;
  g.cancel = &flag;
  out.n_ids = 0;
  ck_assert_int_eq(nb_gen_run(&g, prompt, 5, &st, &e), 0);
  ck_assert_str_eq(nb_gen_stop_name(st.stop), "canceled");
  ck_assert_int_eq(st.n_gen, 0);
  ck_assert_int_eq(out.n_ids, 0);
  ck_assert_int_eq(nb_ctx_pos(c), 0);
  nb_ctx_free(c);
  nb_sampler_free(smp);
  nb_tokenizer_free(tok);
  nb_model_free(m);
}
END_TEST

/* The CLI end to end on one golden file (ours), and its refusals. */
static int run_cli(const char *args, char **out, size_t *len) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "%s run %s 2>/dev/null", nbt_build("nibble"), args);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  size_t cap = 1 << 16;
  *out = nb_malloc(cap);
  *len = fread(*out, 1, cap - 1, p);
  (*out)[*len] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_cli_run) {
  golden g;
  golden_load(&g, "greedy_the_little_dog_n256");
  char args[4096];
  char *out;
  size_t len;
  snprintf(args, sizeof args, "-m %s --act f32 --temp 0 -t 1 -n %d -p '%s'", our_f32(),
           max_gen_of(&g), g.prompt_text);
  ck_assert_int_eq(run_cli(args, &out, &len), 0);
  ck_assert_uint_eq(len, g.stdout_len);
  ck_assert(memcmp(out, g.stdout_text, len) == 0);
  nb_free(out);
  /* refusals: a clear message and exit 1, never a crash */
  static const struct {
    const char *args;
    int status; /* 1: failure, 2: usage error */
  } bad[] = {
      {"-m /nonexistent.gguf -p hello", 1},
      {"-m %s -p ''", 1},
      {"-m %s -c 4 -p 'Once upon a time there was a dog'", 1},
      {"-m %s -p $'\\xff\\xfe bad'", 1},
      {"-m %s -n 0 -p hello", 2},
      {"-m %s --act f8 -p hello", 2},
      {"-m %s -n 5", 2},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char a2[4096];
    snprintf(a2, sizeof a2, bad[i].args, our_f32());
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "bash -c \"%s run %s\" >/dev/null 2>&1",
             nbt_build("nibble"), a2);
    int st = system(cmd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == bad[i].status,
                  "'%s': status %d", a2, st);
  }
  nb_free(g.stdout_text);
}
END_TEST

/* ---------------------------------------------------------- perplexity */

/* llama.cpp's llama-perplexity on golden/stories-eval.txt (10,175 tokens),
 * golden/quality-llamacpp.md: "exact" configuration (F32 throughout) F32
 * model c=128 2.9620 +/- 0.05980, c=256 3.3645 +/- 0.09362; the float64
 * evaluation of the Q8_0 and Q4_0 files at c=128: 2.9641 and 3.2023. Our
 * --act f32 reproduces all of them to the printed digit. (Measured, not
 * asserted: --act f16 gives 2.9621 / 3.3646 for F32, llama.cpp's default
 * configuration with its F16 KV cache gives 2.9621 / 3.3647; --act q8 gives
 * Q8_0 2.9656, Q4_0 3.2047 at c=128, llama.cpp 2.9646 / 3.2036.) */
START_TEST(test_perplexity_matches_llamacpp) {
  size_t len;
  char *text = nbt_read_file(nbt_shared("golden/stories-eval.txt"), &len);
  ck_assert_ptr_nonnull(text);
  static const struct {
    int which;
    int32_t c;
    double ppl, err;
  } cases[] = {
      {1, 128, 2.9620, 0.05980},
      {1, 256, 3.3645, 0.09362},
      {2, 128, 2.9641, -1},
      {3, 128, 3.2023, -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    nb_model *m = load(model_path(cases[i].which));
    nb_tokenizer *tok = NULL;
    nb_err e = {0};
    ck_assert_int_eq(nb_tokenizer_from_gguf(&tok, nb_model_gguf(m), &e), 0);
    int32_t *ids = NULL, n = 0;
    ck_assert_int_eq(nb_tokenize(tok, text, len, true, &ids, &n, &e), 0);
    ck_assert_int_eq(n, 10175);
    nb_ctx *c = ctx_new(m, NB_ACT_F32, 2, cases[i].c);
    nb_ppl_result r;
    ck_assert_int_eq(nb_ppl_run(c, 512, nb_tokenizer_bos(tok), ids, n, cases[i].c,
                                NULL, NULL, &r, &e), 0);
    printf("perplexity %s c=%d: %.4f +/- %.5f (%d chunks, %lld scored)\n",
           model_names[cases[i].which], cases[i].c, r.ppl, r.ppl_err, r.n_chunks,
           (long long)r.n_scored);
    ck_assert_int_eq(r.n_chunks, n / cases[i].c);
    ck_assert_int_eq(r.n_scored, (int64_t)r.n_chunks * (cases[i].c / 2 - 1));
    ck_assert_msg(fabs(r.ppl - cases[i].ppl) < 0.00005, "%.5f", r.ppl);
    if (cases[i].err > 0) ck_assert(fabs(r.ppl_err - cases[i].err) < 0.000005);
    nb_ctx_free(c);
    nb_free(ids);
    nb_tokenizer_free(tok);
    nb_model_free(m);
  }
  nb_free(text);
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
  tcase_add_test(tc, test_text_equals_runc_stdout);
  tcase_add_test(tc, test_cli_run);
  tcase_add_test(tc, test_gen_context_and_cancel);
  tcase_add_test(tc, test_perplexity_matches_llamacpp);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
