/*
 * nibble.h: the one public header of libnibble.
 *
 * Conventions (read these once, they hold for every function below):
 *  - Every fallible call returns 0 (NB_OK) or a negative NB_E* code and, when
 *    `err` is not NULL, fills it with the code and a human message naming the
 *    field, tensor or file at fault. The library never prints and never exits.
 *  - Handles are opaque. A `*_free` / `*_close` accepts NULL.
 *  - Pointers returned by getters are BORROWED: valid until the handle that
 *    produced them is freed, unless the comment says otherwise. Memory the
 *    caller OWNS is said so and is released with nb_free().
 *  - Every heap allocation goes through mimalloc (nb_malloc/nb_free).
 *
 * Sections are owned by modules: core, types, gguf, quantize, model, context,
 * tokenizer, sampler, system. Add new declarations to the matching section.
 */
#ifndef NIBBLE_H
#define NIBBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ core */

/* One list gives the codes, their order and their default messages. */
#define NB_ERRNO_MAP(XX)                                                     \
  XX(EINVAL, "invalid argument")                                             \
  XX(ENOMEM, "out of memory")                                                \
  XX(EIO, "input/output error")                                              \
  XX(ENOENT, "no such file")                                                 \
  XX(EMAGIC, "bad magic number")                                             \
  XX(EVERSION, "unsupported version")                                        \
  XX(ETRUNC, "file is truncated")                                            \
  XX(ETOOBIG, "size or count too large")                                     \
  XX(EOVERFLOW, "size arithmetic overflows")                                 \
  XX(EBADTYPE, "unknown type id")                                            \
  XX(ETYPE, "value has the wrong type")                                      \
  XX(EDUP, "duplicate name")                                                 \
  XX(EALIGN, "bad alignment")                                                \
  XX(ERANGE, "offset or extent out of range")                                \
  XX(EOVERLAP, "tensor data regions overlap")                                \
  XX(ENOTFOUND, "key or tensor not found")                                   \
  XX(ESHAPE, "tensor has the wrong shape")                                   \
  XX(EMODEL, "invalid model")                                                \
  XX(EUTF8, "invalid UTF-8")                                                 \
  XX(ECTX, "context is full")                                                \
  XX(ETOKENIZER, "tokenizer error")                                          \
  XX(ECANCELED, "operation canceled")                                        \
  XX(EUNSUPPORTED, "not supported")                                          \
  XX(EFORMAT, "malformed input")                                             \
  XX(EEMPTY, "empty input")

enum nb__errpos {
  NB__ERRPOS_NONE = 0,
#define NB__XX(c, s) NB__POS_##c,
  NB_ERRNO_MAP(NB__XX)
#undef NB__XX
  NB__ERRPOS_COUNT
};

typedef enum nb_status {
  NB_OK = 0,
#define NB__XX(c, s) NB_##c = -NB__POS_##c,
  NB_ERRNO_MAP(NB__XX)
#undef NB__XX
} nb_status;

/* Error detail. `code` repeats the return value; `msg` is a full sentence
 * such as "tensor blk.3.attn_q.weight: data ends past end of file". */
typedef struct nb_err {
  int code;
  char msg[512];
} nb_err;

const char *nb_strerror(int code);  /* static string, never NULL */
const char *nb_errname(int code);   /* "NB_ETRUNC" etc., never NULL */

void *nb_malloc(size_t n);          /* mimalloc; NULL on failure */
void *nb_calloc(size_t count, size_t size);
void *nb_realloc(void *p, size_t n);
void nb_free(void *p);

/* A borrowed, not NUL-terminated byte string. */
typedef struct nb_str {
  const char *data;
  size_t len;
} nb_str;

/* ----------------------------------------------------------------- types */

/* Tensor element types. Values are ggml's type ids (they are what a GGUF file
 * stores), so they must never be renumbered. */
typedef enum nb_type {
  NB_TYPE_F32 = 0,
  NB_TYPE_F16 = 1,
  NB_TYPE_Q4_0 = 2,
  NB_TYPE_Q8_0 = 8,
  NB_TYPE_BF16 = 30,
  NB_TYPE_COUNT = 39 /* one past the largest id ggml knows (for tables) */
} nb_type;

bool nb_type_supported(uint32_t type);     /* can we read/compute with it */
const char *nb_type_name(uint32_t type);   /* "q4_0"; "type#N" if unknown */
int nb_type_from_name(const char *name);   /* nb_type, or NB_EBADTYPE */
int64_t nb_type_block(uint32_t type);      /* elements per block; 0 unknown */
size_t nb_type_block_bytes(uint32_t type); /* bytes per block; 0 unknown */
/* Bytes of a row of `n` elements; 0 if n is not a multiple of the block. */
size_t nb_type_row_bytes(uint32_t type, int64_t n);

/* ------------------------------------------------------------------ gguf */

typedef enum nb_gguf_vtype {
  NB_GGUF_UINT8 = 0,
  NB_GGUF_INT8 = 1,
  NB_GGUF_UINT16 = 2,
  NB_GGUF_INT16 = 3,
  NB_GGUF_UINT32 = 4,
  NB_GGUF_INT32 = 5,
  NB_GGUF_FLOAT32 = 6,
  NB_GGUF_BOOL = 7,
  NB_GGUF_STRING = 8,
  NB_GGUF_ARRAY = 9,
  NB_GGUF_UINT64 = 10,
  NB_GGUF_INT64 = 11,
  NB_GGUF_FLOAT64 = 12,
  NB_GGUF_VTYPE_COUNT
} nb_gguf_vtype;

#define NB_GGUF_MAX_DIMS 4
#define NB_GGUF_DEFAULT_ALIGNMENT 32

typedef struct nb_gguf nb_gguf; /* an open, validated, mmapped GGUF file */

typedef struct nb_tensor_info {
  nb_str name;                    /* borrowed from the mapping */
  uint32_t n_dims;                /* 1..4 */
  int64_t ne[NB_GGUF_MAX_DIMS];   /* ggml order: ne[0] is the row length;
                                     unused dims are 1 */
  uint32_t type;                  /* nb_type */
  uint64_t offset;                /* relative to the data section */
  uint64_t nbytes;                /* exact size of the data */
  const void *data;               /* borrowed pointer into the mapping */
} nb_tensor_info;

/* Opens and fully validates `path` (GGUF v2 or v3). Nothing is copied: the
 * file is mapped read-only and stays mapped until nb_gguf_close. */
int nb_gguf_open(nb_gguf **out, const char *path, nb_err *err);
/* Same over a caller-owned buffer that must outlive the handle (tests). */
int nb_gguf_open_memory(nb_gguf **out, const void *buf, size_t len,
                        nb_err *err);
void nb_gguf_close(nb_gguf *g);

uint32_t nb_gguf_version(const nb_gguf *g);
uint64_t nb_gguf_alignment(const nb_gguf *g);
uint64_t nb_gguf_file_size(const nb_gguf *g);
uint64_t nb_gguf_data_offset(const nb_gguf *g); /* start of the data section */

int64_t nb_gguf_n_kv(const nb_gguf *g);
int64_t nb_gguf_find_key(const nb_gguf *g, const char *key); /* -1: absent */
nb_str nb_gguf_key(const nb_gguf *g, int64_t i);
nb_gguf_vtype nb_gguf_kv_type(const nb_gguf *g, int64_t i);
/* For arrays: element type and count (nested arrays report NB_GGUF_ARRAY). */
nb_gguf_vtype nb_gguf_arr_type(const nb_gguf *g, int64_t i);
uint64_t nb_gguf_arr_len(const nb_gguf *g, int64_t i);

/* Typed getters. NB_ENOTFOUND if the key is absent, NB_ETYPE if it holds
 * another type. get_int accepts any integer type whose value fits int64
 * (value-preserving, never a reinterpretation); get_uint likewise for
 * non-negative values; get_f32 accepts FLOAT32 (and FLOAT64 when exactly
 * representable is not required: it is rounded). */
int nb_gguf_get_int(const nb_gguf *g, const char *key, int64_t *out,
                    nb_err *err);
int nb_gguf_get_f32(const nb_gguf *g, const char *key, float *out,
                    nb_err *err);
int nb_gguf_get_bool(const nb_gguf *g, const char *key, bool *out,
                     nb_err *err);
int nb_gguf_get_str(const nb_gguf *g, const char *key, nb_str *out,
                    nb_err *err);
/* Array of fixed-size elements of exactly type `elem`: pointer into the
 * mapping (may be unaligned: read with memcpy) and element count. */
int nb_gguf_get_arr(const nb_gguf *g, const char *key, nb_gguf_vtype elem,
                    const void **data, uint64_t *n, nb_err *err);
/* Element j of an array of strings. */
int nb_gguf_get_arr_str(const nb_gguf *g, const char *key, uint64_t j,
                        nb_str *out, nb_err *err);

int64_t nb_gguf_n_tensors(const nb_gguf *g);
const nb_tensor_info *nb_gguf_tensor(const nb_gguf *g, int64_t i);
int64_t nb_gguf_find_tensor(const nb_gguf *g, const char *name); /* -1 */

/* Writer: collects keys and tensors, then writes a GGUF v3 file atomically
 * (temporary file + fsync + rename, so a failure never leaves a half file
 * behind, nor the temporary one). Tensor data is borrowed until
 * nb_gguf_writer_write returns; a tensor may instead be produced at write
 * time, chunk by chunk (nb_gguf_writer_add_tensor_cb), so a file of any size
 * is written with a bounded buffer. */
typedef struct nb_gguf_writer nb_gguf_writer;
int nb_gguf_writer_new(nb_gguf_writer **out, nb_err *err);
void nb_gguf_writer_free(nb_gguf_writer *w);
int nb_gguf_writer_set_u32(nb_gguf_writer *w, const char *key, uint32_t v,
                           nb_err *err);
int nb_gguf_writer_set_i32(nb_gguf_writer *w, const char *key, int32_t v,
                           nb_err *err);
int nb_gguf_writer_set_u64(nb_gguf_writer *w, const char *key, uint64_t v,
                           nb_err *err);
int nb_gguf_writer_set_f32(nb_gguf_writer *w, const char *key, float v,
                           nb_err *err);
int nb_gguf_writer_set_bool(nb_gguf_writer *w, const char *key, bool v,
                            nb_err *err);
int nb_gguf_writer_set_str(nb_gguf_writer *w, const char *key,
                           const char *s, size_t len, nb_err *err);
/* Fixed-size element array (copied). */
int nb_gguf_writer_set_arr(nb_gguf_writer *w, const char *key,
                           nb_gguf_vtype elem, const void *data, uint64_t n,
                           nb_err *err);
/* String array (copied). */
int nb_gguf_writer_set_arr_str(nb_gguf_writer *w, const char *key,
                               const nb_str *strs, uint64_t n, nb_err *err);
/* Copy key i of an open file verbatim (any type, including nested arrays). */
int nb_gguf_writer_copy_kv(nb_gguf_writer *w, const nb_gguf *g, int64_t i,
                           nb_err *err);
/* Adds a tensor; `data` (nbytes = row_bytes(type, ne[0]) * rows) is
 * borrowed until write. */
int nb_gguf_writer_add_tensor(nb_gguf_writer *w, const char *name,
                              uint32_t type, uint32_t n_dims,
                              const int64_t *ne, const void *data,
                              nb_err *err);
/* The data of a streamed tensor, produced on demand: writes rows
 * [row0, row0 + n_rows) (a row is ne[0] elements, nb_type_row_bytes(type,
 * ne[0]) bytes; the rows of an n-D tensor are its ne[1]*ne[2]*ne[3]
 * innermost vectors in file order) into `dst`, which holds exactly
 * n_rows * row_bytes bytes. Returns 0, or a negative NB_E* code after
 * filling `err` (which may be NULL): the write then stops, removes its
 * temporary file and returns that code. Calls for one tensor come in row
 * order, contiguous, covering it exactly once, from the thread that called
 * nb_gguf_writer_write, with n_rows = max(1, NB_GGUF_WRITE_CHUNK /
 * row_bytes) but for the last chunk, which may be shorter (so at most
 * NB_GGUF_WRITE_CHUNK bytes unless one row is larger). `err` is the one
 * given to nb_gguf_writer_write. */
typedef int (*nb_gguf_fill_fn)(void *user, void *dst, int64_t row0,
                               int64_t n_rows, nb_err *err);
#define NB_GGUF_WRITE_CHUNK ((size_t)4 << 20)
/* Adds a tensor whose bytes `fill` produces during nb_gguf_writer_write (at
 * each write: writing twice calls it twice). The file is byte-identical to
 * the one nb_gguf_writer_add_tensor would write with the same bytes.
 * `user` is borrowed until the last write returns; the writer never frees
 * it. Same checks (name, shape, type) as nb_gguf_writer_add_tensor. */
int nb_gguf_writer_add_tensor_cb(nb_gguf_writer *w, const char *name,
                                 uint32_t type, uint32_t n_dims,
                                 const int64_t *ne, nb_gguf_fill_fn fill,
                                 void *user, nb_err *err);
int nb_gguf_writer_write(nb_gguf_writer *w, const char *path, nb_err *err);

/* -------------------------------------------------------------- quantize */

typedef struct nb_quant_params {
  uint32_t type;           /* target for 2-D weights: Q8_0, Q4_0, F16, ... */
  int output_type;         /* output.weight: -1 = default (Q8_0 when target
                              is Q4_0, else target) */
  int embd_type;           /* token_embd.weight: -1 = default (target) */
  uint32_t fallback_type;  /* rows not a multiple of the block: F16 */
  int32_t n_threads;       /* rows are converted in parallel: 0 = physical
                              cores; the output and report do not depend
                              on it */
} nb_quant_params;

void nb_quant_params_default(nb_quant_params *p, uint32_t type);

/* One tensor's line in the report (all sizes in bytes). */
typedef struct nb_quant_report {
  const char *name;        /* borrowed, valid during the callback */
  uint32_t n_dims;
  int64_t ne[NB_GGUF_MAX_DIMS];
  uint32_t old_type, new_type;
  uint64_t old_bytes, new_bytes;
  double rmse, max_abs_err, snr_db; /* of new vs old (as float); snr inf
                                       when exact */
  bool fallback;           /* new_type is the fallback, not the target */
  bool requantized;        /* old and new types are both block-quantized
                              (and differ): the data was dequantized and
                              quantized again (lossy twice); the errors are
                              against the dequantized input */
  int64_t index, count;    /* progress: tensor index of count */
} nb_quant_report;

typedef void (*nb_quant_cb)(void *ud, const nb_quant_report *r);

/* Quantizes `in_path` to `out_path` (written atomically). `cb` (may be
 * NULL) is called once per tensor, in file order, after it is done. */
int nb_quantize_file(const char *in_path, const char *out_path,
                     const nb_quant_params *p, nb_quant_cb cb, void *ud,
                     nb_err *err);

/* ----------------------------------------------------------------- model */

/* Llama-family hyper-parameters, as bound from the file. */
typedef struct nb_hparams {
  int32_t n_vocab;
  int32_t dim;          /* embedding_length */
  int32_t n_layers;     /* block_count */
  int32_t n_heads;
  int32_t n_kv_heads;
  int32_t head_dim;     /* dim / n_heads */
  int32_t ffn_dim;      /* feed_forward_length */
  int32_t n_ctx_train;  /* context_length */
  int32_t rope_dim;     /* rope.dimension_count (<= head_dim) */
  float rope_base;      /* rope.freq_base, default 10000 */
  float norm_eps;       /* attention.layer_norm_rms_epsilon */
  bool tied_output;     /* no output.weight: the embedding is reused */
} nb_hparams;

typedef struct nb_model nb_model;

/* Opens a GGUF file and binds it as a Llama model: every tensor the
 * architecture needs is present with the right shape and a usable type, and
 * the hyper-parameters agree with each other and with the tensors. A model
 * that loads is one the executor can run. */
int nb_model_load(nb_model **out, const char *path, nb_err *err);
void nb_model_free(nb_model *m);
const nb_hparams *nb_model_hparams(const nb_model *m);
const nb_gguf *nb_model_gguf(const nb_model *m);   /* borrowed */
uint64_t nb_model_n_params(const nb_model *m);
uint64_t nb_model_weight_bytes(const nb_model *m); /* bytes read per token */
/* Bytes of KV cache + activations for a context of n_ctx under `act`. */
uint64_t nb_model_state_bytes(const nb_model *m, int32_t n_ctx, int act);

/* Converts a llama2.c checkpoint (legacy v0 header) plus a SentencePiece
 * model into a GGUF file (F32 weights, standard llama keys and tensor names,
 * vocabulary arrays, and the SentencePiece model bytes embedded under
 * "nibble.tokenizer.spm_model"). */
int nb_convert_llama2c(const char *ckpt_path, const char *spm_path,
                       const char *out_path, nb_err *err);

/* --------------------------------------------------------------- context */

/* Activation precision. F32 keeps every activation and the KV cache in F32
 * (the oracle); F16 stores activations and the KV cache in FP16 (default);
 * Q8 quantizes matmul inputs per 32-block to int8 (integer dot products). */
typedef enum nb_act {
  NB_ACT_F32 = 0,
  NB_ACT_F16 = 1,
  NB_ACT_Q8 = 2
} nb_act;

const char *nb_act_name(int act);       /* "f32", "f16", "q8" */
int nb_act_from_name(const char *name); /* nb_act or NB_EINVAL */

typedef struct nb_ctx_params {
  int32_t n_ctx;       /* 0: the model's context length */
  int act;             /* nb_act */
  int32_t n_threads;   /* 0: number of physical cores */
  const char *kernels; /* NULL/"auto", "scalar", "avx2", "avxvnni",
                          "avx512", "neon"; when NULL the NB_KERNELS
                          environment variable may force one */
} nb_ctx_params;

void nb_ctx_params_default(nb_ctx_params *p);

typedef struct nb_ctx nb_ctx; /* State: KV cache, activations, threads */

/* The model is borrowed and must outlive the context. */
int nb_ctx_new(nb_ctx **out, nb_model *m, const nb_ctx_params *p,
               nb_err *err);
void nb_ctx_free(nb_ctx *c);
int32_t nb_ctx_n_ctx(const nb_ctx *c);
int32_t nb_ctx_pos(const nb_ctx *c);        /* tokens in the KV cache */
const char *nb_ctx_kernels(const nb_ctx *c); /* name of the kernel set */

/* Evaluates n tokens at positions pos..pos+n-1 (a batch: prefill), appending
 * them to the KV cache. The logits of the last token are then available from
 * nb_ctx_logits. NB_ECTX if pos + n > n_ctx (nothing is changed). */
int nb_ctx_eval(nb_ctx *c, const int32_t *tokens, int32_t n, nb_err *err);
/* Like nb_ctx_eval, and also writes the logits of EVERY token to `out`
 * ((n, n_vocab) floats, caller-owned), for perplexity and tests. The same
 * numbers as evaluating the tokens one by one. */
int nb_ctx_eval_all(nb_ctx *c, const int32_t *tokens, int32_t n, float *out,
                    nb_err *err);
/* Logits of the last evaluated token: n_vocab floats, borrowed, valid until
 * the next eval. NULL before the first eval. */
const float *nb_ctx_logits(const nb_ctx *c);
/* Forget positions >= pos (0 clears everything). */
int nb_ctx_truncate(nb_ctx *c, int32_t pos, nb_err *err);
/* Flag checked between layers/tokens by nb_ctx_eval: when set (from any
 * thread, e.g. a signal watcher), eval stops with NB_ECANCELED and the KV
 * cache is rolled back to where the call began. Borrowed pointer. */
void nb_ctx_set_cancel_flag(nb_ctx *c, volatile int *flag);

/* ------------------------------------------------------------- tokenizer */

typedef struct nb_tokenizer nb_tokenizer;

/* From a model's GGUF: the embedded SentencePiece model when present,
 * otherwise built from tokenizer.ggml.tokens / scores / token_type. */
int nb_tokenizer_from_gguf(nb_tokenizer **out, const nb_gguf *g, nb_err *err);
/* From a SentencePiece .model file. */
int nb_tokenizer_from_spm_file(nb_tokenizer **out, const char *path,
                               nb_err *err);
void nb_tokenizer_free(nb_tokenizer *t);

int32_t nb_tokenizer_n_vocab(const nb_tokenizer *t);
int32_t nb_tokenizer_bos(const nb_tokenizer *t);
int32_t nb_tokenizer_eos(const nb_tokenizer *t);
bool nb_tokenizer_add_bos(const nb_tokenizer *t); /* add_bos_token */
/* Piece text of a token as stored (with U+2581 for spaces), borrowed. */
nb_str nb_tokenizer_piece(const nb_tokenizer *t, int32_t id);
float nb_tokenizer_score(const nb_tokenizer *t, int32_t id);
/* GGUF token types: 1 normal, 2 unknown, 3 control, 4 user defined,
 * 5 unused, 6 byte. */
typedef enum nb_token_type {
  NB_TOKEN_NORMAL = 1,
  NB_TOKEN_UNKNOWN = 2,
  NB_TOKEN_CONTROL = 3,
  NB_TOKEN_USER_DEFINED = 4,
  NB_TOKEN_UNUSED = 5,
  NB_TOKEN_BYTE = 6
} nb_token_type;
int nb_tokenizer_token_type(const nb_tokenizer *t, int32_t id);
/* The serialized SentencePiece model the processor was loaded from (the
 * embedded or .model bytes, or the one built from GGUF arrays): borrowed. */
nb_str nb_tokenizer_spm_bytes(const nb_tokenizer *t);

/* Encodes UTF-8 text (NB_EUTF8 if invalid). *ids is OWNED by the caller
 * (nb_free). BOS is prepended when add_bos is true. */
int nb_tokenize(const nb_tokenizer *t, const char *text, size_t len,
                bool add_bos, int32_t **ids, int32_t *n, nb_err *err);
/* Decodes ids to text (*text OWNED, NUL-terminated). */
int nb_detokenize(const nb_tokenizer *t, const int32_t *ids, int32_t n,
                  char **text, size_t *len, nb_err *err);

/* Streaming decoder: feed tokens one by one, get text that never splits a
 * UTF-8 character (byte-fallback pieces accumulate until complete; bytes
 * that can never form a valid character become U+FFFD). Exactly
 * SentencePiece's DecodeIds, chunked: control tokens (BOS/EOS) print
 * nothing, and while nothing has been printed since the start (or the last
 * reset) the next piece loses its leading space (the encoder's dummy
 * prefix). So push the prompt ids too (BOS first) before the generated
 * ones, or the first generated word loses its space. */
typedef struct nb_detok nb_detok;
int nb_detok_new(nb_detok **out, const nb_tokenizer *t, nb_err *err);
void nb_detok_free(nb_detok *d);
void nb_detok_reset(nb_detok *d);
/* Text made printable by `id`: borrowed, valid until the next call. */
int nb_detok_push(nb_detok *d, int32_t id, nb_str *text, nb_err *err);
/* Bytes still pending (an incomplete character at the end), as U+FFFD. */
int nb_detok_flush(nb_detok *d, nb_str *text, nb_err *err);

/* --------------------------------------------------------------- sampler */

/* Steps, in order: repetition penalty (last repeat_last_n tokens), then if
 * temp <= 0 greedy (first index of the maximum); else top-k, temperature,
 * softmax, top-p, min-p, renormalise, draw. */
typedef struct nb_sampler_params {
  float temp;            /* 0: greedy */
  int32_t top_k;         /* 0: off */
  float top_p;           /* 1: off */
  float min_p;           /* 0: off */
  float repeat_penalty;  /* 1: off */
  int32_t repeat_last_n; /* window for the penalty */
  uint64_t seed;         /* default: a fixed constant (reproducible) */
} nb_sampler_params;

void nb_sampler_params_default(nb_sampler_params *p);

typedef struct nb_sampler nb_sampler;
int nb_sampler_new(nb_sampler **out, const nb_sampler_params *p,
                   int32_t n_vocab, nb_err *err);
void nb_sampler_free(nb_sampler *s);
/* Changes the settings in place (the history is kept; the PRNG is re-seeded
 * only if the seed changed). */
int nb_sampler_set_params(nb_sampler *s, const nb_sampler_params *p,
                          nb_err *err);
/* Picks a token from logits (n_vocab floats, not modified). NaN logits are
 * never picked; +inf ones share the probability. Returns NB_EINVAL
 * (negative) only if every logit is NaN. */
int32_t nb_sampler_sample(nb_sampler *s, const float *logits);
/* Records a token in the penalty history (prompt tokens too). */
void nb_sampler_accept(nb_sampler *s, int32_t id);
void nb_sampler_reset(nb_sampler *s); /* clears history, re-seeds */

/* ---------------------------------------------------------------- system */

/* CPU features and kernel sets. */
const char *nb_cpu_features(void);        /* "avx2 fma f16c avx512f ..." */
const char *nb_kernels_best(void);        /* best set this CPU can run */
bool nb_kernels_available(const char *name);
int32_t nb_cpu_physical_cores(void);

/* Measures the machine's read bandwidth: n_threads stream over `bytes` of
 * memory `reps` times; returns bytes/second (median rep) or a negative code. */
double nb_measure_read_bandwidth(int32_t n_threads, size_t bytes, int reps);
/* The same probe over caller memory [p, p + bytes), read only (at least
 * 256 bytes per thread): e.g. a model's mapped weights, which measures
 * memory where the page cache put them (on some machines not all memory is
 * equally fast). */
double nb_measure_read_bandwidth_of(const void *p, size_t bytes,
                                    int32_t n_threads, int reps);

/* Peak resident set size of this process, bytes (VmHWM on Linux). */
uint64_t nb_peak_rss(void);
/* Resets the peak to the current resident set size (Linux >= 4.0, through
 * /proc/self/clear_refs); false where that is not possible, and the peak
 * then stays a whole-process high-water mark. */
bool nb_peak_rss_reset(void);

#ifdef __cplusplus
}
#endif
#endif /* NIBBLE_H */
