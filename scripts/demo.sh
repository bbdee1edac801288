#!/usr/bin/env bash
# The main job on the embedded default: the order service writes orders and their events in one
# transaction each; the relay publishes the events as JSON lines; `outbox status` shows zero lag.
# Usage: scripts/demo.sh ORDER_SERVICE_BINARY OUTBOX_BINARY [WORK_DIR]
set -euo pipefail
service=${1:?usage: demo.sh ORDER_SERVICE_BINARY OUTBOX_BINARY [WORK_DIR]}
outbox=${2:?usage: demo.sh ORDER_SERVICE_BINARY OUTBOX_BINARY [WORK_DIR]}
work=${3:-$(mktemp -d)}
mkdir -p "$work"
db="$work/orders.db"
rm -f "$db" "$db-wal" "$db-shm"

echo "== 1. the order service creates 100 orders and completes every other one"
"$service" --db "$db" --orders 100

echo "== 2. the relay publishes every committed event as a JSON line (first 3 shown; all in $work/published.jsonl)"
"$outbox" relay --store "sqlite:$db" --outbox order_service --sink stdout: --drain > "$work/published.jsonl"
head -n 3 "$work/published.jsonl"
published=$(wc -l < "$work/published.jsonl")
echo "published $published events"

echo "== 3. outbox status"
"$outbox" status --store "sqlite:$db"

# Check what the demo claims, so that it also works as a test.
if [ "$published" -ne 150 ]; then
  echo "FAILED: expected 150 events (100 order_created + 50 order_completed), got $published" >&2
  exit 1
fi
if ! "$outbox" status --store "sqlite:$db" --outbox order_service --json | grep -q '"lag_messages": 0'; then
  echo "FAILED: the relay's consumer still lags; see the status above" >&2
  exit 1
fi
echo "OK: 150 events published, consumer lag 0"
