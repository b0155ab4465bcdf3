#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and builds gdn into ./build:
#   1. installs the Debian packages gdn needs (skipped when they are already there),
#   2. configures with CMake (the CUDA plugin too when nvcc is found),
#   3. builds everything.
# Environment: BUILD_DIR (default build), BUILD_TYPE (default Release), GDN_CMAKE_ARGS (extra).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config ccache clang clang-format libtbb-dev libboost-dev catch2 nlohmann-json3-dev hipcc libamdhip64-dev rocm-device-libs)
# The Python package (python/) and its tests: for /usr/bin/python3, Debian's own interpreter.
packages+=(python3-dev pybind11-dev libdlpack-dev python3-numpy python3-pytest python3-torch)
# The offline pip install of docs/python.md (python/tests/pip_check.sh, run by .ci/run).
packages+=(python3-venv python3-pip python3-setuptools python3-wheel)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "setup: run as root to install packages" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# CUDA is optional: the plugin is built when a CUDA compiler is there (it needs no GPU to build).
if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi

# ccache makes a rebuild (a second build tree, a second clone) cheap. Paths under the checkout are
# hashed relative to it, so two clones of the same commit share their objects.
launchers=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  launchers=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi

build=${BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "${launchers[@]}" ${GDN_CMAKE_ARGS:-}
cmake --build "$build" -j "$(nproc)"
echo "setup: built into $build (gdn: $build/bin/gdn)"
