#!/usr/bin/env bash
# Builds FerretDB (v1.24.2 by default) with Go, fetching its module from the Go module proxy, into
# the cache (~/.cache/service-outbox/ferretdb-1.24.2/bin/ferretdb). Does nothing when that build is
# there already. The first build downloads and compiles for a few minutes. Prints the binary's path.
#
# Why not `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: the module lacks the
# build/version/version.txt of a release build, and that binary panics at start-up without it. So
# this copies the module's source, writes the version file, and builds cmd/ferretdb from the copy.
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
src=""
trap 'kill "$ticker" 2>/dev/null || true; [ -z "$src" ] || rm -rf "$src"' EXIT
start=$SECONDS
module="github.com/FerretDB/FerretDB@v$FERRETDB_VERSION"
ferretdb_log "downloading $module and its dependencies from ${GOPROXY:-the Go module proxy}"
dir=$(cd /tmp && "$go_bin" mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] && [ -d "$dir" ] || ferretdb_die "go mod download $module failed (network to proxy.golang.org?)"
src=$(mktemp -d /tmp/outbox-ferretdb-src.XXXXXX)
cp -R "$dir/." "$src/"
chmod -R u+w "$src"
echo "v$FERRETDB_VERSION" >"$src/build/version/version.txt"
( cd "$src" && "$go_bin" mod download && ferretdb_log "modules downloaded after $((SECONDS - start))s; compiling" &&
  "$go_bin" build -trimpath -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb ) || ferretdb_die "go build failed; see the output above"
mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
ferretdb_build_stamp >"$FERRETDB_HOME/built"
ferretdb_log "built $FERRETDB_BIN in $((SECONDS - start))s"
echo "$FERRETDB_BIN"
