/*
 * gguf_read.c: opens and validates a GGUF v2/v3 file.
 *
 * The file is untrusted. Every read goes through a bounds-checked cursor;
 * every count or length is compared with the bytes left before anything is
 * allocated or skipped from it, and all size arithmetic is checked. Nothing
 * is copied: keys, strings, arrays and tensor data are borrowed pointers into
 * the read-only mapping (or the caller's buffer for nb_gguf_open_memory).
 *
 * Error codes (each message names the field/key/tensor and a file offset):
 *   NB_EMAGIC     magic is not "GGUF"
 *   NB_EVERSION   version other than 2 or 3 (v1 used u32 counts)
 *   NB_ETRUNC     a field or payload that runs past the end of the file
 *                 (including an empty file)
 *   NB_ETOOBIG    a count or length so large that even its smallest encoding
 *                 could not fit in a file of this size (huge kv/tensor count,
 *                 string length 2^63, ...), or a dimension >= 2^62
 *   NB_EOVERFLOW  the element count or byte size of a tensor overflows
 *   NB_EBADTYPE   unknown value type, or a tensor type nibble cannot compute
 *                 with (named: "q4_k")
 *   NB_EFORMAT    malformed but in range: empty key or tensor name, bool not
 *                 0/1, arrays nested deeper than NB__GGUF_MAX_NEST
 *   NB_ESHAPE     n_dims outside 1..4, a dimension <= 0, a row length that is
 *                 not a multiple of the type's block
 *   NB_EALIGN     general.alignment not a power of two in 1..2^20, or a
 *                 tensor offset not a multiple of it
 *   NB_ETYPE      general.alignment is not an integer
 *   NB_ERANGE     tensor data starts or ends past the end of the file
 *   NB_EOVERLAP   two tensors' data regions overlap
 *   NB_EDUP       duplicate key or duplicate tensor name
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf_internal.h"
#include "nb_internal.h"

typedef unsigned long long ull;

/* One key/value pair, pointing into the mapping. */
typedef struct nb__gguf_kv {
  nb_str key;
  uint32_t type;      /* nb_gguf_vtype */
  uint32_t arr_type;  /* arrays: element type */
  uint64_t arr_n;     /* arrays: element count */
  uint64_t val_off;   /* file offset of the value (after the type field) */
  uint64_t val_len;   /* bytes of the encoded value */
  uint64_t *str_offs; /* string arrays: (arr_n) file offsets of each string's
                         length field; owned */
} nb__gguf_kv;

/* Sorted name index entry (keys and tensors). */
typedef struct nb__gguf_name {
  nb_str name;
  int64_t idx;
} nb__gguf_name;

struct nb_gguf {
  const uint8_t *base; /* the whole file */
  uint64_t size;
  bool mapped;         /* munmap on close */
  uint32_t version;
  uint64_t alignment;
  uint64_t data_offset;
  int64_t n_kv;
  nb__gguf_kv *kv;           /* (n_kv) */
  nb__gguf_name *kv_index;   /* (n_kv) sorted by key */
  int64_t n_tensors;
  nb_tensor_info *tensors;   /* (n_tensors) */
  nb__gguf_name *t_index;    /* (n_tensors) sorted by name */
};

/* ---------------------------------------------------------------- vtypes */

uint64_t nb__gguf_vtype_size(uint32_t t) {
  switch (t) {
    case NB_GGUF_UINT8: case NB_GGUF_INT8: case NB_GGUF_BOOL: return 1;
    case NB_GGUF_UINT16: case NB_GGUF_INT16: return 2;
    case NB_GGUF_UINT32: case NB_GGUF_INT32: case NB_GGUF_FLOAT32: return 4;
    case NB_GGUF_UINT64: case NB_GGUF_INT64: case NB_GGUF_FLOAT64: return 8;
    default: return 0;
  }
}

const char *nb__gguf_vtype_name(uint32_t t) {
  static const char *const names[NB_GGUF_VTYPE_COUNT] = {
      "uint8", "int8",   "uint16", "int16", "uint32", "int32",  "float32",
      "bool",  "string", "array",  "uint64", "int64", "float64"};
  return t < NB_GGUF_VTYPE_COUNT ? names[t] : "unknown";
}

/* ---------------------------------------------------------------- cursor */

typedef struct rd {
  const uint8_t *b;
  uint64_t size;
  uint64_t pos;
  nb_err *err;
} rd;

static int need(rd *r, uint64_t n, const char *what) {
  if (n > r->size - r->pos)
    return nb__err(r->err, NB_ETRUNC,
                   "%s at offset %llu: file ends after %llu bytes (%llu "
                   "needed)",
                   what, (ull)r->pos, (ull)r->size, (ull)n);
  return 0;
}

static int rd_u32(rd *r, uint32_t *v, const char *what) {
  int rc = need(r, 4, what);
  if (rc < 0) return rc;
  memcpy(v, r->b + r->pos, 4);
  r->pos += 4;
  return 0;
}

static int rd_u64(rd *r, uint64_t *v, const char *what) {
  int rc = need(r, 8, what);
  if (rc < 0) return rc;
  memcpy(v, r->b + r->pos, 8);
  r->pos += 8;
  return 0;
}

/* n items of at least `each` bytes must fit in what is left. A count that
 * could not fit in the whole file is absurd (NB_ETOOBIG); one that only
 * runs past the end from here is a truncation (NB_ETRUNC). */
static int check_count(rd *r, uint64_t n, uint64_t each, const char *what,
                       uint64_t at) {
  uint64_t bytes;
  if (!nb__mul_u64(n, each, &bytes) || bytes > r->size)
    return nb__err(r->err, NB_ETOOBIG,
                   "%s at offset %llu: %llu is too large for a %llu-byte "
                   "file",
                   what, (ull)at, (ull)n, (ull)r->size);
  if (bytes > r->size - r->pos)
    return nb__err(r->err, NB_ETRUNC,
                   "%s at offset %llu: %llu bytes run past the end of the "
                   "file (%llu bytes)",
                   what, (ull)at, (ull)bytes, (ull)r->size);
  return 0;
}

/* A string: u64 length then bytes. Empty strings are refused when
 * !allow_empty (keys, tensor names). */
static int rd_str(rd *r, nb_str *s, const char *what, bool allow_empty) {
  uint64_t at = r->pos, len;
  int rc = rd_u64(r, &len, what);
  if (rc < 0) return rc;
  if (len == 0 && !allow_empty)
    return nb__err(r->err, NB_EFORMAT, "%s at offset %llu: empty string",
                   what, (ull)at);
  rc = check_count(r, len, 1, what, at);
  if (rc < 0) return rc;
  s->data = (const char *)r->b + r->pos;
  s->len = (size_t)len;
  r->pos += len;
  return 0;
}

/* For messages: a name cut to 200 bytes. */
#define NAMEF "%.*s"
#define NAMEA(s) (int)NB__MIN((s).len, (size_t)200), (s).data

/* ---------------------------------------------------------------- values */

/* Validates and skips one value of type t (depth: array nesting level).
 * kv is the top-level pair when the value is its value (string arrays then
 * get an offsets table), NULL for nested values. */
static int parse_value(rd *r, uint32_t t, int depth, const char *what,
                       nb__gguf_kv *kv) {
  uint64_t at = r->pos;
  int rc;
  if (t >= NB_GGUF_VTYPE_COUNT)
    return nb__err(r->err, NB_EBADTYPE,
                   "%s at offset %llu: unknown value type %u", what,
                   (ull)at, t);
  uint64_t fs = nb__gguf_vtype_size(t);
  if (fs) {
    rc = need(r, fs, what);
    if (rc < 0) return rc;
    if (t == NB_GGUF_BOOL && r->b[r->pos] > 1)
      return nb__err(r->err, NB_EFORMAT,
                     "%s at offset %llu: bool value %u is not 0 or 1", what,
                     (ull)at, r->b[r->pos]);
    r->pos += fs;
    return 0;
  }
  if (t == NB_GGUF_STRING) {
    nb_str s;
    return rd_str(r, &s, what, true);
  }
  /* ARRAY */
  if (depth >= NB__GGUF_MAX_NEST)
    return nb__err(r->err, NB_EFORMAT,
                   "%s at offset %llu: arrays nested deeper than %d", what,
                   (ull)at, NB__GGUF_MAX_NEST);
  uint32_t et;
  uint64_t n;
  if ((rc = rd_u32(r, &et, what)) < 0 || (rc = rd_u64(r, &n, what)) < 0)
    return rc;
  if (et >= NB_GGUF_VTYPE_COUNT)
    return nb__err(r->err, NB_EBADTYPE,
                   "%s at offset %llu: unknown array element type %u", what,
                   (ull)at, et);
  if (kv) {
    kv->arr_type = et;
    kv->arr_n = n;
  }
  uint64_t es = nb__gguf_vtype_size(et);
  if (es) {
    if ((rc = check_count(r, n, es, what, at)) < 0) return rc;
    if (et == NB_GGUF_BOOL)
      for (uint64_t j = 0; j < n; j++)
        if (r->b[r->pos + j] > 1)
          return nb__err(r->err, NB_EFORMAT,
                         "%s at offset %llu: bool element %llu is %u, not 0 "
                         "or 1",
                         what, (ull)(r->pos + j), (ull)j, r->b[r->pos + j]);
    r->pos += n * es;
    return 0;
  }
  if (et == NB_GGUF_STRING) {
    if ((rc = check_count(r, n, 8, what, at)) < 0) return rc;
    uint64_t *offs = NULL;
    if (kv && n > 0) {
      /* n * 8 <= bytes left (checked above), so this is bounded by the
       * file size. */
      offs = nb_malloc((size_t)n * sizeof *offs);
      if (offs == NULL)
        return nb__err(r->err, NB_ENOMEM, "%s: no memory for %llu strings",
                       what, (ull)n);
      kv->str_offs = offs;
    }
    for (uint64_t j = 0; j < n; j++) {
      if (offs) offs[j] = r->pos;
      nb_str s;
      if ((rc = rd_str(r, &s, what, true)) < 0) return rc;
    }
    return 0;
  }
  /* Array of arrays: each element is at least u32 type + u64 count. */
  if ((rc = check_count(r, n, 12, what, at)) < 0) return rc;
  for (uint64_t j = 0; j < n; j++)
    if ((rc = parse_value(r, NB_GGUF_ARRAY, depth + 1, what, NULL)) < 0)
      return rc;
  return 0;
}

/* ------------------------------------------------------------ name index */

static int cmp_str(nb_str a, nb_str b) {
  int c = memcmp(a.data, b.data, NB__MIN(a.len, b.len));
  if (c) return c;
  return a.len < b.len ? -1 : a.len > b.len;
}

static int cmp_name(const void *a, const void *b) {
  const nb__gguf_name *x = a, *y = b;
  int c = cmp_str(x->name, y->name);
  if (c) return c;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int64_t index_find(const nb__gguf_name *ix, int64_t n,
                          const char *name) {
  if (name == NULL) return -1;
  nb_str k = {name, strlen(name)};
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    int c = cmp_str(ix[mid].name, k);
    if (c == 0) return ix[mid].idx;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

/* -------------------------------------------------------------- tensors */

static int cmp_offset(const void *a, const void *b) {
  const nb_tensor_info *x = *(const nb_tensor_info *const *)a;
  const nb_tensor_info *y = *(const nb_tensor_info *const *)b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int parse_tensor(rd *r, nb_gguf *g, int64_t i, nb_tensor_info *t) {
  char what[96];
  uint64_t at = r->pos;
  int rc;
  snprintf(what, sizeof what, "tensor %lld name", (long long)i);
  if ((rc = rd_str(r, &t->name, what, false)) < 0) return rc;
  snprintf(what, sizeof what, "tensor " NAMEF, NAMEA(t->name));
  uint64_t dims_at = r->pos;
  if ((rc = rd_u32(r, &t->n_dims, what)) < 0) return rc;
  if (t->n_dims < 1 || t->n_dims > NB_GGUF_MAX_DIMS)
    return nb__err(r->err, NB_ESHAPE,
                   "%s: n_dims %u at offset %llu is not in 1..%d", what,
                   t->n_dims, (ull)dims_at, NB_GGUF_MAX_DIMS);
  int64_t nel = 1;
  for (uint32_t d = 0; d < NB_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
  for (uint32_t d = 0; d < t->n_dims; d++) {
    uint64_t u, dat = r->pos;
    if ((rc = rd_u64(r, &u, what)) < 0) return rc;
    int64_t v = (int64_t)u;
    if (v <= 0)
      return nb__err(r->err, NB_ESHAPE,
                     "%s: dimension %u is %lld (at offset %llu), must be > 0",
                     what, d, (long long)v, (ull)dat);
    if (u >= ((uint64_t)1 << 62))
      return nb__err(r->err, NB_ETOOBIG,
                     "%s: dimension %u is %llu (at offset %llu), must be < "
                     "2^62",
                     what, d, (ull)u, (ull)dat);
    t->ne[d] = v;
    if (__builtin_mul_overflow(nel, v, &nel))
      return nb__err(r->err, NB_EOVERFLOW,
                     "%s: element count overflows 64 bits (dimension %u at "
                     "offset %llu)",
                     what, d, (ull)dat);
  }
  uint64_t type_at = r->pos;
  if ((rc = rd_u32(r, &t->type, what)) < 0) return rc;
  if (!nb_type_supported(t->type))
    return nb__err(r->err, NB_EBADTYPE,
                   "%s: type %s (id %u, at offset %llu) is not supported",
                   what, nb_type_name(t->type), t->type, (ull)type_at);
  uint64_t off_at = r->pos;
  if ((rc = rd_u64(r, &t->offset, what)) < 0) return rc;
  if (t->offset % g->alignment != 0)
    return nb__err(r->err, NB_EALIGN,
                   "%s: data offset %llu (at offset %llu) is not a multiple "
                   "of the alignment %llu",
                   what, (ull)t->offset, (ull)off_at, (ull)g->alignment);
  int64_t blck = nb_type_block(t->type);
  if (blck <= 0 || t->ne[0] % blck != 0)
    return nb__err(r->err, NB_ESHAPE,
                   "%s: row length %lld is not a multiple of the %s block "
                   "size %lld (tensor info at offset %llu)",
                   what, (long long)t->ne[0], nb_type_name(t->type),
                   (long long)blck, (ull)at);
  uint64_t blocks = (uint64_t)(nel / blck);
  if (!nb__mul_u64(blocks, nb_type_block_bytes(t->type), &t->nbytes))
    return nb__err(r->err, NB_EOVERFLOW,
                   "%s: byte size overflows 64 bits (tensor info at offset "
                   "%llu)",
                   what, (ull)at);
  return 0;
}

/* Extents within the file, overlap, duplicate names. */
static int check_tensors(nb_gguf *g, nb_err *err) {
  int rc = 0;
  const nb_tensor_info **by_off = NULL;
  uint64_t room = g->size - g->data_offset;
  for (int64_t i = 0; i < g->n_tensors; i++) {
    nb_tensor_info *t = &g->tensors[i];
    if (t->offset > room)
      return nb__err(err, NB_ERANGE,
                     "tensor " NAMEF ": data starts past end of file (offset "
                     "%llu in a data section of %llu bytes at file offset "
                     "%llu)",
                     NAMEA(t->name), (ull)t->offset, (ull)room,
                     (ull)g->data_offset);
    if (t->nbytes > room - t->offset)
      return nb__err(err, NB_ERANGE,
                     "tensor " NAMEF ": data ends past end of file (offset "
                     "%llu + %llu bytes > data section of %llu bytes at "
                     "file offset %llu)",
                     NAMEA(t->name), (ull)t->offset, (ull)t->nbytes,
                     (ull)room, (ull)g->data_offset);
    t->data = g->base + g->data_offset + t->offset;
  }
  if (g->n_tensors == 0) return 0;
  by_off = nb_malloc((size_t)g->n_tensors * sizeof *by_off);
  if (by_off == NULL) return nb__err(err, NB_ENOMEM, "tensor index");
  for (int64_t i = 0; i < g->n_tensors; i++) by_off[i] = &g->tensors[i];
  qsort(by_off, (size_t)g->n_tensors, sizeof *by_off, cmp_offset);
  for (int64_t i = 1; i < g->n_tensors; i++) {
    const nb_tensor_info *a = by_off[i - 1], *b = by_off[i];
    if (a->offset + a->nbytes > b->offset) {
      rc = nb__err(err, NB_EOVERLAP,
                   "tensor " NAMEF ": data [%llu, %llu) overlaps tensor " NAMEF
                   " at %llu",
                   NAMEA(b->name), (ull)b->offset, (ull)(b->offset + b->nbytes),
                   NAMEA(a->name), (ull)a->offset);
      goto done;
    }
  }
  for (int64_t i = 0; i < g->n_tensors; i++) {
    g->t_index[i].name = g->tensors[i].name;
    g->t_index[i].idx = i;
  }
  qsort(g->t_index, (size_t)g->n_tensors, sizeof *g->t_index, cmp_name);
  for (int64_t i = 1; i < g->n_tensors; i++)
    if (cmp_str(g->t_index[i - 1].name, g->t_index[i].name) == 0) {
      rc = nb__err(err, NB_EDUP,
                   "tensor " NAMEF ": duplicate tensor name (tensors %lld "
                   "and %lld)",
                   NAMEA(g->t_index[i].name), (long long)g->t_index[i - 1].idx,
                   (long long)g->t_index[i].idx);
      goto done;
    }
done:
  nb_free(by_off);
  return rc;
}

/* general.alignment: any integer type, power of two in 1..2^20. */
static int read_alignment(nb_gguf *g, nb_err *err) {
  g->alignment = NB_GGUF_DEFAULT_ALIGNMENT;
  int64_t i = nb_gguf_find_key(g, "general.alignment");
  if (i < 0) return 0;
  const nb__gguf_kv *kv = &g->kv[i];
  int64_t v;
  nb_err e2;
  int rc = nb_gguf_get_int(g, "general.alignment", &v, &e2);
  if (rc == NB_ETYPE)
    return nb__err(err, NB_ETYPE,
                   "general.alignment at offset %llu has type %s, expected "
                   "an unsigned integer",
                   (ull)kv->val_off, nb__gguf_vtype_name(kv->type));
  if (rc < 0 || v < 1 || v > (int64_t)NB__GGUF_MAX_ALIGNMENT ||
      (v & (v - 1)) != 0) {
    if (rc < 0) v = -1;
    return nb__err(err, NB_EALIGN,
                   "general.alignment at offset %llu is %lld: must be a "
                   "power of two in 1..%u",
                   (ull)kv->val_off, (long long)v, NB__GGUF_MAX_ALIGNMENT);
  }
  g->alignment = (uint64_t)v;
  return 0;
}

static int parse(nb_gguf *g, nb_err *err) {
  rd r = {g->base, g->size, 0, err};
  int rc;
  if (g->size == 0) return nb__err(err, NB_ETRUNC, "empty file");
  if ((rc = need(&r, 4, "magic")) < 0) return rc;
  if (memcmp(g->base, NB__GGUF_MAGIC, 4) != 0)
    return nb__err(err, NB_EMAGIC,
                   "bad magic %02x %02x %02x %02x at offset 0 (not a GGUF "
                   "file)",
                   g->base[0], g->base[1], g->base[2], g->base[3]);
  r.pos = 4;
  if ((rc = rd_u32(&r, &g->version, "version")) < 0) return rc;
  if (g->version != 2 && g->version != 3)
    return nb__err(err, NB_EVERSION,
                   "GGUF version %u at offset 4 is not supported (2 and 3 "
                   "are)%s",
                   g->version,
                   g->version > 0xffff ? "; big-endian files are not" : "");
  uint64_t nt, nkv;
  if ((rc = rd_u64(&r, &nt, "tensor count")) < 0 ||
      (rc = rd_u64(&r, &nkv, "kv count")) < 0)
    return rc;
  /* Each kv needs >= 8 (key length) + 4 (type) bytes, each tensor info
   * >= 8 + 4 + 8 + 4 + 8. */
  if ((rc = check_count(&r, nkv, 12, "kv count", 16)) < 0) return rc;
  if ((rc = check_count(&r, nt, 32, "tensor count", 8)) < 0) return rc;
  if (nkv * 12 + nt * 32 > r.size - r.pos) /* each < size: no overflow */
    return nb__err(err, NB_ETRUNC,
                   "kv count %llu and tensor count %llu at offsets 16 and 8 "
                   "need more than the %llu bytes left",
                   (ull)nkv, (ull)nt, (ull)(r.size - r.pos));
  if (nkv > 0) {
    g->kv = nb_calloc((size_t)nkv, sizeof *g->kv);
    g->kv_index = nb_malloc((size_t)nkv * sizeof *g->kv_index);
    if (g->kv == NULL || g->kv_index == NULL)
      return nb__err(err, NB_ENOMEM, "no memory for %llu keys", (ull)nkv);
  }
  if (nt > 0) {
    g->tensors = nb_calloc((size_t)nt, sizeof *g->tensors);
    g->t_index = nb_malloc((size_t)nt * sizeof *g->t_index);
    if (g->tensors == NULL || g->t_index == NULL)
      return nb__err(err, NB_ENOMEM, "no memory for %llu tensors", (ull)nt);
  }

  /* Key/value pairs. */
  for (uint64_t i = 0; i < nkv; i++) {
    nb__gguf_kv *kv = &g->kv[i];
    char what[320];
    snprintf(what, sizeof what, "kv %llu key", (ull)i);
    if ((rc = rd_str(&r, &kv->key, what, false)) < 0) return rc;
    g->n_kv = (int64_t)i + 1; /* str_offs of this kv freed on error */
    snprintf(what, sizeof what, "key " NAMEF, NAMEA(kv->key));
    uint64_t tat = r.pos;
    if ((rc = rd_u32(&r, &kv->type, what)) < 0) return rc;
    if (kv->type >= NB_GGUF_VTYPE_COUNT)
      return nb__err(err, NB_EBADTYPE,
                     "%s: unknown value type %u at offset %llu", what,
                     kv->type, (ull)tat);
    kv->val_off = r.pos;
    if ((rc = parse_value(&r, kv->type, 0, what, kv)) < 0) return rc;
    kv->val_len = r.pos - kv->val_off;
  }
  for (int64_t i = 0; i < g->n_kv; i++) {
    g->kv_index[i].name = g->kv[i].key;
    g->kv_index[i].idx = i;
  }
  if (g->n_kv > 0)
    qsort(g->kv_index, (size_t)g->n_kv, sizeof *g->kv_index, cmp_name);
  for (int64_t i = 1; i < g->n_kv; i++)
    if (cmp_str(g->kv_index[i - 1].name, g->kv_index[i].name) == 0)
      return nb__err(err, NB_EDUP,
                     "key " NAMEF ": duplicate key (at offsets %llu and "
                     "%llu)",
                     NAMEA(g->kv_index[i].name),
                     (ull)(g->kv[g->kv_index[i - 1].idx].val_off),
                     (ull)(g->kv[g->kv_index[i].idx].val_off));
  if ((rc = read_alignment(g, err)) < 0) return rc;

  /* Tensor infos. */
  for (uint64_t i = 0; i < nt; i++)
    if ((rc = parse_tensor(&r, g, (int64_t)i, &g->tensors[i])) < 0)
      return rc;
  g->n_tensors = (int64_t)nt;

  /* Data section: aligned after the infos (r.pos <= size <= 2^64 - 1 and
   * alignment <= 2^20, so compute with a check). */
  uint64_t pad = (g->alignment - r.pos % g->alignment) % g->alignment;
  if (!nb__add_u64(r.pos, pad, &g->data_offset))
    return nb__err(err, NB_EOVERFLOW, "data section offset overflows");
  if (nt > 0 && g->data_offset > g->size)
    return nb__err(err, NB_ETRUNC,
                   "data section at offset %llu starts past the end of the "
                   "file (%llu bytes)",
                   (ull)g->data_offset, (ull)g->size);
  return check_tensors(g, err);
}

/* ------------------------------------------------------------ open/close */

static int open_common(nb_gguf **out, nb_gguf *g, nb_err *err) {
  int rc = parse(g, err);
  if (rc < 0) {
    nb_gguf_close(g);
    return rc;
  }
  *out = g;
  return 0;
}

int nb_gguf_open_memory(nb_gguf **out, const void *buf, size_t len,
                        nb_err *err) {
  if (out == NULL || (buf == NULL && len > 0))
    return nb__err(err, NB_EINVAL, "nb_gguf_open_memory: NULL argument");
  *out = NULL;
  nb_gguf *g = nb_calloc(1, sizeof *g);
  if (g == NULL) return nb__err(err, NB_ENOMEM, "no memory for a GGUF handle");
  static const uint8_t empty[1] = {0};
  g->base = len ? buf : empty;
  g->size = len;
  return open_common(out, g, err);
}

int nb_gguf_open(nb_gguf **out, const char *path, nb_err *err) {
  if (out == NULL || path == NULL)
    return nb__err(err, NB_EINVAL, "nb_gguf_open: NULL argument");
  *out = NULL;
  int rc = 0;
  nb_gguf *g = NULL;
  /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
   * refused as not a regular file). */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    return nb__err(err, e == ENOENT ? NB_ENOENT : NB_EIO, "%s: %s", path,
                   strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = nb__err(err, NB_EIO, "%s: %s", path, strerror(errno));
    goto fail;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = nb__err(err, NB_EIO, "%s: not a regular file", path);
    goto fail;
  }
  if (st.st_size == 0) {
    rc = nb__err(err, NB_ETRUNC, "%s: empty file", path);
    goto fail;
  }
  g = nb_calloc(1, sizeof *g);
  if (g == NULL) {
    rc = nb__err(err, NB_ENOMEM, "%s: no memory for a GGUF handle", path);
    goto fail;
  }
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) {
    rc = nb__err(err, NB_EIO, "%s: mmap: %s", path, strerror(errno));
    nb_free(g);
    goto fail;
  }
  close(fd);
  fd = -1;
  g->base = p;
  g->size = (uint64_t)st.st_size;
  g->mapped = true;
  rc = parse(g, err);
  if (rc < 0) {
    nb__err_prefix(err, rc, "%s", path);
    nb_gguf_close(g);
    return rc;
  }
  /* The weights will be read soon: ask the kernel to start reading them. */
  if (g->n_tensors > 0) {
    long pg = sysconf(_SC_PAGESIZE);
    uint64_t start = g->data_offset - g->data_offset % (uint64_t)(pg > 0 ? pg : 4096);
    madvise((void *)(g->base + start), (size_t)(g->size - start),
            MADV_WILLNEED);
  }
  *out = g;
  return 0;
fail:
  if (fd >= 0) close(fd);
  return rc;
}

void nb_gguf_close(nb_gguf *g) {
  if (g == NULL) return;
  for (int64_t i = 0; i < g->n_kv; i++) nb_free(g->kv[i].str_offs);
  nb_free(g->kv);
  nb_free(g->kv_index);
  nb_free(g->tensors);
  nb_free(g->t_index);
  if (g->mapped) munmap((void *)g->base, (size_t)g->size);
  nb_free(g);
}

/* ------------------------------------------------------------- accessors */

uint32_t nb_gguf_version(const nb_gguf *g) { return g->version; }
uint64_t nb_gguf_alignment(const nb_gguf *g) { return g->alignment; }
uint64_t nb_gguf_file_size(const nb_gguf *g) { return g->size; }
uint64_t nb_gguf_data_offset(const nb_gguf *g) { return g->data_offset; }
int64_t nb_gguf_n_kv(const nb_gguf *g) { return g->n_kv; }
int64_t nb_gguf_n_tensors(const nb_gguf *g) { return g->n_tensors; }

int64_t nb_gguf_find_key(const nb_gguf *g, const char *key) {
  return index_find(g->kv_index, g->n_kv, key);
}

int64_t nb_gguf_find_tensor(const nb_gguf *g, const char *name) {
  return index_find(g->t_index, g->n_tensors, name);
}

const nb_tensor_info *nb_gguf_tensor(const nb_gguf *g, int64_t i) {
  return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

nb_str nb_gguf_key(const nb_gguf *g, int64_t i) {
  nb_str none = {NULL, 0};
  return i >= 0 && i < g->n_kv ? g->kv[i].key : none;
}

nb_gguf_vtype nb_gguf_kv_type(const nb_gguf *g, int64_t i) {
  return i >= 0 && i < g->n_kv ? (nb_gguf_vtype)g->kv[i].type
                               : NB_GGUF_VTYPE_COUNT;
}

nb_gguf_vtype nb_gguf_arr_type(const nb_gguf *g, int64_t i) {
  if (i < 0 || i >= g->n_kv || g->kv[i].type != NB_GGUF_ARRAY)
    return NB_GGUF_VTYPE_COUNT;
  return (nb_gguf_vtype)g->kv[i].arr_type;
}

uint64_t nb_gguf_arr_len(const nb_gguf *g, int64_t i) {
  if (i < 0 || i >= g->n_kv || g->kv[i].type != NB_GGUF_ARRAY) return 0;
  return g->kv[i].arr_n;
}

int nb__gguf_kv_raw(const nb_gguf *g, int64_t i, uint32_t *type,
                    const void **val, uint64_t *len) {
  if (g == NULL || i < 0 || i >= g->n_kv) return NB_EINVAL;
  *type = g->kv[i].type;
  *val = g->base + g->kv[i].val_off;
  *len = g->kv[i].val_len;
  return 0;
}

/* --------------------------------------------------------------- getters */

static int lookup(const nb_gguf *g, const char *key, const nb__gguf_kv **kv,
                  nb_err *err) {
  if (g == NULL || key == NULL)
    return nb__err(err, NB_EINVAL, "NULL GGUF handle or key");
  int64_t i = nb_gguf_find_key(g, key);
  if (i < 0) return nb__err(err, NB_ENOTFOUND, "key %s: not found", key);
  *kv = &g->kv[i];
  return 0;
}

static int wrong_type(nb_err *err, const char *key, const nb__gguf_kv *kv,
                      const char *want) {
  if (kv->type == NB_GGUF_ARRAY)
    return nb__err(err, NB_ETYPE, "key %s: is an array of %s, expected %s",
                   key, nb__gguf_vtype_name(kv->arr_type), want);
  return nb__err(err, NB_ETYPE, "key %s: has type %s, expected %s", key,
                 nb__gguf_vtype_name(kv->type), want);
}

int nb_gguf_get_int(const nb_gguf *g, const char *key, int64_t *out,
                    nb_err *err) {
  const nb__gguf_kv *kv = NULL;
  int rc = lookup(g, key, &kv, err);
  if (rc < 0) return rc;
  const uint8_t *p = g->base + kv->val_off;
  union {
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16;
    uint32_t u32; int32_t i32; uint64_t u64; int64_t i64;
  } v;
  memcpy(&v, p, nb__gguf_vtype_size(kv->type) ? nb__gguf_vtype_size(kv->type) : 0);
  switch (kv->type) {
    case NB_GGUF_UINT8: *out = v.u8; return 0;
    case NB_GGUF_INT8: *out = v.i8; return 0;
    case NB_GGUF_UINT16: *out = v.u16; return 0;
    case NB_GGUF_INT16: *out = v.i16; return 0;
    case NB_GGUF_UINT32: *out = v.u32; return 0;
    case NB_GGUF_INT32: *out = v.i32; return 0;
    case NB_GGUF_INT64: *out = v.i64; return 0;
    case NB_GGUF_UINT64:
      if (v.u64 > (uint64_t)INT64_MAX)
        return nb__err(err, NB_ERANGE,
                       "key %s: value %llu does not fit a signed 64-bit "
                       "integer",
                       key, (ull)v.u64);
      *out = (int64_t)v.u64;
      return 0;
    default:
      return wrong_type(err, key, kv, "an integer");
  }
}

int nb_gguf_get_f32(const nb_gguf *g, const char *key, float *out,
                    nb_err *err) {
  const nb__gguf_kv *kv = NULL;
  int rc = lookup(g, key, &kv, err);
  if (rc < 0) return rc;
  const uint8_t *p = g->base + kv->val_off;
  if (kv->type == NB_GGUF_FLOAT32) {
    memcpy(out, p, 4);
    return 0;
  }
  if (kv->type == NB_GGUF_FLOAT64) {
    double d;
    memcpy(&d, p, 8);
    *out = (float)d;
    return 0;
  }
  return wrong_type(err, key, kv, "float32");
}

int nb_gguf_get_bool(const nb_gguf *g, const char *key, bool *out,
                     nb_err *err) {
  const nb__gguf_kv *kv = NULL;
  int rc = lookup(g, key, &kv, err);
  if (rc < 0) return rc;
  if (kv->type != NB_GGUF_BOOL) return wrong_type(err, key, kv, "bool");
  *out = g->base[kv->val_off] != 0;
  return 0;
}

int nb_gguf_get_str(const nb_gguf *g, const char *key, nb_str *out,
                    nb_err *err) {
  const nb__gguf_kv *kv = NULL;
  int rc = lookup(g, key, &kv, err);
  if (rc < 0) return rc;
  if (kv->type != NB_GGUF_STRING) return wrong_type(err, key, kv, "string");
  uint64_t len;
  memcpy(&len, g->base + kv->val_off, 8);
  out->data = (const char *)g->base + kv->val_off + 8;
  out->len = (size_t)len;
  return 0;
}

int nb_gguf_get_arr(const nb_gguf *g, const char *key, nb_gguf_vtype elem,
                    const void **data, uint64_t *n, nb_err *err) {
  if (nb__gguf_vtype_size(elem) == 0)
    return nb__err(err, NB_EINVAL,
                   "key %s: nb_gguf_get_arr needs a fixed-size element type, "
                   "not %s",
                   key ? key : "(null)", nb__gguf_vtype_name(elem));
  const nb__gguf_kv *kv = NULL;
  int rc = lookup(g, key, &kv, err);
  if (rc < 0) return rc;
  if (kv->type != NB_GGUF_ARRAY || kv->arr_type != (uint32_t)elem) {
    char want[48];
    snprintf(want, sizeof want, "an array of %s", nb__gguf_vtype_name(elem));
    return wrong_type(err, key, kv, want);
  }
  *data = g->base + kv->val_off + 12;
  *n = kv->arr_n;
  return 0;
}

int nb_gguf_get_arr_str(const nb_gguf *g, const char *key, uint64_t j,
                        nb_str *out, nb_err *err) {
  const nb__gguf_kv *kv = NULL;
  int rc = lookup(g, key, &kv, err);
  if (rc < 0) return rc;
  if (kv->type != NB_GGUF_ARRAY || kv->arr_type != NB_GGUF_STRING)
    return wrong_type(err, key, kv, "an array of string");
  if (j >= kv->arr_n)
    return nb__err(err, NB_ERANGE, "key %s: index %llu out of %llu strings",
                   key, (ull)j, (ull)kv->arr_n);
  uint64_t off = kv->str_offs[j], len;
  memcpy(&len, g->base + off, 8);
  out->data = (const char *)g->base + off + 8;
  out->len = (size_t)len;
  return 0;
}
