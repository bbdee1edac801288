#!/usr/bin/env bash
# Stops a broker started by start.sh and removes its state dir.
#
#   stop.sh [--state DIR] [--keep-data] [--kill]
#   stop.sh --all [--keep-data]
#
#   --state DIR   the broker's state dir (default: $KAFKA_DIR, as start.sh exports it)
#   --keep-data   keep the state dir, so that start.sh --state DIR (or restart.sh) brings the same
#                 broker back, with its topics and records
#   --kill        SIGKILL at once, a crash (implies nothing about the data: add --keep-data to
#                 restart it afterwards)
#   --all         every broker of these scripts running on this machine, whoever started it
#                 (so also another checkout's test run in progress): a manual cleanup of
#                 leftovers, never for tests or scripts
#
# Otherwise sends SIGTERM (a clean shutdown) and, if the broker has not exited after
# KAFKA_STOP_TIMEOUT seconds (default 30), SIGKILL. Stopping a broker that is not running only
# removes (or keeps) its state dir.
set -euo pipefail
. "$(dirname "$0")/common.sh"

usage() { kafka_usage; }
state=${KAFKA_DIR:-}
keep=0 hard=0 all=0
while [ $# -gt 0 ]; do
  case "$1" in
    --state) [ $# -ge 2 ] || usage; state=$2; shift 2 ;;
    --state=*) state=${1#--state=}; shift ;;
    --keep-data) keep=1; shift ;;
    --kill) hard=1; shift ;;
    --all) all=1; shift ;;
    -h|--help) usage ;;
    *) echo "stop.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
timeout=${KAFKA_STOP_TIMEOUT:-30}

# Stops the broker of state dir $1 (pid $2, which may be empty or stale).
stop_one() {
  local dir=$1 pid=$2 t0 deadline hard=$hard
  stopped_cleanly=0
  if ! kafka_pid_is_broker "$pid" "$dir"; then
    kafka_log "no broker of $dir is running"
    return 0
  fi
  t0=$(kafka_now_ms)
  if [ "$hard" = 1 ]; then
    kill -KILL "$pid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  deadline=$(( t0 + timeout * 1000 ))
  while kafka_pid_is_broker "$pid" "$dir"; do
    if [ "$(kafka_now_ms)" -ge "$deadline" ]; then
      kafka_log "the broker (pid $pid) did not stop within ${timeout}s of SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$(( $(kafka_now_ms) + 10000 ))
      hard=1
    fi
    sleep 0.05
  done
  if [ "$hard" = 1 ]; then
    kafka_log "killed the broker (pid $pid) in $(kafka_since "$t0")"
  else
    stopped_cleanly=1
    kafka_log "stopped the broker (pid $pid) in $(kafka_since "$t0")"
  fi
}

# Removes state dir $1 unless --keep-data; only a dir that start.sh made.
clean_one() {
  local dir=$1
  if [ "$keep" = 1 ]; then
    kafka_log "kept $dir (start.sh --state $dir starts the same broker again)"
  elif [ -f "$dir/.outbox-kafka-state" ]; then
    rm -rf "$dir"
    kafka_log "removed $dir"
  elif [ -d "$dir" ]; then
    kafka_log "left $dir alone: it is not a state dir of start.sh"
  fi
}

if [ "$all" = 1 ]; then
  found=0
  for cmdline in /proc/[0-9]*/cmdline; do
    pid=${cmdline#/proc/}; pid=${pid%/cmdline}
    dir=$({ tr '\0' '\n' <"$cmdline"; } 2>/dev/null | sed -n 's/^-Doutbox\.kafka\.state=//p' || true)
    [ -n "$dir" ] || continue
    found=$((found + 1))
    stop_one "$dir" "$pid"
    [ "$stopped_cleanly" = 0 ] || kafka_install_cds "$dir"
    clean_one "$dir"
  done
  [ "$found" -gt 0 ] || kafka_log "no broker of these scripts is running"
  exit 0
fi

[ -n "$state" ] || kafka_die "which broker? give --state DIR, or set KAFKA_DIR (start.sh prints it)"
[ -d "$state" ] || { kafka_log "$state does not exist: nothing to stop"; exit 0; }
state=$(cd "$state" && pwd)
pid=$(sed -n 's/^KAFKA_PID=//p' "$state/env" 2>/dev/null || true)
stop_one "$state" "$pid"
[ "$stopped_cleanly" = 0 ] || kafka_install_cds "$state"
clean_one "$state"
