/*
 * spm_shim.cpp: the only C++ in nibble, a thin extern "C" wrapper over
 * sentencepiece::SentencePieceProcessor (libsentencepiece 0.1.97). It does
 * nothing but forward calls, turn util::Status into NB_E* codes and keep
 * every exception (std::bad_alloc from the vectors and strings, anything the
 * library might throw) from crossing into C. All policy lives in the C files.
 */
#include "spm_shim.h"

#include <sentencepiece_processor.h>

#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "nb_internal.h"
}

struct nb__spm {
  sentencepiece::SentencePieceProcessor proc;
  int32_t n = 0; /* cached GetPieceSize() */
};

namespace {

/* Maps an exception in flight to a code (call only inside a catch block). */
int map_exception(nb_err *err, const char *what) {
  try {
    throw;
  } catch (const std::bad_alloc &) {
    return nb__err(err, NB_ENOMEM, "sentencepiece %s: out of memory", what);
  } catch (const std::exception &e) {
    return nb__err(err, NB_ETOKENIZER, "sentencepiece %s: %s", what,
                   e.what());
  } catch (...) {
    return nb__err(err, NB_ETOKENIZER, "sentencepiece %s: unknown exception",
                   what);
  }
}

int check_id(const nb__spm *s, int32_t id, nb_err *err) {
  if (id < 0 || id >= s->n)
    return nb__err(err, NB_EINVAL, "token id %d out of range [0, %d)",
                   (int)id, (int)s->n);
  return NB_OK;
}

}  // namespace

extern "C" int nb__spm_load(nb__spm **out, const void *bytes, size_t len,
                            nb_err *err) {
  *out = nullptr;
  nb__spm *s = nullptr;
  try {
    s = new nb__spm();
    auto st = s->proc.LoadFromSerializedProto(
        std::string_view(static_cast<const char *>(bytes), len));
    if (!st.ok()) {
      int rc = nb__err(err, NB_ETOKENIZER,
                       "sentencepiece refused the model: %s", st.message());
      delete s;
      return rc;
    }
    s->n = s->proc.GetPieceSize();
    if (s->n <= 0) {
      delete s;
      return nb__err(err, NB_ETOKENIZER, "sentencepiece model has no pieces");
    }
  } catch (...) {
    delete s;
    return map_exception(err, "load");
  }
  *out = s;
  return NB_OK;
}

extern "C" void nb__spm_free(nb__spm *s) { delete s; }

extern "C" int nb__spm_size(const nb__spm *s, int32_t *n, nb_err *err) {
  (void)err;
  *n = s->n;
  return NB_OK;
}

extern "C" int nb__spm_piece(const nb__spm *s, int32_t id, nb_str *out,
                             nb_err *err) {
  int rc = check_id(s, id, err);
  if (rc) return rc;
  try {
    const std::string &p = s->proc.IdToPiece(id);
    out->data = p.data();
    out->len = p.size();
  } catch (...) {
    return map_exception(err, "IdToPiece");
  }
  return NB_OK;
}

extern "C" int nb__spm_score(const nb__spm *s, int32_t id, float *out,
                             nb_err *err) {
  int rc = check_id(s, id, err);
  if (rc) return rc;
  try {
    *out = s->proc.GetScore(id);
  } catch (...) {
    return map_exception(err, "GetScore");
  }
  return NB_OK;
}

extern "C" int nb__spm_kind(const nb__spm *s, int32_t id, unsigned *out,
                            nb_err *err) {
  int rc = check_id(s, id, err);
  if (rc) return rc;
  try {
    unsigned k = 0;
    if (s->proc.IsControl(id)) k |= NB__SPM_CONTROL;
    if (s->proc.IsUnknown(id)) k |= NB__SPM_UNKNOWN;
    if (s->proc.IsByte(id)) k |= NB__SPM_BYTE;
    if (s->proc.IsUnused(id)) k |= NB__SPM_UNUSED;
    *out = k;
  } catch (...) {
    return map_exception(err, "piece kind");
  }
  return NB_OK;
}

extern "C" int nb__spm_special(const nb__spm *s, int32_t *unk, int32_t *bos,
                               int32_t *eos, nb_err *err) {
  try {
    *unk = s->proc.unk_id();
    *bos = s->proc.bos_id();
    *eos = s->proc.eos_id();
  } catch (...) {
    return map_exception(err, "special ids");
  }
  return NB_OK;
}

extern "C" int nb__spm_encode(const nb__spm *s, const char *text, size_t len,
                              int32_t **ids, size_t *n, nb_err *err) {
  *ids = nullptr;
  *n = 0;
  try {
    std::vector<int> v;
    auto st = s->proc.Encode(std::string_view(text, len), &v);
    if (!st.ok())
      return nb__err(err, NB_ETOKENIZER, "sentencepiece encode: %s",
                     st.message());
    if (v.empty()) return NB_OK;
    int32_t *buf =
        static_cast<int32_t *>(nb_malloc(v.size() * sizeof(int32_t)));
    if (buf == nullptr)
      return nb__err(err, NB_ENOMEM, "encode: %zu ids", v.size());
    for (size_t i = 0; i < v.size(); i++) buf[i] = v[i];
    *ids = buf;
    *n = v.size();
  } catch (...) {
    return map_exception(err, "encode");
  }
  return NB_OK;
}

extern "C" int nb__spm_decode(const nb__spm *s, const int32_t *ids, size_t n,
                              char **text, size_t *len, nb_err *err) {
  *text = nullptr;
  *len = 0;
  try {
    std::vector<int> v(ids, ids + n);
    std::string out;
    auto st = s->proc.Decode(v, &out);
    if (!st.ok())
      return nb__err(err, NB_ETOKENIZER, "sentencepiece decode: %s",
                     st.message());
    char *buf = static_cast<char *>(nb_malloc(out.size() + 1));
    if (buf == nullptr)
      return nb__err(err, NB_ENOMEM, "decode: %zu bytes", out.size());
    std::memcpy(buf, out.data(), out.size());
    buf[out.size()] = '\0';
    *text = buf;
    *len = out.size();
  } catch (...) {
    return map_exception(err, "decode");
  }
  return NB_OK;
}
