#!/usr/bin/env bash
# The README's second command (and what CI runs): install what is missing, build everything, and
# run every test: unit, SQLite integration, the crash test and the example. Benchmarks are built
# (so they keep compiling) but run by hand: see docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
build=${BUILD_DIR:-$root/build}
echo "test: running ctest in $build"
cd "$build"
ctest --output-on-failure --timeout 600 "$@"
