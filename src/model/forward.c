/*
 * forward.c: the Llama forward pass over a batch of nt tokens, readable top
 * to bottom like llama2.c's forward(), but every step runs on the whole
 * batch (prefill is matrix x matrix) and in parallel on the pool:
 *
 *   x = embed(tokens)                                  (nt, dim)   A
 *   for each layer:
 *     xb = rmsnorm(x) * attn_norm                      (nt, dim)   A
 *     q, k, v = xb Wq, xb Wk, xb Wv                    f32
 *     rope(q, k); K,V cache[pos] = k, v                (n_ctx, kv_dim) A
 *     xb = causal attention (GQA)                      (nt, dim)   A
 *     x += xb Wo                                       (residual)
 *     xb = rmsnorm(x) * ffn_norm
 *     hb = silu(xb Wgate) * (xb Wup)                   (nt, ffn)   A
 *     x += hb Wdown
 *   logits = rmsnorm(x[last]) * output_norm  Wout      (n_vocab)   f32
 *
 * "A" is the stored activation type: f32 (--act f32) or f16 (f16, q8). Every
 * product and reduction is computed in f32; only stored values are rounded.
 * Under --act q8 the matmul input of a Q8_0/Q4_0 weight is additionally
 * quantized per 32-block to Q8_0 (xq) and the integer kernels are used.
 *
 * Determinism: every output element is computed by exactly one thread with a
 * fixed order of operations that does not depend on the split (gemm rows are
 * split over threads; attention over (token, head) items; element-wise steps
 * over tokens), so 1 and N threads give bit-identical logits, and so do a
 * batch and token-by-token evaluation.
 */
#include <math.h>
#include <string.h>

#include "ctx.h"
#include "nb_internal.h"

/* ------------------------------------------------ stored activation rows */

/* Loads n stored activations (A) into floats. */
static void load_row(const nb_ctx *c, const void *src, float *dst, int64_t n) {
  if (c->act == NB_ACT_F32)
    memcpy(dst, src, (size_t)n * sizeof(float));
  else
    c->k.f16_to_f32((const nb_f16 *)src, dst, n);
}

/* Stores n floats as A (rounding to f16 under f16/q8). */
static void store_row(const nb_ctx *c, const float *src, void *dst, int64_t n) {
  if (c->act == NB_ACT_F32)
    memcpy(dst, src, (size_t)n * sizeof(float));
  else
    c->k.f32_to_f16(src, (nb_f16 *)dst, n);
}

/* Row t of an A buffer whose rows hold `width` elements. */
static void *arow(const nb_ctx *c, void *buf, int64_t t, int64_t width) {
  return (char *)buf + (size_t)t * (size_t)width * c->sz.esize;
}

/* Thread ith's scratch: att (att_rows, n_ctx) | gate tile | up tile |
 * wide row | queries (att_rows, head_dim) (model.c sizes it). */
static size_t att_rows(const nb_ctx *c) {
  int32_t kv_mul = c->hp->n_heads / c->hp->n_kv_heads;
  return (size_t)kv_mul * (size_t)nb__att_tq(kv_mul, c->hp->n_kv_heads);
}
static float *scratch_att(const nb_ctx *c, int32_t ith) {
  return (float *)(void *)(c->scratch + (size_t)ith * c->sz.scratch_bytes);
}
static float *scratch_tiles(const nb_ctx *c, int32_t ith) {
  return scratch_att(c, ith) + att_rows(c) * (size_t)c->n_ctx;
}
static float *scratch_row(const nb_ctx *c, int32_t ith) {
  return scratch_tiles(c, ith) + 2 * (size_t)c->n_batch * NB__FFN_TILE;
}
static float *scratch_q(const nb_ctx *c, int32_t ith) {
  return scratch_row(c, ith) + (size_t)NB__MAX(c->hp->dim, c->hp->ffn_dim);
}

/* ------------------------------------------------------- per-token steps */

/* o = w * (x / rms(x)), run.c's order of operations. */
static void rmsnorm(float *o, const float *x, const float *w, int64_t n,
                    float eps) {
  float ss = 0.0f;
  for (int64_t j = 0; j < n; j++) ss += x[j] * x[j];
  ss /= (float)n;
  ss += eps;
  ss = 1.0f / sqrtf(ss);
  for (int64_t j = 0; j < n; j++) o[j] = w[j] * (ss * x[j]);
}

/* The element-wise steps, one token at a time. */
typedef enum tok_op {
  OP_EMBED,      /* x[t] = embedding row of tokens[t] */
  OP_NORM,       /* xb[t - t0] = rmsnorm(x[t]) * norm (t >= t0) */
  OP_ADD,        /* x[t] += y[t] */
  OP_ADD_NORM,   /* x[t] += y[t]; xb[t] = rmsnorm(x[t]) * norm */
  OP_ROPE_STORE, /* rope(q[t], kn[t]); cache[pos0 + t] = kn[t], vn[t] */
  OP_Q8,         /* xq[t] = q8(src[t]) */
  OP_QH          /* xq[t] = prep_qh(src[t]) (kernels.h NB__X_QH) */
} tok_op;

typedef struct tok_task {
  nb_ctx *c;
  tok_op op;
  int32_t nt, t0;        /* tokens [t0, nt) */
  int32_t layer, pos0;
  const int32_t *tokens;
  const float *norm;     /* (dim) */
  const float *y;        /* (nt, dim) f32 */
  const void *src;       /* OP_Q8, OP_QH: (nt, k) A */
  int64_t k;             /* OP_Q8, OP_QH row length */
} tok_task;

static void rope(const nb_ctx *c, float *vec, int32_t n_heads, int32_t t) {
  const nb_hparams *hp = c->hp;
  int32_t half = hp->rope_dim / 2;
  const float *cs = c->rope_cos + (size_t)t * (size_t)half;
  const float *sn = c->rope_sin + (size_t)t * (size_t)half;
  for (int32_t h = 0; h < n_heads; h++) {
    float *v = vec + (size_t)h * (size_t)hp->head_dim;
    for (int32_t i = 0; i < half; i++) {
      float v0 = v[2 * i], v1 = v[2 * i + 1];
      v[2 * i] = v0 * cs[i] - v1 * sn[i];
      v[2 * i + 1] = v0 * sn[i] + v1 * cs[i];
    }
  }
}

static void tok_run(void *arg, int32_t ith, int32_t nth) {
  const tok_task *a = arg;
  nb_ctx *c = a->c;
  const nb_hparams *hp = c->hp;
  int64_t dim = hp->dim, kv_dim = (int64_t)hp->n_kv_heads * hp->head_dim;
  float *row = scratch_row(c, ith); /* (max(dim, ffn)) */
  int64_t b, e;
  nb__split(a->nt - a->t0, ith, nth, 1, &b, &e);
  for (int64_t t = a->t0 + b; t < a->t0 + e; t++) {
    switch (a->op) {
      case OP_EMBED: {
        const nb__mat *E = &c->m->w.tok_embd;
        const void *er = (const char *)E->data + (size_t)a->tokens[t] * E->ldw;
        nb__type_traits_get(E->type)->to_float(er, row, dim);
        store_row(c, row, arow(c, c->x, t, dim), dim);
        break;
      }
      case OP_ADD:
      case OP_ADD_NORM:
      case OP_NORM: {
        void *xt = arow(c, c->x, t, dim);
        load_row(c, xt, row, dim);
        if (a->op != OP_NORM) {
          const float *yt = a->y + (size_t)t * (size_t)dim;
          for (int64_t j = 0; j < dim; j++) row[j] += yt[j];
          store_row(c, row, xt, dim);
          if (a->op == OP_ADD) break;
          load_row(c, xt, row, dim); /* the norm reads the stored value */
        }
        /* in place: rmsnorm reads x[j] before it writes o[j] */
        rmsnorm(row, row, a->norm, dim, hp->norm_eps);
        store_row(c, row, arow(c, c->xb, t - a->t0, dim), dim);
        break;
      }
      case OP_ROPE_STORE: {
        float *qt = c->q + (size_t)t * (size_t)dim;
        float *kt = c->kn + (size_t)t * (size_t)kv_dim;
        const float *vt = c->vn + (size_t)t * (size_t)kv_dim;
        rope(c, qt, hp->n_heads, (int32_t)t);
        rope(c, kt, hp->n_kv_heads, (int32_t)t);
        /* keys are cached transposed, (n_layers, kv_dim, n_ctx): element
         * e of this position goes to column pos of row e (row is free
         * scratch here: kv_dim stored elements fit in dim floats); rows
         * are kv_ld bytes apart (model.h: NB__KV_PAD). Values are cached
         * as they come, (n_layers, n_ctx, kv_dim). */
        const size_t es = c->sz.esize, ldc = c->sz.kv_ld;
        const int64_t pos = a->pos0 + t;
        store_row(c, kt, row, kv_dim);
        char *col = (char *)c->key_cache + (size_t)a->layer * (size_t)kv_dim * ldc + (size_t)pos * es;
        for (int64_t e = 0; e < kv_dim; e++)
          memcpy(col + (size_t)e * ldc, (const char *)row + (size_t)e * es, es);
        store_row(c, vt,
                  (char *)c->value_cache +
                      ((size_t)a->layer * (size_t)c->n_ctx + (size_t)pos) * (size_t)kv_dim * es,
                  kv_dim);
        break;
      }
      case OP_Q8: {
        load_row(c, arow(c, (void *)a->src, t, a->k), row, a->k);
        c->k.quantize_q8(row, (char *)c->xq + (size_t)t * nb__xfmt_row_bytes(NB__X_Q8, a->k), a->k);
        break;
      }
      case OP_QH:
        c->k.prep_qh(arow(c, (void *)a->src, t, a->k),
                     (char *)c->xq + (size_t)t * nb__xfmt_row_bytes(NB__X_QH, a->k), a->k);
        break;
    }
  }
}

/* A single token's element-wise step is too small to be worth a dispatch:
 * it runs on the caller (same result: each token is one thread's work). */
static void tok_step(tok_task *a) {
  if (a->nt - a->t0 <= 1)
    tok_run(a, 0, 1);
  else
    nb__pool_run(a->c->pool, tok_run, a);
}

/* --------------------------------------------------------------- matmul */

/* The matmul input for weight w from the A buffer x (nt rows of k) and its
 * format (*f): the buffer itself, or its Q8 form, or (a batch under f16
 * whose kernel set has NB__X_QH entries) its fixed-point form. A converted
 * form is made once, split over the threads, and reused while x is
 * unchanged (q, k and v; gate and up, which the FFN calls in row tiles):
 * the kernels would otherwise convert the whole input in every call. Under
 * one activation mode only one of the two forms is ever made, so the
 * buffer is keyed by x alone. */
static const void *mm_input(nb_ctx *c, const nb__mat *w, const void *x,
                            int32_t nt, size_t *ldx, nb__xfmt *f) {
  *f = nb__xfmt_for(w->type, (nb_act)c->act);
  if (*f == NB__X_F16 && nt > 1 && c->xq != NULL && c->k.gemm[w->type][NB__X_QH] != NULL)
    *f = NB__X_QH;
  if (*f != NB__X_Q8 && *f != NB__X_QH) {
    *ldx = (size_t)w->k * c->sz.esize;
    return x;
  }
  if (c->xq_src != x) {
    tok_task a = {.c = c, .op = *f == NB__X_Q8 ? OP_Q8 : OP_QH, .nt = nt, .src = x, .k = w->k};
    tok_step(&a);
    c->xq_src = x;
  }
  *ldx = nb__xfmt_row_bytes(*f, w->k);
  return c->xq;
}

/* Up to three independent gemms in one dispatch (q, k and v share it). */
typedef struct mm_job {
  const nb__mat *w;
  const void *x;  /* input rows in format f */
  nb__xfmt f;
  size_t ldx;
  float *y;       /* (nt, ldy) */
  int64_t ldy;
} mm_job;

typedef struct mm_task {
  nb_ctx *c;
  int32_t nt;
  int n_jobs;
  mm_job job[NB__SHARE_JOBS];
  bool shared; /* rows taken through c->share (one token), else split */
} mm_task;

/* Decode's matmuls share their rows out (sys/share.h) in units of 16 rows
 * (the kernels' tiles); a stolen piece is about 128 KiB of weights, at
 * least one unit. */
#define NB__SHARE_UNIT 16
static int64_t share_min(const nb__mat *w) {
  int64_t u = (int64_t)(128 * 1024 / ((size_t)NB__SHARE_UNIT * w->ldw));
  return u < 1 ? 1 : u;
}
static int64_t share_units(const nb__mat *w) {
  return (w->n + NB__SHARE_UNIT - 1) / NB__SHARE_UNIT;
}

/* Slot (j, i) of job j's row range for thread i: the even split. */
static void share_set(nb_ctx *c, int j, const nb__mat *w) {
  int32_t nth = c->n_threads;
  for (int32_t i = 0; i < nth; i++) {
    int64_t b, e;
    nb__split(share_units(w), i, nth, 1, &b, &e);
    nb__share_set(&c->share[(size_t)j * (size_t)nth + (size_t)i], b, e);
  }
}

/* Job j's next piece for thread ith: its own range first (own = 1), then
 * the back of the others' (own = 0, from the next thread on). Rows
 * [*r0, *r1); 0 when nothing is left. */
static int share_take(nb_ctx *c, int j, const nb__mat *w, int32_t ith, int32_t nth,
                      int own, int64_t *r0, int64_t *r1) {
  nb__share *s = c->share + (size_t)j * (size_t)nth;
  int64_t b, e, min = share_min(w);
  int got = 0;
  if (own) {
    got = nb__share_front(&s[ith], min, &b, &e);
  } else {
    for (int32_t o = 1; o < nth && !got; o++)
      got = nb__share_back(&s[(ith + o) % nth], min, &b, &e);
  }
  if (!got) return 0;
  *r0 = b * NB__SHARE_UNIT;
  *r1 = NB__MIN(e * NB__SHARE_UNIT, w->n);
  return 1;
}

static void mm_one(const mm_task *a, const mm_job *jb, int64_t r0, int64_t r1) {
  nb__gemm_fn fn = a->c->k.gemm[jb->w->type][jb->f];
  fn(jb->w->k, jb->w->data, jb->w->ldw, jb->x, jb->ldx, jb->y, jb->ldy, r0, r1, a->nt);
}

static void mm_run(void *arg, int32_t ith, int32_t nth) {
  const mm_task *a = arg;
  if (a->shared) {
    int64_t r0, r1;
    for (int own = 1; own >= 0; own--)
      for (int j = 0; j < a->n_jobs; j++)
        while (share_take(a->c, j, a->job[j].w, ith, nth, own, &r0, &r1))
          mm_one(a, &a->job[j], r0, r1);
    return;
  }
  for (int j = 0; j < a->n_jobs; j++) {
    const mm_job *jb = &a->job[j];
    int64_t r0, r1;
    nb__split(jb->w->n, ith, nth, 16, &r0, &r1);
    if (r0 >= r1) continue;
    mm_one(a, jb, r0, r1);
  }
}

/* Runs the task's gemms on the pool: one token shares the rows out, a
 * batch splits them evenly (its kernels pack and prepare per call, and
 * prefill is bound by arithmetic, not by where rows sit in memory). */
static bool share_on(const nb_ctx *c, int32_t nt) { return nt == 1 && c->n_threads > 1; }

static void mm_dispatch(nb_ctx *c, mm_task *t) {
  t->shared = share_on(c, t->nt);
  if (t->shared)
    for (int j = 0; j < t->n_jobs; j++) share_set(c, j, t->job[j].w);
  nb__pool_run(c->pool, mm_run, t);
}

static void mm_add(nb_ctx *c, mm_task *t, const nb__mat *w, const void *x,
                   float *y, int64_t ldy) {
  mm_job *jb = &t->job[t->n_jobs++];
  jb->w = w;
  jb->x = mm_input(c, w, x, t->nt, &jb->ldx, &jb->f);
  jb->y = y;
  jb->ldy = ldy;
}

/* ------------------------------------------------------------ attention */

typedef struct att_task {
  nb_ctx *c;
  int32_t nt, layer, pos0;
} att_task;

/* Item i = (tokens t0 .. t0 + nq - 1, kv head g), nq <= tq
 * (nb__att_tq): for each token t and each of the kv_mul query heads h of
 * group g, softmax(q_h K_g^T / sqrt(hd)) V_g over positions 0..pos0+t,
 * written to xb[t] at head h. Both products are gemm_nn calls (kernels.h),
 * which keep the output's columns in the vector lanes and sum in run.c's
 * order, so every kernel set gives the same bits: the scores are the heads'
 * q times the transposed keys (columns = positions; a dot product form
 * would need a horizontal sum per 64-element head), the output the
 * probabilities times the values as cached (columns = head elements).
 * An item's rows (token, head) share each key and value load. The scores
 * are computed up to the last token's position (a row's extra columns are
 * never read); the output sums the positions all rows have in one call and
 * each later token's own last positions after it, one by one in the same
 * order and rounding (acc = acc + p * v, product and sum rounded apart),
 * so a row's result is what a call of its own would give.
 * Items are dealt round-robin: with causal attention item cost grows with
 * t, and contiguous ranges would give the last thread most of the work.
 * Every item is computed the same way whatever the thread, batch or split,
 * so results do not depend on them. */
static void att_run(void *arg, int32_t ith, int32_t nth) {
  const att_task *a = arg;
  nb_ctx *c = a->c;
  const nb_hparams *hp = c->hp;
  int32_t hd = hp->head_dim, kv_mul = hp->n_heads / hp->n_kv_heads;
  int32_t tq = nb__att_tq(kv_mul, hp->n_kv_heads);
  int64_t dim = hp->dim, kv_dim = (int64_t)hp->n_kv_heads * hd;
  float *att = scratch_att(c, ith);   /* (nq * kv_mul, n_ctx) */
  float *out = scratch_row(c, ith);   /* (nq * kv_mul, hd) */
  float *qs = scratch_q(c, ith);      /* (nq * kv_mul, hd) */
  float scale = sqrtf((float)hd);
  /* the cache's element type: f32 under --act f32, else f16 */
  uint32_t ktype = c->act == NB_ACT_F32 ? NB_TYPE_F32 : NB_TYPE_F16;
  nb__gemm_nn_fn nn = c->k.gemm_nn[ktype];
  /* keys transposed: (kv_dim, n_ctx) per layer, ldc bytes between rows
   * (n_ctx plus padding), group g's rows from row g * hd; values
   * (n_ctx, kv_dim) per layer, ldv bytes between positions */
  size_t ldc = c->sz.kv_ld, ldv = (size_t)kv_dim * c->sz.esize;
  int64_t n_blk = (a->nt + tq - 1) / tq;
  int64_t n_items = n_blk * hp->n_kv_heads;
  for (int64_t it = ith; it < n_items; it += nth) {
    int32_t t0 = (int32_t)(it / hp->n_kv_heads) * tq, g = (int32_t)(it % hp->n_kv_heads);
    int32_t nq = NB__MIN(tq, a->nt - t0);
    int64_t m = (int64_t)nq * kv_mul; /* rows: (token, head) */
    int32_t n_first = a->pos0 + t0 + 1, n_last = a->pos0 + t0 + nq;
    size_t k_off = ((size_t)a->layer * (size_t)kv_dim + (size_t)g * (size_t)hd) * ldc;
    size_t v_off = (size_t)a->layer * (size_t)c->n_ctx * ldv + (size_t)g * (size_t)hd * c->sz.esize;
    const char *vg = (const char *)c->value_cache + v_off;
    /* q of heads g*kv_mul .. of tokens t0 ..: (m, hd); one token's are
     * contiguous in q, several are gathered */
    const float *qg = c->q + (size_t)t0 * (size_t)dim + (size_t)g * (size_t)kv_mul * (size_t)hd;
    if (nq > 1) {
      for (int32_t i = 0; i < nq; i++)
        memcpy(qs + (size_t)i * (size_t)kv_mul * (size_t)hd, qg + (size_t)i * (size_t)dim,
               (size_t)kv_mul * (size_t)hd * sizeof(float));
      qg = qs;
    }
    /* att (m, n_last) = q (m, hd) x K^T (hd, n_last): gemm_nn, the
     * positions in the vector lanes, run.c's summation order */
    nn(m, n_last, hd, qg, (size_t)hd, (const char *)c->key_cache + k_off, ldc, att,
       (size_t)c->n_ctx);
    /* softmax(scores / sqrt(hd)) per row over its own positions
     * (kernels.h: the same bits in every set) */
    for (int64_t r = 0; r < m; r++)
      c->k.softmax(att + (size_t)r * (size_t)c->n_ctx, n_first + (int32_t)(r / kv_mul), scale);
    /* out (m, hd) = att (m, n_first) x V (n_first, hd): gemm_nn again,
     * run.c's order (xb[i] += a * v[i] over the positions) */
    nn(m, hd, n_first, att, (size_t)c->n_ctx, vg, ldv, out, (size_t)hd);
    /* then each later token's last positions, in order (the value row
     * loaded into qs, free after the scores) */
    for (int32_t p = n_first; p < n_last; p++) {
      load_row(c, vg + (size_t)p * ldv, qs, hd);
      for (int64_t r = (int64_t)(p - n_first + 1) * kv_mul; r < m; r++) {
        const float pr = att[(size_t)r * (size_t)c->n_ctx + (size_t)p];
        float *o = out + (size_t)r * (size_t)hd;
        for (int32_t j = 0; j < hd; j++) o[j] = o[j] + pr * qs[j];
      }
    }
    for (int64_t r = 0; r < m; r++) {
      int32_t t = t0 + (int32_t)(r / kv_mul), h = g * kv_mul + (int32_t)(r % kv_mul);
      store_row(c, out + (size_t)r * (size_t)hd,
                (char *)arow(c, c->xb, t, dim) + (size_t)h * (size_t)hd * c->sz.esize, hd);
    }
  }
}

/* ------------------------------------------------------------------ FFN */

typedef struct ffn_task {
  nb_ctx *c;
  const nb__layer *L;
  int32_t nt;
  const void *xg, *xu;  /* input in the gate / up kernels' formats fg, fu */
  nb__xfmt fg, fu;
  size_t ldg, ldu;
  bool shared;          /* rows taken through c->share (one token) */
} ffn_task;

/* Rows of gate and up are split over threads and walked in tiles of mt
 * rows: both tiles are computed for all tokens into scratch, then
 * silu(gate) * up is stored to hb (no (nt, ffn) f32 buffers needed). The
 * scratch holds n_batch * NB__FFN_TILE floats per tile, so fewer tokens get
 * taller tiles: one token (decode) takes its whole row range in one call
 * per matrix, which keeps the kernels' per-call work (input conversion,
 * prefetch ramp-up) out of the loop. Results do not depend on mt (kernels.h
 * determinism contract). */
static void ffn_rows(const ffn_task *a, int32_t ith, int64_t r0, int64_t r1) {
  nb_ctx *c = a->c;
  const nb__layer *L = a->L;
  int64_t ffn = c->hp->ffn_dim;
  const int64_t mt = (int64_t)c->n_batch * NB__FFN_TILE / a->nt;
  float *sg = scratch_tiles(c, ith);                      /* (nt, mt) */
  float *su = sg + (size_t)c->n_batch * NB__FFN_TILE;     /* (nt, mt) */
  nb__gemm_fn gate = c->k.gemm[L->w_gate.type][a->fg], up = c->k.gemm[L->w_up.type][a->fu];
  for (int64_t a0 = r0; a0 < r1; a0 += mt) {
    int64_t m = NB__MIN(mt, r1 - a0);
    gate(L->w_gate.k, (const char *)L->w_gate.data + (size_t)a0 * L->w_gate.ldw,
         L->w_gate.ldw, a->xg, a->ldg, sg, mt, 0, m, a->nt);
    up(L->w_up.k, (const char *)L->w_up.data + (size_t)a0 * L->w_up.ldw,
       L->w_up.ldw, a->xu, a->ldu, su, mt, 0, m, a->nt);
    for (int32_t t = 0; t < a->nt; t++) {
      float *g = sg + (size_t)t * (size_t)mt;
      const float *u = su + (size_t)t * (size_t)mt;
      c->k.swiglu(g, u, m); /* silu(g) * u (the scalar set: as run.c) */
      store_row(c, g, (char *)arow(c, c->hb, t, ffn) + (size_t)a0 * c->sz.esize, m);
    }
  }
}

/* Gate and up rows (one unit range for both, shared out as in mm_run for
 * one token). */
static void ffn_run(void *arg, int32_t ith, int32_t nth) {
  const ffn_task *a = arg;
  int64_t r0, r1;
  if (a->shared) {
    for (int own = 1; own >= 0; own--)
      while (share_take(a->c, 0, &a->L->w_gate, ith, nth, own, &r0, &r1))
        ffn_rows(a, ith, r0, r1);
    return;
  }
  nb__split(a->c->hp->ffn_dim, ith, nth, 16, &r0, &r1);
  if (r0 < r1) ffn_rows(a, ith, r0, r1);
}

/* ------------------------------------------------------------- forward */

/* cos/sin of pos * base^(-2i/rope_dim) for every token of the batch and pair
 * i (llama.cpp's "normal" rope = run.c: pairs (x[2i], x[2i+1])). */
static void rope_table(nb_ctx *c, int32_t nt) {
  const nb_hparams *hp = c->hp;
  int32_t half = hp->rope_dim / 2;
  for (int32_t t = 0; t < nt; t++) {
    int32_t pos = c->pos + t;
    for (int32_t i = 0; i < half; i++) {
      float freq = 1.0f / powf(hp->rope_base, (float)(2 * i) / (float)hp->rope_dim);
      float val = (float)pos * freq;
      c->rope_cos[(size_t)t * half + i] = cosf(val);
      c->rope_sin[(size_t)t * half + i] = sinf(val);
    }
  }
}

int nb__forward(nb_ctx *c, const int32_t *tokens, int32_t nt, float *all) {
  const nb_hparams *hp = c->hp;
  const nb__weights *w = &c->m->w;
  int64_t dim = hp->dim, kv_dim = (int64_t)hp->n_kv_heads * hp->head_dim;
  int32_t pos0 = c->pos;
  c->xq_src = NULL;

  tok_task emb = {.c = c, .op = OP_EMBED, .nt = nt, .tokens = tokens};
  tok_step(&emb);
  rope_table(c, nt);

  for (int32_t l = 0; l < hp->n_layers; l++) {
    if (c->cancel != NULL && *c->cancel) return NB_ECANCELED;
    const nb__layer *L = &w->layers[l];

    /* attention: xb = rmsnorm(x); q, k, v; rope; cache */
    tok_task n1 = {.c = c, .op = OP_NORM, .nt = nt, .norm = L->attn_norm};
    tok_step(&n1);
    c->xq_src = NULL;
    mm_task qkv = {.c = c, .nt = nt};
    mm_add(c, &qkv, &L->wq, c->xb, c->q, dim);
    mm_add(c, &qkv, &L->wk, c->xb, c->kn, kv_dim);
    mm_add(c, &qkv, &L->wv, c->xb, c->vn, kv_dim);
    mm_dispatch(c, &qkv);
    tok_task rs = {.c = c, .op = OP_ROPE_STORE, .nt = nt, .layer = l, .pos0 = pos0};
    tok_step(&rs);

    att_task at = {.c = c, .nt = nt, .layer = l, .pos0 = pos0};
    nb__pool_run(c->pool, att_run, &at);
    c->xq_src = NULL;

    /* x += xb Wo (into q, free now); xb = rmsnorm(x) */
    mm_task o = {.c = c, .nt = nt};
    mm_add(c, &o, &L->wo, c->xb, c->q, dim);
    mm_dispatch(c, &o);
    tok_task n2 = {.c = c, .op = OP_ADD_NORM, .nt = nt, .y = c->q, .norm = L->ffn_norm};
    tok_step(&n2);
    c->xq_src = NULL;

    /* FFN: hb = silu(xb Wgate) * (xb Wup); x += hb Wdown */
    ffn_task f = {.c = c, .L = L, .nt = nt};
    f.xg = mm_input(c, &L->w_gate, c->xb, nt, &f.ldg, &f.fg);
    f.xu = mm_input(c, &L->w_up, c->xb, nt, &f.ldu, &f.fu);
    f.shared = share_on(c, nt);
    if (f.shared) share_set(c, 0, &L->w_gate);
    nb__pool_run(c->pool, ffn_run, &f);
    c->xq_src = NULL;
    mm_task d = {.c = c, .nt = nt};
    mm_add(c, &d, &L->w_down, c->hb, c->q, dim);
    mm_dispatch(c, &d);
    tok_task r2 = {.c = c, .op = OP_ADD, .nt = nt, .y = c->q};
    tok_step(&r2);
  }

  /* final norm and classifier: every token when `all`, else the last */
  int32_t t0 = all ? 0 : nt - 1;
  tok_task nf = {.c = c, .op = OP_NORM, .nt = nt, .t0 = t0, .norm = w->output_norm};
  tok_step(&nf);
  c->xq_src = NULL;
  mm_task lo = {.c = c, .nt = nt - t0};
  float *y = all ? all : c->logits;
  mm_add(c, &lo, &w->output, c->xb, y, hp->n_vocab);
  mm_dispatch(c, &lo);
  if (all)
    memcpy(c->logits, all + (size_t)(nt - 1) * (size_t)hp->n_vocab,
           (size_t)hp->n_vocab * sizeof(float));
  return 0;
}
