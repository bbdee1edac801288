# Shared by start.sh and stop.sh.
pg_bin="${OUTBOX_PG_BIN:-/usr/lib/postgresql/15/bin}"
[ -x "$pg_bin/initdb" ] || { echo "postgres: $pg_bin/initdb not found; install the Debian package postgresql-15 (scripts/install-deps.sh)" >&2; exit 1; }

# Runs a command as the postgres user when we are root (the server refuses to run as root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A TCP port on 127.0.0.1 that nothing listens on right now (pg_ctl start is retried on a race).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "postgres: no free port found" >&2
  return 1
}
