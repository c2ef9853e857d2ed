/*
 * test_convert.c: llama2.c import. stories260K.bin + tok512.model must give
 * the same tensors (bit for bit), vocabulary and hyper-parameters as
 * llama.cpp's own conversion (llamacpp/stories260K-f32.gguf); v1 and
 * unshared-classifier checkpoints built from it convert consistently; broken
 * checkpoints are refused with a clear error and leave no file; the CLI
 * works.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nb_internal.h"
#include "testutil.h"

static char *read_all(const char *path, size_t *n) {
  char *b = nbt_read_file(path, n);
  ck_assert_msg(b != NULL, "cannot read %s", path);
  return b;
}

static void write_all(const char *path, const void *d, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(d, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* The nibble binary, at the top of the build dir. */
static const char *nibble_path(void) { return nbt_build("nibble"); }

static const nb_tensor_info *tensor(const nb_gguf *g, const char *name) {
  int64_t i = nb_gguf_find_tensor(g, name);
  ck_assert_msg(i >= 0, "tensor %s missing", name);
  return nb_gguf_tensor(g, i);
}

static void same_tensor(const nb_tensor_info *a, const nb_tensor_info *b) {
  ck_assert_uint_eq(a->type, b->type);
  ck_assert_uint_eq(a->n_dims, b->n_dims);
  for (int d = 0; d < NB_GGUF_MAX_DIMS; d++) ck_assert_int_eq(a->ne[d], b->ne[d]);
  ck_assert_uint_eq(a->nbytes, b->nbytes);
  ck_assert_int_eq(memcmp(a->data, b->data, a->nbytes), 0);
}

START_TEST(test_stories260k_matches_llamacpp) {
  const char *out = nbt_tmp("stories260K.gguf");
  nb_err e;
  ck_assert_msg(nb_convert_llama2c(nbt_shared("stories260K.bin"),
                                   nbt_shared("tok512.model"), out, &e) == 0,
                "%s", e.msg);
  nb_gguf *g = NULL, *ref = NULL;
  ck_assert_msg(nb_gguf_open(&g, out, &e) == 0, "%s", e.msg);
  ck_assert_msg(
      nb_gguf_open(&ref, nbt_shared("llamacpp/stories260K-f32.gguf"), &e) == 0,
      "%s", e.msg);
  /* Tensors: every one of ours equals llama.cpp's; theirs all exist in ours
   * except output.weight, which equals our (tied) token_embd. */
  ck_assert_int_eq(nb_gguf_n_tensors(g), 47);
  for (int64_t i = 0; i < nb_gguf_n_tensors(g); i++) {
    const nb_tensor_info *t = nb_gguf_tensor(g, i);
    char name[96];
    snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
    same_tensor(t, tensor(ref, name));
  }
  ck_assert_int_eq(nb_gguf_find_tensor(g, "output.weight"), -1);
  same_tensor(tensor(g, "token_embd.weight"), tensor(ref, "output.weight"));
  for (int64_t i = 0; i < nb_gguf_n_tensors(ref); i++) {
    const nb_tensor_info *t = nb_gguf_tensor(ref, i);
    char name[96];
    snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
    if (strcmp(name, "output.weight") != 0)
      ck_assert_msg(nb_gguf_find_tensor(g, name) >= 0, "missing %s", name);
  }
  /* Hyper-parameters equal llama.cpp's. */
  const char *ikeys[] = {"llama.context_length",
                         "llama.embedding_length",
                         "llama.feed_forward_length",
                         "llama.attention.head_count",
                         "llama.attention.head_count_kv",
                         "llama.block_count",
                         "llama.rope.dimension_count",
                         "tokenizer.ggml.bos_token_id",
                         "tokenizer.ggml.eos_token_id",
                         "tokenizer.ggml.unknown_token_id"};
  for (size_t i = 0; i < NB__ARRAY_LEN(ikeys); i++) {
    int64_t a, b;
    ck_assert_msg(nb_gguf_get_int(g, ikeys[i], &a, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(nb_gguf_get_int(ref, ikeys[i], &b, &e), 0);
    ck_assert_msg(a == b, "%s: %lld vs %lld", ikeys[i], (long long)a,
                  (long long)b);
  }
  float fa, fb;
  ck_assert_int_eq(
      nb_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &fa, &e),
      0);
  ck_assert_int_eq(
      nb_gguf_get_f32(ref, "llama.attention.layer_norm_rms_epsilon", &fb, &e),
      0);
  ck_assert(fa == fb);
  ck_assert_int_eq(nb_gguf_get_f32(g, "llama.rope.freq_base", &fa, &e), 0);
  ck_assert(fa == 10000.0f);
  int64_t v;
  ck_assert_int_eq(nb_gguf_get_int(g, "general.file_type", &v, &e), 0);
  ck_assert_int_eq(v, 0);
  nb_str s;
  ck_assert_int_eq(nb_gguf_get_str(g, "general.architecture", &s, &e), 0);
  ck_assert(s.len == 5 && !memcmp(s.data, "llama", 5));
  ck_assert_int_eq(nb_gguf_get_str(g, "general.name", &s, &e), 0);
  ck_assert(s.len == 11 && !memcmp(s.data, "stories260K", 11));
  ck_assert_int_eq(nb_gguf_get_str(g, "tokenizer.ggml.model", &s, &e), 0);
  ck_assert(s.len == 5 && !memcmp(s.data, "llama", 5));
  bool bo;
  ck_assert_int_eq(nb_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &bo, &e),
                   0);
  ck_assert(bo);
  ck_assert_int_eq(nb_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &bo, &e),
                   0);
  ck_assert(!bo);
  /* Vocabulary: same tokens, scores and types as llama.cpp's. */
  for (uint64_t j = 0; j < 512; j++) {
    nb_str a, b;
    ck_assert_int_eq(nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens", j, &a, &e),
                     0);
    ck_assert_int_eq(
        nb_gguf_get_arr_str(ref, "tokenizer.ggml.tokens", j, &b, &e), 0);
    ck_assert_msg(a.len == b.len && !memcmp(a.data, b.data, a.len),
                  "token %llu differs", (unsigned long long)j);
  }
  ck_assert_uint_eq(nb_gguf_arr_len(g, nb_gguf_find_key(g, "tokenizer.ggml.tokens")),
                    512);
  const char *akeys[] = {"tokenizer.ggml.scores", "tokenizer.ggml.token_type"};
  const nb_gguf_vtype atypes[] = {NB_GGUF_FLOAT32, NB_GGUF_INT32};
  for (int k = 0; k < 2; k++) {
    const void *da, *db;
    uint64_t na, nb;
    ck_assert_int_eq(nb_gguf_get_arr(g, akeys[k], atypes[k], &da, &na, &e), 0);
    ck_assert_int_eq(nb_gguf_get_arr(ref, akeys[k], atypes[k], &db, &nb, &e),
                     0);
    ck_assert_uint_eq(na, 512);
    ck_assert_uint_eq(nb, 512);
    ck_assert_int_eq(memcmp(da, db, 512 * 4), 0);
  }
  /* The SentencePiece model is embedded byte for byte. */
  size_t mlen;
  char *model = read_all(nbt_shared("tok512.model"), &mlen);
  const void *d;
  uint64_t n;
  ck_assert_int_eq(nb_gguf_get_arr(g, "nibble.tokenizer.spm_model",
                                   NB_GGUF_UINT8, &d, &n, &e),
                   0);
  ck_assert_uint_eq(n, mlen);
  ck_assert_int_eq(memcmp(d, model, mlen), 0);
  nb_free(model);
  nb_gguf_close(g);
  nb_gguf_close(ref);
  /* And it binds as a model the executor can run. */
  nb_model *m = NULL;
  ck_assert_msg(nb_model_load(&m, out, &e) == 0, "%s", e.msg);
  const nb_hparams *hp = nb_model_hparams(m);
  ck_assert_int_eq(hp->dim, 64);
  ck_assert_int_eq(hp->n_layers, 5);
  ck_assert_int_eq(hp->n_heads, 8);
  ck_assert_int_eq(hp->n_kv_heads, 4);
  ck_assert_int_eq(hp->n_vocab, 512);
  ck_assert_int_eq(hp->ffn_dim, 172);
  ck_assert(hp->tied_output);
  nb_model_free(m);
}
END_TEST

/* The v0 checkpoint re-encoded as v1 (256-byte header, v1 array order, no
 * freq_cis) converts to the very same tensors. */
START_TEST(test_v1_and_unshared) {
  size_t n;
  char *ck = read_all(nbt_shared("stories260K.bin"), &n);
  int32_t h[7];
  memcpy(h, ck, sizeof h);
  const uint64_t dim = 64, hid = 172, L = 5, kv = 32, V = 512, seq = 512,
                 hs = 8;
  /* v0 array sizes in floats, in v0 order. */
  enum { EMB, RA, WQ, WK, WV, WO, RF, W1, W2, W3, RN, FR, FI, NA };
  const uint64_t sz[NA] = {V * dim, L * dim, L * dim * dim, L * kv * dim,
                           L * kv * dim, L * dim * dim, L * dim,
                           L * hid * dim, L * dim * hid, L * hid * dim,
                           dim, seq * hs / 2, seq * hs / 2};
  uint64_t off[NA], pos = 28;
  for (int i = 0; i < NA; i++) {
    off[i] = pos;
    pos += sz[i] * 4;
  }
  ck_assert_uint_eq(pos, n);
  const int v1order[] = {RA, RF, RN, EMB, WQ, WK, WV, WO, W1, W2, W3};
  size_t n1 = 256;
  for (size_t i = 0; i < NB__ARRAY_LEN(v1order); i++) n1 += sz[v1order[i]] * 4;
  char *v1 = nb_calloc(1, n1);
  uint32_t magic = 0x616b3432;
  int32_t ver = 1;
  memcpy(v1, &magic, 4);
  memcpy(v1 + 4, &ver, 4);
  memcpy(v1 + 8, h, sizeof h);
  v1[36] = 1;
  size_t p = 256;
  for (size_t i = 0; i < NB__ARRAY_LEN(v1order); i++) {
    memcpy(v1 + p, ck + off[v1order[i]], sz[v1order[i]] * 4);
    p += sz[v1order[i]] * 4;
  }
  const char *p1 = nbt_tmp("v1.bin"), *o0 = nbt_tmp("v0.gguf"),
             *o1 = nbt_tmp("v1.gguf");
  write_all(p1, v1, n1);
  nb_err e;
  ck_assert_msg(nb_convert_llama2c(nbt_shared("stories260K.bin"),
                                   nbt_shared("tok512.model"), o0, &e) == 0,
                "%s", e.msg);
  ck_assert_msg(
      nb_convert_llama2c(p1, nbt_shared("tok512.model"), o1, &e) == 0, "%s",
      e.msg);
  nb_gguf *g0 = NULL, *g1 = NULL;
  ck_assert_int_eq(nb_gguf_open(&g0, o0, &e), 0);
  ck_assert_int_eq(nb_gguf_open(&g1, o1, &e), 0);
  ck_assert_int_eq(nb_gguf_n_tensors(g1), 47);
  for (int64_t i = 0; i < 47; i++) {
    const nb_tensor_info *a = nb_gguf_tensor(g0, i), *b = nb_gguf_tensor(g1, i);
    ck_assert(a->name.len == b->name.len &&
              !memcmp(a->name.data, b->name.data, a->name.len));
    same_tensor(a, b);
  }
  nb_gguf_close(g1);
  /* v1 with shared = 0 and a classifier appended. */
  char *v1u = nb_malloc(n1 + V * dim * 4);
  memcpy(v1u, v1, n1);
  v1u[36] = 0;
  for (uint64_t i = 0; i < V * dim * 4; i++) v1u[n1 + i] = (char)(i * 31);
  const char *p1u = nbt_tmp("v1u.bin"), *o1u = nbt_tmp("v1u.gguf");
  write_all(p1u, v1u, n1 + V * dim * 4);
  ck_assert_msg(
      nb_convert_llama2c(p1u, nbt_shared("tok512.model"), o1u, &e) == 0,
      "%s", e.msg);
  ck_assert_int_eq(nb_gguf_open(&g1, o1u, &e), 0);
  ck_assert_int_eq(nb_gguf_n_tensors(g1), 48);
  const nb_tensor_info *t = tensor(g1, "output.weight");
  ck_assert_int_eq(t->ne[0], 64);
  ck_assert_int_eq(t->ne[1], 512);
  ck_assert_int_eq(memcmp(t->data, v1u + n1, V * dim * 4), 0);
  nb_gguf_close(g1);
  /* v0 with negative vocab_size: unshared classifier after freq_cis. */
  char *v0u = nb_malloc(n + V * dim * 4);
  memcpy(v0u, ck, n);
  int32_t negv = -512;
  memcpy(v0u + 20, &negv, 4);
  for (uint64_t i = 0; i < V * dim * 4; i++) v0u[n + i] = (char)(i * 7 + 3);
  const char *p0u = nbt_tmp("v0u.bin"), *o0u = nbt_tmp("v0u.gguf");
  write_all(p0u, v0u, n + V * dim * 4);
  ck_assert_msg(
      nb_convert_llama2c(p0u, nbt_shared("tok512.model"), o0u, &e) == 0,
      "%s", e.msg);
  ck_assert_int_eq(nb_gguf_open(&g1, o0u, &e), 0);
  ck_assert_int_eq(nb_gguf_n_tensors(g1), 48);
  ck_assert_int_eq(memcmp(tensor(g1, "output.weight")->data, v0u + n,
                          V * dim * 4),
                   0);
  same_tensor(tensor(g1, "token_embd.weight"), tensor(g0, "token_embd.weight"));
  nb_gguf_close(g1);
  nb_gguf_close(g0);
  nb_model *m = NULL;
  ck_assert_msg(nb_model_load(&m, o0u, &e) == 0, "%s", e.msg);
  ck_assert(!nb_model_hparams(m)->tied_output);
  nb_model_free(m);
  nb_free(v0u);
  nb_free(v1u);
  nb_free(v1);
  nb_free(ck);
}
END_TEST

/* Converts `data` (written to a temp checkpoint) and expects `code`, a
 * message containing `needle`, and no output file. */
static void expect_fail(const void *data, size_t len, const char *tok,
                        int code, const char *needle) {
  const char *in = nbt_tmp("bad.bin"), *out = nbt_tmp("bad.gguf");
  write_all(in, data, len);
  unlink(out);
  nb_err e;
  memset(&e, 0, sizeof e);
  int rc = nb_convert_llama2c(in, tok, out, &e);
  ck_assert_msg(rc == code, "expected %s, got %s: %s", nb_errname(code),
                nb_errname(rc), e.msg);
  ck_assert_int_eq(e.code, code);
  if (needle) ck_assert_msg(strstr(e.msg, needle), "message: %s", e.msg);
  ck_assert(!exists(out));
}

START_TEST(test_bad_checkpoints) {
  size_t n;
  char *ck = read_all(nbt_shared("stories260K.bin"), &n);
  const char *tok = nbt_shared("tok512.model");
  char *buf = nb_malloc(n + 16);
  /* truncated: empty, inside the header, inside the weights, one float
   * short */
  expect_fail(ck, 0, tok, NB_ETRUNC, "empty");
  expect_fail(ck, 10, tok, NB_ETRUNC, "header");
  expect_fail(ck, 1000, tok, NB_ETRUNC, "needs 1056540");
  expect_fail(ck, n - 4, tok, NB_ETRUNC, "needs 1056540");
  /* trailing bytes */
  memcpy(buf, ck, n);
  memset(buf + n, 0, 16);
  expect_fail(buf, n + 16, tok, NB_EFORMAT, "16 more");
  /* header fields */
  struct {
    int field;
    int32_t value;
    const char *needle;
  } bad[] = {{0, 0, "dim = 0"},          {0, -64, "dim = -64"},
             {2, 0, "n_layers = 0"},     {3, 7, "not a multiple of n_heads"},
             {4, 3, "n_kv_heads 3"},     {4, 16, "n_kv_heads 16"},
             {6, 0, "seq_len = 0"},      {1, 1 << 30, "hidden_dim"},
             {5, 0, "vocab_size = 0"},   {5, INT32_MIN, "vocab_size"},
             {3, 64, "odd"}};
  for (size_t i = 0; i < NB__ARRAY_LEN(bad); i++) {
    memcpy(buf, ck, n);
    memcpy(buf + 4 * bad[i].field, &bad[i].value, 4);
    expect_fail(buf, n, tok,
                bad[i].field == 5 && bad[i].value == -512 ? NB_ETRUNC
                                                          : NB_EFORMAT,
                bad[i].needle);
  }
  /* vocab_size -512 (unshared) but no classifier in the file */
  memcpy(buf, ck, n);
  int32_t negv = -512;
  memcpy(buf + 20, &negv, 4);
  expect_fail(buf, n, tok, NB_ETRUNC, "unshared");
  /* a dimension change that makes the file the wrong size */
  memcpy(buf, ck, n);
  int32_t seq = 256;
  memcpy(buf + 24, &seq, 4);
  expect_fail(buf, n, tok, NB_EFORMAT, "more than its header");
  /* versioned headers: v2 unsupported, v7 unknown, short v1 */
  memset(buf, 0, 256);
  uint32_t magic = 0x616b3432;
  int32_t ver = 2;
  memcpy(buf, &magic, 4);
  memcpy(buf + 4, &ver, 4);
  memcpy(buf + 8, ck, 28);
  expect_fail(buf, 256, tok, NB_EUNSUPPORTED, "version 2");
  ver = 7;
  memcpy(buf + 4, &ver, 4);
  expect_fail(buf, 256, tok, NB_EVERSION, "version 7");
  ver = 1;
  memcpy(buf + 4, &ver, 4);
  expect_fail(buf, 100, tok, NB_ETRUNC, "256-byte header");
  buf[36] = 5;
  expect_fail(buf, 256, tok, NB_EFORMAT, "shared_classifier");
  buf[36] = 1;
  expect_fail(buf, 256, tok, NB_ETRUNC, "v1");
  /* a tokenizer whose vocabulary does not match */
  expect_fail(ck, n, nbt_shared("llama2-tokenizer.model"), NB_EMODEL,
              "32000 tokens");
  /* missing files */
  nb_err e;
  ck_assert_int_eq(nb_convert_llama2c(nbt_tmp("nope.bin"), tok,
                                      nbt_tmp("x.gguf"), &e),
                   NB_ENOENT);
  ck_assert_int_lt(nb_convert_llama2c(nbt_shared("stories260K.bin"),
                                      nbt_tmp("nope.model"), nbt_tmp("x.gguf"),
                                      &e),
                   0);
  ck_assert(!exists(nbt_tmp("x.gguf")));
  nb_free(buf);
  nb_free(ck);
}
END_TEST

START_TEST(test_cli_convert) {
  const char *nib = nibble_path();
  const char *out = nbt_tmp("cli.gguf");
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s convert %s --tokenizer %s -o %s > %s 2>&1",
           nib, nbt_shared("stories260K.bin"), nbt_shared("tok512.model"), out,
           nbt_tmp("cli.log"));
  ck_assert_int_eq(system(cmd), 0);
  size_t n;
  char *log = read_all(nbt_tmp("cli.log"), &n);
  ck_assert_msg(strstr(log, "47 tensors"), "%s", log);
  nb_free(log);
  nb_gguf *g = NULL;
  nb_err e;
  ck_assert_int_eq(nb_gguf_open(&g, out, &e), 0);
  ck_assert_int_eq(nb_gguf_n_tensors(g), 47);
  nb_gguf_close(g);
  /* usage error: 2; conversion error: 1 with the reason */
  snprintf(cmd, sizeof cmd, "%s convert %s > /dev/null 2>&1", nib,
           nbt_shared("stories260K.bin"));
  int st = system(cmd);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  snprintf(cmd, sizeof cmd, "%s convert %s --tokenizer %s -o %s > %s 2>&1",
           nib, nbt_shared("tok512.model"), nbt_shared("tok512.model"),
           nbt_tmp("bad.gguf"), nbt_tmp("cli2.log"));
  st = system(cmd);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
  log = read_all(nbt_tmp("cli2.log"), &n);
  ck_assert_msg(strstr(log, "NB_E"), "%s", log);
  nb_free(log);
}
END_TEST


/* Runs `nibble ARGS`, stdout+stderr to a log; returns the exit status (a
 * signal fails the test) and the log (owned) in *log. */
static int run_nibble(const char *args, char **log) {
  char cmd[16384];
  const char *lp = nbt_tmp("nibble.log");
  snprintf(cmd, sizeof cmd, "%s %s > %s 2>&1", nibble_path(),
           args, lp);
  int st = system(cmd);
  ck_assert_msg(WIFEXITED(st), "nibble %s: killed by a signal", args);
  size_t n;
  *log = read_all(lp, &n);
  return WEXITSTATUS(st);
}

/* Writes a copy of llama.cpp's f32 file through the writer, without tensor
 * `drop` and with key `key` (if not NULL) set to u32 `value`. */
static void write_variant_of(const char *in, const char *out,
                             const char *drop, const char *key,
                             uint32_t value, const float *scores) {
  nb_gguf *src = NULL;
  nb_gguf_writer *w = NULL;
  nb_err e;
  ck_assert_int_eq(nb_gguf_open(&src, in, &e), 0);
  ck_assert_int_eq(nb_gguf_writer_new(&w, &e), 0);
  for (int64_t i = 0; i < nb_gguf_n_kv(src); i++)
    ck_assert_int_eq(nb_gguf_writer_copy_kv(w, src, i, &e), 0);
  if (key) ck_assert_int_eq(nb_gguf_writer_set_u32(w, key, value, &e), 0);
  if (scores)
    ck_assert_int_eq(nb_gguf_writer_set_arr(w, "tokenizer.ggml.scores",
                                            NB_GGUF_FLOAT32, scores, 512, &e),
                     0);
  for (int64_t i = 0; i < nb_gguf_n_tensors(src); i++) {
    const nb_tensor_info *t = nb_gguf_tensor(src, i);
    char name[96];
    snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
    if (drop && !strcmp(name, drop)) continue;
    ck_assert_int_eq(nb_gguf_writer_add_tensor(w, name, t->type, t->n_dims,
                                               t->ne, t->data, &e),
                     0);
  }
  ck_assert_int_eq(nb_gguf_writer_write(w, out, &e), 0);
  nb_gguf_writer_free(w);
  nb_gguf_close(src);
}

static void write_variant(const char *out, const char *drop, const char *key,
                          uint32_t value) {
  write_variant_of(nbt_shared("llamacpp/stories260K-f32.gguf"), out, drop,
                   key, value, NULL);
}

struct badfile {
  char path[1024];
  const char *needle;
};
static void add_bad(struct badfile *b, const char *path, const char *needle) {
  snprintf(b->path, sizeof b->path, "%s", path);
  b->needle = needle;
}

START_TEST(test_cli_info) {
  char conv[1024]; /* nbt_tmp's buffers are a ring: keep our own copy */
  snprintf(conv, sizeof conv, "%s", nbt_tmp("info-conv.gguf"));
  nb_err e;
  ck_assert_int_eq(nb_convert_llama2c(nbt_shared("stories260K.bin"),
                                      nbt_shared("tok512.model"), conv, &e),
                   0);
  const char *files[] = {nbt_shared("llamacpp/stories260K-f32.gguf"),
                         nbt_shared("llamacpp/stories260K-q8_0.gguf"),
                         nbt_shared("llamacpp/stories260K-q4_0.gguf"), conv};
  char args[8192], *log;
  for (size_t i = 0; i < NB__ARRAY_LEN(files); i++) {
    snprintf(args, sizeof args, "info %s --ctx 256", files[i]);
    int rc = run_nibble(args, &log);
    ck_assert_msg(rc == 0, "%s", log);
    ck_assert_msg(strstr(log, "vocab 512, dim 64, layers 5, heads 8, kv heads "
                              "4, head dim 8, ffn 172"),
                  "%s", log);
    ck_assert_msg(strstr(log, "context 256"), "%s", log);
    ck_assert_msg(strstr(log, "blk.4.ffn_down.weight"), "%s", log);
    ck_assert_msg(strstr(log, "valid:"), "%s", log);
    ck_assert_msg(strstr(log, "512 tokens, bos 1, eos 2, unk 0"), "%s", log);
    if (i == 3) {
      ck_assert_msg(strstr(log, "embedded SentencePiece model (7645 bytes)"),
                    "%s", log);
      ck_assert_msg(strstr(log, "tied to token_embd"), "%s", log);
      ck_assert_msg(strstr(log, "add_bos true"), "%s", log);
    }
    nb_free(log);
  }
  ck_assert_int_eq(run_nibble("info --cpu", &log), 0);
  ck_assert_msg(strstr(log, "kernels:"), "%s", log);
  nb_free(log);
  snprintf(args, sizeof args, "info %s --ctx 0", conv);
  ck_assert_int_eq(run_nibble(args, &log), 2);
  nb_free(log);
  /* Not a model: exit 1 with the reason, never a crash. */
  struct badfile bad[5]; /* paths copied: nbt_* paths live in a ring */
  int nbad = 0;
  add_bad(&bad[nbad++], nbt_shared("tok512.model"), "NB_EMAGIC");
  add_bad(&bad[nbad++], nbt_shared("golden/ggml-vocab-llama-spm.gguf"),
          "token_embd.weight");
  add_bad(&bad[nbad++], nbt_tmp("missing.gguf"), "NB_ENOENT");
  const char *v1 = nbt_tmp("info-drop.gguf");
  write_variant(v1, "blk.2.ffn_up.weight", NULL, 0);
  add_bad(&bad[nbad++], v1, "blk.2.ffn_up.weight");
  const char *v2 = nbt_tmp("info-trunc.gguf");
  size_t n;
  char *f32 = read_all(nbt_shared("llamacpp/stories260K-f32.gguf"), &n);
  write_all(v2, f32, n - 1000);
  nb_free(f32);
  add_bad(&bad[nbad++], v2, "data ends past end of file");
  for (int i = 0; i < nbad; i++) {
    snprintf(args, sizeof args, "info %s", bad[i].path);
    ck_assert_int_eq(run_nibble(args, &log), 1);
    ck_assert_msg(strstr(log, bad[i].needle), "%s", log);
    nb_free(log);
  }
  /* Inconsistent hyper-parameters: more layers than tensors, kv heads that
   * do not divide the heads. */
  char v3[1024];
  snprintf(v3, sizeof v3, "%s", nbt_tmp("info-layers.gguf"));
  write_variant(v3, NULL, "llama.block_count", 6);
  snprintf(args, sizeof args, "info %s", v3);
  ck_assert_int_eq(run_nibble(args, &log), 1);
  nb_free(log);
  write_variant(v3, NULL, "llama.attention.head_count_kv", 3);
  ck_assert_int_eq(run_nibble(args, &log), 1);
  nb_free(log);
  /* Our file with scores that disagree with its embedded SentencePiece
   * model (llama.cpp and nibble would tokenize differently): refused. */
  float zeros[512] = {0};
  write_variant_of(conv, v3, NULL, NULL, 0, zeros);
  ck_assert_int_eq(run_nibble(args, &log), 1);
  ck_assert_msg(strstr(log, "differ"), "%s", log);
  nb_free(log);
  /* The unchanged copy is accepted (the check itself is not the reason). */
  write_variant_of(conv, v3, NULL, NULL, 0, NULL);
  ck_assert_int_eq(run_nibble(args, &log), 0);
  nb_free(log);
}
END_TEST

int main(void) {
  Suite *s = suite_create("convert");
  TCase *tc = tcase_create("llama2c");
  tcase_add_test(tc, test_stories260k_matches_llamacpp);
  tcase_add_test(tc, test_v1_and_unshared);
  tcase_add_test(tc, test_bad_checkpoints);
  tcase_add_test(tc, test_cli_convert);
  tcase_add_test(tc, test_cli_info);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
