#!/usr/bin/env bash
# Starts a single-node Apache Kafka broker (KRaft, broker and controller in one JVM) for tests,
# on 127.0.0.1 only, and waits until it is ready.
#
#   start.sh                  a fresh broker in a new temporary state dir
#   start.sh --state DIR      a fresh broker in DIR; or, when DIR already holds a broker that
#                             stop.sh --keep-data stopped, that same broker again (same port,
#                             cluster id and data): for restart and fault tests
#   start.sh --state DIR --fresh   wipe DIR first (killing a broker still running from DIR)
#
# Fetches Kafka first when it is not cached (fetch.sh). On success prints on stdout
#   export KAFKA_BOOTSTRAP=127.0.0.1:PORT  (and KAFKA_DIR, KAFKA_PID, ... : see STATE_DIR/env)
# so `eval "$(scripts/kafka/start.sh)"` sets them in a shell; STATE_DIR/env has the same as
# KEY=VALUE lines. Progress and errors go to stderr. Stop it with stop.sh.
set -euo pipefail
. "$(dirname "$0")/common.sh"

usage() { kafka_usage; }
state=${KAFKA_STATE_DIR:-}
fresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --state) [ $# -ge 2 ] || usage; state=$2; shift 2 ;;
    --state=*) state=${1#--state=}; shift ;;
    --fresh) fresh=1; shift ;;
    -h|--help) usage ;;
    *) echo "start.sh: unknown argument '$1'" >&2; usage ;;
  esac
done

t0=$(kafka_now_ms)
"$KAFKA_SCRIPTS/fetch.sh" --quiet >/dev/null
kafka_check_java

# ---- the state dir -------------------------------------------------------------------------------
launched=0
if [ -z "$state" ]; then
  state=$(mktemp -d "${TMPDIR:-/tmp}/outbox-kafka.XXXXXX")
  # A failure before the broker ran leaves nothing behind; after, the dir stays for its log.
  trap '[ $? = 0 ] || [ "$launched" = 1 ] || rm -rf "$state"' EXIT
else
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
fi
marker=$state/.outbox-kafka-state

reuse=0
if [ -f "$state/server.properties" ] && [ -f "$marker" ]; then
  old_pid=$(sed -n 's/^KAFKA_PID=//p' "$state/env" 2>/dev/null || true)
  if kafka_pid_is_broker "$old_pid" "$state"; then
    if [ "$fresh" = 1 ]; then
      # Left over from an interrupted run in this same dir: its data is about to go anyway.
      kafka_log "the broker of $state is still running (pid $old_pid): killing it for --fresh"
      kill -KILL "$old_pid" 2>/dev/null || true
      while kafka_pid_is_broker "$old_pid" "$state"; do sleep 0.05; done
    else
      kafka_log "the broker of $state is running already (pid $old_pid)"
      sed 's/^/export /' "$state/env"
      exit 0
    fi
  fi
  if [ "$fresh" = 1 ]; then
    find "$state" -mindepth 1 -delete
  else
    reuse=1
  fi
elif [ -n "$(ls -A "$state")" ] && [ ! -f "$marker" ]; then
  kafka_die "$state is not empty and is not a state dir of these scripts: give an empty or new dir"
fi
touch "$marker"

# ---- configuration -------------------------------------------------------------------------------
write_config() {
  cat >"$state/server.properties" <<EOF
# Written by scripts/kafka/start.sh: a single-node KRaft broker for tests, on loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$state/data

# One node: every internal topic with a single replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
# Fewer partitions for the internal topics than the default 50: created faster on first use.
offsets.topic.num.partitions=$offsets_partitions
transaction.state.log.num.partitions=$offsets_partitions
# Consumer groups form at once instead of after 3 s.
group.initial.rebalance.delay.ms=0
# After a crash (stop.sh --kill, restart.sh --kill) the restarted broker can register only once
# the controller has expired its old session: 3 s instead of the default 9 s.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=3000

# Topics: KAFKA_AUTO_CREATE_TOPICS, KAFKA_NUM_PARTITIONS.
auto.create.topics.enable=$auto_create
num.partitions=$num_partitions
# message.max.bytes is left at Kafka's default, 1048588 (1 MiB + 12): the largest record batch the
# broker accepts; set it with KAFKA_EXTRA_CONFIG if a test needs more.

# Small thread pools: the machine has 2 cores and other tests run beside the broker.
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
EOF
  if [ -n "${KAFKA_EXTRA_CONFIG:-}" ]; then
    printf '\n# KAFKA_EXTRA_CONFIG\n%s\n' "$KAFKA_EXTRA_CONFIG" >>"$state/server.properties"
  fi
}

write_env() {
  {
    printf 'KAFKA_BOOTSTRAP=%q\n' "127.0.0.1:$port"
    printf 'KAFKA_BROKER_PORT=%q\n' "$port"
    printf 'KAFKA_QUORUM_PORT=%q\n' "$controller_port"
    printf 'KAFKA_PID=%q\n' "$pid"
    printf 'KAFKA_DIR=%q\n' "$state"
    printf 'KAFKA_LOG=%q\n' "$state/broker.log"
    printf 'KAFKA_CLUSTER_ID=%q\n' "$cluster_id"
    printf 'KAFKA_VERSION=%q\n' "$KAFKA_VERSION"
    printf 'KAFKA_LIBS=%q\n' "$KAFKA_LIBS"
    if [ -n "$cds_dump" ]; then
      printf 'KAFKA_CDS_DUMP=%q\n' "$cds_dump"
      printf 'KAFKA_CDS_ARCHIVE=%q\n' "$cds_archive"
    fi
  } >"$state/env.tmp"
  mv "$state/env.tmp" "$state/env"
}

# Class-data sharing: map the archive if there is one, else have this broker write one at exit.
cds_archive=$(kafka_cds_archive)
cds_opts="" cds_dump=""
if [ "${KAFKA_CDS:-1}" != 0 ]; then
  if [ -f "$cds_archive" ]; then
    cds_opts="-XX:SharedArchiveFile=$cds_archive $KAFKA_CDS_QUIET"
  else
    cds_dump=$state/broker.jsa
    cds_opts="-XX:ArchiveClassesAtExit=$cds_dump $KAFKA_CDS_QUIET"
  fi
else
  cds_archive=""
fi

if [ "$reuse" = 1 ]; then
  # The same broker again: port, controller port and cluster id from its files.
  port=$(sed -n 's/^KAFKA_BROKER_PORT=//p' "$state/env")
  controller_port=$(sed -n 's/^KAFKA_QUORUM_PORT=//p' "$state/env")
  cluster_id=$(sed -n 's/^KAFKA_CLUSTER_ID=//p' "$state/env")
  if [ -z "$port" ] || [ -z "$controller_port" ] || [ -z "$cluster_id" ]; then
    kafka_die "$state/env lacks the port or cluster id of the broker: start a fresh one (--fresh)"
  fi
  kafka_log "restarting the broker of $state on 127.0.0.1:$port"
  if kafka_port_open "$port" || kafka_port_open "$controller_port"; then
    kafka_die "port $port or $controller_port on 127.0.0.1 is taken: is the broker still running? (stop.sh --state $state)"
  fi
else
  auto_create=${KAFKA_AUTO_CREATE_TOPICS:-true}
  num_partitions=${KAFKA_NUM_PARTITIONS:-3}
  offsets_partitions=${KAFKA_OFFSETS_PARTITIONS:-5}
  ports_chosen=0
  if [ -n "${KAFKA_PORT:-}" ]; then
    port=$KAFKA_PORT
    controller_port=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
    ! kafka_port_open "$port" || kafka_die "KAFKA_PORT=$port: something listens on 127.0.0.1:$port already"
    ! kafka_port_open "$controller_port" ||
      kafka_die "controller port $controller_port (KAFKA_CONTROLLER_PORT) is taken on 127.0.0.1"
  else
    ports_chosen=1
    port=$(kafka_free_port)
    controller_port=$(kafka_free_port)
    [ "$controller_port" != "$port" ] || controller_port=$(kafka_free_port)
  fi
  cluster_id=$(kafka_new_cluster_id)
  write_config
  format_cds=""
  [ ! -f "$cds_archive" ] || format_cds="-XX:SharedArchiveFile=$cds_archive $KAFKA_CDS_QUIET"
  kafka_log "formatting KRaft storage in $state/data (cluster id $cluster_id)"
  # shellcheck disable=SC2086
  if ! "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 $format_cds \
      "-Dlog4j2.configurationFile=$KAFKA_SCRIPTS/tools-log4j2.properties" \
      -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$state/server.properties" >"$state/format.log" 2>&1; then
    cat "$state/format.log" >&2
    kafka_die "formatting the storage failed (above; config: $state/server.properties)"
  fi
fi

# ---- start and wait ------------------------------------------------------------------------------
heap=${KAFKA_HEAP_OPTS:-"-Xms128m -Xmx512m"}
# Kafka's own choice (bin/kafka-run-class.sh).
gc=${KAFKA_GC_OPTS:-"-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent"}
timeout=${KAFKA_START_TIMEOUT:-60}
log=$state/broker.log

launch() {
  echo "===== $(date '+%F %T') start.sh: starting Kafka $KAFKA_VERSION on 127.0.0.1:$port" >>"$log"
  # shellcheck disable=SC2086  # heap and JVM options are lists of words
  "$JAVA" $heap \
    $gc -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    $cds_opts ${KAFKA_JVM_OPTS:-} \
    "-Dlog4j2.configurationFile=$KAFKA_SCRIPTS/log4j2.properties" \
    "-Doutbox.kafka.state=$state" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$state/server.properties" \
    </dev/null >>"$log" 2>&1 &
  pid=$!
  launched=1
  write_env
}

# Waits for the broker: its log says "Kafka Server started" and its port takes connections.
# Returns 1 when the JVM exited, 2 on timeout.
wait_ready() {
  local from=$1 deadline=$(( $(kafka_now_ms) + timeout * 1000 ))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      return 1
    fi
    if tail -n +"$from" "$log" | grep -q "Kafka Server started" && kafka_port_open "$port"; then
      return 0
    fi
    [ "$(kafka_now_ms)" -lt "$deadline" ] || return 2
    sleep 0.1
  done
}

fail() {
  echo "----- last lines of $log -----" >&2
  tail -n 40 "$log" >&2
  echo "-----" >&2
}

attempt=1
while :; do
  from=$(( $( (wc -l <"$log") 2>/dev/null || echo 0) + 1 ))
  launch
  kafka_log "started the broker (pid $pid), waiting up to ${timeout}s for it to be ready; log: $log"
  rc=0
  wait_ready "$from" || rc=$?
  [ "$rc" -ne 0 ] || break
  if [ "$rc" = 2 ]; then
    fail
    kill -KILL "$pid" 2>/dev/null || true
    kafka_die "the broker was not ready after ${timeout}s (KAFKA_START_TIMEOUT); killed it. State dir: $state"
  fi
  # The JVM exited. A port taken between the check and the bind: retry on other ports.
  if [ "$reuse" = 0 ] && [ "$ports_chosen" = 1 ] && [ "$attempt" -lt 3 ] &&
      tail -n +"$from" "$log" | grep -q "Address already in use"; then
    attempt=$((attempt + 1))
    port=$(kafka_free_port)
    controller_port=$(kafka_free_port)
    kafka_log "a port was taken meanwhile; retrying on 127.0.0.1:$port"
    write_config
    continue
  fi
  fail
  kafka_die "the broker exited before it was ready (above). State dir: $state"
done

kafka_log "Kafka $KAFKA_VERSION ready at 127.0.0.1:$port in $(kafka_since "$t0") (pid $pid, state $state)"
sed 's/^/export /' "$state/env"
