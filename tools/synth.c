/*
 * synth.c: the synthetic model writer of synth.h.
 *
 * The file goes through libnibble's GGUF writer (the one format encoder):
 * the keys and the vocabulary are set on a writer, every tensor is added as
 * a streamed tensor (nb_gguf_writer_add_tensor_cb), and while the writer
 * writes the file it asks for each tensor's rows chunk by chunk
 * (NB_GGUF_WRITE_CHUNK bytes); all the pool's threads generate a chunk's
 * rows (each thread whole rows, converted with the type traits' from_float,
 * i.e. ggml's reference quantizers) straight into the writer's buffer. So
 * memory stays bounded by one chunk, and the writer's atomic write (temporary
 * file, fsync, rename) applies.
 */
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nb_internal.h"
#include "sys/pool.h"
#include "types.h"

/* general.alignment of the files (GGUF's default, written explicitly). */
#define ALIGN 32u

/* ------------------------------------------------------------ the shapes */

static const nb__synth_shape shapes[] = {
    {"tinyllama-1.1b", 2048, 5632, 22, 32, 4, 32000, 2048, 10000.0f, 1e-5f},
    {"llama2-7b", 4096, 11008, 32, 32, 32, 32000, 4096, 10000.0f, 1e-5f},
    {"mistral-7b", 4096, 14336, 32, 32, 8, 32000, 32768, 1000000.0f, 1e-5f},
};

static const char *const shape_names[] = {"tinyllama-1.1b", "llama2-7b",
                                          "mistral-7b", NULL};

const nb__synth_shape *nb__synth_shape_find(const char *name) {
  for (size_t i = 0; i < NB__ARRAY_LEN(shapes); i++)
    if (!strcmp(shapes[i].name, name)) return &shapes[i];
  return NULL;
}

const char *const *nb__synth_shape_names(void) { return shape_names; }

/* ------------------------------------------------------ the vocabulary */

typedef struct vocab {
  int32_t n;
  char **tok;      /* (n) owned, NUL-terminated */
  size_t *len;     /* (n) */
  float *score;    /* (n) */
  int32_t *type;   /* (n) nb_token_type */
  uint32_t bos, eos, unk;
  bool add_bos;
} vocab;

static void vocab_free(vocab *v) {
  if (v->tok)
    for (int32_t i = 0; i < v->n; i++) nb_free(v->tok[i]);
  nb_free(v->tok);
  nb_free(v->len);
  nb_free(v->score);
  nb_free(v->type);
  memset(v, 0, sizeof *v);
}

static int vocab_alloc(vocab *v, int32_t n) {
  v->n = n;
  v->tok = nb_calloc((size_t)n, sizeof *v->tok);
  v->len = nb_calloc((size_t)n, sizeof *v->len);
  v->score = nb_calloc((size_t)n, sizeof *v->score);
  v->type = nb_calloc((size_t)n, sizeof *v->type);
  return v->tok && v->len && v->score && v->type ? 0 : NB_ENOMEM;
}

static int vocab_set(vocab *v, int32_t i, const char *s, size_t n, float score,
                     int32_t type) {
  v->tok[i] = nb_malloc(n + 1);
  if (!v->tok[i]) return NB_ENOMEM;
  memcpy(v->tok[i], s, n);
  v->tok[i][n] = '\0';
  v->len[i] = n;
  v->score[i] = score;
  v->type[i] = type;
  return 0;
}

/* Llama-2 style: <unk> <s> </s>, the 256 byte-fallback tokens <0xNN>, then
 * synthetic pieces "▁a", "a", ..., "▁ab", "ab", ... (letters, increasing
 * length) with decreasing scores, so SentencePiece's BPE merges them. */
#define VOCAB_MIN 260
static int vocab_builtin(vocab *v, int32_t n, nb_err *err) {
  if (n < VOCAB_MIN)
    return nb__err(err, NB_EINVAL,
                   "vocab %d: the built-in vocabulary needs at least %d "
                   "tokens",
                   (int)n, VOCAB_MIN);
  if (vocab_alloc(v, n) < 0) return nb__err(err, NB_ENOMEM, "vocabulary");
  int rc = 0;
  rc |= vocab_set(v, 0, "<unk>", 5, 0.0f, NB_TOKEN_UNKNOWN);
  rc |= vocab_set(v, 1, "<s>", 3, 0.0f, NB_TOKEN_CONTROL);
  rc |= vocab_set(v, 2, "</s>", 4, 0.0f, NB_TOKEN_CONTROL);
  char s[64];
  for (int b = 0; b < 256; b++) {
    snprintf(s, sizeof s, "<0x%02X>", b);
    rc |= vocab_set(v, 3 + b, s, 6, 0.0f, NB_TOKEN_BYTE);
  }
  static const char letters[] = "etaoinshrdlcumwfgypbvkjxqz";
  const int32_t nl = 26;
  int32_t id = 259;
  /* "▁" alone first (the space piece). */
  rc |= vocab_set(v, id, "\xe2\x96\x81", 3, -1.0f, NB_TOKEN_NORMAL);
  id++;
  for (int32_t len = 1; id < n && len <= 6; len++) {
    int64_t combos = 1;
    for (int32_t k = 0; k < len; k++) combos *= nl;
    for (int64_t c = 0; c < combos && id < n; c++) {
      char piece[16];
      int64_t x = c;
      for (int32_t k = len - 1; k >= 0; k--) {
        piece[k] = letters[x % nl];
        x /= nl;
      }
      for (int sp = 1; sp >= 0 && id < n; sp--) {
        size_t o = 0;
        if (sp) {
          memcpy(s, "\xe2\x96\x81", 3);
          o = 3;
        }
        memcpy(s + o, piece, (size_t)len);
        rc |= vocab_set(v, id, s, o + (size_t)len, -(float)(id - 258),
                        NB_TOKEN_NORMAL);
        id++;
      }
    }
  }
  if (rc) return nb__err(err, NB_ENOMEM, "vocabulary");
  v->unk = 0;
  v->bos = 1;
  v->eos = 2;
  v->add_bos = true;
  return 0;
}

static int get_u32_or(const nb_gguf *g, const char *key, uint32_t def,
                      uint32_t *out, nb_err *err) {
  int64_t x;
  if (nb_gguf_find_key(g, key) < 0) {
    *out = def;
    return 0;
  }
  int rc = nb_gguf_get_int(g, key, &x, err);
  if (rc < 0) return rc;
  if (x < 0 || x > UINT32_MAX)
    return nb__err(err, NB_ERANGE, "%s = %lld", key, (long long)x);
  *out = (uint32_t)x;
  return 0;
}

/* Copies tokenizer.ggml.{tokens,scores,token_type} and the special ids from
 * a GGUF file. */
static int vocab_from_file(vocab *v, const char *path, nb_err *err) {
  nb_gguf *g = NULL;
  int rc = nb_gguf_open(&g, path, err);
  if (rc < 0) return rc;
  nb_str model;
  if ((rc = nb_gguf_get_str(g, "tokenizer.ggml.model", &model, err)) < 0)
    goto out;
  if (model.len != 5 || memcmp(model.data, "llama", 5) != 0) {
    rc = nb__err(err, NB_EUNSUPPORTED,
                 "%s: tokenizer.ggml.model is '%.*s', not 'llama'", path,
                 (int)model.len, model.data);
    goto out;
  }
  int64_t ki = nb_gguf_find_key(g, "tokenizer.ggml.tokens");
  if (ki < 0) {
    rc = nb__err(err, NB_ENOTFOUND, "%s: no tokenizer.ggml.tokens", path);
    goto out;
  }
  uint64_t n = nb_gguf_arr_len(g, ki);
  if (n < 3 || n > INT32_MAX) {
    rc = nb__err(err, NB_ERANGE, "%s: %llu tokens", path,
                 (unsigned long long)n);
    goto out;
  }
  const void *sc = NULL, *ty = NULL;
  uint64_t nsc = 0, nty = 0;
  if ((rc = nb_gguf_get_arr(g, "tokenizer.ggml.scores", NB_GGUF_FLOAT32, &sc,
                            &nsc, err)) < 0 ||
      (rc = nb_gguf_get_arr(g, "tokenizer.ggml.token_type", NB_GGUF_INT32,
                            &ty, &nty, err)) < 0)
    goto out;
  if (nsc != n || nty != n) {
    rc = nb__err(err, NB_EFORMAT, "%s: %llu tokens but %llu scores, %llu "
                 "types", path, (unsigned long long)n,
                 (unsigned long long)nsc, (unsigned long long)nty);
    goto out;
  }
  if (vocab_alloc(v, (int32_t)n) < 0) {
    rc = nb__err(err, NB_ENOMEM, "vocabulary");
    goto out;
  }
  for (uint64_t i = 0; i < n; i++) {
    nb_str t;
    float s;
    int32_t y;
    if ((rc = nb_gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &t, err)) <
        0)
      goto out;
    memcpy(&s, (const char *)sc + 4 * i, 4); /* may be unaligned */
    memcpy(&y, (const char *)ty + 4 * i, 4);
    if (vocab_set(v, (int32_t)i, t.data, t.len, s, y) < 0) {
      rc = nb__err(err, NB_ENOMEM, "vocabulary");
      goto out;
    }
  }
  if ((rc = get_u32_or(g, "tokenizer.ggml.bos_token_id", 1, &v->bos, err)) <
          0 ||
      (rc = get_u32_or(g, "tokenizer.ggml.eos_token_id", 2, &v->eos, err)) <
          0 ||
      (rc = get_u32_or(g, "tokenizer.ggml.unknown_token_id", 0, &v->unk,
                       err)) < 0)
    goto out;
  v->add_bos = true;
  if (nb_gguf_find_key(g, "tokenizer.ggml.add_bos_token") >= 0 &&
      (rc = nb_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos,
                             err)) < 0)
    goto out;
  rc = 0;
out:
  nb_gguf_close(g);
  return rc;
}

/* --------------------------------------------------------- the tensors */

struct synth_run;

typedef struct stensor {
  char name[64];
  uint32_t n_dims;
  int64_t ne[2];  /* ne[0]: row length; ne[1]: rows (1 for a vector) */
  uint32_t type;
  bool norm;      /* all ones (F32) instead of random */
  int64_t index;  /* position in the file (seeds the rows' streams) */
  const struct synth_run *run; /* borrowed: the write in progress */
} stensor;

static void add_tensor(stensor *t, int64_t *n, const char *name, int64_t ne0,
                       int64_t ne1, uint32_t type, bool norm) {
  stensor *s = &t[*n];
  memset(s, 0, sizeof *s);
  snprintf(s->name, sizeof s->name, "%s", name);
  s->n_dims = ne1 > 1 || !norm ? 2 : 1;
  s->ne[0] = ne0;
  s->ne[1] = ne1;
  s->type = type;
  s->norm = norm;
  s->index = (*n)++;
}

/* llama.cpp's tensor names and order (token_embd, blocks, output_norm,
 * output). */
static int64_t build_tensors(stensor *t, const nb__synth_shape *s,
                             uint32_t type) {
  int64_t n = 0;
  const int64_t dim = s->dim, ffn = s->ffn, vocab = s->vocab;
  const int64_t kv_dim = (int64_t)s->dim / s->heads * s->kv_heads;
  const uint32_t out_type = type == NB_TYPE_Q4_0 ? NB_TYPE_Q8_0 : type;
  char nm[64];
  add_tensor(t, &n, "token_embd.weight", dim, vocab, type, false);
  for (int32_t l = 0; l < s->layers; l++) {
#define BLK(x) (snprintf(nm, sizeof nm, "blk.%d." x, (int)l), nm)
    add_tensor(t, &n, BLK("attn_norm.weight"), dim, 1, NB_TYPE_F32, true);
    add_tensor(t, &n, BLK("attn_q.weight"), dim, dim, type, false);
    add_tensor(t, &n, BLK("attn_k.weight"), dim, kv_dim, type, false);
    add_tensor(t, &n, BLK("attn_v.weight"), dim, kv_dim, type, false);
    add_tensor(t, &n, BLK("attn_output.weight"), dim, dim, type, false);
    add_tensor(t, &n, BLK("ffn_norm.weight"), dim, 1, NB_TYPE_F32, true);
    add_tensor(t, &n, BLK("ffn_gate.weight"), dim, ffn, type, false);
    add_tensor(t, &n, BLK("ffn_down.weight"), ffn, dim, type, false);
    add_tensor(t, &n, BLK("ffn_up.weight"), dim, ffn, type, false);
#undef BLK
  }
  add_tensor(t, &n, "output_norm.weight", dim, 1, NB_TYPE_F32, true);
  add_tensor(t, &n, "output.weight", dim, vocab, out_type, false);
  return n;
}

/* ---------------------------------------------------- random numbers */

static inline uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* xoshiro256** (fast, good quality) seeded through splitmix64. */
typedef struct rng {
  uint64_t s[4];
} rng;

static inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

static void rng_seed(rng *r, uint64_t seed, uint64_t tensor, uint64_t row) {
  uint64_t x = seed ^ (tensor * 0xd1342543de82ef95ull) ^
               (row * 0x2545f4914f6cdd1dull);
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

/* Uniform in (-1, 1) from 53 random bits. */
static inline double unif_pm1(rng *r) {
  return (double)(int64_t)(rng_next(r) >> 11) * (2.0 / 9007199254740992.0) -
         1.0;
}

/* n normals N(0, std^2) by Marsaglia's polar method (no trigonometry). */
static void normals(rng *r, float *dst, int64_t n, float std) {
  int64_t i = 0;
  while (i < n) {
    double u, v, s;
    do {
      u = unif_pm1(r);
      v = unif_pm1(r);
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s) * std;
    dst[i++] = (float)(u * f);
    if (i < n) dst[i++] = (float)(v * f);
  }
}

/* ---------------------------------------------------- the generation */

typedef struct gen_task {
  const stensor *t;
  int64_t tensor_index;
  uint64_t seed;
  float std;
  int64_t row0, nrows;  /* this chunk: rows [row0, row0 + nrows) */
  uint8_t *out;         /* (nrows, row_bytes) */
  size_t row_bytes;
  float **scratch;      /* per part: (ne[0]) floats */
  const nb__type_traits *tt;
} gen_task;

static void gen_part(void *arg, int32_t ith, int32_t nth) {
  gen_task *g = arg;
  int64_t b, e;
  nb__split(g->nrows, ith, nth, 1, &b, &e);
  float *x = g->scratch[ith];
  const int64_t k = g->t->ne[0];
  for (int64_t r = b; r < e; r++) {
    if (g->t->norm) {
      for (int64_t i = 0; i < k; i++) x[i] = 1.0f;
    } else {
      rng rg;
      rng_seed(&rg, g->seed, (uint64_t)g->tensor_index,
               (uint64_t)(g->row0 + r));
      normals(&rg, x, k, g->std);
    }
    g->tt->from_float(x, g->out + (size_t)r * g->row_bytes, k);
  }
}

static int check_shape(const nb__synth_shape *s, uint32_t type, nb_err *err) {
  if (s->dim < 1 || s->ffn < 1 || s->layers < 1 || s->heads < 1 ||
      s->kv_heads < 1 || s->vocab < 1 || s->ctx < 1)
    return nb__err(err, NB_EINVAL, "shape %s: every size must be positive",
                   s->name);
  if (s->dim % s->heads)
    return nb__err(err, NB_EINVAL, "shape %s: dim %d not divisible by %d "
                   "heads", s->name, (int)s->dim, (int)s->heads);
  if (s->heads % s->kv_heads)
    return nb__err(err, NB_EINVAL, "shape %s: %d heads not divisible by %d "
                   "kv heads", s->name, (int)s->heads, (int)s->kv_heads);
  if ((s->dim / s->heads) % 2)
    return nb__err(err, NB_EINVAL, "shape %s: head_dim %d is odd (RoPE "
                   "rotates pairs)", s->name, (int)(s->dim / s->heads));
  const nb__type_traits *tt = nb__type_traits_get(type);
  if (!tt || !tt->from_float)
    return nb__err(err, NB_EBADTYPE, "type %s cannot be written",
                   nb_type_name(type));
  int64_t blk = NB__MAX(tt->blck, (int64_t)32); /* output.weight may be Q8_0 */
  if (s->dim % blk || s->ffn % blk)
    return nb__err(err, NB_EINVAL, "shape %s: dim %d and ffn %d must be "
                   "multiples of %lld for %s", s->name, (int)s->dim,
                   (int)s->ffn, (long long)blk, tt->name);
  return 0;
}

static uint32_t file_type_of(uint32_t type) {
  switch (type) {
    case NB_TYPE_F32: return 0;  /* LLAMA_FTYPE_ALL_F32 */
    case NB_TYPE_F16: return 1;  /* MOSTLY_F16 */
    case NB_TYPE_Q4_0: return 2; /* MOSTLY_Q4_0 */
    case NB_TYPE_Q8_0: return 7; /* MOSTLY_Q8_0 */
    default: return 0;
  }
}

/* What every tensor's fill callback needs during the write. */
typedef struct synth_run {
  const nb__synth_params *p;
  nb__pool *pool;
  float **scratch; /* (n_threads) x (max ne[0]) floats */
  int64_t nt;      /* tensors in the file */
} synth_run;

/* nb_gguf_fill_fn: rows [row0, row0 + n) of tensor `user` into dst. */
static int fill_tensor(void *user, void *dst, int64_t row0, int64_t n,
                       nb_err *err) {
  (void)err; /* generating cannot fail */
  const stensor *t = user;
  const synth_run *run = t->run;
  if (row0 == 0 && run->p->progress)
    run->p->progress(run->p->progress_ud, t->index, run->nt, t->name);
  gen_task g = {
      .t = t,
      .tensor_index = t->index,
      .seed = run->p->seed,
      .std = run->p->std,
      .row0 = row0,
      .nrows = n,
      .out = dst,
      .row_bytes = nb_type_row_bytes(t->type, t->ne[0]),
      .scratch = run->scratch,
      .tt = nb__type_traits_get(t->type),
  };
  nb__pool_run(run->pool, gen_part, &g);
  return 0;
}

/* The keys, in the order the files have always had them. */
static int set_keys(nb_gguf_writer *w, const nb__synth_params *p,
                    const nb__synth_shape *s, const vocab *v, nb_err *err) {
  char name[128];
  snprintf(name, sizeof name, "nibble-synth %s %s seed %llu", s->name,
           nb_type_name(p->type), (unsigned long long)p->seed);
  nb_str *toks = nb_malloc((size_t)v->n * sizeof *toks); /* (n) borrowed */
  if (!toks) return nb__err(err, NB_ENOMEM, "synth: vocabulary");
  for (int32_t i = 0; i < v->n; i++) toks[i] = (nb_str){v->tok[i], v->len[i]};
  int rc;
#define SET(call) \
  if ((rc = (call)) < 0) goto out
  SET(nb_gguf_writer_set_str(w, "general.architecture", "llama", 5, err));
  SET(nb_gguf_writer_set_str(w, "general.name", name, strlen(name), err));
  SET(nb_gguf_writer_set_u32(w, "general.file_type", file_type_of(p->type),
                             err));
  SET(nb_gguf_writer_set_u32(w, "general.quantization_version", 2, err));
  SET(nb_gguf_writer_set_u32(w, "general.alignment", ALIGN, err));
  SET(nb_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)v->n, err));
  SET(nb_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)s->ctx,
                             err));
  SET(nb_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)s->dim,
                             err));
  SET(nb_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)s->layers,
                             err));
  SET(nb_gguf_writer_set_u32(w, "llama.feed_forward_length",
                             (uint32_t)s->ffn, err));
  SET(nb_gguf_writer_set_u32(w, "llama.rope.dimension_count",
                             (uint32_t)(s->dim / s->heads), err));
  SET(nb_gguf_writer_set_u32(w, "llama.attention.head_count",
                             (uint32_t)s->heads, err));
  SET(nb_gguf_writer_set_u32(w, "llama.attention.head_count_kv",
                             (uint32_t)s->kv_heads, err));
  SET(nb_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon",
                             s->norm_eps, err));
  SET(nb_gguf_writer_set_f32(w, "llama.rope.freq_base", s->rope_base, err));
  SET(nb_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", 5, err));
  SET(nb_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks,
                                 (uint64_t)v->n, err));
  SET(nb_gguf_writer_set_arr(w, "tokenizer.ggml.scores", NB_GGUF_FLOAT32,
                             v->score, (uint64_t)v->n, err));
  SET(nb_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", NB_GGUF_INT32,
                             v->type, (uint64_t)v->n, err));
  SET(nb_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", v->bos, err));
  SET(nb_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", v->eos, err));
  SET(nb_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", v->unk,
                             err));
  SET(nb_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos,
                              err));
  SET(nb_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false, err));
  SET(nb_gguf_writer_set_u64(w, "nibble.synth.seed", p->seed, err));
  SET(nb_gguf_writer_set_f32(w, "nibble.synth.std", p->std, err));
#undef SET
  rc = 0;
out:
  nb_free(toks);
  return rc;
}

int nb__synth_write(const nb__synth_params *p, const char *path,
                    nb_err *err) {
  if (!p || !path) return nb__err(err, NB_EINVAL, "synth: NULL argument");
  if (p->n_threads < 1)
    return nb__err(err, NB_EINVAL, "synth: %d threads", (int)p->n_threads);
  if (!(p->std > 0.0f) || !isfinite(p->std))
    return nb__err(err, NB_EINVAL, "synth: std %g", (double)p->std);
  int rc;
  vocab v = {0};
  nb__synth_shape s = p->shape;
  stensor *t = NULL;
  nb_gguf_writer *w = NULL;
  synth_run run = {.p = p};

  if (p->vocab_from) {
    if ((rc = vocab_from_file(&v, p->vocab_from, err)) < 0) goto out;
    s.vocab = v.n;
  } else if ((rc = vocab_builtin(&v, s.vocab, err)) < 0) {
    goto out;
  }
  if ((rc = check_shape(&s, p->type, err)) < 0) goto out;

  int64_t max_t = 3 + 9 * (int64_t)s.layers;
  t = nb_calloc((size_t)max_t, sizeof *t);
  if (!t) {
    rc = nb__err(err, NB_ENOMEM, "synth: tensor table");
    goto out;
  }
  run.nt = build_tensors(t, &s, p->type);
  if ((rc = nb_gguf_writer_new(&w, err)) < 0 ||
      (rc = set_keys(w, p, &s, &v, err)) < 0)
    goto out;
  for (int64_t i = 0; i < run.nt; i++) {
    t[i].run = &run;
    if ((rc = nb_gguf_writer_add_tensor_cb(w, t[i].name, t[i].type,
                                           t[i].n_dims, t[i].ne, fill_tensor,
                                           &t[i], err)) < 0)
      goto out;
  }

  /* One float row per thread; the writer holds the output chunk. */
  int64_t max_k = NB__MAX((int64_t)s.dim, (int64_t)s.ffn);
  run.scratch = nb_calloc((size_t)p->n_threads, sizeof *run.scratch);
  if (!run.scratch) {
    rc = nb__err(err, NB_ENOMEM, "synth: buffers");
    goto out;
  }
  for (int32_t i = 0; i < p->n_threads; i++)
    if (!(run.scratch[i] = nb_malloc((size_t)max_k * sizeof(float)))) {
      rc = nb__err(err, NB_ENOMEM, "synth: buffers");
      goto out;
    }
  if ((rc = nb__pool_new(&run.pool, p->n_threads, err)) < 0) goto out;

  rc = nb_gguf_writer_write(w, path, err);
out:
  nb__pool_free(run.pool);
  if (run.scratch)
    for (int32_t i = 0; i < p->n_threads; i++) nb_free(run.scratch[i]);
  nb_free(run.scratch);
  nb_gguf_writer_free(w);
  nb_free(t);
  vocab_free(&v);
  return rc;
}
