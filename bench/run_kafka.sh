#!/usr/bin/env bash
# Starts a throwaway Kafka broker on loopback (scripts/kafka) and, for the PostgreSQL source, a
# throwaway PostgreSQL cluster (scripts/postgres/start.sh --durable, as bench/run_postgres.sh), and
# runs the Kafka benchmarks from each source outbox: relay -> Kafka vs raw librdkafka in the same
# run, then commit -> ack latency at 1,000 msg/s. Stops and removes both servers afterwards, also
# on error or ^C. Prints figures; never fails on time.
# Usage: bench/run_kafka.sh [BUILD_DIR] [--sources sqlite,postgres]
#   BUILD_DIR: a Release build with OUTBOX_BUILD_BENCH=ON (default build-bench); the PostgreSQL
#   source also needs OUTBOX_WITH_POSTGRES=ON (the default).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
sources="sqlite,postgres"
while [ $# -gt 0 ]; do
  case "$1" in
    --sources) sources="${2:-}"; shift 2 ;;
    -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
    -*) echo "unknown option $1; usage: bench/run_kafka.sh [BUILD_DIR] [--sources sqlite,postgres]" >&2; exit 2 ;;
    *) build="$1"; shift ;;
  esac
done
for s in ${sources//,/ }; do
  case "$s" in
    sqlite|postgres) ;;
    *) echo "--sources: unknown source '$s'; give a comma-separated list of sqlite and postgres" >&2; exit 2 ;;
  esac
done
bin="$build/bench/outbox_bench_kafka"
[[ -x "$bin" ]] || { echo "missing $bin: build with -DOUTBOX_BUILD_BENCH=ON first (see docs/benchmarks.md)" >&2; exit 2; }

state="$(mktemp -d /tmp/outbox-bench-kafka-pg.XXXXXX)"
cleanup() { "$root/scripts/postgres/stop.sh" --state "$state" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
if [[ ",$sources," == *,postgres,* ]]; then
  echo "starting a throwaway PostgreSQL cluster (durable) ..."
  "$root/scripts/postgres/start.sh" --state "$state" --fresh --durable
  # shellcheck disable=SC1091
  source "$state/env"   # OUTBOX_PG_URI, read by --postgres
  export OUTBOX_PG_URI
fi

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "starting a throwaway Kafka broker (takes a few seconds) ..."
export bin sources
"$root/scripts/kafka/with-kafka.sh" bash -c '
  set -euo pipefail
  for s in ${sources//,/ }; do
    source_flag=()
    [[ "$s" == postgres ]] && source_flag=(--postgres)
    echo "== source: $s"
    "$bin" --mode throughput "${source_flag[@]}"
    echo
    "$bin" --mode latency --linger-ms 0 "${source_flag[@]}"
    echo
  done
'
