#!/usr/bin/env bash
# Fetches jongodb (a native MongoDB-compatible server with transactions) from the npm registry into
# the cache (~/.cache/service-outbox/jongodb-0.1.6/package/bin/jongodb), checks the binary against
# the SHA-256 its package declares, and prints its path. Does nothing when it is there already.
# Usage: install.sh
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/common.sh"
if [ -x "$JONGODB_BIN" ] && [ -f "$JONGODB_HOME/verified" ]; then
  echo "$JONGODB_BIN"
  exit 0
fi
command -v npm >/dev/null || jongodb_die "npm not found; install Node.js and npm (Debian: apt-get install npm) and rerun"
mkdir -p "$JONGODB_HOME"
tmp=$(mktemp -d /tmp/outbox-jongodb-fetch.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
jongodb_log "fetching $JONGODB_PACKAGE@$JONGODB_VERSION from the npm registry (about 8 MB)"
( cd "$tmp" && npm pack --silent "$JONGODB_PACKAGE@$JONGODB_VERSION" >/dev/null ) ||
  jongodb_die "npm pack $JONGODB_PACKAGE@$JONGODB_VERSION failed (network to registry.npmjs.org?)"
tar -xzf "$tmp"/*.tgz -C "$tmp"
# The package names the binary's digest (package.json "jongodb": {"sha256": ...}).
want=$(sed -n 's/.*"sha256": *"\([0-9a-f]\{64\}\)".*/\1/p' "$tmp/package/package.json")
got=$(sha256sum "$tmp/package/bin/jongodb" | cut -d' ' -f1)
[ -n "$want" ] && [ "$want" = "$got" ] || jongodb_die "the binary's SHA-256 $got is not the $want its package declares; not installed"
rm -rf "$JONGODB_HOME/package"
mv "$tmp/package" "$JONGODB_HOME/package"
chmod +x "$JONGODB_BIN"
echo "$got" >"$JONGODB_HOME/verified"
jongodb_log "installed $JONGODB_BIN"
echo "$JONGODB_BIN"
