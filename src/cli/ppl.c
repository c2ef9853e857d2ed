/* ppl.c: llama.cpp-style perplexity (see ppl.h). */
#include "ppl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* log p(tok) from logits: llama.cpp's log_softmax (float max, double sum). */
static double log_prob(const float *logits, int32_t n_vocab, int32_t tok) {
  float mx = logits[0];
  for (int32_t i = 1; i < n_vocab; i++)
    if (logits[i] > mx) mx = logits[i];
  double sum = 0.0;
  for (int32_t i = 0; i < n_vocab; i++) sum += expf(logits[i] - mx);
  return (double)(logits[tok] - mx) - log(sum);
}

static int fail(nb_err *err, int code, const char *msg) {
  if (err) {
    err->code = code;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
  }
  return code;
}

int nb_ppl_run(nb_ctx *c, int32_t n_vocab, int32_t bos, const int32_t *ids, int64_t n_ids,
               int32_t n_chunk, void (*progress)(void *ud, int32_t chunk,
                                                 double ppl),
               void *ud, nb_ppl_result *r, nb_err *err) {
  memset(r, 0, sizeof *r);
  if (n_chunk < 4 || n_chunk > nb_ctx_n_ctx(c))
    return fail(err, NB_EINVAL, "chunk size must be at least 4 and fit the context");
  int64_t n_chunks = n_ids / n_chunk;
  if (n_chunks < 1) return fail(err, NB_EINVAL, "the text is shorter than one chunk");
  int rc = 0;
  int32_t *tok = nb_malloc((size_t)n_chunk * sizeof *tok);
  float *logits = NULL;
  if (tok == NULL) return fail(err, NB_ENOMEM, "perplexity: out of memory");
  int32_t nv = n_vocab;
  for (int64_t ch = 0; ch < n_chunks; ch++) {
    memcpy(tok, ids + ch * n_chunk, (size_t)n_chunk * sizeof *tok);
    tok[0] = bos;
    if ((rc = nb_ctx_truncate(c, 0, err)) < 0) goto done;
    if (logits == NULL) {
      logits = nb_malloc((size_t)n_chunk * (size_t)nv * sizeof *logits);
      if (logits == NULL) {
        rc = fail(err, NB_ENOMEM, "perplexity: out of memory");
        goto done;
      }
    }
    if ((rc = nb_ctx_eval_all(c, tok, n_chunk, logits, err)) < 0) goto done;
    for (int32_t j = n_chunk / 2; j < n_chunk - 1; j++) {
      double nll = -log_prob(logits + (size_t)j * (size_t)nv, nv, tok[j + 1]);
      r->nll_sum += nll;
      r->nll2_sum += nll * nll;
      r->n_scored++;
    }
    r->n_chunks = (int32_t)ch + 1;
    if (progress) progress(ud, r->n_chunks, exp(r->nll_sum / (double)r->n_scored));
  }
  double mean = r->nll_sum / (double)r->n_scored;
  r->ppl = exp(mean);
  if (r->n_scored > 1) {
    double var = r->nll2_sum / (double)r->n_scored - mean * mean;
    r->ppl_err = r->ppl * sqrt((var > 0 ? var : 0) / (double)(r->n_scored - 1));
  }
done:
  nb_free(logits);
  nb_free(tok);
  return rc;
}
