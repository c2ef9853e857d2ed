/* runfile.c: `nibble run -f PROMPTS` (see runfile.h). */
#include "runfile.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gen.h"
#include "lineedit.h"
#include "promptfile.h"
#include "sampleopts.h"

#define CMD "run"

typedef struct rf_out {
  char *s; /* (cap) generated text of the current prompt, NUL-terminated */
  size_t len, cap;
  bool stream;  /* text mode: also write each chunk to stdout */
  bool failed;  /* out of memory while appending */
} rf_out;

static void on_text(void *ud, const char *s, size_t n) {
  rf_out *o = ud;
  if (o->stream) fwrite(s, 1, n, stdout);
  if (o->len + n + 1 > o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 1024;
    while (cap < o->len + n + 1) cap *= 2;
    char *p = nb_realloc(o->s, cap);
    if (p == NULL) {
      o->failed = true;
      return;
    }
    o->s = p;
    o->cap = cap;
  }
  memcpy(o->s + o->len, s, n);
  o->len += n;
  o->s[o->len] = '\0';
}

int nb_cli_run_has_file(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) return 1;
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: nibble run -f PROMPTS [-m FILE] [options]\n\n"
          "Runs every prompt of a file, each from a fresh context.\n\n"
          "  -f FILE              prompts: text (one per line, a trailing '\\'\n"
          "                       continues the line), blocks (separated by a\n"
          "                       line '---') or JSONL ({\"id\",\"prompt\",\"n\",\n"
          "                       \"temp\",\"seed\"}); by extension (.jsonl) or:\n"
          "  --format F           text|blocks|jsonl\n"
          "  -o text|jsonl        output: text with a header per prompt (default)\n"
          "                       or one JSON record per prompt\n"
          "  --no-progress        no progress bar (it is shown only when stderr\n"
          "                       is a terminal)\n"
          "  -s, --seed N         reproducible run: prompt i uses seed N+i unless\n"
          "                       its record sets \"seed\"\n%s",
          nb_gen_opts_help);
}

/* Copy of s[0,n) with every invalid UTF-8 sequence replaced by U+FFFD, so a
 * bad prompt can still be echoed in a valid JSON record. */
static char *sanitize(const char *s, size_t n) {
  char *d = nb_malloc(n * 3 + 1), *w = d;
  if (d == NULL) return NULL;
  size_t i = 0;
  while (i < n) {
    size_t j = nb_utf8_next(s, n, i);
    if (nb_utf8_valid(s + i, j - i)) {
      memcpy(w, s + i, j - i);
      w += j - i;
    } else {
      memcpy(w, "\xEF\xBF\xBD", 3);
      w += 3;
    }
    i = j;
  }
  *w = '\0';
  return d;
}

typedef struct rf_result {
  int32_t n_prompt, n_gen;
  double t_gen;
  const char *stop;
  char error[600];
} rf_result;

static void print_record(bool jsonl, const nb_pf_item *it, const rf_out *o,
                         const rf_result *r) {
  if (!jsonl) {
    if (r->error[0]) {
      printf("error: %s\n", r->error);
    } else {
      /* the generated text was streamed after the prompt */
      if (o->len == 0 || o->s[o->len - 1] != '\n') putchar('\n');
    }
    fflush(stdout);
    return;
  }
  cJSON *j = cJSON_CreateObject();
  if (j == NULL) return;
  if (it->id_is_num) cJSON_AddNumberToObject(j, "id", it->id_num);
  else cJSON_AddStringToObject(j, "id", it->id);
  char *p = it->prompt ? sanitize(it->prompt, it->prompt_len) : NULL;
  if (p) cJSON_AddStringToObject(j, "prompt", p);
  else cJSON_AddNullToObject(j, "prompt");
  nb_free(p);
  cJSON_AddStringToObject(j, "output", o->s ? o->s : "");
  cJSON_AddNumberToObject(j, "prompt_tokens", r->n_prompt);
  cJSON_AddNumberToObject(j, "generated_tokens", r->n_gen);
  cJSON_AddNumberToObject(j, "tok_per_s",
                          r->t_gen > 0 ? (double)(int64_t)(r->n_gen / r->t_gen * 100) / 100 : 0);
  cJSON_AddStringToObject(j, "stop_reason", r->stop);
  if (r->error[0]) cJSON_AddStringToObject(j, "error", r->error);
  else cJSON_AddNullToObject(j, "error");
  char *s = cJSON_PrintUnformatted(j);
  if (s) {
    puts(s);
    cJSON_free(s);
  }
  cJSON_Delete(j);
  fflush(stdout);
}

static void progress(int done, int total, double tokens, double secs) {
  char bar[31];
  int fill = total > 0 ? (int)((double)done / total * 30) : 0;
  for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
  bar[30] = '\0';
  double tps = secs > 0 ? tokens / secs : 0;
  double eta = done > 0 ? secs / done * (total - done) : 0;
  fprintf(stderr, "\r[%s] %d/%d  %.1f tok/s  ETA %d:%02d\x1b[K", bar, done,
          total, tps, (int)eta / 60, (int)eta % 60);
  fflush(stderr);
}

static void *cj_malloc(size_t n) { return nb_malloc(n); }
static void cj_free(void *p) { nb_free(p); }

int nb_cli_run_file(int argc, char **argv) {
  nb_gen_opts o;
  nb_gen_opts_default(&o, 256);
  const char *path = NULL;
  int format = -1;
  bool jsonl = false, want_progress = true;
  for (int i = 1; i < argc; i++) {
    int r = nb_gen_opts_parse(&o, argc, argv, &i, CMD);
    if (r < 0) return 2;
    if (r > 0) continue;
    const char *f = argv[i];
    if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
      usage(stdout);
      return 0;
    } else if ((!strcmp(f, "-f") || !strcmp(f, "--file")) && i + 1 < argc) {
      path = argv[++i];
    } else if (!strcmp(f, "--format") && i + 1 < argc) {
      format = nb_pf_format_from_name(argv[++i]);
      if (format < 0) {
        nb_cli_failf(CMD, "--format is text, blocks or jsonl, not '%s'", argv[i]);
        return 2;
      }
    } else if (!strcmp(f, "-o") && i + 1 < argc) {
      i++;
      if (!strcmp(argv[i], "jsonl")) jsonl = true;
      else if (!strcmp(argv[i], "text")) jsonl = false;
      else {
        nb_cli_failf(CMD, "-o is text or jsonl, not '%s'", argv[i]);
        return 2;
      }
    } else if (!strcmp(f, "--no-progress")) {
      want_progress = false;
    } else if (!strcmp(f, "-p")) {
      nb_cli_failf(CMD, "-p and -f cannot be combined");
      return 2;
    } else {
      nb_cli_failf(CMD, "unknown or incomplete option '%s' (nibble run -f FILE -h)", f);
      return 2;
    }
  }
  if (path == NULL) {
    nb_cli_failf(CMD, "-f needs a file");
    return 2;
  }
  if (format < 0) format = nb_pf_format_from_path(path);
  uint64_t base_seed = o.seed_set ? o.sp.seed : (uint64_t)(nb_gen_now() * 1e6);
  cJSON_Hooks hooks = {cj_malloc, cj_free};
  cJSON_InitHooks(&hooks);

  int rc = 1, n_failed = 0, n_done = 0, total = 0;
  nb_err err = {0};
  nb_model *m = NULL;
  nb_tokenizer *tok = NULL;
  nb_ctx *ctx = NULL;
  nb_sampler *smp = NULL;
  nb_detok *detok = NULL;
  nb_pf_reader *rd = NULL;
  int32_t *sys_ids = NULL, n_sys = 0;
  rf_out out = {0};
  double tokens_all = 0, t_start = nb_gen_now();
  bool show_progress = want_progress && isatty(2);

  /* Count the items first (cheap) so the progress bar has a total. */
  if (nb_pf_open(&rd, path, format, &err) != 0) {
    nb_cli_fail(CMD, &err);
    goto done;
  }
  if (show_progress) {
    nb_pf_item *it;
    int r;
    while ((r = nb_pf_next(rd, &it, &err)) == 1) total++;
    nb_pf_close(rd);
    rd = NULL;
    if (r < 0 || nb_pf_open(&rd, path, format, &err) != 0) {
      nb_cli_fail(CMD, &err);
      goto done;
    }
  }

  if (nb_model_load(&m, o.model, &err) != 0 ||
      nb_tokenizer_from_gguf(&tok, nb_model_gguf(m), &err) != 0 ||
      nb_ctx_new(&ctx, m, &o.cp, &err) != 0 ||
      nb_sampler_new(&smp, &o.sp, nb_tokenizer_n_vocab(tok), &err) != 0 ||
      nb_detok_new(&detok, tok, &err) != 0) {
    nb_cli_fail(CMD, &err);
    goto done;
  }
  int32_t n_ctx = nb_ctx_n_ctx(ctx);
  bool add_bos = nb_tokenizer_add_bos(tok);
  if (o.sys != NULL && o.sys[0] != '\0') {
    if (!nb_utf8_valid(o.sys, strlen(o.sys)) ||
        nb_tokenize(tok, o.sys, strlen(o.sys), add_bos, &sys_ids, &n_sys, &err) != 0) {
      nb_cli_failf(CMD, "system prompt: %s", err.msg[0] ? err.msg : "invalid UTF-8");
      goto done;
    }
    if (n_sys >= n_ctx) {
      nb_cli_failf(CMD, "system prompt is %d tokens; the context holds %d", n_sys, n_ctx);
      goto done;
    }
    if (nb_ctx_eval(ctx, sys_ids, n_sys, &err) != 0) {
      nb_cli_fail(CMD, &err);
      goto done;
    }
  }
  out.stream = !jsonl;

  nb_pf_item *it;
  int r;
  for (int index = 0; (r = nb_pf_next(rd, &it, &err)) == 1; index++) {
    rf_result res = {.stop = "error"};
    int32_t *ids = NULL, n_ids = 0;
    out.len = 0;
    if (out.s) out.s[0] = '\0';
    out.failed = false;
    if (show_progress) fputs("\r\x1b[K", stderr);
    if (!jsonl) printf("=== %s ===\n", it->id);

    if (it->error) {
      snprintf(res.error, sizeof res.error, "%s", it->error);
    } else if (it->prompt_len == 0 || it->prompt[strspn(it->prompt, " \t\r\n")] == '\0') {
      snprintf(res.error, sizeof res.error, "empty prompt");
    } else if (!nb_utf8_valid(it->prompt, it->prompt_len) ||
               memchr(it->prompt, '\0', it->prompt_len) != NULL) {
      snprintf(res.error, sizeof res.error, "prompt is not valid UTF-8 text");
    } else if (nb_tokenize(tok, it->prompt, it->prompt_len, add_bos && n_sys == 0,
                           &ids, &n_ids, &err) != 0) {
      snprintf(res.error, sizeof res.error, "%s", err.msg);
    } else if (n_sys + n_ids >= n_ctx) {
      res.n_prompt = n_ids;
      if (n_sys > 0)
        snprintf(res.error, sizeof res.error,
                 "prompt is too long: %d tokens (%d with the system prompt); "
                 "the context holds %d, including one generated token",
                 n_ids, n_sys + n_ids, n_ctx);
      else
        snprintf(res.error, sizeof res.error,
                 "prompt is too long: %d tokens; the context holds %d, "
                 "including one generated token", n_ids, n_ctx);
    } else {
      nb_sampler_params sp = o.sp;
      sp.seed = it->has_seed ? it->seed : base_seed + (uint64_t)index;
      if (it->has_temp) sp.temp = it->temp;
      int32_t n_pred = it->has_n ? it->n : o.n_predict;
      if (nb_ctx_truncate(ctx, n_sys, &err) != 0 ||
          nb_sampler_set_params(smp, &sp, &err) != 0) {
        snprintf(res.error, sizeof res.error, "%s", err.msg);
      } else {
        nb_sampler_reset(smp);
        for (int32_t k = 0; k < n_sys; k++) nb_sampler_accept(smp, sys_ids[k]);
        /* Push the prompt through the decoder (output discarded) so the
         * first generated piece keeps its leading space. */
        nb_detok_reset(detok);
        nb_str s;
        for (int32_t k = 0; k < n_ids; k++) nb_detok_push(detok, ids[k], &s, &err);
        if (!jsonl) {
          fwrite(it->prompt, 1, it->prompt_len, stdout);
          fflush(stdout);
        }
        nb_gen g;
        nb_gen_init(&g, ctx, smp, tok, detok);
        g.n_predict = n_pred;
        g.on_text = on_text;
        g.ud = &out;
        nb_gen_stats st;
        if (n_pred == 0) {
          res.stop = "length";
          res.n_prompt = n_ids;
        } else if (nb_gen_run(&g, ids, n_ids, &st, &err) != 0) {
          snprintf(res.error, sizeof res.error, "%s", err.msg);
          res.n_prompt = n_ids;
        } else {
          res.n_prompt = st.n_prompt;
          res.n_gen = st.n_gen;
          res.t_gen = st.t_gen;
          res.stop = nb_gen_stop_name(st.stop);
          tokens_all += st.n_gen;
        }
        if (out.failed) snprintf(res.error, sizeof res.error, "out of memory");
      }
    }
    nb_free(ids);
    if (res.error[0]) {
      n_failed++;
      res.stop = "error";
      if (jsonl || !isatty(1))
        fprintf(stderr, "nibble run: prompt %s: %s\n", it->id, res.error);
    }
    print_record(jsonl, it, &out, &res);
    n_done++;
    if (show_progress) progress(n_done, total, tokens_all, nb_gen_now() - t_start);
  }
  if (show_progress) fputs("\r\x1b[K", stderr);
  if (r < 0) {
    nb_cli_fail(CMD, &err);
    goto done;
  }
  double secs = nb_gen_now() - t_start;
  fprintf(stderr, "nibble run: %d prompts, %d failed, %.0f tokens generated in %.2f s (%.1f tok/s)\n",
          n_done, n_failed, tokens_all, secs, secs > 0 ? tokens_all / secs : 0);
  rc = n_failed > 0 ? 1 : 0;
done:
  nb_pf_close(rd);
  nb_free(out.s);
  nb_free(sys_ids);
  nb_detok_free(detok);
  nb_sampler_free(smp);
  nb_ctx_free(ctx);
  nb_tokenizer_free(tok);
  nb_model_free(m);
  return rc;
}
