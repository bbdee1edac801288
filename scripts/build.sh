#!/usr/bin/env bash
# Configures and builds everything (library, CLI, examples, tests, benchmarks) into BUILD_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
type=${BUILD_TYPE:-RelWithDebInfo}
launcher=()
# ccache (when installed) makes rebuilds in other clones and worktrees of this tree cheap.
# Paths are hashed relative to the checkout, so a fresh clone (CI's) reuses what another compiled.
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
fi
echo "build: configuring $build ($type)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$type" "${launcher[@]}" "$@" > "$build.configure.log" 2>&1 || {
  cat "$build.configure.log" >&2
  echo "build: cmake configuration failed (see above); scripts/install-deps.sh installs what is missing" >&2
  exit 1
}
echo "build: compiling with $(nproc) jobs"
cmake --build "$build" -j "$(nproc)"
