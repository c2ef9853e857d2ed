/*
 * sampleopts.h: the model, context and sampling flags shared by `chat` and
 * `run -f` (-m -n -c -t -s --temp --top-k --top-p --min-p --repeat-penalty
 * --repeat-last-n --act -sys).
 */
#ifndef NB_CLI_SAMPLEOPTS_H
#define NB_CLI_SAMPLEOPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "nibble.h"

typedef struct nb_gen_opts {
  const char *model;      /* borrowed from argv */
  const char *sys;        /* system prompt or NULL, borrowed */
  nb_sampler_params sp;
  bool seed_set;          /* -s given */
  int32_t n_predict;      /* tokens to generate per reply */
  nb_ctx_params cp;
} nb_gen_opts;

void nb_gen_opts_default(nb_gen_opts *o, int32_t n_predict);
/* Consumes argv[*i] (and its value) when it is one of the shared flags.
 * Returns 1 when consumed (*i advanced past the value), 0 when it is not a
 * shared flag, -1 on a bad or missing value (message printed for `cmd`). */
int nb_gen_opts_parse(nb_gen_opts *o, int argc, char **argv, int *i,
                      const char *cmd);
/* One help paragraph describing the shared flags. */
extern const char nb_gen_opts_help[];

/* Strict number parsers: the whole string must be a number in range. */
bool nb_parse_i32(const char *s, int32_t lo, int32_t hi, int32_t *out);
bool nb_parse_u64(const char *s, uint64_t *out);
bool nb_parse_f32(const char *s, float lo, float hi, float *out);

#endif
