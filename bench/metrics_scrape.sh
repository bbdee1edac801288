#!/usr/bin/env bash
# What /metrics costs on a large outbox (issue 10, item 14): on an SQLite outbox of ROWS messages
# (default 500,000), it prints
#   - the store's status query, timed through `outbox status` (what every scrape ran before the
#     status sampler: counts over every row),
#   - the latency of a scrape of a running relay (which now answers from a background reading),
#   - the time `outbox relay --drain --sink null:` takes to drain the whole outbox with nobody
#     scraping (A) and with a client scraping continuously (B), alternated RUNS times each; medians
#     and the ratio B/A.
# Never fails on a time. Usage: bench/metrics_scrape.sh [BUILD_DIR] [ROWS] [RUNS]
set -euo pipefail
build=${1:-build}
rows=${2:-500000}
runs=${3:-3}
cli="$build/src/cli/outbox"
[[ -x $cli ]] || { echo "metrics_scrape: $cli not found; build the CLI first (scripts/build.sh)" >&2; exit 2; }
command -v sqlite3 > /dev/null || { echo "metrics_scrape: needs the sqlite3 shell (apt-get install sqlite3)" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2> /dev/null || true; rm -rf "$work"' EXIT
db="$work/orders.db"
port=$((20000 + RANDOM % 20000))

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }

echo "metrics_scrape: filling an SQLite outbox with $rows messages"
"$cli" init --store "sqlite:$db" --outbox orders > /dev/null
sqlite3 "$db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
  INSERT INTO outbox_orders (id, type, key, data, headers, created_us)
  SELECT printf('0190a3c4-0000-7000-8000-%012d', i), 'order_created', 'order-' || (i % 100),
         '{\"ordernr\":' || i || '}', NULL, 1764590000000000 + i FROM n;"

status_ms=()
for _ in 1 2 3; do
  t0=$(now_ms); "$cli" status --store "sqlite:$db" --outbox orders > /dev/null; status_ms+=($(($(now_ms) - t0)))
done
echo "status query (what each scrape ran before): ${status_ms[*]} ms; median $(printf '%s\n' "${status_ms[@]}" | median) ms"

# A relay that holds the lease and reads nothing (consumer 'probe' starts at the end), scraped 20 times.
"$cli" seek --store "sqlite:$db" --outbox orders --consumer probe --to end > /dev/null
"$cli" relay --store "sqlite:$db" --outbox orders --consumer probe --sink null: --metrics "127.0.0.1:$port" \
  2> "$work/probe.log" &
probe=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/metrics" > /dev/null && break; sleep 0.1; done
scrape_ms=()
for _ in $(seq 20); do
  t0=$(now_ms); curl -sf "http://127.0.0.1:$port/metrics" > /dev/null; scrape_ms+=($(($(now_ms) - t0)))
done
kill -TERM $probe; wait $probe || true
echo "scrape latency, 20 scrapes: median $(printf '%s\n' "${scrape_ms[@]}" | median) ms, max $(printf '%s\n' "${scrape_ms[@]}" | sort -n | tail -1) ms"

drain() {  # $1 = consumer, $2 = scrape (0|1); prints the drain's milliseconds
  local p=$((port + 1)) t0 relay scraper=
  t0=$(now_ms)
  "$cli" relay --store "sqlite:$db" --outbox orders --consumer "$1" --sink null: --drain --metrics "127.0.0.1:$p" \
    2> "$work/$1.log" &
  relay=$!
  if [[ $2 == 1 ]]; then
    (while kill -0 $relay 2> /dev/null; do curl -s -o /dev/null "http://127.0.0.1:$p/metrics" || sleep 0.01; done) &
    scraper=$!
  fi
  wait $relay
  echo $(($(now_ms) - t0))
  [[ -n $scraper ]] && { kill $scraper 2> /dev/null || true; wait $scraper 2> /dev/null || true; }
}
a=() b=()
for r in $(seq "$runs"); do
  echo "metrics_scrape: drain run $r of $runs (A: nobody scrapes, B: scraped continuously)" >&2
  a+=($(drain "a$r" 0))
  b+=($(drain "b$r" 1))
done
ma=$(printf '%s\n' "${a[@]}" | median)
mb=$(printf '%s\n' "${b[@]}" | median)
echo "drain of $rows messages: A ${a[*]} ms (median $ma), B ${b[*]} ms (median $mb); B/A $(awk "BEGIN {printf \"%.3f\", $mb / $ma}")"
