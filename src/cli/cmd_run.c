/* cmd_run.c: placeholder until the run command lands (owned by its module). */
#include "cli.h"

int nb_cli_run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return nb_cli_failf("run", "not built yet");
}
