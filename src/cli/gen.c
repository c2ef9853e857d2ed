/* gen.c: the generation loop (see gen.h). */
#include "gen.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const stop_names[] = {"eos", "length", "context", "canceled"};

const char *nb_gen_stop_name(int stop) {
  return stop >= 0 && stop < (int)(sizeof stop_names / sizeof stop_names[0])
             ? stop_names[stop]
             : "?";
}

double nb_gen_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void nb_gen_init(nb_gen *g, nb_ctx *ctx, nb_sampler *smp,
                 const nb_tokenizer *tok, nb_detok *detok) {
  memset(g, 0, sizeof *g);
  g->ctx = ctx;
  g->smp = smp;
  g->tok = tok;
  g->detok = detok;
  g->stop_on_bos = true;
}

static bool canceled(const nb_gen *g) { return g->cancel != NULL && *g->cancel; }

static int emit(const nb_gen *g, int32_t id, nb_err *err) {
  if (g->on_token) g->on_token(g->ud, id);
  if (g->detok == NULL) return 0;
  nb_str s;
  int rc = nb_detok_push(g->detok, id, &s, err);
  if (rc < 0) return rc;
  if (s.len > 0 && g->on_text) g->on_text(g->ud, s.data, s.len);
  return 0;
}

int nb_gen_run(const nb_gen *g, const int32_t *prompt, int32_t n_prompt,
               nb_gen_stats *st, nb_err *err) {
  memset(st, 0, sizeof *st);
  nb_ctx *c = g->ctx;
  nb_ctx_set_cancel_flag(c, g->cancel);
  int rc;
  int32_t bos = nb_tokenizer_bos(g->tok), eos = nb_tokenizer_eos(g->tok);

  /* prompt: one batched evaluation */
  double t0 = nb_gen_now();
  if (n_prompt > 0) {
    rc = nb_ctx_eval(c, prompt, n_prompt, err);
    if (rc == NB_ECANCELED) {
      st->stop = NB_GEN_CANCELED;
      st->t_prompt = nb_gen_now() - t0;
      return 0;
    }
    if (rc < 0) return rc;
    for (int32_t i = 0; i < n_prompt; i++) nb_sampler_accept(g->smp, prompt[i]);
  }
  st->n_prompt = n_prompt;
  double t1 = nb_gen_now();
  st->t_prompt = t1 - t0;

  const float *logits = nb_ctx_logits(c);
  if (logits == NULL) { /* n_prompt was 0 and nothing was evaluated */
    if (err) {
      err->code = NB_EINVAL;
      snprintf(err->msg, sizeof err->msg, "generation needs an evaluated prompt");
    }
    return NB_EINVAL;
  }
  for (;;) {
    if (canceled(g)) {
      st->stop = NB_GEN_CANCELED;
      break;
    }
    int32_t id = nb_sampler_sample(g->smp, logits);
    if (id < 0) { /* every logit NaN: the model file holds non-finite weights */
      if (err) {
        err->code = id;
        snprintf(err->msg, sizeof err->msg,
                 "no token can be sampled: the logits are not finite numbers");
      }
      return id;
    }
    if (id == eos || (g->stop_on_bos && id == bos)) {
      st->stop = NB_GEN_EOS;
      break;
    }
    nb_sampler_accept(g->smp, id);
    if ((rc = emit(g, id, err)) < 0) return rc;
    st->n_gen++;
    if (g->n_predict > 0 && st->n_gen >= g->n_predict) {
      st->stop = NB_GEN_LENGTH;
      break;
    }
    if (nb_ctx_pos(c) >= nb_ctx_n_ctx(c)) {
      st->stop = NB_GEN_CONTEXT;
      break;
    }
    rc = nb_ctx_eval(c, &id, 1, err);
    if (rc == NB_ECANCELED) {
      st->stop = NB_GEN_CANCELED;
      break;
    }
    if (rc < 0) return rc;
    logits = nb_ctx_logits(c);
  }
  if (g->detok != NULL && g->on_text) {
    nb_str s;
    if ((rc = nb_detok_flush(g->detok, &s, err)) < 0) return rc;
    if (s.len > 0) g->on_text(g->ud, s.data, s.len);
  }
  st->t_gen = nb_gen_now() - t1;
  return 0;
}
