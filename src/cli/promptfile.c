/* promptfile.c: streaming reader for prompt files (see promptfile.h). */
#include "promptfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb_internal.h"

struct nb_pf_reader {
  FILE *f;
  int format;
  int lineno;     /* lines read so far */
  int index;      /* items returned so far */
  char *line;     /* getline buffer (libc) */
  size_t line_cap;
  char *acc;      /* (acc_cap) accumulated prompt text */
  size_t acc_len, acc_cap;
  nb_pf_item item;
};

int nb_pf_format_from_name(const char *name) {
  if (strcmp(name, "text") == 0) return NB_PF_TEXT;
  if (strcmp(name, "blocks") == 0) return NB_PF_BLOCKS;
  if (strcmp(name, "jsonl") == 0) return NB_PF_JSONL;
  return -1;
}

int nb_pf_format_from_path(const char *path) {
  const char *dot = strrchr(path, '.');
  if (dot && (strcmp(dot, ".jsonl") == 0 || strcmp(dot, ".json") == 0))
    return NB_PF_JSONL;
  return NB_PF_TEXT;
}

int nb_pf_open(nb_pf_reader **out, const char *path, int format, nb_err *err) {
  *out = NULL;
  nb_pf_reader *r = nb_calloc(1, sizeof *r);
  if (r == NULL) return nb__err(err, NB_ENOMEM, "out of memory");
  r->f = fopen(path, "rb");
  if (r->f == NULL) {
    int e = errno;
    nb_free(r);
    return nb__err(err, e == ENOENT ? NB_ENOENT : NB_EIO, "%s: %s", path,
                      strerror(e));
  }
  r->format = format;
  *out = r;
  return 0;
}

static void item_clear(nb_pf_item *it) {
  nb_free(it->id);
  nb_free(it->prompt);
  nb_free(it->error);
  memset(it, 0, sizeof *it);
}

void nb_pf_close(nb_pf_reader *r) {
  if (r == NULL) return;
  item_clear(&r->item);
  if (r->f) fclose(r->f);
  free(r->line); /* getline's buffer is libc's */
  nb_free(r->acc);
  nb_free(r);
}

static char *dup_n(const char *s, size_t n) {
  char *d = nb_malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return dup_n(buf, strlen(buf));
}

/* Reads one line without its "\n" / "\r\n". -1 at the end. */
static ssize_t read_line(nb_pf_reader *r) {
  ssize_t n = getline(&r->line, &r->line_cap, r->f);
  if (n < 0) return -1;
  r->lineno++;
  if (n > 0 && r->line[n - 1] == '\n') r->line[--n] = '\0';
  if (n > 0 && r->line[n - 1] == '\r') r->line[--n] = '\0';
  return n;
}

static int acc_add(nb_pf_reader *r, const char *s, size_t n) {
  if (r->acc_len + n + 1 > r->acc_cap) {
    size_t cap = r->acc_cap ? r->acc_cap : 256;
    while (cap < r->acc_len + n + 1) cap *= 2;
    char *a = nb_realloc(r->acc, cap);
    if (a == NULL) return NB_ENOMEM;
    r->acc = a;
    r->acc_cap = cap;
  }
  memcpy(r->acc + r->acc_len, s, n);
  r->acc_len += n;
  r->acc[r->acc_len] = '\0';
  return 0;
}

/* The accumulated text becomes the current item's prompt. */
static int take_acc(nb_pf_reader *r, int start_line, nb_err *err) {
  nb_pf_item *it = &r->item;
  it->line = start_line;
  it->prompt = dup_n(r->acc ? r->acc : "", r->acc_len);
  it->prompt_len = r->acc_len;
  it->id = fmt("%d", r->index + 1);
  if (it->prompt == NULL || it->id == NULL)
    return nb__err(err, NB_ENOMEM, "out of memory");
  r->index++;
  return 1;
}

static int next_text(nb_pf_reader *r, nb_err *err) {
  ssize_t n;
  int start = 0;
  r->acc_len = 0;
  while ((n = read_line(r)) >= 0) {
    if (start == 0 && strspn(r->line, " \t") == (size_t)n) continue; /* blank */
    if (start == 0) start = r->lineno;
    bool cont = n > 0 && r->line[n - 1] == '\\';
    if (acc_add(r, r->line, (size_t)(cont ? n - 1 : n)))
      return nb__err(err, NB_ENOMEM, "out of memory");
    if (!cont) return take_acc(r, start, err);
    if (acc_add(r, "\n", 1)) return nb__err(err, NB_ENOMEM, "out of memory");
  }
  if (ferror(r->f)) return nb__err(err, NB_EIO, "read error");
  if (start != 0) return take_acc(r, start, err); /* '\' on the last line */
  return 0;
}

static int next_block(nb_pf_reader *r, nb_err *err) {
  ssize_t n;
  int start = 0;
  r->acc_len = 0;
  for (;;) {
    n = read_line(r);
    bool sep = n >= 0 && strcmp(r->line, "---") == 0;
    if (n < 0 || sep) {
      while (r->acc_len > 0 && (r->acc[r->acc_len - 1] == '\n'))
        r->acc[--r->acc_len] = '\0';
      if (r->acc_len > 0) return take_acc(r, start, err);
      if (n < 0) break;
      start = 0;
      continue;
    }
    if (r->acc_len == 0 && n == 0) continue; /* leading blank lines */
    if (start == 0) start = r->lineno;
    if (acc_add(r, r->line, (size_t)n) || acc_add(r, "\n", 1))
      return nb__err(err, NB_ENOMEM, "out of memory");
  }
  if (ferror(r->f)) return nb__err(err, NB_EIO, "read error");
  return 0;
}

static int next_jsonl(nb_pf_reader *r, nb_err *err) {
  ssize_t n;
  nb_pf_item *it = &r->item;
  do {
    n = read_line(r);
    if (n < 0) {
      if (ferror(r->f)) return nb__err(err, NB_EIO, "read error");
      return 0;
    }
  } while (strspn(r->line, " \t") == (size_t)n); /* blank line */
  it->line = r->lineno;
  r->index++;
  cJSON *j = cJSON_ParseWithLength(r->line, (size_t)n);
  if (j == NULL || !cJSON_IsObject(j)) {
    it->id = fmt("line %d", r->lineno);
    it->error = fmt("line %d: %s", r->lineno,
                    j ? "not a JSON object" : "invalid JSON");
    goto done;
  }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
  if (cJSON_IsString(id)) it->id = fmt("%s", id->valuestring);
  else if (cJSON_IsNumber(id)) {
    it->id = fmt("%.17g", id->valuedouble);
    it->id_is_num = true;
    it->id_num = id->valuedouble;
  }
  else it->id = fmt("line %d", r->lineno);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt");
  if (!cJSON_IsString(p)) {
    it->error = fmt("line %d: \"prompt\" is missing or not a string", r->lineno);
    goto done;
  }
  it->prompt = dup_n(p->valuestring, strlen(p->valuestring));
  it->prompt_len = it->prompt ? strlen(it->prompt) : 0;
  const cJSON *v;
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "n")) != NULL) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9) {
      it->error = fmt("line %d: \"n\" must be a non-negative integer", r->lineno);
      goto done;
    }
    it->has_n = true;
    it->n = (int32_t)v->valuedouble;
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "temp")) != NULL) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
      it->error = fmt("line %d: \"temp\" must be a number >= 0", r->lineno);
      goto done;
    }
    it->has_temp = true;
    it->temp = (float)v->valuedouble;
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "seed")) != NULL) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
      it->error = fmt("line %d: \"seed\" must be a non-negative integer", r->lineno);
      goto done;
    }
    it->has_seed = true;
    it->seed = (uint64_t)v->valuedouble;
  }
done:
  cJSON_Delete(j);
  if (it->id == NULL) return nb__err(err, NB_ENOMEM, "out of memory");
  return 1;
}

int nb_pf_next(nb_pf_reader *r, nb_pf_item **it, nb_err *err) {
  item_clear(&r->item);
  *it = &r->item;
  switch (r->format) {
  case NB_PF_TEXT: return next_text(r, err);
  case NB_PF_BLOCKS: return next_block(r, err);
  case NB_PF_JSONL: return next_jsonl(r, err);
  }
  return nb__err(err, NB_EINVAL, "unknown prompt file format");
}
