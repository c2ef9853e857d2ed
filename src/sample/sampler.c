/*
 * sampler.c: picks the next token from logits.
 *
 * Steps, in this order (the header's contract):
 *  1. repetition penalty: every DISTINCT id among the last repeat_last_n
 *     accepted tokens gets its logit divided by repeat_penalty when
 *     positive, multiplied when negative (llama.cpp's rule: it always makes
 *     the token less likely for a penalty > 1);
 *  2. temp <= 0: greedy, the first index of the maximum;
 *  3. otherwise: top-k (the k largest logits; ties broken by lower id),
 *     temperature (logit / temp), softmax, top-p (the smallest prefix of the
 *     tokens sorted by probability whose cumulative probability reaches
 *     top_p; at least one), min-p (drop tokens with p < min_p * p_max),
 *     renormalise, draw with the sampler's own PRNG.
 * Non-numbers: NaN logits are never picked (they are dropped before
 * anything else); +inf logits, when present, share all the probability
 * equally; -inf logits have probability 0. If every logit is NaN,
 * nb_sampler_sample returns NB_EINVAL.
 *
 * PRNG: xoshiro256** (Blackman & Vigna), state seeded from the 64-bit seed
 * through splitmix64; uniform doubles from the top 53 bits. All state lives
 * in the handle, so samplers are independent and reproducible: the same
 * seed, settings and logits give the same tokens.
 *
 * Memory: every buffer is sized once (n_vocab) in nb_sampler_new; sampling
 * allocates nothing.
 */
#include <math.h>
#include <string.h>

#include "nb_internal.h"

typedef struct cand {
  float v;    /* logit, then probability */
  int32_t id;
} cand;

struct nb_sampler {
  nb_sampler_params p;
  int32_t n_vocab;
  uint64_t rng[4];     /* xoshiro256** state */
  float *work;         /* (n_vocab) penalised logits */
  cand *cands;         /* (n_vocab) candidates for the stochastic path */
  uint32_t *stamp;     /* (n_vocab) "penalised in call #stamp_gen" marks */
  uint32_t stamp_gen;
  int32_t *hist;       /* (hist_cap) ring of accepted ids */
  int32_t hist_cap, hist_len, hist_head; /* head: next write position */
};

/* ------------------------------------------------------------------ PRNG */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void rng_seed(nb_sampler *s, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(nb_sampler *s) {
  uint64_t *st = s->rng;
  uint64_t r = rotl(st[1] * 5, 7) * 9;
  uint64_t t = st[1] << 17;
  st[2] ^= st[0];
  st[3] ^= st[1];
  st[1] ^= st[2];
  st[0] ^= st[3];
  st[2] ^= t;
  st[3] = rotl(st[3], 45);
  return r;
}

/* Uniform in [0, 1). */
static double rng_uniform(nb_sampler *s) {
  return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* ---------------------------------------------------------------- params */

void nb_sampler_params_default(nb_sampler_params *p) {
  p->temp = 0.8f;
  p->top_k = 40;
  p->top_p = 0.95f;
  p->min_p = 0.05f;
  p->repeat_penalty = 1.0f;
  p->repeat_last_n = 64;
  p->seed = 0x6e6962626c65ull; /* fixed: callers wanting variety pass one */
}

static int check_params(const nb_sampler_params *p, nb_err *err) {
  if (isnan(p->temp) || isinf(p->temp))
    return nb__err(err, NB_EINVAL, "sampler: temperature %g", p->temp);
  if (p->top_k < 0)
    return nb__err(err, NB_EINVAL, "sampler: top_k %d < 0", (int)p->top_k);
  if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
    return nb__err(err, NB_EINVAL, "sampler: top_p %g not in [0, 1]",
                   p->top_p);
  if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
    return nb__err(err, NB_EINVAL, "sampler: min_p %g not in [0, 1]",
                   p->min_p);
  if (!(p->repeat_penalty > 0.0f) || isinf(p->repeat_penalty))
    return nb__err(err, NB_EINVAL, "sampler: repeat_penalty %g must be a "
                   "positive number", p->repeat_penalty);
  if (p->repeat_last_n < 0)
    return nb__err(err, NB_EINVAL, "sampler: repeat_last_n %d < 0",
                   (int)p->repeat_last_n);
  return NB_OK;
}

/* Resizes the history ring to `cap`, keeping the most recent entries. */
static int hist_resize(nb_sampler *s, int32_t cap) {
  if (cap == s->hist_cap) return NB_OK;
  int32_t *h = NULL;
  if (cap > 0) {
    h = nb_malloc((size_t)cap * sizeof *h);
    if (h == NULL) return NB_ENOMEM;
  }
  int32_t keep = NB__MIN(s->hist_len, cap);
  /* oldest kept first */
  for (int32_t i = 0; i < keep; i++) {
    int32_t src = s->hist_head - keep + i;
    src = ((src % s->hist_cap) + s->hist_cap) % s->hist_cap;
    h[i] = s->hist[src];
  }
  nb_free(s->hist);
  s->hist = h;
  s->hist_cap = cap;
  s->hist_len = keep;
  s->hist_head = cap > 0 ? keep % cap : 0;
  return NB_OK;
}

int nb_sampler_new(nb_sampler **out, const nb_sampler_params *p,
                   int32_t n_vocab, nb_err *err) {
  *out = NULL;
  if (n_vocab <= 0)
    return nb__err(err, NB_EINVAL, "sampler: n_vocab %d", (int)n_vocab);
  int rc = check_params(p, err);
  if (rc) return rc;
  nb_sampler *s = nb_calloc(1, sizeof *s);
  if (s == NULL) return nb__err(err, NB_ENOMEM, "sampler");
  s->n_vocab = n_vocab;
  s->p = *p;
  s->work = nb_malloc((size_t)n_vocab * sizeof *s->work);
  s->cands = nb_malloc((size_t)n_vocab * sizeof *s->cands);
  s->stamp = nb_calloc((size_t)n_vocab, sizeof *s->stamp);
  if (!s->work || !s->cands || !s->stamp ||
      hist_resize(s, p->repeat_last_n)) {
    nb_sampler_free(s);
    return nb__err(err, NB_ENOMEM, "sampler: buffers for %d tokens",
                   (int)n_vocab);
  }
  rng_seed(s, p->seed);
  *out = s;
  return NB_OK;
}

void nb_sampler_free(nb_sampler *s) {
  if (s == NULL) return;
  nb_free(s->work);
  nb_free(s->cands);
  nb_free(s->stamp);
  nb_free(s->hist);
  nb_free(s);
}

int nb_sampler_set_params(nb_sampler *s, const nb_sampler_params *p,
                          nb_err *err) {
  int rc = check_params(p, err);
  if (rc) return rc;
  if (hist_resize(s, p->repeat_last_n))
    return nb__err(err, NB_ENOMEM, "sampler: history of %d",
                   (int)p->repeat_last_n);
  bool reseed = p->seed != s->p.seed;
  s->p = *p;
  if (reseed) rng_seed(s, p->seed);
  return NB_OK;
}

void nb_sampler_accept(nb_sampler *s, int32_t id) {
  if (id < 0 || id >= s->n_vocab || s->hist_cap == 0) return;
  s->hist[s->hist_head] = id;
  s->hist_head = (s->hist_head + 1) % s->hist_cap;
  if (s->hist_len < s->hist_cap) s->hist_len++;
}

void nb_sampler_reset(nb_sampler *s) {
  s->hist_len = 0;
  s->hist_head = 0;
  rng_seed(s, s->p.seed);
}

/* ------------------------------------------------------------- sampling */

/* Copies logits to work and applies the repetition penalty once per
 * distinct id in the window. */
static void penalise(nb_sampler *s, const float *logits) {
  memcpy(s->work, logits, (size_t)s->n_vocab * sizeof *s->work);
  float pen = s->p.repeat_penalty;
  if (pen == 1.0f || s->hist_len == 0) return;
  if (++s->stamp_gen == 0) { /* wrapped: clear the marks once */
    memset(s->stamp, 0, (size_t)s->n_vocab * sizeof *s->stamp);
    s->stamp_gen = 1;
  }
  for (int32_t i = 0; i < s->hist_len; i++) {
    int32_t id = s->hist[i];
    if (s->stamp[id] == s->stamp_gen) continue;
    s->stamp[id] = s->stamp_gen;
    float v = s->work[id];
    s->work[id] = v > 0.0f ? v / pen : v * pen;
  }
}

/* Larger value first; equal values by lower id (a total order, so every
 * selection below is fully determined). */
static int cand_cmp(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->v > y->v) return -1;
  if (x->v < y->v) return 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* Heap order for top_m: the root is the WORST of the kept (so the heap
 * compares with cand_cmp reversed). */
static void sift_down(cand *h, int32_t m, int32_t i) {
  for (;;) {
    int32_t l = 2 * i + 1, r = l + 1, w = i;
    if (l < m && cand_cmp(&h[l], &h[w]) > 0) w = l;
    if (r < m && cand_cmp(&h[r], &h[w]) > 0) w = r;
    if (w == i) return;
    cand t = h[i];
    h[i] = h[w];
    h[w] = t;
    i = w;
  }
}

/* Rearranges c[0..n) so that c[0..m) holds the m best candidates in
 * cand_cmp order (the rest stay in c[m..n), in some order): a bounded heap,
 * O(n log m), instead of sorting the whole vocabulary. */
static void top_m(cand *c, int32_t n, int32_t m) {
  for (int32_t i = m / 2 - 1; i >= 0; i--) sift_down(c, m, i);
  for (int32_t i = m; i < n; i++) {
    if (cand_cmp(&c[i], &c[0]) < 0) {
      cand t = c[0];
      c[0] = c[i];
      c[i] = t;
      sift_down(c, m, 0);
    }
  }
  /* heapsort the kept ones in place: the worst goes to the end first
   * (no qsort: glibc's may allocate, and sampling allocates nothing) */
  for (int32_t end = m - 1; end > 0; end--) {
    cand t = c[0];
    c[0] = c[end];
    c[end] = t;
    sift_down(c, end, 0);
  }
}

int32_t nb_sampler_sample(nb_sampler *s, const float *logits) {
  penalise(s, logits);
  const float *w = s->work;
  int32_t n = s->n_vocab;
  /* the maximum, first index, NaN skipped */
  int32_t best = -1;
  for (int32_t i = 0; i < n; i++)
    if (!isnan(w[i]) && (best < 0 || w[i] > w[best])) best = i;
  if (best < 0) return NB_EINVAL; /* every logit is NaN */
  if (s->p.temp <= 0.0f || (isinf(w[best]) && w[best] < 0)) return best;

  /* candidates: the +inf ones if any (equal shares), else every finite */
  cand *c = s->cands;
  int32_t nc = 0;
  bool inf = isinf(w[best]);
  for (int32_t i = 0; i < n; i++) {
    if (inf ? (isinf(w[i]) && w[i] > 0) : isfinite(w[i]))
      c[nc++] = (cand){inf ? 0.0f : w[i], i};
  }
  bool sorted = false;
  if (s->p.top_k > 0 && s->p.top_k < nc) {
    top_m(c, nc, s->p.top_k);
    sorted = true;
    nc = s->p.top_k;
  }
  /* temperature and softmax (max subtracted; sum in double) */
  float inv_t = 1.0f / s->p.temp;
  float mx = -INFINITY;
  for (int32_t i = 0; i < nc; i++) {
    c[i].v *= inv_t;
    if (c[i].v > mx) mx = c[i].v;
  }
  double sum = 0.0;
  for (int32_t i = 0; i < nc; i++) {
    c[i].v = expf(c[i].v - mx);
    sum += c[i].v;
  }
  float pmax = 0.0f;
  for (int32_t i = 0; i < nc; i++) {
    c[i].v = (float)(c[i].v / sum);
    if (c[i].v > pmax) pmax = c[i].v;
  }
  /* top-p: smallest prefix (by probability) reaching top_p */
  if (s->p.top_p < 1.0f && nc > 1) {
    /* Sort only as much as needed: the best m, doubling m until their
     * mass reaches top_p (usually a few hundred tokens at most). */
    int32_t m = sorted ? nc : NB__MIN(nc, 256);
    int32_t keep = -1;
    for (;;) {
      if (!sorted) top_m(c, nc, m);
      double cum = 0.0;
      for (int32_t i = 0; i < m; i++) {
        cum += c[i].v;
        if (cum >= s->p.top_p) {
          keep = i + 1;
          break;
        }
      }
      if (keep > 0 || m == nc) break;
      m = nc - m > m ? 2 * m : nc;
    }
    nc = keep > 0 ? keep : nc;
  }
  /* min-p: relative to the most probable token (which always stays) */
  if (s->p.min_p > 0.0f) {
    float thr = s->p.min_p * pmax;
    int32_t k = 0;
    for (int32_t i = 0; i < nc; i++)
      if (c[i].v >= thr) c[k++] = c[i];
    nc = k;
  }
  /* renormalise and draw */
  sum = 0.0;
  for (int32_t i = 0; i < nc; i++) sum += c[i].v;
  double r = rng_uniform(s) * sum, cum = 0.0;
  for (int32_t i = 0; i < nc; i++) {
    cum += c[i].v;
    if (r < cum) return c[i].id;
  }
  return c[nc - 1].id; /* r rounded to the very top */
}
