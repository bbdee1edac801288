#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster for the tests: initdb into a fresh data folder, trust
# auth, listening on 127.0.0.1 only, on a free port. Writes STATE/env (shell syntax) with
#   OUTBOX_PG_URI=postgresql://postgres@127.0.0.1:PORT/postgres  PGHOST PGPORT PGUSER PGDATABASE
# Usage: start.sh --state DIR [--fresh] [--tls] [--durable] [--logical]
# --durable: fsync=on (the default for PostgreSQL, and what benchmarks need); without it the
# cluster runs with fsync=off, since tests never survive a power loss.
# --tls: also serve TLS (ssl=on; plain connections still work): a throwaway CA signs a server
# certificate for localhost / 127.0.0.1; STATE/ca.crt is that CA (for sslmode=verify-full
# sslrootcert=...), STATE/untrusted-ca.crt a CA that signed nothing (for tests of a wrong CA).
# --logical: wal_level=logical with room for replication slots and WAL senders, and replication
# connections allowed from 127.0.0.1 (trust, like the rest): what the outbox's WAL mode needs.
# PostgreSQL refuses to run as root: when run as root, initdb and the server run as the `postgres`
# system user (created by the Debian package), with a data folder owned by it.
set -euo pipefail
state=""
fresh=0
tls=0
fsync=off
logical=0
usage="usage: $0 --state DIR [--fresh] [--tls] [--durable] [--logical]"
while [ $# -gt 0 ]; do
  case "$1" in
    --state) state="$2"; shift 2 ;;
    --fresh) fresh=1; shift ;;
    --tls) tls=1; shift ;;
    --durable) fsync=on; shift ;;
    --logical) logical=1; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
[ -n "$state" ] || { echo "$usage" >&2; exit 2; }
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

tls_options=""
rm -f "$state/ca.crt" "$state/untrusted-ca.crt"
if [ "$tls" -eq 1 ]; then
  command -v openssl >/dev/null || { echo "postgres: --tls needs openssl (scripts/install-deps.sh)" >&2; exit 1; }
  tls_dir="$data/tls"
  mkdir -p "$tls_dir"
  make_ca() {  # make_ca NAME CN: a self-signed CA certificate and key, valid for two days
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 2 \
      -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$tls_dir/$1.key" -out "$tls_dir/$1.crt" 2>>"$state/tls.log"
  }
  {
    make_ca ca "outbox test CA" &&
    make_ca untrusted-ca "outbox untrusted test CA" &&
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -subj "/CN=localhost" \
      -keyout "$tls_dir/server.key" -out "$tls_dir/server.csr" 2>>"$state/tls.log" &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
      >"$tls_dir/server.ext" &&
    openssl x509 -req -in "$tls_dir/server.csr" -CA "$tls_dir/ca.crt" -CAkey "$tls_dir/ca.key" -CAcreateserial \
      -days 2 -extfile "$tls_dir/server.ext" -out "$tls_dir/server.crt" 2>>"$state/tls.log"
  } || { echo "postgres: making the TLS certificates failed; see $state/tls.log" >&2; cat "$state/tls.log" >&2; exit 1; }
  rm -f "$tls_dir/ca.key" "$tls_dir/untrusted-ca.key" "$tls_dir/server.csr"  # nothing else is ever signed
  cp "$tls_dir/ca.crt" "$state/ca.crt"
  cp "$tls_dir/untrusted-ca.crt" "$state/untrusted-ca.crt"
  # The server refuses a key that others can read; it must belong to the server's user.
  chmod 600 "$tls_dir/server.key"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$tls_dir"; fi
  tls_options="-c ssl=on -c ssl_cert_file=$tls_dir/server.crt -c ssl_key_file=$tls_dir/server.key"
fi

logical_options=""
if [ "$logical" -eq 1 ]; then
  logical_options="-c wal_level=logical -c max_replication_slots=64 -c max_wal_senders=32"
  # initdb's pg_hba.conf already lets local users open replication connections over loopback
  # (trust); say so explicitly, since the WAL mode depends on it.
  printf 'host replication all 127.0.0.1/32 trust\n' | as_pg tee -a "$data/db/pg_hba.conf" >/dev/null
fi

for attempt in 1 2 3 4 5; do
  port=$(free_port)
  if as_pg "$pg_bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 start \
       -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$data -c fsync=$fsync -c max_connections=100 $tls_options $logical_options" \
       >"$state/pg_ctl.log" 2>&1; then
    cat >"$state/env" <<ENV
export PGHOST=127.0.0.1
export PGPORT=$port
export PGUSER=postgres
export PGDATABASE=postgres
export OUTBOX_PG_URI=postgresql://postgres@127.0.0.1:$port/postgres
ENV
    if [ "$tls" -eq 1 ]; then echo "export OUTBOX_PG_SSLROOTCERT=$state/ca.crt" >>"$state/env"; fi
    echo "postgres: running on 127.0.0.1:$port (data $data$([ "$tls" -eq 1 ] && echo ", TLS with CA $state/ca.crt")); env in $state/env"
    exit 0
  fi
  echo "postgres: start on port $port failed (attempt $attempt); retrying" >&2
  cat "$data/server.log" >&2 2>/dev/null || true
done
echo "postgres: could not start; see $data/server.log" >&2
exit 1
