/*
 * pool.c: the persistent worker pool of pool.h.
 *
 * Protocol (one run of generation g over n threads):
 *   caller: writes fn/arg/done=0, then stores state = (g << 32) | 1
 *           (seq_cst, so a release): that publishes the task with part 0
 *           already reserved for itself. If any worker is asleep it takes
 *           the mutex and broadcasts. It runs part 0, then claims any part
 *           still unclaimed, then spins until `done` reaches n-1 (acquire:
 *           every write made by the workers' fn is then visible to it).
 *   worker: spins on `state` (pause) for about NB__POOL_SPIN_NS after its
 *           last task; past that it registers in `n_sleeping` and waits on
 *           the condition variable, so an idle pool burns no CPU. When the
 *           generation moves it claims parts with a CAS on `state` (the low
 *           32 bits count claimed parts, the high 32 bits name the
 *           generation, so a late worker can never claim a part of a newer
 *           run), runs fn(arg, ith, n) for each, and increments `done`
 *           (release).
 *
 * Claiming instead of a fixed part per thread costs one CAS and makes the
 * pool robust on a shared machine: when a worker is descheduled, the caller
 * (or another worker) runs its part instead of waiting a whole time slice
 * for it. Every part still runs exactly once, and which rows a part covers
 * depends only on (ith, nth), so results do not depend on who ran it.
 *
 * Lost wake-ups cannot happen: a worker increments `n_sleeping` and re-reads
 * `state` while holding the mutex (both seq_cst); the caller stores `state`
 * and then reads `n_sleeping` (seq_cst). Of two seq_cst store-then-load
 * pairs at least one load sees the other's store: either the worker sees the
 * new generation and does not sleep, or the caller sees the sleeper and
 * broadcasts under the mutex, which the worker only releases inside
 * uv_cond_wait.
 *
 * While workers spin, a run costs a few atomic cache-line transfers per
 * worker and no system call.
 */
#include "sys/pool.h"

#include <sched.h>
#include <stdatomic.h>
#include <uv.h>

#include "nb_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NB__CPU_RELAX() _mm_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define NB__CPU_RELAX() __asm__ __volatile__("yield")
#else
#define NB__CPU_RELAX() ((void)0)
#endif

/* How long an idle worker spins before it sleeps. A decode step calls the
 * pool ~10 times per layer with microseconds of serial work in between, so
 * this only has to outlast those gaps. */
#ifndef NB__POOL_SPIN_NS
#define NB__POOL_SPIN_NS 2000000ull /* 2 ms */
#endif
#define NB__POOL_MAX_THREADS 1024

/* Keeps the hot atomics on their own cache lines. */
#define NB__CACHE_LINE 64

typedef struct nb__worker {
  struct nb__pool *pool;
  int32_t ith;
  uv_thread_t tid;
} nb__worker;

struct nb__pool {
  int32_t n; /* threads, the caller included */
  nb__worker *workers; /* (n - 1) */
  int32_t n_started;   /* workers successfully created */
  uv_mutex_t mu;
  uv_cond_t cv;
  bool sync_ok; /* mu and cv initialised */

  char pad0[NB__CACHE_LINE];
  /* The task of the current generation: written by the caller before it
   * publishes the new `state`, read by workers after they claim a part. */
  nb__task_fn fn;
  void *arg;
  uint32_t gen; /* the caller's generation counter (caller only) */
  _Atomic int stop; /* set before the final generation: workers leave */

  char pad1[NB__CACHE_LINE];
  _Atomic uint64_t state; /* (generation << 32) | parts claimed */
  char pad2[NB__CACHE_LINE];
  _Atomic int32_t done;
  char pad3[NB__CACHE_LINE];
  _Atomic int32_t n_sleeping;
  char pad4[NB__CACHE_LINE];
};

static inline uint32_t gen_of(uint64_t state) {
  return (uint32_t)(state >> 32);
}

/* Waits until the generation in p->state differs from `seen`; returns the
 * state read. */
static uint64_t wait_gen(nb__pool *p, uint32_t seen) {
  uint64_t s;
  uint64_t t0 = 0;
  for (uint32_t spins = 0;; spins++) {
    s = atomic_load_explicit(&p->state, memory_order_acquire);
    if (gen_of(s) != seen) return s;
    NB__CPU_RELAX();
    if ((spins & 255) != 255) continue;
    /* Every 256 pauses give the core away if another thread wants it: with
     * more threads than free cores (a shared machine) a pure spinner would
     * keep a thread that has real work off the CPU for a whole slice. */
    if (spins > 4096) sched_yield();
    uint64_t now = uv_hrtime();
    if (t0 == 0) {
      t0 = now;
      continue;
    }
    if (now - t0 < NB__POOL_SPIN_NS) continue;
    /* Sleep until the caller publishes a new generation. */
    uv_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->n_sleeping, 1, memory_order_seq_cst);
    while (gen_of(s = atomic_load_explicit(&p->state,
                                           memory_order_seq_cst)) == seen)
      uv_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub_explicit(&p->n_sleeping, 1, memory_order_relaxed);
    uv_mutex_unlock(&p->mu);
    return s;
  }
}

/* Claims and runs unclaimed parts of generation gen_of(s) until none is
 * left or the generation has moved on. */
static void run_parts(nb__pool *p, uint64_t s) {
  const uint32_t gen = gen_of(s);
  const uint32_t n = (uint32_t)p->n;
  while (gen_of(s) == gen && (uint32_t)s < n) {
    if (!atomic_compare_exchange_weak_explicit(&p->state, &s, s + 1,
                                               memory_order_acquire,
                                               memory_order_acquire))
      continue; /* s now holds the current state */
    /* The part is ours: the caller cannot start another run (and rewrite
     * fn/arg) before we count it done. */
    p->fn(p->arg, (int32_t)(uint32_t)s, p->n);
    atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    s = atomic_load_explicit(&p->state, memory_order_acquire);
  }
}

static void worker_main(void *arg) {
  nb__worker *w = arg;
  nb__pool *p = w->pool;
  uint32_t seen = 0;
  for (;;) {
    uint64_t s = wait_gen(p, seen);
    seen = gen_of(s);
    if (atomic_load_explicit(&p->stop, memory_order_relaxed)) break;
    run_parts(p, s);
  }
}

/* Publishes generation ++p->gen with `first` parts already claimed and
 * wakes sleepers. */
static void publish(nb__pool *p, uint32_t first) {
  p->gen++;
  atomic_store_explicit(&p->state, ((uint64_t)p->gen << 32) | first,
                        memory_order_seq_cst);
  if (atomic_load_explicit(&p->n_sleeping, memory_order_seq_cst) > 0) {
    uv_mutex_lock(&p->mu);
    uv_cond_broadcast(&p->cv);
    uv_mutex_unlock(&p->mu);
  }
}

static void shutdown_workers(nb__pool *p) {
  if (p->n_started > 0) {
    atomic_store_explicit(&p->stop, 1, memory_order_relaxed);
    publish(p, (uint32_t)p->n); /* nothing to claim */
    for (int32_t i = 0; i < p->n_started; i++)
      uv_thread_join(&p->workers[i].tid);
  }
  p->n_started = 0;
}

int nb__pool_new(nb__pool **out, int32_t n_threads, nb_err *err) {
  *out = NULL;
  if (n_threads < 1 || n_threads > NB__POOL_MAX_THREADS)
    return nb__err(err, NB_EINVAL, "thread pool: %d threads (1..%d)",
                   (int)n_threads, NB__POOL_MAX_THREADS);
  int rc = NB_OK;
  nb__pool *p = nb_calloc(1, sizeof *p);
  if (!p) return nb__err(err, NB_ENOMEM, "thread pool: out of memory");
  p->n = n_threads;
  atomic_init(&p->state, 0);
  atomic_init(&p->stop, 0);
  atomic_init(&p->done, 0);
  atomic_init(&p->n_sleeping, 0);
  if (n_threads == 1) goto done; /* the caller alone: no threads, no locks */

  if (uv_mutex_init(&p->mu) != 0) {
    rc = nb__err(err, NB_ENOMEM, "thread pool: cannot create a mutex");
    goto fail;
  }
  if (uv_cond_init(&p->cv) != 0) {
    uv_mutex_destroy(&p->mu);
    rc = nb__err(err, NB_ENOMEM, "thread pool: cannot create a condition");
    goto fail;
  }
  p->sync_ok = true;
  p->workers = nb_calloc((size_t)n_threads - 1, sizeof *p->workers);
  if (!p->workers) {
    rc = nb__err(err, NB_ENOMEM, "thread pool: out of memory");
    goto fail;
  }
  for (int32_t i = 0; i < n_threads - 1; i++) {
    nb__worker *w = &p->workers[i];
    w->pool = p;
    w->ith = i + 1;
    int e = uv_thread_create(&w->tid, worker_main, w);
    if (e != 0) {
      rc = nb__err(err, NB_ENOMEM, "thread pool: cannot start thread %d: %s",
                   (int)i + 1, uv_strerror(e));
      goto fail;
    }
    p->n_started++;
  }
done:
  *out = p;
  return NB_OK;
fail:
  nb__pool_free(p);
  return rc;
}

void nb__pool_free(nb__pool *p) {
  if (!p) return;
  shutdown_workers(p);
  if (p->sync_ok) {
    uv_cond_destroy(&p->cv);
    uv_mutex_destroy(&p->mu);
  }
  nb_free(p->workers);
  nb_free(p);
}

int32_t nb__pool_size(const nb__pool *p) { return p->n; }

void nb__pool_run(nb__pool *p, nb__task_fn fn, void *arg) {
  if (p->n == 1) {
    fn(arg, 0, 1);
    return;
  }
  p->fn = fn;
  p->arg = arg;
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  publish(p, 1); /* release: fn, arg and done=0 go with the new state */
  fn(arg, 0, p->n);
  /* Parts no worker has picked up yet (descheduled or asleep): run them
   * here rather than wait for their thread. */
  run_parts(p, atomic_load_explicit(&p->state, memory_order_acquire));
  const int32_t want = p->n - 1;
  for (uint32_t spins = 0;
       atomic_load_explicit(&p->done, memory_order_acquire) != want;
       spins++) {
    NB__CPU_RELAX();
    if (spins > 4096 && (spins & 63) == 0) sched_yield();
  }
}
