#!/usr/bin/env bash
# Restarts the throwaway cluster started by start.sh (fast shutdown: open sessions are cut), on the
# same port. Used by the server-restart test. Usage: restart.sh --state DIR
set -euo pipefail
state=""
while [ $# -gt 0 ]; do
  case "$1" in
    --state) state="$2"; shift 2 ;;
    *) echo "usage: $0 --state DIR" >&2; exit 2 ;;
  esac
done
[ -n "$state" ] && [ -f "$state/datadir" ] || { echo "postgres: no cluster in '$state'" >&2; exit 2; }
script_dir="$(cd "$(dirname "$0")" && pwd)"
source "$script_dir/common.sh"
data="$(cat "$state/datadir")"
as_pg "$pg_bin/pg_ctl" -D "$data/db" -l "$data/server.log" -m fast -w -t 60 restart >/dev/null
echo "postgres: restarted"
