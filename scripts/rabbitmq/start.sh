#!/usr/bin/env bash
# Starts a throwaway rabbitmq-server for tests: 127.0.0.1 only, free ports (AMQP, Erlang
# distribution, and an epmd of its own so that it clashes with no other Erlang node), no plugins
# (no management listener), its node database and logs in a state dir. Queues the tests declare
# durable survive a crash (SIGKILL) and restart from the same dir.
#
#   start.sh --state DIR           a fresh server in DIR; or, when DIR holds a server that stop.sh
#                                  stopped, that same node again (same ports, same database): for
#                                  restart tests
#   start.sh --state DIR --fresh   wipe DIR first (killing a server still running from DIR)
#   --skip-if-missing              without rabbitmq-server installed, say so and exit 0 (the ctest
#                                  fixture: the tests then skip themselves with the reason)
#
# Prints `export RABBITMQ_PORT=...` lines (also in DIR/env as KEY=VALUE) and returns once the AMQP
# port accepts connections and the node reports it is running.
set -euo pipefail
usage() { echo "usage: $0 --state DIR [--fresh]" >&2; exit 2; }
state="" fresh=0 skip_if_missing=0
while [ $# -gt 0 ]; do
  case "$1" in
    --state) [ $# -ge 2 ] || usage; state=$2; shift 2 ;;
    --fresh) fresh=1; shift ;;
    --skip-if-missing) skip_if_missing=1; shift ;;
    *) echo "start.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[ -n "$state" ] || usage
# The Debian wrapper in /usr/sbin switches to the rabbitmq user; the real script runs as whoever calls it.
server=/usr/lib/rabbitmq/bin/rabbitmq-server
ctl=/usr/lib/rabbitmq/bin/rabbitmqctl
[ -x "$server" ] || server=$(command -v rabbitmq-server || true)
[ -x "$ctl" ] || ctl=$(command -v rabbitmqctl || true)
if [ -z "$server" ] && [ "$skip_if_missing" = 1 ]; then
  echo "start.sh: rabbitmq-server is not installed; the rabbitmq tests will skip (apt-get install rabbitmq-server)"
  exit 0
fi
[ -n "$server" ] || { echo "start.sh: rabbitmq-server not found: apt-get install rabbitmq-server" >&2; exit 1; }
mkdir -p "$state"
state=$(cd "$state" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

if [ "$fresh" = 1 ]; then
  "$here/stop.sh" --state "$state" --kill
  old_epmd=$(sed -n 's/^ERL_EPMD_PORT=//p' "$state/env" 2>/dev/null || true)
  if [ -n "$old_epmd" ]; then epmd -port "$old_epmd" -kill >/dev/null 2>&1 || true; fi
  find "$state" -mindepth 1 -delete
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Below the kernel's ephemeral range (ip_local_port_range, 32768 and up here): a random port there
# can be the local port of some connection or TIME_WAIT socket, which a listener cannot bind
# although nothing listens on it; an epmd that cannot bind exits, and the node then stops with
# "nodistribution".
free_port() {
  local candidate
  for _ in $(seq 1 50); do
    candidate=$((20000 + RANDOM % 12000))
    if port_free "$candidate" && [ "$candidate" != "${1:-}" ] && [ "$candidate" != "${2:-}" ]; then
      echo "$candidate"
      return 0
    fi
  done
  echo "start.sh: no free port found" >&2
  return 1
}
pick_ports() {
  RABBITMQ_PORT=$(free_port)
  RABBITMQ_DIST_PORT=$(free_port "$RABBITMQ_PORT")
  ERL_EPMD_PORT=$(free_port "$RABBITMQ_PORT" "$RABBITMQ_DIST_PORT")
  RABBITMQ_NODE="outbox-test-$RABBITMQ_PORT@localhost"
  printf 'RABBITMQ_PORT=%s\nRABBITMQ_DIST_PORT=%s\nERL_EPMD_PORT=%s\nRABBITMQ_NODE=%s\nRABBITMQ_DIR=%s\n' \
    "$RABBITMQ_PORT" "$RABBITMQ_DIST_PORT" "$ERL_EPMD_PORT" "$RABBITMQ_NODE" "$state" >"$state/env.tmp"
  mv "$state/env.tmp" "$state/env"
}

new_node=0  # a node of a fresh state dir may move to other ports if its first ones fail
if [ -f "$state/env" ]; then
  # shellcheck disable=SC1091
  . "$state/env"
else
  new_node=1
  pick_ports
fi

running_pid() {  # the pid of this state dir's node, if it runs
  local pid
  pid=$(cat "$state/rabbitmq.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q beam "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
  return 0
}
if [ -n "$(running_pid)" ]; then
  echo "start.sh: the server of $state runs already" >&2
  sed 's/^/export /' "$state/env"
  exit 0
fi

mkdir -p "$state/mnesia" "$state/log" "$state/home"
# No plugins at all (so no management listener on 15672), and the guest user allowed over
# loopback (the default).
echo "[]." >"$state/enabled_plugins"
: >"$state/rabbitmq-env.conf"
[ -f "$state/advanced.config" ] || echo "[]." >"$state/advanced.config"
# Each node gets its own Erlang cookie (in HOME) and its own epmd.
export HOME="$state/home"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_MNESIA_BASE="$state/mnesia" RABBITMQ_LOG_BASE="$state/log"
export RABBITMQ_CONFIG_FILE="$state/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$state/enabled_plugins"
export RABBITMQ_ADVANCED_CONFIG_FILE="$state/advanced.config" RABBITMQ_CONF_ENV_FILE="$state/rabbitmq-env.conf"
export RABBITMQ_PID_FILE="$state/rabbitmq.pid" ERL_CRASH_DUMP="$state/log/erl_crash.dump"
# Erlang's startup flags: fewer schedulers than cores on a shared CI machine, and no busy waiting.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+S 2:2 +sbwt none +sbwtdcpu none +sbwtdio none"

# Starts epmd and the node on the current ports; 0 once the node runs, 1 if it stopped during startup.
launch() {
  cat >"$state/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$RABBITMQ_PORT
loopback_users.guest = true
CONF
  export ERL_EPMD_PORT RABBITMQ_NODENAME="$RABBITMQ_NODE" RABBITMQ_NODE_PORT="$RABBITMQ_PORT" RABBITMQ_DIST_PORT
  # epmd -daemon returns before it listens: wait for it, or the node finds none.
  epmd -port "$ERL_EPMD_PORT" -daemon
  for _ in $(seq 1 100); do port_free "$ERL_EPMD_PORT" || break; sleep 0.05; done
  port_free "$ERL_EPMD_PORT" && { echo "epmd did not listen on port $ERL_EPMD_PORT" >"$state/server.out"; return 1; }
  setsid "$server" >"$state/server.out" 2>&1 </dev/null &
  echo $! >"$state/launcher.pid"
  for _ in $(seq 1 600); do
    pid=$(cat "$state/rabbitmq.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && ! port_free "$RABBITMQ_PORT" &&
      "$ctl" -n "$RABBITMQ_NODE" -q await_startup --timeout 1 >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$(cat "$state/launcher.pid")" 2>/dev/null || return 1
    sleep 0.1
  done
  return 2  # still starting after 60 s
}

# A node that stops during startup is started again, twice at most; a new node on other ports.
for attempt in 1 2 3; do
  status=0
  launch || status=$?
  if [ "$status" = 0 ]; then
    sed 's/^/export /' "$state/env"
    exit 0
  fi
  [ "$status" = 2 ] && break
  cp "$state/server.out" "$state/server.out.$attempt" 2>/dev/null || true
  echo "start.sh: rabbitmq-server on port $RABBITMQ_PORT stopped during startup (attempt $attempt)" >&2
  if [ "$new_node" = 1 ]; then
    epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
    rm -rf "$state/mnesia" && mkdir -p "$state/mnesia"
    pick_ports
  fi
  sleep 1
done
echo "start.sh: rabbitmq-server on port $RABBITMQ_PORT did not start; its output:" >&2
tail -30 "$state/server.out" >&2 || true
tail -30 "$state"/log/*.log >&2 2>/dev/null || true
exit 1
