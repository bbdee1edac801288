#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds and runs separate projects that find it
# with find_package(outbox): one links the umbrella outbox::outbox, one asks for the sqlite
# component alone and must not need any other database's or broker's client library.
set -euo pipefail
build_dir=${1:?usage: check_install.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build_dir" --prefix "$tmp/prefix" > "$tmp/install.log"
if grep -rlE '#include <(sqlite3|libpq-fe|mongoc|rdkafka|hiredis|hiredis/hiredis|amqp|amqp_tcp_socket)\.h>' "$tmp/prefix/include/outbox"; then
  echo "a public header includes a C client header" >&2
  exit 1
fi
for project in consumer consumer_sqlite; do
  cmake -S "$here/$project" -B "$tmp/$project" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/$project.configure.log" || {
    cat "$tmp/$project.configure.log" >&2
    exit 1
  }
  cmake --build "$tmp/$project" > "$tmp/$project.build.log" || { cat "$tmp/$project.build.log" >&2; exit 1; }
  "$tmp/$project/$project" "$tmp/$project.db"
done
if ldd "$tmp/consumer_sqlite/consumer_sqlite" | grep -E 'libpq|libmongoc|librdkafka|libhiredis|librabbitmq'; then
  echo "the sqlite-only consumer links another backend's client library" >&2
  exit 1
fi
echo "install: the umbrella and the sqlite component alone both build, link and run"
