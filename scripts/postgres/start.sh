#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster for the tests: initdb into a fresh data folder, trust
# auth, listening on 127.0.0.1 only, on a free port. Writes STATE/env (shell syntax) with
#   OUTBOX_PG_URI=postgresql://postgres@127.0.0.1:PORT/postgres  PGHOST PGPORT PGUSER PGDATABASE
# Usage: start.sh --state DIR [--fresh]
# PostgreSQL refuses to run as root: when run as root, initdb and the server run as the `postgres`
# system user (created by the Debian package), with a data folder owned by it.
set -euo pipefail
state=""
fresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --state) state="$2"; shift 2 ;;
    --fresh) fresh=1; shift ;;
    *) echo "usage: $0 --state DIR [--fresh]" >&2; exit 2 ;;
  esac
done
[ -n "$state" ] || { echo "usage: $0 --state DIR [--fresh]" >&2; exit 2; }
script_dir="$(cd "$(dirname "$0")" && pwd)"
source "$script_dir/common.sh"

if [ -f "$state/env" ] && [ "$fresh" -eq 0 ]; then
  # shellcheck disable=SC1091
  source "$state/env"
  if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"; then
    echo "postgres: already running on 127.0.0.1:$PGPORT"
    exit 0
  fi
fi
"$script_dir/stop.sh" --state "$state" >/dev/null 2>&1 || true
mkdir -p "$state"
state="$(cd "$state" && pwd)"

# The data folder lives outside the build tree so that the postgres user can reach it.
data="$(mktemp -d /tmp/outbox-pg.XXXXXX)"
echo "$data" >"$state/datadir"
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$data"; fi
chmod 700 "$data"

as_pg "$pg_bin/initdb" -D "$data/db" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$state/initdb.log" 2>&1 || {
  echo "postgres: initdb failed; see $state/initdb.log" >&2; cat "$state/initdb.log" >&2; exit 1; }

for attempt in 1 2 3 4 5; do
  port=$(free_port)
  if as_pg "$pg_bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 start \
       -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$data -c fsync=off -c max_connections=100" \
       >"$state/pg_ctl.log" 2>&1; then
    cat >"$state/env" <<ENV
export PGHOST=127.0.0.1
export PGPORT=$port
export PGUSER=postgres
export PGDATABASE=postgres
export OUTBOX_PG_URI=postgresql://postgres@127.0.0.1:$port/postgres
ENV
    echo "postgres: running on 127.0.0.1:$port (data $data); env in $state/env"
    exit 0
  fi
  echo "postgres: start on port $port failed (attempt $attempt); retrying" >&2
  cat "$data/server.log" >&2 2>/dev/null || true
done
echo "postgres: could not start; see $data/server.log" >&2
exit 1
