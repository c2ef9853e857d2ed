/* template.c: chat templates rendered to tokens (see template.h). */
#include "template.h"

#include <stdio.h>
#include <string.h>

int nb_toks_push(nb_toks *t, int32_t id) { return nb_toks_append(t, &id, 1); }

int nb_toks_append(nb_toks *t, const int32_t *ids, int32_t n) {
  if (n <= 0) return 0;
  if (t->n + n > t->cap) {
    int32_t cap = t->cap ? t->cap : 64;
    while (cap < t->n + n) cap *= 2;
    int32_t *v = nb_realloc(t->v, (size_t)cap * sizeof(int32_t));
    if (v == NULL) return NB_ENOMEM;
    t->v = v;
    t->cap = cap;
  }
  memcpy(t->v + t->n, ids, (size_t)n * sizeof(int32_t));
  t->n += n;
  return 0;
}

void nb_toks_free(nb_toks *t) {
  nb_free(t->v);
  t->v = NULL;
  t->n = t->cap = 0;
}

static const char *const names[] = {"plain", "llama2", "mistral", "zephyr",
                                    "chatml"};

const char *nb_tpl_name(int kind) {
  return (kind >= 0 && kind < (int)(sizeof names / sizeof names[0]))
             ? names[kind]
             : "?";
}

int nb_tpl_from_name(const char *name) {
  for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}

static bool has(const char *s, size_t len, const char *needle) {
  size_t n = strlen(needle);
  if (n > len) return false;
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(s + i, needle, n) == 0) return true;
  return false;
}

int nb_tpl_detect(const char *tmpl, size_t len) {
  if (tmpl == NULL || len == 0) return NB_TPL_PLAIN;
  if (has(tmpl, len, "<|im_start|>")) return NB_TPL_CHATML;
  if (has(tmpl, len, "[INST]"))
    return has(tmpl, len, "<<SYS>>") ? NB_TPL_LLAMA2 : NB_TPL_MISTRAL;
  if (has(tmpl, len, "<|user|>")) return NB_TPL_ZEPHYR;
  return NB_TPL_PLAIN;
}

/* Id of a vocabulary piece spelled exactly `s`, or -1. */
static int32_t find_piece(const nb_tokenizer *tok, const char *s) {
  size_t n = strlen(s);
  int32_t nv = nb_tokenizer_n_vocab(tok);
  for (int32_t i = 0; i < nv; i++) {
    nb_str p = nb_tokenizer_piece(tok, i);
    if (p.len == n && memcmp(p.data, s, n) == 0) return i;
  }
  return -1;
}

void nb_tpl_init(nb_tpl *t, int kind, const nb_tokenizer *tok) {
  t->kind = kind;
  t->tok = tok;
  t->bos = nb_tokenizer_bos(tok);
  t->eos = nb_tokenizer_eos(tok);
  t->add_bos = nb_tokenizer_add_bos(tok);
  t->im_end = kind == NB_TPL_CHATML ? find_piece(tok, "<|im_end|>") : -1;
}

static int text(const nb_tpl *t, const char *s, nb_toks *out, nb_err *err) {
  size_t len = strlen(s);
  if (len == 0) return 0;
  int32_t *ids = NULL, n = 0;
  int rc = nb_tokenize(t->tok, s, len, false, &ids, &n, err);
  if (rc == 0) {
    rc = nb_toks_append(out, ids, n);
    if (rc != 0 && err) {
      err->code = rc;
      snprintf(err->msg, sizeof err->msg, "out of memory");
    }
  }
  nb_free(ids);
  return rc;
}

static int id(int32_t v, nb_toks *out) {
  return v >= 0 ? nb_toks_push(out, v) : 0;
}

int nb_tpl_prefix(const nb_tpl *t, const char *sys, nb_toks *out, nb_err *err) {
  bool s = sys != NULL && sys[0] != '\0';
  int rc = 0;
  switch (t->kind) {
  case NB_TPL_PLAIN:
    if (t->add_bos && (rc = id(t->bos, out))) return rc;
    return s ? text(t, sys, out, err) : 0;
  case NB_TPL_LLAMA2: return 0; /* BOS and system open each first turn */
  case NB_TPL_MISTRAL: return id(t->bos, out);
  case NB_TPL_ZEPHYR:
    if ((rc = id(t->bos, out))) return rc;
    if (!s) return 0;
    if ((rc = text(t, "<|system|>\n", out, err)) || (rc = text(t, sys, out, err)) ||
        (rc = id(t->eos, out)))
      return rc;
    return text(t, "\n", out, err);
  case NB_TPL_CHATML:
    if (t->add_bos && (rc = id(t->bos, out))) return rc;
    if (!s) return 0;
    if ((rc = text(t, "<|im_start|>system\n", out, err)) ||
        (rc = text(t, sys, out, err)))
      return rc;
    return text(t, "<|im_end|>\n", out, err);
  }
  return 0;
}

int nb_tpl_user(const nb_tpl *t, const char *sys, const char *user,
                bool first, nb_toks *out, nb_err *err) {
  bool s = sys != NULL && sys[0] != '\0' && first;
  int rc = 0;
  switch (t->kind) {
  case NB_TPL_PLAIN: return text(t, user, out, err);
  case NB_TPL_LLAMA2:
    if ((rc = id(t->bos, out)) || (rc = text(t, "[INST] ", out, err))) return rc;
    if (s && ((rc = text(t, "<<SYS>>\n", out, err)) || (rc = text(t, sys, out, err)) ||
              (rc = text(t, "\n<</SYS>>\n\n", out, err))))
      return rc;
    if ((rc = text(t, user, out, err))) return rc;
    return text(t, " [/INST]", out, err);
  case NB_TPL_MISTRAL:
    if ((rc = text(t, "[INST] ", out, err))) return rc;
    if (s && ((rc = text(t, sys, out, err)) || (rc = text(t, "\n\n", out, err))))
      return rc;
    if ((rc = text(t, user, out, err))) return rc;
    return text(t, " [/INST]", out, err);
  case NB_TPL_ZEPHYR:
    if ((rc = text(t, "<|user|>\n", out, err)) || (rc = text(t, user, out, err)) ||
        (rc = id(t->eos, out)))
      return rc;
    return text(t, "\n<|assistant|>\n", out, err);
  case NB_TPL_CHATML:
    if ((rc = text(t, "<|im_start|>user\n", out, err)) ||
        (rc = text(t, user, out, err)))
      return rc;
    return text(t, "<|im_end|>\n<|im_start|>assistant\n", out, err);
  }
  return 0;
}

int nb_tpl_close(const nb_tpl *t, nb_toks *out, nb_err *err) {
  int rc;
  switch (t->kind) {
  case NB_TPL_PLAIN: return 0;
  case NB_TPL_LLAMA2:
  case NB_TPL_MISTRAL: return id(t->eos, out);
  case NB_TPL_ZEPHYR:
    if ((rc = id(t->eos, out))) return rc;
    return text(t, "\n", out, err);
  case NB_TPL_CHATML:
    if (t->im_end >= 0) {
      if ((rc = id(t->im_end, out))) return rc;
      return text(t, "\n", out, err);
    }
    return text(t, "<|im_end|>\n", out, err);
  }
  return 0;
}

bool nb_tpl_is_stop(const nb_tpl *t, int32_t v) {
  if (v == t->eos) return true;
  if (t->im_end >= 0 && v == t->im_end) return true;
  /* A base model (plain) that emits BOS has started a new document. */
  return t->kind == NB_TPL_PLAIN && v == t->bos;
}
