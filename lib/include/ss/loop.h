/*
 * The consumer-loop skeleton every consuming binary shares (the exactly-once worker core, the
 * rank worker, the platform sink): one round polls a batch, hands it to the handler one
 * partition at a time in offset order (records fetched under an earlier assignment are
 * dropped: ss_kafka_consumer_is_current), then ends the round; at most every
 * publish_interval_ms it copies the handler's offsets to the Kafka group, so that
 * kafka-consumer-groups.sh shows the lag of consumers whose offsets live elsewhere.
 *
 * Ownership: the loop owns its message buffer (records live until the round ends) and the
 * published-offset memory; the handler owns every other per-partition state. Used from one
 * thread, the consumer's.
 */
#ifndef SS_LOOP_H
#define SS_LOOP_H

#include "ss/error.h"
#include "ss/kafka.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Partitions of the consumed topic the offset publishing tracks. */
#define SS_LOOP_PARTITIONS_MAX 256
/* The largest records_max a loop accepts. */
#define SS_LOOP_RECORDS_LIMIT 10000

typedef struct ss_loop ss_loop_t;

typedef struct ss_loop_handler {
    const char *name; /* the log component */
    void *opaque;
    /*
     * After the poll, before the records (claims, timers): optional. Runs every round, also when
     * the poll returned nothing or failed retriably. A non-OK result ends the round with it.
     */
    ss_err_t (*round_begin)(void *opaque, char *errstr, size_t errstr_size);
    /*
     * Required: messages[0..count) are records of one partition, in offset order, at least one,
     * at most records_max and (but for a single larger record) bytes_max of values. Called once
     * per group; a partition's records may come in several groups of one round. A non-OK
     * result skips the rest of the round's records and ends the round with it.
     */
    ss_err_t (*records)(void *opaque, int32_t partition, ss_kafka_message_t **messages,
                        size_t count, char *errstr, size_t errstr_size);
    /*
     * Optional: after the round's last group was handed over, while its records are still
     * alive (a handler that collects the groups applies them here, e.g. in one transaction).
     * Runs every round in which records ran without error, also when there were none.
     */
    ss_err_t (*records_end)(void *opaque, char *errstr, size_t errstr_size);
    /* After the records were released (ticks, settling): optional; gets the round's result. */
    ss_err_t (*round_end)(void *opaque, ss_err_t result, char *errstr, size_t errstr_size);
    /*
     * Optional: the next offset of each partition to show in the group, written to
     * partitions/offsets (at most max entries); returns the count. Entries equal to what was
     * last published are not sent again.
     */
    size_t (*offsets)(void *opaque, int32_t *partitions, int64_t *offsets, size_t max);
} ss_loop_handler_t;

typedef struct ss_loop_config {
    ss_kafka_consumer_t *consumer; /* borrowed; closed by neither the loop nor its destroy */
    const char *topic;             /* the consumed topic, for offset publishing */
    size_t records_max;            /* records one poll hands over: 1..SS_LOOP_RECORDS_LIMIT */
    long long bytes_max;           /* value bytes per group; 0 for no bound */
    long long record_bytes_max;    /* a larger record counts 0 towards bytes_max; 0: no bound */
    int poll_timeout_ms;           /* how long a poll waits for the first record */
    long long publish_interval_ms; /* 0: never publish offsets */
} ss_loop_config_t;

/* SS_ERR_INVALID for a config out of range or a handler without records. */
ss_err_t ss_loop_new(const ss_loop_config_t *config, const ss_loop_handler_t *handler,
                     ss_loop_t **out, char *errstr, size_t errstr_size);

/*
 * One round. SS_ERR_FATAL from the poll (a failed assign hook, a fatal consumer error) comes
 * back at once; a retriable poll error is logged and the round goes on without records.
 * Otherwise the first non-OK result of round_begin/records, or round_end's result.
 */
ss_err_t ss_loop_round(ss_loop_t *loop, char *errstr, size_t errstr_size);

/* Rounds until *stop or a non-OK round (its result). */
ss_err_t ss_loop_run(ss_loop_t *loop, volatile sig_atomic_t *stop, char *errstr,
                     size_t errstr_size);

/* Forgets what was published for partition (after it was revoked), so it is sent again. */
void ss_loop_forget(ss_loop_t *loop, int32_t partition);

void ss_loop_destroy(ss_loop_t *loop);

#endif
