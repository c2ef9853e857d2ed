/*
 * alloc.c: every heap allocation of libnibble goes through mimalloc.
 * Sanitizer builds (meson -Db_sanitize=...) define NB_ALLOC_LIBC so that
 * AddressSanitizer/LeakSanitizer see every allocation; mimalloc's own arenas
 * would hide overflows and leaks from them.
 */
#include "nb_internal.h"

#ifdef NB_ALLOC_LIBC
#include <stdlib.h>
void *nb_malloc(size_t n) { return malloc(n ? n : 1); }
void *nb_calloc(size_t count, size_t size) { return calloc(count ? count : 1, size ? size : 1); }
void *nb_realloc(void *p, size_t n) { return realloc(p, n ? n : 1); }
void nb_free(void *p) { free(p); }
#else
#include <mimalloc.h>
void *nb_malloc(size_t n) { return mi_malloc(n); }
void *nb_calloc(size_t count, size_t size) { return mi_calloc(count, size); }
void *nb_realloc(void *p, size_t n) { return mi_realloc(p, n); }
void nb_free(void *p) { mi_free(p); }
#endif
