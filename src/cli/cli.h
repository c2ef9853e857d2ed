/*
 * cli.h: the `nibble` front end. Each subcommand is one file cmd_<name>.c with
 * one entry point; it parses flags, calls the library, prints. Exit status:
 * 0 success, 1 failure (message on stderr), 2 usage error.
 */
#ifndef NB_CLI_H
#define NB_CLI_H

#include "nibble.h"

int nb_cli_convert(int argc, char **argv);
int nb_cli_quantize(int argc, char **argv);
int nb_cli_info(int argc, char **argv);
int nb_cli_run(int argc, char **argv);
int nb_cli_chat(int argc, char **argv);
int nb_cli_bench(int argc, char **argv);
int nb_cli_perplexity(int argc, char **argv);

/* Prints "nibble <cmd>: <msg>" for an nb_err to stderr; returns 1. */
int nb_cli_fail(const char *cmd, const nb_err *err);
/* Prints a formatted error to stderr; returns 1. */
int nb_cli_failf(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
