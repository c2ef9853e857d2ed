/*
 * ppl.h: perplexity the way llama.cpp's llama-perplexity computes it (see
 * ../shared/models/golden/quality-llamacpp.md): the token stream (BOS +
 * text) is cut into floor(n / n_chunk) chunks of n_chunk tokens; each chunk
 * is evaluated from an empty KV cache with its first token replaced by BOS;
 * the logits at positions n_chunk/2 .. n_chunk-2 score the tokens at
 * n_chunk/2+1 .. n_chunk-1; PPL = exp(mean NLL), and the "+/-" is
 * PPL * sqrt((mean(nll^2) - mean(nll)^2) / (count - 1)).
 */
#ifndef NB_CLI_PPL_H
#define NB_CLI_PPL_H

#include <stdint.h>

#include "nibble.h"

typedef struct nb_ppl_result {
  int32_t n_chunks;
  int64_t n_scored;
  double ppl, ppl_err;  /* final estimate and its "+/-" */
  double nll_sum, nll2_sum;
} nb_ppl_result;

/* `c` (a model of n_vocab tokens) must hold n_chunk positions (its KV cache is cleared for each chunk).
 * `progress` (may be NULL) is called after each chunk with the running PPL.
 * NB_EINVAL if there is not one full chunk or n_chunk < 4. */
int nb_ppl_run(nb_ctx *c, int32_t n_vocab, int32_t bos, const int32_t *ids, int64_t n_ids,
               int32_t n_chunk, void (*progress)(void *ud, int32_t chunk,
                                                 double ppl),
               void *ud, nb_ppl_result *r, nb_err *err);

#endif
