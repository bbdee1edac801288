#!/usr/bin/env bash
# Stops the redis-server that start.sh started in a state dir.
#   stop.sh --state DIR            shut down cleanly, then delete DIR
#   stop.sh --state DIR --keep     keep DIR (its AOF, port) for start.sh to bring the same server back
#   stop.sh --state DIR --kill     SIGKILL, as in a crash (implies --keep): what was acknowledged
#                                  must still be in the AOF when it comes back
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
pid=$(cat "$state/redis.pid" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
  if [ "$crash" = 1 ]; then
    kill -KILL "$pid"
  else
    kill -TERM "$pid"  # redis-server shuts down cleanly on SIGTERM (fsyncs the AOF)
  fi
  for _ in $(seq 1 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.025; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.1; fi
fi
rm -f "$state/redis.pid"
[ "$keep" = 1 ] || rm -rf "$state"
