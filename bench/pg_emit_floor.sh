#!/usr/bin/env bash
# The floor of PostgreSQL's WAL mode, with no outbox code at all: pgbench runs the bare business
# transaction (BEGIN; INSERT INTO orders ...; COMMIT, three round trips) against the same
# transaction with a pg_logical_emit_message of an outbox-sized payload sent in the COMMIT's flight
# (pipeline mode), which is what `Outbox::put_and_commit` sends in WAL mode. Both use prepared
# statements. Rounds alternate the two; prints each round's transactions per second and the whole
# machine's busy CPU per transaction (/proc/stat, as outbox_bench_pg_write), then medians and ratios.
# Starts a throwaway cluster (scripts/postgres/start.sh --durable --logical) and removes it on exit.
# Prints figures; never fails on time.
# Usage: bench/pg_emit_floor.sh [--clients 1,4] [--rounds 3] [--seconds 20]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
clients="1,4"
rounds=3
seconds=20
usage="usage: bench/pg_emit_floor.sh [--clients 1,4] [--rounds 3] [--seconds 20]"
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients="${2:?$usage}"; shift 2 ;;
    --rounds) rounds="${2:?$usage}"; shift 2 ;;
    --seconds) seconds="${2:?$usage}"; shift 2 ;;
    -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument '$1'; $usage" >&2; exit 2 ;;
  esac
done
for v in "$rounds" "$seconds" ${clients//,/ }; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "'$v' is not a positive whole number; $usage" >&2; exit 2; }
done
command -v pgbench >/dev/null || { echo "pgbench is missing: install postgresql-client (scripts/install-deps.sh)" >&2; exit 2; }

state="$(mktemp -d /tmp/outbox-emit-floor.XXXXXX)"
cleanup() { "$root/scripts/postgres/stop.sh" --state "$state" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
echo "starting a throwaway PostgreSQL cluster (durable, wal_level=logical) ..."
"$root/scripts/postgres/start.sh" --state "$state" --fresh --durable --logical
# shellcheck disable=SC1091
source "$state/env"
psql -q "$OUTBOX_PG_URI" -c "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer text NOT NULL, amount_cents bigint NOT NULL, currency text NOT NULL, items text NOT NULL,
  created timestamptz NOT NULL)"

# The business row of outbox_bench_pg_write, and a payload the size of its WAL-mode put (the
# header line and the data). pgbench reads ':name' as a variable, so the payload has '=' where
# JSON has ':' (same size), and the prefix likewise.
insert="INSERT INTO orders (customer, amount_cents, currency, items, created) VALUES ('customer-' || :c, 1000 + :c, 'EUR', 'sku-1001,sku-2002,sku-3003', now()) RETURNING id;"
payload='{"v"=1,"id"="0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","type"="order_created","created_us"=1764770000000000,"key"="order-42"}\n{"ordernr"=42,"customer"="customer-42","amount_cents"=4200,"currency"="EUR","items"=["sku-1001","sku-2002","sku-3003"],"note"=null}'
printf '%s\n' '\set c random(1, 1000)' 'BEGIN;' "$insert" 'COMMIT;' > "$state/bare.sql"
printf '%s\n' '\set c random(1, 1000)' 'BEGIN;' "$insert" '\startpipeline' \
  "SELECT (pg_logical_emit_message(true, 'outbox=orders', '$payload') - '0/0'::pg_lsn)::bigint;" \
  'COMMIT;' '\endpipeline' > "$state/emit.sql"

busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }  # user nice system irq softirq
ticks_per_second=$(getconf CLK_TCK)

# One round: prints "tps cpu_us_per_transaction".
round() {
  local script=$1 n=$2 before after out tps count
  before=$(busy_ticks)
  out=$(pgbench -n -M prepared -f "$state/$script.sql" -c "$n" -j "$n" -T "$seconds" "$OUTBOX_PG_URI" 2>&1) ||
    { echo "pgbench failed: $out" >&2; exit 1; }
  after=$(busy_ticks)
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<< "$out")
  count=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<< "$out")
  awk -v t="$tps" -v c="$count" -v d=$((after - before)) -v hz="$ticks_per_second" \
    'BEGIN { printf "%.1f %.1f\n", t, d / hz * 1e6 / c }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for n in ${clients//,/ }; do
  echo "== $n client(s): $rounds rounds of ${seconds}s each, bare and emit alternated"
  : > "$state/bare.$n"; : > "$state/emit.$n"
  for ((r = 1; r <= rounds; ++r)); do
    for v in bare emit; do
      res=$(round "$v" "$n")
      echo "$res" >> "$state/$v.$n"
      printf '  round %d %-4s %10s tx/s %8s us CPU/tx\n' "$r" "$v" ${res}
    done
  done
  bt=$(cut -d' ' -f1 "$state/bare.$n" | median); et=$(cut -d' ' -f1 "$state/emit.$n" | median)
  bc=$(cut -d' ' -f2 "$state/bare.$n" | median); ec=$(cut -d' ' -f2 "$state/emit.$n" | median)
  awk -v bt="$bt" -v et="$et" -v bc="$bc" -v ec="$ec" -v n="$n" 'BEGIN {
    printf "  medians: bare %.1f tx/s, %.1f us CPU/tx; emit %.1f tx/s, %.1f us CPU/tx\n", bt, bc, et, ec
    printf "  RATIO emit/bare, %d client(s): throughput %.3f, CPU (bare/emit) %.3f\n", n, et / bt, bc / ec }'
done
