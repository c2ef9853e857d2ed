/*
 * lineedit.h: a small single-line editor driven byte by byte. It does not
 * read the terminal itself: the chat reads stdin through a libuv uv_tty in
 * raw mode and feeds every byte here, so the same loop also sees Ctrl-C
 * while a reply streams. Output (prompt, echo, cursor moves) is written to
 * `out_fd` with plain VT100 sequences.
 *
 * Keys: printable UTF-8 input, Left/Right (Ctrl-B/F), Home/End (Ctrl-A/E),
 * Backspace, Delete (Ctrl-D on a non-empty line), Ctrl-K (kill to end),
 * Ctrl-U (kill to start), Ctrl-W (kill previous word), Up/Down (Ctrl-P/N)
 * through the history, Ctrl-L (clear screen), Enter. The cursor moves by
 * whole UTF-8 characters and long lines scroll horizontally.
 */
#ifndef NB_CLI_LINEEDIT_H
#define NB_CLI_LINEEDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "history.h"

typedef enum nb_le_event {
  NB_LE_NONE = 0,  /* keep feeding */
  NB_LE_LINE,      /* Enter: the line is in nb_le_line() */
  NB_LE_EOF,       /* Ctrl-D on an empty line */
  NB_LE_INTERRUPT  /* Ctrl-C: the line is left as it was (see nb_le_text) */
} nb_le_event;

typedef struct nb_le nb_le;

/* `hist` is borrowed (may be NULL) and must outlive the editor. */
nb_le *nb_le_new(int out_fd, nb_hist *hist);
void nb_le_free(nb_le *le);
/* Terminal width in columns (for horizontal scrolling); default 80. */
void nb_le_set_cols(nb_le *le, int cols);
/* Starts a new line: empty buffer, prints `prompt` (copied; ASCII). */
void nb_le_begin(nb_le *le, const char *prompt);
/* Feeds one input byte. */
nb_le_event nb_le_feed(nb_le *le, unsigned char c);
/* The current buffer, NUL-terminated, borrowed until the next feed/begin.
 * After NB_LE_LINE it is the entered line. */
const char *nb_le_text(const nb_le *le, size_t *len);
/* Redraws the prompt and the buffer (after other output). */
void nb_le_refresh(nb_le *le);

/* UTF-8 helpers, exposed for tests: byte offset of the previous/next
 * character boundary from `pos` in s[0, len). */
size_t nb_utf8_prev(const char *s, size_t pos);
size_t nb_utf8_next(const char *s, size_t len, size_t pos);
/* True when s[0, len) is valid UTF-8 (no overlongs, no surrogates). */
bool nb_utf8_valid(const char *s, size_t len);

#endif
