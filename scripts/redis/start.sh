#!/usr/bin/env bash
# Starts a throwaway redis-server for tests: 127.0.0.1 only, a free port, AOF on with
# appendfsync always (every acknowledged write is on disk), no RDB snapshots, its data in a state dir.
#
#   start.sh --state DIR           a fresh server in DIR; or, when DIR holds a server that stop.sh
#                                  stopped, that same server again (same port, same AOF): for
#                                  restart tests
#   start.sh --state DIR --fresh   wipe DIR first (killing a server still running from DIR)
#
# Prints `export REDIS_PORT=...` lines (also in DIR/env as KEY=VALUE) and returns once it answers PING.
set -euo pipefail
usage() { echo "usage: $0 --state DIR [--fresh]" >&2; exit 2; }
state="" fresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --state) [ $# -ge 2 ] || usage; state=$2; shift 2 ;;
    --fresh) fresh=1; shift ;;
    *) echo "start.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[ -n "$state" ] || usage
command -v redis-server >/dev/null || { echo "start.sh: redis-server not found: apt-get install redis-server" >&2; exit 1; }
mkdir -p "$state"
state=$(cd "$state" && pwd)

running_pid() {  # the pid of this state dir's server, if it runs
  local pid
  pid=$(cat "$state/redis.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
  return 0
}

if [ "$fresh" = 1 ]; then
  pid=$(running_pid)
  if [ -n "$pid" ]; then kill -KILL "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done; fi
  find "$state" -mindepth 1 -delete
fi
if [ -n "$(running_pid)" ]; then
  echo "start.sh: the server of $state runs already" >&2
  sed 's/^/export /' "$state/env"
  exit 0
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -f "$state/env" ]; then
  port=$(sed -n 's/^REDIS_PORT=//p' "$state/env")
else
  port=""
  for _ in $(seq 1 50); do
    candidate=$((20000 + RANDOM % 30000))
    if port_free "$candidate"; then port=$candidate; break; fi
  done
  [ -n "$port" ] || { echo "start.sh: no free port found" >&2; exit 1; }
fi

# A restart after a SIGKILL finds the port free at once: the kernel closes the socket with the process.
redis-server --bind 127.0.0.1 --port "$port" --dir "$state" \
  --appendonly yes --appendfsync always --save "" \
  --daemonize yes --pidfile "$state/redis.pid" --logfile "$state/redis.log" \
  --protected-mode yes >/dev/null

printf 'REDIS_PORT=%s\nREDIS_DIR=%s\n' "$port" "$state" >"$state/env.tmp"
mv "$state/env.tmp" "$state/env"
for _ in $(seq 1 200); do
  if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
    sed 's/^/export /' "$state/env"
    exit 0
  fi
  sleep 0.05
done
echo "start.sh: redis-server on port $port did not answer within 10 s; its log:" >&2
tail -20 "$state/redis.log" >&2 || true
exit 1
