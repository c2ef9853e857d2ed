/* proc_util.c: child processes for the CLI tests (see proc_util.h). */
#include "proc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nibble.h"

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void append(char **b, size_t *len, size_t *cap, const char *s, size_t n) {
  if (*len + n + 1 > *cap) {
    size_t c = *cap ? *cap * 2 : 4096;
    while (c < *len + n + 1) c *= 2;
    *b = nb_realloc(*b, c);
    if (*b == NULL) abort();
    *cap = c;
  }
  memcpy(*b + *len, s, n);
  *len += n;
  (*b)[*len] = '\0';
}

void nbt_pty_spawn(nbt_pty *p, char *const argv[]) {
  memset(p, 0, sizeof *p);
  struct winsize ws = {.ws_row = 24, .ws_col = 80};
  if (openpty(&p->master, &p->slave, NULL, NULL, &ws) != 0) abort();
  tcgetattr(p->slave, &p->initial);
  append(&p->out, &p->len, &p->cap, "", 0);
  fflush(NULL);
  p->pid = fork();
  if (p->pid < 0) abort();
  if (p->pid == 0) {
    close(p->master);
    setsid();
    ioctl(p->slave, TIOCSCTTY, 0);
    dup2(p->slave, 0);
    dup2(p->slave, 1);
    dup2(p->slave, 2);
    if (p->slave > 2) close(p->slave);
    execv(argv[0], argv);
    _exit(127);
  }
  fcntl(p->master, F_SETFL, fcntl(p->master, F_GETFL) | O_NONBLOCK);
}

/* Reads what is available within `ms`; false if the child closed the pty. */
static void read_some(nbt_pty *p, int ms) {
  struct pollfd pf = {.fd = p->master, .events = POLLIN};
  if (poll(&pf, 1, ms) <= 0) return;
  char buf[4096];
  ssize_t n;
  while ((n = read(p->master, buf, sizeof buf)) > 0)
    append(&p->out, &p->len, &p->cap, buf, (size_t)n);
}

static void reap(nbt_pty *p) {
  if (p->exited) return;
  int st;
  if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
    p->exited = true;
    p->status = st;
  }
}

bool nbt_pty_expect(nbt_pty *p, const char *needle, int timeout_ms) {
  long long end = now_ms() + timeout_ms;
  for (;;) {
    const char *f = strstr(p->out + p->mark, needle);
    if (f != NULL) {
      p->mark = (size_t)(f - p->out) + strlen(needle);
      return true;
    }
    long long left = end - now_ms();
    if (left <= 0) return false;
    reap(p);
    if (p->exited) {
      read_some(p, 0);
      if (strstr(p->out + p->mark, needle) == NULL) return false;
      continue;
    }
    read_some(p, left < 50 ? (int)left : 50);
  }
}

void nbt_pty_drain(nbt_pty *p, int ms) {
  long long end = now_ms() + ms;
  while (now_ms() < end) read_some(p, 20);
}

void nbt_pty_send(nbt_pty *p, const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(p->master, s, n);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        read_some(p, 10);
        continue;
      }
      return;
    }
    s += w;
    n -= (size_t)w;
  }
}

bool nbt_pty_wait(nbt_pty *p, int timeout_ms) {
  long long end = now_ms() + timeout_ms;
  while (!p->exited && now_ms() < end) {
    read_some(p, 20);
    reap(p);
  }
  read_some(p, 0);
  if (!p->exited) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &p->status, 0);
    p->exited = true;
    return false;
  }
  return true;
}

void nbt_pty_close(nbt_pty *p) {
  if (!p->exited && p->pid > 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &p->status, 0);
    p->exited = true;
  }
  if (p->master >= 0) close(p->master);
  if (p->slave >= 0) close(p->slave);
  p->master = p->slave = -1;
  nb_free(p->out);
  p->out = NULL;
}

bool nbt_pty_termios_restored(const nbt_pty *p) {
  struct termios t;
  if (tcgetattr(p->slave, &t) != 0) return false;
  const tcflag_t lmask = ICANON | ECHO | ISIG | IEXTEN;
  const tcflag_t imask = ICRNL | IXON;
  return (t.c_lflag & lmask) == (p->initial.c_lflag & lmask) &&
         (t.c_iflag & imask) == (p->initial.c_iflag & imask) &&
         (t.c_oflag & OPOST) == (p->initial.c_oflag & OPOST);
}

int nbt_run(char *const argv[], const char *in, size_t in_len, char **out,
            size_t *out_len, char **err, int timeout_ms, struct rusage *ru) {
  int pin[2], pout[2], perr[2];
  if (pipe(pin) || pipe(pout) || pipe(perr)) abort();
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) abort();
  if (pid == 0) {
    dup2(pin[0], 0);
    dup2(pout[1], 1);
    dup2(perr[1], 2);
    close(pin[0]); close(pin[1]); close(pout[0]); close(pout[1]);
    close(perr[0]); close(perr[1]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(pin[0]);
  close(pout[1]);
  close(perr[1]);
  signal(SIGPIPE, SIG_IGN);
  fcntl(pin[1], F_SETFL, O_NONBLOCK);
  char *ob = NULL, *eb = NULL;
  size_t ol = 0, oc = 0, el = 0, ec = 0, off = 0;
  append(&ob, &ol, &oc, "", 0);
  append(&eb, &el, &ec, "", 0);
  bool in_open = true, out_open = true, err_open = true;
  if (in == NULL || in_len == 0) {
    close(pin[1]);
    in_open = false;
  }
  long long end = now_ms() + timeout_ms;
  int status = 0;
  bool timed_out = false;
  while (out_open || err_open) {
    long long left = end - now_ms();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd pf[3];
    int n = 0, io = -1, iout = -1, ierr = -1;
    if (in_open) { pf[n] = (struct pollfd){pin[1], POLLOUT, 0}; io = n++; }
    if (out_open) { pf[n] = (struct pollfd){pout[0], POLLIN, 0}; iout = n++; }
    if (err_open) { pf[n] = (struct pollfd){perr[0], POLLIN, 0}; ierr = n++; }
    if (poll(pf, (nfds_t)n, left > 100 ? 100 : (int)left) < 0) continue;
    char buf[8192];
    if (io >= 0 && pf[io].revents) {
      ssize_t w = write(pin[1], in + off, in_len - off);
      if (w > 0) off += (size_t)w;
      if (w < 0 && errno != EAGAIN) off = in_len;
      if (off >= in_len) {
        close(pin[1]);
        in_open = false;
      }
    }
    if (iout >= 0 && pf[iout].revents) {
      ssize_t r = read(pout[0], buf, sizeof buf);
      if (r > 0) append(&ob, &ol, &oc, buf, (size_t)r);
      else out_open = false;
    }
    if (ierr >= 0 && pf[ierr].revents) {
      ssize_t r = read(perr[0], buf, sizeof buf);
      if (r > 0) append(&eb, &el, &ec, buf, (size_t)r);
      else err_open = false;
    }
  }
  if (in_open) close(pin[1]);
  close(pout[0]);
  close(perr[0]);
  if (timed_out) kill(pid, SIGKILL);
  struct rusage r0;
  wait4(pid, &status, 0, ru ? ru : &r0);
  if (out) *out = ob; else nb_free(ob);
  if (out_len) *out_len = ol;
  if (err) *err = eb; else nb_free(eb);
  return timed_out ? -1 : status;
}
