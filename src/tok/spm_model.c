/* spm_model.c: inspect, patch and build serialized SentencePiece models. */
#include "tok/spm_model.h"

#include <string.h>

#include "nb_internal.h"
#include "tok/pb.h"

/* ModelProto / TrainerSpec / NormalizerSpec field numbers (spm_model.h). */
enum {
  MP_PIECES = 1,
  MP_TRAINER = 2,
  MP_NORMALIZER = 3,
  SP_PIECE = 1,
  SP_SCORE = 2,
  SP_TYPE = 3,
  TS_MODEL_TYPE = 3,
  TS_VOCAB_SIZE = 4,
  TS_BYTE_FALLBACK = 35,
  TS_UNK_ID = 40,
  TS_BOS_ID = 41,
  TS_EOS_ID = 42,
  TS_PAD_ID = 43,
  TS_UNK_SURFACE = 44,
  TS_UNK_PIECE = 45,
  TS_BOS_PIECE = 46,
  TS_EOS_PIECE = 47,
  NS_NAME = 1,
  NS_ADD_DUMMY_PREFIX = 3,
  NS_REMOVE_EXTRA_WS = 4,
  NS_ESCAPE_WS = 5,
  TYPE_BPE = 2
};

static int malformed(nb_err *err, const char *what, size_t off) {
  return nb__err(err, NB_EMODEL,
                 "sentencepiece model: malformed %s near byte %zu", what, off);
}

/* Walks one embedded message completely (so that a corrupt one is caught
 * here, not in SentencePiece). */
static int check_message(const nb__pbf *f) {
  nb__pbr r = nb__pbr_init(f->data, f->len);
  nb__pbf g;
  int rc;
  while ((rc = nb__pbr_next(&r, &g)) == 1) {
  }
  return rc;
}

int nb__spm_model_inspect(const uint8_t *b, size_t n, nb__spm_info *info,
                          uint8_t *types, int32_t types_cap, nb_err *err) {
  memset(info, 0, sizeof *info);
  info->add_dummy_prefix = true;
  info->remove_extra_whitespaces = true;
  info->unk_surface.data = NB__SPM_DEFAULT_UNK_SURFACE;
  info->unk_surface.len = strlen(NB__SPM_DEFAULT_UNK_SURFACE);

  nb__pbr r = nb__pbr_init(b, n);
  nb__pbf f, g;
  int rc;
  while ((rc = nb__pbr_next(&r, &f)) == 1) {
    size_t off = (size_t)(f.start - b);
    if (f.field == MP_PIECES) {
      if (f.wire != NB__PB_LEN) return malformed(err, "piece", off);
      if (info->n_pieces == INT32_MAX) return malformed(err, "piece", off);
      uint8_t type = NB_TOKEN_NORMAL;
      nb__pbr pr = nb__pbr_init(f.data, f.len);
      while ((rc = nb__pbr_next(&pr, &g)) == 1) {
        if (g.field == SP_TYPE && g.wire == NB__PB_VARINT)
          /* an unknown enum value is an unknown field to proto2: the
           * piece stays NORMAL */
          type = g.v >= 1 && g.v <= 6 ? (uint8_t)g.v : NB_TOKEN_NORMAL;
      }
      if (rc < 0) return malformed(err, "piece", off);
      if (types != NULL && info->n_pieces < types_cap)
        types[info->n_pieces] = type;
      info->n_pieces++;
    } else if (f.field == MP_TRAINER || f.field == MP_NORMALIZER) {
      if (f.wire != NB__PB_LEN) return malformed(err, "spec", off);
      nb__pbr sr = nb__pbr_init(f.data, f.len);
      /* Several occurrences merge; within them the last value wins. */
      while ((rc = nb__pbr_next(&sr, &g)) == 1) {
        if (f.field == MP_TRAINER) {
          if (g.field == TS_BYTE_FALLBACK && g.wire == NB__PB_VARINT)
            info->byte_fallback = g.v != 0;
          if (g.field == TS_UNK_SURFACE && g.wire == NB__PB_LEN) {
            info->unk_surface.data = (const char *)g.data;
            info->unk_surface.len = g.len;
          }
        } else {
          if (g.field == NS_ADD_DUMMY_PREFIX && g.wire == NB__PB_VARINT)
            info->add_dummy_prefix = g.v != 0;
          if (g.field == NS_REMOVE_EXTRA_WS && g.wire == NB__PB_VARINT)
            info->remove_extra_whitespaces = g.v != 0;
        }
      }
      if (rc < 0) return malformed(err, "spec", off);
    } else if (f.wire == NB__PB_LEN && f.field <= 5) {
      if (check_message(&f) < 0) return malformed(err, "message", off);
    }
  }
  if (rc < 0) return malformed(err, "field", (size_t)(r.p - b));
  if (info->n_pieces == 0)
    return nb__err(err, NB_EMODEL, "sentencepiece model: no pieces");
  return NB_OK;
}

/* Why patch: SentencePiece's remove_extra_whitespaces (on in most trained
 * models, e.g. tok512.model) strips leading/trailing spaces and collapses
 * runs of spaces before encoding. llama.cpp's tokenizer and llama2.c's
 * run.c never do that: "a  b" keeps both spaces, " a" keeps its leading
 * one. So that every nibble tokenizer encodes like llama.cpp whatever model
 * file it came from, the normalizer is rewritten with the flag off. All
 * normalizer_spec occurrences are merged into one (the concatenation of
 * embedded-message payloads IS their merge in protobuf) with every field 4
 * dropped and `remove_extra_whitespaces = false` appended, placed where the
 * first occurrence was; other top-level fields are copied verbatim. */
int nb__spm_model_patch_ws(const uint8_t *b, size_t n, uint8_t **out,
                           size_t *out_len, nb_err *err) {
  *out = NULL;
  *out_len = 0;
  nb__spm_info info;
  int rc = nb__spm_model_inspect(b, n, &info, NULL, 0, err);
  if (rc) return rc;
  nb__pbw w = {0}, ns = {0};
  if (!info.remove_extra_whitespaces) {
    nb__pbw_raw(&w, b, n);
    goto done;
  }
  /* The merged normalizer payload. */
  nb__pbr r = nb__pbr_init(b, n);
  nb__pbf f, g;
  bool have_ns = false;
  while (nb__pbr_next(&r, &f) == 1) {
    if (f.field != MP_NORMALIZER) continue;
    have_ns = true;
    nb__pbr sr = nb__pbr_init(f.data, f.len);
    while (nb__pbr_next(&sr, &g) == 1)
      if (g.field != NS_REMOVE_EXTRA_WS)
        nb__pbw_raw(&ns, g.start, (size_t)(g.stop - g.start));
  }
  nb__pbw_varint(&ns, NS_REMOVE_EXTRA_WS, 0);
  r = nb__pbr_init(b, n);
  bool emitted = false;
  while (nb__pbr_next(&r, &f) == 1) {
    if (f.field != MP_NORMALIZER) {
      nb__pbw_raw(&w, f.start, (size_t)(f.stop - f.start));
    } else if (!emitted) {
      nb__pbw_bytes(&w, MP_NORMALIZER, ns.buf, ns.len);
      emitted = true;
    }
  }
  if (!have_ns) nb__pbw_bytes(&w, MP_NORMALIZER, ns.buf, ns.len);
done:
  if (w.oom || ns.oom) {
    nb__pbw_free(&w);
    nb__pbw_free(&ns);
    return nb__err(err, NB_ENOMEM, "patching the sentencepiece model");
  }
  nb__pbw_free(&ns);
  *out = w.buf;
  *out_len = w.len;
  return NB_OK;
}

int nb__spm_model_build(const nb__spm_vocab *v, uint8_t **out,
                        size_t *out_len, nb_err *err) {
  *out = NULL;
  *out_len = 0;
  if (v->n <= 0)
    return nb__err(err, NB_EMODEL, "tokenizer vocabulary is empty");
  nb__pbw w = {0}, sub = {0};
  bool byte_fallback = false;
  for (int32_t i = 0; i < v->n; i++) {
    if (v->pieces[i].len == 0)
      return nb__err(err, NB_EMODEL, "token %d: empty piece", (int)i);
    if (v->types[i] == NB_TOKEN_BYTE) byte_fallback = true;
  }
  /* pieces, each an embedded SentencePiece message */
  for (int32_t i = 0; i < v->n && !w.oom; i++) {
    sub.len = 0;
    nb__pbw_bytes(&sub, SP_PIECE, v->pieces[i].data, v->pieces[i].len);
    nb__pbw_f32(&sub, SP_SCORE, v->scores ? v->scores[i] : 0.0f);
    if (v->types[i] != NB_TOKEN_NORMAL)
      nb__pbw_varint(&sub, SP_TYPE, v->types[i]);
    if (sub.oom) break;
    nb__pbw_bytes(&w, MP_PIECES, sub.buf, sub.len);
  }
  /* trainer_spec: only what the processor consults when encoding and
   * decoding (model type, byte fallback, special pieces). */
  sub.len = 0;
  nb__pbw_varint(&sub, TS_MODEL_TYPE, TYPE_BPE);
  nb__pbw_int32(&sub, TS_VOCAB_SIZE, v->n);
  nb__pbw_varint(&sub, TS_BYTE_FALLBACK, byte_fallback);
  nb__pbw_int32(&sub, TS_UNK_ID, v->unk);
  nb__pbw_int32(&sub, TS_BOS_ID, v->bos);
  nb__pbw_int32(&sub, TS_EOS_ID, v->eos);
  nb__pbw_int32(&sub, TS_PAD_ID, -1);
  if (v->unk >= 0)
    nb__pbw_bytes(&sub, TS_UNK_PIECE, v->pieces[v->unk].data,
                  v->pieces[v->unk].len);
  if (v->bos >= 0)
    nb__pbw_bytes(&sub, TS_BOS_PIECE, v->pieces[v->bos].data,
                  v->pieces[v->bos].len);
  if (v->eos >= 0)
    nb__pbw_bytes(&sub, TS_EOS_PIECE, v->pieces[v->eos].data,
                  v->pieces[v->eos].len);
  if (!sub.oom) nb__pbw_bytes(&w, MP_TRAINER, sub.buf, sub.len);
  /* normalizer_spec: Llama's (see nb__spm_model_patch_ws for why no
   * whitespace collapsing). */
  sub.len = 0;
  nb__pbw_bytes(&sub, NS_NAME, "identity", 8);
  nb__pbw_varint(&sub, NS_ADD_DUMMY_PREFIX, 1);
  nb__pbw_varint(&sub, NS_REMOVE_EXTRA_WS, 0);
  nb__pbw_varint(&sub, NS_ESCAPE_WS, 1);
  if (!sub.oom) nb__pbw_bytes(&w, MP_NORMALIZER, sub.buf, sub.len);
  bool oom = w.oom || sub.oom;
  nb__pbw_free(&sub);
  if (oom) {
    nb__pbw_free(&w);
    return nb__err(err, NB_ENOMEM, "building the sentencepiece model");
  }
  *out = w.buf;
  *out_len = w.len;
  return NB_OK;
}
