/*
 * gguf_write.c: collects key/value pairs and tensors, then writes a GGUF v3
 * file that llama.cpp (and our reader) accept.
 *
 * Keys are written in insertion order; setting a key again replaces its
 * value in place. Each value is kept already encoded (the bytes after the
 * u32 type field), which makes nb_gguf_writer_copy_kv a verbatim copy of any
 * value, nested arrays included. Tensor data is BORROWED from the caller
 * until nb_gguf_writer_write returns, or produced by the caller's fill
 * callback during the write (streamed tensors: one buffer of at most
 * NB_GGUF_WRITE_CHUNK bytes, or one row if larger, is filled and written at
 * a time, so memory does not grow with the file). Tensors are laid out in
 * insertion order, each at a multiple of the alignment (`general.alignment`
 * if the writer holds that key, else 32), zero-padded, as ggml does.
 *
 * The file is written to `<path>.tmp.<pid>`, fsync'ed and renamed over
 * `path`, so a failure (an I/O error or a failing fill callback) never
 * leaves a half-written file behind: the temporary file is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf_internal.h"
#include "nb_internal.h"

typedef unsigned long long ull;

typedef struct wkv {
  char *key;       /* owned, NUL-terminated */
  size_t klen;
  uint32_t type;   /* nb_gguf_vtype */
  uint8_t *val;    /* owned encoded value (len bytes) */
  uint64_t len;
} wkv;

typedef struct wtensor {
  char *name;      /* owned */
  size_t nlen;
  uint32_t type;
  uint32_t n_dims;
  int64_t ne[NB_GGUF_MAX_DIMS];
  const void *data; /* borrowed until write; NULL when streamed */
  nb_gguf_fill_fn fill; /* streamed: produces the data at write time */
  void *user;       /* borrowed: fill's first argument */
  int64_t rows;     /* ne[1] * ne[2] * ne[3] */
  size_t row_bytes; /* bytes of one row of ne[0] elements */
  uint64_t nbytes;  /* row_bytes * rows */
  uint64_t offset;  /* set by write */
} wtensor;

struct nb_gguf_writer {
  wkv *kv;          /* (n_kv) in insertion order */
  int64_t n_kv, cap_kv;
  wtensor *t;       /* (n_t) in insertion order */
  int64_t n_t, cap_t;
};

int nb_gguf_writer_new(nb_gguf_writer **out, nb_err *err) {
  if (out == NULL) return nb__err(err, NB_EINVAL, "NULL writer pointer");
  *out = nb_calloc(1, sizeof **out);
  if (*out == NULL) return nb__err(err, NB_ENOMEM, "no memory for a writer");
  return 0;
}

void nb_gguf_writer_free(nb_gguf_writer *w) {
  if (w == NULL) return;
  for (int64_t i = 0; i < w->n_kv; i++) {
    nb_free(w->kv[i].key);
    nb_free(w->kv[i].val);
  }
  for (int64_t i = 0; i < w->n_t; i++) nb_free(w->t[i].name);
  nb_free(w->kv);
  nb_free(w->t);
  nb_free(w);
}

/* Grows an array of `size`-byte items so that it holds one more. */
static int grow(void **arr, int64_t n, int64_t *cap, size_t size) {
  if (n < *cap) return 0;
  int64_t nc = *cap ? *cap * 2 : 16;
  void *p = nb_realloc(*arr, (size_t)nc * size);
  if (p == NULL) return NB_ENOMEM;
  *arr = p;
  *cap = nc;
  return 0;
}

/* Stores `key` = encoded value (copied). Replaces an existing key's value. */
static int set_raw(nb_gguf_writer *w, const char *key, size_t klen,
                   uint32_t type, const void *val, uint64_t len,
                   nb_err *err) {
  if (w == NULL || key == NULL)
    return nb__err(err, NB_EINVAL, "NULL writer or key");
  if (klen == 0) return nb__err(err, NB_EINVAL, "empty key");
  if (len > SIZE_MAX - 1)
    return nb__err(err, NB_ETOOBIG, "key %.*s: value too large", (int)klen,
                   key);
  uint8_t *copy = nb_malloc(len ? (size_t)len : 1);
  if (copy == NULL)
    return nb__err(err, NB_ENOMEM, "key %.*s: no memory for %llu bytes",
                   (int)klen, key, (ull)len);
  if (len) memcpy(copy, val, (size_t)len);
  for (int64_t i = 0; i < w->n_kv; i++) {
    wkv *kv = &w->kv[i];
    if (kv->klen == klen && memcmp(kv->key, key, klen) == 0) {
      nb_free(kv->val);
      kv->val = copy;
      kv->len = len;
      kv->type = type;
      return 0;
    }
  }
  char *k = nb_malloc(klen + 1);
  if (k == NULL || grow((void **)&w->kv, w->n_kv, &w->cap_kv, sizeof *w->kv)) {
    nb_free(k);
    nb_free(copy);
    return nb__err(err, NB_ENOMEM, "key %.*s: no memory", (int)klen, key);
  }
  memcpy(k, key, klen);
  k[klen] = '\0';
  w->kv[w->n_kv++] = (wkv){k, klen, type, copy, len};
  return 0;
}

static int set_scalar(nb_gguf_writer *w, const char *key, uint32_t type,
                      const void *v, nb_err *err) {
  return set_raw(w, key, key ? strlen(key) : 0, type, v,
                 nb__gguf_vtype_size(type), err);
}

int nb_gguf_writer_set_u32(nb_gguf_writer *w, const char *key, uint32_t v,
                           nb_err *err) {
  return set_scalar(w, key, NB_GGUF_UINT32, &v, err);
}
int nb_gguf_writer_set_i32(nb_gguf_writer *w, const char *key, int32_t v,
                           nb_err *err) {
  return set_scalar(w, key, NB_GGUF_INT32, &v, err);
}
int nb_gguf_writer_set_u64(nb_gguf_writer *w, const char *key, uint64_t v,
                           nb_err *err) {
  return set_scalar(w, key, NB_GGUF_UINT64, &v, err);
}
int nb_gguf_writer_set_f32(nb_gguf_writer *w, const char *key, float v,
                           nb_err *err) {
  return set_scalar(w, key, NB_GGUF_FLOAT32, &v, err);
}
int nb_gguf_writer_set_bool(nb_gguf_writer *w, const char *key, bool v,
                            nb_err *err) {
  uint8_t b = v ? 1 : 0;
  return set_scalar(w, key, NB_GGUF_BOOL, &b, err);
}

int nb_gguf_writer_set_str(nb_gguf_writer *w, const char *key, const char *s,
                           size_t len, nb_err *err) {
  if (s == NULL && len > 0) return nb__err(err, NB_EINVAL, "NULL string");
  if (len > SIZE_MAX - 8)
    return nb__err(err, NB_ETOOBIG, "key %s: string too long", key);
  uint8_t *buf = nb_malloc(8 + len);
  if (buf == NULL) return nb__err(err, NB_ENOMEM, "key %s: no memory", key);
  uint64_t l = len;
  memcpy(buf, &l, 8);
  if (len) memcpy(buf + 8, s, len);
  int rc = set_raw(w, key, key ? strlen(key) : 0, NB_GGUF_STRING, buf,
                   8 + len, err);
  nb_free(buf);
  return rc;
}

int nb_gguf_writer_set_arr(nb_gguf_writer *w, const char *key,
                           nb_gguf_vtype elem, const void *data, uint64_t n,
                           nb_err *err) {
  uint64_t es = nb__gguf_vtype_size(elem), bytes, total;
  if (es == 0)
    return nb__err(err, NB_EINVAL,
                   "key %s: set_arr needs a fixed-size element type, not %s",
                   key ? key : "(null)", nb__gguf_vtype_name(elem));
  if (data == NULL && n > 0) return nb__err(err, NB_EINVAL, "NULL array");
  if (!nb__mul_u64(n, es, &bytes) || !nb__add_u64(bytes, 12, &total) ||
      total > SIZE_MAX)
    return nb__err(err, NB_EOVERFLOW, "key %s: array of %llu too large",
                   key ? key : "(null)", (ull)n);
  /* A bool array must hold 0/1 bytes (the reader refuses anything else). */
  if (elem == NB_GGUF_BOOL)
    for (uint64_t j = 0; j < n; j++)
      if (((const uint8_t *)data)[j] > 1)
        return nb__err(err, NB_EINVAL, "key %s: bool element %llu is not 0/1",
                       key ? key : "(null)", (ull)j);
  uint8_t *buf = nb_malloc((size_t)total);
  if (buf == NULL) return nb__err(err, NB_ENOMEM, "key %s: no memory", key);
  uint32_t et = elem;
  memcpy(buf, &et, 4);
  memcpy(buf + 4, &n, 8);
  if (bytes) memcpy(buf + 12, data, (size_t)bytes);
  int rc = set_raw(w, key, key ? strlen(key) : 0, NB_GGUF_ARRAY, buf, total,
                   err);
  nb_free(buf);
  return rc;
}

int nb_gguf_writer_set_arr_str(nb_gguf_writer *w, const char *key,
                               const nb_str *strs, uint64_t n, nb_err *err) {
  if (strs == NULL && n > 0) return nb__err(err, NB_EINVAL, "NULL strings");
  uint64_t total = 12;
  for (uint64_t j = 0; j < n; j++)
    if ((strs[j].data == NULL && strs[j].len) ||
        !nb__add_u64(total, 8, &total) ||
        !nb__add_u64(total, strs[j].len, &total) || total > SIZE_MAX)
      return nb__err(err, NB_EINVAL, "key %s: bad or too large string %llu",
                     key ? key : "(null)", (ull)j);
  uint8_t *buf = nb_malloc((size_t)total);
  if (buf == NULL) return nb__err(err, NB_ENOMEM, "key %s: no memory", key);
  uint32_t et = NB_GGUF_STRING;
  memcpy(buf, &et, 4);
  memcpy(buf + 4, &n, 8);
  size_t p = 12;
  for (uint64_t j = 0; j < n; j++) {
    uint64_t l = strs[j].len;
    memcpy(buf + p, &l, 8);
    if (l) memcpy(buf + p + 8, strs[j].data, (size_t)l);
    p += 8 + (size_t)l;
  }
  int rc = set_raw(w, key, key ? strlen(key) : 0, NB_GGUF_ARRAY, buf, total,
                   err);
  nb_free(buf);
  return rc;
}

int nb_gguf_writer_copy_kv(nb_gguf_writer *w, const nb_gguf *g, int64_t i,
                           nb_err *err) {
  uint32_t type;
  const void *val;
  uint64_t len;
  if (g == NULL || nb__gguf_kv_raw(g, i, &type, &val, &len) < 0)
    return nb__err(err, NB_EINVAL, "copy_kv: no key %lld", (long long)i);
  nb_str k = nb_gguf_key(g, i);
  return set_raw(w, k.data, k.len, type, val, len, err);
}

/* The checks and bookkeeping shared by both ways of adding a tensor:
 * exactly one of `data` (borrowed bytes) and `fill` is set. */
static int add_tensor(nb_gguf_writer *w, const char *name, uint32_t type,
                      uint32_t n_dims, const int64_t *ne, const void *data,
                      nb_gguf_fill_fn fill, void *user, nb_err *err) {
  if (w == NULL || name == NULL || ne == NULL || (data == NULL && !fill))
    return nb__err(err, NB_EINVAL, "add_tensor: NULL argument");
  size_t nlen = strlen(name);
  if (nlen == 0) return nb__err(err, NB_EINVAL, "add_tensor: empty name");
  /* ggml keeps tensor names in 64-byte fields (NUL included): llama.cpp
   * refuses longer ones, so we never write them. */
  if (nlen >= NB__GGUF_MAX_NAME)
    return nb__err(err, NB_ETOOBIG,
                   "tensor %.64s...: name longer than %d bytes (ggml's limit)",
                   name, NB__GGUF_MAX_NAME - 1);
  for (int64_t i = 0; i < w->n_t; i++)
    if (w->t[i].nlen == nlen && memcmp(w->t[i].name, name, nlen) == 0)
      return nb__err(err, NB_EDUP, "tensor %s: added twice", name);
  if (n_dims < 1 || n_dims > NB_GGUF_MAX_DIMS)
    return nb__err(err, NB_ESHAPE, "tensor %s: n_dims %u not in 1..4", name,
                   n_dims);
  if (!nb_type_supported(type))
    return nb__err(err, NB_EBADTYPE, "tensor %s: type %s is not supported",
                   name, nb_type_name(type));
  int64_t rows = 1;
  for (uint32_t d = 0; d < n_dims; d++) {
    if (ne[d] <= 0 || ne[d] >= ((int64_t)1 << 62))
      return nb__err(err, NB_ESHAPE, "tensor %s: dimension %u is %lld", name,
                     d, (long long)ne[d]);
    if (d > 0 && __builtin_mul_overflow(rows, ne[d], &rows))
      return nb__err(err, NB_EOVERFLOW, "tensor %s: too many rows", name);
  }
  size_t rb = nb_type_row_bytes(type, ne[0]);
  if (rb == 0)
    return nb__err(err, NB_ESHAPE,
                   "tensor %s: row length %lld is not a multiple of the %s "
                   "block size %lld",
                   name, (long long)ne[0], nb_type_name(type),
                   (long long)nb_type_block(type));
  uint64_t nbytes;
  if (!nb__mul_u64(rb, (uint64_t)rows, &nbytes))
    return nb__err(err, NB_EOVERFLOW, "tensor %s: byte size overflows", name);
  char *nm = nb_malloc(nlen + 1);
  if (nm == NULL || grow((void **)&w->t, w->n_t, &w->cap_t, sizeof *w->t)) {
    nb_free(nm);
    return nb__err(err, NB_ENOMEM, "tensor %s: no memory", name);
  }
  memcpy(nm, name, nlen + 1);
  wtensor *t = &w->t[w->n_t++];
  memset(t, 0, sizeof *t);
  t->name = nm;
  t->nlen = nlen;
  t->type = type;
  t->n_dims = n_dims;
  for (uint32_t d = 0; d < NB_GGUF_MAX_DIMS; d++)
    t->ne[d] = d < n_dims ? ne[d] : 1;
  t->data = data;
  t->fill = fill;
  t->user = user;
  t->rows = rows;
  t->row_bytes = rb;
  t->nbytes = nbytes;
  return 0;
}

int nb_gguf_writer_add_tensor(nb_gguf_writer *w, const char *name,
                              uint32_t type, uint32_t n_dims,
                              const int64_t *ne, const void *data,
                              nb_err *err) {
  return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL, err);
}

int nb_gguf_writer_add_tensor_cb(nb_gguf_writer *w, const char *name,
                                 uint32_t type, uint32_t n_dims,
                                 const int64_t *ne, nb_gguf_fill_fn fill,
                                 void *user, nb_err *err) {
  if (fill == NULL)
    return nb__err(err, NB_EINVAL, "add_tensor_cb: NULL fill callback");
  return add_tensor(w, name, type, n_dims, ne, NULL, fill, user, err);
}

/* ----------------------------------------------------------------- write */

typedef struct wout {
  FILE *f;
  uint64_t pos;
  bool failed;
  int errno_at_failure; /* errno of the first failed fwrite */
} wout;

static void put(wout *o, const void *p, size_t n) {
  if (o->failed || n == 0) return;
  if (fwrite(p, 1, n, o->f) != n) {
    o->failed = true;
    o->errno_at_failure = errno;
  }
  o->pos += n;
}
static void put_u32(wout *o, uint32_t v) { put(o, &v, 4); }
static void put_u64(wout *o, uint64_t v) { put(o, &v, 8); }
static void pad_to(wout *o, uint64_t align) {
  static const uint8_t zeros[64] = {0};
  while (!o->failed && o->pos % align) {
    uint64_t n = NB__MIN(align - o->pos % align, (uint64_t)sizeof zeros);
    put(o, zeros, (size_t)n);
  }
}

/* The alignment the file will declare: the writer's general.alignment key
 * (which must then be a valid uint32 power of two), else the default. */
static int writer_alignment(const nb_gguf_writer *w, uint64_t *align,
                            nb_err *err) {
  *align = NB_GGUF_DEFAULT_ALIGNMENT;
  for (int64_t i = 0; i < w->n_kv; i++) {
    if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
    uint32_t a = 0;
    if (w->kv[i].type != NB_GGUF_UINT32)
      return nb__err(err, NB_ETYPE, "general.alignment must be a uint32");
    memcpy(&a, w->kv[i].val, 4);
    if (a == 0 || a > NB__GGUF_MAX_ALIGNMENT || (a & (a - 1)) != 0)
      return nb__err(err, NB_EALIGN,
                     "general.alignment %u is not a power of two in 1..%u", a,
                     NB__GGUF_MAX_ALIGNMENT);
    *align = a;
  }
  return 0;
}

/* Rows per fill call for a streamed tensor: as many as fit in
 * NB_GGUF_WRITE_CHUNK bytes, at least one, at most all. */
static int64_t chunk_rows(const wtensor *t) {
  int64_t per = (int64_t)(NB_GGUF_WRITE_CHUNK / t->row_bytes);
  return NB__MIN(NB__MAX(per, (int64_t)1), t->rows);
}

/* Produces a streamed tensor chunk by chunk into buf (large enough for
 * chunk_rows(t) rows) and writes each chunk at once. Returns the fill
 * callback's error, if any (an I/O error is left in o->failed). */
static int put_streamed(wout *o, const wtensor *t, unsigned char *buf,
                        nb_err *err) {
  const int64_t per = chunk_rows(t);
  for (int64_t r0 = 0; r0 < t->rows && !o->failed; r0 += per) {
    const int64_t n = NB__MIN(per, t->rows - r0);
    if (err) {
      err->code = 0;
      err->msg[0] = '\0';
    }
    int rc = t->fill(t->user, buf, r0, n, err);
    if (rc < 0) {
      /* the callback's message stands; supply one if it left none */
      if (err && err->code != rc)
        nb__err(err, rc, "tensor %s: data source failed at rows %lld..%lld",
                t->name, (long long)r0, (long long)(r0 + n - 1));
      return rc;
    }
    put(o, buf, (size_t)n * t->row_bytes);
  }
  return 0;
}

static void fsync_dir_of(const char *path) {
  size_t n = strlen(path);
  char *copy = nb_malloc(n + 1);
  if (copy == NULL) return;
  memcpy(copy, path, n + 1);
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  nb_free(copy);
}

int nb_gguf_writer_write(nb_gguf_writer *w, const char *path, nb_err *err) {
  if (w == NULL || path == NULL)
    return nb__err(err, NB_EINVAL, "writer_write: NULL argument");
  uint64_t align;
  int rc = writer_alignment(w, &align, err);
  if (rc < 0) return rc;
  /* Lay out the data section. */
  uint64_t off = 0;
  for (int64_t i = 0; i < w->n_t; i++) {
    uint64_t pad = (align - off % align) % align;
    if (!nb__add_u64(off, pad, &off))
      return nb__err(err, NB_EOVERFLOW, "data section size overflows");
    w->t[i].offset = off;
    if (!nb__add_u64(off, w->t[i].nbytes, &off))
      return nb__err(err, NB_EOVERFLOW, "data section size overflows");
  }

  /* One chunk buffer serves every streamed tensor (allocated before the
   * file is created, so running out of memory leaves nothing behind). */
  size_t buf_bytes = 0;
  for (int64_t i = 0; i < w->n_t; i++)
    if (w->t[i].fill)
      buf_bytes = NB__MAX(buf_bytes,
                          (size_t)chunk_rows(&w->t[i]) * w->t[i].row_bytes);
  unsigned char *buf = NULL;
  if (buf_bytes > 0 && (buf = nb_malloc(buf_bytes)) == NULL)
    return nb__err(err, NB_ENOMEM, "no memory for a %zu-byte write buffer",
                   buf_bytes);

  size_t plen = strlen(path);
  char *tmp = nb_malloc(plen + 32);
  if (tmp == NULL) {
    nb_free(buf);
    return nb__err(err, NB_ENOMEM, "no memory");
  }
  snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = NULL;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    rc = nb__err(err, e == ENOENT ? NB_ENOENT : NB_EIO, "%s: %s", tmp,
                 strerror(e));
    goto out;
  }
  f = fdopen(fd, "wb");
  if (f == NULL) {
    rc = nb__err(err, NB_EIO, "%s: %s", tmp, strerror(errno));
    close(fd);
    goto fail;
  }
  wout o = {f, 0, false, 0};
  put(&o, NB__GGUF_MAGIC, 4);
  put_u32(&o, 3);
  put_u64(&o, (uint64_t)w->n_t);
  put_u64(&o, (uint64_t)w->n_kv);
  for (int64_t i = 0; i < w->n_kv; i++) {
    const wkv *kv = &w->kv[i];
    put_u64(&o, kv->klen);
    put(&o, kv->key, kv->klen);
    put_u32(&o, kv->type);
    put(&o, kv->val, (size_t)kv->len);
  }
  for (int64_t i = 0; i < w->n_t; i++) {
    const wtensor *t = &w->t[i];
    put_u64(&o, t->nlen);
    put(&o, t->name, t->nlen);
    put_u32(&o, t->n_dims);
    for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&o, (uint64_t)t->ne[d]);
    put_u32(&o, t->type);
    put_u64(&o, t->offset);
  }
  pad_to(&o, align);
  uint64_t data_start = o.pos;
  for (int64_t i = 0; i < w->n_t; i++) {
    const wtensor *t = &w->t[i];
    pad_to(&o, align);
    if (!o.failed && o.pos - data_start != t->offset) {
      o.failed = true;
      o.errno_at_failure = EIO;
    }
    if (t->fill == NULL) {
      put(&o, t->data, (size_t)t->nbytes);
    } else if ((rc = put_streamed(&o, t, buf, err)) < 0) {
      fclose(f);
      goto fail;
    }
  }
  if (w->n_t > 0) pad_to(&o, align);
  if (o.failed || fflush(f) != 0 || fsync(fileno(f)) != 0) {
    rc = nb__err(err, NB_EIO, "%s: write failed: %s", tmp,
                 strerror(o.failed ? o.errno_at_failure : errno));
    fclose(f);
    goto fail;
  }
  if (fclose(f) != 0) {
    rc = nb__err(err, NB_EIO, "%s: close failed: %s", tmp, strerror(errno));
    goto fail;
  }
  if (rename(tmp, path) != 0) {
    rc = nb__err(err, NB_EIO, "rename %s -> %s: %s", tmp, path,
                 strerror(errno));
    goto fail;
  }
  fsync_dir_of(path);
  rc = 0;
  goto out;
fail:
  unlink(tmp);
out:
  nb_free(tmp);
  nb_free(buf);
  return rc;
}
