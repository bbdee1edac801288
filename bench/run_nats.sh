#!/usr/bin/env bash
# Starts a throwaway nats-server with JetStream on loopback (scripts/nats/start.sh) and runs the
# NATS benchmarks: relay (SQLite) -> NATS vs raw libnats in the same run, then commit -> PubAck
# latency at 1,000 msg/s. Stops and removes the
# server afterwards, also on error or ^C. Prints figures; never fails on time.
# Usage: bench/run_nats.sh [BUILD_DIR] [outbox_bench_nats flags...]
#   BUILD_DIR: a Release build with OUTBOX_BUILD_BENCH=ON (default build-bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then build="$1"; shift; fi
bin="$build/bench/outbox_bench_nats"
[[ -x "$bin" ]] || { echo "missing $bin: build with -DOUTBOX_BUILD_BENCH=ON first (see docs/benchmarks.md)" >&2; exit 2; }
state="$(mktemp -d /tmp/outbox-bench-nats.XXXXXX)"
cleanup() { "$root/scripts/nats/stop.sh" --dir "$state" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
"$root/scripts/nats/start.sh" --dir "$state"
"$bin" --server "127.0.0.1:$(cat "$state/port")" "$@"
echo
"$bin" --server "127.0.0.1:$(cat "$state/port")" --mode latency
echo
# The same latency with the null: sink, on the same machine and load: what the relay and the
# writer's commits cost without a broker.
"$bin" --server "127.0.0.1:$(cat "$state/port")" --mode latency --latency-sink null:
