/*
 * The consumer-loop skeleton (ss/loop.h): poll, group by partition, hand over, end the round,
 * publish offsets on a timer.
 */
#include "ss/loop.h"

#include "ss/assert.h"
#include "ss/clock.h"
#include "ss/log.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOOP_ERRSTR_SIZE 512

struct ss_loop {
    ss_loop_config_t config;
    ss_loop_handler_t handler;
    ss_kafka_message_t **messages; /* the round's records, records_max of room */
    ss_kafka_message_t **group;    /* one partition's records, handed to the handler */
    bool *taken;                   /* per record of the round: grouped or dropped already */
    int64_t published[SS_LOOP_PARTITIONS_MAX]; /* the offset last sent per partition, 0: none */
    int64_t published_ms;                      /* monotonic time of the last publishing */
};

ss_err_t ss_loop_new(const ss_loop_config_t *config, const ss_loop_handler_t *handler,
                     ss_loop_t **out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(config != NULL && handler != NULL && out != NULL);
    *out = NULL;
    if (config->consumer == NULL || config->topic == NULL || handler->records == NULL ||
        config->records_max == 0 || config->records_max > SS_LOOP_RECORDS_LIMIT ||
        config->bytes_max < 0 || config->record_bytes_max < 0 || config->poll_timeout_ms < 0 ||
        config->publish_interval_ms < 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "consumer loop: a consumer, a topic, a records hook, records_max "
                          "1..%d and no negative bound or timeout are required",
                          SS_LOOP_RECORDS_LIMIT);
    }
    ss_loop_t *loop = calloc(1, sizeof(*loop));
    if (loop != NULL) {
        loop->messages = calloc(config->records_max, sizeof(*loop->messages));
        loop->group = calloc(config->records_max, sizeof(*loop->group));
        loop->taken = calloc(config->records_max, sizeof(*loop->taken));
    }
    if (loop == NULL || loop->messages == NULL || loop->group == NULL || loop->taken == NULL) {
        ss_loop_destroy(loop);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the loop");
    }
    loop->config = *config;
    loop->handler = *handler;
    loop->published_ms = ss_clock_monotonic_ms();
    *out = loop;
    return SS_OK;
}

void ss_loop_destroy(ss_loop_t *loop)
{
    if (loop == NULL) {
        return;
    }
    free(loop->messages);
    free(loop->group);
    free(loop->taken);
    free(loop);
}

void ss_loop_forget(ss_loop_t *loop, int32_t partition)
{
    if (loop != NULL && partition >= 0 && partition < SS_LOOP_PARTITIONS_MAX) {
        loop->published[partition] = 0;
    }
}

/* Whether message may join a group: fetched under the current assignment, a tracked partition. */
static bool loop_usable(const ss_loop_t *loop, const ss_kafka_message_t *message)
{
    return message->partition >= 0 && ss_kafka_consumer_is_current(loop->config.consumer, message);
}

/*
 * Moves the records of the first partition not yet taken into loop->group, in offset order, up
 * to bytes_max of values (at least one record). Stale records met on the way are dropped.
 */
static size_t loop_gather(ss_loop_t *loop, size_t count, int32_t *partition_out)
{
    const ss_loop_config_t *config = &loop->config;
    size_t gathered = 0;
    int32_t partition = -1;
    long long bytes = 0;
    for (size_t i = 0; i < count; i++) {
        ss_kafka_message_t *message = loop->messages[i];
        if (loop->taken[i] || (partition >= 0 && message->partition != partition)) {
            continue;
        }
        if (!loop_usable(loop, message)) {
            loop->taken[i] = true;
            continue;
        }
        long long size = (long long)message->value_length;
        if (config->record_bytes_max > 0 && size > config->record_bytes_max) {
            size = 0;
        }
        if (config->bytes_max > 0 && gathered > 0 && bytes + size > config->bytes_max) {
            break;
        }
        bytes += size;
        partition = message->partition;
        loop->taken[i] = true;
        loop->group[gathered++] = message;
    }
    *partition_out = partition;
    return gathered;
}

/* Hands the round's records over, one partition group at a time; stops at the first error. */
static ss_err_t loop_hand_over(ss_loop_t *loop, size_t count, char *errstr, size_t errstr_size)
{
    memset(loop->taken, 0, count * sizeof(*loop->taken));
    for (size_t rounds = 0; rounds < count; rounds++) {
        int32_t partition = -1;
        size_t gathered = loop_gather(loop, count, &partition);
        if (gathered == 0) {
            return SS_OK; /* every record is taken */
        }
        ss_err_t err = loop->handler.records(loop->handler.opaque, partition, loop->group, gathered,
                                             errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    return SS_OK;
}

/* Copies the handler's offsets to the group when the interval has passed (not fatal). */
static void loop_publish(ss_loop_t *loop)
{
    int64_t now_ms = ss_clock_monotonic_ms();
    if (loop->handler.offsets == NULL || loop->config.publish_interval_ms == 0 ||
        now_ms - loop->published_ms < loop->config.publish_interval_ms) {
        return;
    }
    loop->published_ms = now_ms;
    int32_t partitions[SS_LOOP_PARTITIONS_MAX];
    int64_t offsets[SS_LOOP_PARTITIONS_MAX];
    size_t listed =
        loop->handler.offsets(loop->handler.opaque, partitions, offsets, SS_LOOP_PARTITIONS_MAX);
    size_t count = 0;
    for (size_t i = 0; i < listed && i < SS_LOOP_PARTITIONS_MAX; i++) {
        int32_t p = partitions[i];
        if (p >= 0 && p < SS_LOOP_PARTITIONS_MAX && offsets[i] > 0 &&
            offsets[i] != loop->published[p]) {
            partitions[count] = p;
            offsets[count++] = offsets[i];
        }
    }
    char errstr[LOOP_ERRSTR_SIZE];
    if (count > 0 &&
        ss_kafka_consumer_commit_async(loop->config.consumer, loop->config.topic, partitions,
                                       offsets, count, errstr, sizeof(errstr)) != SS_OK) {
        SS_LOG_DEBUG(loop->handler.name, "offsets not published error=\"%s\"", errstr);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        loop->published[partitions[i]] = offsets[i];
    }
}

ss_err_t ss_loop_round(ss_loop_t *loop, char *errstr, size_t errstr_size)
{
    size_t count = 0;
    ss_err_t err = ss_kafka_consumer_poll_batch(
        loop->config.consumer, loop->messages, loop->config.records_max,
        loop->config.poll_timeout_ms, &count, errstr, errstr_size);
    if (err == SS_ERR_FATAL) {
        return err;
    }
    if (err != SS_OK) {
        SS_LOG_WARN(loop->handler.name, "poll failed error=\"%s\"", errstr);
        /* A broker that refuses at once must not make the loop spin. */
        struct timespec pause = {.tv_sec = loop->config.poll_timeout_ms / 1000,
                                 .tv_nsec = (loop->config.poll_timeout_ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
        count = 0;
        err = SS_OK;
    }
    if (loop->handler.round_begin != NULL) {
        err = loop->handler.round_begin(loop->handler.opaque, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = loop_hand_over(loop, count, errstr, errstr_size);
    }
    if (err == SS_OK && loop->handler.records_end != NULL) {
        err = loop->handler.records_end(loop->handler.opaque, errstr, errstr_size);
    }
    ss_kafka_messages_release(loop->messages, count);
    if (loop->handler.round_end != NULL) {
        err = loop->handler.round_end(loop->handler.opaque, err, errstr, errstr_size);
    }
    loop_publish(loop);
    return err;
}

ss_err_t ss_loop_run(ss_loop_t *loop, volatile sig_atomic_t *stop, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    while (!*stop && err == SS_OK) {
        err = ss_loop_round(loop, errstr, errstr_size);
    }
    return err;
}
