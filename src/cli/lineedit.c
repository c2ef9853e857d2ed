/* lineedit.c: byte-driven line editor (see lineedit.h). */
#include "lineedit.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "nibble.h"

enum esc_state { ESC_NONE, ESC_START, ESC_CSI, ESC_SS3 };

struct nb_le {
  int fd;
  nb_hist *hist;    /* borrowed */
  int cols;
  char prompt[64];
  char *buf;        /* (cap) the line, NUL-terminated */
  size_t len, cap, pos; /* pos: cursor, byte offset at a char boundary */
  int hidx;         /* history index shown; == count: the new line */
  char *saved;      /* the new line while browsing history (owned) */
  enum esc_state esc;
  char csi[16];     /* parameter bytes of the pending CSI sequence */
  int csi_len;
};

/* ---------------------------------------------------------------- UTF-8 */

size_t nb_utf8_prev(const char *s, size_t pos) {
  if (pos == 0) return 0;
  pos--;
  while (pos > 0 && ((unsigned char)s[pos] & 0xC0) == 0x80) pos--;
  return pos;
}

size_t nb_utf8_next(const char *s, size_t len, size_t pos) {
  if (pos >= len) return len;
  pos++;
  while (pos < len && ((unsigned char)s[pos] & 0xC0) == 0x80) pos++;
  return pos;
}

bool nb_utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    int n;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; min = 0x10000; }
    else return false;
    if (i + (size_t)n >= len) return false; /* truncated character */
    for (int k = 1; k <= n; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += (size_t)n + 1;
  }
  return true;
}

/* Display width of the character starting at s[i] (1 if unknown). */
static int char_width(const char *s, size_t len, size_t i) {
  mbstate_t st;
  memset(&st, 0, sizeof st);
  wchar_t wc;
  size_t r = mbrtowc(&wc, s + i, len - i, &st);
  if (r == (size_t)-1 || r == (size_t)-2 || r == 0) return 1;
  int w = wcwidth(wc);
  return w < 0 ? 1 : w;
}

/* --------------------------------------------------------------- output */

static void out(nb_le *le, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(le->fd, s, n);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return; /* terminal gone: nothing sensible to do */
    }
    s += w;
    n -= (size_t)w;
  }
}

static void outs(nb_le *le, const char *s) { out(le, s, strlen(s)); }

void nb_le_refresh(nb_le *le) {
  int pw = (int)strlen(le->prompt);
  int avail = le->cols - pw - 1;
  if (avail < 4) avail = 4;
  /* First shown byte: scroll so the cursor stays within `avail` columns. */
  size_t start = 0;
  int wcur = 0;
  for (size_t i = 0; i < le->pos; i = nb_utf8_next(le->buf, le->len, i))
    wcur += char_width(le->buf, le->len, i);
  while (wcur > avail && start < le->pos) {
    wcur -= char_width(le->buf, le->len, start);
    start = nb_utf8_next(le->buf, le->len, start);
  }
  size_t end = start;
  int wshow = 0;
  while (end < le->len) {
    int w = char_width(le->buf, le->len, end);
    if (wshow + w > avail) break;
    wshow += w;
    end = nb_utf8_next(le->buf, le->len, end);
  }
  outs(le, "\r");
  outs(le, le->prompt);
  out(le, le->buf + start, end - start);
  outs(le, "\x1b[K\r");
  if (pw + wcur > 0) {
    char seq[32];
    snprintf(seq, sizeof seq, "\x1b[%dC", pw + wcur);
    outs(le, seq);
  }
}

/* ----------------------------------------------------------------- edit */

nb_le *nb_le_new(int out_fd, nb_hist *hist) {
  nb_le *le = nb_calloc(1, sizeof *le);
  if (le == NULL) return NULL;
  le->fd = out_fd;
  le->hist = hist;
  le->cols = 80;
  le->cap = 256;
  le->buf = nb_malloc(le->cap);
  if (le->buf == NULL) {
    nb_free(le);
    return NULL;
  }
  le->buf[0] = '\0';
  return le;
}

void nb_le_free(nb_le *le) {
  if (le == NULL) return;
  nb_free(le->buf);
  nb_free(le->saved);
  nb_free(le);
}

void nb_le_set_cols(nb_le *le, int cols) {
  if (cols > 0) le->cols = cols;
}

const char *nb_le_text(const nb_le *le, size_t *len) {
  if (len) *len = le->len;
  return le->buf;
}

static bool reserve(nb_le *le, size_t need) {
  if (need + 1 <= le->cap) return true;
  size_t cap = le->cap * 2;
  while (cap < need + 1) cap *= 2;
  char *b = nb_realloc(le->buf, cap);
  if (b == NULL) return false;
  le->buf = b;
  le->cap = cap;
  return true;
}

static void set_text(nb_le *le, const char *s) {
  size_t n = strlen(s);
  if (!reserve(le, n)) return;
  memcpy(le->buf, s, n + 1);
  le->len = le->pos = n;
}

void nb_le_begin(nb_le *le, const char *prompt) {
  snprintf(le->prompt, sizeof le->prompt, "%s", prompt);
  le->len = le->pos = 0;
  le->buf[0] = '\0';
  le->hidx = le->hist ? nb_hist_count(le->hist) : 0;
  nb_free(le->saved);
  le->saved = NULL;
  le->esc = ESC_NONE;
  nb_le_refresh(le);
}

static void insert(nb_le *le, unsigned char c) {
  if (!reserve(le, le->len + 1)) return;
  memmove(le->buf + le->pos + 1, le->buf + le->pos, le->len - le->pos + 1);
  le->buf[le->pos++] = (char)c;
  le->len++;
  /* Redraw once a character is complete (not in the middle of UTF-8). */
  if (le->pos < le->len && ((unsigned char)le->buf[le->pos] & 0xC0) == 0x80)
    return;
  nb_le_refresh(le);
}

static void delete_range(nb_le *le, size_t a, size_t b) {
  memmove(le->buf + a, le->buf + b, le->len - b + 1);
  le->len -= b - a;
  if (le->pos > b) le->pos -= b - a;
  else if (le->pos > a) le->pos = a;
}

static void history_move(nb_le *le, int dir) {
  if (le->hist == NULL) return;
  int n = nb_hist_count(le->hist);
  int to = le->hidx + dir;
  if (to < 0 || to > n) return;
  if (le->hidx == n) { /* leaving the new line: keep it */
    nb_free(le->saved);
    le->saved = nb_malloc(le->len + 1);
    if (le->saved) memcpy(le->saved, le->buf, le->len + 1);
  }
  le->hidx = to;
  set_text(le, to == n ? (le->saved ? le->saved : "") : nb_hist_get(le->hist, to));
  nb_le_refresh(le);
}

static void key_csi(nb_le *le, char final) {
  int p = 0;
  if (le->csi_len > 0) sscanf(le->csi, "%d", &p);
  switch (final) {
  case 'A': history_move(le, -1); return;
  case 'B': history_move(le, +1); return;
  case 'C': le->pos = nb_utf8_next(le->buf, le->len, le->pos); break;
  case 'D': le->pos = nb_utf8_prev(le->buf, le->pos); break;
  case 'H': le->pos = 0; break;
  case 'F': le->pos = le->len; break;
  case '~':
    if (p == 1 || p == 7) le->pos = 0;
    else if (p == 4 || p == 8) le->pos = le->len;
    else if (p == 3 && le->pos < le->len)
      delete_range(le, le->pos, nb_utf8_next(le->buf, le->len, le->pos));
    else return;
    break;
  default: return;
  }
  nb_le_refresh(le);
}

nb_le_event nb_le_feed(nb_le *le, unsigned char c) {
  switch (le->esc) {
  case ESC_START:
    if (c == '[') {
      le->esc = ESC_CSI;
      le->csi_len = 0;
    } else if (c == 'O') {
      le->esc = ESC_SS3;
    } else {
      le->esc = ESC_NONE; /* Alt-key: ignored */
    }
    return NB_LE_NONE;
  case ESC_CSI:
    if (c >= 0x40 && c <= 0x7E) {
      le->esc = ESC_NONE;
      le->csi[le->csi_len] = '\0';
      key_csi(le, (char)c);
    } else if (le->csi_len < (int)sizeof le->csi - 1) {
      le->csi[le->csi_len++] = (char)c;
    }
    return NB_LE_NONE;
  case ESC_SS3:
    le->esc = ESC_NONE;
    le->csi_len = 0;
    key_csi(le, (char)c);
    return NB_LE_NONE;
  case ESC_NONE: break;
  }
  switch (c) {
  case 0x1B: le->esc = ESC_START; return NB_LE_NONE;
  case '\r':
  case '\n':
    le->pos = le->len;
    nb_le_refresh(le);
    outs(le, "\r\n");
    return NB_LE_LINE;
  case 0x03: return NB_LE_INTERRUPT; /* Ctrl-C */
  case 0x04: /* Ctrl-D */
    if (le->len == 0) return NB_LE_EOF;
    if (le->pos < le->len)
      delete_range(le, le->pos, nb_utf8_next(le->buf, le->len, le->pos));
    break;
  case 0x7F: /* Backspace */
  case 0x08:
    if (le->pos > 0) delete_range(le, nb_utf8_prev(le->buf, le->pos), le->pos);
    break;
  case 0x01: le->pos = 0; break;       /* Ctrl-A */
  case 0x05: le->pos = le->len; break; /* Ctrl-E */
  case 0x02: le->pos = nb_utf8_prev(le->buf, le->pos); break; /* Ctrl-B */
  case 0x06: le->pos = nb_utf8_next(le->buf, le->len, le->pos); break;
  case 0x0B: delete_range(le, le->pos, le->len); break; /* Ctrl-K */
  case 0x15: delete_range(le, 0, le->pos); break;       /* Ctrl-U */
  case 0x17: {                                          /* Ctrl-W */
    size_t a = le->pos;
    while (a > 0 && le->buf[a - 1] == ' ') a--;
    while (a > 0 && le->buf[a - 1] != ' ') a--;
    delete_range(le, a, le->pos);
    break;
  }
  case 0x10: history_move(le, -1); return NB_LE_NONE; /* Ctrl-P */
  case 0x0E: history_move(le, +1); return NB_LE_NONE; /* Ctrl-N */
  case 0x0C: outs(le, "\x1b[H\x1b[2J"); break;        /* Ctrl-L */
  case '\t': insert(le, ' '); return NB_LE_NONE;
  default:
    if (c >= 0x20) {
      insert(le, c);
      return NB_LE_NONE;
    }
    return NB_LE_NONE; /* other control bytes: ignored */
  }
  nb_le_refresh(le);
  return NB_LE_NONE;
}
