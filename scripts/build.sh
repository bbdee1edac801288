#!/usr/bin/env bash
# Configures and builds everything (library, CLI, examples, tests, benchmarks) into BUILD_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
type=${BUILD_TYPE:-RelWithDebInfo}
echo "build: configuring $build ($type)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$type" "$@" > "$build.configure.log" 2>&1 || {
  cat "$build.configure.log" >&2
  echo "build: cmake configuration failed (see above); scripts/install-deps.sh installs what is missing" >&2
  exit 1
}
echo "build: compiling with $(nproc) jobs"
cmake --build "$build" -j "$(nproc)"
