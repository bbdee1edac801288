#!/usr/bin/env bash
# Runs the PostgreSQL benchmarks against a throwaway cluster and prints the figures; never fails on
# time. Starts the cluster with scripts/postgres/start.sh --durable (fsync on, synchronous_commit on
# by default, no TLS), runs the programs, and stops and removes the cluster, also on error or ^C.
# Usage: bench/run_postgres.sh [BUILD_DIR]   (a Release build with OUTBOX_BUILD_BENCH=ON and
# OUTBOX_WITH_POSTGRES=ON; default build-bench)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-build-bench}"
bin="$build/bench"
for p in outbox_bench_pg_write outbox_bench_pg_put_breakdown outbox_bench_relay outbox_bench_pg_catch_up outbox_bench_latency outbox_bench_writer; do
  [[ -x "$bin/$p" ]] || { echo "missing $bin/$p: build with -DOUTBOX_BUILD_BENCH=ON -DOUTBOX_WITH_POSTGRES=ON first" >&2; exit 2; }
done
state="$(mktemp -d /tmp/outbox-bench-pg-state.XXXXXX)"
cleanup() { "$root/scripts/postgres/stop.sh" --state "$state" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
# --logical: wal_level=logical, for the WAL-mode figures (the table-mode ones run on it too).
"$root/scripts/postgres/start.sh" --state "$state" --fresh --durable --logical
# shellcheck disable=SC1091
source "$state/env"   # OUTBOX_PG_URI, read by the programs

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
"$bin/outbox_bench_pg_write"
echo
"$bin/outbox_bench_pg_put_breakdown"
echo
"$bin/outbox_bench_relay" --postgres --variants tail,null --reps 3
echo
"$bin/outbox_bench_relay" --postgres --wal --variants tail,null --reps 3
echo
"$bin/outbox_bench_pg_catch_up" --reps 3
echo
# Latency at 10% of the writer's measured maximum, with wake-ups; then polling, then WAL mode, at the same rate.
"$bin/outbox_bench_latency" --postgres --rate-of-max 0.1 --idle-seconds 5 | tee "$state/latency.out"
rate="$(sed -n 's/^probe: .*load at [0-9]*% of it: \([0-9]*\) msg\/s$/\1/p' "$state/latency.out")"
echo
"$bin/outbox_bench_latency" --postgres --rate "${rate:-100}" --idle-seconds 5 --poll
echo
# WAL mode at the same rate: the writer emits logical decoding messages, the relay streams its slot.
"$bin/outbox_bench_latency" --wal --rate "${rate:-100}" --idle-seconds 5
