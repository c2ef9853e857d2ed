/*
 * spm_shim.h: the C face of libsentencepiece (implemented in spm_shim.cpp,
 * the only C++ in nibble). Every call returns 0 or a negative NB_E* code;
 * no C++ exception crosses this boundary (they are caught and mapped to
 * NB_ETOKENIZER, or NB_ENOMEM for std::bad_alloc).
 *
 * The processor is immutable once loaded, so every call except load/free is
 * safe from several threads at once.
 */
#ifndef NB_SPM_SHIM_H
#define NB_SPM_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "nibble.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb__spm nb__spm; /* owns a sentencepiece::SentencePieceProcessor */

/* Kinds of a piece as SentencePiece classifies it (bit set). */
enum {
  NB__SPM_CONTROL = 1,
  NB__SPM_UNKNOWN = 2,
  NB__SPM_BYTE = 4,
  NB__SPM_UNUSED = 8
};

/* Loads a serialized ModelProto (the bytes are copied by SentencePiece; the
 * caller keeps ownership of `bytes`). NB_ETOKENIZER with SentencePiece's own
 * message if it refuses the model. */
int nb__spm_load(nb__spm **out, const void *bytes, size_t len, nb_err *err);
void nb__spm_free(nb__spm *s);

/* Number of pieces (the vocabulary size). */
int nb__spm_size(const nb__spm *s, int32_t *n, nb_err *err);
/* Piece text of `id`: borrowed from the processor, valid until nb__spm_free. */
int nb__spm_piece(const nb__spm *s, int32_t id, nb_str *out, nb_err *err);
int nb__spm_score(const nb__spm *s, int32_t id, float *out, nb_err *err);
/* NB__SPM_* bits of `id`. */
int nb__spm_kind(const nb__spm *s, int32_t id, unsigned *out, nb_err *err);
/* Special ids as SentencePiece reports them (-1 when undefined). */
int nb__spm_special(const nb__spm *s, int32_t *unk, int32_t *bos,
                    int32_t *eos, nb_err *err);

/* Encodes `len` bytes of text (no BOS/EOS). *ids is OWNED by the caller
 * (nb_free; may be NULL when *n == 0). The text must be valid UTF-8 (the
 * caller checks). */
int nb__spm_encode(const nb__spm *s, const char *text, size_t len,
                   int32_t **ids, size_t *n, nb_err *err);
/* SentencePiece's own DecodeIds (the reference our C detokenizer is tested
 * against). *text is OWNED (nb_free), NUL-terminated. */
int nb__spm_decode(const nb__spm *s, const int32_t *ids, size_t n,
                   char **text, size_t *len, nb_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NB_SPM_SHIM_H */
