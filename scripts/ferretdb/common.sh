# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this file
# Sourced by the scripts in scripts/ferretdb/: where the FerretDB binary is cached, and helpers.

FERRETDB_VERSION=${FERRETDB_VERSION:-1.24.2}
# Cache outside the repo, kept across builds and clones. HOME may be unset in a minimal CI
# environment: ask the password database.
OUTBOX_HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
OUTBOX_CACHE=${OUTBOX_CACHE:-${XDG_CACHE_HOME:-${OUTBOX_HOME:-/tmp}/.cache}/service-outbox}
FERRETDB_HOME=$OUTBOX_CACHE/ferretdb-$FERRETDB_VERSION
FERRETDB_BIN=$FERRETDB_HOME/bin/ferretdb

# The identity of a build: the version and the build recipe (install.sh).
ferretdb_build_stamp() { { echo "$FERRETDB_VERSION"; cat "$(dirname "${BASH_SOURCE[0]}")/install.sh"; } | sha256sum | cut -c1-16; }
ferretdb_built() { [ -x "$FERRETDB_BIN" ] && [ "$(cat "$FERRETDB_HOME/built" 2>/dev/null)" = "$(ferretdb_build_stamp)" ]; }

ferretdb_log() { echo "ferretdb: $*" >&2; }
ferretdb_die() { echo "ferretdb: error: $*" >&2; exit 1; }

# The Go toolchain: `go` on PATH, else the one installed in /usr/local/go.
ferretdb_go() {
  if command -v go >/dev/null 2>&1; then command -v go
  elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
  else ferretdb_die "Go not found (neither on PATH nor /usr/local/go/bin/go); install Go 1.21 or newer from https://go.dev/dl/"
  fi
}

# A TCP port on 127.0.0.1 that nothing listens on right now (start is retried on a race).
ferretdb_free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  ferretdb_die "no free port found"
}
