/*
 * quantize.c: the post-training, weight-only quantizer (GGUF in, GGUF out).
 *
 * Policy (llama.cpp's, so our files equal llama-quantize's byte for byte):
 *  - a tensor whose name ends in ".weight" and that has n_dims >= 2 gets the
 *    target type (output.weight and token_embd.weight may have their own,
 *    see nb_quant_params); every other tensor (norm vectors, biases) keeps
 *    its type and its bytes;
 *  - a matrix whose row length ne[0] is not a multiple of the chosen type's
 *    block falls back to p->fallback_type (F16; stories260K's ffn_down rows
 *    are 172 wide) and the report says fallback;
 *  - a tensor already of the chosen type is copied verbatim; any other
 *    supported input type (F32, F16, BF16, Q8_0, Q4_0) is converted to float
 *    row by row and quantized with the type's ggml-exact from_float
 *    (block-quantized inputs are therefore requantized, and said so).
 * Metadata: every key is copied verbatim, in order, except
 * general.file_type (set to llama.cpp's LLAMA_FTYPE for the target) and
 * general.quantization_version (set to 2), which are appended when absent.
 * general.alignment is kept (as a uint32), so the output keeps the input's
 * alignment; a file without the key gets the default (32), as the input
 * had.
 *
 * The report numbers are measured, not estimated: every quantized row is
 * dequantized again and compared with the input row (as float).
 *
 * Memory: nothing the size of a tensor is held. Every tensor is planned
 * (type, checks) first; then the GGUF writer asks for each tensor's bytes
 * chunk by chunk (nb_gguf_writer_add_tensor_cb) while it writes the file,
 * and each chunk of rows is converted by the thread pool straight into the
 * writer's buffer. Input pages already converted are released (see
 * release_input), so the resident set stays at a few MiB of buffers plus the
 * input chunk being read, whatever the model size.
 */
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nb_internal.h"
#include "sys/pool.h"
#include "types.h"

/* llama.cpp's LLAMA_FTYPE_* ("mostly X") for a target type. */
static uint32_t ftype_of(uint32_t type) {
  switch (type) {
    case NB_TYPE_F32: return 0;  /* LLAMA_FTYPE_ALL_F32 */
    case NB_TYPE_F16: return 1;  /* LLAMA_FTYPE_MOSTLY_F16 */
    case NB_TYPE_Q4_0: return 2; /* LLAMA_FTYPE_MOSTLY_Q4_0 */
    case NB_TYPE_Q8_0: return 7; /* LLAMA_FTYPE_MOSTLY_Q8_0 */
    case NB_TYPE_BF16: return 32; /* LLAMA_FTYPE_MOSTLY_BF16 */
    default: return 0;
  }
}

void nb_quant_params_default(nb_quant_params *p, uint32_t type) {
  memset(p, 0, sizeof *p);
  p->type = type;
  p->output_type = -1;
  p->embd_type = -1;
  p->fallback_type = NB_TYPE_F16;
  p->n_threads = 0;
}

/* Tensor name (borrowed, not NUL-terminated) compared with a C string. */
static bool str_is(nb_str s, const char *c) {
  size_t n = strlen(c);
  return s.len == n && memcmp(s.data, c, n) == 0;
}
static bool str_ends(nb_str s, const char *c) {
  size_t n = strlen(c);
  return s.len >= n && memcmp(s.data + s.len - n, c, n) == 0;
}

static int check_params(const nb_quant_params *p, nb_err *err) {
  if (!nb_type_supported(p->type))
    return nb__err(err, NB_EBADTYPE,
                   "quantize: target type %s is not supported (use f32, "
                   "f16, bf16, q8_0 or q4_0)",
                   nb_type_name(p->type));
  if (p->output_type != -1 && (p->output_type < 0 ||
                               !nb_type_supported((uint32_t)p->output_type)))
    return nb__err(err, NB_EBADTYPE,
                   "quantize: output.weight type %s is not supported",
                   p->output_type < 0 ? "(negative)"
                                      : nb_type_name((uint32_t)p->output_type));
  if (p->embd_type != -1 &&
      (p->embd_type < 0 || !nb_type_supported((uint32_t)p->embd_type)))
    return nb__err(err, NB_EBADTYPE,
                   "quantize: token_embd.weight type %s is not supported",
                   p->embd_type < 0 ? "(negative)"
                                    : nb_type_name((uint32_t)p->embd_type));
  if (!nb_type_supported(p->fallback_type) ||
      nb_type_block(p->fallback_type) != 1)
    return nb__err(err, NB_EBADTYPE,
                   "quantize: fallback type %s must be a float type (f32, "
                   "f16 or bf16): it has to fit rows of any length",
                   nb_type_name(p->fallback_type));
  return NB_OK;
}

/* The type the policy picks for tensor t (before the block-size check);
 * *is_weight says whether the policy applies at all. `tied` says the model
 * has no output.weight: token_embd.weight then also computes the logits, so
 * it takes the output rule (as llama.cpp's quantizer does), unless an
 * embedding type was asked for. */
static uint32_t policy_type(const nb_quant_params *p, const nb_tensor_info *t,
                            bool tied, bool *is_weight) {
  *is_weight = t->n_dims >= 2 && str_ends(t->name, ".weight");
  if (!*is_weight) return t->type;
  bool embd = str_is(t->name, "token_embd.weight");
  if (embd && p->embd_type >= 0) return (uint32_t)p->embd_type;
  if (str_is(t->name, "output.weight") || (embd && tied)) {
    if (p->output_type >= 0) return (uint32_t)p->output_type;
    return p->type == NB_TYPE_Q4_0 ? NB_TYPE_Q8_0 : p->type;
  }
  return p->type;
}

/* State every tensor's fill callback shares during the write. */
typedef struct qctx {
  nb__pool *pool;
  float *scratch;     /* (nth, 2, max ne[0]): source row, dequantized row */
  double *row_stats;  /* (cap_rows, 3): grown to the largest chunk */
  int64_t cap_rows;
  uintptr_t page;     /* page size (for releasing consumed input) */
  nb_quant_cb cb;
  void *ud;
} qctx;

/* One output tensor. The writer asks for its bytes chunk by chunk (rows in
 * order) while it writes the file; the tensor's report goes out when its
 * last row is done, so the callback still sees the tensors in file order,
 * each once, after it is done. */
typedef struct qtensor {
  qctx *ctx;                    /* borrowed */
  const nb_tensor_info *t;      /* borrowed from the open input */
  char *name;                   /* owned: t->name as a C string */
  const nb__type_traits *in, *out; /* conversion; NULL for a verbatim copy */
  size_t in_rb, out_rb;         /* bytes per row of ne[0] elements */
  int64_t rows;
  double se, sx, maxe;          /* error sums over the rows done so far,
                                   added in row order */
  uintptr_t released;           /* input pages below this were released */
  nb_quant_report r;            /* filled up front, errors at the end */
} qtensor;

/* Rows of ne[0] elements (ne[1]*ne[2]*ne[3]; the reader has checked the
 * product); 0 for an empty tensor. */
static uint64_t tensor_rows(const nb_tensor_info *t) {
  uint64_t rows = 1;
  for (int d = 1; d < NB_GGUF_MAX_DIMS; d++) rows *= (uint64_t)t->ne[d];
  return t->ne[0] > 0 ? rows : 0;
}

/* One chunk of one tensor's conversion, split by rows across the pool.
 * Per-row error sums are kept per row and added up in row order
 * afterwards, so the report is the same for any thread count (and any
 * chunking). */
typedef struct conv_job {
  const nb__type_traits *in, *out;
  const unsigned char *src; /* (rows, in_rb): the chunk's input rows */
  unsigned char *dst;       /* (rows, out_rb) */
  float *scratch;           /* (nth, 2, k): source row, dequantized row */
  double *row_stats;        /* (rows, 3): sum err^2, sum x^2, max |err| */
  int64_t k, rows;
  size_t in_rb, out_rb;
} conv_job;

static void conv_task(void *arg, int32_t ith, int32_t nth) {
  conv_job *j = arg;
  int64_t b, e;
  nb__split(j->rows, ith, nth, 1, &b, &e);
  float *src = j->scratch + (size_t)ith * 2 * (size_t)j->k; /* (k) */
  float *back = src + j->k;                                  /* (k) */
  for (int64_t i = b; i < e; i++) {
    j->in->to_float(j->src + (size_t)i * j->in_rb, src, j->k);
    unsigned char *o = j->dst + (size_t)i * j->out_rb;
    j->out->from_float(src, o, j->k);
    j->out->to_float(o, back, j->k);
    double se = 0, sx = 0, maxe = 0;
    for (int64_t c = 0; c < j->k; c++) {
      const double x = src[c];
      const double d = (double)back[c] - x;
      se += d * d;
      sx += x * x;
      if (fabs(d) > maxe || d != d) maxe = fabs(d);
    }
    j->row_stats[3 * i] = se;
    j->row_stats[3 * i + 1] = sx;
    j->row_stats[3 * i + 2] = maxe;
  }
}

/* The input rows below `done` bytes of the tensor are read for good: drop
 * their pages from this process (whole pages inside the tensor only; a page
 * shared with the next tensor stays). nb_gguf_open maps the file read-only
 * (its contract), so MADV_DONTNEED loses nothing: a later read would fault
 * the page in again from the page cache. Without this the whole input
 * becomes resident as it is read, however little the output needs. A hint:
 * failure is harmless. */
static void release_input(qtensor *q, uint64_t done) {
  const uintptr_t pg = q->ctx->page, start = (uintptr_t)q->t->data;
  uintptr_t lo = (start + pg - 1) / pg * pg;
  const uintptr_t hi = (start + (uintptr_t)done) / pg * pg;
  if (q->released > lo) lo = q->released;
  if (hi <= lo) return;
  (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
  q->released = hi;
}

/* nb_gguf_fill_fn: output rows [row0, row0 + n) of tensor q into dst
 * (n * out_rb bytes). */
static int fill_tensor(void *user, void *dst, int64_t row0, int64_t n,
                       nb_err *err) {
  qtensor *q = user;
  qctx *c = q->ctx;
  const unsigned char *src =
      (const unsigned char *)q->t->data + (size_t)row0 * q->in_rb;
  if (row0 == 0) { /* a tensor (re)starts: fresh sums */
    q->se = q->sx = q->maxe = 0;
    q->released = 0;
  }
  if (q->out == NULL) { /* verbatim copy: exact */
    memcpy(dst, src, (size_t)n * q->in_rb);
  } else {
    if (n > c->cap_rows) {
      double *p = nb_realloc(c->row_stats, (size_t)n * 3 * sizeof(double));
      if (!p)
        return nb__err(err, NB_ENOMEM, "tensor %s: out of memory", q->name);
      c->row_stats = p;
      c->cap_rows = n;
    }
    conv_job j = {q->in, q->out, src, dst, c->scratch, c->row_stats,
                  q->t->ne[0], n, q->in_rb, q->out_rb};
    nb__pool_run(c->pool, conv_task, &j);
    for (int64_t i = 0; i < n; i++) {
      q->se += c->row_stats[3 * i];
      q->sx += c->row_stats[3 * i + 1];
      const double m = c->row_stats[3 * i + 2];
      if (m > q->maxe || m != m) q->maxe = m;
    }
  }
  release_input(q, (uint64_t)(row0 + n) * q->in_rb);
  if (row0 + n == q->rows) { /* the tensor is done: its report */
    if (q->out != NULL) {
      const double cnt = (double)q->rows * (double)q->t->ne[0];
      q->r.rmse = cnt > 0 ? sqrt(q->se / cnt) : 0.0;
      q->r.max_abs_err = q->maxe;
      q->r.snr_db = q->se > 0 ? 10.0 * log10(q->sx / q->se) : INFINITY;
    }
    if (c->cb) c->cb(c->ud, &q->r);
  }
  return NB_OK;
}

/* Decides tensor i's output type, fills its report (all but the errors)
 * and checks that it can be converted. */
static int plan_tensor(qtensor *q, const nb_quant_params *p, bool tied,
                       int64_t i, int64_t n_t, nb_err *err) {
  const nb_tensor_info *t = q->t;
  q->name = nb_malloc(t->name.len + 1);
  if (!q->name) return nb__err(err, NB_ENOMEM, "quantize: out of memory");
  memcpy(q->name, t->name.data, t->name.len);
  q->name[t->name.len] = '\0';

  nb_quant_report *r = &q->r;
  memset(r, 0, sizeof *r);
  r->name = q->name;
  r->n_dims = t->n_dims;
  memcpy(r->ne, t->ne, sizeof r->ne);
  r->old_type = t->type;
  r->old_bytes = t->nbytes;
  r->index = i;
  r->count = n_t;

  bool is_weight;
  uint32_t type = policy_type(p, t, tied, &is_weight);
  if (is_weight && t->ne[0] % nb_type_block(type) != 0) {
    type = p->fallback_type;
    r->fallback = true;
  }
  r->new_type = type;
  q->rows = (int64_t)tensor_rows(t);
  q->in_rb = nb_type_row_bytes(t->type, t->ne[0]);
  if (type == t->type) { /* verbatim copy: exact */
    r->new_bytes = t->nbytes;
    r->rmse = 0;
    r->max_abs_err = 0;
    r->snr_db = INFINITY;
    q->out_rb = q->in_rb;
    return NB_OK;
  }
  q->in = nb__type_traits_get(t->type);
  if (!q->in)
    return nb__err(err, NB_EUNSUPPORTED,
                   "tensor %s: type %s cannot be converted (nibble reads "
                   "f32, f16, bf16, q8_0 and q4_0)",
                   q->name, nb_type_name(t->type));
  if (t->ne[0] % q->in->blck != 0) /* the reader guarantees this */
    return nb__err(err, NB_ESHAPE,
                   "tensor %s: row length %lld is not a multiple of the %s "
                   "block",
                   q->name, (long long)t->ne[0], q->in->name);
  q->out = nb__type_traits_get(type);
  r->requantized = q->in->quantized && q->out->quantized;
  q->out_rb = nb_type_row_bytes(type, t->ne[0]);
  uint64_t nbytes;
  if (!nb__mul_u64((uint64_t)q->rows, q->out_rb, &nbytes) ||
      nbytes > SIZE_MAX)
    return nb__err(err, NB_EOVERFLOW, "tensor %s: output size overflows",
                   q->name);
  r->new_bytes = nbytes;
  return NB_OK;
}

int nb_quantize_file(const char *in_path, const char *out_path,
                     const nb_quant_params *p, nb_quant_cb cb, void *ud,
                     nb_err *err) {
  int rc;
  nb_gguf *g = NULL;
  nb_gguf_writer *w = NULL;
  qtensor *qt = NULL; /* (n_t) */
  int64_t n_t = 0;
  qctx ctx;
  memset(&ctx, 0, sizeof ctx);

  if (!in_path || !out_path || !p)
    return nb__err(err, NB_EINVAL, "quantize: NULL argument");
  if ((rc = check_params(p, err)) < 0) return rc;
  if ((rc = nb_gguf_open(&g, in_path, err)) < 0) goto done;
  if ((rc = nb_gguf_writer_new(&w, err)) < 0) goto done;

  /* metadata: verbatim, two keys replaced in place or appended */
  {
    bool have_ftype = false, have_qv = false;
    const uint32_t ftype = ftype_of(p->type);
    for (int64_t i = 0; i < nb_gguf_n_kv(g); i++) {
      nb_str key = nb_gguf_key(g, i);
      if (str_is(key, "general.file_type")) {
        have_ftype = true;
        rc = nb_gguf_writer_set_u32(w, "general.file_type", ftype, err);
      } else if (str_is(key, "general.alignment")) {
        /* the reader accepts any integer type here; GGUF (and llama.cpp)
         * want a uint32, so keep the value and normalise the type */
        rc = nb_gguf_writer_set_u32(w, "general.alignment",
                                    (uint32_t)nb_gguf_alignment(g), err);
      } else if (str_is(key, "general.quantization_version")) {
        have_qv = true;
        rc = nb_gguf_writer_set_u32(w, "general.quantization_version", 2, err);
      } else {
        rc = nb_gguf_writer_copy_kv(w, g, i, err);
      }
      if (rc < 0) goto done;
    }
    if (!have_qv &&
        (rc = nb_gguf_writer_set_u32(w, "general.quantization_version", 2,
                                     err)) < 0)
      goto done;
    if (!have_ftype &&
        (rc = nb_gguf_writer_set_u32(w, "general.file_type", ftype, err)) < 0)
      goto done;
  }

  /* scratch rows for the widest tensor */
  n_t = nb_gguf_n_tensors(g);
  bool tied = nb_gguf_find_tensor(g, "output.weight") < 0;
  int64_t max_k = 1;
  for (int64_t i = 0; i < n_t; i++)
    max_k = NB__MAX(max_k, nb_gguf_tensor(g, i)->ne[0]);
  qt = nb_calloc((size_t)(n_t > 0 ? n_t : 1), sizeof *qt);
  const int32_t nth =
      p->n_threads > 0 ? p->n_threads : NB__MAX(1, nb_cpu_physical_cores());
  if ((rc = nb__pool_new(&ctx.pool, nth, err)) < 0) goto done;
  ctx.scratch = nb_malloc((size_t)nb__pool_size(ctx.pool) * 2 *
                          (size_t)max_k * sizeof(float));
  if (!qt || !ctx.scratch) {
    rc = nb__err(err, NB_ENOMEM, "quantize: out of memory for %lld tensors",
                 (long long)n_t);
    goto done;
  }
  const long pg = sysconf(_SC_PAGESIZE);
  ctx.page = pg > 0 ? (uintptr_t)pg : 4096;
  ctx.cb = cb;
  ctx.ud = ud;

  /* Every tensor is planned and checked before the file is started; the
   * data is produced (converted or copied) while the writer writes it. */
  for (int64_t i = 0; i < n_t; i++) {
    qtensor *q = &qt[i];
    q->ctx = &ctx;
    q->t = nb_gguf_tensor(g, i);
    if ((rc = plan_tensor(q, p, tied, i, n_t, err)) < 0) goto done;
    if ((rc = nb_gguf_writer_add_tensor_cb(w, q->name, q->r.new_type,
                                           q->t->n_dims, q->t->ne,
                                           fill_tensor, q, err)) < 0)
      goto done;
  }

  rc = nb_gguf_writer_write(w, out_path, err);
  if (rc < 0) nb__err_prefix(err, rc, "writing %s", out_path);

done:
  if (qt) {
    for (int64_t i = 0; i < n_t; i++) nb_free(qt[i].name);
    nb_free(qt);
  }
  nb_free(ctx.scratch);
  nb_free(ctx.row_stats);
  nb__pool_free(ctx.pool);
  nb_gguf_writer_free(w);
  nb_gguf_close(g);
  return rc;
}
