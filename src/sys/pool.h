/*
 * pool.h: a persistent pool of worker threads (libuv threads) for the
 * executor's parallel loops. The caller's thread is worker 0, so a pool of N
 * runs N-1 extra threads. Dispatch and completion use a spinning barrier on
 * atomics (no mutex/condvar round trip per matmul); idle workers fall back to
 * sleeping after a short spin so an idle pool costs no CPU.
 */
#ifndef NB_POOL_H
#define NB_POOL_H

#include <stdint.h>

#include "nibble.h"

typedef struct nb__pool nb__pool;

/* fn(arg, ith, nth) runs exactly once for each part ith = 0..nth-1 of a run.
 * Part 0 always runs on the caller's thread; parts 1..nth-1 normally run on
 * the workers, but a part its worker has not picked up yet (descheduled on a
 * busy machine) is run by whichever thread is free, so per-thread scratch
 * must be indexed by ith, never by OS thread. */
typedef void (*nb__task_fn)(void *arg, int32_t ith, int32_t nth);

int nb__pool_new(nb__pool **out, int32_t n_threads, nb_err *err);
void nb__pool_free(nb__pool *p); /* joins the workers */
int32_t nb__pool_size(const nb__pool *p);
/* Runs fn on every thread of the pool, the caller included, and returns when
 * all have finished. Not reentrant: fn must not call nb__pool_run. */
void nb__pool_run(nb__pool *p, nb__task_fn fn, void *arg);

/* Splits [0, n) into nth parts aligned to `align` (the last part takes the
 * rest): part ith is [*b, *e). Same inputs, same split. */
static inline void nb__split(int64_t n, int32_t ith, int32_t nth,
                             int64_t align, int64_t *b, int64_t *e) {
  int64_t chunks = (n + align - 1) / align;
  int64_t per = chunks / nth, extra = chunks % nth;
  int64_t c0 = ith * per + (ith < extra ? ith : extra);
  int64_t c1 = c0 + per + (ith < extra ? 1 : 0);
  *b = c0 * align < n ? c0 * align : n;
  *e = c1 * align < n ? c1 * align : n;
}

#endif /* NB_POOL_H */
