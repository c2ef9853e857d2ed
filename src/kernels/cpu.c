/*
 * cpu.c: CPU feature detection and the public "system" queries about it
 * (nb_cpu_features, nb_kernels_best, nb_kernels_available,
 * nb_cpu_physical_cores).
 */
#include "cpu.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "nb_internal.h"
#include "nb_isa_config.h"

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

#if defined(__x86_64__)
/* XCR0 via xgetbv; written as inline asm so this file needs no -mxsave. */
static uint64_t nb__xgetbv0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}
#endif

void nb__cpu_detect(nb__cpu *c) {
  memset(c, 0, sizeof *c);
#if defined(__x86_64__)
  unsigned a, b, cx, d;
  if (!__get_cpuid(1, &a, &b, &cx, &d)) return;
  bool osxsave = (cx >> 27) & 1u;
  bool avx = (cx >> 28) & 1u;
  bool fma = (cx >> 12) & 1u;
  bool f16c = (cx >> 29) & 1u;
  uint64_t xcr0 = osxsave ? nb__xgetbv0() : 0;
  /* bits 1,2: SSE and AVX (YMM upper) state; 5,6,7: opmask, ZMM0-15 upper
   * halves, ZMM16-31. Without them the OS does not save the registers and
   * the instructions fault, whatever cpuid says. */
  bool os_ymm = (xcr0 & 0x6u) == 0x6u;
  bool os_zmm = os_ymm && (xcr0 & 0xe0u) == 0xe0u;
  c->avx = avx && os_ymm;
  c->fma = fma && c->avx;
  c->f16c = f16c && c->avx;
  unsigned max_leaf = __get_cpuid_max(0, NULL);
  if (max_leaf >= 7 && __get_cpuid_count(7, 0, &a, &b, &cx, &d)) {
    c->avx2 = ((b >> 5) & 1u) && c->avx;
    c->avx512f = ((b >> 16) & 1u) && os_zmm;
    c->avx512dq = ((b >> 17) & 1u) && os_zmm;
    c->avx512bw = ((b >> 30) & 1u) && os_zmm;
    c->avx512vl = ((b >> 31) & 1u) && os_zmm;
    c->avx512vnni = ((cx >> 11) & 1u) && os_zmm;
  }
  /* leaf 7 subleaf 1, EAX bit 4: AVX-VNNI (VEX vpdpbusd / vpdpwssd on
   * YMM) */
  if (max_leaf >= 7 && __get_cpuid_count(7, 1, &a, &b, &cx, &d))
    c->avxvnni = ((a >> 4) & 1u) && c->avx;
#elif defined(__aarch64__)
  unsigned long hw = getauxval(AT_HWCAP);
  /* bit numbers from the kernel's uapi asm/hwcap.h */
  c->asimd = (hw >> 1) & 1ul;
  c->fphp = (hw >> 9) & 1ul;
  c->asimddp = (hw >> 20) & 1ul;
#endif
}

bool nb__cpu_runs_avx2(const nb__cpu *c) {
  return NB_HAVE_AVX2 && c->avx2 && c->fma && c->f16c;
}

/* The avx512 set is built with F/BW/VL/DQ/VNNI and needs all of them
 * (Ice Lake, Zen 4 and later); older AVX-512 parts fall back to avx2. */
bool nb__cpu_runs_avx512(const nb__cpu *c) {
  return NB_HAVE_AVX512 && nb__cpu_runs_avx2(c) && c->avx512f &&
         c->avx512bw && c->avx512vl && c->avx512dq && c->avx512vnni;
}

/* The avxvnni set is avx2.c built with -mavxvnni: AVX2's needs plus
 * AVX-VNNI (Intel Alder Lake and later, AMD Zen 5). */
bool nb__cpu_runs_avxvnni(const nb__cpu *c) {
  return NB_HAVE_AVXVNNI && nb__cpu_runs_avx2(c) && c->avxvnni;
}

bool nb__cpu_runs_neon(const nb__cpu *c) { return NB_HAVE_NEON && c->asimd; }

/* The feature string is built once (pthread_once) and never changes after:
 * read-only state, so it is shared safely by every thread and handle. */
static char nb__features_buf[256];
static pthread_once_t nb__features_once = PTHREAD_ONCE_INIT;

static void nb__features_build(void) {
  nb__cpu c;
  nb__cpu_detect(&c);
  struct {
    bool on;
    const char *name;
  } f[] = {
      {c.avx, "avx"},           {c.avx2, "avx2"},
      {c.fma, "fma"},           {c.f16c, "f16c"},
      {c.avxvnni, "avxvnni"},
      {c.avx512f, "avx512f"},   {c.avx512bw, "avx512bw"},
      {c.avx512vl, "avx512vl"}, {c.avx512dq, "avx512dq"},
      {c.avx512vnni, "avx512vnni"}, {c.asimd, "asimd"},
      {c.asimddp, "asimddp"},   {c.fphp, "fphp"},
  };
  size_t n = 0;
  nb__features_buf[0] = '\0';
  for (size_t i = 0; i < NB__ARRAY_LEN(f); i++) {
    if (!f[i].on) continue;
    int w = snprintf(nb__features_buf + n, sizeof nb__features_buf - n,
                     "%s%s", n ? " " : "", f[i].name);
    if (w < 0 || (size_t)w >= sizeof nb__features_buf - n) break;
    n += (size_t)w;
  }
}

const char *nb_cpu_features(void) {
  pthread_once(&nb__features_once, nb__features_build);
  return nb__features_buf;
}

const char *nb_kernels_best(void) {
  nb__cpu c;
  nb__cpu_detect(&c);
  if (nb__cpu_runs_avx512(&c)) return "avx512";
  if (nb__cpu_runs_avxvnni(&c)) return "avxvnni";
  if (nb__cpu_runs_avx2(&c)) return "avx2";
  if (nb__cpu_runs_neon(&c)) return "neon";
  return "scalar";
}

bool nb_kernels_available(const char *name) {
  if (!name) return false;
  nb__cpu c;
  nb__cpu_detect(&c);
  if (!strcmp(name, "scalar")) return true;
  if (!strcmp(name, "avx2")) return nb__cpu_runs_avx2(&c);
  if (!strcmp(name, "avxvnni")) return nb__cpu_runs_avxvnni(&c);
  if (!strcmp(name, "avx512")) return nb__cpu_runs_avx512(&c);
  if (!strcmp(name, "neon")) return nb__cpu_runs_neon(&c);
  return false;
}

/* Reads one small integer from a sysfs file; -1 on failure. */
static long nb__read_long(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long v = -1;
  if (fscanf(f, "%ld", &v) != 1) v = -1;
  fclose(f);
  return v;
}

/* Physical cores = distinct (package, core) pairs over the online CPUs in
 * /sys/devices/system/cpu/cpuN/topology; SMT siblings share a pair. Falls
 * back to the online CPU count when sysfs is not readable (containers). */
int32_t nb_cpu_physical_cores(void) {
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  if (online < 1) online = 1;
  int32_t fallback = online > INT32_MAX ? INT32_MAX : (int32_t)online;
  DIR *dir = opendir("/sys/devices/system/cpu");
  if (!dir) return fallback;
  size_t cap = 64, n = 0;
  int64_t *keys = nb_malloc(cap * sizeof *keys); /* (package << 32) | core */
  if (!keys) {
    closedir(dir);
    return fallback;
  }
  struct dirent *de;
  char path[320];
  while ((de = readdir(dir)) != NULL) {
    unsigned id;
    char tail;
    if (sscanf(de->d_name, "cpu%u%c", &id, &tail) != 1) continue;
    snprintf(path, sizeof path,
             "/sys/devices/system/cpu/cpu%u/topology/core_id", id);
    long core = nb__read_long(path);
    snprintf(path, sizeof path,
             "/sys/devices/system/cpu/cpu%u/topology/physical_package_id",
             id);
    long pkg = nb__read_long(path);
    if (core < 0 || pkg < 0) continue; /* offline or no topology */
    int64_t key = ((int64_t)pkg << 32) | (int64_t)(uint32_t)core;
    bool seen = false;
    for (size_t i = 0; i < n && !seen; i++) seen = keys[i] == key;
    if (seen) continue;
    if (n == cap) {
      int64_t *nk = nb_realloc(keys, 2 * cap * sizeof *keys);
      if (!nk) break;
      keys = nk;
      cap *= 2;
    }
    keys[n++] = key;
  }
  closedir(dir);
  nb_free(keys);
  if (n == 0 || (long)n > online) return fallback;
  return (int32_t)n;
}
