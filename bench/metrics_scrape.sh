#!/usr/bin/env bash
# What /metrics costs on a large outbox (issue 10, item 14): on an SQLite outbox of ROWS messages
# (default 500,000), it prints
#   - the store's status query, timed through `outbox status` (what every scrape ran before the
#     status sampler: counts over every row),
#   - the latency of a scrape of a running relay (which now answers from a background reading),
#   - the time `outbox relay --drain --sink null:` takes to drain the whole outbox while a client
#     scrapes continuously another relay (A: a decoy on a tiny outbox, so the client's own CPU is
#     paid alike) or the draining relay itself (B), and with nobody scraping (C), rotated RUNS
#     times; medians, B/A (what scrapes cost the drain) and A/C (what the client costs).
# With BASELINE_CLI=PATH (an `outbox` binary of another commit, e.g. one that scraped the store on
# every request), a variant D drains with that binary while it is scraped, for D/A.
# Never fails on a time. Usage: [BASELINE_CLI=PATH] bench/metrics_scrape.sh [BUILD_DIR] [ROWS] [RUNS]
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
for _ in $(seq 20); do  # curl's own timing: the process start of curl is not the scrape's cost
  scrape_ms+=($(curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/metrics" | awk '{printf "%.2f", $1 * 1000}'))
done
kill -TERM $probe; wait $probe || true
echo "scrape latency (curl's time_total), 20 scrapes: median $(printf '%s\n' "${scrape_ms[@]}" | median) ms, max $(printf '%s\n' "${scrape_ms[@]}" | sort -n | tail -1) ms"

# A decoy: a relay of a tiny outbox of its own, scraped in variant A, so that both variants pay the
# same for the scraping client (curl started over and over) and B/A shows what the scrapes cost the
# draining relay itself.
"$cli" init --store "sqlite:$work/decoy.db" --outbox orders > /dev/null 2>&1
"$cli" relay --store "sqlite:$work/decoy.db" --outbox orders --sink null: --metrics "127.0.0.1:$((port + 2))" \
  2> "$work/decoy.log" &
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((port + 2))/metrics" > /dev/null && break; sleep 0.1; done

drain() {  # $1 = consumer, $2 = port to scrape meanwhile ("" for none), $3 = binary; prints the milliseconds
  local p=$((port + 1)) t0 relay scraper=
  t0=$(now_ms)
  "${3:-$cli}" relay --store "sqlite:$db" --outbox orders --consumer "$1" --sink null: --drain --metrics "127.0.0.1:$p" \
    2> "$work/$1.log" &
  relay=$!
  if [[ -n $2 ]]; then
    (while kill -0 $relay 2> /dev/null; do curl -s -o /dev/null "http://127.0.0.1:$2/metrics" || sleep 0.01; done) &
    scraper=$!
  fi
  wait $relay
  echo $(($(now_ms) - t0))
  if [[ -n $scraper ]]; then
    kill $scraper 2> /dev/null || true
    wait $scraper 2> /dev/null || true
  fi
}
a=() b=() c=() d=()
baseline=${BASELINE_CLI:-}
for r in $(seq "$runs"); do
  echo "metrics_scrape: drain run $r of $runs (A: the decoy scraped, B: the draining relay scraped, C: none)" >&2
  a+=($(drain "a$r" $((port + 2))))
  b+=($(drain "b$r" $((port + 1))))
  c+=($(drain "c$r" ""))
  if [[ -n $baseline ]]; then d+=($(drain "d$r" $((port + 1)) "$baseline")); fi
done
ma=$(printf '%s\n' "${a[@]}" | median)
mb=$(printf '%s\n' "${b[@]}" | median)
mc=$(printf '%s\n' "${c[@]}" | median)
echo "drain of $rows messages, ms: A (decoy scraped) ${a[*]} (median $ma); B (relay scraped) ${b[*]} (median $mb); C (no scraping) ${c[*]} (median $mc)"
echo "B/A $(awk "BEGIN {printf \"%.3f\", $mb / $ma}") (what continuous scrapes cost the draining relay); A/C $(awk "BEGIN {printf \"%.3f\", $ma / $mc}") (what the scraping client costs the machine)"
if [[ -n $baseline ]]; then
  md=$(printf '%s\n' "${d[@]}" | median)
  echo "D (baseline $baseline, scraped) ${d[*]} (median $md); D/A $(awk "BEGIN {printf \"%.3f\", $md / $ma}")"
fi
