#!/usr/bin/env bash
# Runs tests under sanitizers, each build in a directory of its own (scripts/sanitizer-build.sh:
# clang, -O1, benchmarks and examples off, only the targets these tests need):
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on) in ASAN_BUILD_DIR: the
#         unit tests (with the JSON Schema suite), the SQLite integration tests, the CLI process tests (signals, a /metrics
#         scrape while the relay stops) and the SQLite crash (fault) test, which run the
#         real `outbox` binary, built with the same sanitizers; and the Redis, NATS and webhook
#         sink tests against their real servers (SANITIZE_SINKS=0 leaves them out).
#   tsan  ThreadSanitizer in TSAN_BUILD_DIR: the relay, file-sink, metrics and status-sampler unit
#         tests, and the Kafka sink tests against the real broker fixture, with PostgreSQL -> Kafka
#         against both real servers (SANITIZE_KAFKA=0 leaves the Kafka ones out), and the NATS
#         sink (libnats' callback threads) and webhook sink (a stop from another thread) tests
#         (SANITIZE_SINKS=0 leaves them out). The Kafka ones
#         run with tests/sanitizers/c11_threads_shim.c preloaded: librdkafka starts its threads with
#         C11 thrd_create, which the TSan runtimes of clang 14 and gcc 12 do not intercept (each
#         such thread would crash at its first malloc). See docs/fuzzing.md.
# Every sanitizer report, also from a child process whose exit status a test ignores, is written
# under <build>/sanitizer-logs/ and fails the run. docs/fuzzing.md describes this script.
#   scripts/sanitize.sh [asan|tsan|all]      (default all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
which=${1:-all}
asan_build=${ASAN_BUILD_DIR:-$root/build-asan}
tsan_build=${TSAN_BUILD_DIR:-$root/build-tsan}
kafka=${SANITIZE_KAFKA:-1}
sinks=${SANITIZE_SINKS:-1}
jobs=$(nproc)

# libmongoc's shared-memory counters: see scripts/test.sh.
export MONGOC_DISABLE_SHM=1

# check_logs BUILD_DIR: fails when any sanitizer wrote a report.
check_logs() {
  local logs=$1/sanitizer-logs
  if compgen -G "$logs/*" > /dev/null; then
    for f in "$logs"/*; do
      echo "==== $f"
      head -n 80 "$f"
    done
    echo "sanitize: sanitizer reports in $logs (above)" >&2
    return 1
  fi
}

status=0

if [[ $which == all || $which == asan ]]; then
  start=$SECONDS
  targets=(unit_tests schema_conformance sqlite_integration_tests cli_integration_tests outbox_crash_test)
  labels='unit|sqlite|cli'
  if [[ $sinks == 1 ]]; then
    targets+=(redis_integration_tests nats_integration_tests webhook_integration_tests)
    labels+='|redis|nats|webhook'
  fi
  "$root/scripts/sanitizer-build.sh" asan "${targets[@]}"
  rm -rf "$asan_build/sanitizer-logs" && mkdir -p "$asan_build/sanitizer-logs"
  export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:log_path=$asan_build/sanitizer-logs/asan"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$asan_build/sanitizer-logs/ubsan"
  export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0"
  echo "sanitize: running them (ASan + UBSan)"
  (cd "$asan_build" &&
    ctest -j "$jobs" --output-on-failure --timeout 600 -L "^($labels)\$" -E '^typed\.put_of_undeclared_kind' &&
    ctest --output-on-failure --timeout 600 -R '^fault\.(CrashTest\.RelayKilledAtRandomMoments|CrashVerify\.)') || status=1
  check_logs "$asan_build" || status=1
  unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
  echo "sanitize: ASan + UBSan took $((SECONDS - start))s"
fi

if [[ $which == all || $which == tsan ]]; then
  start=$SECONDS
  targets=(unit_tests)
  # kafka_postgres_tests: the production pairing, PostgreSQL tail (commits out of position order)
  # -> relay -> Kafka producer threads with late acknowledgements.
  [[ $kafka == 1 ]] && targets+=(kafka_integration_tests kafka_postgres_tests)
  [[ $sinks == 1 ]] && targets+=(nats_integration_tests webhook_integration_tests)
  "$root/scripts/sanitizer-build.sh" tsan "${targets[@]}"
  rm -rf "$tsan_build/sanitizer-logs" && mkdir -p "$tsan_build/sanitizer-logs"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/sanitizers/tsan.supp:log_path=$tsan_build/sanitizer-logs/tsan"
  echo "sanitize: running them (TSan)"
  (cd "$tsan_build" &&
    ctest -j "$jobs" --output-on-failure --timeout 600 -R '^(Relay|RelayLateCommits|RelayIdleCheckpoint|RelayBackgroundWrites|RelayWriter|Backoff|FileSinkTest|Metrics|StatusSampler|DeliveryWindow)\.') ||
    status=1
  if [[ $sinks == 1 ]]; then
    (cd "$tsan_build" && ctest --output-on-failure --timeout 600 -L '^(nats|webhook)$') || status=1
  fi
  if [[ $kafka == 1 ]]; then
    cc -O1 -Wall -shared -fPIC -o "$tsan_build/libc11_threads_shim.so" "$root/tests/sanitizers/c11_threads_shim.c"
    (cd "$tsan_build" && LD_PRELOAD="$tsan_build/libc11_threads_shim.so" \
      ctest --output-on-failure --timeout 900 -L '^kafka$') || status=1
  fi
  check_logs "$tsan_build" || status=1
  unset TSAN_OPTIONS
  echo "sanitize: TSan took $((SECONDS - start))s"
fi

if [[ $status != 0 ]]; then
  echo "sanitize: FAILED (see the reports and test output above)" >&2
  exit 1
fi
echo "sanitize: no sanitizer reports, every test passed"
