#!/usr/bin/env bash
# Stops the rabbitmq-server that start.sh started in a state dir, and the epmd it started.
#   stop.sh --state DIR            shut down cleanly, then delete DIR
#   stop.sh --state DIR --keep     keep DIR (its node database, ports) for start.sh to bring the same node back
#   stop.sh --state DIR --kill     SIGKILL, as in a crash (implies --keep): messages the broker
#                                  confirmed into durable queues must still be there when it comes back
set -euo pipefail
usage() { echo "usage: $0 --state DIR [--keep] [--kill]" >&2; exit 2; }
state="" keep=0 crash=0
while [ $# -gt 0 ]; do
  case "$1" in
    --state) [ $# -ge 2 ] || usage; state=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --kill) crash=1; keep=1; shift ;;
    *) echo "stop.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[ -n "$state" ] || usage
[ -d "$state" ] || exit 0
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
pid=$(cat "$state/rabbitmq.pid" 2>/dev/null || true)
if alive "$pid" && grep -q beam "/proc/$pid/cmdline" 2>/dev/null; then
  if [ "$crash" = 1 ]; then
    kill -KILL "$pid"
  else
    kill -TERM "$pid"  # the node shuts down cleanly on SIGTERM
  fi
  for _ in $(seq 1 600); do alive "$pid" || break; sleep 0.05; done
  if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.1; fi
fi
# The launcher shell and erl_child_setup end with the node; the epmd is this state dir's own.
launcher=$(cat "$state/launcher.pid" 2>/dev/null || true)
if alive "$launcher"; then
  for _ in $(seq 1 100); do alive "$launcher" || break; sleep 0.05; done
  alive "$launcher" && kill -KILL "$launcher" 2>/dev/null || true
fi
rm -f "$state/rabbitmq.pid" "$state/launcher.pid"
if [ "$keep" = 0 ]; then
  port=$(sed -n 's/^ERL_EPMD_PORT=//p' "$state/env" 2>/dev/null || true)
  if [ -n "$port" ]; then
    ERL_EPMD_PORT=$port epmd -port "$port" -kill >/dev/null 2>&1 || true
  fi
  rm -rf "$state"
fi
