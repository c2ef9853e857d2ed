/*
 * cmd_chat.c: `nibble chat`, an interactive conversation in the terminal.
 *
 * Design. One libuv loop on the main thread owns the terminal: stdin is a
 * uv_tty in raw mode whose bytes go to the line editor (lineedit.c), or,
 * while a reply streams, are watched for Ctrl-C (and kept as type-ahead).
 * A reply is computed by nb_conv_turn on a libuv worker (uv_queue_work);
 * its text reaches the loop thread through a mutex-protected buffer and a
 * uv_async_t, so the terminal is written from one thread only. Ctrl-C sets
 * the conversation's cancel flag, which nb_ctx_eval (via
 * nb_ctx_set_cancel_flag) and the sampling loop both check.
 *
 * The terminal is restored on every exit path: normal quit, errors (the
 * cleanup chain), SIGTERM/SIGHUP (uv signal watchers end the loop), exit()
 * (atexit) and crash signals (a handler calls uv_tty_reset_mode, which is
 * async-signal-safe, then re-raises with the default action).
 *
 * When stdin is not a terminal, each input line is one user turn and only
 * the replies are printed, one per turn, each ending in a newline.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "chatconv.h"
#include "cli.h"
#include "history.h"
#include "lineedit.h"
#include "sampleopts.h"

#define PROMPT ">>> "
#define PROMPT_MORE "... "
#define HISTORY_MAX 1000

typedef struct app {
  nb_gen_opts o;
  int tpl_kind;          /* -1: from the model */
  int policy;
  nb_model *model;
  nb_ctx *ctx;
  nb_tokenizer *tok;
  nb_sampler *smp;
  nb_conv conv;
  bool conv_ok;
  /* interactive state (loop thread) */
  uv_loop_t loop;
  uv_tty_t tty;
  uv_signal_t sig_int, sig_term, sig_hup, sig_winch;
  uv_async_t async;
  uv_work_t work;
  nb_le *le;
  nb_hist *hist;
  char hist_path[4096];
  bool busy, quitting, closing;
  int exit_code;
  bool at_bol;           /* the terminal cursor is at the start of a line */
  bool ml;               /* inside a """ block */
  char *mlbuf;
  size_t mllen, mlcap;
  char *ahead;           /* type-ahead received while a reply streams */
  size_t alen, acap;
  /* worker -> loop output: records [kind:1][len:4][bytes] */
  uv_mutex_t mu;
  char *obuf;
  size_t olen, ocap;
  bool piped_started;    /* piped mode: first chunk of a reply seen */
} app;

/* ------------------------------------------------------------ buffers */

static bool buf_add(char **b, size_t *len, size_t *cap, const void *s,
                    size_t n) {
  if (*len + n + 1 > *cap) {
    size_t c = *cap ? *cap : 256;
    while (c < *len + n + 1) c *= 2;
    char *p = nb_realloc(*b, c);
    if (p == NULL) return false;
    *b = p;
    *cap = c;
  }
  memcpy(*b + *len, s, n);
  *len += n;
  (*b)[*len] = '\0';
  return true;
}

/* ------------------------------------------------------------ terminal */

static void write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;
    }
    s += w;
    n -= (size_t)w;
  }
}

/* Writes model or message text to the raw terminal: "\n" becomes "\r\n",
 * and control bytes (a model can emit ESC) are dropped. */
static void term_text(app *a, const char *s, size_t n) {
  char out[1024];
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (k + 2 > sizeof out) {
      write_all(1, out, k);
      k = 0;
    }
    if (c == '\n') {
      out[k++] = '\r';
      out[k++] = '\n';
    } else if (c >= 0x20 && c != 0x7F) {
      out[k++] = (char)c;
    } else if (c == '\t') {
      out[k++] = ' ';
    } else {
      continue;
    }
    a->at_bol = c == '\n';
  }
  write_all(1, out, k);
}

static void term_printf(app *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void term_printf(app *a, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  term_text(a, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A dim one-line notice on its own line. */
static void term_notice(app *a, const char *s, size_t n) {
  if (!a->at_bol) term_text(a, "\n", 1);
  write_all(1, "\x1b[2m[", 5);
  term_text(a, s, n);
  write_all(1, "]\x1b[0m", 5);
  term_text(a, "\n", 1);
}

/* ------------------------------------------------------- crash safety */

static void crash_handler(int sig) {
  uv_tty_reset_mode(); /* async-signal-safe by contract */
  signal(sig, SIG_DFL);
  raise(sig);
}

static void reset_at_exit(void) { uv_tty_reset_mode(); }

static void install_crash_handlers(void) {
  static const int sigs[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = crash_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND | SA_NODEFER;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaction(sigs[i], &sa, NULL);
  atexit(reset_at_exit);
}

/* ------------------------------------------------------- worker output */

/* Called on the worker thread (interactive) or inline (piped). */
static void emit_interactive(void *ud, int kind, const char *s, size_t n) {
  app *a = ud;
  unsigned char k = (unsigned char)kind;
  uint32_t len = (uint32_t)n;
  uv_mutex_lock(&a->mu);
  if (buf_add(&a->obuf, &a->olen, &a->ocap, &k, 1) &&
      buf_add(&a->obuf, &a->olen, &a->ocap, &len, 4))
    buf_add(&a->obuf, &a->olen, &a->ocap, s, n);
  uv_mutex_unlock(&a->mu);
  uv_async_send(&a->async);
}

static void emit_piped(void *ud, int kind, const char *s, size_t n) {
  app *a = ud;
  if (kind == NB_EMIT_NOTICE) {
    fflush(stdout);
    fprintf(stderr, "nibble chat: %.*s\n", (int)n, s);
    return;
  }
  if (!a->piped_started && n > 0 && s[0] == ' ') { /* reply's leading space */
    s++;
    n--;
  }
  if (n > 0) a->piped_started = true;
  fwrite(s, 1, n, stdout);
  fflush(stdout);
}

/* Loop thread: prints what the worker produced so far. */
static void drain(app *a) {
  uv_mutex_lock(&a->mu);
  char *b = a->obuf;
  size_t len = a->olen;
  a->obuf = NULL;
  a->olen = a->ocap = 0;
  uv_mutex_unlock(&a->mu);
  for (size_t i = 0; i + 5 <= len;) {
    uint32_t n;
    memcpy(&n, b + i + 1, 4);
    if (b[i] == NB_EMIT_NOTICE) term_notice(a, b + i + 5, n);
    else term_text(a, b + i + 5, n);
    i += 5 + n;
  }
  nb_free(b);
}

static void on_async(uv_async_t *h) { drain(h->data); }

/* ------------------------------------------------------------ commands */

static const char help_text[] =
    "Commands:\n"
    "  /help              this list\n"
    "  /bye               quit (also Ctrl-D on an empty line)\n"
    "  /clear             start a new conversation (keeps the system prompt)\n"
    "  /system [TEXT]     show or set the system prompt\n"
    "  /set KEY VALUE     temp, top-k, top-p, min-p, repeat-penalty, seed, n\n"
    "  /stats             tokens and speed of the last reply, context use\n"
    "  /context           what the context holds\n"
    "  /save FILE         save the transcript (JSON)\n"
    "  /load FILE         load a transcript saved by /save\n"
    "Input: \"\"\" starts and ends a multi-line message. Ctrl-C stops a reply.\n";

static void show_stats(app *a) {
  nb_conv *c = &a->conv;
  double gs = c->last_gen_s > 0 ? c->last_gen_tokens / c->last_gen_s : 0;
  double ps = c->last_prompt_s > 0 ? c->last_prompt_tokens / c->last_prompt_s : 0;
  term_printf(a,
              "last reply: %d tokens in %.2f s (%.1f tok/s), ended: %s\n"
              "its prompt: %d tokens evaluated in %.2f s (%.1f tok/s)\n"
              "context: %d / %d tokens used; %d turns, %d dropped\n",
              c->last_gen_tokens, c->last_gen_s, gs, nb_stop_name(c->last_stop),
              c->last_prompt_tokens, c->last_prompt_s, ps, nb_ctx_pos(a->ctx),
              nb_ctx_n_ctx(a->ctx), c->n_turns, c->first);
}

static void show_context(app *a) {
  nb_conv *c = &a->conv;
  term_printf(a, "context: %d / %d tokens in the cache, policy %s, template %s\n",
              nb_ctx_pos(a->ctx), nb_ctx_n_ctx(a->ctx),
              c->policy == NB_CTX_SHIFT ? "shift" : "stop",
              nb_tpl_name(c->tpl.kind));
  term_printf(a, "system prompt: %s\n", c->sys ? c->sys : "(none)");
  for (int i = 0; i < c->n_turns; i++) {
    const nb_turn *t = &c->turns[i];
    term_printf(a, "  %s turn %d: \"%.40s%s\" -> %d reply tokens\n",
                i < c->first ? "[dropped]" : "         ", i + 1, t->user,
                strlen(t->user) > 40 ? "..." : "", t->reply.n);
  }
  int32_t total = nb_conv_tokens(c);
  term_printf(a, "the conversation renders to %d tokens\n", total);
}

static int save_transcript(app *a, const char *path) {
  nb_conv *c = &a->conv;
  cJSON *root = cJSON_CreateObject(), *turns = NULL;
  int rc = -1;
  if (root == NULL) goto done;
  cJSON_AddStringToObject(root, "format", "nibble-chat-transcript");
  cJSON_AddNumberToObject(root, "version", 1);
  cJSON_AddStringToObject(root, "template", nb_tpl_name(c->tpl.kind));
  if (c->sys) cJSON_AddStringToObject(root, "system", c->sys);
  else cJSON_AddNullToObject(root, "system");
  turns = cJSON_AddArrayToObject(root, "turns");
  if (turns == NULL) goto done;
  for (int i = 0; i < c->n_turns; i++) {
    cJSON *t = cJSON_CreateObject();
    if (t == NULL) goto done;
    cJSON_AddItemToArray(turns, t);
    cJSON_AddStringToObject(t, "user", c->turns[i].user);
    cJSON_AddStringToObject(t, "assistant", c->turns[i].text ? c->turns[i].text : "");
    if (i < c->first) cJSON_AddTrueToObject(t, "dropped");
  }
  char *s = cJSON_Print(root);
  if (s == NULL) goto done;
  FILE *f = fopen(path, "w");
  if (f != NULL) {
    fputs(s, f);
    fputc('\n', f);
    rc = fclose(f) == 0 ? 0 : -1;
  }
  if (rc) term_printf(a, "cannot write %s: %s\n", path, strerror(errno));
  else term_printf(a, "saved %d turns to %s\n", c->n_turns, path);
  cJSON_free(s);
done:
  cJSON_Delete(root);
  return rc;
}

static int load_transcript(app *a, const char *path) {
  nb_conv *c = &a->conv;
  size_t len = 0;
  char *text = NULL;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    term_printf(a, "cannot read %s: %s\n", path, strerror(errno));
    return -1;
  }
  char chunk[4096];
  size_t n, cap = 0;
  bool ok = true;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    ok = ok && buf_add(&text, &len, &cap, chunk, n);
  fclose(f);
  cJSON *root = ok && text ? cJSON_ParseWithLength(text, len) : NULL;
  nb_free(text);
  const cJSON *turns = cJSON_GetObjectItemCaseSensitive(root, "turns");
  const cJSON *sys = cJSON_GetObjectItemCaseSensitive(root, "system");
  if (!cJSON_IsArray(turns)) {
    term_printf(a, "%s is not a transcript saved by /save\n", path);
    cJSON_Delete(root);
    return -1;
  }
  const cJSON *t;
  cJSON_ArrayForEach(t, turns) {
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(t, "user");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(t, "assistant");
    if (!cJSON_IsString(u) || !cJSON_IsString(r)) {
      term_printf(a, "%s: every turn needs \"user\" and \"assistant\" strings\n", path);
      cJSON_Delete(root);
      return -1;
    }
  }
  nb_conv_clear(c);
  nb_sampler_reset(a->smp);
  nb_conv_set_system(c, cJSON_IsString(sys) ? sys->valuestring : NULL);
  nb_err err = {0};
  int first = 0;
  cJSON_ArrayForEach(t, turns) {
    const char *u = cJSON_GetObjectItemCaseSensitive(t, "user")->valuestring;
    const char *r = cJSON_GetObjectItemCaseSensitive(t, "assistant")->valuestring;
    if (nb_conv_add_done(c, u, r, &err) != 0) {
      term_printf(a, "%s: %s; loaded the turns before it\n", path, err.msg);
      break;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "dropped"))) first = c->n_turns;
  }
  c->first = first < c->n_turns ? first : c->n_turns;
  cJSON_Delete(root);
  if (nb_conv_trim(c, &err) != 0) term_printf(a, "error: %s\n", err.msg);
  term_printf(a, "loaded %d turns from %s (%d tokens; evaluated with the next message)\n",
              c->n_turns, path, nb_conv_tokens(c));
  return 0;
}

static void set_param(app *a, const char *args) {
  char key[32];
  char val[64];
  if (sscanf(args, "%31s %63s", key, val) != 2) {
    term_printf(a, "usage: /set temp|top-k|top-p|min-p|repeat-penalty|seed|n VALUE\n");
    return;
  }
  nb_sampler_params sp = a->o.sp;
  bool ok;
  if (!strcmp(key, "temp")) ok = nb_parse_f32(val, 0, 100, &sp.temp);
  else if (!strcmp(key, "top-k")) ok = nb_parse_i32(val, 0, 1 << 30, &sp.top_k);
  else if (!strcmp(key, "top-p")) ok = nb_parse_f32(val, 0, 1, &sp.top_p);
  else if (!strcmp(key, "min-p")) ok = nb_parse_f32(val, 0, 1, &sp.min_p);
  else if (!strcmp(key, "repeat-penalty")) ok = nb_parse_f32(val, 0, 100, &sp.repeat_penalty);
  else if (!strcmp(key, "seed")) ok = nb_parse_u64(val, &sp.seed);
  else if (!strcmp(key, "n")) {
    int32_t n;
    ok = nb_parse_i32(val, 1, 1 << 24, &n);
    if (ok) {
      a->conv.n_predict = n;
      term_printf(a, "n = %d\n", n);
      return;
    }
  } else {
    term_printf(a, "unknown setting '%s' (temp, top-k, top-p, min-p, repeat-penalty, seed, n)\n", key);
    return;
  }
  nb_err err = {0};
  if (!ok) {
    term_printf(a, "bad value for %s: '%s'\n", key, val);
    return;
  }
  if (nb_sampler_set_params(a->smp, &sp, &err) != 0) {
    term_printf(a, "error: %s\n", err.msg);
    return;
  }
  a->o.sp = sp;
  term_printf(a, "%s = %s\n", key, val);
}

/* Returns true to quit. */
static bool command(app *a, const char *line) {
  const char *arg = line + strcspn(line, " \t");
  arg += strspn(arg, " \t");
  size_t cl = strcspn(line, " \t");
  nb_err err = {0};
#define IS(name) (cl == strlen(name) && strncmp(line, name, cl) == 0)
  if (IS("/bye") || IS("/quit") || IS("/exit")) return true;
  if (IS("/help") || IS("/?")) {
    term_printf(a, "%s", help_text);
  } else if (IS("/clear")) {
    nb_conv_clear(&a->conv);
    nb_sampler_reset(a->smp);
    if (nb_conv_trim(&a->conv, &err) != 0) term_printf(a, "error: %s\n", err.msg);
    term_printf(a, "new conversation\n");
  } else if (IS("/system")) {
    if (*arg == '\0') {
      term_printf(a, "system prompt: %s\n", a->conv.sys ? a->conv.sys : "(none)");
    } else {
      nb_conv_set_system(&a->conv, arg);
      if (nb_conv_trim(&a->conv, &err) != 0) term_printf(a, "error: %s\n", err.msg);
      term_printf(a, "system prompt set (used from the next message)\n");
    }
  } else if (IS("/set")) {
    set_param(a, arg);
  } else if (IS("/stats")) {
    show_stats(a);
  } else if (IS("/context")) {
    show_context(a);
  } else if (IS("/save") || IS("/load")) {
    if (*arg == '\0') term_printf(a, "usage: %.5s FILE\n", line);
    else if (IS("/save")) save_transcript(a, arg);
    else load_transcript(a, arg);
  } else {
    term_printf(a, "unknown command %.*s; /help lists the commands\n", (int)cl, line);
  }
#undef IS
  return false;
}

/* ------------------------------------------------------------ the loop */

static void on_closed(uv_handle_t *h) { (void)h; }

static void shutdown_loop(app *a) {
  if (a->closing) return;
  a->closing = true;
  /* Restore the terminal while libuv's tty fd is still open: closing the
   * handle closes the fd uv_tty_reset_mode would need. */
  uv_tty_reset_mode();
  uv_read_stop((uv_stream_t *)&a->tty);
  uv_close((uv_handle_t *)&a->tty, on_closed);
  uv_close((uv_handle_t *)&a->sig_int, on_closed);
  uv_close((uv_handle_t *)&a->sig_term, on_closed);
  uv_close((uv_handle_t *)&a->sig_hup, on_closed);
  uv_close((uv_handle_t *)&a->sig_winch, on_closed);
  uv_close((uv_handle_t *)&a->async, on_closed);
}

static void request_quit(app *a, int code) {
  a->quitting = true;
  a->exit_code = code;
  a->conv.cancel = 1;
  if (!a->busy) shutdown_loop(a);
}

static void work_cb(uv_work_t *w) {
  app *a = w->data;
  nb_conv_turn(&a->conv);
}

static void handle_byte(app *a, unsigned char ch);

static void after_work(uv_work_t *w, int status) {
  app *a = w->data;
  (void)status;
  drain(a);
  a->busy = false;
  if (!a->at_bol) term_text(a, "\n", 1);
  if (a->conv.last_stop == NB_STOP_CANCEL) term_notice(a, "interrupted", 11);
  if (a->quitting) {
    shutdown_loop(a);
    return;
  }
  nb_le_begin(a->le, PROMPT);
  /* Replay what was typed during the reply. */
  char *ahead = a->ahead;
  size_t n = a->alen;
  a->ahead = NULL;
  a->alen = a->acap = 0;
  size_t i = 0;
  while (i < n && !a->busy && !a->quitting) handle_byte(a, (unsigned char)ahead[i++]);
  /* A line in the type-ahead started a turn: keep the rest for after it. */
  if (i < n && a->busy) buf_add(&a->ahead, &a->alen, &a->acap, ahead + i, n - i);
  nb_free(ahead);
}

static void submit(app *a, const char *text) {
  int rc = nb_conv_add_user(&a->conv, text);
  if (rc != 0) {
    term_printf(a, "error: out of memory\n");
    nb_le_begin(a->le, PROMPT);
    return;
  }
  a->conv.cancel = 0;
  a->busy = true;
  a->at_bol = true;
  a->work.data = a;
  uv_queue_work(&a->loop, &a->work, work_cb, after_work);
}

static void on_line(app *a, const char *line) {
  if (line[0] != '\0' && a->hist) nb_hist_add(a->hist, line);
  size_t n = strlen(line);
  if (a->ml) {
    if (n >= 3 && strcmp(line + n - 3, "\"\"\"") == 0) {
      buf_add(&a->mlbuf, &a->mllen, &a->mlcap, line, n - 3);
      a->ml = false;
      while (a->mllen > 0 && a->mlbuf[a->mllen - 1] == '\n') a->mlbuf[--a->mllen] = '\0';
      if (a->mllen > 0) {
        submit(a, a->mlbuf);
        return;
      }
      nb_le_begin(a->le, PROMPT);
      return;
    }
    buf_add(&a->mlbuf, &a->mllen, &a->mlcap, line, n);
    buf_add(&a->mlbuf, &a->mllen, &a->mlcap, "\n", 1);
    nb_le_begin(a->le, PROMPT_MORE);
    return;
  }
  if (strncmp(line, "\"\"\"", 3) == 0) {
    const char *rest = line + 3;
    size_t rn = n - 3;
    if (rn >= 3 && strcmp(rest + rn - 3, "\"\"\"") == 0) { /* """one line""" */
      a->mllen = 0;
      buf_add(&a->mlbuf, &a->mllen, &a->mlcap, rest, rn - 3);
      if (a->mllen > 0) {
        submit(a, a->mlbuf);
        return;
      }
      nb_le_begin(a->le, PROMPT);
      return;
    }
    a->ml = true;
    a->mllen = 0;
    buf_add(&a->mlbuf, &a->mllen, &a->mlcap, "", 0);
    if (rn > 0) {
      buf_add(&a->mlbuf, &a->mllen, &a->mlcap, rest, rn);
      buf_add(&a->mlbuf, &a->mllen, &a->mlcap, "\n", 1);
    }
    nb_le_begin(a->le, PROMPT_MORE);
    return;
  }
  if (line[0] == '/') {
    if (command(a, line)) {
      request_quit(a, 0);
      return;
    }
    nb_le_begin(a->le, PROMPT);
    return;
  }
  if (line[strspn(line, " \t")] == '\0') {
    nb_le_begin(a->le, PROMPT);
    return;
  }
  submit(a, line);
}

static void handle_byte(app *a, unsigned char ch) {
  if (a->busy) {
    if (ch == 0x03) a->conv.cancel = 1;
    else buf_add(&a->ahead, &a->alen, &a->acap, &ch, 1);
    return;
  }
  if (a->quitting) return;
  size_t len;
  switch (nb_le_feed(a->le, ch)) {
  case NB_LE_NONE: break;
  case NB_LE_LINE: {
    const char *t = nb_le_text(a->le, &len);
    char *line = nb_malloc(len + 1);
    if (line == NULL) break;
    memcpy(line, t, len + 1);
    on_line(a, line);
    nb_free(line);
    break;
  }
  case NB_LE_EOF:
    term_text(a, "\n", 1);
    request_quit(a, 0);
    break;
  case NB_LE_INTERRUPT:
    nb_le_text(a->le, &len);
    if (len == 0 && !a->ml) {
      term_text(a, "\n", 1);
      term_printf(a, "(to quit, press Ctrl-D or type /bye)\n");
    } else {
      write_all(1, "^C\r\n", 4);
      a->ml = false;
    }
    a->at_bol = true;
    nb_le_begin(a->le, PROMPT);
    break;
  }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char mem[4096]; /* one read at a time on the loop thread */
  (void)h;
  (void)suggested;
  buf->base = mem;
  buf->len = sizeof mem;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  app *a = s->data;
  if (nread < 0) { /* EOF or error on the terminal */
    request_quit(a, 0);
    return;
  }
  for (ssize_t i = 0; i < nread; i++) handle_byte(a, (unsigned char)buf->base[i]);
}

static void on_signal(uv_signal_t *h, int sig) {
  app *a = h->data;
  if (sig == SIGINT) {
    handle_byte(a, 0x03);
  } else if (sig == SIGWINCH) {
    int w, hh;
    if (uv_tty_get_winsize(&a->tty, &w, &hh) == 0) nb_le_set_cols(a->le, w);
  } else {
    request_quit(a, 128 + sig);
  }
}

static int run_interactive(app *a) {
  int rc = 1;
  bool loop_ok = false, mu_ok = false;
  if (uv_loop_init(&a->loop) != 0) return nb_cli_failf("chat", "cannot start the event loop");
  loop_ok = true;
  if (uv_mutex_init(&a->mu) != 0) goto done;
  mu_ok = true;
  a->hist = nb_hist_new(HISTORY_MAX);
  a->le = nb_le_new(1, a->hist);
  if (a->hist == NULL || a->le == NULL) goto done;
  if (nb_hist_default_path(a->hist_path, sizeof a->hist_path)) {
    int e = nb_hist_load(a->hist, a->hist_path);
    if (e != 0)
      fprintf(stderr, "nibble chat: warning: cannot read history %s: %s\n",
              a->hist_path, strerror(-e));
  }
  if (uv_tty_init(&a->loop, &a->tty, 0, 1) != 0) {
    nb_cli_failf("chat", "cannot open the terminal");
    goto done;
  }
  a->tty.data = a;
  uv_async_init(&a->loop, &a->async, on_async);
  a->async.data = a;
  uv_signal_t *sigs[] = {&a->sig_int, &a->sig_term, &a->sig_hup, &a->sig_winch};
  const int signums[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};
  for (int i = 0; i < 4; i++) {
    uv_signal_init(&a->loop, sigs[i]);
    sigs[i]->data = a;
    uv_signal_start(sigs[i], on_signal, signums[i]);
  }
  int w, h;
  if (uv_tty_get_winsize(&a->tty, &w, &h) == 0) nb_le_set_cols(a->le, w);
  if (uv_tty_set_mode(&a->tty, UV_TTY_MODE_RAW) != 0) {
    nb_cli_failf("chat", "cannot switch the terminal to raw mode");
    shutdown_loop(a);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    goto done;
  }
  a->at_bol = true;
  term_printf(a, "nibble chat: %s, template %s, context %d tokens. /help for "
                 "commands, Ctrl-D or /bye to quit.\n",
              a->o.model, nb_tpl_name(a->conv.tpl.kind), nb_ctx_n_ctx(a->ctx));
  nb_le_begin(a->le, PROMPT);
  uv_read_start((uv_stream_t *)&a->tty, alloc_cb, on_read);
  uv_run(&a->loop, UV_RUN_DEFAULT);
  uv_tty_reset_mode();
  rc = a->exit_code;
done:
  uv_tty_reset_mode();
  if (a->hist && a->hist_path[0]) {
    int e = nb_hist_save(a->hist, a->hist_path);
    if (e != 0)
      fprintf(stderr, "nibble chat: warning: cannot save history %s: %s\n",
              a->hist_path, strerror(-e));
  }
  nb_le_free(a->le);
  nb_hist_free(a->hist);
  nb_free(a->mlbuf);
  nb_free(a->ahead);
  nb_free(a->obuf);
  if (mu_ok) uv_mutex_destroy(&a->mu);
  if (loop_ok) uv_loop_close(&a->loop);
  return rc;
}

static int run_piped(app *a) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  while ((n = getline(&line, &cap, stdin)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (line[strspn(line, " \t")] == '\0') continue;
    if (nb_conv_add_user(&a->conv, line) != 0) {
      rc = nb_cli_failf("chat", "out of memory");
      break;
    }
    a->piped_started = false;
    a->conv.cancel = 0;
    if (nb_conv_turn(&a->conv) != 0) rc = 1;
    fputc('\n', stdout);
    fflush(stdout);
  }
  free(line); /* getline's buffer is libc's */
  return rc;
}

/* ------------------------------------------------------------ entry */

static void usage(FILE *f) {
  fprintf(f,
          "usage: nibble chat [-m FILE] [options]\n\n"
          "Chat with a model in the terminal (or answer one line per turn from\n"
          "a pipe, printing only the replies).\n\n%s"
          "  --template NAME      llama2|zephyr|chatml|mistral|plain (default:\n"
          "                       from tokenizer.chat_template, else plain)\n"
          "  --ctx-policy P       shift (drop the oldest turns, default) or stop\n"
          "                       (refuse a turn that does not fit)\n\n%s",
          nb_gen_opts_help, help_text);
}

static void *cj_malloc(size_t n) { return nb_malloc(n); }
static void cj_free(void *p) { nb_free(p); }

int nb_cli_chat(int argc, char **argv) {
  app *a = nb_calloc(1, sizeof *a);
  if (a == NULL) return nb_cli_failf("chat", "out of memory");
  nb_gen_opts_default(&a->o, -1); /* -1: half the context, at most 256 */
  a->tpl_kind = -1;
  a->policy = NB_CTX_SHIFT;
  int rc = 2;
  nb_err err = {0};
  for (int i = 1; i < argc; i++) {
    int r = nb_gen_opts_parse(&a->o, argc, argv, &i, "chat");
    if (r < 0) goto out;
    if (r > 0) continue;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      rc = 0;
      goto out;
    } else if (!strcmp(argv[i], "--template") && i + 1 < argc) {
      a->tpl_kind = nb_tpl_from_name(argv[++i]);
      if (a->tpl_kind < 0) {
        nb_cli_failf("chat", "unknown template '%s' (llama2, zephyr, chatml, mistral, plain)", argv[i]);
        goto out;
      }
    } else if (!strcmp(argv[i], "--ctx-policy") && i + 1 < argc) {
      i++;
      if (!strcmp(argv[i], "shift")) a->policy = NB_CTX_SHIFT;
      else if (!strcmp(argv[i], "stop")) a->policy = NB_CTX_STOP;
      else {
        nb_cli_failf("chat", "--ctx-policy is shift or stop, not '%s'", argv[i]);
        goto out;
      }
    } else {
      nb_cli_failf("chat", "unknown or incomplete option '%s' (nibble chat -h)", argv[i]);
      goto out;
    }
  }
  if (!a->o.seed_set) a->o.sp.seed = uv_hrtime();
  setlocale(LC_CTYPE, "");
  cJSON_Hooks hooks = {cj_malloc, cj_free};
  cJSON_InitHooks(&hooks);
  install_crash_handlers();

  rc = 1;
  if (nb_model_load(&a->model, a->o.model, &err) != 0) {
    nb_cli_fail("chat", &err);
    if (err.code == NB_ENOENT)
      fprintf(stderr, "(make the default model with scripts/prepare-models.sh, or pass -m FILE)\n");
    goto out;
  }
  if (nb_tokenizer_from_gguf(&a->tok, nb_model_gguf(a->model), &err) != 0 ||
      nb_ctx_new(&a->ctx, a->model, &a->o.cp, &err) != 0 ||
      nb_sampler_new(&a->smp, &a->o.sp, nb_tokenizer_n_vocab(a->tok), &err) != 0) {
    nb_cli_fail("chat", &err);
    goto out;
  }
  if (a->tpl_kind < 0) {
    nb_str t = {0};
    nb_err e2;
    if (nb_gguf_get_str(nb_model_gguf(a->model), "tokenizer.chat_template", &t, &e2) == 0)
      a->tpl_kind = nb_tpl_detect(t.data, t.len);
    else
      a->tpl_kind = NB_TPL_PLAIN;
  }
  if (nb_conv_init(&a->conv, a->ctx, a->smp, a->tok, a->tpl_kind, &err) != 0) {
    nb_cli_fail("chat", &err);
    goto out;
  }
  a->conv_ok = true;
  a->conv.policy = a->policy;
  /* Default reply length: half the context (at most 256), so a reply
   * never fills the context by itself and the next turn can shift. */
  int32_t half = nb_ctx_n_ctx(a->ctx) / 2;
  a->conv.n_predict = a->o.n_predict > 0 ? a->o.n_predict : (half < 256 ? half : 256);
  if (a->conv.n_predict < 1) a->conv.n_predict = 1;
  if (nb_conv_set_system(&a->conv, a->o.sys) != 0) {
    rc = nb_cli_failf("chat", "out of memory");
    goto out;
  }
  nb_ctx_set_cancel_flag(a->ctx, &a->conv.cancel);
  a->conv.emit_ud = a;
  if (isatty(0)) {
    a->conv.emit = emit_interactive;
    rc = run_interactive(a);
  } else {
    a->conv.emit = emit_piped;
    rc = run_piped(a);
  }
out:
  if (a->conv_ok) nb_conv_free(&a->conv);
  nb_sampler_free(a->smp);
  nb_ctx_free(a->ctx);
  nb_tokenizer_free(a->tok);
  nb_model_free(a->model);
  nb_free(a);
  return rc;
}
