/* cmd_chat.c: placeholder until the chat command lands (owned by its module). */
#include "cli.h"

int nb_cli_chat(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return nb_cli_failf("chat", "not built yet");
}
