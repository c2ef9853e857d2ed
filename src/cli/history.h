/*
 * history.h: the chat's line history, a bounded list of strings persisted in
 * a text file (~/.nibble_history). One entry per line in the file; a newline
 * inside an entry is stored as "\n" and a backslash as "\\", so multi-line
 * entries survive a round trip.
 */
#ifndef NB_CLI_HISTORY_H
#define NB_CLI_HISTORY_H

#include <stdbool.h>

typedef struct nb_hist nb_hist;

/* A history keeping at most `max` entries (the oldest go first). NULL on
 * out of memory. */
nb_hist *nb_hist_new(int max);
void nb_hist_free(nb_hist *h);
/* Appends a copy of `line` unless it is empty or equals the newest entry.
 * 0, or -1 on out of memory. */
int nb_hist_add(nb_hist *h, const char *line);
int nb_hist_count(const nb_hist *h);
/* Entry i, 0 = oldest. Borrowed: valid until the next add/load/free. */
const char *nb_hist_get(const nb_hist *h, int i);
/* Adds the entries of `path` (a missing file is not an error: returns 0).
 * Returns 0 or -errno. */
int nb_hist_load(nb_hist *h, const char *path);
/* Writes every entry to `path` atomically (temporary file + rename).
 * Returns 0 or -errno; the caller reports a failure as a warning. */
int nb_hist_save(const nb_hist *h, const char *path);
/* Default file: $NIBBLE_HISTORY if set (tests), else $HOME/.nibble_history.
 * Writes into buf; false when neither variable is set. */
bool nb_hist_default_path(char *buf, int size);

#endif
