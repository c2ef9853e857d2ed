/*
 * llama2c.c: imports a llama2.c checkpoint (plus its SentencePiece model)
 * into a GGUF file with llama.cpp's standard keys and tensor names.
 *
 * Checkpoint formats (all little-endian float32 weights, PyTorch row-major,
 * i.e. a (out, in) matrix is `out` rows of `in` floats = ggml ne {in, out}):
 *
 *  v0 (legacy, run.c's memory_map_weights): 7 x int32
 *     dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 *     (vocab_size < 0: the classifier is NOT shared with the embedding),
 *     then token_embedding (vocab, dim), rms_att (L, dim),
 *     wq (L, dim, dim), wk (L, kv_dim, dim), wv (L, kv_dim, dim),
 *     wo (L, dim, dim), rms_ffn (L, dim), w1 (L, hidden, dim),
 *     w2 (L, dim, hidden), w3 (L, hidden, dim), rms_final (dim),
 *     freq_cis_real (seq_len, head_size/2), freq_cis_imag (same),
 *     wcls (vocab, dim) if unshared.
 *  v1 (export.py version1_export): 256-byte header: u32 magic "ak42"
 *     (0x616b3432), i32 version 1, the same 7 int32, u8 shared_classifier,
 *     zero padding; then rms_att, rms_ffn, rms_final, token_embedding, wq,
 *     wk, wv, wo, w1, w2, w3, wcls if not shared (no freq_cis tables).
 *  v2 (Q8_0 groups): refused with NB_EUNSUPPORTED.
 *
 * Q and K are not permuted: llama2.c rotates adjacent pairs, which is
 * llama.cpp's normal RoPE for the llama architecture. A shared classifier
 * is written once (token_embd.weight); the executor reuses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nb_internal.h"

typedef unsigned long long ull;

#define L2C_MAGIC 0x616b3432u
#define L2C_V1_HEADER 256
/* Largest value accepted for any header field: far above any real model,
 * small enough that products of three fields fit 64 bits. */
#define L2C_MAX_FIELD (1 << 24)

/* The weight arrays, in no particular order (the layout tables order them). */
enum {
  A_EMB, A_RMS_ATT, A_WQ, A_WK, A_WV, A_WO, A_RMS_FFN, A_W1, A_W2, A_W3,
  A_RMS_FINAL, A_FREQ_RE, A_FREQ_IM, A_WCLS, A_COUNT
};

typedef struct l2c {
  int version;
  int32_t dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len;
  bool shared;
  uint64_t header;          /* bytes before the first weight */
  uint64_t n[A_COUNT];      /* floats in each array (0: absent) */
  uint64_t off[A_COUNT];    /* byte offset of each array in the file */
  uint64_t expected_size;
} l2c;

static int header_field_check(nb_err *err, const char *path, const char *name,
                              int64_t v) {
  if (v <= 0 || v > L2C_MAX_FIELD)
    return nb__err(err, NB_EFORMAT,
                   "%s: checkpoint header field %s = %lld is not in 1..%d",
                   path, name, (long long)v, L2C_MAX_FIELD);
  return 0;
}

/* Reads and validates the header and computes where every array lives. */
static int parse_header(l2c *c, const uint8_t *b, uint64_t size,
                        const char *path, nb_err *err) {
  int32_t h[7];
  uint32_t magic = 0;
  if (size >= 4) memcpy(&magic, b, 4);
  if (magic == L2C_MAGIC) {
    int32_t version = 0;
    if (size < L2C_V1_HEADER)
      return nb__err(err, NB_ETRUNC,
                     "%s: checkpoint has %llu bytes, shorter than its "
                     "%d-byte header",
                     path, (ull)size, L2C_V1_HEADER);
    memcpy(&version, b + 4, 4);
    if (version == 2)
      return nb__err(err, NB_EUNSUPPORTED,
                     "%s: llama2.c version 2 checkpoints (Q8_0 groups) are "
                     "not supported; export with --version 0 or 1",
                     path);
    if (version != 1)
      return nb__err(err, NB_EVERSION,
                     "%s: llama2.c checkpoint version %d is not supported "
                     "(0 and 1 are)",
                     path, version);
    memcpy(h, b + 8, sizeof h);
    if (b[36] > 1)
      return nb__err(err, NB_EFORMAT,
                     "%s: shared_classifier flag is %u, not 0 or 1", path,
                     b[36]);
    c->version = 1;
    c->shared = b[36] == 1;
    c->header = L2C_V1_HEADER;
  } else {
    if (size < sizeof h)
      return nb__err(err, NB_ETRUNC,
                     "%s: checkpoint has %llu bytes, shorter than its "
                     "28-byte header",
                     path, (ull)size);
    memcpy(h, b, sizeof h);
    c->version = 0;
    c->header = sizeof h;
  }
  c->dim = h[0];
  c->hidden = h[1];
  c->n_layers = h[2];
  c->n_heads = h[3];
  c->n_kv_heads = h[4];
  c->seq_len = h[6];
  if (c->version == 0) {
    /* v0 encodes "unshared" as a negative vocab_size. */
    c->shared = h[5] > 0;
    c->vocab = h[5] == INT32_MIN ? 0 : (h[5] < 0 ? -h[5] : h[5]);
  } else {
    c->vocab = h[5];
  }
  const char *names[] = {"dim", "hidden_dim", "n_layers", "n_heads",
                         "n_kv_heads", "vocab_size", "seq_len"};
  int64_t vals[] = {c->dim, c->hidden, c->n_layers, c->n_heads,
                    c->n_kv_heads, c->vocab, c->seq_len};
  for (int i = 0; i < 7; i++) {
    int rc = header_field_check(err, path, names[i], vals[i]);
    if (rc < 0) return rc;
  }
  if (c->dim % c->n_heads != 0)
    return nb__err(err, NB_EFORMAT,
                   "%s: dim %d is not a multiple of n_heads %d", path, c->dim,
                   c->n_heads);
  if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
    return nb__err(err, NB_EFORMAT,
                   "%s: n_heads %d is not a multiple of n_kv_heads %d", path,
                   c->n_heads, c->n_kv_heads);
  int32_t head = c->dim / c->n_heads;
  if (head % 2 != 0)
    return nb__err(err, NB_EFORMAT,
                   "%s: head size %d is odd (RoPE rotates pairs)", path,
                   head);
  uint64_t L = (uint64_t)c->n_layers, d = (uint64_t)c->dim,
           kv = (uint64_t)head * (uint64_t)c->n_kv_heads,
           hd = (uint64_t)c->hidden, v = (uint64_t)c->vocab;
  /* Every factor is <= 2^24, so products of three stay below 2^72... which
   * is why each product is checked. */
  uint64_t t;
  bool ok = true;
#define MUL3(dst, a, b_, c_) \
  ok = ok && nb__mul_u64((a), (b_), &t) && nb__mul_u64(t, (c_), &(dst))
  memset(c->n, 0, sizeof c->n);
  MUL3(c->n[A_EMB], v, d, 1);
  MUL3(c->n[A_RMS_ATT], L, d, 1);
  MUL3(c->n[A_WQ], L, d, d);
  MUL3(c->n[A_WK], L, kv, d);
  MUL3(c->n[A_WV], L, kv, d);
  MUL3(c->n[A_WO], L, d, d);
  MUL3(c->n[A_RMS_FFN], L, d, 1);
  MUL3(c->n[A_W1], L, hd, d);
  MUL3(c->n[A_W2], L, d, hd);
  MUL3(c->n[A_W3], L, hd, d);
  c->n[A_RMS_FINAL] = d;
  if (c->version == 0) {
    MUL3(c->n[A_FREQ_RE], (uint64_t)c->seq_len, (uint64_t)head / 2, 1);
    c->n[A_FREQ_IM] = c->n[A_FREQ_RE];
  }
  if (!c->shared) c->n[A_WCLS] = c->n[A_EMB];
#undef MUL3
  static const int order_v0[] = {A_EMB, A_RMS_ATT, A_WQ, A_WK, A_WV,
                                 A_WO, A_RMS_FFN, A_W1, A_W2, A_W3,
                                 A_RMS_FINAL, A_FREQ_RE, A_FREQ_IM, A_WCLS};
  static const int order_v1[] = {A_RMS_ATT, A_RMS_FFN, A_RMS_FINAL, A_EMB,
                                 A_WQ, A_WK, A_WV, A_WO, A_W1, A_W2, A_W3,
                                 A_WCLS};
  const int *order = c->version == 0 ? order_v0 : order_v1;
  size_t n_order = c->version == 0 ? NB__ARRAY_LEN(order_v0)
                                   : NB__ARRAY_LEN(order_v1);
  uint64_t pos = c->header;
  for (size_t i = 0; i < n_order && ok; i++) {
    uint64_t bytes;
    c->off[order[i]] = pos;
    ok = nb__mul_u64(c->n[order[i]], 4, &bytes) &&
         nb__add_u64(pos, bytes, &pos);
  }
  if (!ok)
    return nb__err(err, NB_EOVERFLOW,
                   "%s: checkpoint size for these dimensions overflows",
                   path);
  c->expected_size = pos;
  if (size < pos)
    return nb__err(err, NB_ETRUNC,
                   "%s: checkpoint is %llu bytes but its header (dim %d, "
                   "hidden %d, layers %d, heads %d/%d, vocab %d%s, seq_len "
                   "%d, v%d) needs %llu",
                   path, (ull)size, c->dim, c->hidden, c->n_layers,
                   c->n_heads, c->n_kv_heads, c->vocab,
                   c->shared ? "" : " unshared", c->seq_len, c->version,
                   (ull)pos);
  if (size > pos)
    return nb__err(err, NB_EFORMAT,
                   "%s: checkpoint is %llu bytes, %llu more than its header "
                   "(dim %d, hidden %d, layers %d, heads %d/%d, vocab %d%s, "
                   "seq_len %d, v%d) describes",
                   path, (ull)size, (ull)(size - pos), c->dim, c->hidden,
                   c->n_layers, c->n_heads, c->n_kv_heads, c->vocab,
                   c->shared ? "" : " unshared", c->seq_len, c->version);
  return 0;
}

/* Adds one tensor: `arr` layer `layer` (per-layer arrays are L equal
 * slices), shape ne0 x ne1 (ne1 = 0: a vector). */
static int add(nb_gguf_writer *w, const l2c *c, const uint8_t *b,
               const char *name, int arr, int layer, int64_t ne0,
               int64_t ne1, nb_err *err) {
  uint64_t per = (uint64_t)ne0 * (uint64_t)(ne1 ? ne1 : 1);
  const uint8_t *p = b + c->off[arr] + (uint64_t)layer * per * 4;
  int64_t ne[2] = {ne0, ne1};
  return nb_gguf_writer_add_tensor(w, name, NB_TYPE_F32, ne1 ? 2 : 1, ne, p,
                                   err);
}

/* "dir/stories260K.bin" -> "stories260K" */
static void model_name(const char *path, char *out, size_t cap) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t n = strlen(base);
  const char *dot = strrchr(base, '.');
  if (dot && dot != base) n = (size_t)(dot - base);
  if (n >= cap) n = cap - 1;
  memcpy(out, base, n);
  out[n] = '\0';
}

/* The .model file's bytes exactly as on disk (the tokenizer may hold a
 * normalised re-serialisation; the file keeps the original). *out is owned. */
#define L2C_MAX_SPM (256u << 20)
static int read_spm_bytes(const char *path, uint8_t **out, size_t *len,
                          nb_err *err) {
  int rc = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return nb__err(err, errno == ENOENT ? NB_ENOENT : NB_EIO, "%s: %s", path,
                   strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
      (uint64_t)st.st_size > L2C_MAX_SPM) {
    rc = nb__err(err, NB_EIO, "%s: not a regular file of at most %u bytes",
                 path, L2C_MAX_SPM);
    goto out;
  }
  *len = (size_t)st.st_size;
  *out = nb_malloc(*len ? *len : 1);
  if (*out == NULL) {
    rc = nb__err(err, NB_ENOMEM, "%s: no memory", path);
    goto out;
  }
  if (fread(*out, 1, *len, f) != *len) {
    nb_free(*out);
    *out = NULL;
    rc = nb__err(err, NB_EIO, "%s: short read", path);
  }
out:
  fclose(f);
  return rc;
}

static int write_vocab(nb_gguf_writer *w, const nb_tokenizer *tok,
                       int32_t n_vocab, nb_err *err) {
  int rc = 0;
  nb_str *pieces = nb_malloc((size_t)n_vocab * sizeof *pieces);
  float *scores = nb_malloc((size_t)n_vocab * sizeof *scores);
  int32_t *types = nb_malloc((size_t)n_vocab * sizeof *types);
  if (pieces == NULL || scores == NULL || types == NULL) {
    rc = nb__err(err, NB_ENOMEM, "no memory for a %d-token vocabulary",
                 n_vocab);
    goto out;
  }
  int32_t unk = -1;
  for (int32_t i = 0; i < n_vocab; i++) {
    pieces[i] = nb_tokenizer_piece(tok, i);
    scores[i] = nb_tokenizer_score(tok, i);
    types[i] = nb_tokenizer_token_type(tok, i);
    if (unk < 0 && types[i] == NB_TOKEN_UNKNOWN) unk = i;
  }
  if ((rc = nb_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", 5,
                                   err)) < 0 ||
      (rc = nb_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", pieces,
                                       (uint64_t)n_vocab, err)) < 0 ||
      (rc = nb_gguf_writer_set_arr(w, "tokenizer.ggml.scores",
                                   NB_GGUF_FLOAT32, scores,
                                   (uint64_t)n_vocab, err)) < 0 ||
      (rc = nb_gguf_writer_set_arr(w, "tokenizer.ggml.token_type",
                                   NB_GGUF_INT32, types, (uint64_t)n_vocab,
                                   err)) < 0)
    goto out;
  int32_t bos = nb_tokenizer_bos(tok), eos = nb_tokenizer_eos(tok);
  if (bos >= 0 && (rc = nb_gguf_writer_set_u32(
                       w, "tokenizer.ggml.bos_token_id", (uint32_t)bos,
                       err)) < 0)
    goto out;
  if (eos >= 0 && (rc = nb_gguf_writer_set_u32(
                       w, "tokenizer.ggml.eos_token_id", (uint32_t)eos,
                       err)) < 0)
    goto out;
  if (unk >= 0 && (rc = nb_gguf_writer_set_u32(
                       w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk,
                       err)) < 0)
    goto out;
  if ((rc = nb_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true,
                                    err)) < 0 ||
      (rc = nb_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false,
                                    err)) < 0)
    goto out;
out:
  nb_free(pieces);
  nb_free(scores);
  nb_free(types);
  return rc;
}

int nb_convert_llama2c(const char *ckpt_path, const char *spm_path,
                       const char *out_path, nb_err *err) {
  if (ckpt_path == NULL || spm_path == NULL || out_path == NULL)
    return nb__err(err, NB_EINVAL, "convert: NULL path");
  int rc = 0, fd = -1;
  void *map = MAP_FAILED;
  uint64_t size = 0;
  nb_tokenizer *tok = NULL;
  nb_gguf_writer *w = NULL;
  uint8_t *spm = NULL; /* (spm_len) raw .model bytes, owned */
  size_t spm_len = 0;
  l2c c;
  memset(&c, 0, sizeof c);

  fd = open(ckpt_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return nb__err(err, e == ENOENT ? NB_ENOENT : NB_EIO, "%s: %s",
                   ckpt_path, strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = nb__err(err, NB_EIO, "%s: not a readable regular file", ckpt_path);
    goto out;
  }
  size = (uint64_t)st.st_size;
  if (size == 0) {
    rc = nb__err(err, NB_ETRUNC, "%s: empty checkpoint", ckpt_path);
    goto out;
  }
  map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) {
    rc = nb__err(err, NB_EIO, "%s: mmap: %s", ckpt_path, strerror(errno));
    goto out;
  }
  const uint8_t *b = map;
  if ((rc = parse_header(&c, b, size, ckpt_path, err)) < 0) goto out;

  if ((rc = nb_tokenizer_from_spm_file(&tok, spm_path, err)) < 0) goto out;
  int32_t n_vocab = nb_tokenizer_n_vocab(tok);
  if (n_vocab != c.vocab) {
    rc = nb__err(err, NB_EMODEL,
                 "%s has %d tokens but the checkpoint %s has vocab_size %d",
                 spm_path, n_vocab, ckpt_path, c.vocab);
    goto out;
  }

  if ((rc = nb_gguf_writer_new(&w, err)) < 0) goto out;
  char name[256];
  model_name(ckpt_path, name, sizeof name);
  const int32_t head = c.dim / c.n_heads, kv_dim = head * c.n_kv_heads;
  if ((rc = nb_gguf_writer_set_str(w, "general.architecture", "llama", 5,
                                   err)) < 0 ||
      (rc = nb_gguf_writer_set_str(w, "general.name", name, strlen(name),
                                   err)) < 0 ||
      (rc = nb_gguf_writer_set_u32(w, "general.file_type", 0, err)) < 0 ||
      (rc = nb_gguf_writer_set_u32(w, "llama.context_length",
                                   (uint32_t)c.seq_len, err)) < 0 ||
      (rc = nb_gguf_writer_set_u32(w, "llama.embedding_length",
                                   (uint32_t)c.dim, err)) < 0 ||
      (rc = nb_gguf_writer_set_u32(w, "llama.block_count",
                                   (uint32_t)c.n_layers, err)) < 0 ||
      (rc = nb_gguf_writer_set_u32(w, "llama.feed_forward_length",
                                   (uint32_t)c.hidden, err)) < 0 ||
      (rc = nb_gguf_writer_set_u32(w, "llama.attention.head_count",
                                   (uint32_t)c.n_heads, err)) < 0 ||
      (rc = nb_gguf_writer_set_u32(w, "llama.attention.head_count_kv",
                                   (uint32_t)c.n_kv_heads, err)) < 0 ||
      (rc = nb_gguf_writer_set_u32(w, "llama.rope.dimension_count",
                                   (uint32_t)head, err)) < 0 ||
      (rc = nb_gguf_writer_set_f32(
           w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, err)) < 0 ||
      (rc = nb_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f,
                                   err)) < 0)
    goto out;
  if ((rc = write_vocab(w, tok, n_vocab, err)) < 0) goto out;
  if ((rc = read_spm_bytes(spm_path, &spm, &spm_len, err)) < 0 ||
      (rc = nb_gguf_writer_set_arr(w, "nibble.tokenizer.spm_model",
                                   NB_GGUF_UINT8, spm, spm_len, err)) < 0)
    goto out;

  /* Tensors (ggml ne: row length first). */
  if ((rc = add(w, &c, b, "token_embd.weight", A_EMB, 0, c.dim, c.vocab,
                err)) < 0 ||
      (rc = add(w, &c, b, "output_norm.weight", A_RMS_FINAL, 0, c.dim, 0,
                err)) < 0)
    goto out;
  if (!c.shared &&
      (rc = add(w, &c, b, "output.weight", A_WCLS, 0, c.dim, c.vocab, err)) <
          0)
    goto out;
  for (int32_t l = 0; l < c.n_layers; l++) {
    struct {
      const char *suffix;
      int arr;
      int64_t ne0, ne1;
    } lt[] = {
        {"attn_norm", A_RMS_ATT, c.dim, 0},
        {"attn_q", A_WQ, c.dim, c.dim},
        {"attn_k", A_WK, c.dim, kv_dim},
        {"attn_v", A_WV, c.dim, kv_dim},
        {"attn_output", A_WO, c.dim, c.dim},
        {"ffn_norm", A_RMS_FFN, c.dim, 0},
        {"ffn_gate", A_W1, c.dim, c.hidden},
        {"ffn_down", A_W2, c.hidden, c.dim},
        {"ffn_up", A_W3, c.dim, c.hidden},
    };
    for (size_t i = 0; i < NB__ARRAY_LEN(lt); i++) {
      char tn[64];
      snprintf(tn, sizeof tn, "blk.%d.%s.weight", l, lt[i].suffix);
      if ((rc = add(w, &c, b, tn, lt[i].arr, l, lt[i].ne0, lt[i].ne1, err)) <
          0)
        goto out;
    }
  }
  rc = nb_gguf_writer_write(w, out_path, err);
out:
  nb_gguf_writer_free(w);
  nb_free(spm);
  nb_tokenizer_free(tok);
  if (map != MAP_FAILED) munmap(map, (size_t)size);
  if (fd >= 0) close(fd);
  return rc;
}
