#!/usr/bin/env bash
# setup.sh: the first of the two set-up commands. Installs the Debian
# packages, builds nibble (release, optimised) in build/, prepares the
# default model in models/ and runs the main job: a story from stories260K.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/deps.sh
nb_install_deps

if [ -d build ]; then
  meson setup --reconfigure build --buildtype=release
else
  meson setup build --buildtype=release
fi
ninja -C build
scripts/prepare-models.sh
build/nibble run -m models/stories260K.gguf -p "Once upon a time" -n 200
