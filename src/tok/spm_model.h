/*
 * spm_model.h: the SentencePiece ModelProto as bytes: inspect it, patch its
 * normalizer, or build one from a GGUF vocabulary. Field numbers (verified by
 * decoding tok512.model and llama2-tokenizer.model, and against
 * sentencepiece_model.proto):
 *
 *   ModelProto      1 pieces (repeated SentencePiece)  2 trainer_spec
 *                   3 normalizer_spec  4 self_test_data  5 denormalizer_spec
 *   SentencePiece   1 piece (string)  2 score (float)  3 type (enum:
 *                   NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4,
 *                   UNUSED 5, BYTE 6; default NORMAL)
 *   TrainerSpec     3 model_type (UNIGRAM 1, BPE 2)  4 vocab_size
 *                   24 treat_whitespace_as_suffix  25 split_digits
 *                   35 byte_fallback  40 unk_id  41 bos_id  42 eos_id
 *                   43 pad_id  44 unk_surface  45 unk_piece  46 bos_piece
 *                   47 eos_piece  48 pad_piece
 *   NormalizerSpec  1 name  2 precompiled_charsmap  3 add_dummy_prefix
 *                   (default true)  4 remove_extra_whitespaces (default
 *                   true)  5 escape_whitespaces (default true)
 */
#ifndef NB_TOK_SPM_MODEL_H
#define NB_TOK_SPM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nibble.h"

/* What the C side needs to know about a model besides what the processor
 * reports. */
typedef struct nb__spm_info {
  int32_t n_pieces;
  bool add_dummy_prefix;         /* normalizer_spec.add_dummy_prefix */
  bool remove_extra_whitespaces; /* normalizer_spec.remove_extra_... */
  bool byte_fallback;            /* trainer_spec.byte_fallback */
  nb_str unk_surface;            /* trainer_spec.unk_surface, borrowed from
                                    the bytes (or a static default) */
} nb__spm_info;

#define NB__SPM_DEFAULT_UNK_SURFACE " \xE2\x81\x87 "

/* Parses the serialized model. `types` (may be NULL) receives each piece's
 * type (nb_token_type values) for the first `types_cap` pieces. NB_EMODEL if
 * the bytes are not a well-formed ModelProto. */
int nb__spm_model_inspect(const uint8_t *b, size_t n, nb__spm_info *info,
                          uint8_t *types, int32_t types_cap, nb_err *err);

/* Returns in *out (OWNED, nb_free) a copy of the model whose
 * normalizer_spec has remove_extra_whitespaces = false; every other field is
 * kept byte for byte. Models that already have it false are copied
 * unchanged. */
int nb__spm_model_patch_ws(const uint8_t *b, size_t n, uint8_t **out,
                           size_t *out_len, nb_err *err);

/* A Llama vocabulary from GGUF arrays. */
typedef struct nb__spm_vocab {
  int32_t n;
  const nb_str *pieces;  /* (n) borrowed */
  const float *scores;   /* (n) or NULL: all 0 */
  const uint8_t *types;  /* (n) nb_token_type values */
  int32_t unk, bos, eos; /* -1: none */
} nb__spm_vocab;

/* Serializes a BPE ModelProto with Llama's settings: identity normalizer,
 * add_dummy_prefix, NO whitespace collapsing, escaped whitespace, byte
 * fallback when the vocabulary has BYTE pieces. *out is OWNED (nb_free). */
int nb__spm_model_build(const nb__spm_vocab *v, uint8_t **out,
                        size_t *out_len, nb_err *err);

#endif /* NB_TOK_SPM_MODEL_H */
