#!/usr/bin/env bash
# The README's second command (and what CI runs): install what is missing, build everything, and
# run every test: unit, SQLite integration, the crash test and the example. Benchmarks are built
# (so they keep compiling) but run by hand: see docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
# The committed style first: seconds, and a reformatted tree would otherwise show up in review.
"$root/scripts/format.sh" --check
"$root/scripts/build.sh"
build=${BUILD_DIR:-$root/build}
# libmongoc (linked into the CLI) keeps counters in /dev/shm/mongoc-<pid>; the processes the crash
# tests SIGKILL leave theirs behind, and a later process with the same pid then logs "Falling back
# to malloc for counters" into output the tests parse. The counters are only for mongoc-stat.
export MONGOC_DISABLE_SHM=1
# The end-to-end cells write for OUTBOX_E2E_SECONDS each (default 20 when run alone): 12 here keeps
# CI near 30 minutes; each cell still kills and stops its relays at least 3 times. Longer runs by hand:
# OUTBOX_E2E_SECONDS=120 ctest -L e2e.
export OUTBOX_E2E_SECONDS=${OUTBOX_E2E_SECONDS:-12}
echo "test: running ctest in $build"
cd "$build"
ctest --output-on-failure --timeout 600 "$@"

# Sanitizers (builds of their own: build-asan, build-tsan): ASan + UBSan over the unit, SQLite and
# crash tests, TSan over the relay and sink tests. See docs/fuzzing.md.
echo "test: running the unit, SQLite, crash, relay and sink tests under sanitizers (scripts/sanitize.sh)"
"$root/scripts/sanitize.sh"

# Fuzzing (in build-asan): replays the saved reproducers, then a fixed number of inputs from a fixed
# seed per libFuzzer harness, so the result does not depend on the machine's speed. Longer runs are
# by hand (scripts/fuzz.sh 600). See docs/fuzzing.md.
echo "test: fuzzing each libFuzzer harness (scripts/fuzz.sh, ${FUZZ_RUNS:-20000} inputs each)"
FUZZ_RUNS=${FUZZ_RUNS:-20000} "$root/scripts/fuzz.sh"
