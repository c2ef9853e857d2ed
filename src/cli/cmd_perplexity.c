/*
 * cmd_perplexity.c: `nibble perplexity -m FILE -f TEXT -c CTX`: perplexity
 * over non-overlapping chunks of CTX tokens, scored on the second half of
 * each chunk, exactly as llama.cpp's llama-perplexity does (ppl.h), so the
 * numbers compare with golden/quality-llamacpp.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gen.h"
#include "ppl.h"

static const char usage_text[] =
    "usage: nibble perplexity -m FILE -f TEXT [-c CTX] [--act f16|f32|q8]\n"
    "  -m FILE          model (GGUF); default models/stories260K.gguf\n"
    "  -f FILE          text to score (tokenized whole, with BOS)\n"
    "  -c N             chunk size in tokens (default 128)\n"
    "  -t N             threads (default: physical cores)\n"
    "  --act MODE       activation precision (default f16)\n"
    "  --kernels NAME   kernel set (default: best for this CPU)\n";

static void progress(void *ud, int32_t chunk, double ppl) {
  (void)ud;
  fprintf(stderr, "[%d]%.4f,", chunk, ppl);
  fflush(stderr);
}

int nb_cli_perplexity(int argc, char **argv) {
  const char *model = "models/stories260K.gguf", *file = NULL;
  int32_t n_chunk = 128;
  nb_ctx_params cp;
  nb_ctx_params_default(&cp);
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
      fputs(usage_text, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      nb_cli_failf("perplexity", "%s: unknown option or missing value", f);
      return 2;
    }
    const char *v = argv[++i];
    char *end = NULL;
    long n = 0;
    if (!strcmp(f, "-m")) model = v;
    else if (!strcmp(f, "-f")) file = v;
    else if (!strcmp(f, "-c") || !strcmp(f, "-t")) {
      errno = 0;
      n = strtol(v, &end, 10);
      if (errno || *end || end == v || n < (f[1] == 'c' ? 4 : 0) || n > (1 << 20)) {
        nb_cli_failf("perplexity", "bad value for %s: '%s'", f, v);
        return 2;
      }
      if (f[1] == 'c') n_chunk = (int32_t)n;
      else cp.n_threads = (int32_t)n;
    } else if (!strcmp(f, "--act")) {
      if ((cp.act = nb_act_from_name(v)) < 0) {
        nb_cli_failf("perplexity", "bad value for --act: '%s'", v);
        return 2;
      }
    } else if (!strcmp(f, "--kernels")) cp.kernels = v;
    else {
      nb_cli_failf("perplexity", "unknown option %s", f);
      return 2;
    }
  }
  if (file == NULL) {
    nb_cli_failf("perplexity", "-f TEXT is required (see nibble perplexity -h)");
    return 2;
  }
  cp.n_ctx = n_chunk;

  int ret = 1, rc;
  nb_err e = {0};
  nb_model *m = NULL;
  nb_tokenizer *tok = NULL;
  nb_ctx *c = NULL;
  int32_t *ids = NULL, n_ids = 0;
  char *text = NULL;
  FILE *fp = fopen(file, "rb");
  if (fp == NULL) {
    nb_cli_failf("perplexity", "cannot open %s: %s", file, strerror(errno));
    goto done;
  }
  fseek(fp, 0, SEEK_END);
  long len = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  text = len >= 0 ? nb_malloc((size_t)len + 1) : NULL;
  if (text == NULL || fread(text, 1, (size_t)len, fp) != (size_t)len) {
    fclose(fp);
    nb_cli_failf("perplexity", "cannot read %s", file);
    goto done;
  }
  fclose(fp);
  text[len] = '\0';
  if ((rc = nb_model_load(&m, model, &e)) < 0 ||
      (rc = nb_tokenizer_from_gguf(&tok, nb_model_gguf(m), &e)) < 0 ||
      (rc = nb_tokenize(tok, text, (size_t)len, true, &ids, &n_ids, &e)) < 0 ||
      (rc = nb_ctx_new(&c, m, &cp, &e)) < 0) {
    nb_cli_fail("perplexity", &e);
    goto done;
  }
  fprintf(stderr, "perplexity: %d tokens, %d chunks of %d, act %s, kernels %s\n",
          n_ids, n_ids / n_chunk, n_chunk, nb_act_name(cp.act), nb_ctx_kernels(c));
  nb_ppl_result r;
  double t0 = nb_gen_now();
  rc = nb_ppl_run(c, nb_model_hparams(m)->n_vocab, nb_tokenizer_bos(tok), ids,
                  n_ids, n_chunk, progress, NULL, &r, &e);
  fputc('\n', stderr);
  if (rc < 0) {
    nb_cli_fail("perplexity", &e);
    goto done;
  }
  printf("Final estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_err);
  fprintf(stderr, "%d chunks, %lld scored tokens, %.2f s\n", r.n_chunks,
          (long long)r.n_scored, nb_gen_now() - t0);
  ret = 0;
done:
  nb_free(ids);
  nb_ctx_free(c);
  nb_tokenizer_free(tok);
  nb_model_free(m);
  nb_free(text);
  return ret;
}
