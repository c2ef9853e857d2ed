/*
 * gen.h: the generation loop shared by `run` (single prompt and -f batches)
 * and `chat`: evaluate a prompt, then sample, stream text through a
 * callback and evaluate each sampled token, until a stop condition.
 *
 * Stop reasons: "eos" (EOS sampled, or BOS when stop_on_bos, as run.c does;
 * the stop token is neither emitted nor evaluated), "length" (n_predict
 * tokens generated), "context" (the context is full: the last generated
 * token was emitted but there is no position left to evaluate it),
 * "canceled" (the cancel flag was set; the KV cache holds what was
 * evaluated before the flag was seen).
 */
#ifndef NB_CLI_GEN_H
#define NB_CLI_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nibble.h"

typedef enum nb_gen_stop {
  NB_GEN_EOS = 0,
  NB_GEN_LENGTH,
  NB_GEN_CONTEXT,
  NB_GEN_CANCELED
} nb_gen_stop;

const char *nb_gen_stop_name(int stop); /* "eos", "length", ... */

typedef struct nb_gen_stats {
  int32_t n_prompt;   /* tokens evaluated for the prompt */
  int32_t n_gen;      /* tokens generated (emitted), stop token excluded */
  double t_prompt;    /* seconds evaluating the prompt */
  double t_gen;       /* seconds from the first sample to the end */
  int stop;           /* nb_gen_stop */
} nb_gen_stats;

/* All handles are BORROWED and must stay valid during nb_gen_run. */
typedef struct nb_gen {
  nb_ctx *ctx;
  nb_sampler *smp;
  const nb_tokenizer *tok;
  nb_detok *detok;        /* streaming decoder; the caller resets it (and may
                             have pushed the prompt through it to echo it) */
  int32_t n_predict;      /* tokens to generate; <= 0: until EOS/context */
  bool stop_on_bos;       /* BOS ends the reply like EOS (run.c); true in
                             nb_gen_init */
  volatile int *cancel;   /* may be NULL; also installed on the context */
  /* Text as it becomes printable (never splits a UTF-8 character). */
  void (*on_text)(void *ud, const char *s, size_t n);
  /* Each generated id, before its text (may be NULL). */
  void (*on_token)(void *ud, int32_t id);
  void *ud;
} nb_gen;

void nb_gen_init(nb_gen *g, nb_ctx *ctx, nb_sampler *smp,
                 const nb_tokenizer *tok, nb_detok *detok);

/* Evaluates prompt[0..n_prompt) at the context's current position (n_prompt
 * may be 0 when the logits of the last evaluated token are already there),
 * adds the prompt to the sampler's penalty history, then generates. Returns 0
 * with st->stop telling how it ended, or a negative code (NB_ECTX if the
 * prompt does not fit: nothing was evaluated). */
int nb_gen_run(const nb_gen *g, const int32_t *prompt, int32_t n_prompt,
               nb_gen_stats *st, nb_err *err);

/* Monotonic clock in seconds. */
double nb_gen_now(void);

#endif
