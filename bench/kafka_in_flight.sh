#!/usr/bin/env bash
# How the relay's in-flight limit (--max-in-flight) trades memory for speed with the Kafka sink,
# measured on the real `outbox relay` process as users run it. Starts a throwaway Kafka broker
# (scripts/kafka), fills an outbox (SQLite; PostgreSQL with --source postgres) with a backlog, then
# drains it once per limit and round with `outbox relay --drain`, each run as a new consumer (so
# each one publishes the whole backlog to Kafka). Limits alternate within each round. Reports each run's peak RSS (GNU time's maximum
# resident set size) and throughput (messages / wall time, the process's start and the broker
# connection included), then the medians per limit. Prints figures; never fails on time.
# Usage: bench/kafka_in_flight.sh [BUILD_DIR] [--messages N] [--rounds R] [--limits L1,L2,...]
#                                  [--source sqlite|postgres]
#   BUILD_DIR: a build holding src/cli/outbox (default build-bench); defaults: 300000 messages,
#   3 rounds, limits 20000,5000,2000,1000, source sqlite. --source postgres starts a throwaway
#   PostgreSQL cluster (scripts/postgres, durable) and drains a table-mode outbox there instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
messages=300000
rounds=3
limits="20000,5000,2000,1000"
source_kind=sqlite
usage="usage: bench/kafka_in_flight.sh [BUILD_DIR] [--messages N] [--rounds R] [--limits L1,L2,...] [--source sqlite|postgres]"
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) messages="${2:-}"; shift 2 ;;
    --rounds) rounds="${2:-}"; shift 2 ;;
    --limits) limits="${2:-}"; shift 2 ;;
    --source) source_kind="${2:-}"; shift 2 ;;
    -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
    -*) echo "unknown option $1; $usage" >&2; exit 2 ;;
    *) build="$1"; shift ;;
  esac
done
[[ "$source_kind" == sqlite || "$source_kind" == postgres ]] ||
  { echo "--source takes sqlite or postgres, not '$source_kind'; $usage" >&2; exit 2; }
for n in "$messages" "$rounds" ${limits//,/ }; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "'$n' is not a positive whole number; $usage" >&2; exit 2; }
done
outbox="$build/src/cli/outbox"
[[ -x "$outbox" ]] || { echo "missing $outbox: build the project first (scripts/build.sh, or see docs/benchmarks.md)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "missing /usr/bin/time (GNU time): run scripts/install-deps.sh" >&2; exit 2; }

work="$(mktemp -d /tmp/outbox-bench-in-flight.XXXXXX)"
cleanup() {
  [[ "$source_kind" == postgres ]] && "$root/scripts/postgres/stop.sh" --state "$work/pg" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
# The backlog: rows as `put` writes them, about 300 bytes of order event each (bench/lib).
if [[ "$source_kind" == postgres ]]; then
  echo "starting a throwaway PostgreSQL cluster (durable) ..."
  "$root/scripts/postgres/start.sh" --state "$work/pg" --fresh --durable >/dev/null
  # shellcheck disable=SC1091
  source "$work/pg/env"
  store="$OUTBOX_PG_URI"
  . "$root/bench/lib/postgres_backlog.sh"
  make_postgres_backlog "$outbox" "$store" "$messages"
  size=$(psql -At "$store" -c "SELECT pg_size_pretty(pg_total_relation_size('outbox_orders'))")
else
  db="$work/backlog.db"
  store="sqlite:$db"
  . "$root/bench/lib/sqlite_backlog.sh"
  make_sqlite_backlog "$outbox" "$db" "$messages"
  size=$(du -h "$db" | cut -f1)
fi
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "backlog: $messages messages in $source_kind ($size)"
echo "starting a throwaway Kafka broker (takes a few seconds) ..."
export outbox store work messages rounds limits
"$root/scripts/kafka/with-kafka.sh" bash -c '
  set -euo pipefail
  # A first drain, not counted, creates the topic and warms the page cache.
  first=${limits%%,*}
  echo "warm-up drain (not counted) ..."
  "$outbox" relay --store "$store" --outbox orders --consumer warmup --max-in-flight "$first" \
    --sink "kafka://$KAFKA_BOOTSTRAP/in-flight-bench" --drain > "$work/relay.log" 2>&1 ||
    { echo "the warm-up relay failed:"; tail -20 "$work/relay.log"; exit 1; }
  printf "%-6s %-8s %12s %10s %12s\n" round limit "peak RSS MB" "seconds" "msg/s"
  for r in $(seq 1 "$rounds"); do
    for l in ${limits//,/ }; do
      /usr/bin/time -o "$work/time" -f "%M %e" "$outbox" relay --store "$store" --outbox orders \
        --consumer "c${r}_${l}" --sink "kafka://$KAFKA_BOOTSTRAP/in-flight-bench" --max-in-flight "$l" \
        --drain > "$work/relay.log" 2>&1 || { echo "relay failed (limit $l, round $r):"; tail -20 "$work/relay.log"; exit 1; }
      read -r kb secs < "$work/time"
      mb=$(awk -v k="$kb" "BEGIN { printf \"%.1f\", k / 1024 }")
      rate=$(awk -v n="$messages" -v s="$secs" "BEGIN { printf \"%.0f\", n / s }")
      printf "%-6s %-8s %12s %10s %12s\n" "$r" "$l" "$mb" "$secs" "$rate"
      echo "$l $mb $rate" >> "$work/results"
    done
  done
  echo
  echo "medians over $rounds rounds:"
  printf "%-8s %12s %12s\n" limit "peak RSS MB" "msg/s"
  for l in ${limits//,/ }; do
    med() { awk -v l="$l" -v c="$1" "\$1 == l { print \$c }" "$work/results" | sort -n |
            awk "{ v[NR] = \$1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }"; }
    printf "%-8s %12s %12s\n" "$l" "$(med 2)" "$(med 3)"
  done
'
