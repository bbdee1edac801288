#!/usr/bin/env bash
# Starts a throwaway jongodb for the tests: a single-node replica set "rs0" (multi-document
# transactions, no change streams), in memory, on 127.0.0.1 only, on a free port. Fetches jongodb
# first if the cache has none (install.sh). Writes STATE/env (shell syntax) with
#   OUTBOX_JONGODB_URI=mongodb://127.0.0.1:PORT/?replicaSet=rs0  JONGODB_PORT  JONGODB_PID
# Usage: start.sh --state DIR
set -euo pipefail
state=""
while [ $# -gt 0 ]; do
  case "$1" in
    --state) state="$2"; shift 2 ;;
    *) echo "usage: $0 --state DIR" >&2; exit 2 ;;
  esac
done
[ -n "$state" ] || { echo "usage: $0 --state DIR" >&2; exit 2; }
script_dir="$(cd "$(dirname "$0")" && pwd)"
source "$script_dir/common.sh"

is_up() { kill -0 "$1" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; }

"$script_dir/stop.sh" --state "$state" >/dev/null 2>&1 || true
"$script_dir/install.sh" >/dev/null
mkdir -p "$state"
state="$(cd "$state" && pwd)"
for attempt in 1 2 3 4 5; do
  port=$(jongodb_free_port)
  setsid "$JONGODB_BIN" --host=127.0.0.1 --port="$port" --topology-profile=singlenodereplicaset \
    --replica-set-name=rs0 >"$state/server.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$state/pid"
  for _ in $(seq 1 200); do
    if is_up "$pid" "$port"; then
      cat >"$state/env" <<ENV
export JONGODB_PORT=$port
export JONGODB_PID=$pid
export OUTBOX_JONGODB_URI=mongodb://127.0.0.1:$port/?replicaSet=rs0
ENV
      echo "jongodb: v$JONGODB_VERSION (replica set rs0) running on 127.0.0.1:$port, pid $pid; env in $state/env"
      exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "jongodb: start on port $port failed (attempt $attempt); server log:" >&2
  cat "$state/server.log" >&2 || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
jongodb_die "could not start; see $state/server.log"
