/*
 * test_chat.c: `nibble chat` driven through a pseudo-terminal with the real
 * stories260K model (llama.cpp's F32 GGUF from the shared models), plus unit
 * tests of the line editor and the history file. Every wait has a deadline,
 * so a hang fails the test instead of blocking CI.
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/cli/history.h"
#include "../src/cli/lineedit.h"
#include "../src/cli/template.h"
#include "nibble.h"
#include "proc_util.h"
#include "testutil.h"

/* A prompt is on screen: the editor starts a line with "\r>>> " right after
 * a newline (typing redraws "\r>>> ..." too, but never after "\n"). */
#define PROMPT "\n\r>>> "
#define LOAD_MS 60000
#define REPLY_MS 60000

static const char *model(void) {
  return nbt_shared("llamacpp/stories260K-f32.gguf");
}

static void expect(nbt_pty *p, const char *needle, int ms) {
  if (nbt_pty_expect(p, needle, ms)) return;
  size_t from = p->len > 1500 ? p->len - 1500 : 0;
  ck_abort_msg("did not see \"%s\" within %d ms; last output:\n%s", needle, ms,
               p->out + from);
}

/* Starts `nibble chat -m MODEL args...` on a pty with its own history file. */
static void start(nbt_pty *p, const char *const *args) {
  char *argv[32];
  int n = 0;
  argv[n++] = (char *)nbt_build("nibble");
  argv[n++] = "chat";
  argv[n++] = "-m";
  argv[n++] = (char *)model();
  for (int i = 0; args[i] && n < 31; i++) argv[n++] = (char *)args[i];
  argv[n] = NULL;
  setenv("NIBBLE_HISTORY", nbt_tmp("history"), 1);
  setenv("LC_ALL", "C.UTF-8", 1);
  nbt_pty_spawn(p, argv);
  expect(p, PROMPT, LOAD_MS);
}

/* Sends a line and waits for the next prompt. */
static void turn(nbt_pty *p, const char *line) {
  nbt_pty_send(p, line);
  nbt_pty_send(p, "\r");
  expect(p, PROMPT, REPLY_MS);
}

static void quit_and_check(nbt_pty *p, const char *how) {
  nbt_pty_send(p, how);
  ck_assert_msg(nbt_pty_wait(p, 20000), "chat did not exit; output:\n%s", p->out);
  ck_assert_msg(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0,
                "exit status %d; output:\n%s", p->status, p->out);
  ck_assert_msg(nbt_pty_termios_restored(p), "terminal left in raw mode");
}

static cJSON *load_json(const char *path) {
  char *s = nbt_read_file(path, NULL);
  ck_assert_msg(s != NULL, "cannot read %s", path);
  cJSON *j = cJSON_Parse(s);
  nb_free(s);
  ck_assert_msg(j != NULL, "%s is not JSON", path);
  return j;
}

static const char *turn_field(cJSON *j, int i, const char *key) {
  cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "turns"), i);
  ck_assert_ptr_nonnull(t);
  cJSON *v = cJSON_GetObjectItem(t, key);
  ck_assert(cJSON_IsString(v));
  return v->valuestring;
}

/* The number after `key` in the output since `from`, or -1. */
static long number_after(const nbt_pty *p, size_t from, const char *key) {
  const char *s = strstr(p->out + from, key);
  return s ? strtol(s + strlen(key), NULL, 10) : -1;
}

START_TEST(test_two_turns_stats_save_history) {
  nbt_pty p;
  start(&p, (const char *[]){"-n", "24", "-s", "1", NULL});
  turn(&p, "Once upon a time");
  turn(&p, "Then Lily said");
  char cmd[600];
  const char *f = nbt_tmp("two.json");
  snprintf(cmd, sizeof cmd, "/save %s\r", f);
  nbt_pty_send(&p, cmd);
  expect(&p, "saved 2 turns", 10000);
  expect(&p, PROMPT, 10000);
  size_t at = p.mark;
  nbt_pty_send(&p, "/stats\r");
  expect(&p, "last reply: ", 10000);
  expect(&p, PROMPT, 10000);
  long used = number_after(&p, at, "context: ");
  ck_assert_msg(used > 10 && used <= 512, "context used %ld", used);
  ck_assert_ptr_nonnull(strstr(p.out + at, "/ 512 tokens used"));
  quit_and_check(&p, "/bye\r");

  cJSON *j = load_json(f);
  ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "turns")), 2);
  ck_assert_str_eq(turn_field(j, 0, "user"), "Once upon a time");
  ck_assert_str_eq(turn_field(j, 1, "user"), "Then Lily said");
  ck_assert_int_gt(strlen(turn_field(j, 0, "assistant")), 0);
  ck_assert_int_gt(strlen(turn_field(j, 1, "assistant")), 0);
  cJSON_Delete(j);
  /* every entered line was saved to the history file */
  char *h = nbt_read_file(nbt_tmp("history"), NULL);
  ck_assert_ptr_nonnull(h);
  ck_assert_ptr_nonnull(strstr(h, "Once upon a time\n"));
  ck_assert_ptr_nonnull(strstr(h, "/bye\n"));
  nb_free(h);
  nbt_pty_close(&p);
}
END_TEST

START_TEST(test_ctrl_c_mid_reply_then_next_turn) {
  nbt_pty p;
  /* Greedy "Once upon a time" runs past 250 tokens without EOS (golden
   * file), so the reply is still streaming when Ctrl-C arrives. */
  start(&p, (const char *[]){"--temp", "0", "-n", "480", NULL});
  nbt_pty_send(&p, "Once upon a time\r");
  expect(&p, "Lily", REPLY_MS);
  nbt_pty_send(&p, "\x03");
  expect(&p, "[interrupted]", 5000);
  expect(&p, PROMPT, 5000);
  size_t at = p.mark;
  nbt_pty_send(&p, "/context\r");
  expect(&p, PROMPT, 10000);
  long kept = number_after(&p, at, "-> ");
  ck_assert_msg(kept > 0 && kept < 480, "reply tokens kept after Ctrl-C: %ld", kept);
  /* the session goes on */
  turn(&p, "The dog");
  at = p.mark;
  nbt_pty_send(&p, "/stats\r");
  expect(&p, PROMPT, 10000);
  ck_assert_ptr_null(strstr(p.out + at, "ended: interrupted"));
  /* Ctrl-C at an empty prompt explains how to quit */
  nbt_pty_send(&p, "\x03");
  expect(&p, "Ctrl-D or type /bye", 5000);
  expect(&p, PROMPT, 5000);
  quit_and_check(&p, "\x04");
  nbt_pty_close(&p);
}
END_TEST

START_TEST(test_multiline_block) {
  nbt_pty p;
  start(&p, (const char *[]){"-n", "8", "-s", "2", NULL});
  nbt_pty_send(&p, "\"\"\"Once upon\r");
  expect(&p, "\n\r... ", 10000);
  nbt_pty_send(&p, "a time\r");
  expect(&p, "\n\r... ", 10000);
  turn(&p, "there was\"\"\"");
  const char *f = nbt_tmp("ml.json");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "/save %s\r", f);
  nbt_pty_send(&p, cmd);
  expect(&p, "saved 1 turns", 10000);
  quit_and_check(&p, "/bye\r");
  cJSON *j = load_json(f);
  ck_assert_str_eq(turn_field(j, 0, "user"), "Once upon\na time\nthere was");
  cJSON_Delete(j);
  nbt_pty_close(&p);
}
END_TEST

START_TEST(test_set_temp_0_is_deterministic_after_clear) {
  nbt_pty p;
  start(&p, (const char *[]){"-n", "32", NULL});
  nbt_pty_send(&p, "/set temp 0\r");
  expect(&p, "temp = 0", 10000);
  expect(&p, PROMPT, 10000);
  turn(&p, "Once upon a time");
  const char *f1 = nbt_tmp("det1.json"), *f2 = nbt_tmp("det2.json");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "/save %s\r", f1);
  nbt_pty_send(&p, cmd);
  expect(&p, "saved 1 turns", 10000);
  nbt_pty_send(&p, "/clear\r");
  expect(&p, "new conversation", 10000);
  expect(&p, PROMPT, 10000);
  turn(&p, "Once upon a time");
  snprintf(cmd, sizeof cmd, "/save %s\r", f2);
  nbt_pty_send(&p, cmd);
  expect(&p, "saved 1 turns", 10000);
  /* /load brings the first conversation back */
  snprintf(cmd, sizeof cmd, "/load %s\r", f1);
  nbt_pty_send(&p, cmd);
  expect(&p, "loaded 1 turns", 10000);
  expect(&p, PROMPT, 10000);
  turn(&p, "The end");
  quit_and_check(&p, "/bye\r");
  cJSON *a = load_json(f1), *b = load_json(f2);
  const char *ra = turn_field(a, 0, "assistant"), *rb = turn_field(b, 0, "assistant");
  ck_assert_int_gt(strlen(ra), 10);
  ck_assert_str_eq(ra, rb);
  cJSON_Delete(a);
  cJSON_Delete(b);
  nbt_pty_close(&p);
}
END_TEST

START_TEST(test_overflow_shift_notice) {
  nbt_pty p;
  start(&p, (const char *[]){"-c", "64", "-n", "40", "--temp", "0", NULL});
  bool seen = false;
  for (int i = 0; i < 8 && !seen; i++) {
    size_t at = p.mark;
    turn(&p, i == 0 ? "Once upon a time" : "Lily went to the park");
    seen = strstr(p.out + at, "context full: dropped the") != NULL;
  }
  ck_assert_msg(seen, "no shift notice after 8 turns in a 64-token context:\n%s", p.out);
  size_t at = p.mark;
  nbt_pty_send(&p, "/stats\r");
  expect(&p, PROMPT, 10000);
  long used = number_after(&p, at, "context: ");
  ck_assert_msg(used > 0 && used <= 64, "context used %ld", used);
  at = p.mark;
  nbt_pty_send(&p, "/context\r");
  expect(&p, PROMPT, 10000);
  ck_assert_ptr_nonnull(strstr(p.out + at, "[dropped]"));
  quit_and_check(&p, "/bye\r");
  nbt_pty_close(&p);
}
END_TEST

START_TEST(test_overflow_stop_policy_and_huge_turn) {
  nbt_pty p;
  start(&p, (const char *[]){"-c", "64", "-n", "40", "--temp", "0",
                             "--ctx-policy", "stop", NULL});
  bool refused = false;
  for (int i = 0; i < 8 && !refused; i++) {
    size_t at = p.mark;
    turn(&p, "Once upon a time");
    refused = strstr(p.out + at, "turn refused") != NULL;
  }
  ck_assert_msg(refused, "stop policy never refused a turn:\n%s", p.out);
  /* a single turn longer than the whole context is refused, not cut */
  nbt_pty_send(&p, "/clear\r");
  expect(&p, PROMPT, 10000);
  char big[1200] = "";
  for (int i = 0; i < 60; i++) strcat(big, "Lily and Tom ");
  size_t at = p.mark;
  turn(&p, big);
  ck_assert_ptr_nonnull(strstr(p.out + at, "turn refused: it is"));
  quit_and_check(&p, "/bye\r");
  nbt_pty_close(&p);
}
END_TEST

START_TEST(test_sigterm_and_crash_restore_terminal) {
  nbt_pty p;
  start(&p, (const char *[]){"--temp", "0", "-n", "480", NULL});
  nbt_pty_send(&p, "Once upon a time\r");
  expect(&p, "Lily", REPLY_MS);
  kill(p.pid, SIGTERM);
  ck_assert(nbt_pty_wait(&p, 20000));
  ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 128 + SIGTERM,
                "status %d", p.status);
  ck_assert_msg(nbt_pty_termios_restored(&p), "raw mode left after SIGTERM");
  nbt_pty_close(&p);

  start(&p, (const char *[]){"-n", "8", NULL});
  kill(p.pid, SIGSEGV);
  ck_assert(nbt_pty_wait(&p, 20000));
  ck_assert_msg(WIFSIGNALED(p.status) && WTERMSIG(p.status) == SIGSEGV,
                "status %d", p.status);
  ck_assert_msg(nbt_pty_termios_restored(&p), "raw mode left after SIGSEGV");
  nbt_pty_close(&p);

  start(&p, (const char *[]){"-n", "8", NULL});
  kill(p.pid, SIGHUP);
  ck_assert(nbt_pty_wait(&p, 20000));
  ck_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 128 + SIGHUP);
  ck_assert_msg(nbt_pty_termios_restored(&p), "raw mode left after SIGHUP");
  nbt_pty_close(&p);
}
END_TEST

START_TEST(test_unwritable_history_is_a_warning) {
  nbt_pty p;
  start(&p, (const char *[]){"-n", "4", NULL});
  /* the child read NIBBLE_HISTORY at start; a new session with a bad path: */
  nbt_pty_close(&p);
  setenv("NIBBLE_HISTORY", "/nonexistent-dir/nibble_history", 1);
  char *argv[] = {(char *)nbt_build("nibble"), "chat", "-m",
                  (char *)model(), "-n", "4", NULL};
  nbt_pty_spawn(&p, argv);
  expect(&p, PROMPT, LOAD_MS);
  nbt_pty_send(&p, "/bye\r");
  ck_assert(nbt_pty_wait(&p, 20000));
  ck_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
  ck_assert_ptr_nonnull(strstr(p.out, "warning: cannot save history"));
  ck_assert(nbt_pty_termios_restored(&p));
  nbt_pty_close(&p);
}
END_TEST

START_TEST(test_piped_stdin_prints_only_replies) {
  char *argv[] = {(char *)nbt_build("nibble"), "chat", "-m",
                  (char *)model(), "-n", "16", "-s", "3", NULL};
  const char *in = "Once upon a time\n\nThe dog\n";
  char *out1 = NULL, *out2 = NULL, *err = NULL;
  int st = nbt_run(argv, in, strlen(in), &out1, NULL, &err, 60000, NULL);
  ck_assert_msg(st == 0, "status %d, stderr: %s", st, err);
  nb_free(err);
  ck_assert_ptr_null(strstr(out1, ">>>"));
  ck_assert_ptr_null(strstr(out1, "nibble chat"));
  size_t len = strlen(out1);
  ck_assert_msg(len > 4 && out1[len - 1] == '\n', "output: '%s'", out1);
  /* two turns (the blank line is not a turn): the last two lines end the
   * replies; replies may contain newlines of their own */
  int nl = 0;
  for (size_t i = 0; i < len; i++) nl += out1[i] == '\n';
  ck_assert_int_ge(nl, 2);
  st = nbt_run(argv, in, strlen(in), &out2, NULL, NULL, 60000, NULL);
  ck_assert_int_eq(st, 0);
  ck_assert_str_eq(out1, out2); /* same seed, same replies */
  nb_free(out1);
  nb_free(out2);
}
END_TEST

/* ------------------------------------------------ line editor, history */

static nb_le *le_new(nb_hist *h) {
  int fd = open("/dev/null", O_WRONLY);
  ck_assert_int_ge(fd, 0);
  nb_le *le = nb_le_new(fd, h);
  ck_assert_ptr_nonnull(le);
  nb_le_begin(le, "> ");
  return le;
}

static int feed(nb_le *le, const char *keys) {
  int ev = NB_LE_NONE;
  for (const char *k = keys; *k; k++) {
    ev = nb_le_feed(le, (unsigned char)*k);
    if (ev != NB_LE_NONE) return ev;
  }
  return ev;
}

static const char *text(nb_le *le) { return nb_le_text(le, NULL); }

START_TEST(test_lineedit_keys_utf8) {
  nb_le *le = le_new(NULL);
  feed(le, "h\xC3\xA9llo");                         /* héllo */
  feed(le, "\x1b[D\x1b[D\x1b[D\x1b[D");             /* 4x left: after h */
  feed(le, "\x1b[C");                               /* right: after é */
  feed(le, "\x7f");                                 /* backspace removes é */
  ck_assert_str_eq(text(le), "hllo");
  feed(le, "\xE2\x82\xAC");                         /* insert € */
  ck_assert_str_eq(text(le), "h\xE2\x82\xAC" "llo");
  feed(le, "\x01X");                                /* Ctrl-A, insert */
  ck_assert_str_eq(text(le), "Xh\xE2\x82\xAC" "llo");
  feed(le, "\x05!");                                /* Ctrl-E, append */
  ck_assert_str_eq(text(le), "Xh\xE2\x82\xAC" "llo!");
  feed(le, "\x1b[H\x1b[3~");                        /* Home, Delete */
  ck_assert_str_eq(text(le), "h\xE2\x82\xAC" "llo!");
  feed(le, "\x1b[F\x1b[D\x1b[D\x0b");               /* End, 2x left, Ctrl-K */
  ck_assert_str_eq(text(le), "h\xE2\x82\xAC" "ll");
  feed(le, " one two");
  feed(le, "\x17");                                 /* Ctrl-W */
  ck_assert_str_eq(text(le), "h\xE2\x82\xAC" "ll one ");
  feed(le, "\x1b[D\x1b[D\x15");                     /* Ctrl-U kills to start */
  ck_assert_str_eq(text(le), "e ");
  feed(le, "\x04");                       /* Ctrl-D deletes under the cursor */
  ck_assert_str_eq(text(le), " ");
  ck_assert_int_eq(feed(le, "\x03"), NB_LE_INTERRUPT);
  ck_assert_str_eq(text(le), " ");        /* Ctrl-C leaves the line to the caller */
  ck_assert_int_eq(feed(le, "\r"), NB_LE_LINE);
  ck_assert_str_eq(text(le), " ");
  nb_le_begin(le, "> ");
  ck_assert_int_eq(feed(le, "\x04"), NB_LE_EOF);    /* Ctrl-D on empty */
  nb_le_free(le);
}
END_TEST

START_TEST(test_lineedit_history_navigation) {
  nb_hist *h = nb_hist_new(10);
  nb_hist_add(h, "first");
  nb_hist_add(h, "second");
  nb_le *le = le_new(h);
  feed(le, "draft");
  feed(le, "\x1b[A");
  ck_assert_str_eq(text(le), "second");
  feed(le, "\x1b[A\x1b[A");                         /* stops at the oldest */
  ck_assert_str_eq(text(le), "first");
  feed(le, "\x1b[B");
  ck_assert_str_eq(text(le), "second");
  feed(le, "\x1b[B");                               /* back to the draft */
  ck_assert_str_eq(text(le), "draft");
  feed(le, "\x10");                                 /* Ctrl-P */
  ck_assert_str_eq(text(le), "second");
  nb_le_free(le);
  nb_hist_free(h);
}
END_TEST

START_TEST(test_history_bounded_and_persisted) {
  nb_hist *h = nb_hist_new(1000);
  char line[32];
  for (int i = 0; i < 1200; i++) {
    snprintf(line, sizeof line, "line %d", i);
    ck_assert_int_eq(nb_hist_add(h, line), 0);
  }
  nb_hist_add(h, "line 1199"); /* duplicate of the newest: ignored */
  nb_hist_add(h, "");          /* empty: ignored */
  nb_hist_add(h, "two\nlines \\ and a backslash");
  ck_assert_int_eq(nb_hist_count(h), 1000);
  ck_assert_str_eq(nb_hist_get(h, 0), "line 201");
  const char *f = nbt_tmp("hist.txt");
  ck_assert_int_eq(nb_hist_save(h, f), 0);
  nb_hist *g = nb_hist_new(1000);
  ck_assert_int_eq(nb_hist_load(g, f), 0);
  ck_assert_int_eq(nb_hist_count(g), 1000);
  ck_assert_str_eq(nb_hist_get(g, 999), "two\nlines \\ and a backslash");
  ck_assert_str_eq(nb_hist_get(g, 0), "line 201");
  ck_assert_int_lt(nb_hist_save(g, "/nonexistent-dir/h"), 0);
  ck_assert_int_eq(nb_hist_load(g, "/nonexistent-dir/h"), 0); /* missing: fine */
  nb_hist_free(g);
  nb_hist_free(h);
}
END_TEST

START_TEST(test_utf8_validation) {
  ck_assert(nb_utf8_valid("abc \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 15));
  ck_assert(!nb_utf8_valid("\xFF", 1));
  ck_assert(!nb_utf8_valid("\xC3", 1));           /* truncated */
  ck_assert(!nb_utf8_valid("\xC0\xAF", 2));       /* overlong */
  ck_assert(!nb_utf8_valid("\xED\xA0\x80", 3));   /* surrogate */
  ck_assert(!nb_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
  const char *s = "a\xE2\x82\xAC" "b";
  ck_assert_uint_eq(nb_utf8_next(s, 5, 1), 4);
  ck_assert_uint_eq(nb_utf8_prev(s, 4), 1);
}
END_TEST


/* ------------------------------------------------------------ templates */

START_TEST(test_template_detect_by_content) {
  static const struct { const char *tmpl; int kind; } cases[] = {
      {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'"
       " + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}", NB_TPL_CHATML},
      {"{{ bos_token }}{% if message['role'] == 'system' %}<<SYS>>\n{{ content }}"
       "\n<</SYS>>\n\n{% endif %}[INST] {{ content }} [/INST]", NB_TPL_LLAMA2},
      {"{{ bos_token }}{% for message in messages %}[INST] {{ message['content'] }}"
       " [/INST]{% endfor %}", NB_TPL_MISTRAL},
      {"{% for message in messages %}{% if message['role'] == 'user' %}"
       "{{ '<|user|>\n' + message['content'] + eos_token }}{% endif %}", NB_TPL_ZEPHYR},
      {"{{ messages }}", NB_TPL_PLAIN},
      {"", NB_TPL_PLAIN},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    ck_assert_int_eq(nb_tpl_detect(cases[i].tmpl, strlen(cases[i].tmpl)), cases[i].kind);
  ck_assert_int_eq(nb_tpl_from_name("chatml"), NB_TPL_CHATML);
  ck_assert_int_eq(nb_tpl_from_name("llama3"), -1);
  ck_assert_str_eq(nb_tpl_name(NB_TPL_ZEPHYR), "zephyr");
}
END_TEST

/* Decodes rendered ids back to text, BOS/EOS shown as <s> </s> and every
 * run of other ids decoded at once (so spaces are kept). */
static void render_text(const nb_tokenizer *tok, const nb_toks *t, char *out,
                        size_t cap) {
  out[0] = '\0';
  size_t l = 0;
  int32_t i = 0;
  while (i < t->n) {
    int32_t id = t->v[i];
    if (id == nb_tokenizer_bos(tok) || id == nb_tokenizer_eos(tok)) {
      l += (size_t)snprintf(out + l, cap - l, "%s", id == nb_tokenizer_bos(tok) ? "<s>" : "</s>");
      i++;
      continue;
    }
    int32_t j = i;
    while (j < t->n && t->v[j] != nb_tokenizer_bos(tok) && t->v[j] != nb_tokenizer_eos(tok)) j++;
    char *d = NULL;
    size_t n;
    nb_err e;
    ck_assert_int_eq(nb_detokenize(tok, t->v + i, j - i, &d, &n, &e), 0);
    l += (size_t)snprintf(out + l, cap - l, "%s", d);
    nb_free(d);
    i = j;
  }
}

START_TEST(test_template_rendering) {
  nb_model *m = NULL;
  nb_tokenizer *tok = NULL;
  nb_err e;
  ck_assert_int_eq(nb_model_load(&m, model(), &e), 0);
  ck_assert_int_eq(nb_tokenizer_from_gguf(&tok, nb_model_gguf(m), &e), 0);
  nb_tpl t;
  nb_toks a = {0};
  char buf[1024];
  /* llama2: the system prompt lives in the first turn still in context */
  nb_tpl_init(&t, NB_TPL_LLAMA2, tok);
  ck_assert_int_eq(nb_tpl_prefix(&t, "Be kind.", &a, &e), 0);
  ck_assert_int_eq(a.n, 0);
  ck_assert_int_eq(nb_tpl_user(&t, "Be kind.", "Hi", true, &a, &e), 0);
  ck_assert_int_eq(a.v[0], nb_tokenizer_bos(tok));
  render_text(tok, &a, buf, sizeof buf);
  ck_assert_msg(strstr(buf, "[INST]") && strstr(buf, "<<SYS>>") && strstr(buf, "Be kind.") &&
                    strstr(buf, "Hi") && strstr(buf, "[/INST]"), "llama2 first turn: %s", buf);
  a.n = 0;
  ck_assert_int_eq(nb_tpl_user(&t, "Be kind.", "Hi", false, &a, &e), 0);
  render_text(tok, &a, buf, sizeof buf);
  ck_assert_ptr_null(strstr(buf, "SYS"));
  a.n = 0;
  ck_assert_int_eq(nb_tpl_close(&t, &a, &e), 0);
  ck_assert_int_eq(a.n, 1);
  ck_assert_int_eq(a.v[0], nb_tokenizer_eos(tok));
  ck_assert(nb_tpl_is_stop(&t, nb_tokenizer_eos(tok)));
  ck_assert(!nb_tpl_is_stop(&t, nb_tokenizer_bos(tok)));
  /* plain: BOS + system text, then each message as text, nothing else */
  nb_tpl_init(&t, NB_TPL_PLAIN, tok);
  a.n = 0;
  ck_assert_int_eq(nb_tpl_prefix(&t, NULL, &a, &e), 0);
  ck_assert_int_eq(a.n, 1);
  ck_assert_int_eq(nb_tpl_user(&t, NULL, "Once upon a time", true, &a, &e), 0);
  int32_t *ids = NULL, n = 0;
  ck_assert_int_eq(nb_tokenize(tok, "Once upon a time", 16, true, &ids, &n, &e), 0);
  ck_assert_int_eq(a.n, n); /* same ids as run -p would evaluate */
  for (int32_t i = 0; i < n; i++) ck_assert_int_eq(a.v[i], ids[i]);
  nb_free(ids);
  a.n = 0;
  ck_assert_int_eq(nb_tpl_close(&t, &a, &e), 0);
  ck_assert_int_eq(a.n, 0);
  ck_assert(nb_tpl_is_stop(&t, nb_tokenizer_bos(tok)));
  /* chatml and zephyr wrap the roles */
  nb_tpl_init(&t, NB_TPL_CHATML, tok);
  a.n = 0;
  ck_assert_int_eq(nb_tpl_user(&t, NULL, "Hi", true, &a, &e), 0);
  render_text(tok, &a, buf, sizeof buf);
  ck_assert_msg(strstr(buf, "user") && strstr(buf, "assistant") && strstr(buf, "im_end"),
                "chatml: %s", buf);
  nb_tpl_init(&t, NB_TPL_ZEPHYR, tok);
  a.n = 0;
  ck_assert_int_eq(nb_tpl_prefix(&t, "Be kind.", &a, &e), 0);
  render_text(tok, &a, buf, sizeof buf);
  ck_assert_msg(strstr(buf, "system") && strstr(buf, "Be kind.") && strstr(buf, "</s>"),
                "zephyr prefix: %s", buf);
  nb_toks_free(&a);
  nb_tokenizer_free(tok);
  nb_model_free(m);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("chat");
  TCase *u = tcase_create("editor");
  tcase_add_test(u, test_lineedit_keys_utf8);
  tcase_add_test(u, test_lineedit_history_navigation);
  tcase_add_test(u, test_history_bounded_and_persisted);
  tcase_add_test(u, test_utf8_validation);
  tcase_add_test(u, test_template_detect_by_content);
  tcase_add_test(u, test_template_rendering);
  suite_add_tcase(s, u);
  TCase *t = tcase_create("pty");
  tcase_set_timeout(t, 240);
  tcase_add_test(t, test_two_turns_stats_save_history);
  tcase_add_test(t, test_ctrl_c_mid_reply_then_next_turn);
  tcase_add_test(t, test_multiline_block);
  tcase_add_test(t, test_set_temp_0_is_deterministic_after_clear);
  tcase_add_test(t, test_overflow_shift_notice);
  tcase_add_test(t, test_overflow_stop_policy_and_huge_turn);
  tcase_add_test(t, test_sigterm_and_crash_restore_terminal);
  tcase_add_test(t, test_unwritable_history_is_a_warning);
  tcase_add_test(t, test_piped_stdin_prints_only_replies);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return nbt_run_suite(suite()); }
