#!/usr/bin/env bash
# Two builds of the relay against each other, as users run it: the real `outbox relay --drain`
# of each (A, then B, then B, then A, ...) publishes the same SQLite backlog to a throwaway Kafka
# broker (scripts/kafka), each run as a new consumer. Reports per run and as medians: CPU time of
# the relay process (user + system, from GNU time) per message, wall-clock msg/s and peak RSS. CPU
# per message is the steadier figure on a shared machine: the broker's own CPU is not in it.
# Prints figures; never fails on time.
# Usage: bench/kafka_relay_ab.sh OUTBOX_A OUTBOX_B [--messages N] [--rounds R]
#   OUTBOX_A, OUTBOX_B: two `outbox` binaries (e.g. a copy of build/src/cli/outbox from before a
#   change, and the one after); defaults: 300000 messages, 3 rounds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
messages=300000
rounds=3
bins=()
usage="usage: bench/kafka_relay_ab.sh OUTBOX_A OUTBOX_B [--messages N] [--rounds R]"
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) messages="${2:-}"; shift 2 ;;
    --rounds) rounds="${2:-}"; shift 2 ;;
    -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
    -*) echo "unknown option $1; $usage" >&2; exit 2 ;;
    *) bins+=("$1"); shift ;;
  esac
done
[ "${#bins[@]}" = 2 ] || { echo "give two outbox binaries; $usage" >&2; exit 2; }
for b in "${bins[@]}"; do
  [[ -x "$b" ]] || { echo "'$b' is not an executable outbox binary; $usage" >&2; exit 2; }
done
for n in "$messages" "$rounds"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "'$n' is not a positive whole number; $usage" >&2; exit 2; }
done
[[ -x /usr/bin/time ]] || { echo "missing /usr/bin/time (GNU time): run scripts/install-deps.sh" >&2; exit 2; }

work="$(mktemp -d /tmp/outbox-bench-relay-ab.XXXXXX)"
trap 'rm -rf "$work"' EXIT
db="$work/backlog.db"
. "$root/bench/lib/sqlite_backlog.sh"
make_sqlite_backlog "${bins[0]}" "$db" "$messages"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A: ${bins[0]}"
echo "B: ${bins[1]}"
echo "backlog: $messages messages in $db ($(du -h "$db" | cut -f1))"
echo "starting a throwaway Kafka broker (takes a few seconds) ..."
export db work messages rounds a="${bins[0]}" b="${bins[1]}"
"$root/scripts/kafka/with-kafka.sh" bash -c '
  set -euo pipefail
  run() {  # run LABEL BINARY CONSUMER
    /usr/bin/time -o "$work/time" -f "%U %S %e %M" "$2" relay --store "sqlite:$db" --outbox orders \
      --consumer "$3" --sink "kafka://$KAFKA_BOOTSTRAP/relay-ab" --drain > "$work/relay.log" 2>&1 ||
      { echo "relay $1 failed:"; tail -20 "$work/relay.log"; exit 1; }
    read -r user sys secs kb < "$work/time"
    awk -v r="$r" -v l="$1" -v u="$user" -v s="$sys" -v w="$secs" -v k="$kb" -v n="$messages" "BEGIN {
      printf \"%-6s %-3s %14.2f %10.2f %12.0f %10.1f\n\", r, l, (u + s) * 1e6 / n, w, n / w, k / 1024
      print l, (u + s) * 1e6 / n, n / w, k / 1024 >> \"$work/results\" }"
  }
  echo "warm-up drain with A (not counted) ..."
  r=0; run A "$a" warmup > /dev/null; rm -f "$work/results"
  printf "%-6s %-3s %14s %10s %12s %10s\n" round bin "CPU us/msg" seconds msg/s "peak MB"
  for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) = 1 ]; then run A "$a" "a$r"; run B "$b" "b$r"; else run B "$b" "b$r"; run A "$a" "a$r"; fi
  done
  echo
  echo "medians over $rounds rounds:"
  printf "%-3s %14s %12s %10s\n" bin "CPU us/msg" msg/s "peak MB"
  for l in A B; do
    med() { awk -v l="$l" -v c="$1" "\$1 == l { print \$c }" "$work/results" | sort -n |
            awk "{ v[NR] = \$1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }"; }
    printf "%-3s %14.2f %12.0f %10.1f\n" "$l" "$(med 2)" "$(med 3)" "$(med 4)"
  done
'
