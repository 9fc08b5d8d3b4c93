/*
 * ss-admin tail <topic>: one JSON object per record on stdout (ss_admin_record_json), from the
 * log end (new records, until interrupted), from the beginning or the last N of each partition
 * (up to the log end as it was at start, unless --follow), at most --count records. One
 * consumer per partition without a group: tailing never moves any group's offsets.
 */
#include "admin.h"

#include "ss/log.h"

#include <inttypes.h>
#include <stdlib.h>

#define TAIL_POLL_RECORDS_MAX 100
#define TAIL_ROUND_MS 200

typedef struct tail_partition {
    int32_t partition;
    int64_t next;    /* first offset not printed yet */
    int64_t stop_at; /* the log end at start; unused when following */
    ss_kafka_consumer_t *consumer;
} tail_partition_t;

typedef struct tail {
    ss_admin_t *admin;
    const char *topic;
    bool bounded; /* stop at each partition's log end as it was at start */
    tail_partition_t *partitions;
    size_t partition_count;
    long long printed;
} tail_t;

static ss_err_t tail_open_partition(tail_t *tail, tail_partition_t *part, char *errstr,
                                    size_t errstr_size)
{
    const ss_admin_config_t *config = &tail->admin->config;
    int64_t low = 0, high = 0;
    ss_err_t err = ss_admin_watermarks(tail->admin, tail->topic, part->partition, &low, &high,
                                       errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    part->next = high;
    if (config->from_beginning) {
        part->next = low;
    } else if (config->last > 0) {
        part->next = high - config->last > low ? high - config->last : low;
    }
    part->stop_at = high;
    return ss_admin_consumer(tail->admin, tail->topic, part->partition, part->next, &part->consumer,
                             errstr, errstr_size);
}

static ss_err_t tail_open(tail_t *tail, char *errstr, size_t errstr_size)
{
    const ss_admin_config_t *config = &tail->admin->config;
    int32_t count = 1;
    if (config->partition < 0) {
        ss_err_t err = ss_kafka_topic_partition_count(config->kafka_bootstrap, tail->topic, &count,
                                                      (int)config->timeout_ms, errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    tail->partitions = calloc((size_t)count, sizeof(*tail->partitions));
    if (tail->partitions == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate partitions");
    }
    tail->partition_count = (size_t)count;
    for (int32_t i = 0; i < count; i++) {
        tail_partition_t *part = &tail->partitions[i];
        part->partition = config->partition < 0 ? i : (int32_t)config->partition;
        ss_err_t err = tail_open_partition(tail, part, errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    /* The watermarks' consumer would queue the topic's new records for nobody while we follow. */
    ss_kafka_consumer_destroy(tail->admin->metadata);
    tail->admin->metadata = NULL;
    return SS_OK;
}

static bool tail_partition_done(const tail_t *tail, const tail_partition_t *part)
{
    return tail->bounded && part->next >= part->stop_at;
}

static void tail_print(tail_t *tail, tail_partition_t *part, const ss_kafka_message_t *message)
{
    part->next = message->offset + 1;
    if (tail->bounded && message->offset >= part->stop_at) {
        return;
    }
    ss_kafka_header_t headers[SS_ADMIN_HEADERS_MAX];
    ss_admin_record_t record;
    ss_admin_record_view(message, headers, &record);
    json_t *line = ss_admin_record_json(tail->admin->registry, &record);
    if (line != NULL) {
        json_dumpf(line, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(line);
    }
    tail->printed++;
    if (tail->printed % SS_ADMIN_PROGRESS_EVERY == 0) {
        fflush(stdout);
        ss_admin_note("tail: %lld records", tail->printed);
    }
}

/* One poll of each partition still open; false when the tail is over. */
static bool tail_round(tail_t *tail, char *errstr, size_t errstr_size, ss_err_t *err)
{
    const long long count_max = tail->admin->config.count;
    bool open = false;
    int wait_ms = TAIL_ROUND_MS / (int)tail->partition_count;
    for (size_t i = 0; i < tail->partition_count; i++) {
        tail_partition_t *part = &tail->partitions[i];
        if (tail_partition_done(tail, part)) {
            continue;
        }
        ss_kafka_message_t *messages[TAIL_POLL_RECORDS_MAX];
        size_t got = 0;
        *err = ss_kafka_consumer_poll_batch(part->consumer, messages, TAIL_POLL_RECORDS_MAX,
                                            wait_ms, &got, errstr, errstr_size);
        if (*err == SS_ERR_RETRIABLE) {
            SS_LOG_WARN("admin", "kafka poll error=\"%s\"", errstr);
            *err = SS_OK;
        } else if (*err != SS_OK) {
            return false;
        }
        for (size_t m = 0; m < got; m++) {
            if (count_max == 0 || tail->printed < count_max) {
                tail_print(tail, part, messages[m]);
            }
        }
        ss_kafka_messages_release(messages, got);
        open = open || !tail_partition_done(tail, part);
    }
    fflush(stdout);
    return open && (count_max == 0 || tail->printed < count_max);
}

int ss_admin_tail_run(ss_admin_t *admin)
{
    char errstr[512];
    const ss_admin_config_t *config = &admin->config;
    tail_t tail = {.admin = admin, .topic = admin->args[0]};
    tail.bounded = (config->from_beginning || config->last > 0) && !config->follow;
    ss_err_t err = ss_admin_registry(admin, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = tail_open(&tail, errstr, sizeof(errstr));
    }
    while (err == SS_OK && !*admin->stop && tail_round(&tail, errstr, sizeof(errstr), &err)) {
    }
    for (size_t i = 0; i < tail.partition_count; i++) {
        ss_kafka_consumer_destroy(tail.partitions[i].consumer);
    }
    free(tail.partitions);
    if (err != SS_OK) {
        ss_admin_note("tail %s: %s", tail.topic, errstr);
        return SS_ADMIN_EXIT_USAGE;
    }
    ss_admin_note("tail: %lld records from %s", tail.printed, tail.topic);
    return SS_ADMIN_EXIT_OK;
}
