/*
 * The worker's claims and topology: where an assigned partition starts (its stored offset), the
 * claim that bumps its epoch in PostgreSQL in a short transaction of its own (a claim that waits
 * on a paused previous owner times out and is tried again in a later round, without stopping the
 * loop), the claimed offset checked against the log's watermarks, revocation, and the start-up
 * check of the topic's partition count. Also the small helpers every worker file shares (sleep,
 * backoff, connection recovery). The claim fields of ss_worker_t (partitions[] through
 * ss/worker_state.h, seek_on_claim) change here and in worker.c's batch endings only.
 */
#include "worker_internal.h"

#include "ss/clock.h"
#include "ss/log.h"
#include "ss/loop.h"
#include "ss/topology.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SS_WORKER_BACKOFF_MIN_MS 10
/* Asking the broker for a topic's partition count or a partition's watermarks. */
#define SS_WORKER_WATERMARKS_TIMEOUT_MS 5000
/* Tries of the topology check at start while the broker or database does not answer. */
#define SS_WORKER_TOPOLOGY_ATTEMPTS_MAX 12
/* How long a claim waits for the previous owner's batch to end before trying again later. */
#define SS_WORKER_CLAIM_LOCK_TIMEOUT "500ms"
/* Attempts at reading a newly assigned partition's offset before giving up. */
#define SS_WORKER_STATE_READ_ATTEMPTS_MAX 10

void ss_worker_sleep_ms(long long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

long long ss_worker_backoff_ms(const ss_worker_t *worker, int attempt)
{
    return ss_clock_backoff_ms(SS_WORKER_BACKOFF_MIN_MS, worker->config.retry_backoff_max_ms,
                               attempt);
}

void ss_worker_partition_forget(ss_worker_t *worker, int32_t partition)
{
    worker->handler.partition_reset(worker->handler.opaque, partition);
}

/* Makes sure the connection is usable again after a failure. */
void ss_worker_pg_recover(ss_worker_t *worker)
{
    char errstr[SS_WORKER_ERRSTR_SIZE];
    ss_pg_rollback(worker->pg, errstr, sizeof(errstr));
    if (ss_pg_is_broken(worker->pg) && ss_pg_reset(worker->pg, errstr, sizeof(errstr)) != SS_OK) {
        SS_LOG_WARN(worker->handler.name, "could not reconnect to postgresql error=\"%s\"", errstr);
    }
}

static void partition_text(int32_t partition, char *out, size_t out_size)
{
    snprintf(out, out_size, "%" PRId32, partition);
}

/* The stored offset, read without waiting for any lock; 0 for a partition never claimed. */
static ss_err_t stored_offset_read(ss_worker_t *worker, int32_t partition, int64_t *offset,
                                   char *errstr, size_t errstr_size)
{
    char number[16];
    partition_text(partition, number, sizeof(number));
    const char *params[] = {worker->config.group_id, worker->config.topic, number};
    PGresult *result = NULL;
    *offset = 0;
    ss_err_t err =
        ss_pg_query(worker->pg, "ss_worker_state", NULL, 3, params, &result, errstr, errstr_size);
    if (err == SS_OK && PQntuples(result) == 1) {
        err = ss_pg_get_int64(result, 0, 0, offset, errstr, errstr_size);
    }
    PQclear(result);
    return err;
}

/* One claim in its own short transaction, so that a held lock costs a bounded wait. */
static ss_err_t claim_once(ss_worker_t *worker, int32_t partition, int64_t *epoch,
                           int64_t *next_offset, int64_t *max_outbox_id, char *errstr,
                           size_t errstr_size)
{
    char number[16], source[SS_WORKER_SOURCE_SIZE];
    partition_text(partition, number, sizeof(number));
    ss_worker_source_name(worker, partition, source, sizeof(source));
    const char *params[] = {worker->config.group_id, worker->config.topic, number, source};
    PGresult *result = NULL;
    ss_err_t err = ss_pg_begin(worker->pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_exec(worker->pg, "SET LOCAL lock_timeout = '" SS_WORKER_CLAIM_LOCK_TIMEOUT "'",
                         errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_query(worker->pg, "ss_worker_claim", NULL, 4, params, &result, errstr,
                          errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(result, 0, 0, next_offset, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(result, 0, 1, epoch, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(result, 0, 2, max_outbox_id, errstr, errstr_size);
    }
    PQclear(result);
    if (err == SS_OK) {
        err = ss_pg_commit(worker->pg, errstr, errstr_size);
    }
    if (err != SS_OK) {
        ss_worker_pg_recover(worker);
    }
    return err;
}

/*
 * The claimed offset against the log (ss/topology.h): SS_ERR_FATAL when it is ahead of the
 * log's end, retriable when the broker did not answer.
 */
static ss_err_t claimed_offset_check(ss_worker_t *worker, int32_t partition, int64_t next_offset,
                                     char *errstr, size_t errstr_size)
{
    int64_t low = 0, high = 0;
    ss_err_t err = ss_kafka_consumer_watermarks(worker->consumer, worker->config.topic, partition,
                                                SS_WORKER_WATERMARKS_TIMEOUT_MS, &low, &high,
                                                errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_topology_offset_check(worker->config.topic, partition, next_offset, low, high,
                                       errstr, errstr_size);
        if (err == SS_OK && errstr[0] != '\0') {
            SS_LOG_WARN(worker->handler.name, "%s", errstr);
        }
    }
    if (err == SS_ERR_CONFLICT) {
        SS_LOG_ERROR(worker->handler.name, "%s", errstr);
        return SS_ERR_FATAL;
    }
    return err == SS_OK ? SS_OK : SS_ERR_RETRIABLE;
}

/* Claims partition now; a transient failure leaves it CLAIMING for a later round. */
static ss_err_t claim(ss_worker_t *worker, int32_t partition, char *errstr, size_t errstr_size)
{
    ss_partition_t *state = &worker->partitions[partition];
    int64_t epoch = 0, next_offset = 0, max_outbox_id = 0;
    ss_err_t err =
        claim_once(worker, partition, &epoch, &next_offset, &max_outbox_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = claimed_offset_check(worker, partition, next_offset, errstr, errstr_size);
    }
    if (ss_err_is_retriable(err)) {
        ss_partition_claim_failed(state, ss_clock_monotonic_ms());
        SS_LOG_WARN(worker->handler.name,
                    "partition claim postponed partition=%" PRId32 " attempt=%d error=\"%s\"",
                    partition, state->claim_failures, errstr);
        return SS_OK;
    }
    if (err != SS_OK) {
        return err;
    }
    ss_worker_partition_forget(worker, partition);
    bool seek = worker->seek_on_claim[partition];
    worker->seek_on_claim[partition] = false;
    ss_partition_claimed(state, epoch, next_offset, max_outbox_id, seek, ss_clock_monotonic_ms());
    SS_LOG_INFO(worker->handler.name,
                "partition claimed topic=%s partition=%" PRId32 " epoch=%" PRId64 " offset=%" PRId64
                " outbox_max_id=%" PRId64,
                worker->config.topic, partition, epoch, next_offset, max_outbox_id);
    if (seek && ss_kafka_consumer_seek(worker->consumer, worker->config.topic, partition,
                                       next_offset, errstr, errstr_size) == SS_OK) {
        ss_partition_sought(state);
    }
    return SS_OK;
}

/* Claims every partition whose claim is due (assigned, fenced, or a claim that timed out). */
ss_err_t ss_worker_claims_run(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    int64_t now_ms = ss_clock_monotonic_ms();
    for (int32_t p = 0; p < SS_WORKER_PARTITIONS_MAX; p++) {
        ss_partition_t *state = &worker->partitions[p];
        if (state->phase == SS_PARTITION_OWNED && state->seek_needed &&
            ss_kafka_consumer_seek(worker->consumer, worker->config.topic, p, state->next_offset,
                                   errstr, errstr_size) == SS_OK) {
            ss_partition_sought(state);
        }
        if (ss_partition_claim_due(state, now_ms)) {
            ss_err_t err = claim(worker, p, errstr, errstr_size);
            if (err != SS_OK) {
                return err;
            }
        }
    }
    return SS_OK;
}

/* Sets where the partition starts: its stored offset; the claim itself comes in the loop. */
static ss_err_t assign_one(ss_worker_t *worker, ss_kafka_partition_t *partition, char *errstr,
                           size_t errstr_size)
{
    if (partition->partition < 0 || partition->partition >= SS_WORKER_PARTITIONS_MAX) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "partition %" PRId32 " of %s is beyond the %d a worker can hold",
                          partition->partition, partition->topic, SS_WORKER_PARTITIONS_MAX);
    }
    ss_err_t err = SS_ERR_RETRIABLE;
    int64_t offset = 0;
    for (int attempt = 0; attempt < SS_WORKER_STATE_READ_ATTEMPTS_MAX && ss_err_is_retriable(err);
         attempt++) {
        err = stored_offset_read(worker, partition->partition, &offset, errstr, errstr_size);
        if (ss_err_is_retriable(err)) {
            ss_worker_pg_recover(worker);
            ss_worker_sleep_ms(ss_worker_backoff_ms(worker, attempt));
        }
    }
    if (err != SS_OK) {
        return err;
    }
    partition->offset = offset;
    ss_partition_assigned(&worker->partitions[partition->partition], ss_clock_monotonic_ms());
    worker->seek_on_claim[partition->partition] = false;
    ss_worker_partition_forget(worker, partition->partition);
    return SS_OK;
}

ss_err_t ss_worker_on_assign(void *opaque, ss_kafka_partition_t *partitions, size_t count,
                             char *errstr, size_t errstr_size)
{
    ss_worker_t *worker = opaque;
    atomic_store(&worker->ready_joined, true);
    for (size_t i = 0; i < count; i++) {
        ss_err_t err = assign_one(worker, &partitions[i], errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    return SS_OK;
}

void ss_worker_on_revoke(void *opaque, const ss_kafka_partition_t *partitions, size_t count)
{
    ss_worker_t *worker = opaque;
    for (size_t i = 0; i < count; i++) {
        int32_t partition = partitions[i].partition;
        if (partition >= 0 && partition < SS_WORKER_PARTITIONS_MAX) {
            ss_worker_outbox_release(worker, partition);
            ss_loop_forget(worker->loop, partition);
            ss_partition_revoked(&worker->partitions[partition]);
            ss_worker_partition_forget(worker, partition);
            ss_kafka_consumer_lag_forget(worker->config.topic, partition);
            SS_LOG_INFO(worker->handler.name, "partition revoked topic=%s partition=%" PRId32,
                        partitions[i].topic, partition);
        }
    }
}

/* The topic's partition count against the recorded one, waiting (bounded) for the broker. */
ss_err_t ss_worker_topology_check(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_ERR_RETRIABLE;
    /* A topic not found yet may be being created (compose's init job): waited for too. */
    for (int attempt = 0; attempt < SS_WORKER_TOPOLOGY_ATTEMPTS_MAX &&
                          (ss_err_is_retriable(err) || err == SS_ERR_NOT_FOUND);
         attempt++) {
        if (attempt > 0) {
            SS_LOG_WARN(worker->handler.name, "topology check postponed error=\"%s\"", errstr);
            ss_worker_sleep_ms(ss_worker_backoff_ms(worker, attempt));
            ss_worker_pg_recover(worker);
        }
        err = ss_topology_partitions_check(worker->pg, worker->config.kafka_bootstrap,
                                           worker->config.topic, SS_WORKER_WATERMARKS_TIMEOUT_MS,
                                           errstr, errstr_size);
    }
    if (err != SS_OK) {
        SS_LOG_ERROR(worker->handler.name, "%s", errstr);
    }
    return err;
}
