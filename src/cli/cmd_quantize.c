/*
 * cmd_quantize.c: `nibble quantize IN.gguf OUT.gguf TYPE [--output-type T]
 * [--embd-type T] [-t N] [--quiet]`.
 *
 * stdout: one report line per tensor (as it is done), then the totals line;
 * with --quiet only the totals line. stderr: a progress bar when stderr is
 * a terminal (and not --quiet), error messages. Exit 0 on success, 1 on an
 * error (nothing is left at OUT: the library writes atomically), 2 on a
 * usage error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: nibble quantize IN.gguf OUT.gguf TYPE [options]\n"
          "  TYPE               q8_0, q4_0, f16, bf16 or f32: the type of the\n"
          "                     weight matrices (names ending in .weight, 2-D+)\n"
          "  --output-type T    type of output.weight (default: q8_0 when TYPE\n"
          "                     is q4_0, as llama.cpp does; else TYPE)\n"
          "  --embd-type T      type of token_embd.weight (default: TYPE)\n"
          "  -t N               threads (default: physical cores; the output\n"
          "                     does not depend on it)\n"
          "  --quiet            print only the totals line\n"
          "Norm vectors stay as they are (f32). A matrix whose rows are not a\n"
          "multiple of the type's block (32) falls back to f16 (marked *).\n");
}

typedef struct qstate {
  bool quiet, bar;
  int header_done;
  /* totals */
  double in_bytes, out_bytes, n_elems;      /* all tensors */
  double w_out_bytes, w_elems;              /* weight matrices (n_dims>=2) */
  int n_fallback, n_requant;
} qstate;

static double elems(const nb_quant_report *r) {
  double n = 1;
  for (uint32_t d = 0; d < r->n_dims; d++) n *= (double)r->ne[d];
  return n;
}

static void bar_draw(const nb_quant_report *r) {
  const int width = 30;
  const int64_t done = r->index + 1;
  const int fill = r->count > 0 ? (int)(done * width / r->count) : width;
  fprintf(stderr, "\r[");
  for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
  fprintf(stderr, "] %lld/%lld %.40s\033[K", (long long)done,
          (long long)r->count, r->name);
  fflush(stderr);
}

static void on_tensor(void *ud, const nb_quant_report *r) {
  qstate *s = ud;
  const double n = elems(r);
  s->in_bytes += (double)r->old_bytes;
  s->out_bytes += (double)r->new_bytes;
  s->n_elems += n;
  if (r->n_dims >= 2) {
    s->w_out_bytes += (double)r->new_bytes;
    s->w_elems += n;
  }
  s->n_fallback += r->fallback;
  s->n_requant += r->requantized;
  if (s->quiet) return;

  if (s->bar) fprintf(stderr, "\r\033[K"); /* the table line goes first */
  if (!s->header_done) {
    printf("%-28s %-16s %-14s %10s %10s %10s %10s %8s\n", "tensor", "shape",
           "type", "KiB before", "KiB after", "RMSE", "max err", "SNR dB");
    s->header_done = 1;
  }
  char shape[64];
  int off = 0;
  for (uint32_t d = 0; d < r->n_dims && off < (int)sizeof shape; d++)
    off += snprintf(shape + off, sizeof shape - (size_t)off, "%s%lld",
                    d ? " x " : "", (long long)r->ne[d]);
  char types[40];
  snprintf(types, sizeof types, "%s -> %s%s", nb_type_name(r->old_type),
           nb_type_name(r->new_type),
           r->fallback ? " *" : r->requantized ? " r" : "");
  char snr[16];
  if (isinf(r->snr_db))
    snprintf(snr, sizeof snr, "exact");
  else
    snprintf(snr, sizeof snr, "%.2f", r->snr_db);
  printf("%-28s %-16s %-14s %10.1f %10.1f %10.3e %10.3e %8s\n", r->name,
         shape, types, (double)r->old_bytes / 1024.0,
         (double)r->new_bytes / 1024.0, r->rmse, r->max_abs_err, snr);
  fflush(stdout);
  if (s->bar) bar_draw(r);
}

static int parse_type(const char *s, const char *what, int *out) {
  int t = nb_type_from_name(s);
  if (t < 0)
    return nb_cli_failf("quantize",
                        "%s '%s' is not a type nibble quantizes to (q8_0, "
                        "q4_0, f16, bf16, f32)",
                        what, s);
  *out = t;
  return 0;
}

int nb_cli_quantize(int argc, char **argv) {
  const char *pos[3];
  int n_pos = 0;
  const char *out_type_s = NULL, *embd_type_s = NULL;
  int32_t n_threads = 0;
  qstate st;
  memset(&st, 0, sizeof st);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
      st.quiet = true;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
      char *end = NULL;
      long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
      if (i + 1 >= argc || *end != '\0' || v < 1 || v > 1024) {
        fprintf(stderr, "nibble quantize: %s needs a thread count 1..1024\n",
                a);
        return 2;
      }
      n_threads = (int32_t)v;
      i++;
    } else if (!strcmp(a, "--output-type") || !strcmp(a, "--embd-type")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "nibble quantize: %s needs a type\n", a);
        usage(stderr);
        return 2;
      }
      if (!strcmp(a, "--output-type"))
        out_type_s = argv[++i];
      else
        embd_type_s = argv[++i];
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "nibble quantize: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    } else if (n_pos < 3) {
      pos[n_pos++] = a;
    } else {
      fprintf(stderr, "nibble quantize: unexpected argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (n_pos != 3) {
    fprintf(stderr, "nibble quantize: expected IN.gguf OUT.gguf TYPE\n");
    usage(stderr);
    return 2;
  }

  int type = 0;
  if (parse_type(pos[2], "TYPE", &type)) return 1;
  nb_quant_params p;
  nb_quant_params_default(&p, (uint32_t)type);
  p.n_threads = n_threads;
  if (out_type_s && parse_type(out_type_s, "--output-type", &p.output_type))
    return 1;
  if (embd_type_s && parse_type(embd_type_s, "--embd-type", &p.embd_type))
    return 1;

  st.bar = !st.quiet && isatty(STDERR_FILENO);
  nb_err err;
  memset(&err, 0, sizeof err);
  int rc = nb_quantize_file(pos[0], pos[1], &p, on_tensor, &st, &err);
  if (st.bar) fprintf(stderr, "\r\033[K");
  if (rc < 0) return nb_cli_fail("quantize", &err);

  struct stat si, so;
  const bool sizes = stat(pos[0], &si) == 0 && stat(pos[1], &so) == 0;
  const double mib = 1024.0 * 1024.0;
  if (!st.quiet)
    printf("(* = fallback to %s: rows not a multiple of the block; "
           "r = requantized from a quantized input)\n",
           nb_type_name(p.fallback_type));
  printf("total: tensors %.2f MiB -> %.2f MiB, ratio %.2fx", st.in_bytes / mib,
         st.out_bytes / mib,
         st.out_bytes > 0 ? st.in_bytes / st.out_bytes : 0.0);
  if (sizes)
    printf(", file %.2f MiB -> %.2f MiB", (double)si.st_size / mib,
           (double)so.st_size / mib);
  printf(", bits/weight %.3f (weight matrices) %.3f (all), %d fallback%s\n",
         st.w_elems > 0 ? 8.0 * st.w_out_bytes / st.w_elems : 0.0,
         st.n_elems > 0 ? 8.0 * st.out_bytes / st.n_elems : 0.0,
         st.n_fallback, st.n_requant ? ", some requantized" : "");
  return 0;
}
