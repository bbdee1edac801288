#!/usr/bin/env bash
# Stops the FerretDB started by start.sh and removes its data folder.
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
[ -f "$state/pid" ] || [ -f "$state/datadir" ] || { echo "ferretdb: nothing to stop in $state"; exit 0; }
if [ -f "$state/pid" ]; then
  pid="$(cat "$state/pid")"
  # Only our own server: the pid must still be a ferretdb process.
  if kill -0 "$pid" 2>/dev/null && grep -q ferretdb "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$state/pid"
fi
if [ -f "$state/datadir" ]; then
  data="$(cat "$state/datadir")"
  case "$data" in /tmp/outbox-ferretdb.*) rm -rf "$data" ;; *) echo "ferretdb: refusing to remove '$data'" >&2; exit 1 ;; esac
  rm -f "$state/datadir"
fi
rm -f "$state/env"
echo "ferretdb: stopped"
