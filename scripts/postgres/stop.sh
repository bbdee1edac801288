#!/usr/bin/env bash
# Stops the throwaway cluster started by start.sh and removes its data folder.
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
script_dir="$(cd "$(dirname "$0")" && pwd)"
source "$script_dir/common.sh"
[ -f "$state/datadir" ] || { echo "postgres: nothing to stop in $state"; exit 0; }
data="$(cat "$state/datadir")"
case "$data" in /tmp/outbox-pg.*) ;; *) echo "postgres: refusing to remove '$data'" >&2; exit 1 ;; esac
if [ -f "$data/db/postmaster.pid" ]; then
  as_pg "$pg_bin/pg_ctl" -D "$data/db" -m fast -w -t 60 stop >/dev/null 2>&1 || \
    as_pg "$pg_bin/pg_ctl" -D "$data/db" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
fi
rm -rf "$data"
rm -f "$state/datadir" "$state/env" "$state/ca.crt" "$state/untrusted-ca.crt"
echo "postgres: stopped and removed $data"
