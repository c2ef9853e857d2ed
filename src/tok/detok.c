/*
 * detok.c: ids -> text, one-shot (nb_detokenize) and streaming (nb_detok).
 *
 * Both follow SentencePiece's Decode exactly (0.1.97; checked by tests
 * against the library's own DecodeIds):
 *  - control pieces (BOS, EOS) print nothing; the unknown piece prints the
 *    model's unk_surface (" \xE2\x81\x87 " by default);
 *  - other pieces print their text with every U+2581 turned into a space;
 *  - while nothing has been printed yet (control pieces print nothing), the
 *    leading U+2581 of the next piece is dropped (the dummy prefix the
 *    encoder added), once: after a piece lost its leading space, or after
 *    any text was printed, spaces are kept;
 *  - consecutive byte pieces <0xNN> are joined and decoded as UTF-8; every
 *    byte that does not start a complete valid character becomes U+FFFD
 *    (strict UTF-8: see utf8.h), one per byte.
 * The one-shot decoder works on whole runs of byte pieces, as SentencePiece
 * does; the streaming one emits a character as soon as its last byte
 * arrives and holds back only a valid incomplete prefix (at most 3 bytes),
 * so the concatenation of its chunks equals the one-shot text.
 */
#include <string.h>

#include "nb_internal.h"
#include "tok/tok_internal.h"
#include "tok/utf8.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */
#define SPACE_SYMBOL "\xE2\x96\x81" /* U+2581, SentencePiece's space */

/* A growable output buffer (nb_malloc), always NUL-terminated when ok. */
typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static int buf_put(buf *b, const void *s, size_t n) {
  if (b->cap - b->len < n + 1) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n + 1) cap *= 2;
    char *q = nb_realloc(b->p, cap);
    if (q == NULL) return NB_ENOMEM;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return NB_OK;
}

/* Decodes bytes[0..n) as SentencePiece decodes a run of byte pieces. With
 * `final` false, a valid but incomplete character at the end is left
 * unconsumed. Returns the number of bytes consumed, or NB_ENOMEM. */
static long put_bytes(buf *b, const uint8_t *bytes, size_t n, bool final) {
  size_t off = 0;
  while (off < n) {
    int k = nb__utf8_check(bytes + off, n - off);
    if (k == 0 && !final) break;
    if (k > 0) {
      if (buf_put(b, bytes + off, (size_t)k)) return NB_ENOMEM;
      off += (size_t)k;
    } else {
      if (buf_put(b, REPLACEMENT, 3)) return NB_ENOMEM;
      off += 1;
    }
  }
  return (long)off;
}

/* Appends the surface of non-byte piece `id`. *ws_consumed tells whether a
 * leading U+2581 was dropped (SentencePiece's has_bos_ws). */
static int put_piece(buf *b, const nb_tokenizer *t, int32_t id,
                     bool is_bos_ws, bool *ws_consumed) {
  *ws_consumed = false;
  uint8_t ty = t->types[id];
  if (ty == NB_TOKEN_CONTROL) return NB_OK;
  if (ty == NB_TOKEN_UNKNOWN)
    return buf_put(b, t->unk_surface, t->unk_surface_len);
  const char *p = t->pieces[id].data;
  size_t n = t->pieces[id].len;
  if (is_bos_ws && t->strip_bos_ws && n >= 3 && memcmp(p, SPACE_SYMBOL, 3) == 0) {
    p += 3;
    n -= 3;
    *ws_consumed = true;
  }
  size_t i = 0, run = 0;
  while (i < n) {
    if (n - i >= 3 && memcmp(p + i, SPACE_SYMBOL, 3) == 0) {
      if (buf_put(b, p + run, i - run) || buf_put(b, " ", 1)) return NB_ENOMEM;
      i += 3;
      run = i;
    } else {
      i++;
    }
  }
  return buf_put(b, p + run, n - run);
}

int nb_detokenize(const nb_tokenizer *t, const int32_t *ids, int32_t n,
                  char **text, size_t *len, nb_err *err) {
  *text = NULL;
  *len = 0;
  if (n < 0 || (n > 0 && ids == NULL))
    return nb__err(err, NB_EINVAL, "detokenize: bad id array");
  buf b = {0};
  uint8_t *bytes = NULL; /* (n) values of the current run of byte pieces */
  int rc = NB_OK;
  if (buf_put(&b, "", 0) || (n > 0 && !(bytes = nb_malloc((size_t)n)))) {
    rc = nb__err(err, NB_ENOMEM, "detokenize: %d ids", (int)n);
    goto done;
  }
  bool is_bos_ws = true, bos_ws_seen = false;
  size_t nbytes = 0;
  for (int32_t i = 0; i < n; i++) {
    int32_t id = ids[i];
    if (id < 0 || id >= t->n_vocab) {
      rc = nb__err(err, NB_EINVAL, "detokenize: id %d at %d is not in the "
                   "vocabulary (%d tokens)", (int)id, (int)i, (int)t->n_vocab);
      goto done;
    }
    if (t->byte_val[id] >= 0) {
      bytes[nbytes++] = (uint8_t)t->byte_val[id];
      continue;
    }
    if (put_bytes(&b, bytes, nbytes, true) < 0) goto oom;
    nbytes = 0;
    if (bos_ws_seen || b.len > 0) is_bos_ws = false;
    if (put_piece(&b, t, id, is_bos_ws, &bos_ws_seen)) goto oom;
  }
  if (put_bytes(&b, bytes, nbytes, true) < 0) goto oom;
  *text = b.p;
  *len = b.len;
  b.p = NULL;
  goto done;
oom:
  rc = nb__err(err, NB_ENOMEM, "detokenize: output of %zu bytes", b.len);
done:
  nb_free(bytes);
  nb_free(b.p);
  return rc;
}

struct nb_detok {
  const nb_tokenizer *t; /* borrowed */
  uint8_t pend[4];       /* held-back bytes: a valid incomplete prefix */
  int npend;
  bool is_bos_ws, bos_ws_seen, any_text;
  buf out;               /* the chunk returned by the last call */
};

void nb_detok_reset(nb_detok *d) {
  d->npend = 0;
  d->is_bos_ws = true;
  d->bos_ws_seen = false;
  d->any_text = false;
  d->out.len = 0;
}

int nb_detok_new(nb_detok **out, const nb_tokenizer *t, nb_err *err) {
  *out = NULL;
  nb_detok *d = nb_calloc(1, sizeof *d);
  if (d == NULL || buf_put(&d->out, "", 0)) {
    nb_free(d);
    return nb__err(err, NB_ENOMEM, "streaming detokenizer");
  }
  d->t = t;
  nb_detok_reset(d);
  *out = d;
  return NB_OK;
}

void nb_detok_free(nb_detok *d) {
  if (d == NULL) return;
  nb_free(d->out.p);
  nb_free(d);
}

/* Emits what the pending bytes allow (all of them when `final`). */
static int drain(nb_detok *d, bool final) {
  long used = put_bytes(&d->out, d->pend, (size_t)d->npend, final);
  if (used < 0) return NB_ENOMEM;
  d->npend -= (int)used;
  memmove(d->pend, d->pend + used, (size_t)d->npend);
  return NB_OK;
}

int nb_detok_push(nb_detok *d, int32_t id, nb_str *text, nb_err *err) {
  const nb_tokenizer *t = d->t;
  d->out.len = 0;
  d->out.p[0] = '\0';
  *text = (nb_str){d->out.p, 0};
  if (id < 0 || id >= t->n_vocab)
    return nb__err(err, NB_EINVAL, "detok: id %d is not in the vocabulary "
                   "(%d tokens)", (int)id, (int)t->n_vocab);
  int rc;
  if (t->byte_val[id] >= 0) {
    d->pend[d->npend++] = (uint8_t)t->byte_val[id];
    rc = drain(d, false);
  } else {
    rc = drain(d, true);
    if (!rc) {
      if (d->bos_ws_seen || d->any_text || d->out.len > 0)
        d->is_bos_ws = false;
      rc = put_piece(&d->out, t, id, d->is_bos_ws, &d->bos_ws_seen);
    }
  }
  if (rc) return nb__err(err, NB_ENOMEM, "detok: output buffer");
  if (d->out.len > 0) d->any_text = true;
  *text = (nb_str){d->out.p, d->out.len};
  return NB_OK;
}

int nb_detok_flush(nb_detok *d, nb_str *text, nb_err *err) {
  d->out.len = 0;
  d->out.p[0] = '\0';
  if (drain(d, true)) {
    *text = (nb_str){d->out.p, 0};
    return nb__err(err, NB_ENOMEM, "detok: output buffer");
  }
  if (d->out.len > 0) d->any_text = true;
  *text = (nb_str){d->out.p, d->out.len};
  return NB_OK;
}
