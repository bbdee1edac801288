#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, with AddressSanitizer and
# UndefinedBehaviorSanitizer) in the ASan build of scripts/sanitize.sh (ASAN_BUILD_DIR), replays
# every saved reproducer in tests/fuzz/regressions/<harness>/, then fuzzes each harness for
# SECONDS (default 45) from its seed corpus tests/fuzz/corpus/<harness>/. Fails on any crash, leak,
# sanitizer report or timeout (a failing reproducer too), and prints the reproducer's path.
# docs/fuzzing.md explains the harnesses.
#   scripts/fuzz.sh [SECONDS] [HARNESS...]      e.g. scripts/fuzz.sh 600 validate
# FUZZ_RUNS=N: instead of SECONDS, exactly N inputs per harness from a fixed seed (FUZZ_SEED, 1):
# what CI runs, so that its result does not depend on how fast the machine is that day.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ASAN_BUILD_DIR:-$root/build-asan}
seconds=${1:-45}
shift || true
all=(schema_load validate quick_check message_json sqlite_row uri bson)
if [[ $# -gt 0 ]]; then harnesses=("$@"); else harnesses=("${all[@]}"); fi

targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
# The ASan build of scripts/sanitize.sh, which has the harnesses enabled: the library is compiled once.
"$root/scripts/sanitizer-build.sh" asan "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
for h in "${harnesses[@]}"; do
  exe=$build/tests/fuzz/fuzz_$h
  regressions=$root/tests/fuzz/regressions/$h
  mkdir -p "$build/fuzz"
  if compgen -G "$regressions/*" > /dev/null; then
    echo "fuzz: $h: replaying the reproducers in ${regressions#$root/}"
    log=$build/fuzz/$h-regressions.log
    if ! "$exe" -timeout=30 "$regressions"/* > "$log" 2>&1; then
      tail -n 60 "$log"
      echo "fuzz: $h: a saved reproducer still fails (full log: $log)" >&2
      failed+=("$h (regression)")
    fi
  fi
  # New inputs go to a working copy in the build directory; the checked-in seeds stay as they are.
  work=$build/fuzz/corpus/$h
  artifacts=$build/fuzz/artifacts/$h
  mkdir -p "$work" "$artifacts"
  log=$build/fuzz/$h.log
  if [[ -n ${FUZZ_RUNS:-} ]]; then
    budget=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
    echo "fuzz: $h: fuzzing ${FUZZ_RUNS} inputs from seed ${FUZZ_SEED:-1}"
  else
    budget=(-max_total_time="$seconds")
    echo "fuzz: $h: fuzzing for ${seconds}s"
  fi
  if "$exe" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$artifacts/" "$work" "$root/tests/fuzz/corpus/$h" > "$log" 2>&1; then
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added)' "$log" | sed "s/^/fuzz: $h: /"
  else
    tail -n 60 "$log"
    reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "fuzz: $h FAILED; reproducer: ${reproducer:-none written} (run: $exe ${reproducer:-}); full log: $log" >&2
    failed+=("$h")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
if [[ -n ${FUZZ_RUNS:-} ]]; then done_what="$FUZZ_RUNS inputs"; else done_what="${seconds}s"; fi
echo "fuzz: every harness ran $done_what without a finding"
