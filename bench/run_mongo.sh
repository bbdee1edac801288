#!/usr/bin/env bash
# Starts a throwaway FerretDB (scripts/ferretdb) and runs the MongoDB benchmarks against it.
# Usage: bench/run_mongo.sh [BUILD_DIR] [benchmark flags...]   (a build with OUTBOX_BUILD_BENCH=ON)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${1:-$root/build-bench}"
shift || true
bin="$build/bench/outbox_bench_mongo"
[[ -x "$bin" ]] || { echo "missing $bin: build with -DOUTBOX_BUILD_BENCH=ON first" >&2; exit 2; }
state=$(mktemp -d /tmp/outbox-bench-ferretdb.XXXXXX)
trap '"$root/scripts/ferretdb/stop.sh" --state "$state" >/dev/null; rm -rf "$state"' EXIT
"$root/scripts/ferretdb/start.sh" --state "$state" --fresh
# shellcheck disable=SC1091
source "$state/env"
"$bin" --uri "$OUTBOX_MONGO_URI" "$@"
