#!/bin/sh
#
# One-shot job of docker/compose.yaml (service init-topics, run in the apache/kafka image, which
# has the Kafka CLI but no JDK for scripts/kafka/CreateTopics.java): creates the topics declared
# in topics.tsv (name, partitions, retention_ms, tab-separated; '#' comments) if missing, grows a
# topic whose declared partition count is larger (never a command topic, ss.cmd.*: that fails),
# reports one that is larger than declared, and sets retention.ms to the declared value. Same
# rules as CreateTopics.java. POSIX sh.
#
# usage: init-topics.sh <bootstrap> <topics.tsv>
set -eu

bootstrap="${1:?usage: init-topics.sh <bootstrap> <topics.tsv>}"
tsv="${2:?usage: init-topics.sh <bootstrap> <topics.tsv>}"
bin="${KAFKA_BIN:-/opt/kafka/bin}"
wait_max=60

say() { printf '[init-topics] %s\n' "$*" >&2; }

i=0
until "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --list >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -ge "$wait_max" ]; then
        say "Kafka at $bootstrap did not answer after $wait_max attempts"
        exit 1
    fi
    sleep 2
done

tab="$(printf '\t')"
grep -v -e '^#' -e '^[[:space:]]*$' "$tsv" | while IFS="$tab" read -r name partitions retention _rest; do
    case "$partitions$retention" in
    *[!0-9-]* | "") say "bad line for topic '$name'"; exit 1 ;;
    esac
    "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --create --if-not-exists \
        --topic "$name" --partitions "$partitions" --replication-factor 1 \
        --config "retention.ms=$retention" >/dev/null
    actual="$("$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --describe --topic "$name" |
        sed -n 's/.*PartitionCount:[[:space:]]*\([0-9][0-9]*\).*/\1/p' | head -n 1)"
    if [ -z "$actual" ]; then
        say "cannot describe $name"
        exit 1
    elif [ "$actual" -lt "$partitions" ] && [ "${name#ss.cmd.}" != "$name" ]; then
        say "$name has $actual partitions, $partitions declared: a command topic is never grown" \
            "automatically (a key would get two owners); see docs/architecture.md"
        exit 1
    elif [ "$actual" -lt "$partitions" ]; then
        say "$name has $actual partitions, $partitions declared: increasing"
        "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --alter --topic "$name" \
            --partitions "$partitions"
    elif [ "$actual" -gt "$partitions" ]; then
        say "$name has $actual partitions, $partitions declared: Kafka cannot shrink a topic"
    fi
    "$bin/kafka-configs.sh" --bootstrap-server "$bootstrap" --alter --entity-type topics \
        --entity-name "$name" --add-config "retention.ms=$retention" >/dev/null
    say "$name ok"
done
say "all topics of $tsv exist"
