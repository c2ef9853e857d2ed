/* cmd_perplexity.c: placeholder until the perplexity command lands (owned by its module). */
#include "cli.h"

int nb_cli_perplexity(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return nb_cli_failf("perplexity", "not built yet");
}
