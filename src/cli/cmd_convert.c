/* cmd_convert.c: placeholder until the convert command lands (owned by its module). */
#include "cli.h"

int nb_cli_convert(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return nb_cli_failf("convert", "not built yet");
}
