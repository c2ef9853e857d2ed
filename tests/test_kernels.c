/*
 * test_kernels.c: every SIMD kernel table this machine can run (avx2,
 * avx512 on x86-64; neon on aarch64, under qemu-user in the cross build)
 * against the scalar oracle: every (weight type, input format) gemm entry on
 * random and edge data with tails, the f16 conversions and quantize_q8
 * bit-exact, the determinism contract (any split of rows/tokens gives
 * bit-identical results), and forcing an unavailable set.
 *
 * Tolerance for gemm: the SIMD kernels only change the float summation order
 * (lanes, per-block partials, fused multiply-adds), so both results lie
 * within the classic bound gamma_n * sum_i |w_i x_i| of the exact value, with
 * n = k + 2 roundings per term chain; we allow the sum of both bounds:
 *   |y_simd - y_scalar| <= 2 * (k + 8) * 2^-24 * sum_i |w_i x_i| + 1e-30.
 * A wrong block, lane, nibble, scale or tail gives an error of the order of
 * a whole term and fails it.
 *
 * Exception, Q8_0/Q4_0 weights x F16 input on avx2/avx512: those kernels
 * first represent each 32-block b of the input in 16-bit fixed point,
 * x_j ~= s_b * i_j with s_b = fl(amax_b / 32767), i_j = rint(fl(x_j *
 * fl(32767 / amax_b))) (avx2.c states the scheme), whose error is
 *   |x_j - s_b i_j| <= |x_j| * 3.01 * 2^-24 + 0.5 * s_b
 *                   <= amax_b * (0.5 / 32767 + 4 * 2^-24) =: amax_b * e_fx
 * (three relative roundings, the integer rounding, |x_j| <= amax_b). The
 * kernel's float arithmetic then runs on the perturbed inputs, so the bound
 * becomes tol * (mag + fx) + fx with fx = e_fx * sum_b amax_b sum_{j in b}
 * |w_j|.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expf_poly.h"
#include "kernels.h"
#include "nb_internal.h"
#include "testutil.h"

static const char *const all_sets[] = {"avx2", "avxvnni", "avx512", "neon"};

/* ---------------------------------------------------------- random data */

static uint64_t rng_state;
static uint32_t rnd(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng_state >> 33);
}
static float rnd_unit(void) { /* [-1, 1) */
  return (float)((double)rnd() / 2147483648.0 - 1.0);
}

/* Data modes for one gemm case. */
enum { D_RANDOM, D_ZERO, D_MAX };

/* Fills `n` weight rows of k elements of `type`. D_MAX: scales and values at
 * the top of the range (f16 near +-65504, q8 at +-127, q4 nibbles 0/15). */
static void fill_weights(uint32_t type, int64_t k, int64_t rows, size_t ldw,
                         uint8_t *w, int mode) {
  for (int64_t r = 0; r < rows; r++) {
    uint8_t *row = w + r * ldw;
    if (type == NB_TYPE_F16) {
      for (int64_t i = 0; i < k; i++) {
        float v = mode == D_ZERO ? 0.0f
                  : mode == D_MAX ? ((rnd() & 1) ? 65504.0f : -65504.0f) *
                                        (1.0f - (float)(rnd() % 4) / 4096.0f)
                                  : rnd_unit();
        nb_f16 h = nb__f32_to_f16(v);
        memcpy(row + 2 * i, &h, 2);
      }
      continue;
    }
    bool q4 = type == NB_TYPE_Q4_0;
    size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
    for (int64_t b = 0; b < k / 32; b++) {
      uint8_t *blk = row + b * bs;
      float d = mode == D_ZERO  ? 0.0f
                : mode == D_MAX ? ((rnd() & 1) ? 65504.0f : -65504.0f)
                                : rnd_unit() * 0.05f;
      nb_f16 h = nb__f32_to_f16(d);
      memcpy(blk, &h, 2);
      for (int j = 0; j < (q4 ? 16 : 32); j++) {
        uint8_t v;
        if (q4)
          v = mode == D_ZERO  ? 0x88
              : mode == D_MAX ? (uint8_t)((rnd() & 1 ? 0x0f : 0x00) |
                                          (rnd() & 1 ? 0xf0 : 0x00))
                              : (uint8_t)rnd();
        else /* Q8_0 quants are in [-127, 127] (see avx2.c) */
          v = mode == D_ZERO  ? 0
              : mode == D_MAX ? (uint8_t)(rnd() & 1 ? 127 : -127)
                              : (uint8_t)(int8_t)((int)(rnd() % 255) - 127);
        blk[2 + j] = v;
      }
    }
  }
}

/* Fills nt activation rows in format f. D_MAX: f16 values near the f16
 * maximum, q8 values at -128 / 127 with scales near 65504. */
static void fill_inputs(nb__xfmt f, int64_t k, int64_t nt, size_t ldx,
                        uint8_t *x, int mode) {
  for (int64_t t = 0; t < nt; t++) {
    uint8_t *row = x + t * ldx;
    if (f == NB__X_Q8) {
      for (int64_t b = 0; b < k / 32; b++) {
        uint8_t *blk = row + b * sizeof(nb__block_q8_0);
        float d = mode == D_ZERO  ? 0.0f
                  : mode == D_MAX ? 65504.0f
                                  : rnd_unit() * 0.02f;
        nb_f16 h = nb__f32_to_f16(d);
        memcpy(blk, &h, 2);
        for (int j = 0; j < 32; j++)
          blk[2 + j] = mode == D_ZERO  ? 0
                       : mode == D_MAX ? (uint8_t)(rnd() & 1 ? 127 : -128)
                                       : (uint8_t)rnd();
      }
      continue;
    }
    for (int64_t i = 0; i < k; i++) {
      float v = mode == D_ZERO  ? 0.0f
                : mode == D_MAX ? ((rnd() & 1) ? 65504.0f : -65504.0f) *
                                      (1.0f - (float)(rnd() % 4) / 4096.0f)
                                : rnd_unit() * 4.0f;
      if (f == NB__X_F16) {
        nb_f16 h = nb__f32_to_f16(v);
        memcpy(row + 2 * i, &h, 2);
      } else {
        memcpy(row + 4 * i, &v, 4);
      }
    }
  }
}

/* Element i of a weight row / input row as a double (for the |w x| bound). */
static double w_at(uint32_t type, const uint8_t *row, int64_t i) {
  nb_f16 h;
  if (type == NB_TYPE_F16) {
    memcpy(&h, row + 2 * i, 2);
    return nb__f16_to_f32(h);
  }
  bool q4 = type == NB_TYPE_Q4_0;
  const uint8_t *blk =
      row + (i / 32) * (q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0));
  memcpy(&h, blk, 2);
  int j = (int)(i % 32);
  int q = q4 ? (j < 16 ? (blk[2 + j] & 15) : (blk[2 + j - 16] >> 4)) - 8
             : (int8_t)blk[2 + j];
  return (double)q * nb__f16_to_f32(h);
}
static double x_at(nb__xfmt f, const uint8_t *row, int64_t i) {
  if (f == NB__X_F32) {
    float v;
    memcpy(&v, row + 4 * i, 4);
    return v;
  }
  nb_f16 h;
  if (f == NB__X_F16) {
    memcpy(&h, row + 2 * i, 2);
    return nb__f16_to_f32(h);
  }
  const uint8_t *blk = row + (i / 32) * sizeof(nb__block_q8_0);
  memcpy(&h, blk, 2);
  return (double)(int8_t)blk[2 + i % 32] * nb__f16_to_f32(h);
}

/* ------------------------------------------------------------ gemm cases */

typedef struct gcase {
  const nb__kernels *ref, *simd;
  uint32_t type;
  nb__xfmt f;
  int64_t k, rows, nt;
  int mode;
} gcase;

static const char *xfmt_name(nb__xfmt f) {
  return f == NB__X_F32 ? "f32" : f == NB__X_F16 ? "f16" : f == NB__X_QH ? "qh" : "q8";
}

/* Runs one case: scalar vs SIMD within the bound, then the SIMD table's
 * split invariance (row pieces, one token at a time) bit for bit. */
static void run_case(const gcase *c) {
  const size_t ldw = nb_type_row_bytes(c->type, c->k);
  const size_t ldx = nb__xfmt_row_bytes(c->f, c->k);
  ck_assert(ldw > 0 && ldx > 0);
  uint8_t *w = nb_malloc(ldw * (size_t)c->rows);              /* (rows, k) */
  uint8_t *x = nb_malloc(ldx * (size_t)c->nt);                /* (nt, k) */
  const int64_t ldy = c->rows + 3; /* padded, the pad must stay untouched */
  float *y0 = nb_malloc(sizeof(float) * (size_t)(ldy * c->nt)); /* (nt, ldy) */
  float *y1 = nb_malloc(sizeof(float) * (size_t)(ldy * c->nt));
  float *y2 = nb_malloc(sizeof(float) * (size_t)(ldy * c->nt));
  ck_assert(w && x && y0 && y1 && y2);
  fill_weights(c->type, c->k, c->rows, ldw, w, c->mode);
  fill_inputs(c->f, c->k, c->nt, ldx, x, c->mode);
  for (int64_t i = 0; i < ldy * c->nt; i++) y0[i] = y1[i] = y2[i] = -7.0f;

  nb__gemm_fn ref = c->ref->gemm[c->type][c->f];
  nb__gemm_fn simd = c->simd->gemm[c->type][c->f];
  ref(c->k, w, ldw, x, ldx, y0, ldy, 0, c->rows, c->nt);
  simd(c->k, w, ldw, x, ldx, y1, ldy, 0, c->rows, c->nt);

  /* |w| and |x| as doubles, once: (rows, k) and (nt, k) */
  double *wa = nb_malloc(sizeof(double) * (size_t)(c->rows * c->k));
  double *xa = nb_malloc(sizeof(double) * (size_t)(c->nt * c->k));
  ck_assert(wa && xa);
  for (int64_t r = 0; r < c->rows; r++)
    for (int64_t i = 0; i < c->k; i++)
      wa[r * c->k + i] = fabs(w_at(c->type, w + r * ldw, i));
  for (int64_t t = 0; t < c->nt; t++)
    for (int64_t i = 0; i < c->k; i++)
      xa[t * c->k + i] = fabs(x_at(c->f, x + t * ldx, i));
  const double tol = 2.0 * (double)(c->k + 8) * ldexp(1.0, -24);
  const bool fixed16 = c->f == NB__X_F16 && c->type != NB_TYPE_F16 &&
                       strcmp(c->simd->name, "neon") != 0;
  const double e_fx = 0.5 / 32767.0 + 4.0 * ldexp(1.0, -24);
  for (int64_t t = 0; t < c->nt; t++) {
    for (int64_t r = 0; r < c->rows; r++) {
      double mag = 0.0, fx = 0.0;
      for (int64_t i = 0; i < c->k; i++)
        mag += wa[r * c->k + i] * xa[t * c->k + i];
      if (fixed16)
        for (int64_t b0 = 0; b0 < c->k; b0 += 32) {
          double amax = 0.0, sw = 0.0;
          for (int64_t i = b0; i < b0 + 32; i++) {
            amax = fmax(amax, xa[t * c->k + i]);
            sw += wa[r * c->k + i];
          }
          fx += e_fx * amax * sw;
        }
      const double bound = tol * (mag + fx) + fx;
      double a = y0[t * ldy + r], b = y1[t * ldy + r];
      ck_assert_msg(isfinite(b) && fabs(a - b) <= bound + 1e-30,
                    "%s %s x %s k=%ld rows=%ld nt=%ld mode=%d: y[%ld][%ld] "
                    "scalar %.9g simd %.9g (|diff| %.3g > %.3g)",
                    c->simd->name, nb_type_name(c->type), xfmt_name(c->f),
                    (long)c->k, (long)c->rows, (long)c->nt, c->mode, (long)t,
                    (long)r, a, b, fabs(a - b), bound);
      if (c->mode == D_ZERO) ck_assert(b == 0.0f);
    }
    for (int64_t r = c->rows; r < ldy; r++)
      ck_assert_msg(y1[t * ldy + r] == -7.0f, "%s wrote past r1",
                    c->simd->name);
  }

  /* Determinism: rows in two uneven pieces, tokens one at a time. */
  int64_t cut = c->rows / 3 + 1 < c->rows ? c->rows / 3 + 1 : c->rows;
  for (int64_t t = 0; t < c->nt; t++) {
    simd(c->k, w, ldw, x + t * ldx, ldx, y2 + t * ldy, ldy, 0, cut, 1);
    simd(c->k, w, ldw, x + t * ldx, ldx, y2 + t * ldy, ldy, cut, c->rows, 1);
  }
  ck_assert_msg(memcmp(y1, y2, sizeof(float) * (size_t)(ldy * c->nt)) == 0,
                "%s %s x %s k=%ld rows=%ld nt=%ld: split result differs",
                c->simd->name, nb_type_name(c->type), xfmt_name(c->f),
                (long)c->k, (long)c->rows, (long)c->nt);
  nb_free(wa);
  nb_free(xa);
  nb_free(w);
  nb_free(x);
  nb_free(y0);
  nb_free(y1);
  nb_free(y2);
}

#define NB_MAX_SETS 6

/* The sets this machine runs, plus on x86-64 "avx512-emu": avx512.c
 * compiled on SIMDe (src/kernels/avx512_emu.h), so the AVX-512 kernels'
 * algorithms are checked here even when the CPU lacks AVX-512 (where it has
 * it, the native "avx512" set is checked as well), and "avxvnni-emu": the
 * avxvnni set's code with its two VNNI instructions emulated in AVX2
 * (src/kernels/vnni_x86.h), likewise. The test names the sets
 * on stderr so a log shows exactly what was exercised. */
#if defined(NB_TEST_AVX512_EMU) || defined(NB_TEST_AVXVNNI_EMU)
/* Appends an emulated set: the scalar table, then fill's entries. They
 * need only what avx2.c needs (the rest of those files stays native). */
static void add_emu_set(nb__kernels *sets, int *n, int max,
                        void (*fill)(nb__kernels *), const char *name) {
  if (*n >= max || !nb_kernels_available("avx2")) return;
  nb_err e;
  ck_assert_int_eq(nb__kernels_init(&sets[*n], "scalar", &e), NB_OK);
  fill(&sets[*n]);
  ck_assert_str_eq(sets[*n].name, name);
  (*n)++;
}
#endif

static int runnable_sets(nb__kernels *sets, int max) {
  int n = 0;
  for (size_t i = 0; i < NB__ARRAY_LEN(all_sets) && n < max; i++) {
    if (!nb_kernels_available(all_sets[i])) continue;
    nb_err e;
    ck_assert_int_eq(nb__kernels_init(&sets[n], all_sets[i], &e), NB_OK);
    ck_assert_str_eq(sets[n].name, all_sets[i]);
    n++;
  }
#ifdef NB_TEST_AVX512_EMU
  add_emu_set(sets, &n, max, nb__kernels_fill_avx512_emu, "avx512-emu");
#endif
#ifdef NB_TEST_AVXVNNI_EMU
  add_emu_set(sets, &n, max, nb__kernels_fill_avxvnni_emu, "avxvnni-emu");
#endif
  return n;
}

static const uint32_t wtypes[] = {NB_TYPE_F16, NB_TYPE_Q8_0, NB_TYPE_Q4_0};

START_TEST(test_gemm_vs_scalar) {
  nb__kernels ref, sets[NB_MAX_SETS];
  nb_err e;
  ck_assert_int_eq(nb__kernels_init(&ref, "scalar", &e), NB_OK);
  int ns = runnable_sets(sets, NB_MAX_SETS);
  fprintf(stderr, "test_kernels: cpu features [%s]; SIMD sets tested:",
          nb_cpu_features());
  for (int s = 0; s < ns; s++) fprintf(stderr, " %s", sets[s].name);
  fprintf(stderr, "%s\n", ns ? "" : " none (this CPU runs only scalar)");
  static const int64_t ks[] = {32, 64, 96, 4096 + 32};
  static const int64_t rowss[] = {1, 5, 7, 13};
  static const int64_t nts[] = {1, 2, 3, 5, 17};
  long cases = 0;
  rng_state = 42;
  for (int s = 0; s < ns; s++) {
    for (size_t wi = 0; wi < NB__ARRAY_LEN(wtypes); wi++) {
      for (int f = 0; f < NB__X_COUNT; f++) {
        if (!ref.gemm[wtypes[wi]][f]) continue;
        ck_assert_msg(sets[s].gemm[wtypes[wi]][f] != NULL,
                      "%s lacks an entry the scalar table has", sets[s].name);
        for (size_t ki = 0; ki < NB__ARRAY_LEN(ks); ki++)
          for (size_t ri = 0; ri < NB__ARRAY_LEN(rowss); ri++)
            for (size_t ti = 0; ti < NB__ARRAY_LEN(nts); ti++) {
              /* long rows: fewer shapes (the suite also runs under
               * qemu); rows 5 and 13, nt 1, 5 and 17 still cover every
               * row tail and token tail of the tiles */
              if (ks[ki] > 1000 && (rowss[ri] == 1 || rowss[ri] == 7 ||
                                    nts[ti] == 2 || nts[ti] == 3))
                continue;
              for (int mode = D_RANDOM; mode <= D_MAX; mode++) {
                gcase c = {&ref, &sets[s], wtypes[wi], (nb__xfmt)f,
                           ks[ki], rowss[ri], nts[ti], mode};
                run_case(&c);
                cases++;
              }
            }
        /* larger shapes for the lane-packed batch walks (lanes_walk.h;
         * x86: 8 or 16 rows in the lanes, rows in steps of 32, 64 or 128,
         * tokens in passes of up to 64, 128 or 256, k in slabs of 8 to 64
         * blocks): several steps with a row tail, several passes with a
         * token tail (300 tokens: 3 passes of 128-token families, 2 of
         * 256), several slabs (65 blocks) */
        static const int64_t big[][2] = {{45, 70}, {137, 40}, {29, 300}};
        for (int bi = 0; bi < 3; bi++) {
          gcase c = {&ref, &sets[s], wtypes[wi], (nb__xfmt)f, 2080, big[bi][0], big[bi][1], D_RANDOM};
          run_case(&c);
          cases++;
        }
      }
    }
  }
  fprintf(stderr, "test_kernels: %ld gemm cases compared\n", cases);
}
END_TEST

/* Q8_0 / Q4_0 weights x F16 input on x86 (fixed16_x86.h, fixed16_avx512.h):
 * every avx set gives exactly the bits of the 16-bit fixed-point recipe
 * written out here in plain C: per input block amax = max |x_j|,
 * inv = 32767 / amax (0 when amax = 0), i_j = round-to-even(x_j * inv),
 * s = amax / 32767; per (row, token) S = sum_j w_j i_j exactly and
 * acc = fma((float)S, d_w * s, acc) over the blocks in order. The
 * scalar-oracle comparison above allows the fixed-point error; this one
 * pins the arithmetic itself (a reciprocal estimate for the division
 * stays inside that bound, and fails here). NEON converts differently. */
static float fx_ref(uint32_t type, const uint8_t *wr, const uint8_t *xr, int64_t k) {
  const bool q4 = type == NB_TYPE_Q4_0;
  const size_t bs = q4 ? sizeof(nb__block_q4_0) : sizeof(nb__block_q8_0);
  float acc = 0.0f;
  for (int64_t b = 0; b < k / 32; b++) {
    float xf[32], amax = 0.0f;
    for (int j = 0; j < 32; j++) {
      nb_f16 h;
      memcpy(&h, xr + 2 * (32 * b + j), 2);
      xf[j] = nb__f16_to_f32(h);
      amax = fmaxf(amax, fabsf(xf[j]));
    }
    const float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
    const float sx = amax / 32767.0f;
    const uint8_t *blk = wr + (size_t)b * bs;
    int64_t S = 0;
    for (int j = 0; j < 32; j++) {
      const float p = xf[j] * inv;
      long i = lrintf(p);
      i = i > 32767 ? 32767 : i < -32768 ? -32768 : i;
      const int w = q4 ? (j < 16 ? (blk[2 + j] & 15) : (blk[2 + j - 16] >> 4)) - 8
                       : (int8_t)blk[2 + j];
      S += (int64_t)w * i;
    }
    nb_f16 dh;
    memcpy(&dh, blk, 2);
    acc = fmaf((float)S, nb__f16_to_f32(dh) * sx, acc);
  }
  return acc;
}

START_TEST(test_fixed16_recipe) {
  nb__kernels sets[NB_MAX_SETS];
  const int ns = runnable_sets(sets, NB_MAX_SETS);
  static const int64_t shapes[][3] = {{4128, 5, 1}, {2080, 29, 3}, {2080, 21, 300}};
  rng_state = 99;
  int checked = 0;
  for (int s = 0; s < ns; s++) {
    if (strncmp(sets[s].name, "avx", 3) != 0) continue;
    for (int wi = 1; wi < 3; wi++) {
      const uint32_t type = wtypes[wi];
      for (size_t si = 0; si < NB__ARRAY_LEN(shapes); si++) {
        const int64_t k = shapes[si][0], rows = shapes[si][1], nt = shapes[si][2];
        const size_t ldw = nb_type_row_bytes(type, k), ldx = (size_t)k * 2;
        uint8_t *w = nb_malloc(ldw * (size_t)rows), *x = nb_malloc(ldx * (size_t)nt);
        float *y = nb_malloc(sizeof(float) * (size_t)(rows * nt));
        ck_assert(w && x && y);
        fill_weights(type, k, rows, ldw, w, D_RANDOM);
        fill_inputs(NB__X_F16, k, nt, ldx, x, D_RANDOM);
        for (int64_t t = 0; t < nt; t++) /* a zero block: amax = 0 */
          memset(x + (size_t)t * ldx + 64 * (size_t)(t % (k / 32)), 0, 64);
        sets[s].gemm[type][NB__X_F16](k, w, ldw, x, ldx, y, rows, 0, rows, nt);
        for (int64_t t = 0; t < nt; t++)
          for (int64_t r = 0; r < rows; r++) {
            const float want = fx_ref(type, w + (size_t)r * ldw, x + (size_t)t * ldx, k);
            const float got = y[t * rows + r];
            ck_assert_msg(memcmp(&want, &got, sizeof got) == 0,
                          "%s %s x f16 k=%ld rows=%ld nt=%ld: y[%ld][%ld] %.9g, recipe %.9g",
                          sets[s].name, nb_type_name(type), (long)k, (long)rows, (long)nt,
                          (long)t, (long)r, (double)got, (double)want);
          }
        nb_free(w);
        nb_free(x);
        nb_free(y);
        checked++;
      }
    }
  }
  fprintf(stderr, "test_kernels: fixed16 recipe: %d shapes compared bit for bit\n", checked);
}
END_TEST

/* NB__X_QH: the gemm on rows converted once by prep_qh gives exactly the
 * bits of the gemm on the F16 rows, for every set that has the entries
 * (the executor picks either); sets without prep_qh have no entries. */
START_TEST(test_qh_prepared) {
  nb__kernels sets[NB_MAX_SETS];
  const int ns = runnable_sets(sets, NB_MAX_SETS);
  static const int64_t shapes[][3] = {{4128, 5, 1}, {2080, 29, 3}, {2080, 37, 300}, {96, 16, 9}};
  rng_state = 5;
  int checked = 0;
  for (int s = 0; s < ns; s++) {
    const bool has = sets[s].prep_qh != NULL;
    for (int wi = 1; wi < 3; wi++) {
      const uint32_t type = wtypes[wi];
      ck_assert_msg((sets[s].gemm[type][NB__X_QH] != NULL) == has,
                    "%s: NB__X_QH entries without prep_qh or the reverse", sets[s].name);
      if (!has) continue;
      for (size_t si = 0; si < NB__ARRAY_LEN(shapes); si++) {
        const int64_t k = shapes[si][0], rows = shapes[si][1], nt = shapes[si][2];
        const size_t ldw = nb_type_row_bytes(type, k), ldx = (size_t)k * 2;
        const size_t ldq = nb__xfmt_row_bytes(NB__X_QH, k);
        ck_assert(ldq == (size_t)(k / 32) * NB__QH_BLOCK);
        uint8_t *w = nb_malloc(ldw * (size_t)rows), *x = nb_malloc(ldx * (size_t)nt);
        uint8_t *xq = nb_malloc(ldq * (size_t)nt);
        float *y0 = nb_malloc(sizeof(float) * (size_t)(rows * nt));
        float *y1 = nb_malloc(sizeof(float) * (size_t)(rows * nt));
        ck_assert(w && x && xq && y0 && y1);
        fill_weights(type, k, rows, ldw, w, D_RANDOM);
        fill_inputs(NB__X_F16, k, nt, ldx, x, D_RANDOM);
        for (int64_t t = 0; t < nt; t++) sets[s].prep_qh(x + (size_t)t * ldx, xq + (size_t)t * ldq, k);
        sets[s].gemm[type][NB__X_F16](k, w, ldw, x, ldx, y0, rows, 0, rows, nt);
        sets[s].gemm[type][NB__X_QH](k, w, ldw, xq, ldq, y1, rows, 0, rows, nt);
        ck_assert_msg(memcmp(y0, y1, sizeof(float) * (size_t)(rows * nt)) == 0,
                      "%s %s: prepared (qh) input differs from f16 (k=%ld rows=%ld nt=%ld)",
                      sets[s].name, nb_type_name(type), (long)k, (long)rows, (long)nt);
        /* and a row range of its own (what one thread computes) */
        for (int64_t i = 0; i < rows * nt; i++) y1[i] = -7.0f;
        sets[s].gemm[type][NB__X_QH](k, w, ldw, xq, ldq, y1, rows, 3, rows - 1, nt);
        for (int64_t t = 0; t < nt; t++)
          for (int64_t r = 0; r < rows; r++) {
            const float *got = &y1[t * rows + r], *want = &y0[t * rows + r];
            if (r >= 3 && r < rows - 1)
              ck_assert(memcmp(got, want, sizeof *got) == 0);
            else
              ck_assert(*got == -7.0f);
          }
        nb_free(w);
        nb_free(x);
        nb_free(xq);
        nb_free(y0);
        nb_free(y1);
        checked++;
      }
    }
  }
  fprintf(stderr, "test_kernels: prepared f16 input: %d shapes compared bit for bit\n", checked);
}
END_TEST

/* Empty calls (no tokens, or an empty row range) write nothing and do not
 * fault: every set, weight type and input format. */
START_TEST(test_gemm_empty) {
  nb__kernels sets[NB_MAX_SETS + 1];
  nb_err e;
  ck_assert_int_eq(nb__kernels_init(&sets[0], "scalar", &e), NB_OK);
  int ns = 1 + runnable_sets(sets + 1, NB_MAX_SETS);
  const int64_t k = 64, rows = 20;
  uint8_t w[20 * 128] = {0}, x[4 * 256] = {0};
  float y[4 * 20];
  for (int s = 0; s < ns; s++)
    for (size_t wi = 0; wi < NB__ARRAY_LEN(wtypes); wi++)
      for (int f = 0; f < NB__X_COUNT; f++) {
        nb__gemm_fn g = sets[s].gemm[wtypes[wi]][f];
        if (!g) continue;
        const size_t ldw = nb_type_row_bytes(wtypes[wi], k);
        const size_t ldx = nb__xfmt_row_bytes((nb__xfmt)f, k);
        ck_assert(ldw * rows <= sizeof w && ldx * 4 <= sizeof x);
        for (size_t i = 0; i < NB__ARRAY_LEN(y); i++) y[i] = -7.0f;
        g(k, w, ldw, x, ldx, y, rows, 0, rows, 0);   /* no tokens */
        g(k, w, ldw, x, ldx, y, rows, 5, 5, 4);      /* no rows */
        for (size_t i = 0; i < NB__ARRAY_LEN(y); i++)
          ck_assert_msg(y[i] == -7.0f, "%s %s x %s: an empty gemm wrote y",
                        sets[s].name, nb_type_name(wtypes[wi]),
                        xfmt_name((nb__xfmt)f));
      }
}
END_TEST

/* F16 weights take any k: tails of 1..7 elements after the 8/16-lane part. */
START_TEST(test_gemm_f16_odd_k) {
  nb__kernels ref, sets[NB_MAX_SETS];
  nb_err e;
  ck_assert_int_eq(nb__kernels_init(&ref, "scalar", &e), NB_OK);
  int ns = runnable_sets(sets, NB_MAX_SETS);
  static const int64_t ks[] = {1, 7, 9, 17, 33, 100, 1001};
  rng_state = 7;
  for (int s = 0; s < ns; s++)
    for (size_t ki = 0; ki < NB__ARRAY_LEN(ks); ki++)
      for (int f = NB__X_F32; f <= NB__X_F16; f++)
        for (int64_t nt = 1; nt <= 5; nt += 2) {
          gcase c = {&ref, &sets[s], NB_TYPE_F16, (nb__xfmt)f, ks[ki], 6, nt,
                     D_RANDOM};
          run_case(&c);
        }
}
END_TEST

START_TEST(test_conversions_bit_exact) {
  nb__kernels ref, sets[NB_MAX_SETS];
  nb_err e;
  ck_assert_int_eq(nb__kernels_init(&ref, "scalar", &e), NB_OK);
  int ns = runnable_sets(sets, NB_MAX_SETS);
  /* every half, then a length that leaves a tail */
  const int64_t n = 65536 + 5;
  nb_f16 *h = nb_malloc(sizeof(nb_f16) * n);
  float *f0 = nb_malloc(sizeof(float) * n), *f1 = nb_malloc(sizeof(float) * n);
  nb_f16 *h0 = nb_malloc(sizeof(nb_f16) * n), *h1 = nb_malloc(sizeof(nb_f16) * n);
  ck_assert(h && f0 && f1 && h0 && h1);
  for (int64_t i = 0; i < n; i++) h[i] = (nb_f16)(i * 40503u);
  ref.f16_to_f32(h, f0, n);
  /* floats: random bit patterns over every exponent, plus the specials and
   * rounding ties around the f16 range */
  float *src = nb_malloc(sizeof(float) * n);
  ck_assert(src);
  rng_state = 3;
  for (int64_t i = 0; i < n; i++) {
    uint32_t u;
    switch (i % 4) {
      case 0: u = rnd() ^ (rnd() << 16); break;            /* anything */
      case 1: u = (rnd() & 0x807fffffu) | ((100u + rnd() % 50u) << 23); break;
      case 2: u = (nb__f32_bits(f0[i]) & ~0x1fffu) | 0x1000u; break; /* tie */
      default: u = nb__f32_bits(f0[i]) + (rnd() % 3) - 1u; break;
    }
    src[i] = nb__bits_f32(u);
  }
  static const float specials[] = {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f,
                                   -65520.0f, 1e-8f, 2.98023223876953125e-8f,
                                   6.1035156e-5f, 6.0975552e-5f, INFINITY,
                                   -INFINITY, NAN, 1e30f, -1e-30f};
  for (size_t i = 0; i < NB__ARRAY_LEN(specials); i++) src[i] = specials[i];
  ref.f32_to_f16(src, h0, n);
  for (int s = 0; s < ns; s++) {
    sets[s].f16_to_f32(h, f1, n);
    ck_assert_msg(memcmp(f0, f1, sizeof(float) * n) == 0,
                  "%s f16_to_f32 differs from scalar", sets[s].name);
    for (int64_t len = n; len >= n - 9; len -= 3) {
      memset(h1, 0xab, sizeof(nb_f16) * n);
      sets[s].f32_to_f16(src, h1, len);
      ck_assert_msg(memcmp(h0, h1, sizeof(nb_f16) * len) == 0,
                    "%s f32_to_f16 differs from scalar (n=%ld)", sets[s].name,
                    (long)len);
      if (len < n) ck_assert_uint_eq(h1[len], 0xabab);
    }
  }
  nb_free(h);
  nb_free(f0);
  nb_free(f1);
  nb_free(h0);
  nb_free(h1);
  nb_free(src);
}
END_TEST

START_TEST(test_quantize_q8_byte_exact) {
  nb__kernels ref, sets[NB_MAX_SETS];
  nb_err e;
  ck_assert_int_eq(nb__kernels_init(&ref, "scalar", &e), NB_OK);
  int ns = runnable_sets(sets, NB_MAX_SETS);
  const int64_t nblk = 64, n = nblk * 32;
  float *x = nb_malloc(sizeof(float) * n);
  const size_t qb = nb__xfmt_row_bytes(NB__X_Q8, n);
  uint8_t *q0 = nb_malloc(qb), *q1 = nb_malloc(qb);
  ck_assert(x && q0 && q1);
  rng_state = 11;
  for (int64_t b = 0; b < nblk; b++) {
    float *v = x + b * 32;
    for (int j = 0; j < 32; j++) {
      switch (b % 6) {
        case 0: v[j] = rnd_unit() * 3.0f; break;
        case 1: v[j] = 0.0f; break; /* zero block: d = 0, id = 0 */
        case 2: /* exact halves: amax 127 gives id 1, x*id = j + 0.5 */
          v[j] = j == 0 ? -127.0f : (float)((int)(rnd() % 253) - 126) + 0.5f;
          break;
        case 3: v[j] = rnd_unit() * 1e-30f; break; /* tiny, subnormal d */
        case 4: v[j] = rnd_unit() * 60000.0f; break;
        default: /* halves at another scale, negative maximum */
          v[j] = j == 5 ? -254.0f : (float)((int)(rnd() % 501) - 250) * 0.5f;
          break;
      }
    }
  }
  ref.quantize_q8(x, q0, n);
  for (int s = 0; s < ns; s++) {
    memset(q1, 0, qb);
    sets[s].quantize_q8(x, q1, n);
    for (size_t i = 0; i < qb; i++)
      ck_assert_msg(q0[i] == q1[i],
                    "%s quantize_q8 byte %zu (block %zu): scalar %d simd %d",
                    sets[s].name, i, i / sizeof(nb__block_q8_0),
                    (int8_t)q0[i], (int8_t)q1[i]);
  }
  nb_free(x);
  nb_free(q0);
  nb_free(q1);
}
END_TEST

/* gemm_nn (attention scores): bit-identical to the scalar oracle in every
 * set (kernels.h: product and sum rounded apart, d in order), for F32 and
 * F16 B, shapes with row and column tails around every tile width (1..4
 * rows; 1, 4, 8, 16 and 32 columns), padded strides, random data with a
 * wide exponent range and edge values; y outside the (m, n) block is never
 * written. */
START_TEST(test_gemm_nn_bit_exact) {
  nb__kernels ref, sets[NB_MAX_SETS];
  nb_err e;
  ck_assert_int_eq(nb__kernels_init(&ref, "scalar", &e), NB_OK);
  int ns = runnable_sets(sets, NB_MAX_SETS);
  static const int64_t ms[] = {1, 2, 3, 4, 5, 8, 11};
  static const int64_t ns_[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 100};
  static const int64_t ks[] = {1, 2, 7, 64, 130};
  const int64_t maxm = 11, maxn = 100, maxk = 130, pad = 5;
  const size_t ldx = (size_t)(maxk + pad), ldy = (size_t)(maxn + pad);
  const size_t ldb32 = (size_t)(maxn + pad) * 4, ldb16 = (size_t)(maxn + pad) * 2;
  float *x = nb_malloc(sizeof(float) * (size_t)maxm * ldx);
  float *b32 = nb_malloc(ldb32 * (size_t)maxk);
  nb_f16 *b16 = nb_malloc(ldb16 * (size_t)maxk);
  float *y0 = nb_malloc(sizeof(float) * (size_t)maxm * ldy);
  float *y1 = nb_malloc(sizeof(float) * (size_t)maxm * ldy);
  ck_assert(x && b32 && b16 && y0 && y1);
  rng_state = 11;
  for (int mode = 0; mode < 3; mode++) {
    for (size_t i = 0; i < (size_t)maxm * ldx; i++) {
      float v = rnd_unit() * ldexpf(1.0f, (int)(rnd() % 24) - 12);
      x[i] = mode == 1 ? (i % 3 ? 0.0f : -v) : mode == 2 ? (i % 2 ? 65504.0f : -1e-3f) : v;
    }
    for (size_t i = 0; i < (size_t)maxk * (ldb32 / 4); i++) {
      float v = rnd_unit() * ldexpf(1.0f, (int)(rnd() % 16) - 8);
      if (mode == 2) v = i % 2 ? -65504.0f : 6.1e-5f;
      b32[i] = v;
    }
    ref.f32_to_f16(b32, b16, (int64_t)(maxk * (int64_t)(ldb16 / 2)));
    for (int bt = 0; bt < 2; bt++) {
      const uint32_t type = bt ? NB_TYPE_F16 : NB_TYPE_F32;
      const void *b = bt ? (const void *)b16 : (const void *)b32;
      const size_t ldb = bt ? ldb16 : ldb32;
      for (size_t mi = 0; mi < NB__ARRAY_LEN(ms); mi++)
        for (size_t ni = 0; ni < NB__ARRAY_LEN(ns_); ni++)
          for (size_t ki = 0; ki < NB__ARRAY_LEN(ks); ki++) {
            const int64_t m = ms[mi], n = ns_[ni], k = ks[ki];
            memset(y0, 0x5a, sizeof(float) * (size_t)maxm * ldy);
            ref.gemm_nn[type](m, n, k, x, ldx, b, ldb, y0, ldy);
            for (int s = 0; s < ns; s++) {
              ck_assert_ptr_nonnull(sets[s].gemm_nn[type]);
              memset(y1, 0x5a, sizeof(float) * (size_t)maxm * ldy);
              sets[s].gemm_nn[type](m, n, k, x, ldx, b, ldb, y1, ldy);
              ck_assert_msg(memcmp(y0, y1, sizeof(float) * (size_t)maxm * ldy) == 0,
                            "%s gemm_nn %s m=%ld n=%ld k=%ld mode %d differs from scalar",
                            sets[s].name, bt ? "f16" : "f32", (long)m, (long)n,
                            (long)k, mode);
            }
          }
    }
  }
  /* the oracle itself on a case worked by hand: run.c's score order */
  {
    const float xx[3] = {1.0f, 1e8f, -1e8f};
    const float bb[3] = {1.0f, 1.0f, 1.0f}; /* one column, k = 3 */
    float yy = -1.0f;
    ref.gemm_nn[NB_TYPE_F32](1, 1, 3, xx, 3, bb, 4, &yy, 1);
    /* ((0 + 1) + 1e8) - 1e8 in float: 1 is absorbed by 1e8, so 0 */
    ck_assert(yy == 0.0f);
  }
  ck_assert_ptr_null(ref.gemm_nn[NB_TYPE_Q8_0]);
  nb_free(x);
  nb_free(b32);
  nb_free(b16);
  nb_free(y0);
  nb_free(y1);
}
END_TEST

/* softmax. kernels.h gives the SIMD sets an exact recipe (nb__exp_le0, 8
 * lane sums, nb__sum8_tree); simd_softmax below writes it out in plain C
 * and every SIMD set must match it bit for bit. Against the scalar set
 * (run.c's loop, libm expf) each probability may differ by the two exps'
 * errors (<= 1 + 0.5 ulp) plus the two sums' rounding (each within
 * (n - 1) * 2^-24 relative) and the division, so we allow
 *   |p_simd - p_scalar| <= (2n + 8) * 2^-24 * p_scalar + 2^-126.
 * Also: nb__exp_le0 within 1.5 ulp of exp (in double) over its whole range
 * and 0 below it; a row sums to 1; the element after the row is untouched.
 * Lengths around the 8-lane blocks, spreads that underflow, three scales. */
static void simd_softmax(float *x, int64_t n, float scale) {
  for (int64_t j = 0; j < n; j++) x[j] = x[j] / scale;
  float mx = x[0];
  for (int64_t j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  float s[8] = {0};
  for (int64_t j = 0; j < n; j++) {
    x[j] = nb__exp_le0(x[j] - mx);
    s[j & 7] = s[j & 7] + x[j];
  }
  const float sum = nb__sum8_tree(s);
  for (int64_t j = 0; j < n; j++) x[j] = x[j] / sum;
}

START_TEST(test_softmax) {
  nb__kernels ref, sets[NB_MAX_SETS];
  nb_err e;
  ck_assert_int_eq(nb__kernels_init(&ref, "scalar", &e), NB_OK);
  int ns = runnable_sets(sets, NB_MAX_SETS);
  /* the exp itself */
  double worst = 0.0;
  for (int i = 0; i <= 200000; i++) {
    const float v = NB__EXP_LO * (float)i / 200000.0f;
    const double want = exp((double)v);
    const double got = (double)nb__exp_le0(v);
    const double ulp = ldexp(1.0, ilogb(want) - 23);
    const double err = fabs(got - want) / ulp;
    if (err > worst) worst = err;
  }
  fprintf(stderr, "test_kernels: nb__exp_le0 max error %.2f ulp\n", worst);
  ck_assert_msg(worst <= 1.5, "nb__exp_le0 error %.2f ulp", worst); /* measured 0.98 */
  ck_assert(nb__exp_le0(0.0f) == 1.0f);
  ck_assert(nb__exp_le0(-88.0f) == 0.0f && nb__exp_le0(-INFINITY) == 0.0f);
  /* rows */
  static const int64_t lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 257, 1000};
  static const float scales[] = {8.0f, 11.3137085f, 1.0f};
  float *x0 = nb_malloc(sizeof(float) * 1001), *x1 = nb_malloc(sizeof(float) * 1001);
  float *xs = nb_malloc(sizeof(float) * 1001), *src = nb_malloc(sizeof(float) * 1001);
  ck_assert(x0 && x1 && xs && src);
  rng_state = 17;
  double worst_rel = 0.0;
  for (size_t li = 0; li < NB__ARRAY_LEN(lens); li++)
    for (size_t si = 0; si < NB__ARRAY_LEN(scales); si++)
      for (int spread = 0; spread < 3; spread++) {
        const int64_t n = lens[li];
        const float amp = spread == 0 ? 2.0f : spread == 1 ? 100.0f : 3000.0f;
        for (int64_t j = 0; j < n; j++) src[j] = rnd_unit() * amp;
        memcpy(xs, src, sizeof(float) * (size_t)n);
        xs[n] = 12345.0f;
        ref.softmax(xs, n, scales[si]);
        ck_assert(xs[n] == 12345.0f);
        memcpy(x0, src, sizeof(float) * (size_t)n);
        x0[n] = 12345.0f;
        simd_softmax(x0, n, scales[si]);
        double sum = 0.0;
        for (int64_t j = 0; j < n; j++) {
          ck_assert(x0[j] >= 0.0f && x0[j] <= 1.0f);
          sum += x0[j];
          const double tol = (2.0 * (double)n + 8.0) * 0x1p-24 * xs[j] + 0x1p-126;
          const double d = fabs((double)x0[j] - (double)xs[j]);
          ck_assert_msg(d <= tol, "softmax recipe vs scalar: %g vs %g (n=%ld j=%ld)",
                        (double)x0[j], (double)xs[j], (long)n, (long)j);
          if (xs[j] > 1e-30f && d / xs[j] > worst_rel) worst_rel = d / xs[j];
        }
        ck_assert_msg(fabs(sum - 1.0) <= 1e-5, "softmax sum %.9f (n=%ld)", sum, (long)n);
        for (int s = 0; s < ns; s++) {
          ck_assert_ptr_nonnull(sets[s].softmax);
          memcpy(x1, src, sizeof(float) * (size_t)n);
          x1[n] = 12345.0f;
          sets[s].softmax(x1, n, scales[si]);
          ck_assert_msg(memcmp(x0, x1, sizeof(float) * (size_t)(n + 1)) == 0,
                        "%s softmax differs from the SIMD recipe (n=%ld scale %g spread %d)",
                        sets[s].name, (long)n, (double)scales[si], spread);
        }
      }
  fprintf(stderr, "test_kernels: SIMD softmax vs scalar: max relative difference %.3g (p > 1e-30)\n",
          worst_rel);
  nb_free(xs);
  nb_free(x0);
  nb_free(x1);
  nb_free(src);
}
END_TEST

/* swiglu: every SIMD set bit for bit as the recipe of kernels.h
 * (nb__swiglu1 per element), and that recipe within 6 ulp of the scalar
 * set (run.c's expression with libm expf): the exps differ by <= 1.5 ulp,
 * which moves the sigmoid by at most as much (its relative sensitivity to
 * e is e / (1 + e) < 1), plus four roundings on each side. Values from
 * -100 to 100 (the sigmoid saturates or underflows), zeros, lengths with
 * tails; the element after the row untouched. */
START_TEST(test_swiglu) {
  nb__kernels ref, sets[NB_MAX_SETS];
  nb_err e;
  ck_assert_int_eq(nb__kernels_init(&ref, "scalar", &e), NB_OK);
  int ns = runnable_sets(sets, NB_MAX_SETS);
  const int64_t nmax = 4099;
  float *g0 = nb_malloc(sizeof(float) * (size_t)(nmax + 1));
  float *g1 = nb_malloc(sizeof(float) * (size_t)(nmax + 1));
  float *gs = nb_malloc(sizeof(float) * (size_t)(nmax + 1));
  float *src = nb_malloc(sizeof(float) * (size_t)nmax), *u = nb_malloc(sizeof(float) * (size_t)nmax);
  ck_assert(g0 && g1 && gs && src && u);
  rng_state = 23;
  for (int64_t j = 0; j < nmax; j++) {
    src[j] = j % 97 == 0 ? (j % 2 ? -0.0f : 0.0f) : rnd_unit() * (j % 3 ? 8.0f : 100.0f);
    u[j] = rnd_unit() * 4.0f;
  }
  static const int64_t lens[] = {1, 3, 4, 7, 8, 9, 17, nmax};
  double worst = 0.0;
  for (size_t li = 0; li < NB__ARRAY_LEN(lens); li++) {
    const int64_t n = lens[li];
    memcpy(gs, src, sizeof(float) * (size_t)n);
    gs[n] = 12345.0f;
    ref.swiglu(gs, u, n);
    ck_assert(gs[n] == 12345.0f);
    for (int64_t j = 0; j < n; j++) {
      g0[j] = nb__swiglu1(src[j], u[j]);
      const double d = fabs((double)g0[j] - (double)gs[j]);
      /* + an absolute 2^-110: the recipe's exp is 0 below -87.34, where
       * |silu(v) * u| < 100 * 2^-126 * 4 */
      const double tol = 6.0 * 0x1p-24 * fabs((double)gs[j]) + 0x1p-110;
      ck_assert_msg(d <= tol, "swiglu recipe vs scalar at v=%g: %g vs %g", (double)src[j],
                    (double)g0[j], (double)gs[j]);
      if (fabs(gs[j]) > 1e-30 && d / fabs(gs[j]) > worst) worst = d / fabs(gs[j]);
    }
    g0[n] = 12345.0f;
    for (int s = 0; s < ns; s++) {
      ck_assert_ptr_nonnull(sets[s].swiglu);
      memcpy(g1, src, sizeof(float) * (size_t)n);
      g1[n] = 12345.0f;
      sets[s].swiglu(g1, u, n);
      ck_assert_msg(memcmp(g0, g1, sizeof(float) * (size_t)(n + 1)) == 0,
                    "%s swiglu differs from the SIMD recipe (n=%ld)", sets[s].name, (long)n);
    }
  }
  fprintf(stderr, "test_kernels: SIMD swiglu vs scalar: max relative difference %.3g ulp\n",
          worst / 0x1p-24);
  nb_free(g0);
  nb_free(g1);
  nb_free(gs);
  nb_free(src);
  nb_free(u);
}
END_TEST

START_TEST(test_selection) {
  nb__kernels k;
  nb_err e;
  /* auto and NULL pick the best set, which is runnable */
  const char *best = nb_kernels_best();
  ck_assert(nb_kernels_available(best));
  ck_assert_int_eq(nb__kernels_init(&k, NULL, &e), NB_OK);
  ck_assert_str_eq(k.name, best);
  ck_assert_int_eq(nb__kernels_init(&k, "auto", &e), NB_OK);
  ck_assert_str_eq(k.name, best);
  ck_assert_int_eq(nb__kernels_init(&k, "scalar", &e), NB_OK);
  ck_assert_str_eq(k.name, "scalar");
  ck_assert(nb_kernels_available("scalar"));
  /* forcing a set this machine cannot run fails cleanly */
  int unavailable = 0;
  for (size_t i = 0; i < NB__ARRAY_LEN(all_sets); i++) {
    if (nb_kernels_available(all_sets[i])) continue;
    unavailable++;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(nb__kernels_init(&k, all_sets[i], &e), NB_EUNSUPPORTED);
    ck_assert_int_eq(e.code, NB_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(e.msg, all_sets[i]));
  }
  /* x86-64 cannot run neon and aarch64 cannot run avx2: at least one */
  ck_assert_int_ge(unavailable, 1);
  ck_assert_int_eq(nb__kernels_init(&k, "sse9", &e), NB_EUNSUPPORTED);
  ck_assert_int_eq(nb__kernels_init(&k, "", &e), NB_OK); /* "" = auto */
  /* the feature string agrees with availability */
  const char *feat = nb_cpu_features();
  if (nb_kernels_available("avx2")) {
    ck_assert_ptr_nonnull(strstr(feat, "avx2"));
    ck_assert_ptr_nonnull(strstr(feat, "fma"));
    ck_assert_ptr_nonnull(strstr(feat, "f16c"));
  }
  if (nb_kernels_available("avx512"))
    ck_assert_ptr_nonnull(strstr(feat, "avx512vnni"));
  if (nb_kernels_available("neon"))
    ck_assert_ptr_nonnull(strstr(feat, "asimd"));
  int32_t cores = nb_cpu_physical_cores();
  ck_assert_int_ge(cores, 1);
  ck_assert_int_le(cores, (int32_t)sysconf(_SC_NPROCESSORS_ONLN));
}
END_TEST

int main(void) {
  Suite *s = suite_create("kernels");
  TCase *tc = tcase_create("kernels");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_selection);
  tcase_add_test(tc, test_conversions_bit_exact);
  tcase_add_test(tc, test_quantize_q8_byte_exact);
  tcase_add_test(tc, test_gemm_f16_odd_k);
  tcase_add_test(tc, test_gemm_empty);
  tcase_add_test(tc, test_gemm_vs_scalar);
  tcase_add_test(tc, test_fixed16_recipe);
  tcase_add_test(tc, test_qh_prepared);
  tcase_add_test(tc, test_gemm_nn_bit_exact);
  tcase_add_test(tc, test_softmax);
  tcase_add_test(tc, test_swiglu);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
