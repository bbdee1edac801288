#!/usr/bin/env bash
# Restarts the nats-server of DIR on the same port and store: restart.sh --dir DIR [--kill] [--down SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir="" kill="" down=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --kill) kill=--kill; shift ;;
    --down) down=$2; shift 2 ;;
    *) echo "restart.sh: unknown argument $1 (use --dir DIR [--kill] [--down SECONDS])" >&2; exit 2 ;;
  esac
done
"$here/stop.sh" --dir "$dir" $kill
sleep "$down"
"$here/start.sh" --dir "$dir"
