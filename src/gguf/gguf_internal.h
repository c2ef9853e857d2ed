/*
 * gguf_internal.h: what the GGUF reader shares with the writer (and nothing
 * else). The file layout itself (GGUF v2/v3, little-endian):
 *
 *   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv x { string key | u32 vtype | value }
 *   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 type |
 *                 u64 offset (relative to the data section) }
 *   zero padding to `general.alignment` (default 32) | data section
 *
 *   string = u64 len | len bytes (no NUL)
 *   array  = u32 elem_vtype | u64 n | n elements (an ARRAY element is itself
 *            an array value: elem_vtype, n, elements)
 */
#ifndef NB_GGUF_INTERNAL_H
#define NB_GGUF_INTERNAL_H

#include <stdint.h>

#include "nibble.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader and writer assume a little-endian host"
#endif

#define NB__GGUF_MAGIC "GGUF"
/* Arrays inside arrays deeper than this are refused (a depth bomb would
 * otherwise recurse once per 12 bytes of file). llama.cpp writes none. */
#define NB__GGUF_MAX_NEST 8
/* ggml's GGML_MAX_NAME: tensor names the writer accepts are shorter. */
#define NB__GGUF_MAX_NAME 64
/* Largest `general.alignment` accepted (1 MiB). */
#define NB__GGUF_MAX_ALIGNMENT (1u << 20)

/* Bytes of one fixed-size value of type t; 0 for STRING, ARRAY and unknown
 * types. */
uint64_t nb__gguf_vtype_size(uint32_t t);
const char *nb__gguf_vtype_name(uint32_t t);

/* The encoded value of key i exactly as stored in the file (for the writer's
 * verbatim copy): its type and a BORROWED pointer to `len` bytes (the bytes
 * after the u32 type field), valid while g is open. */
int nb__gguf_kv_raw(const nb_gguf *g, int64_t i, uint32_t *type,
                    const void **val, uint64_t *len);

#endif /* NB_GGUF_INTERNAL_H */
