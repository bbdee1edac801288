#!/usr/bin/env bash
# Starts a throwaway nats-server with JetStream on loopback, in the background:
#   start.sh --dir DIR [--port PORT]
# DIR keeps the JetStream store (DIR/store), the log (DIR/server.log), the pid (DIR/pid) and the
# port (DIR/port; without --port the server picks a free one the first time, kept for restarts).
# Returns when the server accepts clients. Used by the end-to-end matrix and bench/run_nats.sh.
set -euo pipefail
dir="" port=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) echo "start.sh: unknown argument $1 (use --dir DIR [--port PORT])" >&2; exit 2 ;;
  esac
done
[ -n "$dir" ] || { echo "start.sh: --dir DIR is required" >&2; exit 2; }
server=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$server" ] || { echo "start.sh: nats-server not found: apt-get install nats-server" >&2; exit 1; }
mkdir -p "$dir"
if [ -z "$port" ] && [ -f "$dir/port" ]; then port=$(cat "$dir/port"); fi
: > "$dir/server.log"
# -p -1: the server picks a free port and logs it.
setsid "$server" -js -a 127.0.0.1 -p "${port:--1}" -sd "$dir/store" >> "$dir/server.log" 2>&1 < /dev/null &
echo $! > "$dir/pid"
for _ in $(seq 1 300); do
  if grep -q "Server is ready" "$dir/server.log"; then
    port=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/server.log" | head -1)
    [ -n "$port" ] || { echo "start.sh: no client port in $dir/server.log" >&2; exit 1; }
    echo "$port" > "$dir/port"
    echo "nats-server on 127.0.0.1:$port (pid $(cat "$dir/pid"))"
    exit 0
  fi
  kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
  sleep 0.1
done
echo "start.sh: nats-server did not start:" >&2
tail -20 "$dir/server.log" >&2
exit 1
