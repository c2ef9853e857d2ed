/*
 * share.h: the rows of one matmul shared by the threads of a pool run,
 * with stealing.
 *
 * Why: an even split of a decode matmul's rows finishes unevenly when one
 * thread's rows take longer: memory that is not uniformly fast (on the
 * 2 vCPU VM, 2 MiB pieces read at 8-16 GB/s per core, so it depends on
 * where the page cache put a thread's rows), a busy sibling hyperthread,
 * or hybrid laptop CPUs (performance and efficiency cores). The other
 * thread then spins at the barrier: 10% of TinyLlama decode in perf.
 *
 * Each thread has a range of units (16-row tiles) in its slot. It takes
 * its own from the front, about half of what is left per piece (few kernel
 * calls: a kernel prepares its input per call, ~0.8 us for F16 input at
 * k = 2048); a thread whose range is empty takes pieces of `min` units
 * from the back of the others'. So each thread streams one contiguous
 * region (an interleaved split measured 5-10% slower) and only the ends
 * move. Every unit is taken by exactly one thread (compare-and-swap on the
 * slot's front | back word), and a row's result does not depend on the
 * call that computes it (kernels.h), so results do not depend on who took
 * what. Slots are set before the pool run (whose dispatch publishes them)
 * and the run's barrier publishes the rows written.
 */
#ifndef NB_SHARE_H
#define NB_SHARE_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct nb__share {
  _Alignas(64) _Atomic uint64_t fb; /* front | back << 32, in units */
} nb__share;

/* Units [b, e) with e < 2^32. */
static inline void nb__share_set(nb__share *s, int64_t b, int64_t e) {
  atomic_store_explicit(&s->fb, (uint64_t)b | (uint64_t)e << 32, memory_order_relaxed);
}

/* The next piece of the slot's own range: 1 and [*b, *e), or 0 if empty. */
static inline int nb__share_front(nb__share *s, int64_t min, int64_t *b, int64_t *e) {
  uint64_t v = atomic_load_explicit(&s->fb, memory_order_relaxed);
  for (;;) {
    int64_t f = (int64_t)(v & 0xffffffffu), k = (int64_t)(v >> 32);
    if (f >= k) return 0;
    int64_t n = (k - f) / 2;
    if (n < min) n = min;
    if (n > k - f) n = k - f;
    if (atomic_compare_exchange_weak_explicit(&s->fb, &v, (uint64_t)(f + n) | (uint64_t)k << 32,
                                              memory_order_relaxed, memory_order_relaxed)) {
      *b = f;
      *e = f + n;
      return 1;
    }
  }
}

/* A piece of at most min units from the back of another thread's slot. */
static inline int nb__share_back(nb__share *s, int64_t min, int64_t *b, int64_t *e) {
  uint64_t v = atomic_load_explicit(&s->fb, memory_order_relaxed);
  for (;;) {
    int64_t f = (int64_t)(v & 0xffffffffu), k = (int64_t)(v >> 32);
    if (f >= k) return 0;
    int64_t n = k - f < min ? k - f : min;
    if (atomic_compare_exchange_weak_explicit(&s->fb, &v, (uint64_t)f | (uint64_t)(k - n) << 32,
                                              memory_order_relaxed, memory_order_relaxed)) {
      *b = k - n;
      *e = k;
      return 1;
    }
  }
}

#endif /* NB_SHARE_H */
