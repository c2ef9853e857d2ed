/*
 * lanes_walk.h: the batch walk of every "weight rows in the lanes" kernel
 * family (qqlanes_avx2.h: Q8 input, 8 rows; fixed16_x86.h: F16 input, 8
 * rows; avx512.c: Q8 input, 16 rows). ISA-independent C: a family
 * describes itself in an nb__lw (how to pack a slab of weights, how to
 * prepare a token's input, its tiles) and nb__lw_walk drives it, so the
 * blocking of weights and tokens is written once.
 *
 * The walk: tokens in passes of up to f->tb; rows in steps of f->g groups
 * of f->lanes rows; k in slabs of f->ks blocks. Each slab of a step's rows
 * is packed once (interleaved on the fly from the mapping into a buffer
 * that stays in L1/L2; no repacked copy of the weights is kept) and then
 * run by every token group of the pass, f->tt tokens per tile. A token's
 * input is prepared (f->prep: scalars, or a conversion) once per pass when
 * the pass's whole rows fit the buffer, else once per slab. The buffer is
 * NB__LW_XP bytes of stack, or up to NB__LW_XP_HEAP from the heap (one
 * nb_malloc per batch call) when a full pass's rows need more: preparing
 * per slab repeats the preparation for every row step, and shorter passes
 * pack the weights for fewer tokens (F16 input: 24% of TinyLlama prefill
 * in packing and 8% in conversion; with the heap buffer 155 -> 186 t/s).
 * If the allocation fails the walk falls back to the stack buffer.
 *
 * Determinism (kernels.h): a family's tile computes each (row, token) with
 * its own accumulator lane, blocks in k order, whatever the tile's token
 * count, the step or the pass; so the walk's blocking never changes a
 * result.
 */
#ifndef NB_LANES_WALK_H
#define NB_LANES_WALK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nibble.h" /* nb_malloc, nb_free */

#define NB__LW_TT 8                /* tokens per tile, at most */
#define NB__LW_TTG 4               /* tokens per all-groups tile, at most */
#define NB__LW_TB 256              /* tokens per pass, at most */
#define NB__LW_LANES 16            /* rows per group, at most */
#define NB__LW_PK (136 * 1024)     /* packed slab buffer, bytes */
#define NB__LW_XP (136 * 1024)     /* prepared input buffer on the stack, bytes */
#define NB__LW_XP_HEAP (4u << 20)  /* a pass's whole prepared rows from the heap,
                                      at most, bytes */
#define NB__LW_ACC 16384           /* accumulator floats (g * tb * lanes) */

/* Packs blocks [0, nbk) of rows w + i * ldw (i < nr <= lanes; missing
 * rows repeat the last one, their lanes are never stored) into pk. pf:
 * where this group's share of the prefetch starts (the group's rows
 * f->pf_steps steps ahead, swept lanes blocks' bytes per packed block). */
typedef void (*nb__lw_pack_fn)(const uint8_t *w, size_t ldw, int nr,
                               int64_t nbk, void *pk, const uint8_t *pf);
/* Prepares blocks [0, nbk) of one token's input row x into xp. */
typedef void (*nb__lw_prep_fn)(const uint8_t *x, int64_t nbk, void *xp);
/* T tokens x one packed group over nbk blocks. x[t]: token t's input row
 * at the slab, xp[t] its prepared blocks at the slab; acc: (T, lanes)
 * floats kept between slabs (read at entry, written at exit). */
typedef void (*nb__lw_tile_fn)(int64_t nbk, const void *pk,
                               const uint8_t *const *x,
                               const void *const *xp, float *acc);

/* T tokens x all f->g packed groups of a step (optional, see nb__lw.ttg):
 * group h's slab at pk + h * pks bytes, its (T, lanes) accumulators at
 * acc + h * accs floats; otherwise as nb__lw_tile_fn. */
typedef void (*nb__lw_tileg_fn)(int64_t nbk, const void *pk, size_t pks,
                                const uint8_t *const *x,
                                const void *const *xp, float *acc,
                                size_t accs);

typedef struct nb__lw {
  int lanes;      /* rows per packed group (8 or 16) */
  int ks;         /* blocks per k-slab */
  int g;          /* groups per row step (one token: 1) */
  int tt;         /* tokens per tile, at most (<= NB__LW_TT) */
  int tb;         /* tokens per pass, at most (<= NB__LW_TB) */
  int tb_min;     /* fewest tokens per pass worth preparing whole rows for
                     (below: prepare per slab) */
  int pf_steps;   /* prefetch distance, row steps */
  size_t wbs;     /* bytes of one weight block */
  size_t xbs;     /* bytes of one input block */
  size_t pkb;     /* bytes of one packed block (one group) */
  size_t xpb;     /* bytes of one block's prepared input */
  nb__lw_pack_fn pack;
  nb__lw_prep_fn prep;
  nb__lw_tile_fn tile[NB__LW_TT + 1]; /* [tokens], 1..tt */
  /* Tiles over a whole step's groups (0: the family has none), used when
   * a step has all f->g groups: one input broadcast then serves every
   * group's rows from a register (on AVX-512 a vpdpbusd with a broadcast
   * memory operand issues at ~1.6 per cycle, from a register ~1.85). */
  int ttg;                                /* tokens per such tile (<= NB__LW_TTG) */
  nb__lw_tileg_fn tileg[NB__LW_TTG + 1]; /* [tokens], 1..ttg */
} nb__lw;

/* The buffers must hold a family's step, slab and pass: checked where a
 * family is defined (NB__LW_CHECK). */
#define NB__LW_CHECK(G, KS, PKB, TB, LANES, XPB)                            \
  _Static_assert((G) * (KS) * (PKB) <= NB__LW_PK, "slab buffer");            \
  _Static_assert((G) * (TB) * (LANES) <= NB__LW_ACC, "accumulators");        \
  _Static_assert((TB) * (KS) * (XPB) <= NB__LW_XP, "input buffer (per slab)");          \
  _Static_assert((LANES) <= NB__LW_LANES, "lanes")

/* y[t * ldy + r] for rows [r0, r1), tokens [0, nt): the gemm of kernels.h
 * with k a multiple of 32 (every family's block). pre: the input rows are
 * already in the family's prepared form (f->xpb bytes per block, ldx
 * apart; kernels.h's NB__X_QH), so nothing is prepared and the tiles read
 * them in place. */
static void nb__lw_walk_pre(const nb__lw *f, int pre, int64_t k, const void *w,
                            size_t ldw, const void *x, size_t ldx, float *y,
                            int64_t ldy, int64_t r0, int64_t r1, int64_t nt) {
  if (nt <= 0 || r0 >= r1) return;
  const uint8_t *wb = w, *xb = x;
  const int64_t nb = k / 32;
  const int L = f->lanes;
  _Alignas(64) unsigned char pk[NB__LW_PK]; /* (groups, slab blocks) packed */
  _Alignas(64) unsigned char xps[NB__LW_XP]; /* (tokens, blocks) prepared */
  _Alignas(64) float acc[NB__LW_ACC];       /* (groups, tokens, lanes) */
  const uint8_t *xr[NB__LW_TB];             /* token rows at the slab */
  const void *xs[NB__LW_TB];                /* prepared blocks at the slab */
  /* one token: one group per step, so the packed slab is still in L1 */
  const int gmax = nt == 1 ? 1 : f->g;
  /* tokens per pass: fewer than f->tb if that lets whole rows be
   * prepared once per pass (down to f->tb_min) */
  int64_t tb = f->tb;
  /* the prepared input buffer: the stack's, or the heap's for a full pass
   * of whole rows */
  unsigned char *xp = xps, *heap = NULL;
  size_t cap = NB__LW_XP;
  const int64_t tb_full = nt < tb ? nt : tb;
  const size_t full = (size_t)tb_full * (size_t)nb * f->xpb;
  if (!pre && full > NB__LW_XP && full <= NB__LW_XP_HEAP && tb_full >= f->tb_min &&
      (heap = nb_malloc(full + 63)) != NULL) {
    xp = (unsigned char *)(((uintptr_t)heap + 63) & ~(uintptr_t)63);
    cap = full;
  }
  const int64_t fit = (int64_t)(cap / f->xpb) / nb;
  if (!pre && fit < tb && fit >= f->tb_min) tb = fit;
  /* whole tiles: a one-token tile costs a tile's weight loads for one
   * token (30 tokens per pass left a 1-token tile in every pass) */
  if (tb >= f->tt) tb -= tb % f->tt;
  /* passes of about equal size (64 tokens by 28: 24, 24, 16, not 28, 28,
   * 8: a short last pass would pack the weights for few tokens), still in
   * whole tiles */
  const int64_t npass = (nt + tb - 1) / tb;
  const int64_t even = (nt + npass - 1) / npass;
  const int64_t even_tiles = (even + f->tt - 1) / f->tt * f->tt;
  if (even_tiles < tb) tb = even_tiles;
  const size_t pfo = (size_t)(L * gmax * f->pf_steps);
  for (int64_t p0 = 0; p0 < nt; p0 += tb) {
    const int np = nt - p0 < tb ? (int)(nt - p0) : (int)tb;
    const int whole = !pre && (size_t)np * (size_t)nb * f->xpb <= cap;
    if (whole)
      for (int t = 0; t < np; t++)
        f->prep(xb + (size_t)(p0 + t) * ldx, nb, xp + (size_t)t * nb * f->xpb);
    for (int64_t s0 = r0; s0 < r1; s0 += (int64_t)L * gmax) {
      const int64_t s1 = s0 + (int64_t)L * gmax < r1 ? s0 + (int64_t)L * gmax : r1;
      const int ng = (int)((s1 - s0 + L - 1) / L);
      memset(acc, 0, (size_t)ng * (size_t)np * (size_t)L * sizeof(float));
      for (int64_t ks = 0; ks < nb; ks += f->ks) {
        const int64_t nbk = nb - ks < f->ks ? nb - ks : f->ks;
        for (int g = 0; g < ng; g++) {
          const int64_t rg = s0 + (int64_t)L * g;
          const int nr = s1 - rg < L ? (int)(s1 - rg) : L;
          f->pack(wb + (size_t)rg * ldw + (size_t)ks * f->wbs, ldw, nr, nbk,
                  pk + (size_t)g * f->ks * f->pkb,
                  wb + (size_t)rg * ldw + pfo * ldw + (size_t)ks * L * f->wbs);
        }
        for (int t = 0; t < np; t++) {
          /* prepared input: the row's blocks are xpb bytes, read in place */
          xr[t] = xb + (size_t)(p0 + t) * ldx + (size_t)ks * (pre ? f->xpb : f->xbs);
          if (pre) {
            xs[t] = xr[t];
          } else if (whole) {
            xs[t] = xp + ((size_t)t * nb + (size_t)ks) * f->xpb;
          } else {
            unsigned char *o = xp + (size_t)t * f->ks * f->xpb;
            f->prep(xr[t], nbk, o);
            xs[t] = o;
          }
        }
        if (f->ttg && ng == f->g) {
          for (int t0 = 0; t0 < np; t0 += f->ttg) {
            const int n = np - t0 < f->ttg ? np - t0 : f->ttg;
            f->tileg[n](nbk, pk, (size_t)f->ks * f->pkb, &xr[t0], &xs[t0],
                        acc + (size_t)t0 * L, (size_t)np * L);
          }
        } else {
          for (int t0 = 0; t0 < np; t0 += f->tt) {
            const int n = np - t0 < f->tt ? np - t0 : f->tt;
            for (int g = 0; g < ng; g++)
              f->tile[n](nbk, pk + (size_t)g * f->ks * f->pkb, &xr[t0], &xs[t0],
                         acc + ((size_t)g * np + (size_t)t0) * L);
          }
        }
      }
      /* token by token, its groups' rows adjacent in y: the step's rows
       * of a token are one run of bytes (groups outer wrote a line per
       * token, ldy apart, and stalled on the stores: 3-4% of prefill) */
      for (int t = 0; t < np; t++) {
        for (int g = 0; g < ng; g++) {
          const int64_t rg = s0 + (int64_t)L * g;
          const int nr = s1 - rg < L ? (int)(s1 - rg) : L;
          float *yt = y + (p0 + t) * ldy + rg;
          const float *at = acc + ((size_t)g * np + (size_t)t) * L;
          /* whole groups with a constant size, which the compiler turns
           * into vector moves (a memcpy call per (group, token) took 5%
           * of prefill) */
          if (nr == 16)
            memcpy(yt, at, 16 * sizeof(float));
          else if (nr == 8)
            memcpy(yt, at, 8 * sizeof(float));
          else
            memcpy(yt, at, (size_t)nr * sizeof(float));
        }
      }
    }
  }
  nb_free(heap);
}

static inline void nb__lw_walk(const nb__lw *f, int64_t k, const void *w,
                               size_t ldw, const void *x, size_t ldx, float *y,
                               int64_t ldy, int64_t r0, int64_t r1, int64_t nt) {
  nb__lw_walk_pre(f, 0, k, w, ldw, x, ldx, y, ldy, r0, r1, nt);
}

#endif /* NB_LANES_WALK_H */
