/*
 * cpu.h: what the CPU and the OS let us run. Detection asks the hardware
 * (cpuid, xgetbv on x86-64; the kernel's AT_HWCAP on aarch64) every time it is
 * called; it is cheap and keeps the library free of mutable globals.
 */
#ifndef NB_CPU_H
#define NB_CPU_H

#include <stdbool.h>

typedef struct nb__cpu {
  /* x86-64: instruction bits AND the OS saving the register state
   * (XCR0: YMM for AVX*, ZMM/opmask for AVX-512). */
  bool avx, avx2, fma, f16c, avxvnni;
  bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni;
  /* aarch64 (AT_HWCAP) */
  bool asimd, asimddp, fphp;
} nb__cpu;

void nb__cpu_detect(nb__cpu *c);

/* Kernel sets built into this binary (compile time) and runnable on this
 * CPU (run time). */
bool nb__cpu_runs_avx2(const nb__cpu *c);
bool nb__cpu_runs_avxvnni(const nb__cpu *c);
bool nb__cpu_runs_avx512(const nb__cpu *c);
bool nb__cpu_runs_neon(const nb__cpu *c);

#endif /* NB_CPU_H */
