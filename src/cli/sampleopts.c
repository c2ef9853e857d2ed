/* sampleopts.c: shared generation flags for chat and run -f. */
#include "sampleopts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char nb_gen_opts_help[] =
    "  -m FILE              model (GGUF); default models/stories260K.gguf\n"
    "  -sys TEXT            system prompt\n"
    "  -n N                 tokens to generate per reply (chat default: half\n"
    "                       the context, at most 256; run -f default: 256)\n"
    "  -c N                 context size (default: the model's)\n"
    "  -t N                 threads (default: physical cores)\n"
    "  -s, --seed N         random seed (reproducible sampling)\n"
    "  --temp T             temperature (0: greedy)\n"
    "  --top-k K  --top-p P  --min-p P\n"
    "  --repeat-penalty R  --repeat-last-n N\n"
    "  --act f16|f32|q8     activation precision\n"
    "  --kernels NAME       scalar|avx2|avxvnni|avx512|neon (default: best here)\n";

void nb_gen_opts_default(nb_gen_opts *o, int32_t n_predict) {
  memset(o, 0, sizeof *o);
  o->model = "models/stories260K.gguf";
  nb_sampler_params_default(&o->sp);
  nb_ctx_params_default(&o->cp);
  o->n_predict = n_predict;
}

bool nb_parse_i32(const char *s, int32_t lo, int32_t hi, int32_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < lo || v > hi) return false;
  *out = (int32_t)v;
  return true;
}

bool nb_parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (s[0] == '-') return false;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end != '\0') return false;
  *out = (uint64_t)v;
  return true;
}

bool nb_parse_f32(const char *s, float lo, float hi, float *out) {
  char *end;
  errno = 0;
  float v = strtof(s, &end);
  if (errno || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

int nb_gen_opts_parse(nb_gen_opts *o, int argc, char **argv, int *i,
                      const char *cmd) {
  const char *f = argv[*i];
  static const char *const with_value[] = {
      "-m", "--model", "-sys", "--system", "-n", "--n-predict", "-c",
      "--ctx-size", "-t", "--threads", "-s", "--seed", "--temp", "--top-k",
      "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n", "--act",
      "--kernels"};
  bool known = false;
  for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
    if (strcmp(f, with_value[k]) == 0) known = true;
  if (!known) return 0;
  if (*i + 1 >= argc) {
    nb_cli_failf(cmd, "%s needs a value", f);
    return -1;
  }
  const char *v = argv[++*i];
  bool ok = true;
  if (!strcmp(f, "-m") || !strcmp(f, "--model")) o->model = v;
  else if (!strcmp(f, "-sys") || !strcmp(f, "--system")) o->sys = v;
  else if (!strcmp(f, "-n") || !strcmp(f, "--n-predict"))
    ok = nb_parse_i32(v, 1, 1 << 24, &o->n_predict);
  else if (!strcmp(f, "-c") || !strcmp(f, "--ctx-size"))
    ok = nb_parse_i32(v, 0, 1 << 24, &o->cp.n_ctx);
  else if (!strcmp(f, "-t") || !strcmp(f, "--threads"))
    ok = nb_parse_i32(v, 0, 1024, &o->cp.n_threads);
  else if (!strcmp(f, "-s") || !strcmp(f, "--seed"))
    ok = o->seed_set = nb_parse_u64(v, &o->sp.seed);
  else if (!strcmp(f, "--temp")) ok = nb_parse_f32(v, 0, 100, &o->sp.temp);
  else if (!strcmp(f, "--top-k"))
    ok = nb_parse_i32(v, 0, 1 << 30, &o->sp.top_k);
  else if (!strcmp(f, "--top-p")) ok = nb_parse_f32(v, 0, 1, &o->sp.top_p);
  else if (!strcmp(f, "--min-p")) ok = nb_parse_f32(v, 0, 1, &o->sp.min_p);
  else if (!strcmp(f, "--repeat-penalty"))
    ok = nb_parse_f32(v, 0, 100, &o->sp.repeat_penalty);
  else if (!strcmp(f, "--repeat-last-n"))
    ok = nb_parse_i32(v, 0, 1 << 24, &o->sp.repeat_last_n);
  else if (!strcmp(f, "--kernels")) o->cp.kernels = v;
  else if (!strcmp(f, "--act")) {
    int a = nb_act_from_name(v);
    ok = a >= 0;
    if (ok) o->cp.act = a;
  }
  if (!ok) {
    nb_cli_failf(cmd, "bad value for %s: '%s'", f, v);
    return -1;
  }
  return 1;
}
