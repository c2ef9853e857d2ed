/*
 * ctx.h: the State of an evaluation context (llama2.c's RunState): KV cache,
 * activation buffers for one batch of up to n_batch tokens, logits, the
 * kernel table and the thread pool. Everything is allocated once in
 * nb_ctx_new; the forward pass (forward.c) never allocates.
 */
#ifndef NB_CTX_H
#define NB_CTX_H

#include "kernels.h"
#include "model.h"
#include "sys/pool.h"
#include "sys/share.h"

struct nb_ctx {
  nb_model *m;            /* borrowed; outlives the context */
  const nb_hparams *hp;   /* = &m->hp */
  int act;                /* nb_act */
  int32_t n_ctx;          /* positions the KV cache holds */
  int32_t n_batch;        /* tokens per forward chunk */
  int32_t pos;            /* tokens in the KV cache */
  int32_t n_threads;
  nb__state_size sz;
  nb__kernels k;          /* kernel table (copied, no globals) */
  nb__pool *pool;         /* owned */
  volatile int *cancel;   /* borrowed; may be NULL */

  /* Stored activations are act-typed: float under NB_ACT_F32, nb_f16 under
   * NB_ACT_F16 and NB_ACT_Q8 ("A" below, sz.esize bytes each). */
  void *key_cache;        /* (n_layers, kv_dim, n_ctx) A, transposed */
  void *value_cache;      /* (n_layers, n_ctx, kv_dim) A */
  void *x;                /* (n_batch, dim) A: the residual stream */
  void *xb;               /* (n_batch, dim) A: norm output / attention out */
  void *hb;               /* (n_batch, ffn_dim) A: FFN hidden silu(g)*u */
  void *xq;               /* (n_batch, wide/32) blocks: the current matmul
                             input converted once for all its gemms and
                             threads: q8_0 under NB_ACT_Q8; under NB_ACT_F16
                             the kernels' NB__X_QH rows (batches only, sets
                             with prep_qh; else NULL) */
  const void *xq_src;     /* which buffer xq currently holds (NULL: none) */
  float *q;               /* (n_batch, dim) f32: queries; reused as the f32
                             output of attn_output and ffn_down */
  float *kn, *vn;         /* (n_batch, kv_dim) f32: new keys and values */
  float *rope_cos;        /* (n_batch, rope_dim/2) */
  float *rope_sin;        /* (n_batch, rope_dim/2) */
  float *logits;          /* (n_vocab) */
  bool has_logits;
  char *scratch;          /* (n_threads, sz.scratch_bytes) per-thread */
  nb__share *share;       /* (NB__SHARE_JOBS, n_threads): decode's row
                             ranges (forward.c, sys/share.h) */
  void *block;            /* owned: the one allocation all buffers live in */
};

/* Matmuls one pool run can share out at most (q, k and v). */
#define NB__SHARE_JOBS 3

/* Runs the forward pass over tokens[0..n) at positions pos..pos+n-1 (n <=
 * n_batch; checked by the caller). Logits of the last token go to c->logits,
 * and when `all` is not NULL the logits of every token to all[t * n_vocab].
 * Returns NB_ECANCELED if the cancel flag was seen (the caller rolls back). */
int nb__forward(nb_ctx *c, const int32_t *tokens, int32_t n, float *all);

#endif /* NB_CTX_H */
