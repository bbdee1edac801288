# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this file
# Sourced by the scripts in scripts/jongodb/: where the jongodb binary is cached, and helpers.
# jongodb is a MongoDB-compatible server (a native image) published on npm as
# @jongodb/memory-server-bin-linux-x64-gnu. Unlike FerretDB it implements multi-document
# transactions (as a single-node replica set), but no change streams.

JONGODB_VERSION=${JONGODB_VERSION:-0.1.6}
JONGODB_PACKAGE=@jongodb/memory-server-bin-linux-x64-gnu
# Cache outside the repo, kept across builds and clones (HOME may be unset in a minimal CI).
OUTBOX_HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
OUTBOX_CACHE=${OUTBOX_CACHE:-${XDG_CACHE_HOME:-${OUTBOX_HOME:-/tmp}/.cache}/service-outbox}
JONGODB_HOME=$OUTBOX_CACHE/jongodb-$JONGODB_VERSION
JONGODB_BIN=$JONGODB_HOME/package/bin/jongodb

jongodb_log() { echo "jongodb: $*" >&2; }
jongodb_die() { echo "jongodb: error: $*" >&2; exit 1; }

# A TCP port on 127.0.0.1 that nothing listens on right now (start is retried on a race).
jongodb_free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  jongodb_die "no free port found"
}
