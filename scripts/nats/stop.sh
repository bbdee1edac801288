#!/usr/bin/env bash
# Stops the nats-server that start.sh started in DIR: stop.sh --dir DIR [--kill]
# (--kill: SIGKILL, a crash; otherwise SIGTERM, a clean shutdown). Returns once it has exited.
set -euo pipefail
dir="" sig=TERM
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --kill) sig=KILL; shift ;;
    *) echo "stop.sh: unknown argument $1 (use --dir DIR [--kill])" >&2; exit 2 ;;
  esac
done
[ -n "$dir" ] && [ -f "$dir/pid" ] || exit 0
pid=$(cat "$dir/pid")
kill -"$sig" "$pid" 2>/dev/null || exit 0
for _ in $(seq 1 300); do
  kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; exit 0; }
  sleep 0.05
done
kill -KILL "$pid" 2>/dev/null || true
rm -f "$dir/pid"
