/*
 * model.c: nb_model_load binds a GGUF file as a Llama model. Every key and
 * tensor the forward pass uses is read and checked here, once: names, types
 * (a gemm kernel exists for them), shapes, alignment, and the consistency of
 * the hyper-parameters with each other and with the tensors. A failure is
 * NB_EMODEL (or the reader's code) with a message naming the key or tensor.
 */
#include <stdio.h>
#include <string.h>

#include "kernels.h" /* NB__QH_BLOCK */
#include "model.h"
#include "nb_internal.h"
#include "types.h"

/* ------------------------------------------------------------ hparams */

/* Reads an integer key into [lo, hi]. `def` < 0: the key is required. */
static int get_i32(const nb_gguf *g, const char *key, int64_t def, int64_t lo,
                   int64_t hi, int32_t *out, nb_err *err) {
  int64_t v = def;
  if (nb_gguf_find_key(g, key) >= 0) {
    int rc = nb_gguf_get_int(g, key, &v, err);
    if (rc < 0) return nb__err_prefix(err, NB_EMODEL, "key %s", key);
  } else if (def < 0) {
    return nb__err(err, NB_EMODEL, "key %s is missing", key);
  }
  if (v < lo || v > hi)
    return nb__err(err, NB_EMODEL, "key %s = %lld is out of range [%lld, %lld]",
                   key, (long long)v, (long long)lo, (long long)hi);
  *out = (int32_t)v;
  return 0;
}

static int get_f32(const nb_gguf *g, const char *key, float def, float lo,
                   float hi, float *out, nb_err *err) {
  float v = def;
  if (nb_gguf_find_key(g, key) >= 0) {
    int rc = nb_gguf_get_f32(g, key, &v, err);
    if (rc < 0) return nb__err_prefix(err, NB_EMODEL, "key %s", key);
  }
  if (!(v >= lo && v <= hi)) /* also refuses NaN */
    return nb__err(err, NB_EMODEL, "key %s = %g is out of range [%g, %g]", key,
                   (double)v, (double)lo, (double)hi);
  *out = v;
  return 0;
}

static int read_hparams(const nb_gguf *g, nb_hparams *hp, nb_err *err) {
  nb_str arch;
  if (nb_gguf_find_key(g, "general.architecture") < 0)
    return nb__err(err, NB_EMODEL, "key general.architecture is missing");
  if (nb_gguf_get_str(g, "general.architecture", &arch, err) < 0)
    return nb__err(err, NB_EMODEL, "key general.architecture is not a string");
  if (arch.len != 5 || memcmp(arch.data, "llama", 5) != 0)
    return nb__err(err, NB_EMODEL,
                   "general.architecture is '%.*s'; only 'llama' is supported",
                   (int)NB__MIN(arch.len, 64), arch.data);
  int rc;
  memset(hp, 0, sizeof *hp);
  if ((rc = get_i32(g, "llama.context_length", -1, 1, 1 << 24, &hp->n_ctx_train, err)) < 0 ||
      (rc = get_i32(g, "llama.embedding_length", -1, 1, 65536, &hp->dim, err)) < 0 ||
      (rc = get_i32(g, "llama.block_count", -1, 1, 1024, &hp->n_layers, err)) < 0 ||
      (rc = get_i32(g, "llama.feed_forward_length", -1, 1, 1 << 20, &hp->ffn_dim, err)) < 0 ||
      (rc = get_i32(g, "llama.attention.head_count", -1, 1, 4096, &hp->n_heads, err)) < 0 ||
      (rc = get_i32(g, "llama.attention.head_count_kv", hp->n_heads, 1, 4096, &hp->n_kv_heads, err)) < 0)
    return rc;
  if (hp->dim % hp->n_heads != 0)
    return nb__err(err, NB_EMODEL,
                   "llama.embedding_length %d is not a multiple of "
                   "llama.attention.head_count %d", hp->dim, hp->n_heads);
  if (hp->n_heads % hp->n_kv_heads != 0)
    return nb__err(err, NB_EMODEL,
                   "llama.attention.head_count %d is not a multiple of "
                   "llama.attention.head_count_kv %d", hp->n_heads, hp->n_kv_heads);
  hp->head_dim = hp->dim / hp->n_heads;
  if ((rc = get_i32(g, "llama.rope.dimension_count", hp->head_dim, 2, hp->head_dim, &hp->rope_dim, err)) < 0)
    return rc;
  if (hp->rope_dim % 2 != 0)
    return nb__err(err, NB_EMODEL, "llama.rope.dimension_count %d is odd", hp->rope_dim);
  if ((rc = get_f32(g, "llama.rope.freq_base", 10000.0f, 1.0f, 1e12f, &hp->rope_base, err)) < 0 ||
      (rc = get_f32(g, "llama.attention.layer_norm_rms_epsilon", 1e-5f, 0.0f, 1.0f, &hp->norm_eps, err)) < 0)
    return rc;
  return 0;
}

/* ------------------------------------------------------------ tensors */

static const nb_tensor_info *find(const nb_gguf *g, const char *name) {
  int64_t i = nb_gguf_find_tensor(g, name);
  return i < 0 ? NULL : nb_gguf_tensor(g, i);
}

/* Shape {k, n} (a 1-D tensor is {k, 1}); trailing dims must be 1. */
static int check_shape(const nb_tensor_info *t, const char *name, int64_t k,
                       int64_t n, nb_err *err) {
  int64_t ne2 = t->n_dims > 2 ? t->ne[2] : 1, ne3 = t->n_dims > 3 ? t->ne[3] : 1;
  int64_t ne1 = t->n_dims > 1 ? t->ne[1] : 1;
  if (t->ne[0] != k || ne1 != n || ne2 != 1 || ne3 != 1)
    return nb__err(err, NB_EMODEL,
                   "tensor %s: shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                   name, (long long)t->ne[0], (long long)ne1, (long long)ne2,
                   (long long)ne3, (long long)k, (long long)n);
  return 0;
}

/* The types the executor has gemm kernels for (every kernel set fills all of
 * them for every input format; nb_ctx_new re-checks the chosen table). */
static bool matrix_type_ok(uint32_t type) {
  return type == NB_TYPE_F32 || type == NB_TYPE_F16 || type == NB_TYPE_BF16 ||
         type == NB_TYPE_Q8_0 || type == NB_TYPE_Q4_0;
}

static int bind_mat(const nb_gguf *g, const char *name, int64_t k, int64_t n,
                    nb__mat *m, nb_err *err) {
  const nb_tensor_info *t = find(g, name);
  if (t == NULL) return nb__err(err, NB_EMODEL, "tensor %s is missing", name);
  int rc = check_shape(t, name, k, n, err);
  if (rc < 0) return rc;
  if (!matrix_type_ok(t->type))
    return nb__err(err, NB_EMODEL,
                   "tensor %s: type %s has no matmul kernel (need f32, f16, "
                   "bf16, q8_0 or q4_0)", name, nb_type_name(t->type));
  size_t ldw = nb_type_row_bytes(t->type, k);
  if (ldw == 0)
    return nb__err(err, NB_EMODEL,
                   "tensor %s: row length %lld is not a multiple of the %s "
                   "block size", name, (long long)k, nb_type_name(t->type));
  uint64_t need;
  if (!nb__mul_u64(ldw, (uint64_t)n, &need) || need > t->nbytes)
    return nb__err(err, NB_EMODEL, "tensor %s: data is smaller than its shape",
                   name);
  /* Kernels read F32 as float and the rest as 16-bit fields. */
  size_t al = t->type == NB_TYPE_F32 ? 4 : 2;
  if ((uintptr_t)t->data % al != 0)
    return nb__err(err, NB_EMODEL, "tensor %s: data is not %zu-byte aligned",
                   name, al);
  m->data = t->data;
  m->type = t->type;
  m->k = k;
  m->n = n;
  m->ldw = ldw;
  return 0;
}

/* Norm vector (dim) of F32/F16/BF16, copied to f32 in dst. */
static int bind_norm(const nb_gguf *g, const char *name, int64_t dim,
                     float *dst, nb_err *err) {
  const nb_tensor_info *t = find(g, name);
  if (t == NULL) return nb__err(err, NB_EMODEL, "tensor %s is missing", name);
  int rc = check_shape(t, name, dim, 1, err);
  if (rc < 0) return rc;
  if (t->type != NB_TYPE_F32 && t->type != NB_TYPE_F16 && t->type != NB_TYPE_BF16)
    return nb__err(err, NB_EMODEL, "tensor %s: norm weights must be f32 or "
                   "f16, not %s", name, nb_type_name(t->type));
  const nb__type_traits *tt = nb__type_traits_get(t->type);
  if (tt == NULL || tt->to_float == NULL || t->nbytes < nb_type_row_bytes(t->type, dim))
    return nb__err(err, NB_EMODEL, "tensor %s: unreadable", name);
  if (t->type == NB_TYPE_F32) {
    memcpy(dst, t->data, (size_t)dim * 4); /* the mapping may be unaligned */
  } else {
    /* 16-bit types: copy first so to_float reads an aligned buffer */
    uint16_t tmp[256];
    for (int64_t i0 = 0; i0 < dim; i0 += 256) {
      int64_t m = NB__MIN(256, dim - i0);
      memcpy(tmp, (const char *)t->data + i0 * 2, (size_t)m * 2);
      tt->to_float(tmp, dst + i0, m);
    }
  }
  for (int64_t i = 0; i < dim; i++)
    if (!(dst[i] == dst[i] && dst[i] - dst[i] == 0.0f))
      return nb__err(err, NB_EMODEL, "tensor %s: element %lld is not finite",
                     name, (long long)i);
  return 0;
}

static uint64_t mat_params(const nb__mat *m) { return (uint64_t)m->k * (uint64_t)m->n; }
static uint64_t mat_bytes(const nb__mat *m) { return (uint64_t)m->ldw * (uint64_t)m->n; }

static int bind_weights(nb_model *m, nb_err *err) {
  const nb_gguf *g = m->g;
  nb_hparams *hp = &m->hp;
  nb__weights *w = &m->w;
  int64_t dim = hp->dim, kv_dim = (int64_t)hp->n_kv_heads * hp->head_dim;
  int64_t ffn = hp->ffn_dim;
  int rc;

  /* vocabulary size comes from the embedding */
  const nb_tensor_info *te = find(g, "token_embd.weight");
  if (te == NULL) return nb__err(err, NB_EMODEL, "tensor token_embd.weight is missing");
  if (te->n_dims < 2 || te->ne[1] < 1 || te->ne[1] > (1 << 24))
    return nb__err(err, NB_EMODEL, "tensor token_embd.weight: bad vocabulary "
                   "dimension");
  hp->n_vocab = (int32_t)te->ne[1];
  if (nb_gguf_find_key(g, "tokenizer.ggml.tokens") >= 0) {
    int64_t i = nb_gguf_find_key(g, "tokenizer.ggml.tokens");
    uint64_t nt = nb_gguf_arr_len(g, i);
    if (nb_gguf_kv_type(g, i) != NB_GGUF_ARRAY || nt != (uint64_t)hp->n_vocab)
      return nb__err(err, NB_EMODEL,
                     "tokenizer.ggml.tokens has %llu entries but "
                     "token_embd.weight has %d rows",
                     (unsigned long long)nt, hp->n_vocab);
  }
  if ((rc = bind_mat(g, "token_embd.weight", dim, hp->n_vocab, &w->tok_embd, err)) < 0)
    return rc;
  if (nb__type_traits_get(w->tok_embd.type) == NULL ||
      nb__type_traits_get(w->tok_embd.type)->to_float == NULL)
    return nb__err(err, NB_EMODEL, "tensor token_embd.weight: no row decoder");

  w->layers = nb_calloc((size_t)hp->n_layers, sizeof *w->layers);
  w->norm_store = nb_malloc(((size_t)hp->n_layers * 2 + 1) * (size_t)dim * sizeof(float));
  if (w->layers == NULL || w->norm_store == NULL)
    return nb__err(err, NB_ENOMEM, "model weights: out of memory");
  w->output_norm = w->norm_store + (size_t)hp->n_layers * 2 * (size_t)dim;

  uint64_t params = mat_params(&w->tok_embd), bytes = 0;
  char name[96];
#define NB__BLK(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
  for (int l = 0; l < hp->n_layers; l++) {
    nb__layer *L = &w->layers[l];
    L->attn_norm = w->norm_store + (size_t)l * 2 * (size_t)dim;
    L->ffn_norm = L->attn_norm + dim;
    if ((rc = bind_norm(g, NB__BLK("attn_norm.weight"), dim, L->attn_norm, err)) < 0 ||
        (rc = bind_mat(g, NB__BLK("attn_q.weight"), dim, dim, &L->wq, err)) < 0 ||
        (rc = bind_mat(g, NB__BLK("attn_k.weight"), dim, kv_dim, &L->wk, err)) < 0 ||
        (rc = bind_mat(g, NB__BLK("attn_v.weight"), dim, kv_dim, &L->wv, err)) < 0 ||
        (rc = bind_mat(g, NB__BLK("attn_output.weight"), dim, dim, &L->wo, err)) < 0 ||
        (rc = bind_norm(g, NB__BLK("ffn_norm.weight"), dim, L->ffn_norm, err)) < 0 ||
        (rc = bind_mat(g, NB__BLK("ffn_gate.weight"), dim, ffn, &L->w_gate, err)) < 0 ||
        (rc = bind_mat(g, NB__BLK("ffn_up.weight"), dim, ffn, &L->w_up, err)) < 0 ||
        (rc = bind_mat(g, NB__BLK("ffn_down.weight"), ffn, dim, &L->w_down, err)) < 0)
      return rc;
    const nb__mat *ms[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    for (size_t i = 0; i < NB__ARRAY_LEN(ms); i++) {
      params += mat_params(ms[i]);
      bytes += mat_bytes(ms[i]);
    }
    params += 2 * (uint64_t)dim;
    bytes += 2 * (uint64_t)dim * sizeof(float);
  }
#undef NB__BLK
  if ((rc = bind_norm(g, "output_norm.weight", dim, w->output_norm, err)) < 0) return rc;
  params += (uint64_t)dim;
  bytes += (uint64_t)dim * sizeof(float);
  if (find(g, "output.weight") != NULL) {
    if ((rc = bind_mat(g, "output.weight", dim, hp->n_vocab, &w->output, err)) < 0) return rc;
    hp->tied_output = false;
    params += mat_params(&w->output);
  } else {
    w->output = w->tok_embd;
    hp->tied_output = true;
  }
  /* Decode reads every block matrix, the output matrix and one embedding row. */
  bytes += mat_bytes(&w->output) + w->tok_embd.ldw;
  m->n_params = params;
  m->weight_bytes = bytes;
  return 0;
}

/* ------------------------------------------------------------ public */

int nb_model_load(nb_model **out, const char *path, nb_err *err) {
  if (out == NULL || path == NULL) return nb__err(err, NB_EINVAL, "nb_model_load: NULL argument");
  *out = NULL;
  nb_model *m = nb_calloc(1, sizeof *m);
  if (m == NULL) return nb__err(err, NB_ENOMEM, "model: out of memory");
  int rc = nb_gguf_open(&m->g, path, err);
  if (rc < 0) goto fail;
  if ((rc = read_hparams(m->g, &m->hp, err)) < 0) goto fail_model;
  if ((rc = bind_weights(m, err)) < 0) goto fail_model;
  *out = m;
  return 0;
fail_model:
  nb__err_prefix(err, rc, "%s", path);
fail:
  nb_model_free(m);
  return rc;
}

void nb_model_free(nb_model *m) {
  if (m == NULL) return;
  nb_free(m->w.layers);
  nb_free(m->w.norm_store);
  nb_gguf_close(m->g);
  nb_free(m);
}

const nb_hparams *nb_model_hparams(const nb_model *m) { return &m->hp; }
const nb_gguf *nb_model_gguf(const nb_model *m) { return m->g; }
uint64_t nb_model_n_params(const nb_model *m) { return m->n_params; }
uint64_t nb_model_weight_bytes(const nb_model *m) { return m->weight_bytes; }

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

void nb__state_size_for(const nb_hparams *hp, int32_t n_ctx, int act,
                        nb__state_size *s) {
  memset(s, 0, sizeof *s);
  size_t nb = (size_t)NB__MIN(NB__MAX_BATCH, n_ctx);
  size_t dim = (size_t)hp->dim, ffn = (size_t)hp->ffn_dim;
  size_t kv_dim = (size_t)hp->n_kv_heads * (size_t)hp->head_dim;
  size_t wide = NB__MAX(dim, ffn);
  s->n_batch = (int32_t)nb;
  s->esize = act == NB_ACT_F32 ? 4 : 2;
  s->kv_ld = ((size_t)n_ctx + NB__KV_PAD) * s->esize;
  s->kv_bytes = round64((size_t)hp->n_layers * kv_dim * s->kv_ld);
  s->x_bytes = round64(nb * dim * s->esize);
  s->xb_bytes = round64(nb * dim * s->esize);
  s->hb_bytes = round64(nb * ffn * s->esize);
  /* the converted matmul input (wide rounded up to a block): q8 rows, 34
   * bytes per 32 elements, or under f16 the kernels' fixed-point rows
   * (NB__X_QH, 68 bytes; used where the kernel set has them) */
  s->xq_bytes = act == NB_ACT_Q8   ? round64(nb * ((wide + 31) / 32) * 34)
                : act == NB_ACT_F16 ? round64(nb * ((wide + 31) / 32) * NB__QH_BLOCK)
                                    : 0;
  s->q_bytes = round64(nb * dim * 4);
  s->kv_new_bytes = round64(nb * kv_dim * 4);
  s->rope_bytes = round64(nb * (size_t)(hp->rope_dim / 2) * 4);
  s->logits_bytes = round64((size_t)hp->n_vocab * 4);
  /* per thread: attention scores (att_rows, n_ctx) + gate and up tiles +
   * one wide f32 row (also an attention item's head outputs, (att_rows,
   * head_dim)) + an item's queries (att_rows, head_dim); att_rows = the
   * query heads of a kv head times the tokens of an item (nb__att_tq:
   * at most n_kv_heads tokens), so att_rows <= n_heads and att_rows *
   * head_dim <= dim since head_dim = dim / n_heads */
  int32_t kv_mul = hp->n_heads / hp->n_kv_heads;
  size_t att_rows = (size_t)kv_mul * (size_t)nb__att_tq(kv_mul, hp->n_kv_heads);
  s->scratch_bytes = round64((att_rows * (size_t)n_ctx + 2 * nb * NB__FFN_TILE + wide +
                              att_rows * (size_t)hp->head_dim) * 4);
  s->total1 = 2 * (uint64_t)s->kv_bytes + s->x_bytes + s->xb_bytes + s->hb_bytes + s->xq_bytes +
              s->q_bytes + 2 * (uint64_t)s->kv_new_bytes + 2 * (uint64_t)s->rope_bytes +
              s->logits_bytes + s->scratch_bytes;
}

uint64_t nb_model_state_bytes(const nb_model *m, int32_t n_ctx, int act) {
  if (m == NULL) return 0;
  if (n_ctx <= 0) n_ctx = m->hp.n_ctx_train;
  nb__state_size s;
  nb__state_size_for(&m->hp, n_ctx, act, &s);
  return s.total1;
}
