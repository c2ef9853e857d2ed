/* pb.c: protobuf wire-format reader and writer (see pb.h). */
#include "tok/pb.h"

#include <string.h>

#include "nb_internal.h"

static int read_varint(nb__pbr *r, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (r->p >= r->end) return -1;
    uint8_t c = *r->p++;
    if (shift == 63 && (c & 0x7e)) return -1; /* more than 64 bits */
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

int nb__pbr_next(nb__pbr *r, nb__pbf *f) {
  if (r->p >= r->end) return 0;
  memset(f, 0, sizeof *f);
  f->start = r->p;
  uint64_t tag;
  if (read_varint(r, &tag)) return -1;
  if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return -1;
  f->field = (uint32_t)(tag >> 3);
  f->wire = (int)(tag & 7);
  size_t left;
  switch (f->wire) {
    case NB__PB_VARINT:
      if (read_varint(r, &f->v)) return -1;
      break;
    case NB__PB_I64:
    case NB__PB_I32: {
      size_t n = f->wire == NB__PB_I64 ? 8 : 4;
      if ((size_t)(r->end - r->p) < n) return -1;
      f->v = 0;
      for (size_t i = 0; i < n; i++) f->v |= (uint64_t)r->p[i] << (8 * i);
      r->p += n;
      break;
    }
    case NB__PB_LEN:
      if (read_varint(r, &f->v)) return -1;
      left = (size_t)(r->end - r->p);
      if (f->v > left) return -1;
      f->data = r->p;
      f->len = (size_t)f->v;
      r->p += f->len;
      break;
    default:
      return -1;
  }
  f->stop = r->p;
  return 1;
}

float nb__pbf_f32(const nb__pbf *f) {
  uint32_t u = (uint32_t)f->v;
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

static bool reserve(nb__pbw *w, size_t extra) {
  if (w->oom) return false;
  if (w->cap - w->len >= extra) return true;
  size_t cap = w->cap ? w->cap : 256;
  while (cap - w->len < extra) {
    if (cap > SIZE_MAX / 2) {
      w->oom = true;
      return false;
    }
    cap *= 2;
  }
  uint8_t *b = nb_realloc(w->buf, cap);
  if (b == NULL) {
    w->oom = true;
    return false;
  }
  w->buf = b;
  w->cap = cap;
  return true;
}

static void put_varint(nb__pbw *w, uint64_t v) {
  if (!reserve(w, 10)) return;
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    w->buf[w->len++] = c | (v ? 0x80 : 0);
  } while (v);
}

void nb__pbw_varint(nb__pbw *w, uint32_t field, uint64_t v) {
  put_varint(w, (uint64_t)field << 3 | NB__PB_VARINT);
  put_varint(w, v);
}

void nb__pbw_int32(nb__pbw *w, uint32_t field, int32_t v) {
  nb__pbw_varint(w, field, (uint64_t)(int64_t)v);
}

void nb__pbw_f32(nb__pbw *w, uint32_t field, float v) {
  put_varint(w, (uint64_t)field << 3 | NB__PB_I32);
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  if (!reserve(w, 4)) return;
  for (int i = 0; i < 4; i++) w->buf[w->len++] = (uint8_t)(u >> (8 * i));
}

void nb__pbw_bytes(nb__pbw *w, uint32_t field, const void *data, size_t n) {
  put_varint(w, (uint64_t)field << 3 | NB__PB_LEN);
  put_varint(w, n);
  nb__pbw_raw(w, data, n);
}

void nb__pbw_raw(nb__pbw *w, const void *data, size_t n) {
  if (n == 0 || !reserve(w, n)) return;
  memcpy(w->buf + w->len, data, n);
  w->len += n;
}

void nb__pbw_free(nb__pbw *w) {
  nb_free(w->buf);
  w->buf = NULL;
  w->len = w->cap = 0;
}
