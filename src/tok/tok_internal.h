/*
 * tok_internal.h: the tokenizer handle, shared by tokenizer.c (loading,
 * encoding, queries) and detok.c (decoding).
 */
#ifndef NB_TOK_INTERNAL_H
#define NB_TOK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "nibble.h"
#include "tok/spm_shim.h"

struct nb_tokenizer {
  nb__spm *spm;         /* the processor (owned) */
  uint8_t *spm_bytes;   /* serialized model it was loaded from (owned) */
  size_t spm_len;
  int32_t n_vocab;
  int32_t bos, eos, unk; /* -1: none */
  bool add_bos;
  /* Per-token tables, (n_vocab) each, filled once at load. */
  nb_str *pieces;       /* borrowed from the processor */
  float *scores;
  uint8_t *types;       /* nb_token_type */
  int16_t *byte_val;    /* 0..255 for BYTE pieces "<0xNN>", else -1 */
  /* Decoding settings from the model (see detok.c). */
  char *unk_surface;    /* owned copy, NUL-terminated */
  size_t unk_surface_len;
  bool strip_bos_ws;    /* normalizer add_dummy_prefix: decode drops the
                           leading U+2581 of the first piece */
};

#endif /* NB_TOK_INTERNAL_H */
