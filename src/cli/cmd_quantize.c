/* cmd_quantize.c: placeholder until the quantize command lands (owned by its module). */
#include "cli.h"

int nb_cli_quantize(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return nb_cli_failf("quantize", "not built yet");
}
