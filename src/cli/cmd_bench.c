/* cmd_bench.c: placeholder until the bench command lands (owned by its module). */
#include "cli.h"

int nb_cli_bench(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return nb_cli_failf("bench", "not built yet");
}
