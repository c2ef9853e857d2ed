/*
 * rss.c: nb_peak_rss, the high-water mark of this process's resident set
 * (what `nibble bench` reports next to file size + KV bytes, to show that
 * weights are read from the mapping and not copied).
 */
#include <sys/resource.h>

#include "nb_internal.h"

uint64_t nb_peak_rss(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
#if defined(__APPLE__)
  return (uint64_t)ru.ru_maxrss; /* bytes on macOS */
#else
  return (uint64_t)ru.ru_maxrss * 1024u; /* kibibytes on Linux (= VmHWM) */
#endif
}
