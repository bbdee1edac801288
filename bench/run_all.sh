#!/usr/bin/env bash
# Runs every benchmark with its default (short) settings and prints the figures; never fails on
# time. Usage: bench/run_all.sh [BUILD_DIR] (a Release build with OUTBOX_BUILD_BENCH=ON; default
# build-bench). Extra flags for all programs are not passed: run a program alone to change them.
set -euo pipefail
build="${1:-build-bench}"
bin="$build/bench"
for p in outbox_bench_write outbox_bench_relay outbox_bench_latency outbox_bench_writer; do
  [[ -x "$bin/$p" ]] || { echo "missing $bin/$p: build with -DOUTBOX_BUILD_BENCH=ON first" >&2; exit 2; }
done
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null || echo '?')"
"$bin/outbox_bench_write"
echo
"$bin/outbox_bench_relay"
echo
"$bin/outbox_bench_latency"
