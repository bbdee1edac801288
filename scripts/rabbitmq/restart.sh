#!/usr/bin/env bash
# The node of a state dir crashed (SIGKILL) or stopped, down for a while, and started again on the
# same ports from its database: the broker restart of the e2e matrix and the fault tests.
#   restart.sh --state DIR [--kill] [--down SECONDS]
set -euo pipefail
here=$(dirname "$0")
state="" down=0 how=""
while [ $# -gt 0 ]; do
  case "$1" in
    --state) state=$2; shift 2 ;;
    --kill) how=--kill; shift ;;
    --down) down=$2; shift 2 ;;
    *) echo "restart.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
"$here/stop.sh" --state "$state" --keep $how
sleep "$down"
"$here/start.sh" --state "$state" >/dev/null
