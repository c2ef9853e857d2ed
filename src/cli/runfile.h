/*
 * runfile.h: `nibble run -f PROMPTS`, a batch of prompts from a file
 * (formats in promptfile.h). Each prompt starts from a fresh context: a
 * shared system prompt (-sys) is evaluated once and the cache is truncated
 * back to it before each prompt. Output is text (a "=== id ===" header, then
 * the prompt and its continuation) or, with -o jsonl, one JSON record per
 * prompt:
 *   {"id", "prompt", "output", "prompt_tokens", "generated_tokens",
 *    "tok_per_s", "stop_reason", "error"}
 * stop_reason is "eos", "length", "context", "canceled" or "error"; error is
 * null or a message. A bad prompt gets an error record and the run goes on;
 * the exit status is 1 when any prompt failed.
 */
#ifndef NB_CLI_RUNFILE_H
#define NB_CLI_RUNFILE_H

/* argv as given to `nibble run` (argv[0] == "run"); it must contain -f. */
int nb_cli_run_file(int argc, char **argv);
/* True when argv asks for a prompt file (has "-f"/"--file"). */
int nb_cli_run_has_file(int argc, char **argv);

#endif
