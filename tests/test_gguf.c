/*
 * test_gguf.c: the GGUF reader against llama.cpp's files, corrupt files built
 * in code (each expecting its exact error code), every truncation of a
 * valid file, a bounded random-mutation run, and the writer (round trips and
 * a copy of llama.cpp's files through it; streamed tensors give the same
 * bytes, and a failing stream leaves no file).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf_internal.h"
#include "nb_internal.h"
#include "testutil.h"

/* ------------------------------------------------------------ byte buffer */

typedef struct bb {
  uint8_t *p;
  size_t n, cap;
} bb;

static void bb_put(bb *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = nb_realloc(b->p, b->cap);
    ck_assert_ptr_nonnull(b->p);
  }
  if (n) memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void bb_u8(bb *b, uint8_t v) { bb_put(b, &v, 1); }
static void bb_u32(bb *b, uint32_t v) { bb_put(b, &v, 4); }
static void bb_u64(bb *b, uint64_t v) { bb_put(b, &v, 8); }
static void bb_f32(bb *b, float v) { bb_put(b, &v, 4); }
static void bb_str(bb *b, const char *s) {
  bb_u64(b, strlen(s));
  bb_put(b, s, strlen(s));
}
static void bb_free(bb *b) {
  nb_free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

/* ------------------------------------------------------- file specification */

typedef struct tspec {
  const char *name;
  uint32_t n_dims;
  uint64_t ne[5];
  uint32_t type;
  uint64_t offset;
} tspec;

typedef struct spec {
  char magic[4];
  uint32_t version;
  int64_t n_kv_field;  /* -1: the real count */
  int64_t n_t_field;   /* -1: the real count */
  bool no_base_kv;
  const uint8_t *extra_kv; /* raw kv records appended after the base ones */
  size_t extra_len;
  int n_extra;
  int n_t;
  tspec t[4];
  uint64_t align;      /* padding used by the builder (default 32) */
  int64_t data_len;    /* -1: exactly what the tensors need */
} spec;

/* Base kvs: 5 pairs covering string, u32, string array, f32 array and a
 * nested array (array of {u8 array, string array}). */
#define N_BASE_KV 5
static void base_kvs(bb *b) {
  bb_str(b, "general.architecture");
  bb_u32(b, NB_GGUF_STRING);
  bb_str(b, "llama");
  bb_str(b, "test.u32");
  bb_u32(b, NB_GGUF_UINT32);
  bb_u32(b, 7);
  bb_str(b, "tokenizer.ggml.tokens");
  bb_u32(b, NB_GGUF_ARRAY);
  bb_u32(b, NB_GGUF_STRING);
  bb_u64(b, 3);
  bb_str(b, "a");
  bb_str(b, "bc");
  bb_str(b, "");
  bb_str(b, "tokenizer.ggml.scores");
  bb_u32(b, NB_GGUF_ARRAY);
  bb_u32(b, NB_GGUF_FLOAT32);
  bb_u64(b, 3);
  bb_f32(b, 0.5f);
  bb_f32(b, -1.0f);
  bb_f32(b, 2.0f);
  bb_str(b, "test.nested");
  bb_u32(b, NB_GGUF_ARRAY);
  bb_u32(b, NB_GGUF_ARRAY);
  bb_u64(b, 2);
  bb_u32(b, NB_GGUF_UINT8);
  bb_u64(b, 2);
  bb_u8(b, 1);
  bb_u8(b, 2);
  bb_u32(b, NB_GGUF_STRING);
  bb_u64(b, 1);
  bb_str(b, "z");
}

static void spec_default(spec *s) {
  memset(s, 0, sizeof *s);
  memcpy(s->magic, "GGUF", 4);
  s->version = 3;
  s->n_kv_field = -1;
  s->n_t_field = -1;
  s->align = 32;
  s->data_len = -1;
  s->n_t = 2;
  /* "a": f32 (4, 2) = 32 bytes at 0; "b": q8_0 (32) = 34 bytes at 32. */
  s->t[0] = (tspec){"a", 2, {4, 2}, NB_TYPE_F32, 0};
  s->t[1] = (tspec){"b", 1, {32}, NB_TYPE_Q8_0, 32};
}

static uint64_t tnbytes(const tspec *t) {
  uint64_t n = 1;
  for (uint32_t d = 0; d < t->n_dims && d < 5; d++) n *= t->ne[d];
  if (t->type == NB_TYPE_Q8_0) return n / 32 * 34;
  if (t->type == NB_TYPE_F16) return n * 2;
  return n * 4;
}

/* Builds the file into b. */
static void build(const spec *s, bb *b) {
  memset(b, 0, sizeof *b);
  bb_put(b, s->magic, 4);
  bb_u32(b, s->version);
  int n_kv = (s->no_base_kv ? 0 : N_BASE_KV) + s->n_extra;
  bb_u64(b, s->n_t_field >= 0 ? (uint64_t)s->n_t_field : (uint64_t)s->n_t);
  bb_u64(b, s->n_kv_field >= 0 ? (uint64_t)s->n_kv_field : (uint64_t)n_kv);
  if (!s->no_base_kv) base_kvs(b);
  bb_put(b, s->extra_kv, s->extra_len);
  uint64_t end = 0;
  for (int i = 0; i < s->n_t; i++) {
    const tspec *t = &s->t[i];
    bb_str(b, t->name);
    bb_u32(b, t->n_dims);
    for (uint32_t d = 0; d < t->n_dims && d < 5; d++) bb_u64(b, t->ne[d]);
    bb_u32(b, t->type);
    bb_u64(b, t->offset);
    uint64_t e = t->offset + tnbytes(t);
    if (t->offset < (1u << 20) && tnbytes(t) < (1u << 20) && e > end) end = e;
  }
  while (b->n % s->align) bb_u8(b, 0);
  uint64_t dl = s->data_len >= 0 ? (uint64_t)s->data_len : end;
  for (uint64_t i = 0; i < dl; i++) bb_u8(b, (uint8_t)(i * 7 + 1));
}

/* Opens the spec's file from an exact-size heap copy (so ASan sees any
 * overread) and returns the code; on success checks a few accessors. */
static int open_spec(const spec *s, nb_err *e) {
  bb b;
  build(s, &b);
  nb_gguf *g = NULL;
  memset(e, 0, sizeof *e);
  int rc = nb_gguf_open_memory(&g, b.p, b.n, e);
  if (rc == 0) {
    ck_assert_ptr_nonnull(g);
    nb_gguf_close(g);
  } else {
    ck_assert_ptr_null(g);
    ck_assert_int_eq(e->code, rc);
    ck_assert_msg(e->msg[0] != '\0', "error without message");
  }
  bb_free(&b);
  return rc;
}

#define EXPECT(s, code)                                                   \
  do {                                                                    \
    nb_err e_;                                                            \
    int rc_ = open_spec(s, &e_);                                          \
    ck_assert_msg(rc_ == (code), "expected %s, got %s: %s", #code,        \
                  nb_errname(rc_), e_.msg);                               \
  } while (0)

/* Convenience: a spec with one extra kv record built by the caller. */
typedef struct extra {
  bb b;
  int n;
} extra;

/* ------------------------------------------------------- llama.cpp files */

static void check_stories_common(nb_gguf *g) {
  nb_err e;
  int64_t v;
  float f;
  nb_str s;
  ck_assert_uint_eq(nb_gguf_version(g), 3);
  ck_assert_uint_eq(nb_gguf_alignment(g), 32);
  ck_assert_int_eq(nb_gguf_n_tensors(g), 48);
  ck_assert_int_eq(nb_gguf_get_str(g, "general.architecture", &s, &e), 0);
  ck_assert(s.len == 5 && !memcmp(s.data, "llama", 5));
  ck_assert_int_eq(nb_gguf_get_str(g, "general.name", &s, &e), 0);
  ck_assert(s.len == 5 && !memcmp(s.data, "llama", 5));
  struct {
    const char *k;
    int64_t v;
  } ints[] = {{"llama.context_length", 512},
              {"llama.embedding_length", 64},
              {"llama.feed_forward_length", 172},
              {"llama.attention.head_count", 8},
              {"llama.attention.head_count_kv", 4},
              {"llama.block_count", 5},
              {"llama.rope.dimension_count", 8},
              {"tokenizer.ggml.bos_token_id", 1},
              {"tokenizer.ggml.eos_token_id", 2},
              {"tokenizer.ggml.unknown_token_id", 0},
              {"tokenizer.ggml.padding_token_id", 4294967295LL}};
  for (size_t i = 0; i < NB__ARRAY_LEN(ints); i++) {
    ck_assert_msg(nb_gguf_get_int(g, ints[i].k, &v, &e) == 0, "%s: %s",
                  ints[i].k, e.msg);
    ck_assert_int_eq(v, ints[i].v);
  }
  ck_assert_int_eq(
      nb_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f, &e),
      0);
  ck_assert(f == 1e-5f);
  ck_assert_int_eq(nb_gguf_find_key(g, "llama.rope.freq_base"), -1);
  ck_assert_int_eq(nb_gguf_get_str(g, "tokenizer.ggml.model", &s, &e), 0);
  ck_assert(s.len == 5 && !memcmp(s.data, "llama", 5));
  /* Vocabulary arrays. */
  int64_t ti = nb_gguf_find_key(g, "tokenizer.ggml.tokens");
  ck_assert_int_ge(ti, 0);
  ck_assert_int_eq(nb_gguf_kv_type(g, ti), NB_GGUF_ARRAY);
  ck_assert_int_eq(nb_gguf_arr_type(g, ti), NB_GGUF_STRING);
  ck_assert_uint_eq(nb_gguf_arr_len(g, ti), 512);
  const char *first[] = {"<unk>", "<s>", "</s>", "<0x00>"};
  for (int j = 0; j < 4; j++) {
    ck_assert_int_eq(nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens",
                                         (uint64_t)j, &s, &e),
                     0);
    ck_assert(s.len == strlen(first[j]) && !memcmp(s.data, first[j], s.len));
  }
  ck_assert_int_eq(
      nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens", 512, &s, &e),
      NB_ERANGE);
  const void *d;
  uint64_t n;
  ck_assert_int_eq(nb_gguf_get_arr(g, "tokenizer.ggml.token_type",
                                   NB_GGUF_INT32, &d, &n, &e),
                   0);
  ck_assert_uint_eq(n, 512);
  int32_t tt[512];
  memcpy(tt, d, sizeof tt);
  ck_assert_int_eq(tt[0], 2);
  ck_assert_int_eq(tt[1], 3);
  ck_assert_int_eq(tt[2], 3);
  for (int j = 3; j < 259; j++) ck_assert_int_eq(tt[j], 6);
  for (int j = 259; j < 512; j++) ck_assert_int_eq(tt[j], 1);
  ck_assert_int_eq(nb_gguf_get_arr(g, "tokenizer.ggml.scores",
                                   NB_GGUF_FLOAT32, &d, &n, &e),
                   0);
  ck_assert_uint_eq(n, 512);
  /* Typed getters refuse a wrong type, never reinterpret. */
  ck_assert_int_eq(nb_gguf_get_arr(g, "tokenizer.ggml.scores", NB_GGUF_UINT8,
                                   &d, &n, &e),
                   NB_ETYPE);
  ck_assert_int_eq(e.code, NB_ETYPE);
  ck_assert_int_eq(nb_gguf_get_int(g, "general.name", &v, &e), NB_ETYPE);
  ck_assert_int_eq(nb_gguf_get_str(g, "llama.block_count", &s, &e), NB_ETYPE);
  ck_assert_int_eq(nb_gguf_get_f32(g, "llama.block_count", &f, &e), NB_ETYPE);
  bool bv;
  ck_assert_int_eq(nb_gguf_get_bool(g, "llama.block_count", &bv, &e),
                   NB_ETYPE);
  ck_assert_int_eq(nb_gguf_get_int(g, "no.such.key", &v, &e), NB_ENOTFOUND);
  ck_assert_ptr_nonnull(strstr(e.msg, "no.such.key"));
  ck_assert_int_eq(nb_gguf_get_arr_str(g, "tokenizer.ggml.scores", 0, &s, &e),
                   NB_ETYPE);
  /* Tensor table. */
  ck_assert_int_eq(nb_gguf_find_tensor(g, "nope"), -1);
  const nb_tensor_info *t =
      nb_gguf_tensor(g, nb_gguf_find_tensor(g, "blk.0.ffn_down.weight"));
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(t->n_dims, 2);
  ck_assert_int_eq(t->ne[0], 172);
  ck_assert_int_eq(t->ne[1], 64);
  ck_assert_int_eq(t->ne[2], 1);
  t = nb_gguf_tensor(g, nb_gguf_find_tensor(g, "output_norm.weight"));
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(t->n_dims, 1);
  ck_assert_int_eq(t->ne[0], 64);
  ck_assert_uint_eq(t->type, NB_TYPE_F32);
  ck_assert_uint_eq(t->nbytes, 256);
  for (int64_t i = 0; i < nb_gguf_n_tensors(g); i++) {
    t = nb_gguf_tensor(g, i);
    ck_assert_uint_eq(t->offset % 32, 0);
    ck_assert_ptr_nonnull(t->data);
    char nm[128];
    snprintf(nm, sizeof nm, "%.*s", (int)t->name.len, t->name.data);
    ck_assert_int_eq(nb_gguf_find_tensor(g, nm), i);
  }
  ck_assert_ptr_null(nb_gguf_tensor(g, 48));
  ck_assert_ptr_null(nb_gguf_tensor(g, -1));
}

START_TEST(test_llamacpp_f32) {
  nb_gguf *g = NULL;
  nb_err e;
  ck_assert_msg(nb_gguf_open(&g, nbt_shared("llamacpp/stories260K-f32.gguf"),
                             &e) == 0,
                "%s", e.msg);
  ck_assert_int_eq(nb_gguf_n_kv(g), 19);
  ck_assert_uint_eq(nb_gguf_file_size(g), 1185376);
  check_stories_common(g);
  ck_assert_int_eq(nb_gguf_find_key(g, "general.file_type"), -1);
  /* token_embd equals the checkpoint's embedding (after its 28-byte header),
   * bit for bit: the data pointer really points at the weights. */
  const nb_tensor_info *t =
      nb_gguf_tensor(g, nb_gguf_find_tensor(g, "token_embd.weight"));
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(t->ne[0], 64);
  ck_assert_int_eq(t->ne[1], 512);
  ck_assert_uint_eq(t->type, NB_TYPE_F32);
  ck_assert_uint_eq(t->nbytes, 64 * 512 * 4);
  size_t n;
  char *ck = nbt_read_file(nbt_shared("stories260K.bin"), &n);
  ck_assert_ptr_nonnull(ck);
  ck_assert_uint_eq(n, 1056540);
  ck_assert_int_eq(memcmp(t->data, ck + 28, t->nbytes), 0);
  nb_free(ck);
  nb_gguf_close(g);
}
END_TEST

START_TEST(test_llamacpp_quant) {
  const char *files[] = {"llamacpp/stories260K-q8_0.gguf",
                         "llamacpp/stories260K-q4_0.gguf"};
  const uint32_t qt[] = {NB_TYPE_Q8_0, NB_TYPE_Q4_0};
  const int64_t ft[] = {7, 2};
  for (int k = 0; k < 2; k++) {
    nb_gguf *g = NULL;
    nb_err e;
    ck_assert_msg(nb_gguf_open(&g, nbt_shared(files[k]), &e) == 0, "%s",
                  e.msg);
    ck_assert_int_eq(nb_gguf_n_kv(g), 21);
    check_stories_common(g);
    int64_t v;
    ck_assert_int_eq(nb_gguf_get_int(g, "general.file_type", &v, &e), 0);
    ck_assert_int_eq(v, ft[k]);
    ck_assert_int_eq(
        nb_gguf_get_int(g, "general.quantization_version", &v, &e), 0);
    ck_assert_int_eq(v, 2);
    ck_assert_int_eq(nb_gguf_find_tensor(g, "output.weight"), 0);
    const nb_tensor_info *t =
        nb_gguf_tensor(g, nb_gguf_find_tensor(g, "token_embd.weight"));
    ck_assert_uint_eq(t->type, qt[k]);
    ck_assert_uint_eq(t->nbytes,
                      512 * 2 * (qt[k] == NB_TYPE_Q8_0 ? 34 : 18));
    t = nb_gguf_tensor(g, nb_gguf_find_tensor(g, "output.weight"));
    ck_assert_uint_eq(t->type, NB_TYPE_Q8_0);
    t = nb_gguf_tensor(g, nb_gguf_find_tensor(g, "blk.4.ffn_down.weight"));
    ck_assert_uint_eq(t->type, NB_TYPE_F16);
    ck_assert_uint_eq(t->nbytes, 172 * 64 * 2);
    nb_gguf_close(g);
  }
}
END_TEST

START_TEST(test_llamacpp_vocab) {
  nb_gguf *g = NULL;
  nb_err e;
  ck_assert_msg(
      nb_gguf_open(&g, nbt_shared("golden/ggml-vocab-llama-spm.gguf"), &e) ==
          0,
      "%s", e.msg);
  ck_assert_int_eq(nb_gguf_n_tensors(g), 0);
  ck_assert_int_eq(nb_gguf_n_kv(g), 22);
  int64_t i = nb_gguf_find_key(g, "tokenizer.ggml.tokens");
  ck_assert_uint_eq(nb_gguf_arr_len(g, i), 32000);
  const void *d;
  uint64_t n;
  ck_assert_int_eq(nb_gguf_get_arr(g, "tokenizer.ggml.scores",
                                   NB_GGUF_FLOAT32, &d, &n, &e),
                   0);
  ck_assert_uint_eq(n, 32000);
  bool b;
  ck_assert_int_eq(nb_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, &e),
                   0);
  ck_assert(b);
  int64_t v;
  ck_assert_int_eq(nb_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &v, &e),
                   0);
  ck_assert_int_eq(v, 1);
  nb_str s;
  ck_assert_int_eq(
      nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens", 31999, &s, &e), 0);
  ck_assert_uint_gt(s.len, 0);
  ck_assert_int_eq(nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens", 3, &s, &e),
                   0);
  ck_assert(s.len == 6 && !memcmp(s.data, "<0x00>", 6));
  nb_gguf_close(g);
}
END_TEST

START_TEST(test_open_errors) {
  nb_gguf *g = NULL;
  nb_err e;
  const char *missing = nbt_tmp("does-not-exist.gguf");
  ck_assert_int_eq(nb_gguf_open(&g, missing, &e), NB_ENOENT);
  ck_assert_ptr_nonnull(strstr(e.msg, missing));
  ck_assert_ptr_null(g);
  const char *dir = nbt_tmp("adir");
  mkdir(dir, 0700);
  ck_assert_int_eq(nb_gguf_open(&g, dir, &e), NB_EIO);
  const char *empty = nbt_tmp("empty.gguf");
  FILE *f = fopen(empty, "wb");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  ck_assert_int_eq(nb_gguf_open(&g, empty, &e), NB_ETRUNC);
  ck_assert_int_eq(nb_gguf_open_memory(&g, "", 0, &e), NB_ETRUNC);
  /* A corrupt file on disk: the message carries the path. */
  const char *bad = nbt_tmp("bad.gguf");
  f = fopen(bad, "wb");
  fwrite("GGUF\x01\0\0\0", 1, 8, f);
  fclose(f);
  ck_assert_int_eq(nb_gguf_open(&g, bad, &e), NB_EVERSION);
  ck_assert_ptr_nonnull(strstr(e.msg, bad));
  ck_assert_ptr_null(g);
}
END_TEST

/* ---------------------------------------------------------- valid control */

START_TEST(test_valid_small) {
  spec s;
  spec_default(&s);
  bb b;
  build(&s, &b);
  nb_gguf *g = NULL;
  nb_err e;
  ck_assert_msg(nb_gguf_open_memory(&g, b.p, b.n, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(nb_gguf_n_kv(g), N_BASE_KV);
  ck_assert_int_eq(nb_gguf_n_tensors(g), 2);
  int64_t v;
  ck_assert_int_eq(nb_gguf_get_int(g, "test.u32", &v, &e), 0);
  ck_assert_int_eq(v, 7);
  nb_str str;
  ck_assert_int_eq(nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens", 1, &str, &e),
                   0);
  ck_assert(str.len == 2 && !memcmp(str.data, "bc", 2));
  ck_assert_int_eq(nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens", 2, &str, &e),
                   0);
  ck_assert_uint_eq(str.len, 0);
  int64_t ni = nb_gguf_find_key(g, "test.nested");
  ck_assert_int_eq(nb_gguf_kv_type(g, ni), NB_GGUF_ARRAY);
  ck_assert_int_eq(nb_gguf_arr_type(g, ni), NB_GGUF_ARRAY);
  ck_assert_uint_eq(nb_gguf_arr_len(g, ni), 2);
  const void *d;
  uint64_t n;
  ck_assert_int_eq(
      nb_gguf_get_arr(g, "test.nested", NB_GGUF_UINT8, &d, &n, &e), NB_ETYPE);
  ck_assert_int_eq(nb_gguf_get_arr(g, "tokenizer.ggml.tokens",
                                   NB_GGUF_STRING, &d, &n, &e),
                   NB_EINVAL);
  const nb_tensor_info *t = nb_gguf_tensor(g, nb_gguf_find_tensor(g, "b"));
  ck_assert_uint_eq(t->nbytes, 34);
  ck_assert_uint_eq(t->offset, 32);
  ck_assert_ptr_eq(t->data, b.p + nb_gguf_data_offset(g) + 32);
  nb_gguf_close(g);
  /* v2 has the same layout. */
  s.version = 2;
  EXPECT(&s, 0);
  bb_free(&b);
}
END_TEST

/* ---------------------------------------------------------- corrupt files */

START_TEST(test_bad_header) {
  spec s;
  spec_default(&s);
  memcpy(s.magic, "GGML", 4);
  EXPECT(&s, NB_EMAGIC);
  spec_default(&s);
  s.version = 0;
  EXPECT(&s, NB_EVERSION);
  s.version = 1;
  EXPECT(&s, NB_EVERSION);
  s.version = 4;
  EXPECT(&s, NB_EVERSION);
  s.version = 0x03000000; /* big-endian v3 */
  EXPECT(&s, NB_EVERSION);
  spec_default(&s);
  s.n_kv_field = (int64_t)1 << 62;
  EXPECT(&s, NB_ETOOBIG);
  spec_default(&s);
  s.n_kv_field = INT64_MAX;
  EXPECT(&s, NB_ETOOBIG);
  spec_default(&s);
  s.n_t_field = (int64_t)1 << 60;
  EXPECT(&s, NB_ETOOBIG);
  /* More tensors announced than the file holds: the next info is cut. */
  spec_default(&s);
  s.n_t_field = 5;
  s.data_len = 0;
  s.t[1].offset = 0;
  s.n_t = 1;
  s.t[0].ne[0] = 1;
  s.t[0].ne[1] = 1;
  s.align = 1;
  {
    nb_err e;
    int rc = open_spec(&s, &e);
    ck_assert_msg(rc == NB_ETRUNC || rc == NB_ETOOBIG, "%s", e.msg);
  }
}
END_TEST

/* Adds one raw kv to the spec (the caller fills x->b, then calls this). */
static void with_kv(spec *s, extra *x) {
  s->extra_kv = x->b.p;
  s->extra_len = x->b.n;
  s->n_extra = x->n;
}

START_TEST(test_bad_strings) {
  spec s;
  extra x;
  /* key length 2^63 */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_u64(&x.b, (uint64_t)1 << 63);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_ETOOBIG);
  bb_free(&x.b);
  /* string value length 2^64 - 1 */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "k");
  bb_u32(&x.b, NB_GGUF_STRING);
  bb_u64(&x.b, UINT64_MAX);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_ETOOBIG);
  bb_free(&x.b);
  /* string value length 2^63 */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "k");
  bb_u32(&x.b, NB_GGUF_STRING);
  bb_u64(&x.b, (uint64_t)1 << 63);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_ETOOBIG);
  bb_free(&x.b);
  /* string that fits the file size but runs past its end */
  spec_default(&s);
  s.n_t = 0;
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "k");
  bb_u32(&x.b, NB_GGUF_STRING);
  bb_u64(&x.b, 40);
  bb_put(&x.b, "short", 5);
  x.n = 1;
  with_kv(&s, &x);
  s.align = 1;
  EXPECT(&s, NB_ETRUNC);
  bb_free(&x.b);
  /* key length 0 */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_u64(&x.b, 0);
  bb_u32(&x.b, NB_GGUF_UINT8);
  bb_u8(&x.b, 0);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_EFORMAT);
  bb_free(&x.b);
  /* tensor name length 0 */
  spec_default(&s);
  s.t[0].name = "";
  EXPECT(&s, NB_EFORMAT);
}
END_TEST

START_TEST(test_bad_values) {
  spec s;
  extra x;
  const uint32_t bad_types[] = {13, 255, 0xffffffffu};
  for (size_t i = 0; i < NB__ARRAY_LEN(bad_types); i++) {
    spec_default(&s);
    memset(&x, 0, sizeof x);
    bb_str(&x.b, "k");
    bb_u32(&x.b, bad_types[i]);
    bb_u32(&x.b, 0);
    x.n = 1;
    with_kv(&s, &x);
    EXPECT(&s, NB_EBADTYPE);
    bb_free(&x.b);
  }
  /* array element type 13 */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "k");
  bb_u32(&x.b, NB_GGUF_ARRAY);
  bb_u32(&x.b, 13);
  bb_u64(&x.b, 1);
  bb_u32(&x.b, 0);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_EBADTYPE);
  bb_free(&x.b);
  /* bool value 2 */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "k");
  bb_u32(&x.b, NB_GGUF_BOOL);
  bb_u8(&x.b, 2);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_EFORMAT);
  bb_free(&x.b);
  /* bool array with an element 2 */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "k");
  bb_u32(&x.b, NB_GGUF_ARRAY);
  bb_u32(&x.b, NB_GGUF_BOOL);
  bb_u64(&x.b, 3);
  bb_u8(&x.b, 1);
  bb_u8(&x.b, 0);
  bb_u8(&x.b, 2);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_EFORMAT);
  bb_free(&x.b);
  /* array length huge (u32 elements) */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "k");
  bb_u32(&x.b, NB_GGUF_ARRAY);
  bb_u32(&x.b, NB_GGUF_UINT32);
  bb_u64(&x.b, (uint64_t)1 << 62); /* * 4 wraps to 0 without the check */
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_ETOOBIG);
  bb_free(&x.b);
  /* string array length huge: no offsets table may be allocated from it */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "k");
  bb_u32(&x.b, NB_GGUF_ARRAY);
  bb_u32(&x.b, NB_GGUF_STRING);
  bb_u64(&x.b, (uint64_t)1 << 61);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_ETOOBIG);
  bb_free(&x.b);
  /* nested array length huge */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "k");
  bb_u32(&x.b, NB_GGUF_ARRAY);
  bb_u32(&x.b, NB_GGUF_ARRAY);
  bb_u64(&x.b, UINT64_MAX / 12 + 1);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_ETOOBIG);
  bb_free(&x.b);
  /* nesting depth bomb: 1000 levels of one-element arrays */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "k");
  bb_u32(&x.b, NB_GGUF_ARRAY);
  for (int i = 0; i < 1000; i++) {
    bb_u32(&x.b, NB_GGUF_ARRAY);
    bb_u64(&x.b, 1);
  }
  bb_u32(&x.b, NB_GGUF_UINT8);
  bb_u64(&x.b, 0);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_EFORMAT);
  bb_free(&x.b);
  /* nesting at the limit is fine: 8 levels */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "k");
  bb_u32(&x.b, NB_GGUF_ARRAY);
  for (int i = 0; i < 7; i++) {
    bb_u32(&x.b, NB_GGUF_ARRAY);
    bb_u64(&x.b, 1);
  }
  bb_u32(&x.b, NB_GGUF_UINT8);
  bb_u64(&x.b, 1);
  bb_u8(&x.b, 9);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, 0);
  bb_free(&x.b);
  /* duplicate key */
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "test.u32");
  bb_u32(&x.b, NB_GGUF_UINT32);
  bb_u32(&x.b, 8);
  x.n = 1;
  with_kv(&s, &x);
  EXPECT(&s, NB_EDUP);
  bb_free(&x.b);
}
END_TEST

/* general.alignment: value and type. */
static int with_alignment(uint32_t vtype, uint64_t value, uint64_t pad,
                          nb_err *e) {
  spec s;
  extra x;
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "general.alignment");
  bb_u32(&x.b, vtype);
  if (vtype == NB_GGUF_STRING) bb_str(&x.b, "32");
  else if (vtype == NB_GGUF_FLOAT32) bb_f32(&x.b, 32.0f);
  else if (vtype == NB_GGUF_UINT64) bb_u64(&x.b, value);
  else bb_u32(&x.b, (uint32_t)value);
  x.n = 1;
  with_kv(&s, &x);
  s.align = pad;
  s.t[1].offset = NB__MAX(pad, 32);
  int rc = open_spec(&s, e);
  bb_free(&x.b);
  return rc;
}

START_TEST(test_bad_alignment) {
  nb_err e;
  ck_assert_int_eq(with_alignment(NB_GGUF_UINT32, 0, 32, &e), NB_EALIGN);
  ck_assert_int_eq(with_alignment(NB_GGUF_UINT32, 3, 32, &e), NB_EALIGN);
  ck_assert_int_eq(with_alignment(NB_GGUF_UINT64, (uint64_t)1 << 40, 32, &e),
                   NB_EALIGN);
  ck_assert_int_eq(with_alignment(NB_GGUF_UINT32, 1u << 21, 32, &e),
                   NB_EALIGN);
  ck_assert_int_eq(with_alignment(NB_GGUF_INT32, 0xffffffe0u, 32, &e),
                   NB_EALIGN); /* -32 */
  ck_assert_int_eq(with_alignment(NB_GGUF_STRING, 0, 32, &e), NB_ETYPE);
  ck_assert_int_eq(with_alignment(NB_GGUF_FLOAT32, 0, 32, &e), NB_ETYPE);
  /* Valid: 64 (offsets 0 and 64), and 16 with tensor b at 32. */
  ck_assert_msg(with_alignment(NB_GGUF_UINT32, 64, 64, &e) == 0, "%s", e.msg);
  ck_assert_msg(with_alignment(NB_GGUF_UINT32, 16, 16, &e) == 0, "%s", e.msg);
  /* Tensor offset 32 is misaligned for 64. */
  spec s;
  extra x;
  spec_default(&s);
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "general.alignment");
  bb_u32(&x.b, NB_GGUF_UINT32);
  bb_u32(&x.b, 64);
  x.n = 1;
  with_kv(&s, &x);
  s.align = 64;
  EXPECT(&s, NB_EALIGN);
  bb_free(&x.b);
}
END_TEST

START_TEST(test_bad_tensors) {
  spec s;
  nb_err e;
  /* dims whose product wraps 2^64 */
  spec_default(&s);
  s.t[0] = (tspec){"a", 2, {(uint64_t)1 << 32, (uint64_t)1 << 32}, 0, 0};
  EXPECT(&s, NB_EOVERFLOW);
  spec_default(&s);
  s.t[0] = (tspec){"a", 4, {(uint64_t)1 << 20, 1u << 20, 1u << 20, 1u << 20},
                   0, 0};
  EXPECT(&s, NB_EOVERFLOW);
  /* element count fits, byte size (x4) does not */
  spec_default(&s);
  s.t[0] = (tspec){"a", 2, {(uint64_t)1 << 31, (uint64_t)1 << 31}, 0, 0};
  EXPECT(&s, NB_EOVERFLOW);
  /* n_dims 0 and 5 */
  spec_default(&s);
  s.t[0].n_dims = 0;
  EXPECT(&s, NB_ESHAPE);
  spec_default(&s);
  s.t[0] = (tspec){"a", 5, {4, 2, 1, 1, 1}, 0, 0};
  EXPECT(&s, NB_ESHAPE);
  /* dim 0, negative dim, dim >= 2^62 */
  spec_default(&s);
  s.t[0].ne[1] = 0;
  EXPECT(&s, NB_ESHAPE);
  spec_default(&s);
  s.t[0].ne[1] = (uint64_t)-2;
  EXPECT(&s, NB_ESHAPE);
  spec_default(&s);
  s.t[0].ne[0] = (uint64_t)1 << 62;
  s.t[0].n_dims = 1;
  EXPECT(&s, NB_ETOOBIG);
  /* unknown type id, and a ggml type nibble does not support (named) */
  spec_default(&s);
  s.t[0].type = 1000;
  EXPECT(&s, NB_EBADTYPE);
  spec_default(&s);
  s.t[0].type = 12; /* q4_k */
  ck_assert_int_eq(open_spec(&s, &e), NB_EBADTYPE);
  ck_assert_ptr_nonnull(strstr(e.msg, "q4_k"));
  ck_assert_ptr_nonnull(strstr(e.msg, "tensor a"));
  /* row length not a multiple of the block */
  spec_default(&s);
  s.t[1].ne[0] = 16;
  EXPECT(&s, NB_ESHAPE);
  /* misaligned offset */
  spec_default(&s);
  s.t[1].offset = 48;
  EXPECT(&s, NB_EALIGN);
  /* offset past the end */
  spec_default(&s);
  s.t[1].offset = (uint64_t)1 << 40;
  EXPECT(&s, NB_ERANGE);
  spec_default(&s);
  s.t[1].offset = UINT64_MAX - 31;
  EXPECT(&s, NB_ERANGE);
  /* data ends past end of file (nbytes exceeds the file) */
  spec_default(&s);
  s.data_len = 32 + 33;
  ck_assert_int_eq(open_spec(&s, &e), NB_ERANGE);
  ck_assert_msg(strstr(e.msg, "tensor b: data ends past end of file"), "%s",
                e.msg);
  spec_default(&s);
  s.t[1].ne[0] = 32 * 1000;
  s.data_len = 66;
  EXPECT(&s, NB_ERANGE);
  /* overlapping tensors */
  spec_default(&s);
  s.t[1].offset = 0;
  EXPECT(&s, NB_EOVERLAP);
  spec_default(&s);
  s.t[0].ne[1] = 9; /* 144 bytes, runs into b at 32 */
  s.data_len = 200;
  EXPECT(&s, NB_EOVERLAP);
  /* duplicate tensor name */
  spec_default(&s);
  s.t[1].name = "a";
  EXPECT(&s, NB_EDUP);
  /* data section (with tensors) starting past the end of the file */
  spec_default(&s);
  s.data_len = 0;
  s.align = 1;
  EXPECT(&s, NB_ETRUNC);
  /* control: three tensors, q8_0 and f16 */
  spec_default(&s);
  s.n_t = 3;
  s.t[2] = (tspec){"c", 3, {2, 3, 4}, NB_TYPE_F16, 96};
  EXPECT(&s, 0);
}
END_TEST

/* Element-type mismatch: scores stored as UINT8. */
START_TEST(test_scores_as_uint8) {
  spec s;
  extra x;
  spec_default(&s);
  s.no_base_kv = true;
  memset(&x, 0, sizeof x);
  bb_str(&x.b, "tokenizer.ggml.scores");
  bb_u32(&x.b, NB_GGUF_ARRAY);
  bb_u32(&x.b, NB_GGUF_UINT8);
  bb_u64(&x.b, 4);
  bb_u32(&x.b, 0x3f800000u);
  x.n = 1;
  with_kv(&s, &x);
  bb b;
  build(&s, &b);
  nb_gguf *g = NULL;
  nb_err e;
  ck_assert_int_eq(nb_gguf_open_memory(&g, b.p, b.n, &e), 0);
  const void *d;
  uint64_t n;
  ck_assert_int_eq(nb_gguf_get_arr(g, "tokenizer.ggml.scores",
                                   NB_GGUF_FLOAT32, &d, &n, &e),
                   NB_ETYPE);
  ck_assert_ptr_nonnull(strstr(e.msg, "uint8"));
  ck_assert_int_eq(nb_gguf_get_arr(g, "tokenizer.ggml.scores", NB_GGUF_UINT8,
                                   &d, &n, &e),
                   0);
  ck_assert_uint_eq(n, 4);
  nb_gguf_close(g);
  bb_free(&b);
  bb_free(&x.b);
}
END_TEST

/* Every prefix of a valid file fails cleanly with a specific code. */
START_TEST(test_truncated_every_prefix) {
  spec s;
  spec_default(&s);
  bb b;
  build(&s, &b);
  int n_trunc = 0;
  for (size_t len = 0; len < b.n; len++) {
    uint8_t *copy = nb_malloc(len ? len : 1);
    memcpy(copy, b.p, len);
    nb_gguf *g = NULL;
    nb_err e;
    int rc = nb_gguf_open_memory(&g, copy, len, &e);
    ck_assert_msg(rc == NB_ETRUNC || rc == NB_ETOOBIG || rc == NB_ERANGE,
                  "prefix %zu: %s (%s)", len, nb_errname(rc), e.msg);
    ck_assert_ptr_null(g);
    n_trunc += rc == NB_ETRUNC;
    nb_free(copy);
  }
  ck_assert_int_gt(n_trunc, (int)b.n / 2);
  bb_free(&b);
}
END_TEST

/* xorshift64*, fixed seed: reproducible. */
static uint64_t rnd(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

START_TEST(test_random_mutations) {
  spec s;
  spec_default(&s);
  bb b;
  build(&s, &b);
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  int ok = 0, fail = 0;
  for (int it = 0; it < 2000; it++) {
    uint8_t *copy = nb_malloc(b.n);
    memcpy(copy, b.p, b.n);
    int muts = 1 + (int)(rnd(&seed) % 4);
    for (int m = 0; m < muts; m++) {
      size_t at = (size_t)(rnd(&seed) % b.n);
      switch (rnd(&seed) % 4) {
        case 0: copy[at] = (uint8_t)rnd(&seed); break;
        case 1: copy[at] ^= (uint8_t)(1u << (rnd(&seed) % 8)); break;
        case 2: copy[at] = 0xff; break;
        default:
          if (at + 8 <= b.n) {
            uint64_t v = rnd(&seed) % 2 ? UINT64_MAX : (uint64_t)1 << (rnd(&seed) % 64);
            memcpy(copy + at, &v, 8);
          }
      }
    }
    size_t len = rnd(&seed) % 8 == 0 ? (size_t)(rnd(&seed) % b.n) : b.n;
    nb_gguf *g = NULL;
    nb_err e;
    int rc = nb_gguf_open_memory(&g, copy, len, &e);
    if (rc == 0) {
      ok++;
      /* Touch everything the handle exposes. */
      for (int64_t i = 0; i < nb_gguf_n_kv(g); i++) {
        nb_str k = nb_gguf_key(g, i);
        char key[512];
        snprintf(key, sizeof key, "%.*s", (int)NB__MIN(k.len, 500), k.data);
        if (nb_gguf_find_key(g, key) < 0 && strlen(key) == k.len)
          ck_abort_msg("key %s not found", key);
        int64_t v;
        float f;
        bool bo;
        nb_str st;
        const void *d;
        uint64_t n;
        nb_gguf_get_int(g, key, &v, &e);
        nb_gguf_get_f32(g, key, &f, &e);
        nb_gguf_get_bool(g, key, &bo, &e);
        if (nb_gguf_get_str(g, key, &st, &e) == 0 && st.len)
          (void)(volatile char)st.data[st.len - 1];
        if (nb_gguf_get_arr(g, key, NB_GGUF_UINT8, &d, &n, &e) == 0 && n)
          (void)(volatile uint8_t)((const uint8_t *)d)[n - 1];
        if (nb_gguf_arr_type(g, i) == NB_GGUF_STRING)
          for (uint64_t j = 0; j < nb_gguf_arr_len(g, i); j++)
            if (nb_gguf_get_arr_str(g, key, j, &st, &e) == 0 && st.len)
              (void)(volatile char)st.data[st.len - 1];
      }
      for (int64_t i = 0; i < nb_gguf_n_tensors(g); i++) {
        const nb_tensor_info *t = nb_gguf_tensor(g, i);
        ck_assert_uint_le(t->offset + t->nbytes + nb_gguf_data_offset(g),
                          len);
        (void)(volatile uint8_t)((const uint8_t *)t->data)[t->nbytes - 1];
      }
      nb_gguf_close(g);
    } else {
      fail++;
      ck_assert_ptr_null(g);
      ck_assert_int_eq(e.code, rc);
      ck_assert_str_ne(nb_errname(rc), "NB_E?");
    }
    nb_free(copy);
  }
  ck_assert_int_gt(ok, 0);
  ck_assert_int_gt(fail, 0);
  bb_free(&b);
}
END_TEST

/* ------------------------------------------------------------------ writer */

/* Every value type written, read back with its type and value; replacing a
 * key keeps its position. */
START_TEST(test_write_roundtrip_values) {
  nb_gguf_writer *w = NULL;
  nb_err e;
  ck_assert_int_eq(nb_gguf_writer_new(&w, &e), 0);
  ck_assert_int_eq(nb_gguf_writer_set_u32(w, "a.u32", 123, &e), 0);
  ck_assert_int_eq(nb_gguf_writer_set_i32(w, "a.i32", -5, &e), 0);
  ck_assert_int_eq(nb_gguf_writer_set_u64(w, "a.u64", 1ULL << 40, &e), 0);
  ck_assert_int_eq(nb_gguf_writer_set_f32(w, "a.f32", 1e-5f, &e), 0);
  ck_assert_int_eq(nb_gguf_writer_set_bool(w, "a.bool", true, &e), 0);
  ck_assert_int_eq(nb_gguf_writer_set_str(w, "a.str", "h\0llo", 5, &e), 0);
  ck_assert_int_eq(nb_gguf_writer_set_str(w, "a.empty", NULL, 0, &e), 0);
  /* Fixed-size arrays of every element type: element i = i+1 (bool: i&1). */
  uint8_t raw[8 * 5];
  for (int et = 0; et < NB_GGUF_VTYPE_COUNT; et++) {
    if (et == NB_GGUF_STRING || et == NB_GGUF_ARRAY) continue;
    char key[32];
    snprintf(key, sizeof key, "arr.%d", et);
    for (size_t i = 0; i < sizeof raw; i++)
      raw[i] = et == NB_GGUF_BOOL ? (uint8_t)(i & 1) : (uint8_t)(i + 1);
    ck_assert_int_eq(
        nb_gguf_writer_set_arr(w, key, (nb_gguf_vtype)et, raw, 5, &e), 0);
  }
  nb_str strs[3] = {{"x", 1}, {"", 0}, {"\xe2\x96\x81yz", 5}};
  ck_assert_int_eq(nb_gguf_writer_set_arr_str(w, "a.strs", strs, 3, &e), 0);
  /* Replace: keeps position 0, changes type. */
  ck_assert_int_eq(nb_gguf_writer_set_i32(w, "a.u32", -7, &e), 0);
  /* Invalid uses. */
  ck_assert_int_eq(nb_gguf_writer_set_u32(w, "", 1, &e), NB_EINVAL);
  ck_assert_int_eq(
      nb_gguf_writer_set_arr(w, "bad", NB_GGUF_STRING, raw, 1, &e), NB_EINVAL);
  uint8_t two = 2;
  ck_assert_int_eq(
      nb_gguf_writer_set_arr(w, "bad", NB_GGUF_BOOL, &two, 1, &e), NB_EINVAL);
  /* A nested array copied verbatim from another file. */
  spec sp;
  spec_default(&sp);
  bb b;
  build(&sp, &b);
  nb_gguf *src = NULL;
  ck_assert_int_eq(nb_gguf_open_memory(&src, b.p, b.n, &e), 0);
  ck_assert_int_eq(
      nb_gguf_writer_copy_kv(w, src, nb_gguf_find_key(src, "test.nested"), &e),
      0);
  const char *path = nbt_tmp("values.gguf");
  ck_assert_msg(nb_gguf_writer_write(w, path, &e) == 0, "%s", e.msg);
  nb_gguf_writer_free(w);

  nb_gguf *g = NULL;
  ck_assert_msg(nb_gguf_open(&g, path, &e) == 0, "%s", e.msg);
  ck_assert_uint_eq(nb_gguf_version(g), 3);
  ck_assert_int_eq(nb_gguf_n_kv(g), 7 + 11 + 1 + 1);
  ck_assert_int_eq(nb_gguf_n_tensors(g), 0);
  nb_str k = nb_gguf_key(g, 0);
  ck_assert(k.len == 5 && !memcmp(k.data, "a.u32", 5));
  ck_assert_int_eq(nb_gguf_kv_type(g, 0), NB_GGUF_INT32);
  int64_t v;
  ck_assert_int_eq(nb_gguf_get_int(g, "a.u32", &v, &e), 0);
  ck_assert_int_eq(v, -7);
  ck_assert_int_eq(nb_gguf_get_int(g, "a.i32", &v, &e), 0);
  ck_assert_int_eq(v, -5);
  ck_assert_int_eq(nb_gguf_get_int(g, "a.u64", &v, &e), 0);
  ck_assert_int_eq(v, 1LL << 40);
  float f;
  ck_assert_int_eq(nb_gguf_get_f32(g, "a.f32", &f, &e), 0);
  ck_assert(f == 1e-5f);
  bool bo;
  ck_assert_int_eq(nb_gguf_get_bool(g, "a.bool", &bo, &e), 0);
  ck_assert(bo);
  nb_str st;
  ck_assert_int_eq(nb_gguf_get_str(g, "a.str", &st, &e), 0);
  ck_assert(st.len == 5 && !memcmp(st.data, "h\0llo", 5));
  ck_assert_int_eq(nb_gguf_get_str(g, "a.empty", &st, &e), 0);
  ck_assert_uint_eq(st.len, 0);
  for (int et = 0; et < NB_GGUF_VTYPE_COUNT; et++) {
    if (et == NB_GGUF_STRING || et == NB_GGUF_ARRAY) continue;
    char key[32];
    snprintf(key, sizeof key, "arr.%d", et);
    const void *d;
    uint64_t n;
    ck_assert_int_eq(nb_gguf_get_arr(g, key, (nb_gguf_vtype)et, &d, &n, &e),
                     0);
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < 5 * (size_t)(et == 0 || et == 1 || et == 7 ? 1
                                        : et <= 3 ? 2
                                        : et <= 6 ? 4 : 8);
         i++)
      ck_assert_uint_eq(((const uint8_t *)d)[i],
                        et == NB_GGUF_BOOL ? (i & 1) : i + 1);
    /* wrong element type: refused */
    ck_assert_int_eq(nb_gguf_get_arr(g, key,
                                     et == NB_GGUF_FLOAT32 ? NB_GGUF_INT32
                                                           : NB_GGUF_FLOAT32,
                                     &d, &n, &e),
                     NB_ETYPE);
  }
  for (int j = 0; j < 3; j++) {
    ck_assert_int_eq(nb_gguf_get_arr_str(g, "a.strs", (uint64_t)j, &st, &e),
                     0);
    ck_assert(st.len == strs[j].len && !memcmp(st.data, strs[j].data, st.len));
  }
  /* The nested array is byte-identical to the source. */
  uint32_t t1, t2;
  const void *v1, *v2;
  uint64_t l1, l2;
  ck_assert_int_eq(nb__gguf_kv_raw(src, nb_gguf_find_key(src, "test.nested"),
                                   &t1, &v1, &l1),
                   0);
  ck_assert_int_eq(
      nb__gguf_kv_raw(g, nb_gguf_find_key(g, "test.nested"), &t2, &v2, &l2),
      0);
  ck_assert_uint_eq(t1, t2);
  ck_assert_uint_eq(l1, l2);
  ck_assert_int_eq(memcmp(v1, v2, l1), 0);
  ck_assert_int_eq(nb_gguf_arr_type(g, nb_gguf_find_key(g, "test.nested")),
                   NB_GGUF_ARRAY);
  nb_gguf_close(g);
  nb_gguf_close(src);
  bb_free(&b);
}
END_TEST

START_TEST(test_write_tensors) {
  float a[4 * 3];
  for (int i = 0; i < 12; i++) a[i] = (float)i * 0.25f - 1.0f;
  uint8_t q[34 * 2], h[2 * 5];
  for (size_t i = 0; i < sizeof q; i++) q[i] = (uint8_t)(i * 13);
  for (size_t i = 0; i < sizeof h; i++) h[i] = (uint8_t)(i + 100);
  for (int pass = 0; pass < 2; pass++) {
    uint64_t align = pass ? 64 : 32;
    nb_gguf_writer *w = NULL;
    nb_err e;
    ck_assert_int_eq(nb_gguf_writer_new(&w, &e), 0);
    if (pass)
      ck_assert_int_eq(nb_gguf_writer_set_u32(w, "general.alignment", 64, &e),
                       0);
    ck_assert_int_eq(nb_gguf_writer_set_str(w, "general.architecture", "llama",
                                            5, &e),
                     0);
    int64_t ne_a[] = {4, 3}, ne_q[] = {32, 2}, ne_h[] = {5};
    ck_assert_int_eq(
        nb_gguf_writer_add_tensor(w, "t.a", NB_TYPE_F32, 2, ne_a, a, &e), 0);
    ck_assert_int_eq(
        nb_gguf_writer_add_tensor(w, "t.h", NB_TYPE_F16, 1, ne_h, h, &e), 0);
    ck_assert_int_eq(
        nb_gguf_writer_add_tensor(w, "t.q", NB_TYPE_Q8_0, 2, ne_q, q, &e), 0);
    /* refused tensors */
    ck_assert_int_eq(
        nb_gguf_writer_add_tensor(w, "t.a", NB_TYPE_F32, 2, ne_a, a, &e),
        NB_EDUP);
    ck_assert_int_eq(
        nb_gguf_writer_add_tensor(w, "x", 12, 2, ne_a, a, &e), NB_EBADTYPE);
    ck_assert_int_eq(
        nb_gguf_writer_add_tensor(w, "x", NB_TYPE_Q8_0, 2, ne_a, a, &e),
        NB_ESHAPE);
    ck_assert_int_eq(
        nb_gguf_writer_add_tensor(w, "x", NB_TYPE_F32, 5, ne_a, a, &e),
        NB_ESHAPE);
    char longname[80];
    memset(longname, 'x', 64);
    longname[64] = '\0';
    ck_assert_int_eq(
        nb_gguf_writer_add_tensor(w, longname, NB_TYPE_F32, 2, ne_a, a, &e),
        NB_ETOOBIG);
    longname[63] = '\0';
    ck_assert_int_eq(
        nb_gguf_writer_add_tensor(w, longname, NB_TYPE_F32, 2, ne_a, a, &e), 0);
    int64_t bad[] = {0};
    ck_assert_int_eq(
        nb_gguf_writer_add_tensor(w, "x", NB_TYPE_F32, 1, bad, a, &e),
        NB_ESHAPE);
    const char *path = nbt_tmp("tensors.gguf");
    ck_assert_msg(nb_gguf_writer_write(w, path, &e) == 0, "%s", e.msg);
    nb_gguf_writer_free(w);
    nb_gguf *g = NULL;
    ck_assert_msg(nb_gguf_open(&g, path, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(nb_gguf_alignment(g), align);
    ck_assert_uint_eq(nb_gguf_data_offset(g) % align, 0);
    ck_assert_uint_eq(nb_gguf_file_size(g) % align, 0);
    ck_assert_int_eq(nb_gguf_n_tensors(g), 4);
    const void *datas[] = {a, h, q};
    const uint64_t sizes[] = {sizeof a, sizeof h, sizeof q};
    for (int i = 0; i < 3; i++) {
      const nb_tensor_info *t = nb_gguf_tensor(g, i);
      ck_assert_uint_eq(t->offset % align, 0);
      ck_assert_uint_eq(t->nbytes, sizes[i]);
      ck_assert_int_eq(memcmp(t->data, datas[i], sizes[i]), 0);
    }
    ck_assert_int_eq(nb_gguf_tensor(g, 2)->ne[1], 2);
    ck_assert_int_eq(nb_gguf_tensor(g, 0)->ne[2], 1);
    /* The padding is zeros. */
    const nb_tensor_info *th = nb_gguf_tensor(g, 1);
    const uint8_t *pend = (const uint8_t *)th->data + th->nbytes;
    for (uint64_t i = th->offset + th->nbytes; i < nb_gguf_tensor(g, 2)->offset;
         i++)
      ck_assert_uint_eq(*pend++, 0);
    nb_gguf_close(g);
  }
}
END_TEST

START_TEST(test_write_failures) {
  nb_gguf_writer *w = NULL;
  nb_err e;
  ck_assert_int_eq(nb_gguf_writer_new(&w, &e), 0);
  /* A directory that does not exist: error, nothing left behind. */
  ck_assert_int_eq(nb_gguf_writer_write(w, nbt_tmp("nodir/x.gguf"), &e),
                   NB_ENOENT);
  /* Bad alignment key: refused before anything is written. */
  ck_assert_int_eq(nb_gguf_writer_set_u32(w, "general.alignment", 48, &e), 0);
  const char *path = nbt_tmp("badalign.gguf");
  ck_assert_int_eq(nb_gguf_writer_write(w, path, &e), NB_EALIGN);
  ck_assert_int_eq(nb_gguf_writer_set_str(w, "general.alignment", "x", 1, &e),
                   0);
  ck_assert_int_eq(nb_gguf_writer_write(w, path, &e), NB_ETYPE);
  struct stat st;
  ck_assert_int_ne(stat(path, &st), 0);
  /* An existing file is replaced only by a complete one: write over it. */
  ck_assert_int_eq(nb_gguf_writer_set_u32(w, "general.alignment", 32, &e), 0);
  ck_assert_int_eq(nb_gguf_writer_write(w, path, &e), 0);
  ck_assert_int_eq(nb_gguf_writer_write(w, path, &e), 0);
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  ck_assert_int_ne(stat(tmp, &st), 0);
  nb_gguf_writer_free(w);
}
END_TEST

/* ------------------------------------------------------- streamed tensors */

/* A fill callback's source: the bytes to hand out, the shape of the calls
 * it expects (checked as they come) and an optional failure. */
typedef struct src_cb {
  const uint8_t *data; /* (rows, row_bytes) */
  size_t row_bytes;
  int64_t rows;
  int64_t next_row;    /* the row the next call must start at */
  int calls;
  int fail_at_call;    /* 0: never; k: the k-th call fails */
  int fail_code;
  bool fail_silently;  /* fail without filling err */
} src_cb;

static int fill_from(void *user, void *dst, int64_t row0, int64_t n_rows,
                     nb_err *err) {
  src_cb *s = user;
  s->calls++;
  /* in order, contiguous, whole rows, chunks of NB_GGUF_WRITE_CHUNK bytes
   * (at least one row) except the last */
  ck_assert_int_eq(row0, s->next_row);
  ck_assert_int_gt(n_rows, 0);
  ck_assert_int_le(row0 + n_rows, s->rows);
  int64_t per = (int64_t)(NB_GGUF_WRITE_CHUNK / s->row_bytes);
  if (per < 1) per = 1;
  if (row0 + n_rows < s->rows) ck_assert_int_eq(n_rows, per);
  else ck_assert_int_le(n_rows, per);
  s->next_row = row0 + n_rows;
  if (s->calls == s->fail_at_call)
    return s->fail_silently
               ? s->fail_code
               : nb__err(err, s->fail_code, "source gave up at row %lld",
                         (long long)row0);
  memcpy(dst, s->data + (size_t)row0 * s->row_bytes,
         (size_t)n_rows * s->row_bytes);
  return 0;
}

/* The tensors of the streaming tests: a 6 MB matrix (two chunks, the last
 * one short), a 1-D tensor whose one row is larger than a chunk, a 3-D
 * one, tiny Q8_0 and F16 ones (padding between them). */
enum { ST_N = 5 };
typedef struct stset {
  const char *name[ST_N];
  uint32_t type[ST_N], n_dims[ST_N];
  int64_t ne[ST_N][4];
  uint8_t *data[ST_N];
  size_t nbytes[ST_N];
} stset;

static void stset_make(stset *s) {
  static const char *names[ST_N] = {"t.big", "t.q", "t.long", "t.h", "t.3d"};
  static const uint32_t types[ST_N] = {NB_TYPE_F32, NB_TYPE_Q8_0, NB_TYPE_F32,
                                       NB_TYPE_F16, NB_TYPE_F32};
  static const uint32_t dims[ST_N] = {2, 2, 1, 1, 3};
  static const int64_t ne[ST_N][4] = {{1000, 1500, 1, 1}, {64, 3, 1, 1},
                                      {1200000, 1, 1, 1}, {5, 1, 1, 1},
                                      {8, 3, 2, 1}};
  uint64_t seed = 99;
  for (int i = 0; i < ST_N; i++) {
    s->name[i] = names[i];
    s->type[i] = types[i];
    s->n_dims[i] = dims[i];
    memcpy(s->ne[i], ne[i], sizeof ne[i]);
    s->nbytes[i] = nb_type_row_bytes(types[i], ne[i][0]) *
                   (size_t)(ne[i][1] * ne[i][2] * ne[i][3]);
    s->data[i] = nb_malloc(s->nbytes[i]);
    ck_assert_ptr_nonnull(s->data[i]);
    for (size_t j = 0; j < s->nbytes[i]; j++) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      s->data[i][j] = (uint8_t)(seed >> 56);
    }
  }
}

static void stset_free(stset *s) {
  for (int i = 0; i < ST_N; i++) nb_free(s->data[i]);
}

/* A writer holding the set: tensor i is streamed when bit i of `streamed`
 * is set (its source is srcs[i]), else borrowed. */
static nb_gguf_writer *stset_writer(const stset *s, unsigned streamed,
                                    src_cb srcs[ST_N], uint32_t align) {
  nb_gguf_writer *w = NULL;
  nb_err e;
  ck_assert_int_eq(nb_gguf_writer_new(&w, &e), 0);
  if (align)
    ck_assert_int_eq(nb_gguf_writer_set_u32(w, "general.alignment", align, &e),
                     0);
  ck_assert_int_eq(nb_gguf_writer_set_str(w, "general.architecture", "test",
                                          4, &e),
                   0);
  for (int i = 0; i < ST_N; i++) {
    if (streamed & (1u << i)) {
      memset(&srcs[i], 0, sizeof srcs[i]);
      srcs[i].data = s->data[i];
      srcs[i].row_bytes = nb_type_row_bytes(s->type[i], s->ne[i][0]);
      srcs[i].rows = s->ne[i][1] * s->ne[i][2] * s->ne[i][3];
      ck_assert_int_eq(nb_gguf_writer_add_tensor_cb(w, s->name[i], s->type[i],
                                                    s->n_dims[i], s->ne[i],
                                                    fill_from, &srcs[i], &e),
                       0);
    } else {
      ck_assert_int_eq(nb_gguf_writer_add_tensor(w, s->name[i], s->type[i],
                                                 s->n_dims[i], s->ne[i],
                                                 s->data[i], &e),
                       0);
    }
  }
  return w;
}

/* Streamed tensors give the very bytes borrowed ones give (all streamed,
 * or mixed, at two alignments), through the calls the API promises. */
START_TEST(test_write_streamed_same_bytes) {
  stset s;
  stset_make(&s);
  const uint32_t aligns[] = {0, 64};
  for (int a = 0; a < 2; a++) {
    src_cb srcs[ST_N];
    nb_err e;
    const char *pa = nbt_tmp("borrowed.gguf"), *pb = nbt_tmp("streamed.gguf"),
               *pc = nbt_tmp("mixed.gguf");
    nb_gguf_writer *w = stset_writer(&s, 0, srcs, aligns[a]);
    ck_assert_msg(nb_gguf_writer_write(w, pa, &e) == 0, "%s", e.msg);
    nb_gguf_writer_free(w);

    w = stset_writer(&s, (1u << ST_N) - 1, srcs, aligns[a]);
    ck_assert_msg(nb_gguf_writer_write(w, pb, &e) == 0, "%s", e.msg);
    for (int i = 0; i < ST_N; i++)
      ck_assert_int_eq(srcs[i].next_row, srcs[i].rows); /* all covered */
    ck_assert_int_eq(srcs[0].calls, 2);  /* 1048 + 452 rows of 4000 B */
    ck_assert_int_eq(srcs[2].calls, 1);  /* one 4.8 MB row */
    ck_assert_int_eq(srcs[4].calls, 1);
    /* writing again asks the sources again */
    for (int i = 0; i < ST_N; i++) srcs[i].next_row = 0;
    ck_assert_msg(nb_gguf_writer_write(w, pb, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(srcs[0].calls, 4);
    nb_gguf_writer_free(w);

    w = stset_writer(&s, 0x5 /* t.big, t.long */, srcs, aligns[a]);
    ck_assert_msg(nb_gguf_writer_write(w, pc, &e) == 0, "%s", e.msg);
    nb_gguf_writer_free(w);

    size_t na, nb, nc;
    char *fa = nbt_read_file(pa, &na), *fb = nbt_read_file(pb, &nb),
         *fc = nbt_read_file(pc, &nc);
    ck_assert_ptr_nonnull(fa);
    ck_assert_ptr_nonnull(fb);
    ck_assert_ptr_nonnull(fc);
    ck_assert_uint_eq(na, nb);
    ck_assert_uint_eq(na, nc);
    ck_assert_int_eq(memcmp(fa, fb, na), 0);
    ck_assert_int_eq(memcmp(fa, fc, na), 0);
    nb_free(fa);
    nb_free(fb);
    nb_free(fc);

    /* and the file holds the data */
    nb_gguf *g = NULL;
    ck_assert_msg(nb_gguf_open(&g, pb, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(nb_gguf_alignment(g), aligns[a] ? aligns[a] : 32);
    for (int i = 0; i < ST_N; i++) {
      const nb_tensor_info *t = nb_gguf_tensor(g, i);
      ck_assert_uint_eq(t->nbytes, s.nbytes[i]);
      ck_assert_int_eq(memcmp(t->data, s.data[i], s.nbytes[i]), 0);
    }
    nb_gguf_close(g);
  }
  /* a NULL callback is refused */
  nb_gguf_writer *w = NULL;
  nb_err e;
  const int64_t ne[1] = {4};
  ck_assert_int_eq(nb_gguf_writer_new(&w, &e), 0);
  ck_assert_int_eq(nb_gguf_writer_add_tensor_cb(w, "x", NB_TYPE_F32, 1, ne,
                                                NULL, NULL, &e),
                   NB_EINVAL);
  nb_gguf_writer_free(w);
  stset_free(&s);
}
END_TEST

/* True if the directory of `path` holds an entry whose name starts with
 * path's file name (the file itself or a temporary `<name>.tmp.<pid>`). */
static bool any_file_like(const char *path) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  ck_assert_ptr_nonnull(slash);
  *slash = '\0';
  const char *base = slash + 1;
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  bool found = false;
  for (struct dirent *de; (de = readdir(d)) != NULL;)
    if (strncmp(de->d_name, base, strlen(base)) == 0) found = true;
  closedir(d);
  return found;
}

/* The disk refuses mid-file (a 3 MiB file size limit: write() fails with
 * EFBIG inside the 6 MB tensor): NB_EIO naming the cause, and neither the
 * file nor the temporary one is left. */
START_TEST(test_write_io_failure) {
  stset s;
  stset_make(&s);
  src_cb srcs[ST_N];
  nb_err e;
  const char *path = nbt_tmp("efbig.gguf");
  nb_gguf_writer *w = stset_writer(&s, 0x1, srcs, 0);
  struct rlimit old, lim;
  ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = 3u << 20;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
  int rc = nb_gguf_writer_write(w, path, &e);
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, prev);
  ck_assert_int_eq(rc, NB_EIO);
  ck_assert_msg(strstr(e.msg, strerror(EFBIG)) != NULL, "%s", e.msg);
  ck_assert(!any_file_like(path));
  /* the same writer succeeds once the limit is gone */
  srcs[0].next_row = 0;
  ck_assert_int_eq(nb_gguf_writer_write(w, path, &e), 0);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_gt(st.st_size, 6000000);
  nb_gguf_writer_free(w);
  stset_free(&s);
}
END_TEST

/* A failing source stops the write with its own code and message, after
 * part of the file was written: no file is left, no temporary either, and
 * a file already at the path is left as it was. */
START_TEST(test_write_streamed_failure) {
  stset s;
  stset_make(&s);
  src_cb srcs[ST_N];
  nb_err e;
  const char *path = nbt_tmp("fail.gguf");
  /* t.big's second chunk fails: t.big's first 4 MB are already written */
  nb_gguf_writer *w = stset_writer(&s, 0x1, srcs, 0);
  srcs[0].fail_at_call = 2;
  srcs[0].fail_code = NB_ECANCELED;
  memset(&e, 0, sizeof e);
  ck_assert_int_eq(nb_gguf_writer_write(w, path, &e), NB_ECANCELED);
  ck_assert_int_eq(e.code, NB_ECANCELED);
  ck_assert_msg(strstr(e.msg, "source gave up at row 1048") != NULL, "%s",
                e.msg);
  ck_assert_int_eq(srcs[0].calls, 2);
  ck_assert(!any_file_like(path));
  /* the same without err, and with a source that fills no message */
  srcs[0].calls = 0;
  srcs[0].next_row = 0;
  ck_assert_int_eq(nb_gguf_writer_write(w, path, NULL), NB_ECANCELED);
  ck_assert(!any_file_like(path));
  srcs[0].calls = 0;
  srcs[0].next_row = 0;
  srcs[0].fail_at_call = 1;
  srcs[0].fail_code = NB_EIO;
  srcs[0].fail_silently = true;
  ck_assert_int_eq(nb_gguf_writer_write(w, path, &e), NB_EIO);
  ck_assert_int_eq(e.code, NB_EIO);
  ck_assert_msg(strstr(e.msg, "tensor t.big") != NULL, "%s", e.msg);
  ck_assert(!any_file_like(path));
  nb_gguf_writer_free(w);

  /* a complete file at the path survives a failed rewrite untouched */
  w = stset_writer(&s, 0, srcs, 0);
  ck_assert_msg(nb_gguf_writer_write(w, path, &e) == 0, "%s", e.msg);
  nb_gguf_writer_free(w);
  size_t n0, n1;
  char *before = nbt_read_file(path, &n0);
  ck_assert_ptr_nonnull(before);
  w = stset_writer(&s, 0x4 /* t.long, the third tensor */, srcs, 32);
  srcs[2].fail_at_call = 1;
  srcs[2].fail_code = NB_ENOMEM;
  ck_assert_int_eq(nb_gguf_writer_write(w, path, &e), NB_ENOMEM);
  nb_gguf_writer_free(w);
  char *after = nbt_read_file(path, &n1);
  ck_assert_ptr_nonnull(after);
  ck_assert_uint_eq(n0, n1);
  ck_assert_int_eq(memcmp(before, after, n0), 0);
  nb_free(before);
  nb_free(after);
  char tmp[1100];
  struct stat st;
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  ck_assert_int_ne(stat(tmp, &st), 0);
  stset_free(&s);
}
END_TEST

/* llama.cpp's files copied through the writer (every kv + every tensor) read
 * back identically: same keys in the same order with byte-identical values,
 * same tensors with identical data. */
START_TEST(test_write_copy_llamacpp) {
  const char *files[] = {"llamacpp/stories260K-f32.gguf",
                         "llamacpp/stories260K-q8_0.gguf",
                         "llamacpp/stories260K-q4_0.gguf",
                         "golden/ggml-vocab-llama-spm.gguf"};
  for (size_t f = 0; f < NB__ARRAY_LEN(files); f++) {
    nb_gguf *src = NULL, *dst = NULL;
    nb_gguf_writer *w = NULL;
    nb_err e;
    ck_assert_msg(nb_gguf_open(&src, nbt_shared(files[f]), &e) == 0, "%s",
                  e.msg);
    ck_assert_int_eq(nb_gguf_writer_new(&w, &e), 0);
    for (int64_t i = 0; i < nb_gguf_n_kv(src); i++)
      ck_assert_int_eq(nb_gguf_writer_copy_kv(w, src, i, &e), 0);
    for (int64_t i = 0; i < nb_gguf_n_tensors(src); i++) {
      const nb_tensor_info *t = nb_gguf_tensor(src, i);
      char name[128];
      snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
      ck_assert_int_eq(nb_gguf_writer_add_tensor(w, name, t->type, t->n_dims,
                                                 t->ne, t->data, &e),
                       0);
    }
    const char *path = nbt_tmp("copy.gguf");
    ck_assert_msg(nb_gguf_writer_write(w, path, &e) == 0, "%s", e.msg);
    nb_gguf_writer_free(w);
    ck_assert_msg(nb_gguf_open(&dst, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(nb_gguf_n_kv(dst), nb_gguf_n_kv(src));
    for (int64_t i = 0; i < nb_gguf_n_kv(src); i++) {
      nb_str k1 = nb_gguf_key(src, i), k2 = nb_gguf_key(dst, i);
      ck_assert(k1.len == k2.len && !memcmp(k1.data, k2.data, k1.len));
      uint32_t t1, t2;
      const void *v1, *v2;
      uint64_t l1, l2;
      nb__gguf_kv_raw(src, i, &t1, &v1, &l1);
      nb__gguf_kv_raw(dst, i, &t2, &v2, &l2);
      ck_assert_uint_eq(t1, t2);
      ck_assert_uint_eq(l1, l2);
      ck_assert_int_eq(memcmp(v1, v2, l1), 0);
    }
    ck_assert_int_eq(nb_gguf_n_tensors(dst), nb_gguf_n_tensors(src));
    for (int64_t i = 0; i < nb_gguf_n_tensors(src); i++) {
      const nb_tensor_info *a = nb_gguf_tensor(src, i),
                           *b = nb_gguf_tensor(dst, i);
      ck_assert(a->name.len == b->name.len &&
                !memcmp(a->name.data, b->name.data, a->name.len));
      ck_assert_uint_eq(a->type, b->type);
      ck_assert_uint_eq(a->n_dims, b->n_dims);
      for (int d = 0; d < NB_GGUF_MAX_DIMS; d++)
        ck_assert_int_eq(a->ne[d], b->ne[d]);
      ck_assert_uint_eq(a->nbytes, b->nbytes);
      /* Same layout as llama.cpp's own writer. */
      ck_assert_uint_eq(a->offset, b->offset);
      ck_assert_int_eq(memcmp(a->data, b->data, a->nbytes), 0);
    }
    /* Same layout as llama.cpp's writer: the very same bytes. */
    if (nb_gguf_n_tensors(src) > 0) {
      ck_assert_uint_eq(nb_gguf_file_size(dst), nb_gguf_file_size(src));
      size_t n1, n2;
      char *b1 = nbt_read_file(nbt_shared(files[f]), &n1);
      char *b2 = nbt_read_file(path, &n2);
      ck_assert_uint_eq(n1, n2);
      ck_assert_int_eq(memcmp(b1, b2, n1), 0);
      nb_free(b1);
      nb_free(b2);
    }
    nb_gguf_close(dst);
    nb_gguf_close(src);
  }
}
END_TEST

/* Mutations of llama.cpp's real file, aimed at its header, metadata and
 * tensor table (the first data_offset bytes; the weights themselves are not
 * interpreted by the reader). Seeded, 300 copies. */
START_TEST(test_random_mutations_llamacpp) {
  size_t n;
  char *orig = nbt_read_file(nbt_shared("llamacpp/stories260K-q4_0.gguf"), &n);
  ck_assert_ptr_nonnull(orig);
  nb_gguf *g0 = NULL;
  nb_err e;
  ck_assert_int_eq(nb_gguf_open_memory(&g0, orig, n, &e), 0);
  uint64_t meta = nb_gguf_data_offset(g0);
  nb_gguf_close(g0);
  uint64_t seed = 12345;
  int ok = 0;
  uint8_t *copy = nb_malloc(n);
  for (int it = 0; it < 300; it++) {
    memcpy(copy, orig, n);
    int muts = 1 + (int)(rnd(&seed) % 3);
    for (int m = 0; m < muts; m++) {
      size_t at = (size_t)(rnd(&seed) % meta);
      if (rnd(&seed) % 2 && at + 8 <= n) {
        uint64_t v = (uint64_t)1 << (rnd(&seed) % 64);
        memcpy(copy + at, &v, 8);
      } else {
        copy[at] = (uint8_t)rnd(&seed);
      }
    }
    nb_gguf *g = NULL;
    int rc = nb_gguf_open_memory(&g, copy, n, &e);
    if (rc == 0) {
      ok++;
      for (int64_t i = 0; i < nb_gguf_n_tensors(g); i++) {
        const nb_tensor_info *t = nb_gguf_tensor(g, i);
        (void)(volatile uint8_t)((const uint8_t *)t->data)[t->nbytes - 1];
      }
      nb_str st;
      for (uint64_t j = 0; nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens", j,
                                               &st, &e) == 0;
           j++)
        if (st.len) (void)(volatile char)st.data[st.len - 1];
      nb_gguf_close(g);
    } else {
      ck_assert_ptr_null(g);
      ck_assert_int_eq(e.code, rc);
    }
  }
  ck_assert_int_gt(ok, 0);
  nb_free(copy);
  nb_free(orig);
}
END_TEST

Suite *gguf_suite(void);
Suite *gguf_suite(void) {
  Suite *s = suite_create("gguf");
  TCase *tc = tcase_create("read");
  tcase_add_test(tc, test_llamacpp_f32);
  tcase_add_test(tc, test_llamacpp_quant);
  tcase_add_test(tc, test_llamacpp_vocab);
  tcase_add_test(tc, test_open_errors);
  tcase_add_test(tc, test_valid_small);
  tcase_add_test(tc, test_bad_header);
  tcase_add_test(tc, test_bad_strings);
  tcase_add_test(tc, test_bad_values);
  tcase_add_test(tc, test_bad_alignment);
  tcase_add_test(tc, test_bad_tensors);
  tcase_add_test(tc, test_scores_as_uint8);
  tcase_add_test(tc, test_truncated_every_prefix);
  tcase_add_test(tc, test_random_mutations);
  tcase_add_test(tc, test_random_mutations_llamacpp);
  suite_add_tcase(s, tc);
  TCase *tw = tcase_create("write");
  tcase_add_test(tw, test_write_roundtrip_values);
  tcase_add_test(tw, test_write_tensors);
  tcase_add_test(tw, test_write_failures);
  tcase_add_test(tw, test_write_copy_llamacpp);
  tcase_add_test(tw, test_write_streamed_same_bytes);
  tcase_add_test(tw, test_write_streamed_failure);
  tcase_add_test(tw, test_write_io_failure);
  suite_add_tcase(s, tw);
  return s;
}

int main(void) { return nbt_run_suite(gguf_suite()); }
