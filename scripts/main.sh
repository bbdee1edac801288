#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the main job on the
# embedded default (SQLite): the order service writes orders, the relay publishes them as JSON
# lines, `outbox status` shows zero lag.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
build=${BUILD_DIR:-$root/build}
"$root/scripts/demo.sh" "$build/examples/order_service/order_service" "$build/src/cli/outbox" "${1:-$root/demo}"
