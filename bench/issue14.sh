#!/usr/bin/env bash
# Every figure issue 14 sets a target for, measured in one run per store, by hand (about 16
# minutes; not part of CI). Each part starts its own throwaway servers on loopback and stops them,
# also on error or ^C. Prints each program's output into a log folder, then one summary: each
# figure's line as its program printed it, with its target, and what else was running (load
# average and the busiest other processes at each part's start and end). Never fails on time.
#   sqlite    typed put / naive insert (synchronous=NORMAL, 60 rounds; FULL as a diagnostic),
#             one put's parts, commit -> acknowledged p99 at 1,000 msg/s on synchronous=FULL
#   postgres  one cluster with wal_level=logical: table-mode put and put_and_commit / naive row,
#             WAL-mode put_and_commit / bare transaction and / hand-written emit (1 and 4
#             connections, 30 rounds), relay -> null: in both modes, commit -> acknowledged in both
#             modes at 100 msg/s, a relay resuming on 1M delivered rows / on none
#   kafka     relay -> Kafka / raw librdkafka at the CLI's batch size, in-flight limit and linger.ms
#             (SQLite source, 500,000 messages; PostgreSQL, 300,000; then SQLite with linger.ms=5
#             for comparison),
#             the real `outbox relay` process's peak RSS and speed per in-flight limit
# Usage: bench/issue14.sh [BUILD_DIR] [--parts sqlite,postgres,kafka] [--logs DIR]
#   BUILD_DIR  a RelWithDebInfo or Release build with OUTBOX_BUILD_BENCH=ON (default build)
#   --logs     where the programs' output goes (default: a new /tmp/outbox-issue14.XXXXXX, kept)
# Run it on a quiet machine: no compiler, no tests. Figures go to docs/benchmarks.md by hand.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build"
parts="sqlite,postgres,kafka"
logs=""
usage="usage: bench/issue14.sh [BUILD_DIR] [--parts sqlite,postgres,kafka] [--logs DIR]"
while [ $# -gt 0 ]; do
  case "$1" in
    --parts) parts="${2:-}"; shift 2 ;;
    --logs) logs="${2:-}"; shift 2 ;;
    -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
    -*) echo "unknown option $1; $usage" >&2; exit 2 ;;
    *) build="$1"; shift ;;
  esac
done
for p in ${parts//,/ }; do
  case "$p" in
    sqlite|postgres|kafka) ;;
    *) echo "--parts: unknown part '$p'; give a comma-separated list of sqlite, postgres and kafka" >&2; exit 2 ;;
  esac
done
build=$(cd "$build" 2>/dev/null && pwd) || { echo "no build folder '$build'; $usage" >&2; exit 2; }
bin="$build/bench"
for p in outbox_bench_write outbox_bench_put_breakdown outbox_bench_latency outbox_bench_writer \
         outbox_bench_pg_write outbox_bench_relay outbox_bench_pg_catch_up outbox_bench_kafka; do
  [[ -x "$bin/$p" ]] || { echo "missing $bin/$p: build with -DOUTBOX_BUILD_BENCH=ON (scripts/build.sh does) first" >&2; exit 2; }
done
[[ -x "$build/src/cli/outbox" ]] || { echo "missing $build/src/cli/outbox: build the project first (scripts/build.sh)" >&2; exit 2; }
if [ -z "$logs" ]; then logs=$(mktemp -d /tmp/outbox-issue14.XXXXXX); fi
mkdir -p "$logs"
pg_state="$logs/postgres-state"
cleanup() { "$root/scripts/postgres/stop.sh" --state "$pg_state" >/dev/null 2>&1 || true; rm -rf "$pg_state"; }
trap cleanup EXIT

wanted() { [[ ",$parts," == *",$1,"* ]]; }
step() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
# What else the machine was doing: load average and the three busiest processes over half a second.
others() {
  echo "load $(cut -d' ' -f1-3 /proc/loadavg); busiest: $(top -b -n 2 -d 0.5 -o %CPU -w 200 |
    awk '/^top -/ { frame++ } frame == 2 && /^ *[0-9]+ / { printf "%s %s%%; ", $12, $9; if (++n == 3) exit }')"
}
# Runs a program with its output in LOGS/NAME.txt, with a line of progress per minute of silence.
run() {
  local name="$1"; shift
  step "$name: $*"
  echo "$name start: $(others)" >> "$logs/machine.txt"
  ( while sleep 60; do step "$name: still running"; done ) &
  local ticker=$! rc=0
  "$@" > "$logs/$name.txt" 2>&1 || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  echo "$name end:   $(others)" >> "$logs/machine.txt"
  [ "$rc" -eq 0 ] || step "$name failed (exit $rc); see $logs/$name.txt; the run goes on"
}

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'); logs in $logs"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sr)"
: > "$logs/machine.txt"

if wanted sqlite; then
  run sqlite-write-normal "$bin/outbox_bench_write" --layouts --sync NORMAL --rounds 60
  run sqlite-write-full "$bin/outbox_bench_write" --layouts --sync FULL --rounds 20
  run sqlite-put-breakdown "$bin/outbox_bench_put_breakdown"
  run sqlite-latency-full "$bin/outbox_bench_latency" --rate 1000 --seconds 15 --sync FULL --idle-seconds 3
fi

if wanted postgres; then
  step "postgres: starting a throwaway cluster (fsync on, synchronous_commit=on, wal_level=logical)"
  "$root/scripts/postgres/start.sh" --state "$pg_state" --fresh --durable --logical > "$logs/postgres-start.txt" 2>&1 ||
    { echo "the PostgreSQL cluster did not start; see $logs/postgres-start.txt (scripts/install-deps.sh installs the server)" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$pg_state/env"  # OUTBOX_PG_URI, read by the programs
  export OUTBOX_PG_URI
  run postgres-write "$bin/outbox_bench_pg_write" --clients= --wake-clients= --index-clients= --prepared-clients= \
    --pipelined-clients= --naive-clients=1,4 --naive-on-commit-clients=1,4 --on-commit-clients=1,4 \
    --wal-clients= --wal-raw-clients=1,4 --rounds 30
  run postgres-relay-table "$bin/outbox_bench_relay" --postgres --variants tail,null --reps 3
  run postgres-relay-wal "$bin/outbox_bench_relay" --postgres --wal --variants tail,null --reps 3
  run postgres-latency-wal "$bin/outbox_bench_latency" --wal --rate 100 --seconds 15 --idle-seconds 3
  run postgres-latency-table "$bin/outbox_bench_latency" --postgres --rate 100 --seconds 15 --idle-seconds 3
  run postgres-catch-up "$bin/outbox_bench_pg_catch_up" --reps 3
  "$root/scripts/postgres/stop.sh" --state "$pg_state" > /dev/null 2>&1 || true
fi

if wanted kafka; then
  # Each starts its own broker (and, for the PostgreSQL source, its own cluster).
  kafka_sources() {
    "$root/scripts/kafka/with-kafka.sh" bash -c '
      set -euo pipefail
      "$1" --mode throughput --messages 500000 --reps 3
      "$1" --mode throughput --messages 300000 --reps 3 --postgres
      "$1" --mode throughput --messages 300000 --reps 3 --linger-ms 5' _ "$bin/outbox_bench_kafka"
  }
  pg_for_kafka() {  # run's `||` turns errexit off in here: each failure returns by hand
    "$root/scripts/postgres/start.sh" --state "$pg_state" --fresh --durable > /dev/null || return 1
    # shellcheck disable=SC1091
    source "$pg_state/env" || return 1
    export OUTBOX_PG_URI
    local rc=0
    kafka_sources || rc=$?
    "$root/scripts/postgres/stop.sh" --state "$pg_state" > /dev/null 2>&1 || true
    return "$rc"
  }
  run kafka-relay-vs-raw pg_for_kafka
  run kafka-in-flight "$root/bench/kafka_in_flight.sh" "$build"
fi

# The summary: each figure's line as printed, under the target it answers.
show() {  # show TITLE LOG PATTERN
  local log="$logs/$2.txt"
  [ -f "$log" ] || return 0
  echo "$1"
  grep -E "$3" "$log" | sed 's/^ */    /' || echo "    (no such line: see $log)"
}
echo
echo "== issue 14: summary ($(date -u +%H:%M:%S) UTC)"
# outbox_bench_write prints each variant's rate; the put / naive ratio is with put / raw rowid.
put_over_naive() {
  local log="$logs/$1.txt"
  [ -f "$log" ] || return 0
  awk '/^  with put:/ { put = $3 } /^  raw rowid:/ { raw = $3 }
       END { if (put && raw) printf "    typed put / naive insert: %.3f\n", put / raw }' "$log"
}
show "SQLite typed put / naive insert >= 0.95, synchronous=NORMAL" sqlite-write-normal \
  '^  (with put|raw rowid|untyped put):'
put_over_naive sqlite-write-normal
show "SQLite, synchronous=FULL (diagnostic)" sqlite-write-full '^  (with put|raw rowid):'
put_over_naive sqlite-write-full
show "SQLite, one put's parts inside an open transaction (diagnostic: no commit, so no target)" sqlite-put-breakdown \
  '^  (typed put \(|naive INSERT of|the typed put)'
show "SQLite FULL, commit -> acknowledged at 1,000 msg/s, p99 <= 5 ms; relay RSS" sqlite-latency-full \
  'LATENCY|PEAK RSS|acknowledged'
show "PostgreSQL table mode: put / naive insert >= 0.95, put_and_commit / naive row sent with the COMMIT >= 0.95" \
  postgres-write '^  RATIO (put/naive insert|put_and_commit/naive insert with COMMIT) '
show "PostgreSQL WAL mode: put_and_commit / bare transaction >= 0.93 (1 connection), >= 0.97 (4)" \
  postgres-write '^  RATIO with/without put, WAL mode, put_and_commit '
show "PostgreSQL diagnostics (their program's targets are not issue 14's): WAL put_and_commit / hand-written emit, that emit / bare (the floor), table put_and_commit / bare" \
  postgres-write '^  RATIO (WAL mode, put_and_commit/raw emit|with/without raw emit|with/without put, put_and_commit \()'
show "PostgreSQL relay -> null:, table mode" postgres-relay-table 'RELAY THROUGHPUT'
show "PostgreSQL relay -> null:, WAL mode >= 100,000 msg/s" postgres-relay-wal 'RELAY THROUGHPUT'
show "PostgreSQL commit -> acknowledged at 100 msg/s, WAL mode" postgres-latency-wal 'LATENCY|acknowledged'
show "PostgreSQL commit -> acknowledged at 100 msg/s, table mode with wake-ups" postgres-latency-table 'LATENCY|acknowledged'
show "PostgreSQL relay start on 1M delivered rows / on none >= 0.9" postgres-catch-up 'msg/s|ratio:'
show "Relay -> Kafka / raw librdkafka >= 0.8 (SQLite source, PostgreSQL source, then SQLite with linger.ms=5 instead of the sink's 1)" kafka-relay-vs-raw \
  'run [0-9]|ratio relay|librdkafka from memory|-> Kafka:'
show "Kafka relay peak RSS <= 30 MB at the default in-flight limit (2,000), no slower than larger limits" \
  kafka-in-flight '^medians|^limit|^[0-9]+ +[0-9.]+ +[0-9]+$'
echo "What else was running:"
sed 's/^/    /' "$logs/machine.txt"
