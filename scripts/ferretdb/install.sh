#!/usr/bin/env bash
# Builds the FerretDB test server (scripts/ferretdb/server: FerretDB v1.24.2 embedded, SQLite
# backend) with Go, fetching the modules from the Go module proxy, into the cache
# (~/.cache/service-outbox/ferretdb-1.24.2/bin/). Does nothing when that build is there already.
# The first build downloads and compiles for a few minutes. Prints the binary's path on stdout.
# Usage: install.sh
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
if ferretdb_built; then
  echo "$FERRETDB_BIN"
  exit 0
fi
go_bin=$(ferretdb_go)
mkdir -p "$FERRETDB_HOME/bin"
ferretdb_log "building FerretDB v$FERRETDB_VERSION with $go_bin into $FERRETDB_HOME (first time only; a few minutes)"
# Go's own caches inside ours, so that a CI runner without HOME works and a rerun is fast.
export GOPATH=${GOPATH:-$OUTBOX_CACHE/go}
export GOCACHE=${GOCACHE:-$OUTBOX_CACHE/go-build}
export GOMODCACHE=${GOMODCACHE:-$GOPATH/pkg/mod}
export GOFLAGS=-mod=mod
# Progress: a line every 30 s while the compiler is quiet.
( while sleep 30; do ferretdb_log "still building..."; done ) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true' EXIT
start=$SECONDS
( cd "$FERRETDB_SRC" && ferretdb_log "downloading modules from ${GOPROXY:-the Go module proxy}" &&
  "$go_bin" mod download && ferretdb_log "modules downloaded after $((SECONDS - start))s; compiling" &&
  "$go_bin" build -o "$FERRETDB_BIN.tmp" . ) || ferretdb_die "go build failed; see the output above (network to proxy.golang.org?)"
mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
ferretdb_build_stamp >"$FERRETDB_HOME/built"
ferretdb_log "built $FERRETDB_BIN in $((SECONDS - start))s"
echo "$FERRETDB_BIN"
