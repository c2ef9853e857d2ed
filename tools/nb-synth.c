/*
 * nb-synth: writes synthetic Llama GGUF models for benchmarks (see synth.h).
 *
 *   nb-synth tinyllama-1.1b q4_0                  -> models/synth/tinyllama-1.1b-q4_0.gguf
 *   nb-synth --dim 256 --ffn 768 --layers 2 --heads 8 --kv-heads 2 \
 *            --vocab 512 --type q8_0 -o /tmp/small.gguf
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nb_internal.h"
#include "synth.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: nb-synth [SHAPE] [TYPE] [options]\n"
          "  SHAPE (or --shape):");
  for (const char *const *n = nb__synth_shape_names(); *n; n++)
    fprintf(f, " %s", *n);
  fprintf(f,
          "\n  TYPE (or --type): f16, q8_0, q4_0 (default q4_0)\n"
          "  --dim N --ffn N --layers N --heads N --kv-heads N --vocab N\n"
          "  --ctx N --rope-base X   custom shape, or override the named one\n"
          "  --vocab-from FILE  copy the tokenizer.ggml.* vocabulary of a "
          "GGUF\n"
          "  --seed N (default 1)  --std X (default 0.02)\n"
          "  -t N  threads (default: physical cores)\n"
          "  -o FILE  (default models/synth/<shape>-<type>.gguf)\n"
          "  -q  no progress\n");
}

static bool parse_i32(const char *s, int32_t *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < 1 || v > (1L << 30)) return false;
  *out = (int32_t)v;
  return true;
}

static void progress(void *ud, int64_t i, int64_t n, const char *name) {
  (void)ud;
  fprintf(stderr, "\r[%4lld/%4lld] %-32s", (long long)i + 1, (long long)n,
          name);
  if (i + 1 == n) fputc('\n', stderr);
  fflush(stderr);
}

static int mkdir_p(const char *dir) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int main(int argc, char **argv) {
  nb__synth_params p;
  memset(&p, 0, sizeof p);
  p.seed = 1;
  p.std = 0.02f;
  p.type = NB_TYPE_Q4_0;
  p.n_threads = nb_cpu_physical_cores();
  const char *shape_name = NULL, *out = NULL;
  bool quiet = false, custom = false;
  nb__synth_shape s = {"custom", 0, 0, 0, 0, 0, 32000, 2048, 10000.0f, 1e-5f};
  int32_t *fields[] = {&s.dim, &s.ffn, &s.layers, &s.heads,
                       &s.kv_heads, &s.vocab, &s.ctx};
  const char *flags[] = {"--dim", "--ffn", "--layers", "--heads",
                         "--kv-heads", "--vocab", "--ctx"};
  bool set[7] = {false};
  int32_t val7[7] = {0};
  float rope_base = 0.0f;
  const char *type_name = NULL;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "-q")) {
      quiet = true;
      continue;
    }
    if (a[0] != '-') {
      if (nb__synth_shape_find(a) && !shape_name)
        shape_name = a;
      else if (!type_name)
        type_name = a;
      else {
        fprintf(stderr, "nb-synth: unexpected argument '%s'\n", a);
        return 2;
      }
      continue;
    }
    if (!val) {
      fprintf(stderr, "nb-synth: %s needs a value\n", a);
      return 2;
    }
    i++;
    bool ok = true, known = true;
    size_t fi;
    for (fi = 0; fi < NB__ARRAY_LEN(flags); fi++)
      if (!strcmp(a, flags[fi])) break;
    if (fi < NB__ARRAY_LEN(flags)) {
      ok = parse_i32(val, &val7[fi]);
      set[fi] = true;
      custom = true;
    } else if (!strcmp(a, "--shape")) {
      shape_name = val;
    } else if (!strcmp(a, "--type")) {
      type_name = val;
    } else if (!strcmp(a, "--seed")) {
      char *end;
      errno = 0;
      p.seed = strtoull(val, &end, 0);
      ok = !errno && end != val && !*end;
    } else if (!strcmp(a, "--std")) {
      char *end;
      p.std = strtof(val, &end);
      ok = end != val && !*end && p.std > 0;
    } else if (!strcmp(a, "--rope-base")) {
      char *end;
      rope_base = strtof(val, &end);
      ok = end != val && !*end && rope_base > 0;
      custom = true;
    } else if (!strcmp(a, "-t")) {
      ok = parse_i32(val, &p.n_threads);
    } else if (!strcmp(a, "-o")) {
      out = val;
    } else if (!strcmp(a, "--vocab-from")) {
      p.vocab_from = val;
    } else {
      known = false;
    }
    if (!known) {
      fprintf(stderr, "nb-synth: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
    if (!ok) {
      fprintf(stderr, "nb-synth: bad value '%s' for %s\n", val, a);
      return 2;
    }
  }

  if (shape_name) {
    const nb__synth_shape *base = nb__synth_shape_find(shape_name);
    if (!base) {
      fprintf(stderr, "nb-synth: unknown shape '%s'\n", shape_name);
      usage(stderr);
      return 2;
    }
    s = *base;
    if (custom) s.name = "custom";
  } else {
    if (!set[0] || !set[1] || !set[2] || !set[3]) {
      fprintf(stderr, "nb-synth: give a shape name or at least --dim --ffn "
                      "--layers --heads\n");
      usage(stderr);
      return 2;
    }
  }
  for (size_t fi = 0; fi < NB__ARRAY_LEN(flags); fi++)
    if (set[fi]) *fields[fi] = val7[fi];
  if (!shape_name && !set[4]) s.kv_heads = s.heads;
  if (rope_base > 0) s.rope_base = rope_base;
  p.shape = s;

  if (type_name) {
    int t = nb_type_from_name(type_name);
    if (t != NB_TYPE_F16 && t != NB_TYPE_Q8_0 && t != NB_TYPE_Q4_0 &&
        t != NB_TYPE_F32) {
      fprintf(stderr, "nb-synth: type '%s' (want f16, q8_0, q4_0, f32)\n",
              type_name);
      return 2;
    }
    p.type = (uint32_t)t;
  }

  char def[512];
  if (!out) {
    if (mkdir_p("models/synth") != 0) {
      fprintf(stderr, "nb-synth: cannot create models/synth: %s\n",
              strerror(errno));
      return 1;
    }
    snprintf(def, sizeof def, "models/synth/%s-%s.gguf", s.name,
             nb_type_name(p.type));
    out = def;
  }
  if (!quiet) {
    fprintf(stderr,
            "nb-synth: %s: dim %d ffn %d layers %d heads %d/%d vocab %d ctx "
            "%d, %s, seed %llu, %d threads -> %s\n",
            s.name, (int)s.dim, (int)s.ffn, (int)s.layers, (int)s.heads,
            (int)s.kv_heads, (int)s.vocab, (int)s.ctx, nb_type_name(p.type),
            (unsigned long long)p.seed, (int)p.n_threads, out);
    p.progress = progress;
  }
  nb_err err = {0};
  if (nb__synth_write(&p, out, &err) < 0) {
    fprintf(stderr, "nb-synth: error: %s (%s)\n", err.msg,
            nb_errname(err.code));
    return 1;
  }
  if (!quiet) fprintf(stderr, "nb-synth: wrote %s\n", out);
  return 0;
}
