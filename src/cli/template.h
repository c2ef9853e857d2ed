/*
 * template.h: chat templates as token sequences. A conversation in the KV
 * cache is laid out as
 *     prefix  (user_1 reply_1 close)  (user_2 reply_2 close)  ...
 * where every piece is rendered on its own, so a new turn only appends
 * tokens and dropping the oldest turns keeps the rest valid. `first` marks
 * the first turn still in the context: templates that put the system prompt
 * inside the first user message (llama2, mistral) render it there, so the
 * system prompt survives when older turns are dropped. Special markers that
 * are single tokens in the vocabulary (<s>, </s>, <|im_end|>) are inserted
 * as ids; the rest is tokenized as text (no BOS).
 *
 *   plain   : prefix = BOS [sys]            user = text          close = -
 *   llama2  : prefix = -                    user = BOS "[INST] <<SYS>>\n
 *             sys\n<</SYS>>\n\n" (first) text " [/INST]"           close = EOS
 *   mistral : prefix = BOS                  user = "[INST] " [sys "\n\n"]
 *             text " [/INST]"                                      close = EOS
 *   zephyr  : prefix = BOS ["<|system|>\n" sys EOS "\n"]
 *             user = "<|user|>\n" text EOS "\n<|assistant|>\n"     close = EOS "\n"
 *   chatml  : prefix = [BOS] ["<|im_start|>system\n" sys "<|im_end|>\n"]
 *             user = "<|im_start|>user\n" text "<|im_end|>\n<|im_start|>assistant\n"
 *                                                       close = "<|im_end|>\n"
 */
#ifndef NB_CLI_TEMPLATE_H
#define NB_CLI_TEMPLATE_H

#include <stdbool.h>
#include <stdint.h>

#include "nibble.h"

typedef enum nb_tpl_kind {
  NB_TPL_PLAIN = 0,
  NB_TPL_LLAMA2,
  NB_TPL_MISTRAL,
  NB_TPL_ZEPHYR,
  NB_TPL_CHATML
} nb_tpl_kind;

/* A growable token array (owned buffer, nb_malloc). */
typedef struct nb_toks {
  int32_t *v;
  int32_t n, cap;
} nb_toks;

int nb_toks_push(nb_toks *t, int32_t id);                    /* 0 / NB_ENOMEM */
int nb_toks_append(nb_toks *t, const int32_t *ids, int32_t n);
void nb_toks_free(nb_toks *t);

const char *nb_tpl_name(int kind);
int nb_tpl_from_name(const char *name); /* nb_tpl_kind or -1 */
/* Recognises a Jinja tokenizer.chat_template by its markers, as llama.cpp
 * does; NB_TPL_PLAIN when nothing matches (or no template). */
int nb_tpl_detect(const char *tmpl, size_t len);

typedef struct nb_tpl {
  int kind;
  const nb_tokenizer *tok; /* borrowed */
  int32_t bos, eos;
  int32_t im_end; /* id of "<|im_end|>" when it is one token, else -1 */
  bool add_bos;
} nb_tpl;

void nb_tpl_init(nb_tpl *t, int kind, const nb_tokenizer *tok);
/* Append the rendering of each piece to `out`. `sys` may be NULL. */
int nb_tpl_prefix(const nb_tpl *t, const char *sys, nb_toks *out, nb_err *err);
int nb_tpl_user(const nb_tpl *t, const char *sys, const char *user,
                bool first, nb_toks *out, nb_err *err);
int nb_tpl_close(const nb_tpl *t, nb_toks *out, nb_err *err);
/* Does `id` end a reply (it is then not part of the reply). */
bool nb_tpl_is_stop(const nb_tpl *t, int32_t id);

#endif
