/*
 * cmd_bench.c: `nibble bench`, llama-bench's contract for nibble.
 *
 *   nibble bench -m FILE [-m FILE ...] [-p 512] [-n 128] [-t 1,2] [-r 5]
 *                [--act f16,q8] [--kernels avx2] [-o md|csv|json]
 *
 * Tests, as llama-bench: ppP evaluates P tokens as one batch from an empty
 * KV cache; tgN evaluates N single tokens one after the other, also from an
 * empty cache. Token ids are random (fixed seed): no tokenizer and no
 * sampler is ever timed. Each test runs once untimed (warm-up), then -r
 * times; t/s is reported as mean ± sample standard deviation over the reps
 * (and the median).
 *
 * Beyond llama-bench, each row carries: the time to first token (pp: the
 * prompt batch, after which the first token's logits exist; tg: the first
 * single-token eval), the effective weight bandwidth of decode (bytes of
 * weights read per token x tok/s) and that as a percentage of the machine's
 * read bandwidth, measured by a multi-threaded streaming probe right before
 * and right after the model's tests with the same thread count (both are
 * reported; their mean is the reference, because this figure drifts over
 * minutes on shared machines), and the peak RSS while the context existed,
 * next to file size + context state (KV cache + activations): the peak is
 * reset before each context so neither the probe's buffer nor an earlier
 * model counts.
 *
 * stdout carries only the results (a markdown table, CSV or JSON whose field
 * names are llama-bench's where the meaning is the same); progress goes to
 * stderr.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "sampleopts.h"

#include "nb_build_commit.h"
#ifndef NB_BUILD_COMMIT
#define NB_BUILD_COMMIT "unknown"
#endif

#define MAX_LIST 32
#define MAX_MODELS 32

static const char usage_text[] =
    "usage: nibble bench -m FILE [options]\n"
    "  -m FILE          model (GGUF); repeat for several\n"
    "  -p LIST          prompt sizes, comma list (default 512; 0: none)\n"
    "  -n LIST          generated tokens, comma list (default 128; 0: none)\n"
    "  -t LIST          thread counts (default: physical cores)\n"
    "  -r N             repetitions (default 5)\n"
    "  --act LIST       activation modes f16,q8,f32 (default f16)\n"
    "  --kernels LIST   kernel sets scalar,avx2,avxvnni,avx512,neon (default: best)\n"
    "  -o md|csv|json   output format (default md)\n"
    "  --bw-mib N       read-bandwidth probe buffer, MiB (default 1024; 0 off)\n"
    "  --bw-reps N      probe repetitions (default 5)\n"
    "  --no-warmup      skip the untimed warm-up run\n"
    "  -s, --seed N     seed of the random token ids (default 42)\n";

typedef struct ilist {
  int32_t v[MAX_LIST];
  int n;
} ilist;

typedef struct slist {
  const char *v[MAX_LIST];
  int n;
} slist;

typedef enum { OUT_MD, OUT_CSV, OUT_JSON } out_fmt;

typedef struct opts {
  const char *models[MAX_MODELS];
  int n_models;
  ilist p, n, t;
  int32_t reps;
  slist acts, kernels;
  char *list_buf[8]; /* owned copies of comma lists */
  int n_list_buf;
  out_fmt fmt;
  int32_t bw_mib, bw_reps;
  bool warmup;
  uint64_t seed;
} opts;

/* One result line. */
typedef struct row {
  char model_filename[512];
  char model_type[96];
  uint64_t model_size, model_n_params, file_size, weight_bytes;
  int32_t n_threads, n_prompt, n_gen, n_ctx, reps;
  char act[8], kernels[16], test[32], test_time[32];
  double avg_ns, stddev_ns, avg_ts, stddev_ts, median_ts, ttft_ms;
  double samples_ns[64], samples_ts[64];
  double eff_bw;  /* weight bytes/s of decode (tg), 0 for pp */
  double bw_before, bw_after, bw_mean, bw_pct; /* probe; 0 when off */
  double weights_bw; /* the probe over the mapped weights; 0 when off */
  uint64_t peak_rss, state_bytes;
} row;

typedef struct rows {
  row *r;
  int n, cap;
} rows;

static row *rows_add(rows *rs) {
  if (rs->n == rs->cap) {
    int cap = rs->cap ? rs->cap * 2 : 16;
    row *r = nb_realloc(rs->r, (size_t)cap * sizeof *r);
    if (!r) return NULL;
    rs->r = r;
    rs->cap = cap;
  }
  row *r = &rs->r[rs->n++];
  memset(r, 0, sizeof *r);
  return r;
}

/* ------------------------------------------------------------- parsing */

static bool parse_ilist(const char *s, int32_t lo, int32_t hi, ilist *l) {
  l->n = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    if (l->n == MAX_LIST || !nb_parse_i32(tok, lo, hi, &l->v[l->n])) return false;
    l->n++;
  }
  return l->n > 0;
}

static bool parse_slist(opts *o, const char *s, slist *l) {
  if (o->n_list_buf == (int)(sizeof o->list_buf / sizeof o->list_buf[0]))
    return false;
  size_t len = strlen(s);
  char *buf = nb_malloc(len + 1);
  if (!buf) return false;
  memcpy(buf, s, len + 1);
  o->list_buf[o->n_list_buf++] = buf;
  l->n = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    if (l->n == MAX_LIST) return false;
    l->v[l->n++] = tok;
  }
  return l->n > 0;
}

/* 0 ok, 2 usage error (message printed), -1 help printed. */
static int parse_args(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof *o);
  o->p = (ilist){{512}, 1};
  o->n = (ilist){{128}, 1};
  o->t = (ilist){{nb_cpu_physical_cores()}, 1};
  o->reps = 5;
  o->acts = (slist){{"f16"}, 1};
  o->kernels = (slist){{"auto"}, 1};
  o->fmt = OUT_MD;
  o->bw_mib = 1024;
  o->bw_reps = 5;
  o->warmup = true;
  o->seed = 42;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage_text, stdout);
      return -1;
    }
    if (!strcmp(a, "--no-warmup")) {
      o->warmup = false;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "nibble bench: %s needs a value\n%s", a, usage_text);
      return 2;
    }
    const char *v = argv[++i];
    bool ok;
    if (!strcmp(a, "-m")) {
      ok = o->n_models < MAX_MODELS;
      if (ok) o->models[o->n_models++] = v;
    } else if (!strcmp(a, "-p")) {
      ok = parse_ilist(v, 0, 1 << 20, &o->p);
    } else if (!strcmp(a, "-n")) {
      ok = parse_ilist(v, 0, 1 << 20, &o->n);
    } else if (!strcmp(a, "-t")) {
      ok = parse_ilist(v, 1, 512, &o->t);
    } else if (!strcmp(a, "-r")) {
      ok = nb_parse_i32(v, 1, 64, &o->reps);
    } else if (!strcmp(a, "--act")) {
      ok = parse_slist(o, v, &o->acts);
      for (int k = 0; ok && k < o->acts.n; k++)
        ok = nb_act_from_name(o->acts.v[k]) >= 0;
    } else if (!strcmp(a, "--kernels")) {
      ok = parse_slist(o, v, &o->kernels);
    } else if (!strcmp(a, "-o")) {
      ok = true;
      if (!strcmp(v, "md"))
        o->fmt = OUT_MD;
      else if (!strcmp(v, "csv"))
        o->fmt = OUT_CSV;
      else if (!strcmp(v, "json"))
        o->fmt = OUT_JSON;
      else
        ok = false;
    } else if (!strcmp(a, "--bw-mib")) {
      ok = nb_parse_i32(v, 0, 1 << 20, &o->bw_mib);
    } else if (!strcmp(a, "--bw-reps")) {
      ok = nb_parse_i32(v, 1, 100, &o->bw_reps);
    } else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
      char *end;
      errno = 0;
      o->seed = strtoull(v, &end, 0);
      ok = !errno && end != v && !*end;
    } else {
      fprintf(stderr, "nibble bench: unknown option %s\n%s", a, usage_text);
      return 2;
    }
    if (!ok) {
      fprintf(stderr, "nibble bench: bad value '%s' for %s\n", v, a);
      return 2;
    }
  }
  if (o->n_models == 0) {
    fprintf(stderr, "nibble bench: no model (-m FILE)\n%s", usage_text);
    return 2;
  }
  return 0;
}

/* ------------------------------------------------------------- helpers */

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void iso_time(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void stats(const double *x, int n, double *mean, double *sd,
                  double *median) {
  double s = 0;
  for (int i = 0; i < n; i++) s += x[i];
  *mean = s / n;
  double v = 0;
  for (int i = 0; i < n; i++) v += (x[i] - *mean) * (x[i] - *mean);
  *sd = n > 1 ? sqrt(v / (n - 1)) : 0.0;
  double tmp[64];
  memcpy(tmp, x, (size_t)n * sizeof *x);
  qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
  *median = n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

static void cpu_name(char *buf, size_t n) {
  snprintf(buf, n, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) != 0) continue;
    char *c = strchr(line, ':');
    if (!c) break;
    c++;
    while (*c == ' ' || *c == '\t') c++;
    c[strcspn(c, "\n")] = '\0';
    snprintf(buf, n, "%s", c);
    break;
  }
  fclose(f);
}

/* "llama 1.1B Q4_0": architecture, parameter count, the type most weight
 * bytes have (as llama-bench's model_type). */
static void model_type(const nb_model *m, char *buf, size_t n) {
  const nb_gguf *g = nb_model_gguf(m);
  uint64_t by_type[NB_TYPE_COUNT] = {0};
  for (int64_t i = 0; i < nb_gguf_n_tensors(g); i++) {
    const nb_tensor_info *t = nb_gguf_tensor(g, i);
    if (t->type < NB_TYPE_COUNT) by_type[t->type] += t->nbytes;
  }
  uint32_t best = 0;
  for (uint32_t t = 0; t < NB_TYPE_COUNT; t++)
    if (by_type[t] > by_type[best]) best = t;
  char ty[16];
  snprintf(ty, sizeof ty, "%s", nb_type_name(best));
  for (char *c = ty; *c; c++)
    if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
  double p = (double)nb_model_n_params(m);
  char sz[32];
  if (p >= 1e9)
    snprintf(sz, sizeof sz, "%.1fB", p / 1e9);
  else if (p >= 1e6)
    snprintf(sz, sizeof sz, "%.0fM", p / 1e6);
  else
    snprintf(sz, sizeof sz, "%.0fK", p / 1e3);
  snprintf(buf, n, "llama %s %s", sz, ty);
}

static uint64_t tensor_bytes(const nb_model *m) {
  const nb_gguf *g = nb_model_gguf(m);
  uint64_t s = 0;
  for (int64_t i = 0; i < nb_gguf_n_tensors(g); i++)
    s += nb_gguf_tensor(g, i)->nbytes;
  return s;
}

/* Bandwidth probe in bytes/s, 0 when off or failed (reported on stderr). */
static double probe(const opts *o, int32_t threads, const char *when) {
  if (o->bw_mib == 0) return 0;
  fprintf(stderr, "bench: read-bandwidth probe %s (%d threads, %d MiB x %d)\n",
          when, (int)threads, (int)o->bw_mib, (int)o->bw_reps);
  double bw = nb_measure_read_bandwidth(threads, (size_t)o->bw_mib << 20,
                                        o->bw_reps);
  if (bw < 0) {
    fprintf(stderr, "nibble bench: bandwidth probe failed: %s\n",
            nb_strerror((int)bw));
    return 0;
  }
  return bw;
}

/* The probe over the model's mapped data section (the weights where the
 * page cache put them), bytes/s; 0 when off or failed. */
static double probe_weights(const opts *o, const nb_model *m, int32_t threads) {
  if (o->bw_mib == 0) return 0;
  const nb_gguf *g = nb_model_gguf(m);
  if (nb_gguf_n_tensors(g) == 0) return 0;
  const nb_tensor_info *t0 = nb_gguf_tensor(g, 0);
  const uint8_t *data = (const uint8_t *)t0->data - t0->offset;
  size_t n = (size_t)(nb_gguf_file_size(g) - nb_gguf_data_offset(g));
  fprintf(stderr, "bench: read-bandwidth probe over the weights (%d threads, %.0f MiB x %d)\n",
          (int)threads, (double)n / 1048576.0, (int)o->bw_reps);
  double bw = nb_measure_read_bandwidth_of(data, n, threads, o->bw_reps);
  if (bw < 0) {
    fprintf(stderr, "nibble bench: weights bandwidth probe: %s\n",
            nb_strerror((int)bw));
    return 0;
  }
  return bw;
}

/* ------------------------------------------------------------- the tests */

/* One timed test; fills the timing fields of r. Returns 0 or an NB_E code
 * (err filled). */
static int run_test(nb_ctx *c, const int32_t *tok, int32_t n_prompt,
                    int32_t n_gen, const opts *o, row *r, nb_err *err) {
  int rc;
  double ttft_sum = 0;
  int total = o->reps + (o->warmup ? 1 : 0);
  for (int rep = 0; rep < total; rep++) {
    bool timed = !o->warmup || rep > 0;
    if ((rc = nb_ctx_truncate(c, 0, err)) < 0) return rc;
    double t0 = now_ns(), t_first = 0;
    if (n_prompt > 0) {
      if ((rc = nb_ctx_eval(c, tok, n_prompt, err)) < 0) return rc;
      t_first = now_ns();
    } else {
      /* warm-up of tg: one token, as llama-bench */
      int32_t steps = timed ? n_gen : 1;
      for (int32_t i = 0; i < steps; i++) {
        if ((rc = nb_ctx_eval(c, &tok[i], 1, err)) < 0) return rc;
        if (i == 0) t_first = now_ns();
      }
    }
    double t1 = now_ns();
    if (!timed) continue;
    int k = rep - (o->warmup ? 1 : 0);
    r->samples_ns[k] = t1 - t0;
    r->samples_ts[k] = (n_prompt > 0 ? n_prompt : n_gen) / ((t1 - t0) * 1e-9);
    ttft_sum += t_first - t0;
  }
  double med;
  stats(r->samples_ns, o->reps, &r->avg_ns, &r->stddev_ns, &med);
  stats(r->samples_ts, o->reps, &r->avg_ts, &r->stddev_ts, &r->median_ts);
  r->ttft_ms = ttft_sum / o->reps * 1e-6;
  r->reps = o->reps;
  return 0;
}

/* ------------------------------------------------------------- output */

static void human_bytes(char *buf, size_t n, double b) {
  if (b >= 1024.0 * 1024 * 1024)
    snprintf(buf, n, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else
    snprintf(buf, n, "%.2f MiB", b / (1024.0 * 1024));
}

static void print_md(const rows *rs, const char *cpu, const char *feat) {
  printf("| model | size | params | threads | act | kernels | test | t/s "
         "| median t/s | TTFT ms | weight BW GB/s | %% of read BW | peak RSS "
         "| file + state |\n");
  printf("| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: "
         "| ---: | ---: | ---: | ---: |\n");
  for (int i = 0; i < rs->n; i++) {
    const row *r = &rs->r[i];
    char size[32], rss[32], fs[32], bw[32], pct[32];
    human_bytes(size, sizeof size, (double)r->model_size);
    human_bytes(rss, sizeof rss, (double)r->peak_rss);
    human_bytes(fs, sizeof fs, (double)(r->file_size + r->state_bytes));
    snprintf(bw, sizeof bw, "-");
    snprintf(pct, sizeof pct, "-");
    if (r->n_gen > 0) {
      snprintf(bw, sizeof bw, "%.2f", r->eff_bw / 1e9);
      if (r->bw_mean > 0) snprintf(pct, sizeof pct, "%.1f%%", r->bw_pct);
    }
    printf("| %s | %s | %.2f %s | %d | %s | %s | %s | %.2f ± %.2f | %.2f "
           "| %.1f | %s | %s | %s | %s |\n",
           r->model_type, size,
           r->model_n_params >= 1000000000ull ? r->model_n_params / 1e9
                                              : r->model_n_params / 1e6,
           r->model_n_params >= 1000000000ull ? "B" : "M", (int)r->n_threads,
           r->act, r->kernels, r->test, r->avg_ts, r->stddev_ts, r->median_ts,
           r->ttft_ms, bw, pct, rss, fs);
  }
  printf("\n");
  /* The probes, once per (model, threads) group. */
  for (int i = 0; i < rs->n; i++) {
    const row *r = &rs->r[i];
    if (r->bw_mean <= 0) continue;
    if (i > 0 && rs->r[i - 1].bw_before == r->bw_before &&
        rs->r[i - 1].bw_after == r->bw_after)
      continue;
    const char *base = strrchr(r->model_filename, '/');
    printf("read bandwidth (%s, %d threads): before %.2f GB/s, after %.2f "
           "GB/s, mean %.2f GB/s",
           base ? base + 1 : r->model_filename, (int)r->n_threads,
           r->bw_before / 1e9, r->bw_after / 1e9, r->bw_mean / 1e9);
    if (r->weights_bw > 0)
      printf("; the mapped weights: %.2f GB/s", r->weights_bw / 1e9);
    printf("\n");
  }
  printf("\nbuild: %s (nibble %s) | cpu: %s | features: %s\n",
         NB_BUILD_COMMIT, NB_VERSION_STRING, cpu, feat);
}

static const char *csv_fields =
    "build_commit,cpu_info,model_filename,model_type,model_size,"
    "model_n_params,n_threads,act,kernels,n_prompt,n_gen,test,test_time,"
    "avg_ns,stddev_ns,avg_ts,stddev_ts,median_ts,samples_ns,samples_ts,"
    "ttft_ms,weight_bytes_per_token,eff_weight_bw,mem_bw_before,mem_bw_after,"
    "mem_bw,bw_pct,weights_read_bw,peak_rss,file_size,state_bytes,n_ctx";

static void csv_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"') putchar('"');
    putchar(*s);
  }
  putchar('"');
}

static void print_csv(const rows *rs, const char *cpu) {
  printf("%s\n", csv_fields);
  for (int i = 0; i < rs->n; i++) {
    const row *r = &rs->r[i];
    csv_str(NB_BUILD_COMMIT);
    putchar(',');
    csv_str(cpu);
    putchar(',');
    csv_str(r->model_filename);
    putchar(',');
    csv_str(r->model_type);
    printf(",%llu,%llu,%d,%s,%s,%d,%d,%s,%s,%.0f,%.0f,%.6f,%.6f,%.6f,",
           (unsigned long long)r->model_size,
           (unsigned long long)r->model_n_params, (int)r->n_threads, r->act,
           r->kernels, (int)r->n_prompt, (int)r->n_gen, r->test, r->test_time,
           r->avg_ns, r->stddev_ns, r->avg_ts, r->stddev_ts, r->median_ts);
    putchar('"');
    for (int k = 0; k < r->reps; k++)
      printf("%s%.0f", k ? ";" : "", r->samples_ns[k]);
    printf("\",\"");
    for (int k = 0; k < r->reps; k++)
      printf("%s%.6f", k ? ";" : "", r->samples_ts[k]);
    printf("\",%.3f,%llu,%.0f,%.0f,%.0f,%.0f,%.2f,%.0f,%llu,%llu,%llu,%d\n",
           r->ttft_ms, (unsigned long long)r->weight_bytes, r->eff_bw,
           r->bw_before, r->bw_after, r->bw_mean, r->bw_pct, r->weights_bw,
           (unsigned long long)r->peak_rss, (unsigned long long)r->file_size,
           (unsigned long long)r->state_bytes, (int)r->n_ctx);
  }
}

static int print_json(const rows *rs, const char *cpu, const char *feat) {
  cJSON *arr = cJSON_CreateArray();
  if (!arr) return -1;
  for (int i = 0; i < rs->n; i++) {
    const row *r = &rs->r[i];
    cJSON *o = cJSON_CreateObject();
    if (!o) goto oom;
    cJSON_AddItemToArray(arr, o);
    cJSON_AddStringToObject(o, "build_commit", NB_BUILD_COMMIT);
    cJSON_AddStringToObject(o, "cpu_info", cpu);
    cJSON_AddStringToObject(o, "cpu_features", feat);
    cJSON_AddStringToObject(o, "backends", "CPU");
    cJSON_AddStringToObject(o, "model_filename", r->model_filename);
    cJSON_AddStringToObject(o, "model_type", r->model_type);
    cJSON_AddNumberToObject(o, "model_size", (double)r->model_size);
    cJSON_AddNumberToObject(o, "model_n_params", (double)r->model_n_params);
    cJSON_AddNumberToObject(o, "n_threads", r->n_threads);
    cJSON_AddStringToObject(o, "type_k", strcmp(r->act, "f32") ? "f16" : "f32");
    cJSON_AddStringToObject(o, "type_v", strcmp(r->act, "f32") ? "f16" : "f32");
    cJSON_AddBoolToObject(o, "use_mmap", 1);
    cJSON_AddStringToObject(o, "act", r->act);
    cJSON_AddStringToObject(o, "kernels", r->kernels);
    cJSON_AddNumberToObject(o, "n_prompt", r->n_prompt);
    cJSON_AddNumberToObject(o, "n_gen", r->n_gen);
    cJSON_AddNumberToObject(o, "n_ctx", r->n_ctx);
    cJSON_AddStringToObject(o, "test", r->test);
    cJSON_AddStringToObject(o, "test_time", r->test_time);
    cJSON_AddNumberToObject(o, "avg_ns", r->avg_ns);
    cJSON_AddNumberToObject(o, "stddev_ns", r->stddev_ns);
    cJSON_AddNumberToObject(o, "avg_ts", r->avg_ts);
    cJSON_AddNumberToObject(o, "stddev_ts", r->stddev_ts);
    cJSON_AddNumberToObject(o, "median_ts", r->median_ts);
    cJSON *sn = cJSON_CreateDoubleArray(r->samples_ns, r->reps);
    cJSON *st = cJSON_CreateDoubleArray(r->samples_ts, r->reps);
    if (!sn || !st) {
      cJSON_Delete(sn);
      cJSON_Delete(st);
      goto oom;
    }
    cJSON_AddItemToObject(o, "samples_ns", sn);
    cJSON_AddItemToObject(o, "samples_ts", st);
    cJSON_AddNumberToObject(o, "ttft_ms", r->ttft_ms);
    cJSON_AddNumberToObject(o, "weight_bytes_per_token", (double)r->weight_bytes);
    cJSON_AddNumberToObject(o, "eff_weight_bw", r->eff_bw);
    cJSON_AddNumberToObject(o, "mem_bw_before", r->bw_before);
    cJSON_AddNumberToObject(o, "mem_bw_after", r->bw_after);
    cJSON_AddNumberToObject(o, "mem_bw", r->bw_mean);
    cJSON_AddNumberToObject(o, "bw_pct", r->bw_pct);
    cJSON_AddNumberToObject(o, "weights_read_bw", r->weights_bw);
    cJSON_AddNumberToObject(o, "peak_rss", (double)r->peak_rss);
    cJSON_AddNumberToObject(o, "file_size", (double)r->file_size);
    cJSON_AddNumberToObject(o, "state_bytes", (double)r->state_bytes);
  }
  char *s = cJSON_Print(arr);
  cJSON_Delete(arr);
  if (!s) return -1;
  printf("%s\n", s);
  cJSON_free(s);
  return 0;
oom:
  cJSON_Delete(arr);
  return -1;
}

/* ------------------------------------------------------------- driver */

static int32_t list_max(const ilist *l) {
  int32_t m = 0;
  for (int i = 0; i < l->n; i++) m = l->v[i] > m ? l->v[i] : m;
  return m;
}

/* Runs every (act, kernels) context and test for one model and thread
 * count, appending rows. Returns 0, or 1 if some context or test failed
 * (reported on stderr; the others still run). */
static int bench_group(nb_model *m, const row *base, int32_t threads,
                       const int32_t *tok, const opts *o, rows *rs) {
  const nb_hparams *hp = nb_model_hparams(m);
  int status = 0;
  int32_t n_ctx = list_max(&o->p) > list_max(&o->n) ? list_max(&o->p)
                                                     : list_max(&o->n);
  if (n_ctx < 1) n_ctx = 1;
  if (n_ctx > hp->n_ctx_train) {
    fprintf(stderr, "nibble bench: %s: %d tokens exceed the model's context "
            "of %d\n", base->model_filename, (int)n_ctx,
            (int)hp->n_ctx_train);
    return 1;
  }
  for (int a = 0; a < o->acts.n; a++) {
    for (int k = 0; k < o->kernels.n; k++) {
      nb_ctx_params cp;
      nb_ctx_params_default(&cp);
      cp.n_ctx = n_ctx;
      cp.act = nb_act_from_name(o->acts.v[a]);
      cp.n_threads = threads;
      cp.kernels = o->kernels.v[k];
      nb_err err = {0};
      nb_ctx *c = NULL;
      bool reset = nb_peak_rss_reset();
      (void)reset;
      if (nb_ctx_new(&c, m, &cp, &err) < 0) {
        nb_cli_fail("bench", &err);
        status = 1;
        continue;
      }
      int first = rs->n;
      int32_t *tests[2] = {(int32_t *)o->p.v, (int32_t *)o->n.v};
      int counts[2] = {o->p.n, o->n.n};
      for (int kind = 0; kind < 2; kind++) {
        for (int i = 0; i < counts[kind]; i++) {
          int32_t len = tests[kind][i];
          if (len <= 0) continue;
          row *r = rows_add(rs);
          if (!r) {
            fprintf(stderr, "nibble bench: out of memory\n");
            nb_ctx_free(c);
            return 1;
          }
          *r = *base;
          r->n_threads = threads;
          r->n_ctx = n_ctx;
          r->n_prompt = kind == 0 ? len : 0;
          r->n_gen = kind == 1 ? len : 0;
          snprintf(r->act, sizeof r->act, "%s", nb_act_name(cp.act));
          snprintf(r->kernels, sizeof r->kernels, "%s", nb_ctx_kernels(c));
          snprintf(r->test, sizeof r->test, "%s%d", kind ? "tg" : "pp",
                   (int)len);
          r->state_bytes = nb_model_state_bytes(m, n_ctx, cp.act);
          iso_time(r->test_time, sizeof r->test_time);
          fprintf(stderr, "bench: %s %s t=%d act=%s kernels=%s ...\n",
                  r->model_type, r->test, (int)threads, r->act, r->kernels);
          if (run_test(c, tok, r->n_prompt, r->n_gen, o, r, &err) < 0) {
            nb_cli_fail("bench", &err);
            rs->n--;
            status = 1;
            continue;
          }
          if (r->n_gen > 0) r->eff_bw = (double)r->weight_bytes * r->avg_ts;
          fprintf(stderr, "bench:   %.2f ± %.2f t/s\n", r->avg_ts,
                  r->stddev_ts);
        }
      }
      uint64_t peak = nb_peak_rss();
      for (int i = first; i < rs->n; i++) rs->r[i].peak_rss = peak;
      nb_ctx_free(c);
    }
  }
  return status;
}

int nb_cli_bench(int argc, char **argv) {
  opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc) {
    for (int i = 0; i < o.n_list_buf; i++) nb_free(o.list_buf[i]);
    return rc < 0 ? 0 : rc;
  }
  int status = 0;
  rows rs = {0};
  char cpu[256];
  cpu_name(cpu, sizeof cpu);
  const char *feat = nb_cpu_features();
  int32_t max_tok = list_max(&o.p) > list_max(&o.n) ? list_max(&o.p)
                                                    : list_max(&o.n);
  int32_t *tok = nb_malloc(((size_t)max_tok + 1) * sizeof *tok);
  if (!tok) {
    status = nb_cli_failf("bench", "out of memory");
    goto out;
  }
  for (int mi = 0; mi < o.n_models; mi++) {
    nb_err err = {0};
    nb_model *m = NULL;
    fprintf(stderr, "bench: loading %s\n", o.models[mi]);
    if (nb_model_load(&m, o.models[mi], &err) < 0) {
      status = nb_cli_fail("bench", &err);
      continue;
    }
    /* The same random ids for every test of this model. */
    uint64_t s = o.seed * 0x9e3779b97f4a7c15ull + 1;
    int32_t nv = nb_model_hparams(m)->n_vocab;
    for (int32_t i = 0; i <= max_tok; i++)
      tok[i] = (int32_t)(xorshift(&s) % (uint64_t)nv);
    row base;
    memset(&base, 0, sizeof base);
    snprintf(base.model_filename, sizeof base.model_filename, "%s",
             o.models[mi]);
    model_type(m, base.model_type, sizeof base.model_type);
    base.model_size = tensor_bytes(m);
    base.model_n_params = nb_model_n_params(m);
    base.file_size = nb_gguf_file_size(nb_model_gguf(m));
    base.weight_bytes = nb_model_weight_bytes(m);
    for (int ti = 0; ti < o.t.n; ti++) {
      int32_t threads = o.t.v[ti];
      int first = rs.n;
      double before = probe(&o, threads, "before");
      if (bench_group(m, &base, threads, tok, &o, &rs)) status = 1;
      double after = probe(&o, threads, "after");
      double wbw = probe_weights(&o, m, threads);
      for (int i = first; i < rs.n; i++) {
        row *r = &rs.r[i];
        r->bw_before = before;
        r->bw_after = after;
        r->weights_bw = wbw;
        r->bw_mean = before > 0 && after > 0 ? 0.5 * (before + after) : 0;
        if (r->bw_mean > 0 && r->n_gen > 0)
          r->bw_pct = 100.0 * r->eff_bw / r->bw_mean;
      }
    }
    nb_model_free(m);
  }
  switch (o.fmt) {
    case OUT_MD: print_md(&rs, cpu, feat); break;
    case OUT_CSV: print_csv(&rs, cpu); break;
    case OUT_JSON:
      if (print_json(&rs, cpu, feat) < 0)
        status = nb_cli_failf("bench", "out of memory");
      break;
  }
  fflush(stdout);
out:
  nb_free(tok);
  nb_free(rs.r);
  for (int i = 0; i < o.n_list_buf; i++) nb_free(o.list_buf[i]);
  return status;
}
