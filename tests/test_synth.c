/* test_synth.c: tools/nb-synth writes GGUF files that our reader, model
 * binder and tokenizer accept, with llama.cpp's tensor names, shapes and
 * types, N(0, std^2) weights and unit norms, the same bytes for the same
 * seed whatever the thread count (and the same bytes as before it moved to
 * the library's streaming writer: pinned), tensors larger than the writer's
 * chunk, and a vocabulary (built in, or copied from another GGUF). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "nb_internal.h"
#include "testutil.h"
#include "types.h"

/* Runs nb-synth with `args`; returns its exit status. */
static int synth(const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' -q %s", nbt_build("tools/nb-synth"), args);
  int st = system(cmd);
  ck_assert_msg(st != -1 && WIFEXITED(st), "cannot run: %s", cmd);
  return WEXITSTATUS(st);
}

#define SMALL "--dim 128 --ffn 352 --layers 2 --heads 4 --kv-heads 2 " \
              "--vocab 400 --ctx 256"

static bool files_equal(const char *a, const char *b) {
  size_t na, nb;
  char *x = nbt_read_file(a, &na), *y = nbt_read_file(b, &nb);
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(y);
  bool eq = na == nb && memcmp(x, y, na) == 0;
  nb_free(x);
  nb_free(y);
  return eq;
}

static const nb_tensor_info *tensor(const nb_gguf *g, const char *name) {
  int64_t i = nb_gguf_find_tensor(g, name);
  ck_assert_msg(i >= 0, "no tensor %s", name);
  return nb_gguf_tensor(g, i);
}

static void check_tensor(const nb_gguf *g, const char *name, uint32_t n_dims,
                         int64_t ne0, int64_t ne1, uint32_t type) {
  const nb_tensor_info *t = tensor(g, name);
  ck_assert_msg(t->n_dims == n_dims && t->ne[0] == ne0 && t->ne[1] == ne1 &&
                    t->type == type,
                "%s: %u dims %lld x %lld %s", name, t->n_dims,
                (long long)t->ne[0], (long long)t->ne[1],
                nb_type_name(t->type));
}

static int64_t key_int(const nb_gguf *g, const char *key) {
  int64_t v;
  nb_err e;
  ck_assert_msg(nb_gguf_get_int(g, key, &v, &e) == 0, "%s", e.msg);
  return v;
}

/* Shapes, types and keys of a q4_0 file of a small custom shape. */
START_TEST(test_layout_q4_0) {
  const char *path = nbt_tmp("small-q4_0.gguf");
  char args[512];
  snprintf(args, sizeof args, SMALL " --type q4_0 -t 2 -o '%s'", path);
  ck_assert_int_eq(synth(args), 0);
  nb_gguf *g = NULL;
  nb_err e;
  ck_assert_msg(nb_gguf_open(&g, path, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(nb_gguf_version(g), 3);
  ck_assert_int_eq(nb_gguf_n_tensors(g), 3 + 9 * 2);
  nb_str arch;
  ck_assert_int_eq(nb_gguf_get_str(g, "general.architecture", &arch, &e), 0);
  ck_assert(arch.len == 5 && !memcmp(arch.data, "llama", 5));
  ck_assert_int_eq(key_int(g, "llama.embedding_length"), 128);
  ck_assert_int_eq(key_int(g, "llama.feed_forward_length"), 352);
  ck_assert_int_eq(key_int(g, "llama.block_count"), 2);
  ck_assert_int_eq(key_int(g, "llama.attention.head_count"), 4);
  ck_assert_int_eq(key_int(g, "llama.attention.head_count_kv"), 2);
  ck_assert_int_eq(key_int(g, "llama.context_length"), 256);
  ck_assert_int_eq(key_int(g, "llama.rope.dimension_count"), 32);
  ck_assert_int_eq(key_int(g, "general.file_type"), 2);
  ck_assert_uint_eq(nb_gguf_arr_len(g, nb_gguf_find_key(
                                           g, "tokenizer.ggml.tokens")),
                    400);

  const uint32_t q4 = NB_TYPE_Q4_0, q8 = NB_TYPE_Q8_0, f32 = NB_TYPE_F32;
  check_tensor(g, "token_embd.weight", 2, 128, 400, q4);
  check_tensor(g, "output.weight", 2, 128, 400, q8); /* as llama.cpp */
  check_tensor(g, "output_norm.weight", 1, 128, 1, f32);
  for (int l = 0; l < 2; l++) {
    char n[64];
#define T(x) (snprintf(n, sizeof n, "blk.%d." x, l), n)
    check_tensor(g, T("attn_norm.weight"), 1, 128, 1, f32);
    check_tensor(g, T("ffn_norm.weight"), 1, 128, 1, f32);
    check_tensor(g, T("attn_q.weight"), 2, 128, 128, q4);
    check_tensor(g, T("attn_k.weight"), 2, 128, 64, q4);
    check_tensor(g, T("attn_v.weight"), 2, 128, 64, q4);
    check_tensor(g, T("attn_output.weight"), 2, 128, 128, q4);
    check_tensor(g, T("ffn_gate.weight"), 2, 128, 352, q4);
    check_tensor(g, T("ffn_up.weight"), 2, 128, 352, q4);
    check_tensor(g, T("ffn_down.weight"), 2, 352, 128, q4);
#undef T
  }
  nb_gguf_close(g);

  nb_model *m = NULL;
  ck_assert_msg(nb_model_load(&m, path, &e) == 0, "%s", e.msg);
  const nb_hparams *hp = nb_model_hparams(m);
  ck_assert_int_eq(hp->n_vocab, 400);
  ck_assert_int_eq(hp->head_dim, 32);
  ck_assert(!hp->tied_output);
  /* 2 * 128 * 400 + 2 * (2 * 128 * 128 + 2 * 128 * 64 + 3 * 128 * 352 +
   * 2 * 128) + 128 */
  ck_assert_uint_eq(nb_model_n_params(m),
                    2ull * 128 * 400 +
                        2ull * (2 * 128 * 128 + 2 * 128 * 64 + 3 * 128 * 352 +
                                2 * 128) +
                        128);
  nb_model_free(m);
}
END_TEST

/* F16 weights: every tensor's values have mean ~0 and std ~0.02 (the
 * normal generator), norms are exactly 1. */
START_TEST(test_values_f16) {
  const char *path = nbt_tmp("small-f16.gguf");
  char args[512];
  snprintf(args, sizeof args, SMALL " --type f16 -o '%s'", path);
  ck_assert_int_eq(synth(args), 0);
  nb_gguf *g = NULL;
  nb_err e;
  ck_assert_msg(nb_gguf_open(&g, path, &e) == 0, "%s", e.msg);
  for (int64_t i = 0; i < nb_gguf_n_tensors(g); i++) {
    const nb_tensor_info *t = nb_gguf_tensor(g, i);
    int64_t n = t->ne[0] * t->ne[1];
    float *x = nb_malloc((size_t)n * sizeof *x);
    const nb__type_traits *tt = nb__type_traits_get(t->type);
    tt->to_float(t->data, x, n);
    if (t->type == NB_TYPE_F32) {
      for (int64_t j = 0; j < n; j++) ck_assert(x[j] == 1.0f);
    } else {
      ck_assert_uint_eq(t->type, NB_TYPE_F16);
      double s = 0, s2 = 0, mx = 0;
      for (int64_t j = 0; j < n; j++) {
        s += x[j];
        s2 += (double)x[j] * x[j];
        mx = fmax(mx, fabs(x[j]));
      }
      double mean = s / n, sd = sqrt(s2 / n - mean * mean);
      /* n >= 8192: the sample sd is within ~1.5% of 0.02 (5 sigma), the
       * mean within 5 sigma of 0. */
      ck_assert_msg(fabs(sd - 0.02) < 0.02 * 0.04, "%.*s: sd %g",
                    (int)t->name.len, t->name.data, sd);
      ck_assert_msg(fabs(mean) < 5 * 0.02 / sqrt((double)n), "mean %g", mean);
      ck_assert_msg(mx < 0.02 * 7, "max %g", mx);
      ck_assert_msg(mx > 0.02 * 3, "max %g", mx); /* tails exist */
    }
    nb_free(x);
  }
  /* Rows differ from each other (each row has its own stream). */
  const nb_tensor_info *q = tensor(g, "blk.0.attn_q.weight");
  ck_assert(memcmp(q->data, (const char *)q->data + 256, 256) != 0);
  nb_gguf_close(g);
}
END_TEST

/* Same seed: same bytes with 1 and 3 threads; another seed: other bytes. */
START_TEST(test_deterministic) {
  const char *a = nbt_tmp("det-a.gguf"), *b = nbt_tmp("det-b.gguf"),
             *c = nbt_tmp("det-c.gguf");
  char args[512];
  snprintf(args, sizeof args, SMALL " --type q8_0 --seed 7 -t 1 -o '%s'", a);
  ck_assert_int_eq(synth(args), 0);
  snprintf(args, sizeof args, SMALL " --type q8_0 --seed 7 -t 3 -o '%s'", b);
  ck_assert_int_eq(synth(args), 0);
  snprintf(args, sizeof args, SMALL " --type q8_0 --seed 8 -t 2 -o '%s'", c);
  ck_assert_int_eq(synth(args), 0);
  ck_assert(files_equal(a, b));
  ck_assert(!files_equal(a, c));
}
END_TEST

/* 64-bit FNV-1a of a whole file. */
static uint64_t file_fnv1a(const char *path) {
  size_t n;
  char *x = nbt_read_file(path, &n);
  ck_assert_ptr_nonnull(x);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)x[i];
    h *= 0x100000001b3ull;
  }
  nb_free(x);
  return h;
}

/* PINNED REGRESSION VALUES (measured, not derived): the FNV-1a hashes of the
 * files nb-synth wrote for this shape and seed 1 with its own GGUF encoder,
 * before it moved to libnibble's streaming writer (commit 6f5b17a). The
 * files must stay byte-identical so that benchmark models stay comparable
 * across commits; a deliberate change to the generator, the vocabulary or
 * the keys updates these numbers (and says so). */
START_TEST(test_pinned_bytes) {
  static const struct {
    const char *type;
    uint64_t fnv;
  } pins[] = {{"q4_0", 0xe67b8813a376cf8aull},
              {"f16", 0x5eae9fa2f41963c9ull},
              {"q8_0", 0xb0f712a991655b31ull}};
  for (size_t i = 0; i < NB__ARRAY_LEN(pins); i++) {
    char name[64], args[512];
    snprintf(name, sizeof name, "pin-%s.gguf", pins[i].type);
    const char *path = nbt_tmp(name);
    snprintf(args, sizeof args, SMALL " --type %s --seed 1 -t 2 -o '%s'",
             pins[i].type, path);
    ck_assert_int_eq(synth(args), 0);
    uint64_t h = file_fnv1a(path);
    ck_assert_msg(h == pins[i].fnv, "%s: fnv1a %016llx, pinned %016llx",
                  pins[i].type, (unsigned long long)h,
                  (unsigned long long)pins[i].fnv);
  }
}
END_TEST

/* Tensors larger than the writer's chunk (token_embd here: 2100 F32 rows of
 * 4 KiB, three chunks) are generated chunk by chunk: every row has its own
 * stream (no two rows equal, none left zero), the values keep their
 * distribution on both sides of the chunk boundaries, and the thread count
 * still changes nothing. */
START_TEST(test_multi_chunk) {
  const char *a = nbt_tmp("chunks-a.gguf"), *b = nbt_tmp("chunks-b.gguf");
  const char *shape = "--dim 1024 --ffn 1024 --layers 1 --heads 8 "
                      "--vocab 2100 --type f32";
  char args[512];
  snprintf(args, sizeof args, "%s -t 1 -o '%s'", shape, a);
  ck_assert_int_eq(synth(args), 0);
  snprintf(args, sizeof args, "%s -t 3 -o '%s'", shape, b);
  ck_assert_int_eq(synth(args), 0);
  ck_assert(files_equal(a, b));
  nb_gguf *g = NULL;
  nb_err e;
  ck_assert_msg(nb_gguf_open(&g, a, &e) == 0, "%s", e.msg);
  const nb_tensor_info *t = tensor(g, "token_embd.weight");
  ck_assert_uint_eq(t->type, NB_TYPE_F32);
  ck_assert_int_eq(t->ne[1], 2100);
  const size_t rb = 1024 * sizeof(float);
  ck_assert_uint_gt(t->nbytes, 2 * NB_GGUF_WRITE_CHUNK);
  /* rows distinct: compare row hashes after sorting */
  uint64_t *hs = nb_malloc(2100 * sizeof *hs);
  ck_assert_ptr_nonnull(hs);
  for (int64_t r = 0; r < 2100; r++) {
    const float *x = (const float *)((const char *)t->data + (size_t)r * rb);
    uint64_t h = 0xcbf29ce484222325ull;
    double s2 = 0;
    for (int j = 0; j < 1024; j++) {
      uint32_t u;
      memcpy(&u, &x[j], 4);
      h = (h ^ u) * 0x100000001b3ull;
      s2 += (double)x[j] * x[j];
    }
    hs[r] = h;
    /* each row's sd is near 0.02 (1024 samples: within ~15% at 6 sigma) */
    const double sd = sqrt(s2 / 1024);
    ck_assert_msg(fabs(sd - 0.02) < 0.003, "row %lld: sd %g", (long long)r,
                  sd);
  }
  for (int64_t i = 1; i < 2100; i++) /* insertion sort: small */
    for (int64_t j = i; j > 0 && hs[j - 1] > hs[j]; j--) {
      uint64_t tmp = hs[j];
      hs[j] = hs[j - 1];
      hs[j - 1] = tmp;
    }
  for (int64_t i = 1; i < 2100; i++) ck_assert(hs[i] != hs[i - 1]);
  nb_free(hs);
  nb_gguf_close(g);
}
END_TEST

/* The built-in vocabulary loads as a tokenizer and round-trips text; with
 * --vocab-from the 32000-token llama vocabulary is copied verbatim. */
START_TEST(test_vocab) {
  const char *path = nbt_tmp("vocab-builtin.gguf");
  char args[1024];
  snprintf(args, sizeof args, SMALL " --type q8_0 -o '%s'", path);
  ck_assert_int_eq(synth(args), 0);
  nb_gguf *g = NULL;
  nb_tokenizer *tk = NULL;
  nb_err e;
  ck_assert_msg(nb_gguf_open(&g, path, &e) == 0, "%s", e.msg);
  ck_assert_msg(nb_tokenizer_from_gguf(&tk, g, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(nb_tokenizer_n_vocab(tk), 400);
  ck_assert_int_eq(nb_tokenizer_bos(tk), 1);
  ck_assert_int_eq(nb_tokenizer_eos(tk), 2);
  const char *text = "hello there, Zebra 42!";
  int32_t *ids = NULL, n = 0;
  ck_assert_int_eq(nb_tokenize(tk, text, strlen(text), true, &ids, &n, &e), 0);
  ck_assert_int_gt(n, 2);
  ck_assert_int_eq(ids[0], 1);
  char *back = NULL;
  size_t len = 0;
  ck_assert_int_eq(nb_detokenize(tk, ids + 1, n - 1, &back, &len, &e), 0);
  ck_assert_str_eq(back, text);
  nb_free(back);
  nb_free(ids);
  nb_tokenizer_free(tk);
  nb_gguf_close(g);

  const char *ref = nbt_shared("golden/ggml-vocab-llama-spm.gguf");
  const char *p2 = nbt_tmp("vocab-copied.gguf");
  snprintf(args, sizeof args,
           "--dim 64 --ffn 96 --layers 1 --heads 2 --type f16 "
           "--vocab-from '%s' -o '%s'",
           ref, p2);
  ck_assert_int_eq(synth(args), 0);
  nb_gguf *r = NULL;
  ck_assert_msg(nb_gguf_open(&g, p2, &e) == 0, "%s", e.msg);
  ck_assert_msg(nb_gguf_open(&r, ref, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(key_int(g, "llama.vocab_size"), 32000);
  check_tensor(g, "token_embd.weight", 2, 64, 32000, NB_TYPE_F16);
  for (uint64_t j = 0; j < 32000; j += 97) {
    nb_str x, y;
    ck_assert_int_eq(nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens", j, &x,
                                         &e), 0);
    ck_assert_int_eq(nb_gguf_get_arr_str(r, "tokenizer.ggml.tokens", j, &y,
                                         &e), 0);
    ck_assert(x.len == y.len && !memcmp(x.data, y.data, x.len));
  }
  const void *sa, *sb;
  uint64_t na, nb;
  ck_assert_int_eq(nb_gguf_get_arr(g, "tokenizer.ggml.scores",
                                   NB_GGUF_FLOAT32, &sa, &na, &e), 0);
  ck_assert_int_eq(nb_gguf_get_arr(r, "tokenizer.ggml.scores",
                                   NB_GGUF_FLOAT32, &sb, &nb, &e), 0);
  ck_assert(na == nb && !memcmp(sa, sb, 4 * na));
  ck_assert_int_eq(nb_gguf_get_arr(g, "tokenizer.ggml.token_type",
                                   NB_GGUF_INT32, &sa, &na, &e), 0);
  ck_assert_int_eq(nb_gguf_get_arr(r, "tokenizer.ggml.token_type",
                                   NB_GGUF_INT32, &sb, &nb, &e), 0);
  ck_assert(na == nb && !memcmp(sa, sb, 4 * na));
  nb_gguf_close(r);
  nb_gguf_close(g);
  nb_model *m = NULL;
  ck_assert_msg(nb_model_load(&m, p2, &e) == 0, "%s", e.msg);
  nb_model_free(m);
}
END_TEST

/* Bad shapes are refused with exit status 1 or 2 and leave no file. */
/* Models with few attention heads: a batch gives exactly the logits of the
 * same tokens evaluated one by one, in every activation mode. An
 * attention item takes up to 4 query tokens per kv head; with fewer than 4
 * heads and a narrow FFN its rows once overran their scratch row and the
 * batch's logits differed (by 1.4 here). */
START_TEST(test_few_heads_batch) {
  static const char *shapes[] = {
      "--dim 256 --ffn 256 --heads 1 --kv-heads 1",
      "--dim 256 --ffn 256 --heads 2 --kv-heads 2",
      "--dim 256 --ffn 256 --heads 2 --kv-heads 1",
      "--dim 192 --ffn 192 --heads 3 --kv-heads 3",
  };
  enum { NT = 9, VOCAB = 400 };
  const int32_t ids[NT] = {1, 5, 9, 30, 41, 7, 100, 3, 250};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const char *path = nbt_tmp("few-heads.gguf");
    char args[512];
    snprintf(args, sizeof args, "%s --layers 2 --vocab %d --ctx 64 --type q4_0 -o '%s'",
             shapes[si], VOCAB, path);
    ck_assert_int_eq(synth(args), 0);
    nb_model *m = NULL;
    nb_err e = {0};
    ck_assert_msg(nb_model_load(&m, path, &e) == 0, "%s", e.msg);
    for (int act = NB_ACT_F32; act <= NB_ACT_Q8; act++) {
      nb_ctx_params p;
      nb_ctx_params_default(&p);
      p.act = act;
      p.n_threads = 2;
      p.n_ctx = 32;
      nb_ctx *cb = NULL, *cs = NULL;
      ck_assert_msg(nb_ctx_new(&cb, m, &p, &e) == 0, "%s", e.msg);
      ck_assert_msg(nb_ctx_new(&cs, m, &p, &e) == 0, "%s", e.msg);
      float *all = nb_malloc(sizeof(float) * NT * VOCAB);
      ck_assert_ptr_nonnull(all);
      ck_assert_int_eq(nb_ctx_eval_all(cb, ids, NT, all, &e), 0);
      for (int r = 0; r < NT; r++) {
        ck_assert_int_eq(nb_ctx_eval(cs, &ids[r], 1, &e), 0);
        ck_assert_msg(memcmp(nb_ctx_logits(cs), all + (size_t)r * VOCAB, sizeof(float) * VOCAB) == 0,
                      "%s act %s: token %d differs between batch and one by one", shapes[si],
                      nb_act_name(act), r);
      }
      nb_free(all);
      nb_ctx_free(cb);
      nb_ctx_free(cs);
    }
    nb_model_free(m);
  }
}
END_TEST

START_TEST(test_bad_shapes) {
  const char *path = nbt_tmp("bad.gguf");
  char args[512];
  struct stat st;
  const char *bad[] = {
      "--dim 80 --ffn 352 --layers 1 --heads 4 --type q8_0",  /* dim%32 */
      "--dim 128 --ffn 352 --layers 1 --heads 3",            /* dim%heads */
      "--dim 128 --ffn 352 --layers 1 --heads 4 --kv-heads 3",
      "--dim 128 --ffn 352 --layers 1 --heads 4 --vocab 100", /* < 260 */
      "--dim 128 --ffn 352 --layers 1 --heads 4 --type q5_k",
      "--dim 128 --layers 1 --heads 4",                       /* no ffn */
      "no-such-shape q4_0",
  };
  for (size_t i = 0; i < NB__ARRAY_LEN(bad); i++) {
    snprintf(args, sizeof args, "%s -o '%s'", bad[i], path);
    int rc = synth(args);
    ck_assert_msg(rc == 1 || rc == 2, "%s: exit %d", bad[i], rc);
    ck_assert_msg(stat(path, &st) != 0, "%s: file left behind", bad[i]);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("synth");
  TCase *tc = tcase_create("synth");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_layout_q4_0);
  tcase_add_test(tc, test_values_f16);
  tcase_add_test(tc, test_deterministic);
  tcase_add_test(tc, test_pinned_bytes);
  tcase_add_test(tc, test_multi_chunk);
  tcase_add_test(tc, test_vocab);
  tcase_add_test(tc, test_bad_shapes);
  tcase_add_test(tc, test_few_heads_batch);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
