/* main.c: `nibble <command> [options]`: dispatch to the subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} command;

static const command commands[] = {
    {"chat", nb_cli_chat, "chat with a model in the terminal"},
    {"run", nb_cli_run, "generate from a prompt or a file of prompts"},
    {"bench", nb_cli_bench, "measure prompt and generation speed"},
    {"convert", nb_cli_convert, "convert a llama2.c checkpoint to GGUF"},
    {"quantize", nb_cli_quantize, "quantize a GGUF model (q8_0, q4_0, f16)"},
    {"perplexity", nb_cli_perplexity, "perplexity of a model on a text file"},
    {"info", nb_cli_info, "validate a model and describe it"},
};

static void usage(FILE *f) {
  fprintf(f, "nibble %s: run quantized language models on a CPU\n\n",
          NB_VERSION_STRING);
  fprintf(f, "usage: nibble <command> [options]   (nibble <command> -h)\n\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
}

int nb_cli_fail(const char *cmd, const nb_err *err) {
  fprintf(stderr, "nibble %s: error: %s (%s)\n", cmd, err->msg,
          nb_errname(err->code));
  return 1;
}

int nb_cli_failf(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "nibble %s: error: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
      !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("nibble %s\n", NB_VERSION_STRING);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name))
      return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "nibble: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
