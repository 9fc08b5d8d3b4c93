/*
 * The Kafka metrics every producer and consumer of the process feeds (/work/metrics-spec.md):
 * ss_kafka_produced_records_total{topic} (acknowledged by the broker),
 * ss_kafka_consumed_records_total{topic} and ss_consumer_lag_records{topic,partition}, all in
 * the process registry (ss/metrics.h). Each family is looked up once and kept (the process
 * registry is never freed), as ss/http.h's observer does: counting a record is then one series
 * lookup, not a walk of the registry per delivery report.
 */
#include "kafka_internal.h"

#include "ss/metrics.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>

static const char *const topic_label[] = {"topic"};
static const char *const lag_labels[] = {"topic", "partition"};

static const ss_metrics_spec_t produced_spec = {.name = "ss_kafka_produced_records_total",
                                                .help = "Records the broker acknowledged, by topic",
                                                .type = SS_METRICS_COUNTER,
                                                .labels = topic_label,
                                                .label_count = 1};
static const ss_metrics_spec_t consumed_spec = {
    .name = "ss_kafka_consumed_records_total",
    .help = "Records handed to the application by a consumer poll, by topic",
    .type = SS_METRICS_COUNTER,
    .labels = topic_label,
    .label_count = 1};
static const ss_metrics_spec_t lag_spec = {
    .name = "ss_consumer_lag_records",
    .help = "Log end offset minus the next offset to apply, per owned partition",
    .type = SS_METRICS_GAUGE,
    .labels = lag_labels,
    .label_count = 2};

/* The family of spec, registered on first use; two threads racing register the same one. */
static ss_metrics_family_t *family_of(_Atomic(ss_metrics_family_t *) *cached,
                                      const ss_metrics_spec_t *spec)
{
    ss_metrics_family_t *family = atomic_load(cached);
    if (family == NULL) {
        family = ss_metrics_family(ss_metrics_process(), spec);
        atomic_store(cached, family);
    }
    return family;
}

static _Atomic(ss_metrics_family_t *) produced_family;
static _Atomic(ss_metrics_family_t *) consumed_family;
static _Atomic(ss_metrics_family_t *) lag_family;

void ss_kafka_internal_count_produced(const char *topic)
{
    const char *const values[] = {topic};
    ss_metrics_add(ss_metrics_series(family_of(&produced_family, &produced_spec), values), 1);
}

void ss_kafka_internal_count_consumed(ss_kafka_message_t *const *messages, size_t count)
{
    ss_metrics_family_t *family = family_of(&consumed_family, &consumed_spec);
    /* A poll mostly returns one topic: one series lookup per run of equal topics. */
    for (size_t i = 0; i < count;) {
        size_t run = 1;
        while (i + run < count && messages[i + run]->topic == messages[i]->topic) {
            run++;
        }
        const char *const values[] = {messages[i]->topic};
        ss_metrics_add(ss_metrics_series(family, values), (double)run);
        i += run;
    }
}

static ss_metrics_series_t *lag_series(const char *topic, int32_t partition)
{
    char number[16];
    snprintf(number, sizeof(number), "%" PRId32, partition);
    const char *const values[] = {topic, number};
    return ss_metrics_series(family_of(&lag_family, &lag_spec), values);
}

void ss_kafka_consumer_lag_report(ss_kafka_consumer_t *consumer, const char *topic,
                                  int32_t partition, int64_t next_offset)
{
    int64_t low = -1, high = -1;
    if (ss_kafka_consumer_watermarks_cached(consumer, topic, partition, &low, &high) != SS_OK ||
        high < 0) {
        return; /* nothing fetched yet: the broker has not told us the log end */
    }
    int64_t lag = high - next_offset;
    ss_metrics_set(lag_series(topic, partition), (double)(lag > 0 ? lag : 0));
}

void ss_kafka_consumer_lag_forget(const char *topic, int32_t partition)
{
    ss_metrics_hide(lag_series(topic, partition));
}
