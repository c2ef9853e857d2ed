/*
 * types.h: the type-traits table. Each element type is one row (name, block
 * size, bytes per block, to_float, from_float); code that needs to know a
 * type asks the table instead of switching on the id, so adding a type means
 * adding a row (types.c) and its kernels (src/kernels/), nothing else.
 */
#ifndef NB_TYPES_H
#define NB_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "fp16.h"
#include "nibble.h"

/* ggml's exact block layouts (they are what GGUF files store). */
#define NB_QK8_0 32
typedef struct {
  nb_f16 d;             /* scale */
  int8_t qs[NB_QK8_0];  /* value = qs[j] * d */
} nb__block_q8_0;       /* 34 bytes */

#define NB_QK4_0 32
typedef struct {
  nb_f16 d;                 /* scale */
  uint8_t qs[NB_QK4_0 / 2]; /* element j in the low nibble of byte j, element
                               j+16 in the high nibble; value = (q - 8) * d */
} nb__block_q4_0;           /* 18 bytes */

_Static_assert(sizeof(nb__block_q8_0) == 34, "q8_0 block is 34 bytes");
_Static_assert(sizeof(nb__block_q4_0) == 18, "q4_0 block is 18 bytes");

/* n is a multiple of the block size. */
typedef void (*nb__to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*nb__from_float_fn)(const float *src, void *dst, int64_t n);

typedef struct nb__type_traits {
  const char *name;           /* "q4_0" */
  int64_t blck;               /* elements per block */
  size_t bytes;               /* bytes per block */
  bool quantized;             /* block-quantized (vs plain float) */
  nb__to_float_fn to_float;   /* scalar reference */
  nb__from_float_fn from_float; /* scalar reference, ggml-exact rounding */
} nb__type_traits;

/* NULL when the type is unknown or not supported by nibble. */
const nb__type_traits *nb__type_traits_get(uint32_t type);

#endif /* NB_TYPES_H */
