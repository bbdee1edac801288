#!/usr/bin/env bash
# Starts a throwaway redis-server on loopback (scripts/redis/start.sh: AOF on, appendfsync always)
# and runs the Redis benchmarks: relay -> Redis vs raw hiredis (pipelined XADD, and the same in
# MULTI/EXEC as the sink sends it) in the same run, then commit -> ack latency at 1,000 msg/s with
# appendfsync always and again with everysec (to show what the fsync costs). Stops and removes the server afterwards, also on error or
# ^C. Prints figures; never fails on time.
# Usage: bench/run_redis.sh [BUILD_DIR] [-- extra flags for the throughput run]
#   BUILD_DIR: a Release build with OUTBOX_BUILD_BENCH=ON (default build-bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build=$1; shift; fi
[ "${1:-}" = "--" ] && shift
bin="$build/bench/outbox_bench_redis"
[[ -x "$bin" ]] || { echo "missing $bin: build with -DOUTBOX_BUILD_BENCH=ON first (see docs/benchmarks.md)" >&2; exit 2; }

state="$(mktemp -d /tmp/outbox-bench-redis.XXXXXX)"
cleanup() { "$root/scripts/redis/stop.sh" --state "$state/server" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
"$root/scripts/redis/start.sh" --state "$state/server" >/dev/null
port=$(sed -n 's/^REDIS_PORT=//p' "$state/server/env")

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
"$bin" --server "127.0.0.1:$port" --mode throughput --dir "$state" "$@"
echo
"$bin" --server "127.0.0.1:$port" --mode latency --dir "$state" --appendfsync always
echo
"$bin" --server "127.0.0.1:$port" --mode latency --dir "$state" --appendfsync everysec
