/* history.c: bounded line history with an escaped one-entry-per-line file. */
#include "history.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nibble.h"

struct nb_hist {
  char **items; /* (cap) owned strings, [0, n) used, oldest first */
  int n, max;
};

nb_hist *nb_hist_new(int max) {
  nb_hist *h = nb_calloc(1, sizeof *h);
  if (h == NULL) return NULL;
  h->max = max > 0 ? max : 1;
  h->items = nb_calloc((size_t)h->max, sizeof(char *));
  if (h->items == NULL) {
    nb_free(h);
    return NULL;
  }
  return h;
}

void nb_hist_free(nb_hist *h) {
  if (h == NULL) return;
  for (int i = 0; i < h->n; i++) nb_free(h->items[i]);
  nb_free(h->items);
  nb_free(h);
}

int nb_hist_add(nb_hist *h, const char *line) {
  if (line[0] == '\0') return 0;
  if (h->n > 0 && strcmp(h->items[h->n - 1], line) == 0) return 0;
  size_t len = strlen(line);
  char *copy = nb_malloc(len + 1);
  if (copy == NULL) return -1;
  memcpy(copy, line, len + 1);
  if (h->n == h->max) { /* drop the oldest */
    nb_free(h->items[0]);
    memmove(h->items, h->items + 1, (size_t)(h->n - 1) * sizeof(char *));
    h->n--;
  }
  h->items[h->n++] = copy;
  return 0;
}

int nb_hist_count(const nb_hist *h) { return h->n; }

const char *nb_hist_get(const nb_hist *h, int i) {
  return (i >= 0 && i < h->n) ? h->items[i] : NULL;
}

/* Undoes the file escaping in place. */
static void unescape(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (*r == '\\' && r[1] == 'n') {
      *w++ = '\n';
      r++;
    } else if (*r == '\\' && r[1] == '\\') {
      *w++ = '\\';
      r++;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
}

int nb_hist_load(nb_hist *h, const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return errno == ENOENT ? 0 : -errno;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    unescape(line);
    if (nb_hist_add(h, line) != 0) {
      rc = -ENOMEM;
      break;
    }
  }
  free(line); /* getline allocates with libc */
  fclose(f);
  return rc;
}

int nb_hist_save(const nb_hist *h, const char *path) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >=
      (int)sizeof tmp)
    return -ENAMETOOLONG;
  FILE *f = fopen(tmp, "w");
  if (f == NULL) return -errno;
  for (int i = 0; i < h->n; i++) {
    for (const char *p = h->items[i]; *p; p++) {
      if (*p == '\n') fputs("\\n", f);
      else if (*p == '\\') fputs("\\\\", f);
      else fputc(*p, f);
    }
    fputc('\n', f);
  }
  int rc = 0;
  if (ferror(f)) rc = -EIO;
  if (fclose(f) != 0 && rc == 0) rc = -errno;
  if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
  if (rc != 0) unlink(tmp);
  return rc;
}

bool nb_hist_default_path(char *buf, int size) {
  const char *p = getenv("NIBBLE_HISTORY");
  if (p != NULL && p[0] != '\0') return snprintf(buf, (size_t)size, "%s", p) < size;
  const char *home = getenv("HOME");
  if (home == NULL || home[0] == '\0') return false;
  return snprintf(buf, (size_t)size, "%s/.nibble_history", home) < size;
}
