# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this file
# Sourced by the scripts in scripts/kafka/: where the Kafka jars are cached, and small helpers.
# Not meant to be run by itself.

KAFKA_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Apache Kafka version (org.apache.kafka:kafka_2.13 on Maven Central); any 4.x should work.
KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
# Cache outside the repo: kept across builds, clones and test runs on this machine.
# HOME may be unset (a CI runner with a minimal environment): ask the password database.
OUTBOX_HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
OUTBOX_CACHE=${OUTBOX_CACHE:-${XDG_CACHE_HOME:-${OUTBOX_HOME:-/tmp}/.cache}/service-outbox}
KAFKA_HOME=$OUTBOX_CACHE/kafka-$KAFKA_VERSION
KAFKA_LIBS=$KAFKA_HOME/libs
# Maven's local repository for the fetch (so that the whole download sits in one folder).
KAFKA_M2_REPO=${KAFKA_M2_REPO:-$OUTBOX_CACHE/m2}
JAVA=${JAVA:-${JAVA_HOME:+$JAVA_HOME/bin/}java}

# Milliseconds since the epoch (bash 5's EPOCHREALTIME, whatever the locale's decimal sign).
kafka_now_ms() { local t=${EPOCHREALTIME//[^0-9]/}; echo $((t / 1000)); }
# Seconds, with one decimal, since the kafka_now_ms value $1.
kafka_since() { local d=$(( $(kafka_now_ms) - $1 )); printf '%d.%ds' $((d / 1000)) $((d % 1000 / 100)); }

# Prints the comment block at the top of the running script (its usage) and exits 2.
kafka_usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0" >&2
  exit 2
}

kafka_log() { echo "kafka: $*" >&2; }
kafka_die() { echo "kafka: error: $*" >&2; exit 1; }

# The identity of a complete fetch: the version and the pom that chose the jars.
kafka_fetch_stamp() {
  printf '%s %s\n' "$KAFKA_VERSION" "$(sha256sum "$KAFKA_SCRIPTS/pom.xml" | cut -c1-16)"
}

kafka_fetched() {
  [ -f "$KAFKA_HOME/fetched" ] && [ "$(cat "$KAFKA_HOME/fetched")" = "$(kafka_fetch_stamp)" ]
}

# Exits unless $JAVA is a Java 17 or newer (Kafka 4 brokers need 17).
kafka_check_java() {
  command -v "$JAVA" >/dev/null 2>&1 ||
    kafka_die "no '$JAVA' found: install Java 17 or newer (Debian: apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME"
  local props v
  props=$("$JAVA" -XshowSettings:properties -version 2>&1)
  v=$(sed -n 's/^ *java.specification.version = //p' <<<"$props")
  case "$v" in
    1.*|9|1[0-6]|'') kafka_die "Kafka 4 needs Java 17 or newer; '$JAVA' is Java '${v:-unknown}'. Set JAVA_HOME to a newer one." ;;
  esac
  # The exact JVM build: a class-data-sharing archive is only valid for the build that wrote it.
  JAVA_VM_VERSION=$(sed -n 's/^ *java.vm.version = //p' <<<"$props" | tr -c 'A-Za-z0-9.+_\n-' '_')
}

# Class-data sharing (CDS) archive of the broker's classes for this Kafka and this JVM build: the
# first broker started without one writes it when it stops cleanly (stop.sh moves it here), and
# later brokers and formats map it, which saves seconds of class loading. KAFKA_CDS=0: none.
kafka_cds_archive() { echo "$KAFKA_HOME/cds/broker-${JAVA_VM_VERSION:-unknown}.jsa"; }
KAFKA_CDS_QUIET="-Xlog:cds=off -Xlog:cds+dynamic=off"

# Moves the CDS archive that the stopped broker of state dir $1 wrote into the cache, once.
kafka_install_cds() {
  local dir=$1 dump target tmp
  dump=$(sed -n 's/^KAFKA_CDS_DUMP=//p' "$dir/env" 2>/dev/null || true)
  target=$(sed -n 's/^KAFKA_CDS_ARCHIVE=//p' "$dir/env" 2>/dev/null || true)
  [ -n "$dump" ] && [ -n "$target" ] && [ -s "$dump" ] || return 0
  if [ ! -f "$target" ]; then
    mkdir -p "$(dirname "$target")"
    tmp=$target.tmp.$$
    cp "$dump" "$tmp" && mv -f "$tmp" "$target" && kafka_log "saved the class-data archive $target (faster starts)"
    rm -f "$tmp"
  fi
  rm -f "$dump"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
kafka_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a TCP port on 127.0.0.1 that nothing listens on, from the range 20000-59999.
kafka_free_port() {
  local p i
  for _ in $(seq 1 200); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    kafka_port_open "$p" || { echo "$p"; return 0; }
  done
  kafka_die "found no free TCP port on 127.0.0.1"
}

# A Kafka cluster id: 16 random bytes, base64url without padding (what 'kafka-storage random-uuid'
# prints), never starting with '-' (the CLI would read it as an option).
kafka_new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    case "$id" in -*) continue ;; esac
    echo "$id"; return 0
  done
}

# True when pid $1 is alive and is the broker of state dir $2 (guards against reused pids).
kafka_pid_is_broker() {
  local pid=$1 dir=$2
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
    { tr '\0' '\n' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qxF -- "-Doutbox.kafka.state=$dir"
}
