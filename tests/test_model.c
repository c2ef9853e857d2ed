/*
 * test_model.c: binding a GGUF file as a Llama model. A small synthetic
 * model is written with the GGUF writer, valid and then with one defect at a
 * time; each defect must be refused with NB_EMODEL and a message naming the
 * key or tensor at fault. Also the llama.cpp stories260K files' hparams.
 */
#include <stdio.h>
#include <string.h>

#include "nibble.h"
#include "testutil.h"

enum defect {
  D_NONE,
  D_ARCH,          /* general.architecture = gpt2 */
  D_NO_BLOCKS,     /* llama.block_count missing */
  D_HEADS,         /* head_count 5 does not divide dim 64 */
  D_KV_HEADS,      /* head_count_kv 3 does not divide 4 */
  D_ROPE_ODD,      /* rope.dimension_count 7 */
  D_ROPE_BIG,      /* rope.dimension_count 32 > head_dim 16 */
  D_NO_TENSOR,     /* blk.1.ffn_up.weight missing */
  D_SHAPE,         /* blk.0.attn_k.weight [64, 64] instead of [64, 32] */
  D_NORM_TYPE,     /* blk.0.attn_norm.weight stored as q8_0 */
  D_VOCAB,         /* tokenizer.ggml.tokens has 31 entries for 32 rows */
  D_DIM_BIG,       /* embedding_length 100000 */
  D_MINIMAL,       /* optional keys absent, output tied */
  D_COUNT
};

#define DIM 64
#define LAYERS 2
#define HEADS 4
#define KV_HEADS 2
#define HEAD_DIM (DIM / HEADS)
#define KV_DIM (KV_HEADS * HEAD_DIM)
#define FFN 96
#define VOCAB 32

static float buf[VOCAB * DIM * 2 + FFN * DIM * 3];
static unsigned char q8buf[DIM / 32 * 34];

static void add(nb_gguf_writer *w, const char *name, int64_t k, int64_t n) {
  nb_err e = {0};
  int64_t ne[2] = {k, n};
  int rc = nb_gguf_writer_add_tensor(w, name, NB_TYPE_F32, n > 1 ? 2 : 1, ne, buf, &e);
  ck_assert_msg(rc == 0, "%s: %s", name, e.msg);
}

static const char *write_model(enum defect d) {
  for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++)
    buf[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  nb_gguf_writer *w = NULL;
  nb_err e = {0};
  ck_assert_int_eq(nb_gguf_writer_new(&w, &e), 0);
  const char *arch = d == D_ARCH ? "gpt2" : "llama";
  nb_gguf_writer_set_str(w, "general.architecture", arch, strlen(arch), &e);
  nb_gguf_writer_set_u32(w, "llama.context_length", 128, &e);
  nb_gguf_writer_set_u32(w, "llama.embedding_length", d == D_DIM_BIG ? 100000 : DIM, &e);
  if (d != D_NO_BLOCKS) nb_gguf_writer_set_u32(w, "llama.block_count", LAYERS, &e);
  nb_gguf_writer_set_u32(w, "llama.feed_forward_length", FFN, &e);
  nb_gguf_writer_set_u32(w, "llama.attention.head_count", d == D_HEADS ? 5 : HEADS, &e);
  if (d != D_MINIMAL) {
    nb_gguf_writer_set_u32(w, "llama.attention.head_count_kv", d == D_KV_HEADS ? 3 : KV_HEADS, &e);
    nb_gguf_writer_set_u32(w, "llama.rope.dimension_count",
                           d == D_ROPE_ODD ? 7 : d == D_ROPE_BIG ? 32 : HEAD_DIM, &e);
    nb_gguf_writer_set_f32(w, "llama.rope.freq_base", 500000.0f, &e);
    nb_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-6f, &e);
    nb_str toks[VOCAB];
    static char names[VOCAB][8];
    for (int i = 0; i < VOCAB; i++) {
      snprintf(names[i], sizeof names[i], "t%d", i);
      toks[i].data = names[i];
      toks[i].len = strlen(names[i]);
    }
    nb_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, d == D_VOCAB ? VOCAB - 1 : VOCAB, &e);
  }
  int kv_dim = d == D_MINIMAL ? DIM : KV_DIM;
  add(w, "token_embd.weight", DIM, VOCAB);
  char name[64];
  for (int l = 0; l < LAYERS; l++) {
#define T(s) (snprintf(name, sizeof name, "blk.%d." s, l), name)
    if (d == D_NORM_TYPE && l == 0) {
      int64_t ne[1] = {DIM};
      ck_assert_int_eq(nb_gguf_writer_add_tensor(w, T("attn_norm.weight"), NB_TYPE_Q8_0, 1, ne, q8buf, &e), 0);
    } else {
      add(w, T("attn_norm.weight"), DIM, 1);
    }
    add(w, T("attn_q.weight"), DIM, DIM);
    add(w, T("attn_k.weight"), DIM, d == D_SHAPE && l == 0 ? DIM : kv_dim);
    add(w, T("attn_v.weight"), DIM, kv_dim);
    add(w, T("attn_output.weight"), DIM, DIM);
    add(w, T("ffn_norm.weight"), DIM, 1);
    add(w, T("ffn_gate.weight"), DIM, FFN);
    if (!(d == D_NO_TENSOR && l == 1)) add(w, T("ffn_up.weight"), DIM, FFN);
    add(w, T("ffn_down.weight"), FFN, DIM);
    add(w, T("extra_unused.weight"), DIM, 1); /* extra tensors are ignored */
#undef T
  }
  add(w, "output_norm.weight", DIM, 1);
  if (d != D_MINIMAL) add(w, "output.weight", DIM, VOCAB);
  char fname[64];
  snprintf(fname, sizeof fname, "model-%d.gguf", (int)d);
  const char *path = nbt_tmp(fname);
  int rc = nb_gguf_writer_write(w, path, &e);
  ck_assert_msg(rc == 0, "write: %s", e.msg);
  nb_gguf_writer_free(w);
  return path;
}

START_TEST(test_valid_model) {
  nb_model *m = NULL;
  nb_err e = {0};
  int rc = nb_model_load(&m, write_model(D_NONE), &e);
  ck_assert_msg(rc == 0, "%s", e.msg);
  const nb_hparams *hp = nb_model_hparams(m);
  ck_assert_int_eq(hp->n_vocab, VOCAB);
  ck_assert_int_eq(hp->dim, DIM);
  ck_assert_int_eq(hp->n_layers, LAYERS);
  ck_assert_int_eq(hp->n_heads, HEADS);
  ck_assert_int_eq(hp->n_kv_heads, KV_HEADS);
  ck_assert_int_eq(hp->head_dim, HEAD_DIM);
  ck_assert_int_eq(hp->ffn_dim, FFN);
  ck_assert_int_eq(hp->n_ctx_train, 128);
  ck_assert_int_eq(hp->rope_dim, HEAD_DIM);
  ck_assert(hp->rope_base == 500000.0f);
  ck_assert(hp->norm_eps == 1e-6f);
  ck_assert(!hp->tied_output);
  uint64_t per_layer = 2 * DIM * DIM + 2 * DIM * KV_DIM + 3 * DIM * FFN + 2 * DIM;
  ck_assert_uint_eq(nb_model_n_params(m), 2 * VOCAB * DIM + LAYERS * per_layer + DIM);
  /* bytes read per token: the layers, the norms, the output matrix and one
   * embedding row, all F32 here */
  ck_assert_uint_eq(nb_model_weight_bytes(m),
                    4 * (LAYERS * per_layer + DIM + VOCAB * DIM + DIM));
  ck_assert_ptr_nonnull(nb_model_gguf(m));
  /* state: the KV cache dominates and scales with n_ctx and the act mode */
  uint64_t s64 = nb_model_state_bytes(m, 64, NB_ACT_F16);
  uint64_t s128 = nb_model_state_bytes(m, 128, NB_ACT_F16);
  uint64_t kv_f16 = 2ull * LAYERS * 64 * KV_DIM * 2;
  ck_assert_uint_ge(s64, kv_f16);
  ck_assert_uint_gt(s128, s64);
  ck_assert_uint_gt(nb_model_state_bytes(m, 64, NB_ACT_F32), s64);
  ck_assert_uint_eq(nb_model_state_bytes(m, 0, NB_ACT_F16), s128);
  /* and it runs: a context of each act mode evaluates a few tokens */
  for (int act = NB_ACT_F32; act <= NB_ACT_Q8; act++) {
    nb_ctx_params p;
    nb_ctx_params_default(&p);
    p.act = act;
    p.n_threads = 1;
    nb_ctx *c = NULL;
    ck_assert_int_eq(nb_ctx_new(&c, m, &p, &e), 0);
    int32_t ids[3] = {1, 5, 31};
    ck_assert_int_eq(nb_ctx_eval(c, ids, 3, &e), 0);
    const float *l = nb_ctx_logits(c);
    for (int i = 0; i < VOCAB; i++) ck_assert(l[i] == l[i]);
    nb_ctx_free(c);
  }
  nb_model_free(m);
}
END_TEST

START_TEST(test_minimal_defaults_and_tied) {
  nb_model *m = NULL;
  nb_err e = {0};
  int rc = nb_model_load(&m, write_model(D_MINIMAL), &e);
  ck_assert_msg(rc == 0, "%s", e.msg);
  const nb_hparams *hp = nb_model_hparams(m);
  ck_assert_int_eq(hp->n_kv_heads, HEADS); /* default: head_count */
  ck_assert_int_eq(hp->rope_dim, HEAD_DIM);
  ck_assert(hp->rope_base == 10000.0f);
  ck_assert(hp->norm_eps == 1e-5f);
  ck_assert(hp->tied_output);
  nb_model_free(m);
}
END_TEST

static const struct {
  enum defect d;
  const char *needle; /* must appear in the message */
} bad[] = {
    {D_ARCH, "general.architecture"},
    {D_NO_BLOCKS, "llama.block_count"},
    {D_HEADS, "llama.attention.head_count"},
    {D_KV_HEADS, "llama.attention.head_count_kv"},
    {D_ROPE_ODD, "llama.rope.dimension_count"},
    {D_ROPE_BIG, "llama.rope.dimension_count"},
    {D_NO_TENSOR, "blk.1.ffn_up.weight"},
    {D_SHAPE, "blk.0.attn_k.weight"},
    {D_NORM_TYPE, "blk.0.attn_norm.weight"},
    {D_VOCAB, "tokenizer.ggml.tokens"},
    {D_DIM_BIG, "llama.embedding_length"},
};

START_TEST(test_defects_refused) {
  nb_model *m = NULL;
  nb_err e = {0};
  int rc = nb_model_load(&m, write_model(bad[_i].d), &e);
  ck_assert_int_eq(rc, NB_EMODEL);
  ck_assert_int_eq(e.code, NB_EMODEL);
  ck_assert_ptr_null(m);
  ck_assert_msg(strstr(e.msg, bad[_i].needle) != NULL, "defect %d: '%s' lacks '%s'",
                (int)bad[_i].d, e.msg, bad[_i].needle);
}
END_TEST

START_TEST(test_missing_file) {
  nb_model *m = NULL;
  nb_err e = {0};
  ck_assert_int_lt(nb_model_load(&m, "/nonexistent/model.gguf", &e), 0);
  ck_assert_ptr_null(m);
  ck_assert_int_eq(nb_model_load(&m, NULL, &e), NB_EINVAL);
  nb_model_free(NULL);
}
END_TEST

START_TEST(test_llamacpp_files) {
  const char *files[] = {"llamacpp/stories260K-f32.gguf", "llamacpp/stories260K-q8_0.gguf",
                         "llamacpp/stories260K-q4_0.gguf"};
  for (int i = 0; i < 3; i++) {
    nb_model *m = NULL;
    nb_err e = {0};
    int rc = nb_model_load(&m, nbt_shared(files[i]), &e);
    ck_assert_msg(rc == 0, "%s: %s", files[i], e.msg);
    const nb_hparams *hp = nb_model_hparams(m);
    ck_assert_int_eq(hp->dim, 64);
    ck_assert_int_eq(hp->n_layers, 5);
    ck_assert_int_eq(hp->n_heads, 8);
    ck_assert_int_eq(hp->n_kv_heads, 4);
    ck_assert_int_eq(hp->n_vocab, 512);
    ck_assert_int_eq(hp->ffn_dim, 172);
    ck_assert_int_eq(hp->n_ctx_train, 512);
    ck_assert_int_eq(hp->rope_dim, 8);
    /* 5 x (2*64*64 + 2*64*32 + 3*64*172 + 2*64) + 64 + 2*512*64 */
    ck_assert_uint_eq(nb_model_n_params(m), 292800);
    nb_model_free(m);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("model");
  TCase *tc = tcase_create("model");
  tcase_add_test(tc, test_valid_model);
  tcase_add_test(tc, test_minimal_defaults_and_tied);
  tcase_add_loop_test(tc, test_defects_refused, 0, (int)(sizeof bad / sizeof bad[0]));
  tcase_add_test(tc, test_missing_file);
  tcase_add_test(tc, test_llamacpp_files);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
