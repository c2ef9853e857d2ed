/*
 * cmd_run.c: `nibble run -p TEXT`: one prompt, text streamed to stdout as tokens arrive, stats
 * on stderr. stdout is the prompt as printed (run.c's convention: BOS
 * prints nothing, the first piece after it loses its leading space), then
 * the generated text, then "\n": byte-identical to llama2.c's run.c for the
 * same model, prompt and greedy decoding. `-f PROMPTS` (a batch of prompts)
 * is runfile.c's.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "sampleopts.h"
#include "gen.h"
#include "runfile.h"

static const char usage_text[] =
    "usage: nibble run [options] -p TEXT\n"
    "       nibble run [options] -f PROMPTS   (a batch of prompts)\n"
    "  -m FILE              model (GGUF); default models/stories260K.gguf\n"
    "  -p TEXT              prompt\n"
    "  -n N                 tokens to generate (default 256; stops earlier at\n"
    "                       EOS/BOS or when the context is full)\n"
    "  -c N                 context size (default: the model's)\n"
    "  -s, --seed N         random seed (default: from the clock)\n"
    "  --temp T             temperature (0: greedy; default 0.8)\n"
    "  --top-k K  --top-p P  --min-p P\n"
    "  --repeat-penalty R  --repeat-last-n N\n"
    "  -t N                 threads (default: physical cores)\n"
    "  --act f16|f32|q8     activation precision (default f16)\n"
    "  --kernels NAME       scalar|avx2|avxvnni|avx512|neon (default: best here)\n";

typedef struct run_args {
  nb_gen_opts o;      /* model, context and sampling flags (sampleopts.c) */
  const char *prompt; /* borrowed from argv */
} run_args;

/* 0 ok, 2 usage error (printed), 3 help printed. */
static int parse_args(run_args *a, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
      fputs(usage_text, stdout);
      return 3;
    }
    int rc = nb_gen_opts_parse(&a->o, argc, argv, &i, "run");
    if (rc < 0) return 2;
    if (rc > 0) continue;
    if ((!strcmp(f, "-p") || !strcmp(f, "--prompt")) && i + 1 < argc) {
      a->prompt = argv[++i];
      continue;
    }
    nb_cli_failf("run", "%s: unknown option or missing value (see nibble run -h)", f);
    return 2;
  }
  if (a->o.sys != NULL) {
    nb_cli_failf("run", "-sys applies to chat and run -f; with -p, put it in the prompt");
    return 2;
  }
  if (a->prompt == NULL) {
    nb_cli_failf("run", "give a prompt with -p TEXT, or -f PROMPTS (see nibble run -h)");
    return 2;
  }
  return 0;
}

static void write_out(void *ud, const char *s, size_t n) {
  (void)ud;
  fwrite(s, 1, n, stdout);
  fflush(stdout);
}

int nb_cli_run(int argc, char **argv) {
  /* -f PROMPTS: a batch of prompts, one record each (runfile.c). */
  if (nb_cli_run_has_file(argc, argv)) return nb_cli_run_file(argc, argv);
  run_args a;
  memset(&a, 0, sizeof a);
  nb_gen_opts_default(&a.o, 256);
  int prc = parse_args(&a, argc, argv);
  if (prc == 3) return 0;
  if (prc != 0) return 2;
  if (!a.o.seed_set) a.o.sp.seed = (uint64_t)time(NULL);

  int ret = 1, rc;
  nb_err e = {0};
  nb_model *m = NULL;
  nb_tokenizer *tok = NULL;
  nb_ctx *c = NULL;
  nb_sampler *smp = NULL;
  nb_detok *dt = NULL;
  int32_t *ids = NULL, n_ids = 0;

  const char *text = a.prompt;
  size_t text_len = text ? strlen(text) : 0;
  if (text_len == 0) {
    nb_cli_failf("run", "the prompt is empty");
    goto done;
  }
  if ((rc = nb_model_load(&m, a.o.model, &e)) < 0 ||
      (rc = nb_tokenizer_from_gguf(&tok, nb_model_gguf(m), &e)) < 0) {
    nb_cli_fail("run", &e);
    goto done;
  }
  if ((rc = nb_tokenize(tok, text, text_len, nb_tokenizer_add_bos(tok), &ids, &n_ids, &e)) < 0) {
    if (rc == NB_EUTF8)
      nb_cli_failf("run", "the prompt is not valid UTF-8 (%s)", e.msg);
    else
      nb_cli_fail("run", &e);
    goto done;
  }
  if ((rc = nb_ctx_new(&c, m, &a.o.cp, &e)) < 0) {
    nb_cli_fail("run", &e);
    goto done;
  }
  if (n_ids > nb_ctx_n_ctx(c)) {
    nb_cli_failf("run", "the prompt is %d tokens but the context holds %d (use -c)",
                 n_ids, nb_ctx_n_ctx(c));
    goto done;
  }
  if ((rc = nb_sampler_new(&smp, &a.o.sp, nb_model_hparams(m)->n_vocab, &e)) < 0 ||
      (rc = nb_detok_new(&dt, tok, &e)) < 0) {
    nb_cli_fail("run", &e);
    goto done;
  }
  /* echo the prompt as run.c prints it */
  for (int32_t i = 0; i < n_ids; i++) {
    nb_str s;
    if ((rc = nb_detok_push(dt, ids[i], &s, &e)) < 0) {
      nb_cli_fail("run", &e);
      goto done;
    }
    write_out(NULL, s.data, s.len);
  }
  nb_gen g;
  nb_gen_init(&g, c, smp, tok, dt);
  g.n_predict = a.o.n_predict;
  g.on_text = write_out;
  nb_gen_stats st;
  if ((rc = nb_gen_run(&g, ids, n_ids, &st, &e)) < 0) {
    fputc('\n', stdout);
    nb_cli_fail("run", &e);
    goto done;
  }
  fputc('\n', stdout);
  fflush(stdout);
  fprintf(stderr,
          "\nprompt: %d tokens, %.1f tok/s | generated: %d tokens, %.1f tok/s | "
          "stop: %s | act %s, kernels %s, %d ctx\n",
          st.n_prompt, st.t_prompt > 0 ? st.n_prompt / st.t_prompt : 0.0, st.n_gen,
          st.t_gen > 0 ? st.n_gen / st.t_gen : 0.0, nb_gen_stop_name(st.stop),
          nb_act_name(a.o.cp.act), nb_ctx_kernels(c), nb_ctx_n_ctx(c));
  ret = 0;
done:
  nb_free(ids);
  nb_detok_free(dt);
  nb_sampler_free(smp);
  nb_ctx_free(c);
  nb_tokenizer_free(tok);
  nb_model_free(m);
  return ret;
}
