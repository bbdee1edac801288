#!/usr/bin/env bash
# The relay's first record to Kafka: wall time of `outbox relay --drain` publishing one message to
# an existing topic, from process start to exit (start-up, the topic's metadata, the produce and its
# acknowledgement, then the drain's idle check and the stop). Runs each given `outbox` binary in
# turn, RUNS times (each a new process, so a new producer that knows no topic yet), and prints
# per-binary min / median / max. With --new-topic every run publishes to a topic of its own, which
# the broker creates on the first request for it. Prints figures; never fails on time. Needs a broker:
#   scripts/kafka/with-kafka.sh bench/kafka_first_record.sh [--runs N] [--new-topic] OUTBOX [OUTBOX...]
set -euo pipefail
runs=15
new_topic=0
while [[ ${1:-} == --* ]]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --new-topic) new_topic=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $# -ge 1 ]] || { echo "usage: with-kafka.sh $0 [--runs N] [--new-topic] OUTBOX [OUTBOX...]" >&2; exit 2; }
[[ -n ${KAFKA_BOOTSTRAP:-} ]] || { echo "KAFKA_BOOTSTRAP is not set: run under scripts/kafka/with-kafka.sh" >&2; exit 2; }
dir=$(mktemp -d /tmp/outbox-first-record.XXXXXX)
trap 'rm -rf "$dir"' EXIT
echo '{"ping": {"type": "object"}}' > "$dir/schemas.json"
run=0

# One relay run on a fresh outbox holding one message; prints its wall time in ms.
run_once() {
  local outbox=$1 db="$dir/run.db" topic=first_record
  [[ $new_topic == 0 ]] || topic=first_record_$$_$run
  rm -f "$db"*
  "$outbox" init --store "sqlite:$db" --outbox bench 2> /dev/null
  "$outbox" put --store "sqlite:$db" --outbox bench --schema "$dir/schemas.json" --type ping --data '{}' > /dev/null
  local t0 t1
  t0=$(date +%s%N)
  "$outbox" relay --store "sqlite:$db" --outbox bench --sink "kafka://$KAFKA_BOOTSTRAP/$topic" --drain 2> "$dir/relay.log" ||
    { cat "$dir/relay.log" >&2; exit 1; }
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}

run_once "$1" > /dev/null  # creates the topic (auto-created by the broker), so every measured run finds it
declare -A times
for ((i = 0; i < runs; i++)); do
  for b in "$@"; do
    run=$((run + 1))  # names the topic of a --new-topic run (run_once runs in a subshell)
    times[$b]+="$(run_once "$b") "
  done  # interleaved: drift hits each binary alike
done
for b in "$@"; do
  sorted=$(tr ' ' '\n' <<< "${times[$b]}" | grep . | sort -n)
  n=$(wc -l <<< "$sorted")
  slow=$(awk '$1 >= 1000' <<< "$sorted" | wc -l)
  printf '%s: %d runs, first record (relay --drain, start to exit) min %s ms, median %s ms, max %s ms; %d took 1 s or more\n' \
    "$b" "$n" "$(head -1 <<< "$sorted")" "$(sed -n "$(((n + 1) / 2))p" <<< "$sorted")" "$(tail -1 <<< "$sorted")" "$slow"
done
