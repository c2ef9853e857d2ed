/*
 * chatconv.h: the chat's conversation and the work of one turn, free of any
 * terminal or event-loop code (the interactive front end runs nb_conv_turn
 * on a libuv worker thread; piped mode calls it directly).
 *
 * The KV cache always holds a prefix of the conversation's rendering
 *     prefix(sys)  turn[first] ... turn[n-1]
 * (see template.h). `kv` mirrors the token ids in the cache, so a change
 * anywhere (/clear, /system, /load, dropping old turns) is applied by
 * keeping the longest common prefix and evaluating only the rest.
 *
 * Thread contract: while a turn runs, only the worker touches the
 * conversation, the context and the sampler; the other thread only sets
 * `cancel` and reads what `emit` hands it.
 */
#ifndef NB_CLI_CHATCONV_H
#define NB_CLI_CHATCONV_H

#include <stdbool.h>
#include <stdint.h>

#include "nibble.h"
#include "template.h"

typedef enum nb_conv_policy { NB_CTX_SHIFT = 0, NB_CTX_STOP = 1 } nb_conv_policy;

typedef enum nb_stop {
  NB_STOP_NONE = 0,
  NB_STOP_EOS,       /* the model ended the reply */
  NB_STOP_LENGTH,    /* -n tokens generated */
  NB_STOP_CTX,       /* context full and nothing left to drop */
  NB_STOP_CANCEL,    /* Ctrl-C */
  NB_STOP_REFUSED,   /* the turn was refused (does not fit / policy stop) */
  NB_STOP_ERROR
} nb_stop;
const char *nb_stop_name(int stop);

typedef struct nb_turn {
  char *user;        /* owned */
  nb_toks reply;     /* generated ids, without the stop token */
  char *text;        /* reply text (owned, NUL-terminated) */
  size_t text_len, text_cap;
  bool closed;       /* the reply is over: close tokens follow it */
} nb_turn;

enum { NB_EMIT_TEXT = 0, NB_EMIT_NOTICE = 1 };

struct nb_conv {
  /* borrowed handles */
  nb_ctx *ctx;
  nb_sampler *smp;
  const nb_tokenizer *tok;
  nb_detok *detok;      /* owned */
  nb_tpl tpl;
  /* settings */
  char *sys;            /* owned or NULL */
  int policy;           /* nb_conv_policy */
  int32_t n_predict;
  /* conversation */
  nb_turn *turns;       /* (cap_turns) */
  int n_turns, cap_turns;
  int first;            /* oldest turn still in the context */
  int n_dropped_turns;  /* dropped by the shift policy, for /context */
  nb_toks kv;           /* ids in the KV cache, kv.n == nb_ctx_pos */
  nb_toks want;         /* scratch: the rendering to reach */
  volatile int cancel;  /* set from another thread: stop the reply */
  /* last turn's statistics */
  int32_t last_prompt_tokens, last_gen_tokens;
  double last_prompt_s, last_gen_s;
  int last_stop;
  /* output: text as it is generated, and one-line notices */
  void (*emit)(void *ud, int kind, const char *s, size_t n);
  void *emit_ud;
};
typedef struct nb_conv nb_conv;

int nb_conv_init(nb_conv *c, nb_ctx *ctx, nb_sampler *smp,
                 const nb_tokenizer *tok, int tpl_kind, nb_err *err);
void nb_conv_free(nb_conv *c);
/* Forgets every turn (a new conversation); the system prompt stays. */
void nb_conv_clear(nb_conv *c);
int nb_conv_set_system(nb_conv *c, const char *sys); /* NULL: none */
/* Appends a finished turn (used by /load): user text and reply text. */
int nb_conv_add_done(nb_conv *c, const char *user, const char *reply,
                     nb_err *err);
/* Appends an open turn for `user`; nb_conv_turn then answers it. */
int nb_conv_add_user(nb_conv *c, const char *user);
/* Answers the newest turn: fits the context (dropping old turns or
 * refusing, with a notice), evaluates the new tokens, samples and streams
 * the reply. Returns 0 (see last_stop for how it ended) or a negative code
 * for an internal failure (also reported as a notice). */
int nb_conv_turn(nb_conv *c);
/* Drops from the KV cache whatever no longer matches the conversation
 * (after /clear, /system, /load): cheap, evaluates nothing. */
int nb_conv_trim(nb_conv *c, nb_err *err);
/* Tokens the whole current conversation renders to (for /context). */
int32_t nb_conv_tokens(nb_conv *c);

#endif
