#!/usr/bin/env bash
# Downloads Apache Kafka (org.apache.kafka:kafka_2.13 $KAFKA_VERSION, its tools and an SLF4J binding,
# as chosen by pom.xml here) from Maven Central with Maven, into
#   $OUTBOX_CACHE/kafka-$KAFKA_VERSION/libs   (OUTBOX_CACHE defaults to ~/.cache/service-outbox)
# Does nothing, in a few milliseconds, when that folder is complete already. Needs Maven and Java 17+.
# Prints the libs folder on stdout; progress goes to stderr (-q, --quiet: nothing when cached).
set -euo pipefail
. "$(dirname "$0")/common.sh"
quiet=0
case "${1:-}" in
  -q|--quiet) quiet=1 ;;
  '') ;;
  *) echo "usage: $0 [-q|--quiet]" >&2; exit 2 ;;
esac

if kafka_fetched; then
  [ "$quiet" = 1 ] || kafka_log "Kafka $KAFKA_VERSION is cached in $KAFKA_LIBS"
  echo "$KAFKA_LIBS"
  exit 0
fi

command -v mvn >/dev/null 2>&1 ||
  kafka_die "Maven (mvn) is needed to fetch Kafka: apt-get install -y maven (Debian), then rerun $0"
kafka_check_java
mkdir -p "$OUTBOX_CACHE"

# One fetch at a time per cache (parallel test runs on the same machine).
exec 9>"$OUTBOX_CACHE/.kafka-fetch.lock"
if ! flock -n 9; then
  kafka_log "another fetch of Kafka is running; waiting for it"
  flock 9
fi
if kafka_fetched; then
  kafka_log "Kafka $KAFKA_VERSION is cached in $KAFKA_LIBS"
  echo "$KAFKA_LIBS"
  exit 0
fi

start=$(kafka_now_ms)
tmp=$KAFKA_HOME.partial
rm -rf "$tmp"
mkdir -p "$tmp"
mvn_log=$tmp/maven.log
kafka_log "fetching Kafka $KAFKA_VERSION from Maven Central with Maven into $KAFKA_HOME"
kafka_log "(first time only: about 45 MB of jars, plus Maven's dependency plugin)"
mvn_args=(
  -B -U -Dstyle.color=never -f "$KAFKA_SCRIPTS/pom.xml"
  "-Dmaven.repo.local=$KAFKA_M2_REPO"
  "-Dkafka.version=$KAFKA_VERSION"
  org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies
  "-DoutputDirectory=$tmp/libs" -DincludeScope=runtime
)
# Show one line per downloaded artifact as progress, keep Maven's full output in the log.
set +e
mvn "${mvn_args[@]}" 2>&1 | tee "$mvn_log" |
  sed -un 's/^\(\[INFO\] \)\{0,1\}Downloaded from [^:]*: .*\/\([^/]*\.jar\) (\(.*\))$/kafka:   downloaded \2 (\3)/p' >&2
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ] || ! ls "$tmp/libs"/kafka_2.13-*.jar >/dev/null 2>&1; then
  echo "----- last lines of $mvn_log -----" >&2
  tail -n 30 "$mvn_log" >&2
  echo "-----" >&2
  kafka_die "Maven could not fetch Kafka $KAFKA_VERSION (exit $status). Check that Maven Central is
  reachable (a proxy or mirror goes in ~/.m2/settings.xml), that KAFKA_VERSION=$KAFKA_VERSION is a
  released 4.x version of org.apache.kafka:kafka_2.13, and rerun $0. To start over from an empty
  Maven cache: rm -rf '$KAFKA_M2_REPO'."
fi
kafka_fetch_stamp >"$tmp/fetched"
rm -rf "$KAFKA_HOME"
mv "$tmp" "$KAFKA_HOME"
kafka_log "fetched $(ls "$KAFKA_LIBS" | wc -l) jars ($(du -sh "$KAFKA_LIBS" | cut -f1)) in $(kafka_since "$start") into $KAFKA_LIBS"
echo "$KAFKA_LIBS"
