/*
 * The live ranking: group membership with offsets read from Redis on assignment, the poll loop,
 * and the application of one partition's records as ss_rank_sales_apply() calls that each move
 * the stored offset with a compare-and-set. Each OrderPaid counts its lines, one sale each; an
 * OrderFailed counts nothing. A record that cannot be decoded or is not a valid OrderPaid is
 * skipped with a log line; its offset still moves with the batch, so it never stops the
 * partition. A chunk of sales that ends inside an order's lines stores that order's offset, so
 * after a crash the order is read again and its counted lines are passed over by event id.
 */
#include "rank_worker.h"
#include "ss/topics.h"

#include "ss/clock.h"
#include "ss/log.h"
#include "ss/topology.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RANK_POLL_TIMEOUT_MS 100
#define RANK_ASSIGN_ATTEMPTS_MAX 10
#define RANK_BACKOFF_MIN_MS 10
#define RANK_ERRSTR_SIZE 512
#define RANK_WATERMARKS_TIMEOUT_MS 5000
/* How often the Redis-held offsets are copied to the Kafka group (for kafka-consumer-groups). */
#define RANK_OFFSETS_PUBLISH_MS 1000
/* Doublings of the backoff counted at most (the backoff is capped anyway). */
#define RANK_BACKOFF_STEPS_MAX 30

static void rank_sleep_ms(long long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

static long long rank_backoff_ms(const ss_rank_worker_t *worker, int attempt)
{
    return ss_clock_backoff_ms(RANK_BACKOFF_MIN_MS, worker->config.retry_backoff_max_ms, attempt);
}

/* The Kafka start offset for a stored offset. */
static int64_t rank_start_offset(int64_t stored)
{
    return stored == SS_RANK_OFFSET_NONE ? SS_KAFKA_OFFSET_BEGINNING : stored;
}

/*
 * The offset stored in Redis against the partition's log (ss/topology.h): SS_ERR_FATAL when it
 * is ahead of the log's end (the topic recreated or truncated: every new sale would be skipped).
 */
static ss_err_t rank_offset_check(ss_rank_worker_t *worker, const char *topic, int32_t partition,
                                  int64_t stored, char *errstr, size_t errstr_size)
{
    if (stored == SS_RANK_OFFSET_NONE) {
        return SS_OK;
    }
    int64_t low = 0, high = 0;
    ss_err_t err =
        ss_kafka_consumer_watermarks(worker->consumer, topic, partition, RANK_WATERMARKS_TIMEOUT_MS,
                                     &low, &high, errstr, errstr_size);
    if (err != SS_OK) {
        return ss_err_is_retriable(err) ? SS_ERR_RETRIABLE : err;
    }
    err = ss_topology_offset_check(topic, partition, stored, low, high, errstr, errstr_size);
    if (err == SS_ERR_CONFLICT) {
        SS_LOG_ERROR(SS_RANK_COMPONENT, "%s", errstr);
        return SS_ERR_FATAL;
    }
    if (errstr[0] != '\0') {
        SS_LOG_WARN(SS_RANK_COMPONENT, "%s", errstr);
    }
    return SS_OK;
}

static ss_err_t rank_on_assign(void *opaque, ss_kafka_partition_t *partitions, size_t count,
                               char *errstr, size_t errstr_size)
{
    ss_rank_worker_t *worker = opaque;
    atomic_store(&worker->ready_joined, true);
    for (size_t i = 0; i < count; i++) {
        int32_t partition = partitions[i].partition;
        if (partition < 0 || partition >= SS_RANK_WORKER_PARTITIONS_MAX) {
            return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                              "partition %" PRId32 " is beyond the %d a rank worker can hold",
                              partition, SS_RANK_WORKER_PARTITIONS_MAX);
        }
        int64_t stored = SS_RANK_OFFSET_NONE;
        ss_err_t err = SS_ERR_RETRIABLE;
        for (int attempt = 0; attempt < RANK_ASSIGN_ATTEMPTS_MAX && ss_err_is_retriable(err);
             attempt++) {
            err = ss_rank_offset_read(worker->redis, partition, &stored, errstr, errstr_size);
            if (err == SS_OK) {
                err = rank_offset_check(worker, partitions[i].topic, partition, stored, errstr,
                                        errstr_size);
            }
            if (ss_err_is_retriable(err)) {
                rank_sleep_ms(rank_backoff_ms(worker, attempt));
            }
        }
        if (err != SS_OK) {
            return err;
        }
        worker->partitions[partition] = (ss_rank_partition_t){.owned = true, .expected = stored};
        ss_loop_forget(worker->loop, partition);
        partitions[i].offset = rank_start_offset(stored);
        SS_LOG_INFO(SS_RANK_COMPONENT,
                    "partition assigned topic=%s partition=%" PRId32 " offset=%" PRId64,
                    partitions[i].topic, partition, stored);
    }
    return SS_OK;
}

static void rank_on_revoke(void *opaque, const ss_kafka_partition_t *partitions, size_t count)
{
    ss_rank_worker_t *worker = opaque;
    for (size_t i = 0; i < count; i++) {
        int32_t partition = partitions[i].partition;
        if (partition >= 0 && partition < SS_RANK_WORKER_PARTITIONS_MAX) {
            worker->partitions[partition].owned = false;
            ss_kafka_consumer_lag_forget(worker->config.topic, partition);
            SS_LOG_INFO(SS_RANK_COMPONENT, "partition revoked topic=%s partition=%" PRId32,
                        partitions[i].topic, partition);
        }
    }
}

/* Marks a partition for re-synchronisation and tries at once. */
static void rank_resync_now(ss_rank_worker_t *worker, int32_t partition)
{
    ss_rank_partition_t *state = &worker->partitions[partition];
    state->resync = true;
    state->resync_attempts = 0;
    state->resync_at_ms = ss_clock_monotonic_ms();
    ss_rank_worker_resync_due(worker);
}

void ss_rank_worker_resync_due(ss_rank_worker_t *worker)
{
    char errstr[RANK_ERRSTR_SIZE];
    int64_t now = ss_clock_monotonic_ms();
    for (int32_t partition = 0; partition < SS_RANK_WORKER_PARTITIONS_MAX; partition++) {
        ss_rank_partition_t *state = &worker->partitions[partition];
        if (!state->owned || !state->resync || now < state->resync_at_ms) {
            continue;
        }
        int64_t stored = SS_RANK_OFFSET_NONE;
        ss_err_t err =
            ss_rank_offset_read(worker->redis, partition, &stored, errstr, sizeof(errstr));
        if (err == SS_OK) {
            err = ss_kafka_consumer_seek(worker->consumer, worker->config.topic, partition,
                                         rank_start_offset(stored), errstr, sizeof(errstr));
        }
        if (err == SS_OK) {
            state->resync = false;
            state->expected = stored;
            SS_LOG_INFO(SS_RANK_COMPONENT,
                        "partition resynchronised partition=%" PRId32 " offset=%" PRId64, partition,
                        stored);
            continue;
        }
        SS_LOG_WARN(SS_RANK_COMPONENT,
                    "could not resynchronise partition=%" PRId32 " attempt=%d error=\"%s\"",
                    partition, state->resync_attempts + 1, errstr);
        state->resync_at_ms = now + rank_backoff_ms(worker, state->resync_attempts);
        if (state->resync_attempts < RANK_BACKOFF_STEPS_MAX) {
            state->resync_attempts++;
        }
    }
}

/*
 * Decodes message into its sales at sales[0..) (the lines of an OrderPaid); 0 when there are none
 * to count: an OrderFailed quietly, anything else that is not a valid OrderPaid with a log line.
 */
static size_t rank_decode(ss_rank_worker_t *worker, const ss_kafka_message_t *message,
                          json_t **record_out, ss_rank_sale_t *sales, ss_rank_event_id_t *event_ids)
{
    char errstr[RANK_ERRSTR_SIZE];
    const char *schema_name = NULL;
    size_t count = 0;
    *record_out = NULL;
    if (message->value == NULL) {
        snprintf(errstr, sizeof(errstr), "record has no value");
    } else if (ss_avro_decode(worker->registry, message->value, message->value_length, &schema_name,
                              record_out, errstr, sizeof(errstr)) != SS_OK) {
        *record_out = NULL;
    } else if (strcmp(schema_name, SS_SCHEMA_ORDER_FAILED) == 0) {
        return 0; /* nothing was sold */
    } else if (strcmp(schema_name, SS_SCHEMA_ORDER_PAID) != 0) {
        snprintf(errstr, sizeof(errstr), "a %s is not an OrderPaid", schema_name);
    } else if (ss_rank_sales_from_order_paid(*record_out, sales, event_ids,
                                             SS_RANK_WORKER_ORDER_LINES_MAX, &count, errstr,
                                             sizeof(errstr)) == SS_OK) {
        return count;
    }
    SS_LOG_WARN(SS_RANK_COMPONENT,
                "record skipped topic=%s partition=%" PRId32 " offset=%" PRId64 " reason=\"%s\"",
                message->topic, message->partition, message->offset, errstr);
    return 0;
}

/*
 * Applies sales[0..sale_count) and moves the offset to next_offset, in chunks that each fit one
 * script. Returns SS_OK (applied, or the partition is being re-synchronised) or a fatal error.
 */
static ss_err_t rank_apply_sales(ss_rank_worker_t *worker, int32_t partition, size_t sale_count,
                                 int64_t next_offset, char *errstr, size_t errstr_size)
{
    ss_rank_partition_t *state = &worker->partitions[partition];
    size_t start = 0;
    /* Every round takes at least one sale, or is the only round when there are none. */
    for (size_t round = 0; round <= sale_count; round++) {
        size_t taken = ss_rank_sales_chunk(&worker->sales[start], sale_count - start);
        int64_t next =
            start + taken < sale_count ? worker->sale_offsets[start + taken] : next_offset;
        ss_rank_offset_move_t move = {
            .partition = partition, .expected = state->expected, .next = next};
        size_t counted = 0;
        ss_err_t err = ss_rank_sales_apply(worker->redis, &worker->sales[start], taken, &move,
                                           ss_clock_now_ms(), &counted, errstr, errstr_size);
        if (err == SS_ERR_INVALID || err == SS_ERR_FATAL) {
            return err;
        }
        if (err != SS_OK) {
            SS_LOG_WARN(SS_RANK_COMPONENT,
                        "batch dropped, resynchronising partition=%" PRId32 " error=\"%s\"",
                        partition, errstr);
            rank_resync_now(worker, partition);
            return SS_OK;
        }
        SS_LOG_DEBUG(SS_RANK_COMPONENT,
                     "batch applied partition=%" PRId32 " sales=%zu counted=%zu offset=%" PRId64,
                     partition, taken, counted, next);
        state->expected = next;
        start += taken;
        if (start >= sale_count) {
            break;
        }
    }
    return SS_OK;
}

ss_err_t ss_rank_worker_apply(ss_rank_worker_t *worker, int32_t partition,
                              ss_kafka_message_t **messages, size_t count, char *errstr,
                              size_t errstr_size)
{
    ss_rank_partition_t *state = &worker->partitions[partition];
    size_t sale_count = 0, record_count = 0;
    int64_t last_offset = -1;
    if (!state->owned || state->resync) {
        return SS_OK; /* a resync seeks back to the stored offset; these come again */
    }
    for (size_t i = 0; i < count; i++) {
        const ss_kafka_message_t *message = messages[i];
        if (!ss_kafka_consumer_is_current(worker->consumer, message) ||
            (state->expected != SS_RANK_OFFSET_NONE && message->offset < state->expected)) {
            continue;
        }
        last_offset = message->offset;
        json_t *record = NULL;
        size_t sold = rank_decode(worker, message, &record, &worker->sales[sale_count],
                                  &worker->sale_event_ids[sale_count]);
        for (size_t k = 0; k < sold; k++) {
            worker->sale_offsets[sale_count++] = message->offset;
        }
        if (record != NULL) {
            worker->records[record_count++] = record;
        }
    }
    ss_err_t err = SS_OK;
    if (last_offset >= 0) {
        err = rank_apply_sales(worker, partition, sale_count, last_offset + 1, errstr, errstr_size);
    }
    for (size_t i = 0; i < record_count; i++) {
        json_decref(worker->records[i]);
        worker->records[i] = NULL;
    }
    return err;
}

/* loop.h's records hook. */
static ss_err_t rank_records(void *opaque, int32_t partition, ss_kafka_message_t **messages,
                             size_t count, char *errstr, size_t errstr_size)
{
    if (partition >= SS_RANK_WORKER_PARTITIONS_MAX) {
        return SS_OK;
    }
    return ss_rank_worker_apply(opaque, partition, messages, count, errstr, errstr_size);
}

/* loop.h's round_begin: the daily batch when due, and the re-synchronisations that are due. */
static ss_err_t rank_round_begin(void *opaque, char *errstr, size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    ss_rank_worker_schedule_tick(opaque, ss_clock_now_ms());
    ss_rank_worker_resync_due(opaque);
    return SS_OK;
}

/* loop.h's round_end: lag and readiness for the metrics. */
static ss_err_t rank_round_end(void *opaque, ss_err_t result, char *errstr, size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    ss_rank_worker_observe(opaque);
    return result;
}

/*
 * loop.h's offsets hook: the owned partitions' Redis offsets, copied to the consumer group so
 * Kafka's tools show the lag. Informational: nothing reads them back, an assignment always
 * starts from Redis.
 */
static size_t rank_offsets(void *opaque, int32_t *partitions, int64_t *offsets, size_t max)
{
    const ss_rank_worker_t *worker = opaque;
    size_t count = 0;
    for (int32_t p = 0; p < SS_RANK_WORKER_PARTITIONS_MAX && count < max; p++) {
        const ss_rank_partition_t *state = &worker->partitions[p];
        if (state->owned && !state->resync && state->expected > 0) {
            partitions[count] = p;
            offsets[count++] = state->expected;
        }
    }
    return count;
}

static ss_err_t rank_loop_create(ss_rank_worker_t *worker, char *errstr, size_t errstr_size)
{
    ss_loop_config_t loop = {.consumer = worker->consumer,
                             .topic = worker->config.topic,
                             .records_max = (size_t)worker->config.batch_records_max,
                             .poll_timeout_ms = RANK_POLL_TIMEOUT_MS,
                             .publish_interval_ms = RANK_OFFSETS_PUBLISH_MS};
    ss_loop_handler_t handler = {.name = SS_RANK_COMPONENT,
                                 .opaque = worker,
                                 .round_begin = rank_round_begin,
                                 .records = rank_records,
                                 .round_end = rank_round_end,
                                 .offsets = rank_offsets};
    return ss_loop_new(&loop, &handler, &worker->loop, errstr, errstr_size);
}

static ss_err_t rank_consumer_create(ss_rank_worker_t *worker, char *errstr, size_t errstr_size)
{
    const char *topics[] = {worker->config.topic};
    /* As the PostgreSQL workers: a member killed with -9 is noticed within 10 s. */
    static const ss_kafka_property_t properties[] = {
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "1000"},
    };
    ss_kafka_consumer_config_t consumer = {.bootstrap = worker->config.kafka_bootstrap,
                                           .group_id = worker->config.group_id,
                                           .client_id = worker->client_id,
                                           .topics = topics,
                                           .topic_count = 1,
                                           .on_assign = rank_on_assign,
                                           .on_revoke = rank_on_revoke,
                                           .opaque = worker,
                                           .batch_linger_ms = (int)worker->config.batch_wait_ms,
                                           .fetch_min_bytes = (int)worker->config.fetch_min_bytes,
                                           .fetch_wait_max_ms =
                                               (int)worker->config.fetch_wait_max_ms,
                                           .properties = properties,
                                           .property_count = 2};
    return ss_kafka_consumer_new(&consumer, &worker->consumer, errstr, errstr_size);
}

/* The start-up check: days of the window whose sorted set is gone are rebuilt (not fatal). */
static void rank_rebuild_at_start(ss_rank_worker_t *worker)
{
    char errstr[RANK_ERRSTR_SIZE];
    if (!worker->config.rebuild_at_start) {
        return;
    }
    if (ss_rank_worker_rebuild(worker, true, errstr, sizeof(errstr)) != SS_OK) {
        SS_LOG_WARN(SS_RANK_COMPONENT, "start-up rebuild failed error=\"%s\"", errstr);
    }
}

ss_err_t ss_rank_worker_run(ss_rank_worker_t *worker, volatile sig_atomic_t *stop, char *errstr,
                            size_t errstr_size)
{
    ss_err_t err = ss_rank_worker_redis(worker, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_avro_registry_load(worker->config.schema_dir, &worker->registry, errstr,
                                    errstr_size);
    }
    if (err == SS_OK) {
        err = rank_consumer_create(worker, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = rank_loop_create(worker, errstr, errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    rank_rebuild_at_start(worker);
    worker->next_batch_ms = ss_clock_now_ms(); /* catch up at once */
    err = ss_loop_run(worker->loop, stop, errstr, errstr_size);
    char close_error[RANK_ERRSTR_SIZE];
    if (ss_kafka_consumer_close(worker->consumer, close_error, sizeof(close_error)) != SS_OK) {
        SS_LOG_WARN(SS_RANK_COMPONENT, "could not leave the group cleanly error=\"%s\"",
                    close_error);
    }
    return err;
}
