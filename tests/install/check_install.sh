#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds and runs a separate project that finds
# it with find_package(outbox) and links outbox::outbox.
set -euo pipefail
build_dir=${1:?usage: check_install.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build_dir" --prefix "$tmp/prefix" > "$tmp/install.log"
if grep -rlE '#include <(sqlite3|libpq-fe|mongoc|rdkafka)\.h>' "$tmp/prefix/include/outbox"; then
  echo "a public header includes a C client header" >&2
  exit 1
fi
cmake -S "$here/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log" || {
  cat "$tmp/configure.log" >&2
  exit 1
}
cmake --build "$tmp/consumer" > "$tmp/build.log" || { cat "$tmp/build.log" >&2; exit 1; }
"$tmp/consumer/consumer" "$tmp/test.db"
