#!/usr/bin/env bash
# Stops the jongodb started by start.sh (its data is in memory: nothing to remove).
# Usage: stop.sh --state DIR
set -euo pipefail
state=""
while [ $# -gt 0 ]; do
  case "$1" in
    --state) state="$2"; shift 2 ;;
    *) echo "usage: $0 --state DIR" >&2; exit 2 ;;
  esac
done
[ -n "$state" ] || { echo "usage: $0 --state DIR" >&2; exit 2; }
[ -f "$state/pid" ] || { echo "jongodb: nothing to stop in $state"; exit 0; }
pid="$(cat "$state/pid")"
# Only our own server: the pid must still be a jongodb process.
if kill -0 "$pid" 2>/dev/null && grep -q jongodb "/proc/$pid/cmdline" 2>/dev/null; then
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$state/pid" "$state/env"
echo "jongodb: stopped"
