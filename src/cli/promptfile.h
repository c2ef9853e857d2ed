/*
 * promptfile.h: reads a file of prompts for `nibble run -f`, one item at a
 * time (memory does not grow with the file).
 *
 *   text   : one prompt per line; a line ending in '\' continues on the next
 *            line (the backslash becomes a newline, so the prompt keeps its
 *            lines); blank (or all-space) lines are skipped.
 *   blocks : prompts separated by a line that is exactly "---"; the text
 *            between keeps its newlines (trailing blank lines are trimmed).
 *   jsonl  : one JSON object per line: {"id": string|number, "prompt":
 *            string, "n": int, "temp": number, "seed": int}; only "prompt" is
 *            required. A line that is not such an object becomes an item
 *            with `error` set, and reading continues.
 */
#ifndef NB_CLI_PROMPTFILE_H
#define NB_CLI_PROMPTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nibble.h"

typedef enum nb_pf_format {
  NB_PF_TEXT = 0,
  NB_PF_BLOCKS,
  NB_PF_JSONL
} nb_pf_format;

int nb_pf_format_from_name(const char *name); /* nb_pf_format or -1 */
/* From the extension: .jsonl/.json -> jsonl, anything else -> text. */
int nb_pf_format_from_path(const char *path);

typedef struct nb_pf_item {
  char *id;          /* always set: the record's id, else "line N"/index */
  bool id_is_num;    /* the JSON id was a number (id_num; id is its text) */
  double id_num;
  char *prompt;      /* NULL when the item is an error; may hold any bytes */
  size_t prompt_len;
  int line;          /* 1-based line where the item starts */
  bool has_n, has_temp, has_seed;
  int32_t n;
  float temp;
  uint64_t seed;
  char *error;       /* set when the item could not be parsed */
} nb_pf_item;

typedef struct nb_pf_reader nb_pf_reader;

int nb_pf_open(nb_pf_reader **out, const char *path, int format, nb_err *err);
void nb_pf_close(nb_pf_reader *r);
/* Reads the next item into *it (owned by the reader, valid until the next
 * call or close). Returns 1 for an item, 0 at the end, or a negative code
 * on an I/O error. */
int nb_pf_next(nb_pf_reader *r, nb_pf_item **it, nb_err *err);

#endif
