/*
 * tokenizer.c: nb_tokenizer = a SentencePiece processor (through the C++
 * shim) plus per-token tables, loaded from a .model file, from the model
 * bytes embedded in a GGUF, or from a ModelProto built here out of the
 * GGUF's tokenizer.ggml.* arrays. Every path ends in tok_finish(), so all
 * tokenizers behave alike: Llama semantics (dummy prefix, byte fallback, no
 * whitespace collapsing; see nb__spm_model_patch_ws).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nb_internal.h"
#include "tok/spm_model.h"
#include "tok/tok_internal.h"
#include "tok/utf8.h"

#define KEY_SPM_MODEL "nibble.tokenizer.spm_model"
#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_BOS "tokenizer.ggml.bos_token_id"
#define KEY_EOS "tokenizer.ggml.eos_token_id"
#define KEY_UNK "tokenizer.ggml.unknown_token_id"
#define KEY_ADD_BOS "tokenizer.ggml.add_bos_token"

void nb_tokenizer_free(nb_tokenizer *t) {
  if (t == NULL) return;
  nb__spm_free(t->spm);
  nb_free(t->spm_bytes);
  nb_free(t->pieces);
  nb_free(t->scores);
  nb_free(t->types);
  nb_free(t->byte_val);
  nb_free(t->unk_surface);
  nb_free(t);
}

/* "<0xNN>" -> NN, else -1. */
static int parse_byte_piece(nb_str p) {
  if (p.len != 6 || memcmp(p.data, "<0x", 3) != 0 || p.data[5] != '>')
    return -1;
  int v = 0;
  for (int i = 3; i < 5; i++) {
    char c = p.data[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Takes ownership of `bytes` (a serialized model, already patched or
 * built), loads the processor and fills the tables. On failure everything,
 * `bytes` included, is released. */
static int tok_from_bytes(nb_tokenizer **out, uint8_t *bytes, size_t len,
                          nb_err *err) {
  *out = NULL;
  int rc;
  nb__spm_info info;
  nb_tokenizer *t = nb_calloc(1, sizeof *t);
  if (t == NULL) {
    nb_free(bytes);
    return nb__err(err, NB_ENOMEM, "tokenizer");
  }
  t->spm_bytes = bytes;
  t->spm_len = len;
  rc = nb__spm_model_inspect(bytes, len, &info, NULL, 0, err);
  if (rc) goto fail;
  rc = nb__spm_load(&t->spm, bytes, len, err);
  if (rc) goto fail;
  rc = nb__spm_size(t->spm, &t->n_vocab, err);
  if (rc) goto fail;
  if (t->n_vocab != info.n_pieces) {
    rc = nb__err(err, NB_ETOKENIZER,
                 "sentencepiece reports %d pieces, the model holds %d",
                 (int)t->n_vocab, (int)info.n_pieces);
    goto fail;
  }
  size_t n = (size_t)t->n_vocab;
  t->pieces = nb_malloc(n * sizeof *t->pieces);
  t->scores = nb_malloc(n * sizeof *t->scores);
  t->types = nb_malloc(n * sizeof *t->types);
  t->byte_val = nb_malloc(n * sizeof *t->byte_val);
  t->unk_surface = nb_malloc(info.unk_surface.len + 1);
  if (!t->pieces || !t->scores || !t->types || !t->byte_val ||
      !t->unk_surface) {
    rc = nb__err(err, NB_ENOMEM, "tokenizer tables (%zu tokens)", n);
    goto fail;
  }
  memcpy(t->unk_surface, info.unk_surface.data, info.unk_surface.len);
  t->unk_surface[info.unk_surface.len] = '\0';
  t->unk_surface_len = info.unk_surface.len;
  t->strip_bos_ws = info.add_dummy_prefix;
  /* The proto's types tell USER_DEFINED from NORMAL (the processor has no
   * query for it); the processor's own classification wins otherwise. */
  rc = nb__spm_model_inspect(bytes, len, &info, t->types, t->n_vocab, err);
  if (rc) goto fail;
  for (int32_t i = 0; i < t->n_vocab; i++) {
    unsigned kind;
    if ((rc = nb__spm_piece(t->spm, i, &t->pieces[i], err)) ||
        (rc = nb__spm_score(t->spm, i, &t->scores[i], err)) ||
        (rc = nb__spm_kind(t->spm, i, &kind, err)))
      goto fail;
    if (kind & NB__SPM_CONTROL) t->types[i] = NB_TOKEN_CONTROL;
    else if (kind & NB__SPM_UNKNOWN) t->types[i] = NB_TOKEN_UNKNOWN;
    else if (kind & NB__SPM_BYTE) t->types[i] = NB_TOKEN_BYTE;
    else if (kind & NB__SPM_UNUSED) t->types[i] = NB_TOKEN_UNUSED;
    else if (t->types[i] != NB_TOKEN_USER_DEFINED)
      t->types[i] = NB_TOKEN_NORMAL;
    t->byte_val[i] = -1;
    if (t->types[i] == NB_TOKEN_BYTE) {
      int b = parse_byte_piece(t->pieces[i]);
      if (b < 0) {
        rc = nb__err(err, NB_EMODEL, "token %d: byte piece '%.*s' is not "
                     "<0xNN>", (int)i, (int)t->pieces[i].len,
                     t->pieces[i].data);
        goto fail;
      }
      t->byte_val[i] = (int16_t)b;
    }
  }
  rc = nb__spm_special(t->spm, &t->unk, &t->bos, &t->eos, err);
  if (rc) goto fail;
  t->add_bos = true; /* Llama's default; GGUF may override */
  *out = t;
  return NB_OK;
fail:
  nb_tokenizer_free(t);
  return rc;
}

/* Copies, then patches the normalizer (see nb__spm_model_patch_ws). */
static int tok_from_model_bytes(nb_tokenizer **out, const void *b, size_t n,
                                nb_err *err) {
  uint8_t *patched;
  size_t plen;
  int rc = nb__spm_model_patch_ws(b, n, &patched, &plen, err);
  if (rc) return rc;
  return tok_from_bytes(out, patched, plen, err);
}

int nb_tokenizer_from_spm_file(nb_tokenizer **out, const char *path,
                               nb_err *err) {
  *out = NULL;
  int rc;
  uint8_t *buf = NULL;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return nb__err(err, errno == ENOENT ? NB_ENOENT : NB_EIO, "%s: %s", path,
                   strerror(errno));
  long sz;
  if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0) {
    rc = nb__err(err, NB_EIO, "%s: cannot get its size", path);
    goto done;
  }
  if (sz == 0) {
    rc = nb__err(err, NB_EMODEL, "%s: empty file", path);
    goto done;
  }
  buf = nb_malloc((size_t)sz);
  if (buf == NULL) {
    rc = nb__err(err, NB_ENOMEM, "%s: %ld bytes", path, sz);
    goto done;
  }
  if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
    rc = nb__err(err, NB_EIO, "%s: read failed", path);
    goto done;
  }
  rc = tok_from_model_bytes(out, buf, (size_t)sz, err);
  if (rc) nb__err_prefix(err, rc, "%s", path);
done:
  nb_free(buf);
  fclose(f);
  return rc;
}

/* Optional special id key: absent leaves *id alone. */
static int gguf_special(const nb_gguf *g, const char *key, int32_t n_vocab,
                        int32_t *id, nb_err *err) {
  if (nb_gguf_find_key(g, key) < 0) return NB_OK;
  int64_t v;
  int rc = nb_gguf_get_int(g, key, &v, err);
  if (rc) return rc;
  if (v < 0 || v >= n_vocab)
    return nb__err(err, NB_EMODEL, "%s = %lld is not a token id (vocabulary "
                   "of %d)", key, (long long)v, (int)n_vocab);
  *id = (int32_t)v;
  return NB_OK;
}

/* Builds the ModelProto from tokens / scores / token_type. */
static int build_from_arrays(const nb_gguf *g, uint8_t **bytes, size_t *len,
                             nb_err *err) {
  int rc = NB_OK;
  nb_str *pieces = NULL;
  float *scores = NULL;
  uint8_t *types = NULL;
  int64_t ki = nb_gguf_find_key(g, KEY_TOKENS);
  if (ki < 0)
    return nb__err(err, NB_ENOTFOUND, "key %s not found (and no %s)",
                   KEY_TOKENS, KEY_SPM_MODEL);
  if (nb_gguf_kv_type(g, ki) != NB_GGUF_ARRAY ||
      nb_gguf_arr_type(g, ki) != NB_GGUF_STRING)
    return nb__err(err, NB_ETYPE, "%s must be an array of strings",
                   KEY_TOKENS);
  uint64_t n = nb_gguf_arr_len(g, ki);
  if (n == 0)
    return nb__err(err, NB_EMODEL, "%s is empty", KEY_TOKENS);
  if (n > INT32_MAX)
    return nb__err(err, NB_ETOOBIG, "%s: %llu tokens", KEY_TOKENS,
                   (unsigned long long)n);
  pieces = nb_malloc(n * sizeof *pieces);
  scores = nb_malloc(n * sizeof *scores);
  types = nb_malloc(n * sizeof *types);
  if (!pieces || !scores || !types) {
    rc = nb__err(err, NB_ENOMEM, "vocabulary of %llu tokens",
                 (unsigned long long)n);
    goto done;
  }
  for (uint64_t i = 0; i < n; i++) {
    rc = nb_gguf_get_arr_str(g, KEY_TOKENS, i, &pieces[i], err);
    if (rc) goto done;
  }
  /* Scores and types are optional in llama.cpp (0 and NORMAL); when present
   * they must be exactly FLOAT32 / INT32 and as long as the tokens. */
  const void *data;
  uint64_t m;
  if (nb_gguf_find_key(g, KEY_SCORES) >= 0) {
    rc = nb_gguf_get_arr(g, KEY_SCORES, NB_GGUF_FLOAT32, &data, &m, err);
    if (rc) goto done;
    if (m != n) {
      rc = nb__err(err, NB_EMODEL, "%s has %llu entries, %s has %llu",
                   KEY_SCORES, (unsigned long long)m, KEY_TOKENS,
                   (unsigned long long)n);
      goto done;
    }
    memcpy(scores, data, n * sizeof *scores);
  } else {
    memset(scores, 0, n * sizeof *scores);
  }
  if (nb_gguf_find_key(g, KEY_TYPES) >= 0) {
    rc = nb_gguf_get_arr(g, KEY_TYPES, NB_GGUF_INT32, &data, &m, err);
    if (rc) goto done;
    if (m != n) {
      rc = nb__err(err, NB_EMODEL, "%s has %llu entries, %s has %llu",
                   KEY_TYPES, (unsigned long long)m, KEY_TOKENS,
                   (unsigned long long)n);
      goto done;
    }
    for (uint64_t i = 0; i < n; i++) {
      int32_t ty;
      memcpy(&ty, (const char *)data + i * 4, 4);
      if (ty < NB_TOKEN_NORMAL || ty > NB_TOKEN_BYTE) {
        rc = nb__err(err, NB_EMODEL, "%s[%llu] = %d is not a token type",
                     KEY_TYPES, (unsigned long long)i, (int)ty);
        goto done;
      }
      types[i] = (uint8_t)ty;
    }
  } else {
    memset(types, NB_TOKEN_NORMAL, n);
  }
  nb__spm_vocab v = {(int32_t)n, pieces, scores, types, 0, 1, 2};
  /* SentencePiece's defaults (unk 0, bos 1, eos 2) unless the file says. */
  if ((rc = gguf_special(g, KEY_UNK, v.n, &v.unk, err)) ||
      (rc = gguf_special(g, KEY_BOS, v.n, &v.bos, err)) ||
      (rc = gguf_special(g, KEY_EOS, v.n, &v.eos, err)))
    goto done;
  if (v.bos >= v.n) v.bos = -1;
  if (v.eos >= v.n) v.eos = -1;
  if (nb_gguf_find_key(g, KEY_TYPES) < 0) {
    /* No types: mark what SentencePiece needs to know. */
    if (v.unk < v.n) types[v.unk] = NB_TOKEN_UNKNOWN;
    if (v.bos >= 0) types[v.bos] = NB_TOKEN_CONTROL;
    if (v.eos >= 0) types[v.eos] = NB_TOKEN_CONTROL;
  }
  rc = nb__spm_model_build(&v, bytes, len, err);
done:
  nb_free(pieces);
  nb_free(scores);
  nb_free(types);
  return rc;
}

int nb_tokenizer_from_gguf(nb_tokenizer **out, const nb_gguf *g,
                           nb_err *err) {
  *out = NULL;
  int rc;
  nb_tokenizer *t = NULL;
  if (nb_gguf_find_key(g, KEY_MODEL) >= 0) {
    nb_str model;
    rc = nb_gguf_get_str(g, KEY_MODEL, &model, err);
    if (rc) return rc;
    if (model.len != 5 || memcmp(model.data, "llama", 5) != 0)
      return nb__err(err, NB_EUNSUPPORTED,
                     "%s = '%.*s': only 'llama' (SentencePiece) "
                     "vocabularies are supported", KEY_MODEL,
                     (int)NB__MIN(model.len, 64), model.data);
  }
  int64_t ki = nb_gguf_find_key(g, KEY_SPM_MODEL);
  if (ki >= 0) {
    const void *data;
    uint64_t n;
    rc = nb_gguf_get_arr(g, KEY_SPM_MODEL, NB_GGUF_UINT8, &data, &n, err);
    if (rc) return rc;
    rc = tok_from_model_bytes(&t, data, n, err);
    if (rc) return nb__err_prefix(err, rc, "%s", KEY_SPM_MODEL);
  } else {
    if (nb_gguf_find_key(g, KEY_MODEL) < 0)
      return nb__err(err, NB_ENOTFOUND, "key %s not found (and no %s)",
                     KEY_MODEL, KEY_SPM_MODEL);
    uint8_t *bytes;
    size_t len;
    rc = build_from_arrays(g, &bytes, &len, err);
    if (rc) return rc;
    rc = tok_from_bytes(&t, bytes, len, err);
    if (rc) return nb__err_prefix(err, rc, "vocabulary from GGUF arrays");
  }
  /* The file's special ids and add_bos win over the processor's. */
  if ((rc = gguf_special(g, KEY_BOS, t->n_vocab, &t->bos, err)) ||
      (rc = gguf_special(g, KEY_EOS, t->n_vocab, &t->eos, err)) ||
      (rc = gguf_special(g, KEY_UNK, t->n_vocab, &t->unk, err)))
    goto fail;
  if (nb_gguf_find_key(g, KEY_ADD_BOS) >= 0) {
    rc = nb_gguf_get_bool(g, KEY_ADD_BOS, &t->add_bos, err);
    if (rc) goto fail;
  }
  *out = t;
  return NB_OK;
fail:
  nb_tokenizer_free(t);
  return rc;
}

int32_t nb_tokenizer_n_vocab(const nb_tokenizer *t) { return t->n_vocab; }
int32_t nb_tokenizer_bos(const nb_tokenizer *t) { return t->bos; }
int32_t nb_tokenizer_eos(const nb_tokenizer *t) { return t->eos; }
bool nb_tokenizer_add_bos(const nb_tokenizer *t) { return t->add_bos; }

nb_str nb_tokenizer_piece(const nb_tokenizer *t, int32_t id) {
  if (id < 0 || id >= t->n_vocab) return (nb_str){"", 0};
  return t->pieces[id];
}

float nb_tokenizer_score(const nb_tokenizer *t, int32_t id) {
  if (id < 0 || id >= t->n_vocab) return 0.0f;
  return t->scores[id];
}

int nb_tokenizer_token_type(const nb_tokenizer *t, int32_t id) {
  if (id < 0 || id >= t->n_vocab) return NB_EINVAL;
  return t->types[id];
}

nb_str nb_tokenizer_spm_bytes(const nb_tokenizer *t) {
  return (nb_str){(const char *)t->spm_bytes, t->spm_len};
}

int nb_tokenize(const nb_tokenizer *t, const char *text, size_t len,
                bool add_bos, int32_t **ids, int32_t *n, nb_err *err) {
  *ids = NULL;
  *n = 0;
  if (text == NULL && len > 0)
    return nb__err(err, NB_EINVAL, "tokenize: NULL text");
  size_t bad = nb__utf8_first_invalid((const uint8_t *)text, len);
  if (bad < len)
    return nb__err(err, NB_EUTF8, "invalid UTF-8 at byte %zu (0x%02x)", bad,
                   (unsigned)(uint8_t)text[bad]);
  if (add_bos && t->bos < 0)
    return nb__err(err, NB_ETOKENIZER, "the vocabulary has no BOS token");
  int32_t *enc = NULL;
  size_t m = 0;
  if (len > 0) {
    int rc = nb__spm_encode(t->spm, text, len, &enc, &m, err);
    if (rc) return rc;
  }
  size_t total = m + (add_bos ? 1 : 0);
  if (total > INT32_MAX) {
    nb_free(enc);
    return nb__err(err, NB_ETOOBIG, "tokenize: %zu tokens", total);
  }
  int32_t *res = nb_malloc((total ? total : 1) * sizeof *res);
  if (res == NULL) {
    nb_free(enc);
    return nb__err(err, NB_ENOMEM, "tokenize: %zu tokens", total);
  }
  size_t k = 0;
  if (add_bos) res[k++] = t->bos;
  if (m) memcpy(res + k, enc, m * sizeof *res);
  nb_free(enc);
  *ids = res;
  *n = (int32_t)total;
  return NB_OK;
}
