/*
 * test_tokenizer.c: the SentencePiece tokenizer against independent
 * references: llama.cpp's test vectors for the Llama 2 vocabulary (built
 * from the GGUF arrays and from llama2-tokenizer.model), run.c's prompt ids
 * and texts for tok512 (from tok512.model and from llama.cpp's GGUF), and
 * libsentencepiece's own DecodeIds for the detokenizer.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb_internal.h"
#include "testutil.h"
#include "tok/pb.h"
#include "tok/spm_model.h"
#include "tok/tok_internal.h"

/* ------------------------------------------------------------ helpers */

static nb_tokenizer *tok_spm(const char *rel) {
  nb_tokenizer *t = NULL;
  nb_err e = {0};
  int rc = nb_tokenizer_from_spm_file(&t, nbt_shared(rel), &e);
  ck_assert_msg(rc == 0, "%s: %s", rel, e.msg);
  return t;
}

static nb_tokenizer *tok_gguf(const char *rel, nb_gguf **g) {
  nb_tokenizer *t = NULL;
  nb_err e = {0};
  int rc = nb_gguf_open(g, nbt_shared(rel), &e);
  ck_assert_msg(rc == 0, "%s: %s", rel, e.msg);
  rc = nb_tokenizer_from_gguf(&t, *g, &e);
  ck_assert_msg(rc == 0, "%s: %s", rel, e.msg);
  return t;
}

static void encode(const nb_tokenizer *t, const char *s, size_t len,
                   bool bos, int32_t **ids, int32_t *n) {
  nb_err e = {0};
  int rc = nb_tokenize(t, s, len, bos, ids, n, &e);
  ck_assert_msg(rc == 0, "tokenize '%.*s': %s", (int)len, s, e.msg);
}

static char *decode(const nb_tokenizer *t, const int32_t *ids, int32_t n,
                    size_t *len) {
  char *s = NULL;
  nb_err e = {0};
  int rc = nb_detokenize(t, ids, n, &s, len, &e);
  ck_assert_msg(rc == 0, "detokenize: %s", e.msg);
  ck_assert_int_eq(s[*len], '\0'); /* NUL-terminated (<0x00> may be inside) */
  return s;
}

/* Streams ids through nb_detok; returns the concatenation (nb_free) and
 * checks that no chunk ends inside a UTF-8 character. */
static char *stream(const nb_tokenizer *t, const int32_t *ids, int32_t n,
                    size_t *len) {
  nb_detok *d;
  nb_err e = {0};
  ck_assert_int_eq(nb_detok_new(&d, t, &e), 0);
  size_t cap = 64, used = 0;
  char *out = nb_malloc(cap);
  for (int32_t i = 0; i <= n; i++) {
    nb_str s;
    int rc = i < n ? nb_detok_push(d, ids[i], &s, &e)
                   : nb_detok_flush(d, &s, &e);
    ck_assert_msg(rc == 0, "detok: %s", e.msg);
    /* a chunk is whole characters: it is valid UTF-8 on its own */
    size_t j = 0;
    while (j < s.len) {
      unsigned char c = (unsigned char)s.data[j];
      size_t k = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
      ck_assert_msg(j + k <= s.len, "chunk splits a character");
      for (size_t q = 1; q < k; q++)
        ck_assert_int_eq((unsigned char)s.data[j + q] & 0xc0, 0x80);
      j += k;
    }
    while (cap < used + s.len + 1) cap *= 2;
    out = nb_realloc(out, cap);
    memcpy(out + used, s.data, s.len);
    used += s.len;
  }
  out[used] = '\0';
  nb_detok_free(d);
  *len = used;
  return out;
}

/* SentencePiece's own DecodeIds over the same processor. */
static char *spm_decode(const nb_tokenizer *t, const int32_t *ids, int32_t n,
                        size_t *len) {
  char *s;
  nb_err e = {0};
  int rc = nb__spm_decode(t->spm, ids, (size_t)n, &s, len, &e);
  ck_assert_msg(rc == 0, "spm decode: %s", e.msg);
  return s;
}

/* decode == stream == SentencePiece; returns the decoded text. */
static char *decode_all_ways(const nb_tokenizer *t, const int32_t *ids,
                             int32_t n, size_t *len) {
  size_t l1, l2, l3;
  char *a = decode(t, ids, n, &l1);
  char *b = stream(t, ids, n, &l2);
  char *c = spm_decode(t, ids, n, &l3);
  ck_assert_msg(l1 == l3 && memcmp(a, c, l1) == 0,
                "nb_detokenize '%s' != sentencepiece '%s'", a, c);
  ck_assert_msg(l1 == l2 && memcmp(a, b, l1) == 0,
                "stream '%s' != one-shot '%s'", b, a);
  nb_free(b);
  nb_free(c);
  *len = l1;
  return a;
}

/* ------------------------------------------- llama.cpp test vectors */

#define N_VOCAB_TESTS 46
#define SEP "\n__ggml_vocab_test__\n"

static void check_vocab_vectors(const nb_tokenizer *t, const char *what) {
  size_t inp_len, out_len;
  char *inp = nbt_read_file(
      nbt_shared("golden/ggml-vocab-llama-spm.gguf.inp"), &inp_len);
  char *outp = nbt_read_file(
      nbt_shared("golden/ggml-vocab-llama-spm.gguf.out"), &out_len);
  ck_assert_ptr_nonnull(inp);
  ck_assert_ptr_nonnull(outp);
  char *p = inp, *line = outp;
  int n_tests = 0;
  while (p < inp + inp_len) {
    char *end = strstr(p, SEP);
    ck_assert_ptr_nonnull(end);
    char *nl = strchr(line, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = '\0';
    int32_t want[512];
    int nwant = 0;
    for (char *q = line;;) {
      char *e;
      long v = strtol(q, &e, 10);
      if (e == q) break;
      ck_assert_int_lt(nwant, 512);
      want[nwant++] = (int32_t)v;
      q = e;
    }
    int32_t *ids, n;
    size_t len = (size_t)(end - p);
    encode(t, p, len, false, &ids, &n);
    ck_assert_msg(n == nwant, "%s: test %d '%.*s': %d ids, want %d", what,
                  n_tests, (int)len, p, (int)n, nwant);
    for (int i = 0; i < n; i++)
      ck_assert_msg(ids[i] == want[i], "%s: test %d id %d: %d != %d", what,
                    n_tests, i, (int)ids[i], (int)want[i]);
    /* and back: the Llama vocabulary round-trips every test string */
    size_t dl;
    char *back = decode_all_ways(t, ids, n, &dl);
    ck_assert_msg(dl == len && memcmp(back, p, len) == 0,
                  "%s: test %d decodes to '%s'", what, n_tests, back);
    nb_free(back);
    nb_free(ids);
    n_tests++;
    p = end + strlen(SEP);
    line = nl + 1;
  }
  ck_assert_int_eq(n_tests, N_VOCAB_TESTS);
  nb_free(inp);
  nb_free(outp);
}

START_TEST(test_vocab_vectors_from_gguf_arrays) {
  nb_gguf *g;
  nb_tokenizer *t = tok_gguf("golden/ggml-vocab-llama-spm.gguf", &g);
  ck_assert_int_eq(nb_tokenizer_n_vocab(t), 32000);
  ck_assert_int_eq(nb_tokenizer_bos(t), 1);
  ck_assert_int_eq(nb_tokenizer_eos(t), 2);
  ck_assert(nb_tokenizer_add_bos(t));
  check_vocab_vectors(t, "gguf arrays");
  nb_tokenizer_free(t);
  nb_gguf_close(g);
}
END_TEST

START_TEST(test_vocab_vectors_from_spm_model) {
  nb_tokenizer *t = tok_spm("llama2-tokenizer.model");
  ck_assert_int_eq(nb_tokenizer_n_vocab(t), 32000);
  ck_assert_int_eq(nb_tokenizer_bos(t), 1);
  ck_assert_int_eq(nb_tokenizer_eos(t), 2);
  check_vocab_vectors(t, "llama2-tokenizer.model");
  /* its normalizer already keeps whitespace: loaded byte for byte */
  size_t flen;
  char *file = nbt_read_file(nbt_shared("llama2-tokenizer.model"), &flen);
  nb_str b = nb_tokenizer_spm_bytes(t);
  ck_assert_uint_eq(b.len, flen);
  ck_assert_int_eq(memcmp(b.data, file, flen), 0);
  nb_free(file);
  nb_tokenizer_free(t);
}
END_TEST

/* The processor built from GGUF arrays has the same pieces, scores and
 * types as the original model. */
START_TEST(test_built_matches_model) {
  nb_gguf *g;
  nb_tokenizer *a = tok_gguf("golden/ggml-vocab-llama-spm.gguf", &g);
  nb_tokenizer *b = tok_spm("llama2-tokenizer.model");
  ck_assert_int_eq(nb_tokenizer_n_vocab(a), nb_tokenizer_n_vocab(b));
  int counts[7] = {0};
  for (int32_t i = 0; i < nb_tokenizer_n_vocab(a); i++) {
    nb_str pa = nb_tokenizer_piece(a, i), pb = nb_tokenizer_piece(b, i);
    ck_assert_uint_eq(pa.len, pb.len);
    ck_assert_int_eq(memcmp(pa.data, pb.data, pa.len), 0);
    ck_assert(nb_tokenizer_score(a, i) == nb_tokenizer_score(b, i));
    ck_assert_int_eq(nb_tokenizer_token_type(a, i),
                     nb_tokenizer_token_type(b, i));
    counts[nb_tokenizer_token_type(a, i)]++;
  }
  ck_assert_int_eq(counts[NB_TOKEN_BYTE], 256);
  ck_assert_int_eq(counts[NB_TOKEN_CONTROL], 2);
  ck_assert_int_eq(counts[NB_TOKEN_UNKNOWN], 1);
  ck_assert_int_eq(nb_tokenizer_token_type(a, 32000), NB_EINVAL);
  /* the built model is Llama's: BPE, byte fallback, dummy prefix, no
   * whitespace collapsing */
  nb__spm_info info;
  nb_str bytes = nb_tokenizer_spm_bytes(a);
  ck_assert_int_eq(nb__spm_model_inspect((const uint8_t *)bytes.data,
                                         bytes.len, &info, NULL, 0, NULL),
                   0);
  ck_assert_int_eq(info.n_pieces, 32000);
  ck_assert(info.byte_fallback);
  ck_assert(info.add_dummy_prefix);
  ck_assert(!info.remove_extra_whitespaces);
  nb_tokenizer_free(a);
  nb_tokenizer_free(b);
  nb_gguf_close(g);
}
END_TEST

/* ------------------------------------------------------ tok512 / run.c */

static const char *golden_files[] = {
    "golden/greedy_once_upon_a_time_n64.json",
    "golden/greedy_once_upon_a_time_n256.json",
    "golden/greedy_lily_and_tom_went_to_the_park_n64.json",
    "golden/greedy_lily_and_tom_went_to_the_park_n256.json",
    "golden/greedy_the_little_dog_n64.json",
    "golden/greedy_the_little_dog_n256.json",
};

static int32_t *json_ids(cJSON *root, const char *key, int *n) {
  cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
  ck_assert_msg(cJSON_IsArray(a), "golden key %s", key);
  *n = cJSON_GetArraySize(a);
  int32_t *ids = nb_malloc(((size_t)*n + 1) * sizeof *ids);
  for (int i = 0; i < *n; i++)
    ids[i] = (int32_t)cJSON_GetArrayItem(a, i)->valuedouble;
  return ids;
}

static const char *json_str(cJSON *root, const char *key) {
  cJSON *s = cJSON_GetObjectItemCaseSensitive(root, key);
  ck_assert_msg(cJSON_IsString(s), "golden key %s", key);
  return s->valuestring;
}

static void check_tok512(const nb_tokenizer *t, const char *what) {
  ck_assert_int_eq(nb_tokenizer_n_vocab(t), 512);
  ck_assert_int_eq(nb_tokenizer_bos(t), 1);
  ck_assert_int_eq(nb_tokenizer_eos(t), 2);
  int32_t *ids, n;
  encode(t, "Once upon a time", 16, true, &ids, &n);
  const int32_t want[] = {1, 403, 407, 261, 378};
  ck_assert_int_eq(n, 5);
  for (int i = 0; i < 5; i++) ck_assert_int_eq(ids[i], want[i]);
  nb_free(ids);
  for (size_t f = 0; f < NB__ARRAY_LEN(golden_files); f++) {
    char *js = nbt_read_file(nbt_shared(golden_files[f]), NULL);
    cJSON *root = cJSON_Parse(js);
    ck_assert_ptr_nonnull(root);
    int np, ng;
    int32_t *pids = json_ids(root, "prompt_token_ids", &np);
    int32_t *gids = json_ids(root, "generated_token_ids", &ng);
    const char *prompt = json_str(root, "prompt");
    const char *gen = json_str(root, "generated_text");
    encode(t, prompt, strlen(prompt), true, &ids, &n);
    ck_assert_msg(n == np, "%s %s: %d prompt ids, want %d", what,
                  golden_files[f], (int)n, np);
    for (int i = 0; i < n; i++) ck_assert_int_eq(ids[i], pids[i]);
    nb_free(ids);
    /* decode(prompt ids + generated ids) = prompt + generated_text */
    int32_t *all = nb_malloc((size_t)(np + ng) * sizeof *all);
    memcpy(all, pids, (size_t)np * sizeof *all);
    memcpy(all + np, gids, (size_t)ng * sizeof *all);
    size_t len;
    char *text = decode_all_ways(t, all, np + ng, &len);
    size_t pl = strlen(prompt), gl = strlen(gen);
    ck_assert_uint_eq(len, pl + gl);
    ck_assert_int_eq(memcmp(text, prompt, pl), 0);
    ck_assert_int_eq(memcmp(text + pl, gen, gl), 0);
    nb_free(text);
    /* streaming: the chunks of the generated ids are generated_text */
    nb_detok *d;
    ck_assert_int_eq(nb_detok_new(&d, t, NULL), 0);
    nb_str s;
    for (int i = 0; i < np; i++)
      ck_assert_int_eq(nb_detok_push(d, pids[i], &s, NULL), 0);
    char *acc = nb_calloc(gl + 64, 1);
    size_t al = 0;
    for (int i = 0; i < ng; i++) {
      ck_assert_int_eq(nb_detok_push(d, gids[i], &s, NULL), 0);
      ck_assert_uint_le(al + s.len, gl);
      memcpy(acc + al, s.data, s.len);
      al += s.len;
    }
    ck_assert_uint_eq(al, gl);
    ck_assert_str_eq(acc, gen);
    nb_free(acc);
    nb_detok_free(d);
    nb_free(all);
    nb_free(pids);
    nb_free(gids);
    cJSON_Delete(root);
    nb_free(js);
  }
}

START_TEST(test_tok512_from_model) {
  nb_tokenizer *t = tok_spm("tok512.model");
  check_tok512(t, "tok512.model");
  /* tok512.model collapses whitespace; ours is patched not to */
  nb__spm_info info;
  nb_str b = nb_tokenizer_spm_bytes(t);
  ck_assert_int_eq(nb__spm_model_inspect((const uint8_t *)b.data, b.len,
                                         &info, NULL, 0, NULL), 0);
  ck_assert(!info.remove_extra_whitespaces);
  ck_assert(info.add_dummy_prefix);
  ck_assert_int_eq(info.n_pieces, 512);
  size_t flen;
  char *file = nbt_read_file(nbt_shared("tok512.model"), &flen);
  nb__spm_info orig;
  ck_assert_int_eq(nb__spm_model_inspect((const uint8_t *)file, flen, &orig,
                                         NULL, 0, NULL), 0);
  ck_assert(orig.remove_extra_whitespaces);
  nb_free(file);
  nb_tokenizer_free(t);
}
END_TEST

START_TEST(test_tok512_from_llamacpp_gguf) {
  nb_gguf *g;
  nb_tokenizer *t = tok_gguf("llamacpp/stories260K-f32.gguf", &g);
  check_tok512(t, "stories260K-f32.gguf");
  nb_tokenizer_free(t);
  nb_gguf_close(g);
}
END_TEST

/* Whitespace is never collapsed, for either vocabulary, whatever the
 * model file said. */
START_TEST(test_whitespace_kept) {
  nb_tokenizer *ts[2] = {tok_spm("tok512.model"),
                         tok_spm("llama2-tokenizer.model")};
  for (int k = 0; k < 2; k++) {
    int32_t *a, *b, na, nb;
    encode(ts[k], "a b", 3, false, &a, &na);
    encode(ts[k], "a  b", 4, false, &b, &nb);
    ck_assert_int_ne(na, nb);
    nb_free(a);
    nb_free(b);
    encode(ts[k], " a", 2, false, &a, &na);
    encode(ts[k], "a", 1, false, &b, &nb);
    ck_assert_int_gt(na, nb);
    nb_free(a);
    nb_free(b);
    nb_tokenizer_free(ts[k]);
  }
}
END_TEST

/* ------------------------------------------------------- round trips */

/* (A literal U+2581 in the input is the one thing that cannot round-trip:
 * SentencePiece's escaped whitespace IS U+2581, so it decodes as a space,
 * in llama.cpp too.) */
static const char *torture[] = {
    "",
    " ",
    "  ",
    "   leading spaces",
    "trailing spaces   ",
    "a  b   c    d",
    "\t\ttabs\tand\n\nnewlines\r\n",
    "Caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xc3\x85ngstr\xc3\xb6m "
    "\xc3\xb1",
    "\xe4\xb8\xad\xe6\x96\x87\xe6\xb5\x8b\xe8\xaf\x95 "
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
    "emoji \xf0\x9f\x99\x82\xf0\x9f\x9a\x80 family "
    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7"
    " flag \xf0\x9f\x87\xab\xf0\x9f\x87\xb7 skin \xf0\x9f\x91\x8d\xf0\x9f\x8f"
    "\xbd",
    /* characters surely not in either vocabulary: byte fallback */
    "\xf0\x90\x8c\xb0\xf0\x90\x8c\xb1 \xe1\x9a\xa0\xe1\x9a\xa2 "
    "\xf0\x9d\x84\x9e \xef\xbf\xbd \xf4\x8f\xbf\xbf",
    "mixed: \xce\xb1\xce\xb2\xce\xb3 \xd0\xb0\xd0\xb1\xd0\xb2 "
    "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a  \n ",
    "<s> </s> <unk> <0x41> are plain text here",
    " \n \t ",
    "1234567890 3.14159 -42 0x1F 2024-11-27 1,000,000",
    "tab\tafter  double\u00a0nbsp \xc2\xa0 and \xe3\x80\x80 ideographic",
};

START_TEST(test_roundtrip_torture) {
  nb_tokenizer *ts[2] = {tok_spm("tok512.model"),
                         tok_spm("llama2-tokenizer.model")};
  for (int k = 0; k < 2; k++) {
    for (size_t i = 0; i < NB__ARRAY_LEN(torture); i++) {
      const char *x = torture[i];
      size_t xl = strlen(x);
      for (int bos = 0; bos < 2; bos++) {
        int32_t *ids, n;
        encode(ts[k], x, xl, bos, &ids, &n);
        size_t len;
        char *back = decode_all_ways(ts[k], ids, n, &len);
        ck_assert_msg(len == xl && memcmp(back, x, xl) == 0,
                      "vocab %d: '%s' -> '%s'", k, x, back);
        nb_free(back);
        nb_free(ids);
      }
    }
    nb_tokenizer_free(ts[k]);
  }
}
END_TEST

/* The processor built from llama.cpp's GGUF arrays encodes every torture
 * text (digits, spaces, byte fallback...) exactly as llama2-tokenizer.model
 * does: the hand-built ModelProto misses nothing that matters. */
START_TEST(test_built_encodes_like_model) {
  nb_gguf *g;
  nb_tokenizer *a = tok_gguf("golden/ggml-vocab-llama-spm.gguf", &g);
  nb_tokenizer *b = tok_spm("llama2-tokenizer.model");
  for (size_t i = 0; i < NB__ARRAY_LEN(torture); i++) {
    int32_t *ia, *ib, na, nb;
    encode(a, torture[i], strlen(torture[i]), true, &ia, &na);
    encode(b, torture[i], strlen(torture[i]), true, &ib, &nb);
    ck_assert_int_eq(na, nb);
    ck_assert_int_eq(memcmp(ia, ib, (size_t)na * sizeof *ia), 0);
    nb_free(ia);
    nb_free(ib);
  }
  nb_tokenizer_free(a);
  nb_tokenizer_free(b);
  nb_gguf_close(g);
}
END_TEST

/* Random id sequences (byte pieces, control and unknown ids over-weighted):
 * our one-shot and streaming decoders equal SentencePiece's DecodeIds,
 * including U+FFFD for broken byte sequences and the leading-space rule. */
START_TEST(test_decode_random_ids_vs_sentencepiece) {
  nb_tokenizer *ts[2] = {tok_spm("tok512.model"),
                         tok_spm("llama2-tokenizer.model")};
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int k = 0; k < 2; k++) {
    int32_t nv = nb_tokenizer_n_vocab(ts[k]);
    for (int trial = 0; trial < 3000; trial++) {
      int32_t ids[24];
      int32_t n = (int32_t)(trial % 24);
      for (int32_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint32_t r = (uint32_t)(x >> 32);
        switch (r % 8) {
          case 0: case 1: case 2: case 3:
            ids[i] = 3 + (int32_t)((r >> 8) % 256); /* <0x00>..<0xFF> */
            break;
          case 4:
            ids[i] = (int32_t)((r >> 8) % 3); /* unk, bos, eos */
            break;
          default:
            ids[i] = (int32_t)((r >> 8) % (uint32_t)nv);
        }
        /* bias bytes toward UTF-8 lead/continuation values */
        if (r % 8 < 2) ids[i] = 3 + 0x80 + (int32_t)((r >> 8) % 0x78);
      }
      size_t len;
      nb_free(decode_all_ways(ts[k], ids, n, &len));
    }
    nb_tokenizer_free(ts[k]);
  }
}
END_TEST

/* Byte-fallback characters come out whole, only when complete. */
START_TEST(test_stream_holds_partial_characters) {
  nb_tokenizer *t = tok_spm("tok512.model");
  int32_t *ids, n;
  const char *emoji = "\xf0\x9f\x99\x82"; /* U+1F642, 4 byte pieces */
  encode(t, emoji, 4, false, &ids, &n);
  /* "▁" then <0xF0> <0x9F> <0x99> <0x82> */
  ck_assert_int_ge(n, 4);
  nb_detok *d;
  ck_assert_int_eq(nb_detok_new(&d, t, NULL), 0);
  nb_str s;
  size_t total = 0;
  for (int32_t i = 0; i < n; i++) {
    ck_assert_int_eq(nb_detok_push(d, ids[i], &s, NULL), 0);
    if (i < n - 1) ck_assert_uint_eq(s.len, 0);
    total += s.len;
  }
  ck_assert_uint_eq(s.len, 4);
  ck_assert_int_eq(memcmp(s.data, emoji, 4), 0);
  ck_assert_int_eq(nb_detok_flush(d, &s, NULL), 0);
  ck_assert_uint_eq(s.len, 0);
  /* an incomplete character at the end: flushed as one U+FFFD per byte */
  nb_detok_reset(d);
  ck_assert_int_eq(nb_detok_push(d, 3 + 0xe2, &s, NULL), 0);
  ck_assert_uint_eq(s.len, 0);
  ck_assert_int_eq(nb_detok_push(d, 3 + 0x82, &s, NULL), 0);
  ck_assert_uint_eq(s.len, 0);
  ck_assert_int_eq(nb_detok_flush(d, &s, NULL), 0);
  ck_assert_uint_eq(s.len, 6);
  ck_assert_int_eq(memcmp(s.data, "\xef\xbf\xbd\xef\xbf\xbd", 6), 0);
  /* a byte that can never start a character is replaced at once */
  ck_assert_int_eq(nb_detok_push(d, 3 + 0xc0, &s, NULL), 0);
  ck_assert_uint_eq(s.len, 3);
  /* BOS/EOS print nothing; bad ids are refused */
  ck_assert_int_eq(nb_detok_push(d, 1, &s, NULL), 0);
  ck_assert_uint_eq(s.len, 0);
  nb_err e;
  ck_assert_int_eq(nb_detok_push(d, 512, &s, &e), NB_EINVAL);
  ck_assert_int_eq(nb_detok_push(d, -1, &s, &e), NB_EINVAL);
  int32_t bad = 9999;
  char *txt;
  size_t len;
  ck_assert_int_eq(nb_detokenize(t, &bad, 1, &txt, &len, &e), NB_EINVAL);
  nb_detok_free(d);
  nb_free(ids);
  nb_tokenizer_free(t);
}
END_TEST

/* The first piece after BOS (or at the start) loses its leading space. */
START_TEST(test_leading_space_rule) {
  nb_tokenizer *t = tok_spm("tok512.model");
  int32_t ids[] = {1, 403, 407};
  size_t len;
  char *s = decode_all_ways(t, ids, 3, &len);
  ck_assert_str_eq(s, "Once upon");
  nb_free(s);
  s = decode_all_ways(t, ids + 1, 2, &len);
  ck_assert_str_eq(s, "Once upon");
  nb_free(s);
  nb_tokenizer_free(t);
}
END_TEST

/* ------------------------------------------------------ invalid input */

START_TEST(test_invalid_utf8) {
  nb_tokenizer *t = tok_spm("tok512.model");
  static const struct {
    const char *s;
    size_t len;
    size_t off;
  } cases[] = {
      {"\xc0\xaf", 2, 0},             /* overlong '/' */
      {"ab\xe0\x80\x80", 5, 2},       /* overlong NUL, 3 bytes */
      {"abc\xf0\x80\x80\x80", 7, 3},  /* overlong, 4 bytes */
      {"x\xed\xa0\x80y", 5, 1},       /* surrogate U+D800 */
      {"x\xed\xbf\xbf", 4, 1},        /* surrogate U+DFFF */
      {"\xf4\x90\x80\x80", 4, 0},     /* U+110000 */
      {"\xf5\x80\x80\x80", 4, 0},     /* lead byte above F4 */
      {"ok\xe2\x82", 4, 2},           /* truncated at the end */
      {"ok\xe2\x82z", 5, 2},          /* truncated in the middle */
      {"\xf0\x9f\x99", 3, 0},         /* truncated 4-byte */
      {"a\x80", 2, 1},                /* lone continuation */
      {"a\xff", 2, 1},                /* never valid */
      {"\xc3\xa9\xc3", 3, 2},         /* valid then truncated */
  };
  for (size_t i = 0; i < NB__ARRAY_LEN(cases); i++) {
    int32_t *ids = (int32_t *)1;
    int32_t n = 7;
    nb_err e = {0};
    int rc = nb_tokenize(t, cases[i].s, cases[i].len, true, &ids, &n, &e);
    ck_assert_msg(rc == NB_EUTF8, "case %zu: rc %d", i, rc);
    ck_assert_ptr_null(ids);
    ck_assert_int_eq(n, 0);
    char want[64];
    snprintf(want, sizeof want, "byte %zu ", cases[i].off);
    ck_assert_msg(strstr(e.msg, want) != NULL, "case %zu: '%s' lacks '%s'",
                  i, e.msg, want);
  }
  /* valid edge code points pass */
  const char *ok = "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
                   "\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
  int32_t *ids, n;
  encode(t, ok, strlen(ok), false, &ids, &n);
  nb_free(ids);
  /* empty text: just BOS, or nothing */
  encode(t, "", 0, true, &ids, &n);
  ck_assert_int_eq(n, 1);
  ck_assert_int_eq(ids[0], 1);
  nb_free(ids);
  encode(t, "", 0, false, &ids, &n);
  ck_assert_int_eq(n, 0);
  nb_free(ids);
  nb_tokenizer_free(t);
}
END_TEST

START_TEST(test_bad_model_files) {
  nb_tokenizer *t = (nb_tokenizer *)1;
  nb_err e;
  ck_assert_int_eq(nb_tokenizer_from_spm_file(&t, "/nonexistent/x.model", &e),
                   NB_ENOENT);
  ck_assert_ptr_null(t);
  const char *p = nbt_tmp("garbage.model");
  FILE *f = fopen(p, "wb");
  fputs("\x0a\xff\xff\xff\xff\x0f not a model", f);
  fclose(f);
  ck_assert_int_eq(nb_tokenizer_from_spm_file(&t, p, &e), NB_EMODEL);
  ck_assert_ptr_null(t);
  /* well-formed protobuf that SentencePiece refuses (no pieces at all is
   * caught by us; a model without an <unk> piece by SentencePiece) */
  f = fopen(p, "wb");
  fputs("\x0a\x05\x0a\x01" "a" "\x18\x01", f);
  fclose(f);
  ck_assert_int_eq(nb_tokenizer_from_spm_file(&t, p, &e), NB_ETOKENIZER);
  ck_assert_ptr_null(t);
}
END_TEST

/* ------------------------------------------- GGUF vocabularies in memory */

/* A minimal GGUF v3 writer for test files: keys only, no tensors. */
typedef struct gbuf {
  uint8_t *p;
  size_t len, cap;
  uint64_t n_kv;
} gbuf;

static void g_raw(gbuf *b, const void *d, size_t n) {
  while (b->cap < b->len + n) {
    b->cap = b->cap ? 2 * b->cap : 1024;
    b->p = nb_realloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
}
static void g_u32(gbuf *b, uint32_t v) { g_raw(b, &v, 4); }
static void g_u64(gbuf *b, uint64_t v) { g_raw(b, &v, 8); }
static void g_str(gbuf *b, const char *s, size_t n) {
  g_u64(b, n);
  g_raw(b, s, n);
}
static void g_key(gbuf *b, const char *k, uint32_t type) {
  g_str(b, k, strlen(k));
  g_u32(b, type);
  b->n_kv++;
}
static void g_kv_str(gbuf *b, const char *k, const char *v) {
  g_key(b, k, NB_GGUF_STRING);
  g_str(b, v, strlen(v));
}
static void g_kv_u32(gbuf *b, const char *k, uint32_t v) {
  g_key(b, k, NB_GGUF_UINT32);
  g_u32(b, v);
}
static void g_kv_arr(gbuf *b, const char *k, uint32_t elem, const void *d,
                     uint64_t n, size_t esize) {
  g_key(b, k, NB_GGUF_ARRAY);
  g_u32(b, elem);
  g_u64(b, n);
  g_raw(b, d, n * esize);
}
/* Header + kv bytes, padded to 32. Owned by the caller. */
static uint8_t *g_finish(gbuf *b, size_t *len) {
  gbuf out = {0};
  g_raw(&out, "GGUF", 4);
  g_u32(&out, 3);
  g_u64(&out, 0);
  g_u64(&out, b->n_kv);
  g_raw(&out, b->p, b->len);
  while (out.len % 32) g_raw(&out, "", 1);
  nb_free(b->p);
  *len = out.len;
  return out.p;
}

/* The tok512 vocabulary as arrays (from llama.cpp's GGUF). */
typedef struct vocab {
  int32_t n;
  nb_str *tokens;
  float *scores;
  int32_t *types;
} vocab;

static vocab load_vocab(void) {
  nb_gguf *g;
  nb_err e;
  ck_assert_int_eq(
      nb_gguf_open(&g, nbt_shared("llamacpp/stories260K-f32.gguf"), &e), 0);
  vocab v;
  int64_t ki = nb_gguf_find_key(g, "tokenizer.ggml.tokens");
  ck_assert_int_ge(ki, 0);
  v.n = (int32_t)nb_gguf_arr_len(g, ki);
  v.tokens = nb_malloc((size_t)v.n * sizeof *v.tokens);
  v.scores = nb_malloc((size_t)v.n * sizeof *v.scores);
  v.types = nb_malloc((size_t)v.n * sizeof *v.types);
  for (int32_t i = 0; i < v.n; i++) {
    nb_str s;
    ck_assert_int_eq(
        nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)i, &s, &e),
        0);
    char *c = nb_malloc(s.len + 1);
    memcpy(c, s.data, s.len);
    v.tokens[i] = (nb_str){c, s.len};
  }
  const void *d;
  uint64_t m;
  ck_assert_int_eq(nb_gguf_get_arr(g, "tokenizer.ggml.scores",
                                   NB_GGUF_FLOAT32, &d, &m, &e), 0);
  memcpy(v.scores, d, (size_t)v.n * 4);
  ck_assert_int_eq(nb_gguf_get_arr(g, "tokenizer.ggml.token_type",
                                   NB_GGUF_INT32, &d, &m, &e), 0);
  memcpy(v.types, d, (size_t)v.n * 4);
  nb_gguf_close(g);
  return v;
}

static void free_vocab(vocab *v) {
  for (int32_t i = 0; i < v->n; i++) nb_free((void *)v->tokens[i].data);
  nb_free(v->tokens);
  nb_free(v->scores);
  nb_free(v->types);
}

static void g_tokens(gbuf *b, const vocab *v, int32_t n) {
  g_key(b, "tokenizer.ggml.tokens", NB_GGUF_ARRAY);
  g_u32(b, NB_GGUF_STRING);
  g_u64(b, (uint64_t)n);
  for (int32_t i = 0; i < n; i++) g_str(b, v->tokens[i].data, v->tokens[i].len);
}

enum variant {
  V_OK,
  V_SCORES_U8,
  V_SCORES_SHORT,
  V_TYPES_LONG,
  V_TYPES_F32,
  V_TYPE_BAD,
  V_MODEL_GPT2,
  V_BOS_RANGE,
  V_TOKENS_INT,
  V_NO_TOKENS,
  V_EMBEDDED,
  V_EMBEDDED_I8
};

/* Builds a variant of the tok512 vocabulary GGUF and returns the code
 * nb_tokenizer_from_gguf gives (and the tokenizer when it succeeds). */
static int try_variant(const vocab *v, enum variant var, nb_tokenizer **t,
                       nb_err *e) {
  gbuf b = {0};
  g_kv_str(&b, "general.architecture", "llama");
  g_kv_str(&b, "tokenizer.ggml.model", var == V_MODEL_GPT2 ? "gpt2" : "llama");
  if (var == V_TOKENS_INT)
    g_kv_arr(&b, "tokenizer.ggml.tokens", NB_GGUF_INT32, v->types,
             (uint64_t)v->n, 4);
  else if (var != V_NO_TOKENS)
    g_tokens(&b, v, v->n);
  if (var == V_SCORES_U8) {
    uint8_t *u = nb_calloc((size_t)v->n, 1);
    g_kv_arr(&b, "tokenizer.ggml.scores", NB_GGUF_UINT8, u, (uint64_t)v->n, 1);
    nb_free(u);
  } else {
    g_kv_arr(&b, "tokenizer.ggml.scores", NB_GGUF_FLOAT32, v->scores,
             (uint64_t)(v->n - (var == V_SCORES_SHORT)), 4);
  }
  if (var == V_TYPES_F32) {
    g_kv_arr(&b, "tokenizer.ggml.token_type", NB_GGUF_FLOAT32, v->scores,
             (uint64_t)v->n, 4);
  } else {
    int32_t *ty = nb_malloc((size_t)(v->n + 1) * 4);
    memcpy(ty, v->types, (size_t)v->n * 4);
    ty[v->n] = NB_TOKEN_NORMAL; /* the extra one of V_TYPES_LONG */
    if (var == V_TYPE_BAD) ty[7] = 9;
    g_kv_arr(&b, "tokenizer.ggml.token_type", NB_GGUF_INT32, ty,
             (uint64_t)(v->n + (var == V_TYPES_LONG)), 4);
    nb_free(ty);
  }
  g_kv_u32(&b, "tokenizer.ggml.bos_token_id",
           var == V_BOS_RANGE ? (uint32_t)v->n : 1);
  g_kv_u32(&b, "tokenizer.ggml.eos_token_id", 2);
  if (var == V_EMBEDDED || var == V_EMBEDDED_I8) {
    size_t ml;
    char *m = nbt_read_file(nbt_shared("tok512.model"), &ml);
    g_kv_arr(&b, "nibble.tokenizer.spm_model",
             var == V_EMBEDDED ? NB_GGUF_UINT8 : NB_GGUF_INT8, m,
             (uint64_t)ml, 1);
    nb_free(m);
  }
  size_t len;
  uint8_t *file = g_finish(&b, &len);
  nb_gguf *g;
  int rc = nb_gguf_open_memory(&g, file, len, e);
  ck_assert_msg(rc == 0, "test GGUF: %s", e->msg);
  *t = (nb_tokenizer *)1;
  rc = nb_tokenizer_from_gguf(t, g, e);
  if (rc) ck_assert_ptr_null(*t);
  nb_gguf_close(g); /* the tokenizer keeps nothing borrowed from the file */
  nb_free(file);
  return rc;
}

START_TEST(test_gguf_vocab_errors) {
  vocab v = load_vocab();
  ck_assert_int_eq(v.n, 512);
  nb_tokenizer *t;
  nb_err e;
  static const struct {
    enum variant var;
    int code;
  } cases[] = {
      {V_SCORES_U8, NB_ETYPE},      {V_SCORES_SHORT, NB_EMODEL},
      {V_TYPES_LONG, NB_EMODEL},   {V_TYPES_F32, NB_ETYPE},
      {V_TYPE_BAD, NB_EMODEL},      {V_MODEL_GPT2, NB_EUNSUPPORTED},
      {V_BOS_RANGE, NB_EMODEL},     {V_TOKENS_INT, NB_ETYPE},
      {V_NO_TOKENS, NB_ENOTFOUND},  {V_EMBEDDED_I8, NB_ETYPE},
  };
  for (size_t i = 0; i < NB__ARRAY_LEN(cases); i++) {
    int rc = try_variant(&v, cases[i].var, &t, &e);
    ck_assert_msg(rc == cases[i].code, "variant %d: %s (%s), want %s",
                  (int)cases[i].var, nb_errname(rc), e.msg,
                  nb_errname(cases[i].code));
  }
  /* the valid ones: built from arrays, and embedded .model bytes */
  for (int var = 0; var < 2; var++) {
    int rc = try_variant(&v, var ? V_EMBEDDED : V_OK, &t, &e);
    ck_assert_msg(rc == 0, "%s", e.msg);
    int32_t *ids, n;
    encode(t, "Once upon a time", 16, true, &ids, &n);
    const int32_t want[] = {1, 403, 407, 261, 378};
    ck_assert_int_eq(n, 5);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(ids[i], want[i]);
    nb_free(ids);
    if (var) {
      /* the embedded bytes, patched like the .model file */
      nb_tokenizer *m = tok_spm("tok512.model");
      nb_str a = nb_tokenizer_spm_bytes(t), b = nb_tokenizer_spm_bytes(m);
      ck_assert_uint_eq(a.len, b.len);
      ck_assert_int_eq(memcmp(a.data, b.data, a.len), 0);
      nb_tokenizer_free(m);
    }
    nb_tokenizer_free(t);
  }
  free_vocab(&v);
}
END_TEST

/* The patch keeps every field but remove_extra_whitespaces, merges several
 * normalizer occurrences, and adds one when there is none. */
START_TEST(test_normalizer_patch) {
  /* pieces: "<unk>" unknown; normalizer twice (field 4 true in both);
   * trainer_spec with unk_surface "?" */
  nb__pbw w = {0}, sub = {0};
  nb__pbw_bytes(&sub, 1, "<unk>", 5);
  nb__pbw_f32(&sub, 2, 0.0f);
  nb__pbw_varint(&sub, 3, 2);
  nb__pbw_bytes(&w, 1, sub.buf, sub.len);
  size_t piece_end = w.len;
  sub.len = 0;
  nb__pbw_bytes(&sub, 1, "identity", 8);
  nb__pbw_varint(&sub, 4, 1);
  nb__pbw_bytes(&w, 3, sub.buf, sub.len);
  sub.len = 0;
  nb__pbw_bytes(&sub, 44, "?", 1);
  nb__pbw_bytes(&w, 2, sub.buf, sub.len);
  sub.len = 0;
  nb__pbw_varint(&sub, 3, 0);
  nb__pbw_varint(&sub, 4, 1);
  nb__pbw_bytes(&w, 3, sub.buf, sub.len);
  ck_assert(!w.oom && !sub.oom);
  uint8_t *out;
  size_t out_len;
  ck_assert_int_eq(nb__spm_model_patch_ws(w.buf, w.len, &out, &out_len, NULL),
                   0);
  nb__spm_info info;
  ck_assert_int_eq(nb__spm_model_inspect(out, out_len, &info, NULL, 0, NULL),
                   0);
  ck_assert(!info.remove_extra_whitespaces);
  ck_assert(!info.add_dummy_prefix); /* from the second occurrence */
  ck_assert_uint_eq(info.unk_surface.len, 1);
  ck_assert_int_eq(info.n_pieces, 1);
  int n_ns = 0;
  nb__pbr r = nb__pbr_init(out, out_len);
  nb__pbf f;
  while (nb__pbr_next(&r, &f) == 1) n_ns += f.field == 3;
  ck_assert_int_eq(n_ns, 1);
  nb_free(out);
  /* no normalizer at all: one is added */
  ck_assert_int_eq(nb__spm_model_patch_ws(w.buf, piece_end, &out, &out_len, NULL), 0);
  ck_assert_int_eq(nb__spm_model_inspect(out, out_len, &info, NULL, 0, NULL),
                   0);
  ck_assert(!info.remove_extra_whitespaces);
  ck_assert(info.add_dummy_prefix);
  nb_free(out);
  /* truncated input is refused */
  nb_err e;
  ck_assert_int_eq(nb__spm_model_patch_ws(w.buf, w.len - 1, &out, &out_len,
                                          &e), NB_EMODEL);
  nb__pbw_free(&w);
  nb__pbw_free(&sub);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tokenizer");
  TCase *tc = tcase_create("tokenizer");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_vocab_vectors_from_gguf_arrays);
  tcase_add_test(tc, test_vocab_vectors_from_spm_model);
  tcase_add_test(tc, test_built_matches_model);
  tcase_add_test(tc, test_tok512_from_model);
  tcase_add_test(tc, test_tok512_from_llamacpp_gguf);
  tcase_add_test(tc, test_whitespace_kept);
  tcase_add_test(tc, test_roundtrip_torture);
  tcase_add_test(tc, test_built_encodes_like_model);
  tcase_add_test(tc, test_decode_random_ids_vs_sentencepiece);
  tcase_add_test(tc, test_stream_holds_partial_characters);
  tcase_add_test(tc, test_leading_space_rule);
  tcase_add_test(tc, test_invalid_utf8);
  tcase_add_test(tc, test_bad_model_files);
  tcase_add_test(tc, test_gguf_vocab_errors);
  tcase_add_test(tc, test_normalizer_patch);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
