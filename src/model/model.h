/*
 * model.h: the bound model, llama2.c style: Config (nb_hparams) and Weights
 * are kept apart from the State (nb_ctx, ctx.h). Everything here is checked
 * once, in nb_model_load, so the forward pass trusts it.
 */
#ifndef NB_MODEL_H
#define NB_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "nibble.h"

/* A weight matrix: a BORROWED view into the GGUF mapping (valid while the
 * model is open). Row r (n rows of k elements, ggml ne = {k, n}) starts at
 * data + r * ldw bytes. type has a gemm kernel; k is a multiple of the type's
 * block size. */
typedef struct nb__mat {
  const void *data;
  uint32_t type;  /* nb_type */
  int64_t k;      /* input length = ne[0] */
  int64_t n;      /* output rows  = ne[1] */
  size_t ldw;     /* bytes per row */
} nb__mat;

/* One transformer block. The two norm vectors are OWNED f32 copies (dim
 * floats each, made at bind time): they are tiny, and owning them lets the
 * file store them as F16 or at any alignment without a check per use. */
typedef struct nb__layer {
  float *attn_norm;  /* (dim) */
  nb__mat wq;        /* (dim -> dim)        blk.N.attn_q.weight */
  nb__mat wk;        /* (dim -> kv_dim)     blk.N.attn_k.weight */
  nb__mat wv;        /* (dim -> kv_dim)     blk.N.attn_v.weight */
  nb__mat wo;        /* (dim -> dim)        blk.N.attn_output.weight */
  float *ffn_norm;   /* (dim) */
  nb__mat w_gate;    /* (dim -> ffn_dim)    blk.N.ffn_gate.weight (w1) */
  nb__mat w_up;      /* (dim -> ffn_dim)    blk.N.ffn_up.weight   (w3) */
  nb__mat w_down;    /* (ffn_dim -> dim)    blk.N.ffn_down.weight (w2) */
} nb__layer;

typedef struct nb__weights {
  nb__mat tok_embd;   /* (vocab rows of dim) token_embd.weight */
  nb__layer *layers;  /* (n_layers), owned */
  float *output_norm; /* (dim), owned copy */
  nb__mat output;     /* (dim -> vocab): output.weight, or tok_embd if tied */
  float *norm_store;  /* owned block holding every norm vector above */
} nb__weights;

struct nb_model {
  nb_gguf *g;         /* owned: the open file all views point into */
  nb_hparams hp;      /* Config */
  nb__weights w;      /* Weights */
  uint64_t n_params;
  uint64_t weight_bytes;
};

/* Largest batch (tokens pushed through a layer together); longer prompts are
 * evaluated in chunks of this many tokens. */
#define NB__MAX_BATCH 512

/* Sizes of the State for a context: shared by nb_ctx_new (which allocates
 * exactly this) and nb_model_state_bytes (which reports it). */
typedef struct nb__state_size {
  int32_t n_batch;       /* tokens per chunk: min(NB__MAX_BATCH, n_ctx) */
  size_t esize;          /* bytes of a stored activation: 4 (f32) or 2 */
  size_t kv_bytes;       /* one of K or V: K (n_layers, kv_dim, kv_ld);
                            V (n_layers, n_ctx, kv_dim) fits in it */
  size_t kv_ld;          /* bytes between cache rows: n_ctx + NB__KV_PAD
                            elements (see below) */
  size_t x_bytes;        /* residual stream (n_batch, dim) */
  size_t xb_bytes;       /* norm / attention output (n_batch, dim) */
  size_t hb_bytes;       /* FFN hidden (n_batch, ffn_dim) */
  size_t xq_bytes;       /* its Q8 form (q8 mode only, else 0) */
  size_t q_bytes;        /* f32 (n_batch, dim) */
  size_t kv_new_bytes;   /* f32 (n_batch, kv_dim), for each of k and v */
  size_t rope_bytes;     /* f32 (n_batch, rope_dim / 2) cos and sin each */
  size_t logits_bytes;   /* f32 (n_vocab) */
  size_t scratch_bytes;  /* per thread: attention scores + ffn tiles */
  uint64_t total1;       /* everything, with one thread's scratch */
} nb__state_size;

void nb__state_size_for(const nb_hparams *hp, int32_t n_ctx, int act,
                        nb__state_size *s);

/* Elements of padding after each key cache row. Why: the keys are stored
 * transposed (one row per key element, positions along it), and a
 * power-of-two n_ctx made the row stride a multiple of 4 KiB: the 64 rows
 * of one head then all fall in the same L1 set, and the scores kernel,
 * which reads them in turn, thrashed it (slower than short dot products).
 * 32 elements (64 or 128 bytes) move each next row to another set. */
#define NB__KV_PAD 32

/* Query tokens per attention item (forward.c's att_run): enough that an
 * item's score rows, its tokens x the query heads of one kv head, fill
 * the gemm_nn kernels' 4-row tiles, which load (and convert from f16)
 * each cached key and value once per tile. Why: with one query head per
 * kv head (Llama-2 7B) a token alone used a quarter of every load, and
 * attention took 14-17% of 7B pp512. Models with 4 or more query heads
 * per kv head keep one token per item. At most n_kv_heads tokens, so an
 * item's rows (tq * kv_mul <= n_heads) times head_dim fit the dim floats
 * of a scratch row: a model with fewer than 4 heads (and an FFN under 4 x
 * dim) overran it into the item's queries, and its batches gave other
 * logits than token by token. */
#define NB__ATT_ROWS 4
static inline int32_t nb__att_tq(int32_t kv_mul, int32_t n_kv_heads) {
  const int32_t tq = kv_mul >= NB__ATT_ROWS ? 1 : NB__ATT_ROWS / kv_mul;
  return tq < n_kv_heads ? tq : n_kv_heads;
}

/* Rows of a gate/up tile in the fused FFN (per-thread scratch). */
#define NB__FFN_TILE 512

#endif /* NB_MODEL_H */
