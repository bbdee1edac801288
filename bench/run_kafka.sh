#!/usr/bin/env bash
# Starts a throwaway Kafka broker on loopback (scripts/kafka) and runs the Kafka benchmarks against
# it: relay -> Kafka vs raw librdkafka, then commit -> ack latency at 1,000 msg/s.
# Usage: bench/run_kafka.sh [BUILD_DIR]   (a Release build with OUTBOX_BUILD_BENCH=ON)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${1:-$root/build-bench}/bench/outbox_bench_kafka"
[[ -x "$bin" ]] || { echo "missing $bin: build with -DOUTBOX_BUILD_BENCH=ON first" >&2; exit 2; }
exec "$root/scripts/kafka/with-kafka.sh" bash -c "
  '$bin' --mode throughput
  echo
  '$bin' --mode latency --linger-ms 0
"
