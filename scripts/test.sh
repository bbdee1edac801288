#!/usr/bin/env bash
# The README's second command (and what CI runs): install what is missing, build everything, and
# run every test: unit, SQLite integration, the crash test and the example. Benchmarks are built
# (so they keep compiling) but run by hand: see docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
build=${BUILD_DIR:-$root/build}
# libmongoc (linked into the CLI) keeps counters in /dev/shm/mongoc-<pid>; the processes the crash
# tests SIGKILL leave theirs behind, and a later process with the same pid then logs "Falling back
# to malloc for counters" into output the tests parse. The counters are only for mongoc-stat.
export MONGOC_DISABLE_SHM=1
echo "test: running ctest in $build"
cd "$build"
ctest --output-on-failure --timeout 600 "$@"
