/*
 * ctx.c: evaluation contexts (the State). nb_ctx_new sizes and allocates
 * everything once (one block), picks the kernel table and starts the thread
 * pool; nb_ctx_eval feeds tokens through the forward pass in chunks of
 * n_batch and keeps the KV cache position consistent on every failure.
 */
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "nb_internal.h"

static const char *const act_names[] = {"f32", "f16", "q8"};

const char *nb_act_name(int act) {
  return act >= 0 && act < (int)NB__ARRAY_LEN(act_names) ? act_names[act] : "?";
}

int nb_act_from_name(const char *name) {
  if (name != NULL)
    for (int i = 0; i < (int)NB__ARRAY_LEN(act_names); i++)
      if (strcmp(name, act_names[i]) == 0) return i;
  return NB_EINVAL;
}

void nb_ctx_params_default(nb_ctx_params *p) {
  memset(p, 0, sizeof *p);
  p->n_ctx = 0;
  p->act = NB_ACT_F16;
  p->n_threads = 0;
  p->kernels = NULL;
}

/* Every matrix must have a kernel for the input format it gets under `act`,
 * and that format must be the stored activation format or Q8 (the forward
 * pass converts nothing else). */
static int check_kernels(const nb_ctx *c, const nb__mat *w, const char *what,
                         nb_err *err) {
  nb__xfmt f = nb__xfmt_for(w->type, c->act);
  nb__xfmt stored = c->act == NB_ACT_F32 ? NB__X_F32 : NB__X_F16;
  if ((f != stored && f != NB__X_Q8) || (f == NB__X_Q8 && w->k % 32 != 0) ||
      c->k.gemm[w->type][f] == NULL)
    return nb__err(err, NB_EUNSUPPORTED,
                   "%s: kernel set %s has no %s matmul for --act %s", what,
                   c->k.name, nb_type_name(w->type), nb_act_name(c->act));
  return 0;
}

int nb_ctx_new(nb_ctx **out, nb_model *m, const nb_ctx_params *p,
               nb_err *err) {
  if (out == NULL || m == NULL) return nb__err(err, NB_EINVAL, "nb_ctx_new: NULL argument");
  *out = NULL;
  nb_ctx_params def;
  if (p == NULL) {
    nb_ctx_params_default(&def);
    p = &def;
  }
  const nb_hparams *hp = &m->hp;
  if (p->act < NB_ACT_F32 || p->act > NB_ACT_Q8)
    return nb__err(err, NB_EINVAL, "unknown activation mode %d", p->act);
  int32_t n_ctx = p->n_ctx == 0 ? hp->n_ctx_train : p->n_ctx;
  if (n_ctx < 1 || n_ctx > hp->n_ctx_train)
    return nb__err(err, NB_EINVAL,
                   "context length %d: must be between 1 and the model's %d",
                   n_ctx, hp->n_ctx_train);
  int32_t nth = p->n_threads == 0 ? nb_cpu_physical_cores() : p->n_threads;
  if (nth < 1 || nth > 512)
    return nb__err(err, NB_EINVAL, "thread count %d: must be 1..512", nth);

  nb_ctx *c = nb_calloc(1, sizeof *c);
  if (c == NULL) return nb__err(err, NB_ENOMEM, "context: out of memory");
  c->m = m;
  c->hp = hp;
  c->act = p->act;
  c->n_ctx = n_ctx;
  c->n_threads = nth;
  nb__state_size_for(hp, n_ctx, p->act, &c->sz);
  c->n_batch = c->sz.n_batch;

  int rc;
  const char *kname = p->kernels;
  if (kname == NULL) kname = getenv("NB_KERNELS");
  if (kname != NULL && kname[0] == '\0') kname = NULL;
  if ((rc = nb__kernels_init(&c->k, kname, err)) < 0) goto fail;
  const nb__weights *w = &m->w;
  for (int l = 0; l < hp->n_layers; l++) {
    const nb__layer *L = &w->layers[l];
    const nb__mat *ms[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    for (size_t i = 0; i < NB__ARRAY_LEN(ms); i++)
      if ((rc = check_kernels(c, ms[i], "layer weights", err)) < 0) goto fail;
  }
  if ((rc = check_kernels(c, &w->output, "output weights", err)) < 0) goto fail;

  /* One block for every buffer; the sizes are multiples of 64. */
  const nb__state_size *s = &c->sz;
  uint64_t total = 2 * (uint64_t)s->kv_bytes + s->x_bytes + s->xb_bytes + s->hb_bytes +
                   s->xq_bytes + s->q_bytes + 2 * (uint64_t)s->kv_new_bytes +
                   2 * (uint64_t)s->rope_bytes + s->logits_bytes +
                   (uint64_t)nth * s->scratch_bytes +
                   (uint64_t)NB__SHARE_JOBS * (uint64_t)nth * sizeof(nb__share) + 64;
  if (total > (uint64_t)SIZE_MAX / 2) {
    rc = nb__err(err, NB_ENOMEM, "context of %d tokens is too large", n_ctx);
    goto fail;
  }
  c->block = nb_calloc(1, (size_t)total);
  if (c->block == NULL) {
    rc = nb__err(err, NB_ENOMEM, "context: cannot allocate %llu bytes of state",
                 (unsigned long long)total);
    goto fail;
  }
  char *b = (char *)(((uintptr_t)c->block + 63) & ~(uintptr_t)63);
#define NB__TAKE(ptr, type, bytes) (ptr = (type)(void *)b, b += (bytes))
  NB__TAKE(c->key_cache, void *, s->kv_bytes);
  NB__TAKE(c->value_cache, void *, s->kv_bytes);
  NB__TAKE(c->x, void *, s->x_bytes);
  NB__TAKE(c->xb, void *, s->xb_bytes);
  NB__TAKE(c->hb, void *, s->hb_bytes);
  NB__TAKE(c->xq, void *, s->xq_bytes);
  NB__TAKE(c->q, float *, s->q_bytes);
  NB__TAKE(c->kn, float *, s->kv_new_bytes);
  NB__TAKE(c->vn, float *, s->kv_new_bytes);
  NB__TAKE(c->rope_cos, float *, s->rope_bytes);
  NB__TAKE(c->rope_sin, float *, s->rope_bytes);
  NB__TAKE(c->logits, float *, s->logits_bytes);
  NB__TAKE(c->scratch, char *, (size_t)nth * s->scratch_bytes);
  NB__TAKE(c->share, nb__share *, (size_t)NB__SHARE_JOBS * (size_t)nth * sizeof(nb__share));
#undef NB__TAKE
  if (c->act == NB_ACT_F32 || (c->act == NB_ACT_F16 && c->k.prep_qh == NULL)) c->xq = NULL;

  if ((rc = nb__pool_new(&c->pool, nth, err)) < 0) goto fail;
  *out = c;
  return 0;
fail:
  nb_ctx_free(c);
  return rc;
}

void nb_ctx_free(nb_ctx *c) {
  if (c == NULL) return;
  nb__pool_free(c->pool);
  nb_free(c->block);
  nb_free(c);
}

int32_t nb_ctx_n_ctx(const nb_ctx *c) { return c->n_ctx; }
int32_t nb_ctx_pos(const nb_ctx *c) { return c->pos; }
const char *nb_ctx_kernels(const nb_ctx *c) { return c->k.name; }
const float *nb_ctx_logits(const nb_ctx *c) { return c->has_logits ? c->logits : NULL; }
void nb_ctx_set_cancel_flag(nb_ctx *c, volatile int *flag) { c->cancel = flag; }

int nb_ctx_truncate(nb_ctx *c, int32_t pos, nb_err *err) {
  if (pos < 0 || pos > c->pos)
    return nb__err(err, NB_EINVAL, "truncate to %d: the cache holds %d tokens",
                   pos, c->pos);
  if (pos != c->pos) c->has_logits = false; /* they belonged to a dropped token */
  c->pos = pos;
  return 0;
}

static int eval(nb_ctx *c, const int32_t *tokens, int32_t n, float *all,
                nb_err *err) {
  if (c == NULL || (tokens == NULL && n > 0))
    return nb__err(err, NB_EINVAL, "nb_ctx_eval: NULL argument");
  if (n <= 0) return nb__err(err, NB_EINVAL, "nb_ctx_eval: %d tokens", n);
  if ((int64_t)c->pos + n > c->n_ctx)
    return nb__err(err, NB_ECTX,
                   "%d tokens do not fit: %d of %d context positions are used",
                   n, c->pos, c->n_ctx);
  for (int32_t i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= c->hp->n_vocab)
      return nb__err(err, NB_EINVAL, "token %d at index %d is outside the "
                     "vocabulary (0..%d)", tokens[i], i, c->hp->n_vocab - 1);
  int32_t pos0 = c->pos;
  bool had_logits = c->has_logits;
  for (int32_t i = 0; i < n; i += c->n_batch) {
    int32_t nt = NB__MIN(c->n_batch, n - i);
    int rc = nb__forward(c, tokens + i, nt,
                         all ? all + (size_t)i * (size_t)c->hp->n_vocab : NULL);
    if (rc < 0) {
      /* Roll back: positions >= pos0 are garbage and will be overwritten. A
       * finished earlier chunk overwrote the logits, so they are void. */
      c->pos = pos0;
      c->has_logits = had_logits && i == 0;
      return nb__err(err, rc, "evaluation canceled");
    }
    c->pos += nt;
  }
  c->has_logits = true;
  return 0;
}

int nb_ctx_eval(nb_ctx *c, const int32_t *tokens, int32_t n, nb_err *err) {
  return eval(c, tokens, n, NULL, err);
}

int nb_ctx_eval_all(nb_ctx *c, const int32_t *tokens, int32_t n, float *out,
                    nb_err *err) {
  if (out == NULL) return nb__err(err, NB_EINVAL, "nb_ctx_eval_all: NULL output");
  return eval(c, tokens, n, out, err);
}
