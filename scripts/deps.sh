# deps.sh: the Debian packages nibble needs, in one place (sourced by
# setup.sh and .ci/run).
NB_DEPS_BUILD="gcc g++ meson ninja-build pkg-config libsentencepiece-dev libuv1-dev libmimalloc-dev check libcjson-dev libsimde-dev curl ca-certificates git"
# Cross toolchain + emulator for the NEON kernel tests (run under qemu-user);
# Check for arm64 from Debian multiarch (needs the arm64 architecture added
# before the one apt-get update).
NB_DEPS_TEST="gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user check:arm64 tmux"
NB_DEPS="$NB_DEPS_BUILD $NB_DEPS_TEST"

# nb_install_deps: installs whatever of $NB_DEPS is missing (apt-get update
# once, then apt-get install -y). Uses sudo when not root.
nb_install_deps() {
  local missing="" p
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  case " $NB_DEPS " in
    *:arm64*)
      dpkg --print-foreign-architectures | grep -qx arm64 ||
        $sudo dpkg --add-architecture arm64 ;;
  esac
  for p in $NB_DEPS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  echo "setup: installing:$missing"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
}
