/* chatconv.c: conversation state and one turn of generation (see chatconv.h). */
#include "chatconv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "nb_internal.h"

const char *nb_stop_name(int stop) {
  switch (stop) {
  case NB_STOP_EOS: return "eos";
  case NB_STOP_LENGTH: return "length";
  case NB_STOP_CTX: return "context_full";
  case NB_STOP_CANCEL: return "interrupted";
  case NB_STOP_REFUSED: return "refused";
  case NB_STOP_ERROR: return "error";
  default: return "none";
  }
}

static char *dup_str(const char *s) {
  size_t n = strlen(s);
  char *d = nb_malloc(n + 1);
  if (d) memcpy(d, s, n + 1);
  return d;
}

static void notice(nb_conv *c, const char *fmt, ...) NB__PRINTF(2, 3);
static void notice(nb_conv *c, const char *fmt, ...) {
  char buf[600];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n >= (int)sizeof buf) n = (int)sizeof buf - 1;
  if (c->emit) c->emit(c->emit_ud, NB_EMIT_NOTICE, buf, (size_t)n);
}

int nb_conv_init(nb_conv *c, nb_ctx *ctx, nb_sampler *smp,
                 const nb_tokenizer *tok, int tpl_kind, nb_err *err) {
  memset(c, 0, sizeof *c);
  c->ctx = ctx;
  c->smp = smp;
  c->tok = tok;
  nb_tpl_init(&c->tpl, tpl_kind, tok);
  c->n_predict = 256;
  return nb_detok_new(&c->detok, tok, err);
}

static void turn_free(nb_turn *t) {
  nb_free(t->user);
  nb_toks_free(&t->reply);
  nb_free(t->text);
  memset(t, 0, sizeof *t);
}

void nb_conv_free(nb_conv *c) {
  for (int i = 0; i < c->n_turns; i++) turn_free(&c->turns[i]);
  nb_free(c->turns);
  nb_free(c->sys);
  nb_toks_free(&c->kv);
  nb_toks_free(&c->want);
  nb_detok_free(c->detok);
  memset(c, 0, sizeof *c);
}

void nb_conv_clear(nb_conv *c) {
  for (int i = 0; i < c->n_turns; i++) turn_free(&c->turns[i]);
  c->n_turns = c->first = c->n_dropped_turns = 0;
}

int nb_conv_set_system(nb_conv *c, const char *sys) {
  char *d = NULL;
  if (sys != NULL && sys[0] != '\0' && (d = dup_str(sys)) == NULL)
    return NB_ENOMEM;
  nb_free(c->sys);
  c->sys = d;
  return 0;
}

static int text_append(nb_turn *t, const char *s, size_t n) {
  if (t->text_len + n + 1 > t->text_cap) {
    size_t cap = t->text_cap ? t->text_cap : 256;
    while (cap < t->text_len + n + 1) cap *= 2;
    char *p = nb_realloc(t->text, cap);
    if (p == NULL) return NB_ENOMEM;
    t->text = p;
    t->text_cap = cap;
  }
  memcpy(t->text + t->text_len, s, n);
  t->text_len += n;
  t->text[t->text_len] = '\0';
  return 0;
}

int nb_conv_add_user(nb_conv *c, const char *user) {
  if (c->n_turns == c->cap_turns) {
    int cap = c->cap_turns ? c->cap_turns * 2 : 16;
    nb_turn *t = nb_realloc(c->turns, (size_t)cap * sizeof *t);
    if (t == NULL) return NB_ENOMEM;
    c->turns = t;
    c->cap_turns = cap;
  }
  nb_turn *t = &c->turns[c->n_turns];
  memset(t, 0, sizeof *t);
  if ((t->user = dup_str(user)) == NULL || text_append(t, "", 0) != 0) {
    turn_free(t);
    return NB_ENOMEM;
  }
  c->n_turns++;
  return 0;
}

int nb_conv_add_done(nb_conv *c, const char *user, const char *reply,
                     nb_err *err) {
  int rc = nb_conv_add_user(c, user);
  if (rc) return nb__err(err, rc, "out of memory");
  nb_turn *t = &c->turns[c->n_turns - 1];
  t->closed = true;
  if ((rc = text_append(t, reply, strlen(reply))) != 0)
    return nb__err(err, rc, "out of memory");
  /* The reply was printed from ids whose first piece carried the space that
   * separates it from the user text; SentencePiece's dummy prefix adds that
   * space back, so drop one here to get the same ids. */
  const char *r = reply[0] == ' ' ? reply + 1 : reply;
  if (r[0] == '\0') return 0;
  int32_t *ids = NULL, n = 0;
  rc = nb_tokenize(c->tok, r, strlen(r), false, &ids, &n, err);
  if (rc == 0 && (rc = nb_toks_append(&t->reply, ids, n)) != 0)
    nb__err(err, rc, "out of memory");
  nb_free(ids);
  if (rc) { /* keep the conversation consistent: forget the turn */
    turn_free(t);
    c->n_turns--;
  }
  return rc;
}

/* want := the rendering of the conversation from turn `first` on. */
static int render(nb_conv *c, nb_err *err) {
  c->want.n = 0;
  int rc = nb_tpl_prefix(&c->tpl, c->sys, &c->want, err);
  for (int i = c->first; rc == 0 && i < c->n_turns; i++) {
    nb_turn *t = &c->turns[i];
    rc = nb_tpl_user(&c->tpl, c->sys, t->user, i == c->first, &c->want, err);
    if (rc == 0) rc = nb_toks_append(&c->want, t->reply.v, t->reply.n);
    if (rc == 0 && t->closed) rc = nb_tpl_close(&c->tpl, &c->want, err);
  }
  if (rc == NB_ENOMEM && err) nb__err(err, rc, "out of memory");
  return rc;
}

static int32_t common_prefix(const nb_toks *a, const nb_toks *b) {
  int32_t n = NB__MIN(a->n, b->n), i = 0;
  while (i < n && a->v[i] == b->v[i]) i++;
  return i;
}

int32_t nb_conv_tokens(nb_conv *c) {
  nb_err err;
  return render(c, &err) == 0 ? c->want.n : -1;
}

int nb_conv_trim(nb_conv *c, nb_err *err) {
  int rc = render(c, err);
  if (rc) return rc;
  int32_t l = common_prefix(&c->kv, &c->want);
  if (l < c->kv.n) {
    if ((rc = nb_ctx_truncate(c->ctx, l, err)) != 0) return rc;
    c->kv.n = l;
  }
  return 0;
}

/* Brings the KV cache to `want`: keeps the common prefix, evaluates the
 * rest in chunks (so Ctrl-C is noticed), and records each chunk in kv.
 * *n_eval counts the tokens evaluated. Cancellation rolls back only the
 * chunk in flight: what is in kv stays valid. */
static int kv_sync(nb_conv *c, int32_t *n_eval, bool accept, nb_err *err) {
  *n_eval = 0;
  int32_t l = common_prefix(&c->kv, &c->want);
  if (l == c->want.n && l > 0) l--; /* re-evaluate one for fresh logits */
  int rc;
  if (l < c->kv.n) {
    if ((rc = nb_ctx_truncate(c->ctx, l, err)) != 0) return rc;
    c->kv.n = l;
  }
  while (c->kv.n < c->want.n) {
    if (c->cancel) return nb__err(err, NB_ECANCELED, "interrupted");
    int32_t n = NB__MIN(c->want.n - c->kv.n, 64);
    const int32_t *ids = c->want.v + c->kv.n;
    if ((rc = nb_ctx_eval(c->ctx, ids, n, err)) != 0) return rc;
    if ((rc = nb_toks_append(&c->kv, ids, n)) != 0)
      return nb__err(err, rc, "out of memory");
    if (accept)
      for (int32_t i = 0; i < n; i++) nb_sampler_accept(c->smp, ids[i]);
    *n_eval += n;
  }
  return 0;
}

/* Drops the oldest turns (never the current one, never the prefix) until
 * the rendering plus `room` fits. Returns the number of turns dropped;
 * -1 on error. */
static int drop_oldest(nb_conv *c, int32_t room, int32_t *dropped_tokens,
                       nb_err *err) {
  int32_t n_ctx = nb_ctx_n_ctx(c->ctx), before = c->want.n;
  int cur = c->n_turns - 1, dropped = 0;
  while (c->want.n + room > n_ctx && c->first < cur) {
    c->first++;
    dropped++;
    if (render(c, err) != 0) return -1;
  }
  *dropped_tokens = before - c->want.n;
  c->n_dropped_turns += dropped;
  return dropped;
}

static void pop_turn(nb_conv *c) {
  turn_free(&c->turns[--c->n_turns]);
}

int nb_conv_turn(nb_conv *c) {
  nb_err err = {0};
  int cur = c->n_turns - 1;
  nb_turn *t = &c->turns[cur];
  int32_t n_ctx = nb_ctx_n_ctx(c->ctx);
  int32_t reserve = NB__MAX(1, NB__MIN(c->n_predict, n_ctx / 4));
  c->last_prompt_tokens = c->last_gen_tokens = 0;
  c->last_prompt_s = c->last_gen_s = 0;
  c->last_stop = NB_STOP_NONE;
  int rc = render(c, &err);
  if (rc) goto fail;

  /* A turn that cannot fit even alone (with the prefix) is refused. */
  {
    nb_toks alone = {0};
    rc = nb_tpl_prefix(&c->tpl, c->sys, &alone, &err);
    if (rc == 0) rc = nb_tpl_user(&c->tpl, c->sys, t->user, true, &alone, &err);
    int32_t n_alone = alone.n;
    nb_toks_free(&alone);
    if (rc) goto fail;
    if (n_alone + 1 > n_ctx) {
      notice(c, "turn refused: it is %d tokens (with the system prompt) and "
                "the context holds %d; use a larger -c or a shorter message",
             n_alone, n_ctx);
      pop_turn(c);
      c->last_stop = NB_STOP_REFUSED;
      return 0;
    }
  }

  if (c->want.n + reserve > n_ctx) {
    if (c->policy == NB_CTX_STOP) {
      notice(c, "context full: the conversation plus this turn is %d tokens, "
                "%d with room for the reply, and the context holds %d; turn "
                "refused (/clear starts a new conversation; --ctx-policy "
                "shift drops old turns instead)",
             c->want.n, c->want.n + reserve, n_ctx);
      pop_turn(c);
      c->last_stop = NB_STOP_REFUSED;
      return 0;
    }
    int first0 = c->first, dropped0 = c->n_dropped_turns;
    int32_t dropped_tokens = 0;
    int dropped = drop_oldest(c, reserve, &dropped_tokens, &err);
    if (dropped < 0) goto fail;
    if (c->want.n + 1 > n_ctx) { /* cannot happen: checked alone above */
      c->first = first0;
      c->n_dropped_turns = dropped0;
      pop_turn(c);
      c->last_stop = NB_STOP_REFUSED;
      return 0;
    }
    if (dropped > 0)
      notice(c, "context full: dropped the %d oldest turn%s (%d tokens); "
                "re-evaluating %d tokens",
             dropped, dropped == 1 ? "" : "s", dropped_tokens,
             c->want.n - common_prefix(&c->kv, &c->want));
  }

  uint64_t t0 = uv_hrtime();
  int32_t n_eval = 0;
  rc = kv_sync(c, &n_eval, true, &err);
  c->last_prompt_tokens = n_eval;
  c->last_prompt_s = (double)(uv_hrtime() - t0) / 1e9;
  if (rc == NB_ECANCELED) {
    t->closed = true;
    c->last_stop = NB_STOP_CANCEL;
    return 0;
  }
  if (rc) goto fail;

  /* Prime the decoder with the token before the reply so the first piece
   * keeps (or, after BOS, loses) its leading space as SentencePiece does. */
  nb_detok_reset(c->detok);
  nb_str s;
  if (c->kv.n > 0 && (rc = nb_detok_push(c->detok, c->kv.v[c->kv.n - 1], &s, &err)))
    goto fail;
  t0 = uv_hrtime();
  int stop = NB_STOP_NONE;
  while (stop == NB_STOP_NONE) {
    if (c->cancel) { stop = NB_STOP_CANCEL; break; }
    if (t->reply.n >= c->n_predict) { stop = NB_STOP_LENGTH; break; }
    int32_t id = nb_sampler_sample(c->smp, nb_ctx_logits(c->ctx));
    if (id < 0) { /* every logit NaN: non-finite weights in the file */
      rc = id;
      snprintf(err.msg, sizeof err.msg, "no token can be sampled: the logits are not finite numbers");
      err.code = rc;
      goto fail;
    }
    nb_sampler_accept(c->smp, id);
    if (nb_tpl_is_stop(&c->tpl, id)) { stop = NB_STOP_EOS; break; }
    if ((rc = nb_toks_push(&t->reply, id)) != 0) goto fail;
    c->last_gen_tokens++;
    if ((rc = nb_detok_push(c->detok, id, &s, &err)) != 0) goto fail;
    if (s.len > 0) {
      if ((rc = text_append(t, s.data, s.len)) != 0) goto fail;
      if (c->emit) c->emit(c->emit_ud, NB_EMIT_TEXT, s.data, s.len);
    }
    if (t->reply.n >= c->n_predict) { stop = NB_STOP_LENGTH; break; }
    if (c->kv.n >= n_ctx) { /* no room for this token: shift or stop */
      int32_t room = NB__MAX(1, NB__MIN(c->n_predict - t->reply.n, n_ctx / 4));
      if ((rc = render(c, &err)) != 0) goto fail;
      int dropped = 0;
      int32_t dropped_tokens = 0;
      if (c->policy == NB_CTX_SHIFT &&
          (dropped = drop_oldest(c, room, &dropped_tokens, &err)) < 0)
        goto fail;
      if (dropped == 0 || c->want.n >= n_ctx) {
        notice(c, "context full (%d tokens): reply stopped; /clear starts a "
                  "new conversation, -c sets a larger context", n_ctx);
        stop = NB_STOP_CTX;
        break;
      }
      notice(c, "context full: dropped the %d oldest turn%s (%d tokens); "
                "re-evaluating %d tokens",
             dropped, dropped == 1 ? "" : "s", dropped_tokens,
             c->want.n - common_prefix(&c->kv, &c->want));
      rc = kv_sync(c, &n_eval, false, &err);
      if (rc == NB_ECANCELED) { stop = NB_STOP_CANCEL; break; }
      if (rc) goto fail;
      continue;
    }
    rc = nb_ctx_eval(c->ctx, &id, 1, &err);
    if (rc == NB_ECANCELED) { stop = NB_STOP_CANCEL; break; }
    if (rc) goto fail;
    if ((rc = nb_toks_push(&c->kv, id)) != 0) goto fail;
  }
  c->last_gen_s = (double)(uv_hrtime() - t0) / 1e9;
  if (nb_detok_flush(c->detok, &s, &err) == 0 && s.len > 0) {
    if (text_append(t, s.data, s.len) == 0 && c->emit)
      c->emit(c->emit_ud, NB_EMIT_TEXT, s.data, s.len);
  }
  t->closed = true;
  c->last_stop = stop;
  return 0;

fail:
  if (rc == NB_ENOMEM && err.msg[0] == '\0') nb__err(&err, rc, "out of memory");
  notice(c, "error: %s", err.msg[0] ? err.msg : nb_strerror(rc));
  t->closed = true;
  c->last_stop = NB_STOP_ERROR;
  return rc;
}
