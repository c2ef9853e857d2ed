/*
 * rss.c: nb_peak_rss, the high-water mark of this process's resident set
 * (what `nibble bench` reports next to file size + KV bytes, to show that
 * weights are read from the mapping and not copied), and nb_peak_rss_reset,
 * so that bench can measure each model on its own, without the read
 * bandwidth probe's buffer or an earlier model.
 *
 * On Linux the mark is VmHWM of /proc/self/status, which writing "5" to
 * /proc/self/clear_refs resets to the current RSS (Linux >= 4.0).
 * getrusage's ru_maxrss is the fallback (it cannot be reset).
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "nb_internal.h"

/* VmHWM in bytes, or 0 when /proc is not readable. */
static uint64_t vm_hwm(void) {
#if defined(__linux__)
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  unsigned long long kb = 0;
  bool found = false;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) {
      found = sscanf(line + 6, "%llu", &kb) == 1;
      break;
    }
  fclose(f);
  return found ? (uint64_t)kb * 1024u : 0;
#else
  return 0;
#endif
}

uint64_t nb_peak_rss(void) {
  uint64_t hwm = vm_hwm();
  if (hwm) return hwm;
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
#if defined(__APPLE__)
  return (uint64_t)ru.ru_maxrss; /* bytes on macOS */
#else
  return (uint64_t)ru.ru_maxrss * 1024u; /* kibibytes on Linux */
#endif
}

bool nb_peak_rss_reset(void) {
#if defined(__linux__)
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  bool ok = fputs("5", f) >= 0;
  ok = (fclose(f) == 0) && ok;
  return ok && vm_hwm() != 0;
#else
  return false;
#endif
}
