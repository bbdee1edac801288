#!/usr/bin/env bash
# Runs a Kafka command-line tool from the cached jars (fetching them first if needed), like the
# distribution's bin/kafka-*.sh scripts, with warnings only logged to stderr:
#
#   run-class.sh CLASS-OR-TOOL [ARGS...]
#
# Tools by short name: topics, console-producer, console-consumer, consumer-groups, storage,
# get-offsets, producer-perf-test, consumer-perf-test, or a full class name. For example:
#   run-class.sh topics --bootstrap-server "$KAFKA_BOOTSTRAP" --create --topic t --partitions 3
#   echo hello | run-class.sh console-producer --bootstrap-server "$KAFKA_BOOTSTRAP" --topic t
#   run-class.sh console-consumer --bootstrap-server "$KAFKA_BOOTSTRAP" --topic t \
#       --from-beginning --max-messages 1
# Each run starts a JVM (about a second or two).
set -euo pipefail
. "$(dirname "$0")/common.sh"
case "${1:-}" in ''|-h|--help) kafka_usage ;; esac
tool=$1; shift
case "$tool" in
  topics) class=org.apache.kafka.tools.TopicCommand ;;
  console-producer) class=org.apache.kafka.tools.ConsoleProducer ;;
  console-consumer) class=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  consumer-groups) class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  storage) class=kafka.tools.StorageTool ;;
  get-offsets) class=org.apache.kafka.tools.GetOffsetShell ;;
  producer-perf-test) class=org.apache.kafka.tools.ProducerPerformance ;;
  consumer-perf-test) class=org.apache.kafka.tools.ConsumerPerformance ;;
  *) class=$tool ;;
esac
"$KAFKA_SCRIPTS/fetch.sh" --quiet >/dev/null
# shellcheck disable=SC2086
exec "$JAVA" ${KAFKA_TOOLS_HEAP_OPTS:--Xmx256m} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
  ${KAFKA_TOOLS_JVM_OPTS:-} \
  "-Dlog4j2.configurationFile=$KAFKA_SCRIPTS/tools-log4j2.properties" \
  -cp "$KAFKA_LIBS/*" "$class" "$@"
