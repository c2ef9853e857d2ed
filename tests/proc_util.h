/*
 * proc_util.h: run `nibble` from tests, through a pseudo-terminal (chat) or
 * pipes (run -f, piped chat), always with a deadline so a hang fails the
 * test instead of blocking CI.
 */
#ifndef NB_PROC_UTIL_H
#define NB_PROC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <termios.h>

typedef struct nbt_pty {
  pid_t pid;
  int master, slave;   /* the test keeps the slave open to read termios */
  struct termios initial; /* the terminal's settings before the child ran */
  char *out;           /* everything the child wrote (NUL-terminated) */
  size_t len, cap;
  size_t mark;         /* nbt_pty_expect searches from here */
  int status;          /* wait status once exited */
  bool exited;
} nbt_pty;

/* Starts argv (argv[0] is a path) on a new pty (80x24) with its own session
 * and controlling terminal. */
void nbt_pty_spawn(nbt_pty *p, char *const argv[]);
/* Reads until `needle` appears after the mark (then moves the mark past
 * it) or timeout_ms elapses (returns false). */
bool nbt_pty_expect(nbt_pty *p, const char *needle, int timeout_ms);
/* Reads whatever arrives for `ms` milliseconds. */
void nbt_pty_drain(nbt_pty *p, int ms);
void nbt_pty_send(nbt_pty *p, const char *s);
/* Waits for the child to exit (reading its output meanwhile); kills it and
 * returns false on timeout. */
bool nbt_pty_wait(nbt_pty *p, int timeout_ms);
/* Kills the child if still running; closes both fds; frees the output. */
void nbt_pty_close(nbt_pty *p);
/* True when the pty's settings are back to `initial` (canonical mode, echo,
 * signals, CR/NL translation). */
bool nbt_pty_termios_restored(const nbt_pty *p);

/* Runs argv with `in` on stdin and captures stdout/stderr (nb_malloc'd,
 * NUL-terminated). Returns the wait status, or -1 on timeout (the child is
 * killed). `ru` (may be NULL) receives the child's resource usage. */
int nbt_run(char *const argv[], const char *in, size_t in_len, char **out,
            size_t *out_len, char **err, int timeout_ms, struct rusage *ru);

#endif
