#!/usr/bin/env bash
# Runs a command with a fresh test broker: starts one (start.sh), exports KAFKA_BOOTSTRAP,
# KAFKA_DIR, KAFKA_PID, ... to the command, and stops the broker and removes its data afterwards,
# whatever the command's outcome (also on Ctrl-C). Exits with the command's exit code.
#
#   with-kafka.sh COMMAND [ARGS...]      e.g.  scripts/kafka/with-kafka.sh ctest -L kafka
#
# Set KAFKA_KEEP_DATA=1 to keep the state dir (broker log, data) for a post-mortem.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in ''|-h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0" >&2; exit 2 ;; esac

env_lines=$("$here/start.sh")
eval "$env_lines"
cleanup() {
  local args=(--state "$KAFKA_DIR")
  [ "${KAFKA_KEEP_DATA:-0}" = 0 ] || args+=(--keep-data)
  "$here/stop.sh" "${args[@]}" || true
}
trap cleanup EXIT
# The command runs in the background so that a SIGINT or SIGTERM to this script is forwarded to
# it at once (bash would otherwise wait for the command to finish before reacting).
"$@" <&0 &
child=$!
forward() { kill "-$1" "$child" 2>/dev/null || true; }
trap 'forward TERM' TERM
trap 'forward INT; forward TERM' INT
set +e
while :; do
  wait "$child"
  status=$?
  kill -0 "$child" 2>/dev/null || break
done
set -e
exit "$status"
