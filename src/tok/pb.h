/*
 * pb.h: the protobuf wire format, by hand, for exactly what the tokenizer
 * needs: reading the serialized SentencePiece ModelProto (to inspect and
 * patch it) and writing one (to build a processor from GGUF arrays).
 *
 * Wire format: a message is a sequence of fields, each `tag value` where
 * tag = varint(field_number << 3 | wire_type) and
 *   wire 0 VARINT  base-128 little-endian varint (<= 10 bytes)
 *   wire 1 I64     8 bytes little-endian
 *   wire 2 LEN     varint length, then that many bytes (strings, bytes,
 *                  embedded messages, packed repeated)
 *   wire 5 I32     4 bytes little-endian (float)
 * (wire 3/4, the deprecated groups, are refused as malformed). For proto2
 * scalars the LAST occurrence of a field wins; embedded messages occurring
 * several times are merged.
 */
#ifndef NB_TOK_PB_H
#define NB_TOK_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { NB__PB_VARINT = 0, NB__PB_I64 = 1, NB__PB_LEN = 2, NB__PB_I32 = 5 };

/* ---- reader: a cursor over a borrowed buffer */
typedef struct nb__pbr {
  const uint8_t *p, *end;
} nb__pbr;

typedef struct nb__pbf {
  uint32_t field;
  int wire;
  uint64_t v;           /* VARINT value, or I32/I64 raw bits */
  const uint8_t *data;  /* LEN payload (borrowed) */
  size_t len;           /* LEN payload size */
  const uint8_t *start; /* the whole field, tag included: [start, stop) */
  const uint8_t *stop;
} nb__pbf;

static inline nb__pbr nb__pbr_init(const void *buf, size_t len) {
  nb__pbr r = {(const uint8_t *)buf, (const uint8_t *)buf + len};
  return r;
}
/* Reads the next field: 1 = got one, 0 = clean end, -1 = malformed
 * (truncated varint or payload, field number 0, unknown wire type). */
int nb__pbr_next(nb__pbr *r, nb__pbf *f);
/* Float value of an I32 field. */
float nb__pbf_f32(const nb__pbf *f);

/* ---- writer: a growable buffer (nb_malloc); errors are sticky */
typedef struct nb__pbw {
  uint8_t *buf;
  size_t len, cap;
  bool oom;
} nb__pbw;

void nb__pbw_varint(nb__pbw *w, uint32_t field, uint64_t v);
/* int32 fields: negative values are sign-extended to 10 bytes (protobuf's
 * int32 encoding). */
void nb__pbw_int32(nb__pbw *w, uint32_t field, int32_t v);
void nb__pbw_f32(nb__pbw *w, uint32_t field, float v);
void nb__pbw_bytes(nb__pbw *w, uint32_t field, const void *data, size_t n);
/* Appends bytes verbatim (an already encoded field). */
void nb__pbw_raw(nb__pbw *w, const void *data, size_t n);
/* Releases the buffer (after a failure, or when ownership was not taken). */
void nb__pbw_free(nb__pbw *w);

#endif /* NB_TOK_PB_H */
