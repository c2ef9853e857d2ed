/* error.c: the status codes' names and messages, and filling nb_err. */
#include <stdio.h>
#include <string.h>

#include "nb_internal.h"

const char *nb_strerror(int code) {
  switch (code) {
    case NB_OK:
      return "success";
#define NB__XX(c, s) \
  case NB_##c:       \
    return s;
      NB_ERRNO_MAP(NB__XX)
#undef NB__XX
    default:
      return "unknown error";
  }
}

const char *nb_errname(int code) {
  switch (code) {
    case NB_OK:
      return "NB_OK";
#define NB__XX(c, s) \
  case NB_##c:       \
    return "NB_" #c;
      NB_ERRNO_MAP(NB__XX)
#undef NB__XX
    default:
      return "NB_E?";
  }
}

int nb__verr(nb_err *err, int code, const char *fmt, va_list ap) {
  if (err == NULL) return code;
  err->code = code;
  if (fmt == NULL || fmt[0] == '\0') {
    snprintf(err->msg, sizeof err->msg, "%s", nb_strerror(code));
  } else {
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  }
  return code;
}

int nb__err(nb_err *err, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nb__verr(err, code, fmt, ap);
  va_end(ap);
  return code;
}

int nb__err_prefix(nb_err *err, int code, const char *fmt, ...) {
  if (err == NULL) return code;
  char prefix[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  size_t plen = NB__MIN((size_t)n, sizeof prefix - 1);
  /* Move the old message right to make room for "prefix: " (the prefix is
   * at most 255 bytes, so it always fits in front). */
  size_t shift = plen + 2;
  size_t old_len = strnlen(err->msg, sizeof err->msg - 1);
  if (old_len > sizeof err->msg - 1 - shift) old_len = sizeof err->msg - 1 - shift;
  memmove(err->msg + shift, err->msg, old_len);
  err->msg[shift + old_len] = '\0';
  memcpy(err->msg, prefix, plen);
  err->msg[plen] = ':';
  err->msg[plen + 1] = ' ';
  err->code = code;
  return code;
}
