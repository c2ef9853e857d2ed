/*
 * synth.h: synthetic Llama models for benchmarks. Writes a llama.cpp-
 * compatible GGUF v3 file with deterministic random weights (normal, mean 0,
 * std 0.02 by default; norm weights 1.0) and a vocabulary through
 * libnibble's GGUF writer, streaming: only one chunk of one tensor
 * (NB_GGUF_WRITE_CHUNK, 4 MiB) is in memory at a time, so any size of file
 * needs ~10 MB of RAM (measured: 9.4 MB for the 622 MB tinyllama q4_0).
 *
 * The bytes depend only on (shape, type, seed, vocabulary source), never on
 * the number of threads: each weight row has its own PRNG stream seeded from
 * (seed, tensor index, row).
 */
#ifndef NB_SYNTH_H
#define NB_SYNTH_H

#include <stdint.h>

#include "nibble.h"

typedef struct nb__synth_shape {
  const char *name;  /* "tinyllama-1.1b", or "custom" */
  int32_t dim, ffn, layers, heads, kv_heads, vocab, ctx;
  float rope_base;
  float norm_eps;
} nb__synth_shape;

/* The named shapes; NULL if unknown. */
const nb__synth_shape *nb__synth_shape_find(const char *name);
/* Names of all shapes, NULL-terminated (for usage text). */
const char *const *nb__synth_shape_names(void);

typedef void (*nb__synth_progress_fn)(void *ud, int64_t tensor,
                                      int64_t n_tensors, const char *name);

typedef struct nb__synth_params {
  nb__synth_shape shape;
  uint32_t type;          /* F16, Q8_0, Q4_0 (F32 allowed too) */
  uint64_t seed;
  float std;              /* weight standard deviation (0.02) */
  int32_t n_threads;      /* >= 1 */
  const char *vocab_from; /* NULL: built-in llama2-style vocabulary of
                             shape.vocab tokens; else a GGUF whose
                             tokenizer.ggml.* vocabulary is copied (its size
                             then overrides shape.vocab) */
  nb__synth_progress_fn progress; /* may be NULL */
  void *progress_ud;
} nb__synth_params;

/* Writes the model to `path` atomically (temporary file + rename). */
int nb__synth_write(const nb__synth_params *p, const char *path, nb_err *err);

#endif /* NB_SYNTH_H */
