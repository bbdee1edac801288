#!/usr/bin/env bash
# Restarts the same broker (same state dir, port, cluster id, topics and records), for fault tests:
#
#   restart.sh [--state DIR] [--kill] [--down SECONDS]
#
#   --state DIR      the broker's state dir (default: $KAFKA_DIR)
#   --kill           crash it (SIGKILL) instead of a clean shutdown (SIGTERM)
#   --down SECONDS   stay down this long before starting again (default 0)
#
# Same as stop.sh --keep-data, then start.sh --state DIR; prints what start.sh prints.
set -euo pipefail
. "$(dirname "$0")/common.sh"

usage() { kafka_usage; }
state=${KAFKA_DIR:-}
stop_args=(--keep-data)
down=0
while [ $# -gt 0 ]; do
  case "$1" in
    --state) [ $# -ge 2 ] || usage; state=$2; shift 2 ;;
    --state=*) state=${1#--state=}; shift ;;
    --kill) stop_args+=(--kill); shift ;;
    --down) [ $# -ge 2 ] || usage; down=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "restart.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[ -n "$state" ] || kafka_die "which broker? give --state DIR, or set KAFKA_DIR (start.sh prints it)"
[ -f "$state/server.properties" ] || kafka_die "$state holds no broker of start.sh"

"$KAFKA_SCRIPTS/stop.sh" --state "$state" "${stop_args[@]}"
[ "$down" = 0 ] || { kafka_log "staying down for ${down}s"; sleep "$down"; }
exec "$KAFKA_SCRIPTS/start.sh" --state "$state"
