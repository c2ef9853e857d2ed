/* cmd_info.c: placeholder until the info command lands (owned by its module). */
#include "cli.h"

int nb_cli_info(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return nb_cli_failf("info", "not built yet");
}
