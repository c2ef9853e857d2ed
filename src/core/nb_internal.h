/*
 * nb_internal.h: helpers every module of libnibble uses. Internal names are
 * `nb__`; nothing here is part of the public API.
 */
#ifndef NB_INTERNAL_H
#define NB_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nibble.h"

#if defined(__GNUC__)
#define NB__PRINTF(a, b) __attribute__((format(printf, a, b)))
#define NB__LIKELY(x) __builtin_expect(!!(x), 1)
#define NB__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define NB__PRINTF(a, b)
#define NB__LIKELY(x) (x)
#define NB__UNLIKELY(x) (x)
#endif

/* Fills `err` (may be NULL) with `code` and a formatted message and returns
 * `code`, so that a failure is one line: `return nb__err(err, NB_ETRUNC,
 * "tensor %s: data ends past end of file", name);`. */
int nb__err(nb_err *err, int code, const char *fmt, ...) NB__PRINTF(3, 4);
int nb__verr(nb_err *err, int code, const char *fmt, va_list ap);
/* Prefixes the message already in `err` with "prefix: " (keeps the code). */
int nb__err_prefix(nb_err *err, int code, const char *fmt, ...)
    NB__PRINTF(3, 4);

/* Checked size arithmetic: return false on overflow. */
static inline bool nb__mul_u64(uint64_t a, uint64_t b, uint64_t *r) {
  return !__builtin_mul_overflow(a, b, r);
}
static inline bool nb__add_u64(uint64_t a, uint64_t b, uint64_t *r) {
  return !__builtin_add_overflow(a, b, r);
}

#define NB__MIN(a, b) ((a) < (b) ? (a) : (b))
#define NB__MAX(a, b) ((a) > (b) ? (a) : (b))
#define NB__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif /* NB_INTERNAL_H */
