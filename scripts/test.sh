#!/usr/bin/env bash
# test.sh: the second set-up command. Runs the whole test suite on the
# release build, then again under AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/), then, on x86-64, the NEON kernel tests cross-compiled for
# aarch64 and run under qemu-user (build-arm64/, -Dkernels_only=true): once
# with qemu's default CPU (asimd + dotprod) and once as a Cortex-A53 (no
# dotprod), so both NEON variants run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -d build ] || meson setup build --buildtype=release
ninja -C build
meson test -C build --print-errorlogs

[ -d build-asan ] || meson setup build-asan --buildtype=debugoptimized \
  -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs

if [ "$(uname -m)" = x86_64 ]; then
  [ -d build-arm64 ] || meson setup build-arm64 --buildtype=release \
    --cross-file scripts/cross/aarch64-linux-gnu.ini -Dkernels_only=true
  ninja -C build-arm64
  # CK_FORK=no: Check's fork-per-test child crawls under qemu-user (minutes
  # instead of seconds); the tests do not need the isolation.
  CK_FORK=no meson test -C build-arm64 --print-errorlogs
  CK_FORK=no QEMU_CPU=cortex-a53 meson test -C build-arm64 kernels \
    --print-errorlogs
fi
