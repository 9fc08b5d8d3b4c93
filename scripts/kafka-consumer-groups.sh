#!/usr/bin/env bash
#
# Apache Kafka's kafka-consumer-groups tool against the local stack's broker, from the jars
# scripts/stack.sh fetched from Maven Central (the same Kafka version). Workers publish their
# PostgreSQL-held offsets, and the rank worker its Redis-held ones, to their groups, so:
#
#   scripts/kafka-consumer-groups.sh --describe --group ss-user-worker
#   scripts/kafka-consumer-groups.sh --describe --all-groups
#
# shows each partition's CURRENT-OFFSET, LOG-END-OFFSET and LAG. Any other option of the tool
# works too (--list, --members). --bootstrap-server defaults to the stack's broker.
# Environment: SS_KAFKA_LIBS (the jar folder; default: the one stack.sh uses), SS_KAFKA_PORT.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

libs="${SS_KAFKA_LIBS:-$(ss_cache_dir)/kafka-4.1.1/libs}"
[[ -f "$libs/kafka-tools-4.1.1.jar" ]] ||
    ss_die "no kafka-tools jar in $libs: run scripts/stack.sh start once (it fetches the jars)"
bootstrap=()
if [[ " $* " != *" --bootstrap-server "* ]]; then
    bootstrap=(--bootstrap-server "127.0.0.1:${SS_KAFKA_PORT:-19092}")
fi
exec java -Dlog4j2.configurationFile="$(ss_repo_root)/scripts/kafka/log4j2-tools.yaml" -cp "$libs/*" \
    org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "${bootstrap[@]}" "$@"
