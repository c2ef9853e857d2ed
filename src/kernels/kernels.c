/*
 * kernels.c: picks the kernel table for a context (scalar oracle first, then
 * the ISA filler overrides what it speeds up) and the activation-format
 * helpers the executor uses.
 */
#include "kernels.h"

#include <string.h>

#include "nb_isa_config.h"
#include "nb_internal.h"

size_t nb__xfmt_row_bytes(nb__xfmt f, int64_t k) {
  switch (f) {
    case NB__X_F32: return (size_t)k * sizeof(float);
    case NB__X_F16: return (size_t)k * sizeof(nb_f16);
    case NB__X_Q8: return (size_t)(k / NB_QK8_0) * sizeof(nb__block_q8_0);
    case NB__X_QH: return (size_t)(k / 32) * NB__QH_BLOCK;
    default: return 0;
  }
}

nb__xfmt nb__xfmt_for(uint32_t wtype, nb_act act) {
  switch (act) {
    case NB_ACT_F32: return NB__X_F32;
    case NB_ACT_Q8:
      return (wtype == NB_TYPE_Q8_0 || wtype == NB_TYPE_Q4_0) ? NB__X_Q8
                                                              : NB__X_F16;
    case NB_ACT_F16:
    default: return NB__X_F16;
  }
}

int nb__kernels_init(nb__kernels *k, const char *name, nb_err *err) {
  memset(k, 0, sizeof *k);
  nb__kernels_fill_scalar(k);
  k->name = "scalar";
  if (!name || !*name || !strcmp(name, "auto")) name = nb_kernels_best();
  if (!strcmp(name, "scalar")) return NB_OK;
  if (!strcmp(name, "avx2") || !strcmp(name, "avxvnni") ||
      !strcmp(name, "avx512") || !strcmp(name, "neon")) {
    if (!nb_kernels_available(name))
      return nb__err(err, NB_EUNSUPPORTED,
                     "kernel set %s: %s (cpu features: %s)", name,
                     ((!strcmp(name, "avx2") && !NB_HAVE_AVX2) ||
                      (!strcmp(name, "avxvnni") && !NB_HAVE_AVXVNNI) ||
                      (!strcmp(name, "avx512") && !NB_HAVE_AVX512) ||
                      (!strcmp(name, "neon") && !NB_HAVE_NEON))
                         ? "not compiled into this build"
                         : "this CPU or OS lacks its features",
                     nb_cpu_features()[0] ? nb_cpu_features() : "none");
  } else {
    return nb__err(err, NB_EUNSUPPORTED,
                   "kernel set %s: unknown (expected auto, scalar, avx2, "
                   "avxvnni, avx512 or neon)",
                   name);
  }
#if NB_HAVE_AVX2
  if (!strcmp(name, "avx2")) nb__kernels_fill_avx2(k);
#endif
#if NB_HAVE_AVXVNNI
  if (!strcmp(name, "avxvnni")) nb__kernels_fill_avxvnni(k);
#endif
#if NB_HAVE_AVX512
  if (!strcmp(name, "avx512")) nb__kernels_fill_avx512(k);
#endif
#if NB_HAVE_NEON
  if (!strcmp(name, "neon")) nb__kernels_fill_neon(k);
#endif
  return NB_OK;
}
