#!/usr/bin/env bash
# Starts a throwaway FerretDB (MongoDB wire protocol) for the tests: the SQLite backend with its
# files in a fresh temporary folder, listening on 127.0.0.1 only, on a free port. Builds FerretDB
# first if the cache has none (install.sh). Writes STATE/env (shell syntax) with
#   OUTBOX_MONGO_URI=mongodb://127.0.0.1:PORT/  FERRETDB_PORT  FERRETDB_PID
# Usage: start.sh --state DIR [--fresh]
set -euo pipefail
state=""
fresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --state) state="$2"; shift 2 ;;
    --fresh) fresh=1; shift ;;
    *) echo "usage: $0 --state DIR [--fresh]" >&2; exit 2 ;;
  esac
done
[ -n "$state" ] || { echo "usage: $0 --state DIR [--fresh]" >&2; exit 2; }
script_dir="$(cd "$(dirname "$0")" && pwd)"
source "$script_dir/common.sh"

# Answers when something accepts a TCP connection on the port and the process is ours.
is_up() { kill -0 "$1" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; }

if [ -f "$state/env" ] && [ "$fresh" -eq 0 ]; then
  # shellcheck disable=SC1091
  source "$state/env"
  if is_up "$FERRETDB_PID" "$FERRETDB_PORT"; then
    echo "ferretdb: already running on 127.0.0.1:$FERRETDB_PORT"
    exit 0
  fi
fi
"$script_dir/stop.sh" --state "$state" >/dev/null 2>&1 || true
"$script_dir/install.sh" >/dev/null
mkdir -p "$state"
state="$(cd "$state" && pwd)"
data="$(mktemp -d /tmp/outbox-ferretdb.XXXXXX)"
echo "$data" >"$state/datadir"

for attempt in 1 2 3 4 5; do
  port=$(ferretdb_free_port)
    # No telemetry, no debug HTTP listener (it would take a fixed port), SQLite files in $data.
  # FerretDB trims capped collections in the background, not on insert: every second here.
  setsid "$FERRETDB_BIN" --listen-addr="127.0.0.1:$port" --handler=sqlite --sqlite-url="file:$data/" \
    --state-dir="$data" --telemetry=disable --debug-addr=- --log-level=WARN \
    --test-capped-cleanup-interval="${FERRETDB_CAPPED_CLEANUP_INTERVAL:-1s}" \
    >"$data/server.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$state/pid"
  for _ in $(seq 1 200); do
    if is_up "$pid" "$port"; then
      cat >"$state/env" <<ENV
export FERRETDB_PORT=$port
export FERRETDB_PID=$pid
export OUTBOX_MONGO_URI=mongodb://127.0.0.1:$port/
ENV
      echo "ferretdb: v$FERRETDB_VERSION (SQLite) running on 127.0.0.1:$port, pid $pid (data $data); env in $state/env"
      exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "ferretdb: start on port $port failed (attempt $attempt); server log:" >&2
  cat "$data/server.log" >&2 || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
ferretdb_die "could not start; see $data/server.log"
