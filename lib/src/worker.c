/*
 * The worker loop. A poll round: poll (the group's assignments and revocations arrive here),
 * claim the partitions that are due (bumping their epoch in PostgreSQL; a claim that waits on
 * a paused previous owner times out and is tried again later, without stopping the loop),
 * re-send owed outbox rows, apply each partition's records in one batch transaction until they
 * commit, are fenced (then the partition is claimed again) or prove poison (then the record is
 * isolated and dead-lettered), run the handler's ticks that are due (timer work in a fenced
 * transaction of its own, no records), and finally settle the round's deliveries. Decisions are
 * ss/worker_state.h's; this file does the I/O for claims and batches. Retries have a bound;
 * past it, or on a fatal producer error, the worker exits non-zero for a supervisor to restart.
 */
#include "worker_internal.h"

#include "ss/clock.h"
#include "ss/log.h"
#include "ss/retention.h"
#include "ss/topology.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SS_WORKER_POLL_TIMEOUT_MS 100
#define SS_WORKER_CLAIM_ATTEMPTS_MAX 10
#define SS_WORKER_BACKOFF_MIN_MS 10
#define SS_WORKER_DEFAULT_BOOTSTRAP "127.0.0.1:19092"
#define SS_WORKER_DEFAULT_PG_DSN "postgresql://shopstream:shopstream@127.0.0.1:15432/shopstream"

/* Asking the broker for a topic's partition count or a partition's watermarks. */
#define SS_WORKER_WATERMARKS_TIMEOUT_MS 5000
/* Tries of the topology check at start while the broker or database does not answer. */
#define SS_WORKER_TOPOLOGY_ATTEMPTS_MAX 12
/* How long a claim waits for the previous owner's batch to end before trying again later. */
#define SS_WORKER_CLAIM_LOCK_TIMEOUT "500ms"
/* Attempts at reading a newly assigned partition's offset before giving up. */
#define SS_WORKER_STATE_READ_ATTEMPTS_MAX 10
/* How often the offsets committed in PostgreSQL are published to the Kafka group (for lag). */
#define SS_WORKER_OFFSETS_PUBLISH_MS 1000

void ss_worker_config_options(ss_config_option_t *options, ss_worker_config_t *config,
                              const char *default_group_id, const char *default_topic)
{
    const ss_config_option_t shared[SS_WORKER_CONFIG_OPTION_COUNT - SS_OPS_HTTP_OPTION_COUNT] = {
        {"--kafka-bootstrap", "KAFKA_BOOTSTRAP", SS_CONFIG_STRING, SS_WORKER_DEFAULT_BOOTSTRAP, 1,
         1024, "Kafka bootstrap servers, host:port[,host:port]", &config->kafka_bootstrap},
        {"--pg-dsn", "PG_DSN", SS_CONFIG_STRING, SS_WORKER_DEFAULT_PG_DSN, 1, 1024,
         "PostgreSQL connection string", &config->pg_dsn},
        {"--group-id", "SS_GROUP_ID", SS_CONFIG_STRING, default_group_id, 1, 200,
         "consumer group; also the owner name of partition_state rows", &config->group_id},
        {"--topic", "SS_TOPIC", SS_CONFIG_STRING, default_topic, 1, 200, "topic to consume",
         &config->topic},
        {"--schema-dir", "SS_SCHEMA_DIR", SS_CONFIG_STRING, SS_AVRO_SCHEMA_DIR_DEFAULT, 1, 4096,
         "folder of the Avro schemas (*.avsc)", &config->schema_dir},
        {"--client-id", "SS_CLIENT_ID", SS_CONFIG_STRING, "", 0, 200,
         "Kafka client id; empty means <group>-<pid>", &config->client_id},
        {"--log-level", "SS_LOG_LEVEL", SS_CONFIG_STRING, "info", 1, 10,
         "debug, info, warn, error or off", &config->log_level},
        {"--batch-records-max", "SS_BATCH_RECORDS_MAX", SS_CONFIG_INT, "500", 1, 10000,
         "records applied in one transaction at most", &config->batch_records_max},
        {"--batch-wait-ms", "SS_BATCH_WAIT_MS", SS_CONFIG_INT, "5", 0, 1000,
         "how long to keep collecting a batch after its first record", &config->batch_wait_ms},
        {"--retry-backoff-max-ms", "SS_RETRY_BACKOFF_MAX_MS", SS_CONFIG_INT, "2000", 10, 60000,
         "longest pause between attempts at a failing batch", &config->retry_backoff_max_ms},
        {"--linger-ms", "SS_LINGER_MS", SS_CONFIG_INT, "2", 0, 1000,
         "producer linger for outbox records", &config->linger_ms},
        {"--producer-message-timeout-ms", "SS_PRODUCER_MESSAGE_TIMEOUT_MS", SS_CONFIG_INT, "30000",
         1000, 900000, "how long the producer tries one outbox record before the round re-sends it",
         &config->producer_message_timeout_ms},
        {"--dlq-copy-bytes-max", "SS_DLQ_COPY_BYTES_MAX", SS_CONFIG_INT, "524288", 0, 16777216,
         "larger undecodable records go to the dead-letter topic as a reference, not a copy",
         &config->dlq_copy_bytes_max},
        {"--pg-lock-timeout-ms", "SS_PG_LOCK_TIMEOUT_MS", SS_CONFIG_INT, "5000", 100, 600000,
         "lock_timeout of the worker's PostgreSQL session", &config->pg_lock_timeout_ms},
        {"--pg-statement-timeout-ms", "SS_PG_STATEMENT_TIMEOUT_MS", SS_CONFIG_INT, "30000", 100,
         3600000, "statement_timeout of the worker's PostgreSQL session",
         &config->pg_statement_timeout_ms},
        {"--pg-idle-in-transaction-timeout-ms", "SS_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS",
         SS_CONFIG_INT, "10000", 100, 3600000,
         "idle_in_transaction_session_timeout: a paused worker's open batch is ended by the"
         " server after this, so the member that inherits its partitions can claim them",
         &config->pg_idle_in_transaction_timeout_ms},
        {"--fault-producer-fatal-after-ms", "SS_FAULT_PRODUCER_FATAL_AFTER_MS", SS_CONFIG_INT, "0",
         0, 3600000,
         "fault injection for tests: raise a fatal producer error this long after start (0: off)",
         &config->fault_producer_fatal_after_ms},
        {"--record-bytes-max", "SS_RECORD_BYTES_MAX", SS_CONFIG_INT, "262144", 1024, 16777216,
         "a larger record is not decoded: it goes to the dead-letter topic (the ingress sends at"
         " most a 64 KiB body)",
         &config->record_bytes_max},
        {"--batch-bytes-max", "SS_BATCH_BYTES_MAX", SS_CONFIG_INT, "1048576", 1024, 268435456,
         "record bytes one partition batch decodes at most; more records wait for the next batch",
         &config->batch_bytes_max},
        {"--idempotency-retention-s", "SS_IDEMPOTENCY_RETENTION_S", SS_CONFIG_INT,
         SS_RETENTION_IDEMPOTENCY_S_DEFAULT, SS_RETENTION_S_MIN, SS_RETENTION_S_MAX,
         "an Idempotency-Key answers retries with the first outcome for at least this long, then"
         " it is pruned",
         &config->idempotency_retention_s},
        {"--result-retention-s", "SS_RESULT_RETENTION_S", SS_CONFIG_INT,
         SS_RETENTION_RESULT_S_DEFAULT, SS_RETENTION_S_MIN, SS_RETENTION_S_MAX,
         "a command's result is readable through GET /requests/{id} this long, then pruned (at"
         " least SS_IDEMPOTENCY_RETENTION_S)",
         &config->result_retention_s},
        {"--retention-interval-ms", "SS_RETENTION_INTERVAL_MS", SS_CONFIG_INT,
         SS_RETENTION_INTERVAL_MS_DEFAULT, SS_RETENTION_INTERVAL_MS_MIN,
         SS_RETENTION_INTERVAL_MS_MAX,
         "how often the retention job prunes expired rows (at once again while a batch was full)",
         &config->retention_interval_ms},
        {"--retention-rows-max", "SS_RETENTION_ROWS_MAX", SS_CONFIG_INT,
         SS_RETENTION_ROWS_MAX_DEFAULT, 1, SS_RETENTION_ROWS_MAX_LIMIT,
         "rows one pruning DELETE removes at most (short transactions, few locks)",
         &config->retention_rows_max},
    };
    memcpy(options, shared, sizeof(shared));
    ss_ops_http_options(options + SS_WORKER_CONFIG_OPTION_COUNT - SS_OPS_HTTP_OPTION_COUNT,
                        &config->metrics_host, &config->metrics_port);
}

ss_err_t ss_worker_config_check(const ss_worker_config_t *config, char *errstr, size_t errstr_size)
{
    return ss_retention_check(config->idempotency_retention_s, config->result_retention_s, errstr,
                              errstr_size);
}

static void sleep_ms(long long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

static long long backoff_ms(const ss_worker_t *worker, int attempt)
{
    return ss_clock_backoff_ms(SS_WORKER_BACKOFF_MIN_MS, worker->config.retry_backoff_max_ms,
                               attempt);
}

static void partition_forget(ss_worker_t *worker, int32_t partition)
{
    worker->handler.partition_reset(worker->handler.opaque, partition);
}

/* Makes sure the connection is usable again after a failure. */
static void pg_recover(ss_worker_t *worker)
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
        pg_recover(worker);
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
    partition_forget(worker, partition);
    bool seek = worker->dropped_while_claiming[partition];
    worker->dropped_while_claiming[partition] = false;
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
static ss_err_t claims_run(ss_worker_t *worker, char *errstr, size_t errstr_size)
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
            pg_recover(worker);
            sleep_ms(backoff_ms(worker, attempt));
        }
    }
    if (err != SS_OK) {
        return err;
    }
    partition->offset = offset;
    ss_partition_assigned(&worker->partitions[partition->partition], ss_clock_monotonic_ms());
    worker->dropped_while_claiming[partition->partition] = false;
    partition_forget(worker, partition->partition);
    return SS_OK;
}

static ss_err_t on_assign(void *opaque, ss_kafka_partition_t *partitions, size_t count,
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

static void on_revoke(void *opaque, const ss_kafka_partition_t *partitions, size_t count)
{
    ss_worker_t *worker = opaque;
    for (size_t i = 0; i < count; i++) {
        int32_t partition = partitions[i].partition;
        if (partition >= 0 && partition < SS_WORKER_PARTITIONS_MAX) {
            ss_worker_outbox_release(worker, partition);
            worker->offsets_published[partition] = 0;
            ss_partition_revoked(&worker->partitions[partition]);
            partition_forget(worker, partition);
            ss_kafka_consumer_lag_forget(worker->config.topic, partition);
            SS_LOG_INFO(worker->handler.name, "partition revoked topic=%s partition=%" PRId32,
                        partitions[i].topic, partition);
        }
    }
}

/* Decodes slot i into records[i]; an undecodable record becomes a dead letter. */
static void record_decode(ss_worker_t *worker, ss_worker_slot_t *slot, ss_worker_record_t *record,
                          char *key_buffer, size_t key_buffer_size)
{
    const ss_kafka_message_t *message = slot->message;
    memset(record, 0, sizeof(*record));
    slot->dead = false;
    slot->dead_class = "undecodable"; /* what every reason set below is, but a misrouted key */
    size_t key_length =
        message->key_length < key_buffer_size - 1 ? message->key_length : key_buffer_size - 1;
    if (message->key != NULL) {
        memcpy(key_buffer, message->key, key_length);
    }
    key_buffer[message->key != NULL ? key_length : 0] = '\0';
    record->key = key_buffer;
    record->offset = message->offset;
    if (message->value == NULL) {
        slot->dead = true;
        snprintf(slot->reason, sizeof(slot->reason), "record has no value");
        return;
    }
    if ((long long)message->value_length > worker->config.record_bytes_max) {
        /* Decoding could take gigabytes (an order of 100,000 lines): never try. */
        slot->dead = true;
        snprintf(slot->reason, sizeof(slot->reason),
                 "record of %zu bytes is larger than SS_RECORD_BYTES_MAX (%lld): not decoded",
                 message->value_length, worker->config.record_bytes_max);
        return;
    }
    if (ss_avro_decode(worker->registry, message->value, message->value_length,
                       &record->schema_name, &record->value, slot->reason,
                       sizeof(slot->reason)) != SS_OK) {
        slot->dead = true;
        record->schema_name = NULL;
        return;
    }
    record->request_id = json_string_value(json_object_get(record->value, "request_id"));
    /* Single writer per key: a command keyed for another entity is not ours to apply. */
    const char *key_field = worker->key_field;
    if (key_field != NULL && !ss_topology_key_matches(record->value, key_field, record->key,
                                                      slot->reason, sizeof(slot->reason))) {
        slot->dead = true;
        slot->dead_class = "misrouted";
        SS_LOG_WARN(worker->handler.name,
                    "dead letter partition=%" PRId32 " offset=%" PRId64 " reason=\"%s\"",
                    message->partition, message->offset, slot->reason);
    }
}

static void records_release(ss_worker_record_t *records, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        json_decref(records[i].value);
        records[i].value = NULL;
    }
}

/*
 * A batch or tick found the partition fenced: nothing it read was applied, so the partition is
 * claimed again later and that claim seeks back to the stored offset.
 */
static void partition_fenced(ss_worker_t *worker, int32_t partition, int64_t next_offset,
                             const char *errstr)
{
    SS_LOG_WARN(worker->handler.name, "partition fenced partition=%" PRId32 " reason=\"%s\"",
                partition, errstr);
    ss_partition_batch_ended(&worker->partitions[partition], SS_BATCH_FENCED, next_offset,
                             ss_clock_monotonic_ms());
    worker->dropped_while_claiming[partition] = true;
}

/* What the loop does after one attempt; false when the attempts are over. */
static bool attempt_end(ss_worker_t *worker, int32_t partition, ss_batch_outcome_t outcome,
                        int64_t next_offset, const char *errstr)
{
    ss_partition_t *state = &worker->partitions[partition];
    if (outcome == SS_BATCH_COMMITTED || outcome == SS_BATCH_ALREADY_APPLIED) {
        if (worker->handler.after_commit != NULL) {
            worker->handler.after_commit(worker->handler.opaque, partition);
        }
        if (outcome == SS_BATCH_COMMITTED) {
            ss_worker_outbox_committed(worker, partition, next_offset);
        } else {
            ss_partition_batch_ended(state, outcome, next_offset, ss_clock_monotonic_ms());
        }
        return false;
    }
    partition_forget(worker, partition);
    if (outcome == SS_BATCH_FENCED) {
        partition_fenced(worker, partition, next_offset, errstr);
    }
    return outcome == SS_BATCH_RETRY;
}

/* Runs records[0..count) to an outcome other than RETRY, retrying with backoff (bounded). */
static ss_batch_outcome_t batch_apply(ss_worker_t *worker, int32_t partition,
                                      ss_worker_record_t *records, ss_worker_slot_t *slots,
                                      size_t count, char *errstr, size_t errstr_size)
{
    int64_t next_offset = records[count - 1].offset + 1;
    for (int attempt = 0; attempt < SS_WORKER_BATCH_ATTEMPTS_MAX; attempt++) {
        for (size_t i = 0; i < count; i++) {
            records[i].handled = slots[i].dead;
        }
        int64_t started_us = ss_clock_monotonic_us();
        ss_batch_outcome_t outcome =
            ss_worker_batch_run(worker, partition, records, slots, count, errstr, errstr_size);
        ss_worker_metrics_transaction(worker, outcome);
        if (outcome == SS_BATCH_COMMITTED || outcome == SS_BATCH_ALREADY_APPLIED) {
            ss_worker_metrics_batch(worker, slots, count, ss_clock_monotonic_us() - started_us);
        }
        if (!attempt_end(worker, partition, outcome, next_offset, errstr)) {
            return outcome;
        }
        SS_LOG_WARN(worker->handler.name,
                    "batch failed, retrying partition=%" PRId32 " attempt=%d error=\"%s\"",
                    partition, attempt + 1, errstr);
        pg_recover(worker);
        sleep_ms(backoff_ms(worker, attempt));
    }
    ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "batch of partition %" PRId32 " failed %d times",
               partition, SS_WORKER_BATCH_ATTEMPTS_MAX);
    return SS_BATCH_FAILED;
}

/* Applies a poison batch one record at a time; the record that fails alone is set aside. */
static ss_batch_outcome_t batch_isolate(ss_worker_t *worker, int32_t partition,
                                        ss_worker_record_t *records, ss_worker_slot_t *slots,
                                        size_t count, char *errstr, size_t errstr_size)
{
    ss_batch_outcome_t outcome = SS_BATCH_COMMITTED;
    for (size_t i = 0; i < count && outcome != SS_BATCH_FENCED && outcome != SS_BATCH_FAILED; i++) {
        outcome = batch_apply(worker, partition, &records[i], &slots[i], 1, errstr, errstr_size);
        if (outcome == SS_BATCH_POISON) {
            SS_LOG_WARN(worker->handler.name,
                        "dead letter partition=%" PRId32 " offset=%" PRId64 " reason=\"%s\"",
                        partition, records[i].offset, errstr);
            slots[i].dead = true;
            slots[i].dead_class = "invalid";
            snprintf(slots[i].reason, sizeof(slots[i].reason), "%s", errstr);
            outcome =
                batch_apply(worker, partition, &records[i], &slots[i], 1, errstr, errstr_size);
        }
    }
    return outcome;
}

static ss_err_t partition_process(ss_worker_t *worker, int32_t partition, size_t count,
                                  char *errstr, size_t errstr_size)
{
    const ss_partition_t *state = &worker->partitions[partition];
    static char keys[SS_WORKER_BATCH_RECORDS_LIMIT][64];
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        ss_worker_slot_t slot = worker->slots[i];
        if (ss_partition_already_applied(state, slot.message->offset)) {
            continue;
        }
        worker->slots[kept] = slot;
        record_decode(worker, &worker->slots[kept], &worker->records[kept], keys[kept],
                      sizeof(keys[kept]));
        kept++;
    }
    if (kept == 0) {
        return SS_OK;
    }
    ss_batch_outcome_t outcome =
        batch_apply(worker, partition, worker->records, worker->slots, kept, errstr, errstr_size);
    if (outcome == SS_BATCH_POISON) {
        outcome = batch_isolate(worker, partition, worker->records, worker->slots, kept, errstr,
                                errstr_size);
    }
    records_release(worker->records, kept);
    return outcome == SS_BATCH_FAILED ? SS_ERR_FATAL : SS_OK;
}

/*
 * Moves the messages of the first unhandled partition into worker->slots, in offset order, up
 * to batch_bytes_max of values (at least one record; a record over record_bytes_max is not
 * decoded and counts for nothing). The rest of that partition makes the next batch.
 */
static size_t partition_gather(ss_worker_t *worker, ss_kafka_message_t **messages, size_t count,
                               bool *taken, int32_t *partition_out)
{
    size_t gathered = 0;
    int32_t partition = -1;
    long long bytes = 0;
    for (size_t i = 0; i < count; i++) {
        if (taken[i] || (partition >= 0 && messages[i]->partition != partition)) {
            continue;
        }
        long long size = (long long)messages[i]->value_length;
        size = size > worker->config.record_bytes_max ? 0 : size;
        if (gathered > 0 && bytes + size > worker->config.batch_bytes_max) {
            break;
        }
        bytes += size;
        partition = messages[i]->partition;
        taken[i] = true;
        worker->slots[gathered++] = (ss_worker_slot_t){.message = messages[i]};
    }
    *partition_out = partition;
    return gathered;
}

/* Whether the records may be applied; records of a partition still being claimed are dropped. */
static bool partition_usable(ss_worker_t *worker, const ss_kafka_message_t *message)
{
    int32_t partition = message->partition;
    if (partition < 0 || partition >= SS_WORKER_PARTITIONS_MAX ||
        !ss_kafka_consumer_is_current(worker->consumer, message)) {
        return false;
    }
    if (worker->partitions[partition].phase == SS_PARTITION_CLAIMING) {
        worker->dropped_while_claiming[partition] = true;
    }
    return ss_partition_accepts(&worker->partitions[partition]);
}

/* Test fault injection: a fatal producer error at a configured time (off by default). */
static void fault_inject(ss_worker_t *worker)
{
    long long after_ms = worker->config.fault_producer_fatal_after_ms;
    if (after_ms > 0 && !worker->fault_injected &&
        ss_clock_monotonic_ms() - worker->started_ms >= after_ms) {
        worker->fault_injected = true;
        ss_kafka_producer_fail_fatally(worker->producer, "fault injected by configuration");
    }
}

/*
 * Publishes the offsets committed in PostgreSQL to the Kafka group at most once per
 * SS_WORKER_OFFSETS_PUBLISH_MS, so kafka-consumer-groups.sh --describe shows the lag. Nothing
 * reads them back: a claim always starts from partition_state.
 */
static void offsets_publish(ss_worker_t *worker)
{
    int64_t now_ms = ss_clock_monotonic_ms();
    if (now_ms - worker->offsets_published_ms < SS_WORKER_OFFSETS_PUBLISH_MS) {
        return;
    }
    worker->offsets_published_ms = now_ms;
    static int32_t partitions[SS_WORKER_PARTITIONS_MAX];
    static int64_t offsets[SS_WORKER_PARTITIONS_MAX];
    size_t count = 0;
    for (int32_t p = 0; p < SS_WORKER_PARTITIONS_MAX; p++) {
        const ss_partition_t *state = &worker->partitions[p];
        if (state->phase == SS_PARTITION_OWNED && state->next_offset > 0 &&
            state->next_offset != worker->offsets_published[p]) {
            partitions[count] = p;
            offsets[count++] = state->next_offset;
        }
    }
    char errstr[SS_WORKER_ERRSTR_SIZE];
    if (count > 0 &&
        ss_kafka_consumer_commit_async(worker->consumer, worker->config.topic, partitions, offsets,
                                       count, errstr, sizeof(errstr)) != SS_OK) {
        SS_LOG_DEBUG(worker->handler.name, "offsets not published error=\"%s\"", errstr);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        worker->offsets_published[partitions[i]] = offsets[i];
    }
}

/* The retention job, when due; a failure is logged and tried again after the interval. */
static void retention_run(ss_worker_t *worker)
{
    char errstr[SS_WORKER_ERRSTR_SIZE];
    if (ss_worker_retention_run(worker, errstr, sizeof(errstr)) != SS_OK) {
        SS_LOG_WARN(worker->handler.name, "retention job failed error=\"%s\"", errstr);
        pg_recover(worker);
    }
}

/* What the loop does after a tick (ss_worker_handler_t.tick); false when the worker must stop. */
static bool tick_end(ss_worker_t *worker, int32_t partition, ss_batch_outcome_t outcome,
                     const char *errstr)
{
    if (outcome == SS_BATCH_COMMITTED) {
        if (worker->handler.after_commit != NULL) {
            worker->handler.after_commit(worker->handler.opaque, partition);
        }
        ss_worker_outbox_ticked(worker, partition, true);
        return true;
    }
    partition_forget(worker, partition);
    if (outcome == SS_BATCH_FENCED) {
        partition_fenced(worker, partition, worker->partitions[partition].next_offset, errstr);
        return true;
    }
    SS_LOG_WARN(worker->handler.name, "tick failed partition=%" PRId32 " error=\"%s\"", partition,
                errstr);
    pg_recover(worker);
    /* The commit outcome may be unknown: if it did commit, its rows are stored, send them. */
    ss_worker_outbox_ticked(worker, partition, false);
    return outcome != SS_BATCH_FAILED;
}

/* Runs the handler's tick for every owned partition whose tick is due (none without a tick). */
static ss_err_t ticks_run(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    if (worker->handler.tick == NULL) {
        return SS_OK;
    }
    for (int32_t p = 0; p < SS_WORKER_PARTITIONS_MAX; p++) {
        int64_t now_ms = ss_clock_monotonic_ms();
        if (!ss_partition_accepts(&worker->partitions[p]) ||
            now_ms - worker->ticked_ms[p] < worker->handler.tick_interval_ms) {
            continue;
        }
        worker->ticked_ms[p] = now_ms;
        ss_batch_outcome_t outcome = ss_worker_batch_tick(worker, p, errstr, errstr_size);
        ss_worker_metrics_transaction(worker, outcome);
        if (!tick_end(worker, p, outcome, errstr)) {
            return SS_ERR_FATAL;
        }
    }
    return SS_OK;
}

static ss_err_t poll_round(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    fault_inject(worker);
    size_t count = 0;
    ss_err_t err = ss_kafka_consumer_poll_batch(
        worker->consumer, worker->messages, (size_t)worker->config.batch_records_max,
        SS_WORKER_POLL_TIMEOUT_MS, &count, errstr, errstr_size);
    if (err == SS_ERR_FATAL) {
        return err;
    }
    if (err != SS_OK) {
        SS_LOG_WARN(worker->handler.name, "poll failed error=\"%s\"", errstr);
        count = 0;
    }
    err = claims_run(worker, errstr, errstr_size);
    if (err == SS_OK) {
        ss_worker_outbox_maintain(worker);
        retention_run(worker);
    }
    static bool taken[SS_WORKER_BATCH_RECORDS_LIMIT];
    memset(taken, 0, count * sizeof(taken[0]));
    for (size_t done = 0; done < count && err == SS_OK;) {
        int32_t partition;
        size_t gathered = partition_gather(worker, worker->messages, count, taken, &partition);
        done += gathered;
        if (gathered > 0 && partition_usable(worker, worker->slots[0].message)) {
            err = partition_process(worker, partition, gathered, errstr, errstr_size);
        }
    }
    ss_kafka_messages_release(worker->messages, count);
    if (err == SS_OK) {
        err = ticks_run(worker, errstr, errstr_size);
    }
    char settle_error[SS_WORKER_ERRSTR_SIZE];
    ss_err_t settled = ss_worker_outbox_settle(worker, settle_error, sizeof(settle_error));
    if (err == SS_OK && settled != SS_OK) {
        err = ss_err_set(settled, errstr, errstr_size, "%s", settle_error);
    }
    offsets_publish(worker);
    ss_worker_metrics_round(worker);
    return err;
}

ss_err_t ss_worker_run(ss_worker_t *worker, volatile sig_atomic_t *stop, char *errstr,
                       size_t errstr_size)
{
    ss_err_t err = SS_OK;
    worker->started_ms = ss_clock_monotonic_ms();
    while (!*stop && err == SS_OK) {
        err = poll_round(worker, errstr, errstr_size);
    }
    if (err != SS_OK) {
        SS_LOG_ERROR(worker->handler.name, "worker stopping on a fatal error error=\"%s\"", errstr);
    }
    char close_error[SS_WORKER_ERRSTR_SIZE];
    if (ss_kafka_consumer_close(worker->consumer, close_error, sizeof(close_error)) != SS_OK) {
        SS_LOG_WARN(worker->handler.name, "could not leave the group cleanly error=\"%s\"",
                    close_error);
    }
    char flush_error[SS_WORKER_ERRSTR_SIZE];
    ss_kafka_producer_flush(worker->producer, SS_WORKER_OUTBOX_FLUSH_MS, flush_error,
                            sizeof(flush_error));
    return err;
}

/* The topic's partition count against the recorded one, waiting (bounded) for the broker. */
static ss_err_t topology_check(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_ERR_RETRIABLE;
    /* A topic not found yet may be being created (compose's init job): waited for too. */
    for (int attempt = 0; attempt < SS_WORKER_TOPOLOGY_ATTEMPTS_MAX &&
                          (ss_err_is_retriable(err) || err == SS_ERR_NOT_FOUND);
         attempt++) {
        if (attempt > 0) {
            SS_LOG_WARN(worker->handler.name, "topology check postponed error=\"%s\"", errstr);
            sleep_ms(backoff_ms(worker, attempt));
            pg_recover(worker);
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

static ss_err_t clients_create(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    const ss_worker_config_t *config = &worker->config;
    char settings[256];
    snprintf(settings, sizeof(settings),
             "-c lock_timeout=%lld -c statement_timeout=%lld"
             " -c idle_in_transaction_session_timeout=%lld",
             config->pg_lock_timeout_ms, config->pg_statement_timeout_ms,
             config->pg_idle_in_transaction_timeout_ms);
    ss_err_t err = ss_pg_connect_options(config->pg_dsn, config->client_id, 10, settings,
                                         &worker->pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_worker_sql_prepare(worker, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_avro_registry_load(config->schema_dir, &worker->registry, errstr, errstr_size);
    }
    if (err == SS_OK) {
        char timeout_text[24];
        snprintf(timeout_text, sizeof(timeout_text), "%lld", config->producer_message_timeout_ms);
        const ss_kafka_property_t producer_properties[] = {{"message.timeout.ms", timeout_text}};
        ss_kafka_producer_config_t producer = {.bootstrap = config->kafka_bootstrap,
                                               .client_id = config->client_id,
                                               .linger_ms = (int)config->linger_ms,
                                               .on_delivery = ss_worker_on_delivery,
                                               .opaque = worker,
                                               .properties = producer_properties,
                                               .property_count = 1};
        err = ss_kafka_producer_new(&producer, &worker->producer, errstr, errstr_size);
    }
    if (err == SS_OK) {
        const char *topics[] = {config->topic};
        /*
         * A member that died is noticed within the session timeout; until then its partitions
         * wait. 10 s (the broker's minimum is 6 s) keeps a kill -9 from stalling for 45 s.
         */
        static const ss_kafka_property_t properties[] = {
            {"session.timeout.ms", "10000"},
            {"heartbeat.interval.ms", "1000"},
        };
        ss_kafka_consumer_config_t consumer = {.bootstrap = config->kafka_bootstrap,
                                               .group_id = config->group_id,
                                               .client_id = config->client_id,
                                               .topics = topics,
                                               .topic_count = 1,
                                               .on_assign = on_assign,
                                               .on_revoke = on_revoke,
                                               .opaque = worker,
                                               .batch_linger_ms = (int)config->batch_wait_ms,
                                               .properties = properties,
                                               .property_count = 2};
        err = ss_kafka_consumer_new(&consumer, &worker->consumer, errstr, errstr_size);
    }
    return err;
}

static ss_err_t buffers_create(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    size_t max = (size_t)worker->config.batch_records_max;
    worker->messages = calloc(max, sizeof(*worker->messages));
    worker->records = calloc(max, sizeof(*worker->records));
    worker->slots = calloc(max, sizeof(*worker->slots));
    if (worker->messages == NULL || worker->records == NULL || worker->slots == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate batch buffers");
    }
    ss_avro_buffer_init(&worker->buffer);
    return ss_worker_batch_alloc(worker, errstr, errstr_size);
}

ss_err_t ss_worker_new(const ss_worker_config_t *config, const ss_worker_handler_t *handler,
                       ss_worker_t **worker_out, char *errstr, size_t errstr_size)
{
    *worker_out = NULL;
    if (config->batch_records_max < 1 ||
        config->batch_records_max > SS_WORKER_BATCH_RECORDS_LIMIT) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "batch_records_max must be between 1 and %d",
                          SS_WORKER_BATCH_RECORDS_LIMIT);
    }
    ss_err_t checked = ss_worker_config_check(config, errstr, errstr_size);
    if (checked != SS_OK) {
        return checked;
    }
    ss_worker_t *worker = calloc(1, sizeof(*worker));
    if (worker == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the worker");
    }
    worker->config = *config;
    worker->handler = *handler;
    ss_worker_metrics_init(worker);
    if (config->client_id == NULL || config->client_id[0] == '\0') {
        snprintf(worker->client_id, sizeof(worker->client_id), "%s-%ld", config->group_id,
                 (long)getpid());
    } else {
        snprintf(worker->client_id, sizeof(worker->client_id), "%s", config->client_id);
    }
    worker->config.client_id = worker->client_id;
    ss_log_level_t level;
    if (ss_log_level_parse(config->log_level, &level, errstr, errstr_size) != SS_OK) {
        free(worker);
        return SS_ERR_INVALID;
    }
    ss_log_level_set(level);
    snprintf(worker->source_prefix, sizeof(worker->source_prefix), "%s/%s/", config->group_id,
             config->topic);
    worker->key_field = ss_topology_key_field(config->topic);
    ss_err_t err = buffers_create(worker, errstr, errstr_size);
    if (err == SS_OK) {
        err = clients_create(worker, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = topology_check(worker, errstr, errstr_size);
    }
    if (err != SS_OK) {
        ss_worker_destroy(worker);
        return err;
    }
    *worker_out = worker;
    return SS_OK;
}

void ss_worker_destroy(ss_worker_t *worker)
{
    if (worker == NULL) {
        return;
    }
    ss_kafka_consumer_destroy(worker->consumer);
    ss_kafka_producer_destroy(worker->producer);
    ss_avro_registry_destroy(worker->registry);
    ss_pg_destroy(worker->pg);
    ss_worker_batch_free(&worker->batch);
    ss_avro_buffer_free(&worker->buffer);
    free(worker->messages);
    free(worker->records);
    free(worker->slots);
    free(worker);
}
