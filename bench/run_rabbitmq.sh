#!/usr/bin/env bash
# Starts a throwaway rabbitmq-server on loopback (scripts/rabbitmq/start.sh: free ports, no plugins)
# and runs the RabbitMQ benchmark: relay -> RabbitMQ vs raw librabbitmq publishing the same messages
# with confirms from memory, alternated in the same run. Stops and removes the broker afterwards,
# also on error or ^C. Prints figures; never fails on time.
# Usage: bench/run_rabbitmq.sh [BUILD_DIR] [-- extra flags, e.g. --messages 200000 --batch 500]
#   BUILD_DIR: a Release build with OUTBOX_BUILD_BENCH=ON (default build-bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build=$1; shift; fi
[ "${1:-}" = "--" ] && shift
bin="$build/bench/outbox_bench_rabbitmq"
[[ -x "$bin" ]] || { echo "missing $bin: build with -DOUTBOX_BUILD_BENCH=ON first (see docs/benchmarks.md)" >&2; exit 2; }

state="$(mktemp -d /tmp/outbox-bench-rabbitmq.XXXXXX)"
cleanup() { "$root/scripts/rabbitmq/stop.sh" --state "$state/server" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
"$root/scripts/rabbitmq/start.sh" --state "$state/server" >/dev/null
port=$(sed -n 's/^RABBITMQ_PORT=//p' "$state/server/env")

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
"$bin" --server "127.0.0.1:$port" --dir "$state" "$@"
echo
"$bin" --server "127.0.0.1:$port" --dir "$state" --mode latency
