/* cmd_info.c: `nibble info FILE [--ctx N] [--act f16|f32|q8] [--cpu]`:
 * validates FILE as a model (GGUF first, then nb_model_load, which checks
 * every tensor the architecture needs and the hyper-parameters) and
 * describes it: architecture, hyper-parameters, tokenizer, tensor table,
 * parameters, file size and a RAM estimate for a context. Exit 0 only if the
 * file is a model the executor can run; otherwise 1 with the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int usage(FILE *f) {
  fprintf(f,
          "usage: nibble info FILE.gguf [--ctx N] [--act f16|f32|q8] [--cpu]\n"
          "       nibble info --cpu\n\n"
          "Validates a GGUF file as a runnable model and describes it.\n"
          "  --ctx N   context length for the RAM estimate (default: the "
          "model's)\n"
          "  --act A   activation precision for the estimate (default f16)\n"
          "  --cpu     also print the CPU features and the best kernel set\n");
  return f == stdout ? 0 : 2;
}

static int nb__cli_vocab_mismatch(nb_err *e, int32_t tok, int32_t model) {
  e->code = NB_EMODEL;
  snprintf(e->msg, sizeof e->msg,
           "the tokenizer has %d tokens but the model's vocabulary is %d", tok,
           model);
  return NB_EMODEL;
}

/* When the tokenizer comes from an embedded SentencePiece model, the
 * tokenizer.ggml.* arrays (which llama.cpp uses) must describe the same
 * vocabulary, or the two runtimes would tokenize the file differently. When
 * the tokenizer was built from the arrays this holds trivially. */
static int check_vocab_arrays(const nb_gguf *g, const nb_tokenizer *t,
                              nb_err *e) {
  int32_t n = nb_tokenizer_n_vocab(t);
  const void *sc = NULL, *ty = NULL;
  uint64_t ns = 0, nt = 0;
  bool has_tokens = nb_gguf_find_key(g, "tokenizer.ggml.tokens") >= 0;
  if (nb_gguf_find_key(g, "tokenizer.ggml.scores") >= 0 &&
      nb_gguf_get_arr(g, "tokenizer.ggml.scores", NB_GGUF_FLOAT32, &sc, &ns,
                      e) < 0)
    return e->code;
  if (nb_gguf_find_key(g, "tokenizer.ggml.token_type") >= 0 &&
      nb_gguf_get_arr(g, "tokenizer.ggml.token_type", NB_GGUF_INT32, &ty, &nt,
                      e) < 0)
    return e->code;
  if ((sc && ns != (uint64_t)n) || (ty && nt != (uint64_t)n)) {
    e->code = NB_EMODEL;
    snprintf(e->msg, sizeof e->msg,
             "tokenizer.ggml.scores/token_type have %llu/%llu entries, the "
             "tokenizer has %d tokens",
             (unsigned long long)ns, (unsigned long long)nt, n);
    return NB_EMODEL;
  }
  for (int32_t i = 0; i < n; i++) {
    nb_str a = nb_tokenizer_piece(t, i), b;
    if (has_tokens) {
      if (nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)i, &b,
                              e) < 0)
        return e->code;
      if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
        e->code = NB_EMODEL;
        snprintf(e->msg, sizeof e->msg,
                 "tokenizer.ggml.tokens[%d] '%.*s' differs from the "
                 "tokenizer's piece '%.*s'",
                 i, (int)(b.len > 64 ? 64 : b.len), b.data,
                 (int)(a.len > 64 ? 64 : a.len), a.data);
        return NB_EMODEL;
      }
    }
    float fs = 0.0f;
    int32_t it = 0;
    if (sc) memcpy(&fs, (const char *)sc + 4 * (size_t)i, 4);
    if (ty) memcpy(&it, (const char *)ty + 4 * (size_t)i, 4);
    if ((sc && fs != nb_tokenizer_score(t, i)) ||
        (ty && it != nb_tokenizer_token_type(t, i))) {
      e->code = NB_EMODEL;
      snprintf(e->msg, sizeof e->msg,
               "token %d: score/type in tokenizer.ggml.scores/token_type "
               "differ from the tokenizer's",
               i);
      return NB_EMODEL;
    }
  }
  return 0;
}

static void human(char *buf, size_t cap, uint64_t b) {
  if (b >= (1ull << 30))
    snprintf(buf, cap, "%.2f GiB", (double)b / (double)(1ull << 30));
  else if (b >= (1ull << 20))
    snprintf(buf, cap, "%.2f MiB", (double)b / (double)(1ull << 20));
  else if (b >= 1024)
    snprintf(buf, cap, "%.1f KiB", (double)b / 1024.0);
  else
    snprintf(buf, cap, "%llu B", (unsigned long long)b);
}

/* Prints a string value, or `def` when absent / not a string. */
static void print_str(const nb_gguf *g, const char *key, const char *def) {
  nb_str s;
  if (nb_gguf_get_str(g, key, &s, NULL) == 0)
    printf("%.*s", (int)(s.len > 200 ? 200 : s.len), s.data);
  else
    printf("%s", def);
}

static void print_int(const nb_gguf *g, const char *key) {
  int64_t v;
  if (nb_gguf_get_int(g, key, &v, NULL) == 0) printf("%lld", (long long)v);
  else printf("-");
}

static void print_tokenizer(const nb_gguf *g) {
  printf("tokenizer:     ");
  print_str(g, "tokenizer.ggml.model", "(none)");
  int64_t ti = nb_gguf_find_key(g, "tokenizer.ggml.tokens");
  printf(", %llu tokens, bos ",
         (unsigned long long)(ti >= 0 ? nb_gguf_arr_len(g, ti) : 0));
  print_int(g, "tokenizer.ggml.bos_token_id");
  printf(", eos ");
  print_int(g, "tokenizer.ggml.eos_token_id");
  printf(", unk ");
  print_int(g, "tokenizer.ggml.unknown_token_id");
  bool b;
  printf(", add_bos %s",
         nb_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, NULL) == 0
             ? (b ? "true" : "false")
             : "(default)");
  int64_t si = nb_gguf_find_key(g, "nibble.tokenizer.spm_model");
  if (si >= 0)
    printf(", embedded SentencePiece model (%llu bytes)\n",
           (unsigned long long)nb_gguf_arr_len(g, si));
  else
    printf(", no embedded SentencePiece model (built from the arrays)\n");
}

static void print_tensors(const nb_gguf *g, uint64_t *params,
                          uint64_t *bytes) {
  printf("tensors (%lld):\n", (long long)nb_gguf_n_tensors(g));
  printf("  %-32s %-22s %-6s %12s\n", "name", "shape", "type", "bytes");
  *params = *bytes = 0;
  for (int64_t i = 0; i < nb_gguf_n_tensors(g); i++) {
    const nb_tensor_info *t = nb_gguf_tensor(g, i);
    char shape[64];
    int n = 0;
    uint64_t count = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
      n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%lld",
                    d ? " x " : "", (long long)t->ne[d]);
      if (n >= (int)sizeof shape) n = (int)sizeof shape - 1;
      count *= (uint64_t)t->ne[d];
    }
    printf("  %-32.*s %-22s %-6s %12llu\n",
           (int)(t->name.len > 64 ? 64 : t->name.len), t->name.data, shape,
           nb_type_name(t->type), (unsigned long long)t->nbytes);
    *params += count;
    *bytes += t->nbytes;
  }
}

static void print_cpu(void) {
  printf("cpu features:  %s\n", nb_cpu_features());
  printf("kernels:       %s (best for this CPU)\n", nb_kernels_best());
  printf("physical cores: %d\n", nb_cpu_physical_cores());
}

int nb_cli_info(int argc, char **argv) {
  const char *path = NULL;
  long ctx = 0;
  int act = NB_ACT_F16;
  bool cpu = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout);
    if ((!strcmp(a, "--ctx") || !strcmp(a, "-c")) && i + 1 < argc) {
      char *end;
      ctx = strtol(argv[++i], &end, 10);
      if (*end != '\0' || ctx <= 0 || ctx > (1l << 24)) {
        fprintf(stderr, "nibble info: --ctx must be a positive integer\n");
        return 2;
      }
    } else if (!strcmp(a, "--act") && i + 1 < argc) {
      act = nb_act_from_name(argv[++i]);
      if (act < 0) {
        fprintf(stderr, "nibble info: --act must be f16, f32 or q8\n");
        return 2;
      }
    } else if (!strcmp(a, "--cpu")) {
      cpu = true;
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "nibble info: unknown or incomplete option %s\n", a);
      return usage(stderr);
    } else if (path == NULL) {
      path = a;
    } else {
      fprintf(stderr, "nibble info: unexpected argument %s\n", a);
      return usage(stderr);
    }
  }
  if (path == NULL) {
    if (cpu) {
      print_cpu();
      return 0;
    }
    return usage(stderr);
  }

  nb_err err = {0, ""};
  nb_gguf *g = NULL;
  if (nb_gguf_open(&g, path, &err) < 0) return nb_cli_fail("info", &err);
  nb_err merr = {0, ""};
  nb_model *m = NULL;
  int mrc = nb_model_load(&m, path, &merr);
  /* A runnable model also needs a usable tokenizer (embedded SentencePiece
   * model or the vocabulary arrays). */
  nb_tokenizer *tok = NULL;
  if (mrc == 0) {
    mrc = nb_tokenizer_from_gguf(&tok, nb_model_gguf(m), &merr);
    if (mrc == 0 &&
        nb_tokenizer_n_vocab(tok) != nb_model_hparams(m)->n_vocab)
      mrc = nb__cli_vocab_mismatch(&merr, nb_tokenizer_n_vocab(tok),
                                   nb_model_hparams(m)->n_vocab);
    if (mrc == 0) mrc = check_vocab_arrays(nb_model_gguf(m), tok, &merr);
    nb_tokenizer_free(tok);
  }
  char hb[32];
  human(hb, sizeof hb, nb_gguf_file_size(g));
  printf("file:          %s (%llu bytes, %s), GGUF v%u, alignment %llu, %lld "
         "keys, %lld tensors\n",
         path, (unsigned long long)nb_gguf_file_size(g), hb,
         nb_gguf_version(g), (unsigned long long)nb_gguf_alignment(g),
         (long long)nb_gguf_n_kv(g), (long long)nb_gguf_n_tensors(g));
  printf("architecture:  ");
  print_str(g, "general.architecture", "(missing)");
  printf(", name ");
  print_str(g, "general.name", "-");
  printf(", file type ");
  print_int(g, "general.file_type");
  printf("\n");
  if (m) {
    const nb_hparams *hp = nb_model_hparams(m);
    printf("hparams:       vocab %d, dim %d, layers %d, heads %d, kv heads "
           "%d, head dim %d, ffn %d\n",
           hp->n_vocab, hp->dim, hp->n_layers, hp->n_heads, hp->n_kv_heads,
           hp->head_dim, hp->ffn_dim);
    printf("               context %d, rope dim %d, rope base %g, rms eps "
           "%g, output %s\n",
           hp->n_ctx_train, hp->rope_dim, (double)hp->rope_base,
           (double)hp->norm_eps,
           hp->tied_output ? "tied to token_embd" : "output.weight");
  }
  print_tokenizer(g);
  uint64_t params, tbytes;
  print_tensors(g, &params, &tbytes);
  human(hb, sizeof hb, tbytes);
  printf("total:         %llu parameters (%.3f M), %llu bytes of tensors "
         "(%s), %.2f bits/weight\n",
         (unsigned long long)params, (double)params / 1e6,
         (unsigned long long)tbytes, hb,
         params ? 8.0 * (double)tbytes / (double)params : 0.0);
  if (m) {
    const nb_hparams *hp = nb_model_hparams(m);
    int32_t n_ctx = ctx > 0 ? (int32_t)ctx : hp->n_ctx_train;
    uint64_t state = nb_model_state_bytes(m, n_ctx, act);
    uint64_t total = nb_gguf_file_size(g) + state;
    char s1[32], s2[32], s3[32];
    human(s1, sizeof s1, nb_gguf_file_size(g));
    human(s2, sizeof s2, state);
    human(s3, sizeof s3, total);
    printf("RAM estimate:  context %d, act %s: mapped file %s + KV cache "
           "and activations %s = %s\n",
           n_ctx, nb_act_name(act), s1, s2, s3);
    if (n_ctx > hp->n_ctx_train)
      printf("               note: --ctx %d exceeds the trained context %d\n",
             n_ctx, hp->n_ctx_train);
  }
  if (cpu) print_cpu();
  nb_gguf_close(g);
  if (mrc < 0) {
    nb_model_free(m);
    return nb_cli_fail("info", &merr);
  }
  printf("valid:         yes (the executor can run this model)\n");
  nb_model_free(m);
  return 0;
}
