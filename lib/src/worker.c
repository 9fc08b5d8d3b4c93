/*
 * The worker loop, as hooks of the shared consumer loop (ss/loop.h). A poll round: poll (the
 * group's assignments and revocations arrive here), claim the partitions that are due
 * (worker_claim.c), re-send owed outbox rows, apply each partition's records in one batch
 * transaction until they commit, are fenced (then the partition is claimed again) or prove poison
 * (then the record is isolated and dead-lettered), run the handler's ticks that are due (timer work
 * in a fenced transaction of its own, no records), and finally settle the round's deliveries.
 * Decisions are ss/worker_state.h's; this file drives the batches. Retries have a bound; past it,
 * or on a fatal producer error, the worker exits non-zero for a supervisor to restart.
 */
#include "worker_internal.h"

#include "ss/assert.h"
#include "ss/clock.h"
#include "ss/log.h"
#include "ss/loop.h"
#include "ss/retention.h"
#include "ss/topology.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SS_WORKER_POLL_TIMEOUT_MS 100
#define SS_WORKER_DEFAULT_BOOTSTRAP "127.0.0.1:19092"
#define SS_WORKER_DEFAULT_PG_DSN "postgresql://shopstream:shopstream@127.0.0.1:15432/shopstream"

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
        SS_CONFIG_FETCH_OPTIONS(&config->fetch_min_bytes, &config->fetch_wait_max_ms),
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

/* Decodes slot i into records[i]; an undecodable record becomes a dead letter. */
static void record_read(ss_worker_t *worker, ss_worker_slot_t *slot, ss_worker_record_t *record,
                        char *key_buffer, size_t key_buffer_size)
{
    const ss_kafka_message_t *message = slot->message;
    memset(record, 0, sizeof(*record));
    slot->dead_class = "undecodable"; /* what every reason set below is, but a misrouted key */
    ss_trace_from_kafka(message, &record->trace); /* a dead letter keeps them too */
    slot->dead = false;
    size_t key_length =
        message->key_length < key_buffer_size - 1 ? message->key_length : key_buffer_size - 1;
    if (message->key != NULL) {
        memcpy(key_buffer, message->key, key_length);
    }
    key_buffer[message->key != NULL ? key_length : 0] = '\0';
    record->key = key_buffer;
    record->partition = message->partition;
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
    }
}

/* Reads one record for the handler; one that cannot be applied is marked dead, with a line. */
static void record_decode(ss_worker_t *worker, ss_worker_slot_t *slot, ss_worker_record_t *record,
                          char *key_buffer, size_t key_buffer_size)
{
    record_read(worker, slot, record, key_buffer, key_buffer_size);
    if (slot->dead) {
        ss_trace_log_enter(&record->trace);
        SS_LOG_WARN(worker->handler.name,
                    "dead letter partition=%" PRId32 " offset=%" PRId64 " reason=\"%s\"",
                    slot->message->partition, slot->message->offset, slot->reason);
        ss_trace_log_leave();
    }
}

/* One debug line per applied record, naming its request (the log context). */
static void records_applied_log(const ss_worker_t *worker, const ss_worker_record_t *records,
                                size_t count)
{
    if (ss_log_level_get() > SS_LOG_LEVEL_DEBUG) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        ss_trace_log_enter(&records[i].trace);
        SS_LOG_DEBUG(worker->handler.name,
                     "record applied topic=%s partition=%" PRId32 " offset=%" PRId64
                     " schema=%s command_id=%s",
                     worker->config.topic, records[i].partition, records[i].offset,
                     records[i].schema_name != NULL ? records[i].schema_name : "-",
                     records[i].request_id != NULL ? records[i].request_id : "-");
        ss_trace_log_leave();
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
    worker->seek_on_claim[partition] = true;
}

/*
 * What the loop does after one attempt at the batch of worker->batch.groups; false when the
 * attempts are over. A fence of several groups says nothing of which: the caller splits them.
 */
static bool attempt_end(ss_worker_t *worker, ss_batch_outcome_t outcome, const char *errstr)
{
    const ss_worker_batch_t *batch = &worker->batch;
    if (outcome == SS_BATCH_COMMITTED || outcome == SS_BATCH_ALREADY_APPLIED) {
        if (worker->handler.after_commit != NULL) {
            worker->handler.after_commit(worker->handler.opaque);
        }
        for (size_t g = 0; g < batch->group_count; g++) {
            const ss_worker_group_t *group = &batch->groups[g];
            if (outcome == SS_BATCH_COMMITTED) {
                ss_worker_outbox_committed(worker, group);
            } else {
                ss_partition_batch_ended(&worker->partitions[group->partition], outcome,
                                         group->next_offset, ss_clock_monotonic_ms());
            }
        }
        return false;
    }
    for (size_t g = 0; g < batch->group_count; g++) {
        ss_worker_partition_forget(worker, batch->groups[g].partition);
    }
    if (outcome == SS_BATCH_FENCED && batch->group_count == 1) {
        partition_fenced(worker, batch->groups[0].partition, batch->groups[0].next_offset, errstr);
    }
    return outcome == SS_BATCH_RETRY;
}

/* One attempt at records[0..count) of the groups: the transaction, then its metrics. */
static ss_batch_outcome_t batch_attempt(ss_worker_t *worker, const ss_worker_group_t *groups,
                                        size_t group_count, ss_worker_record_t *records,
                                        ss_worker_slot_t *slots, size_t count, char *errstr,
                                        size_t errstr_size)
{
    for (size_t i = 0; i < count; i++) {
        records[i].handled = slots[i].dead;
    }
    int64_t started_us = ss_clock_monotonic_us();
    ss_batch_outcome_t outcome = ss_worker_batch_run(worker, groups, group_count, records, slots,
                                                     count, errstr, errstr_size);
    ss_worker_metrics_transaction(worker, outcome);
    if (outcome == SS_BATCH_COMMITTED || outcome == SS_BATCH_ALREADY_APPLIED) {
        ss_worker_metrics_batch(worker, slots, count, group_count,
                                ss_clock_monotonic_us() - started_us);
    }
    return outcome;
}

/* Runs records[0..count) of one partition to an outcome other than RETRY (bounded retries). */
static ss_batch_outcome_t batch_apply(ss_worker_t *worker, int32_t partition,
                                      ss_worker_record_t *records, ss_worker_slot_t *slots,
                                      size_t count, char *errstr, size_t errstr_size)
{
    const ss_worker_group_t group = {
        .partition = partition, .count = count, .next_offset = records[count - 1].offset + 1};
    for (int attempt = 0; attempt < SS_WORKER_BATCH_ATTEMPTS_MAX; attempt++) {
        ss_batch_outcome_t outcome =
            batch_attempt(worker, &group, 1, records, slots, count, errstr, errstr_size);
        if (!attempt_end(worker, outcome, errstr)) {
            if (outcome == SS_BATCH_COMMITTED) {
                records_applied_log(worker, records, count);
            }
            return outcome;
        }
        SS_LOG_WARN(worker->handler.name,
                    "batch failed, retrying partition=%" PRId32 " attempt=%d error=\"%s\"",
                    partition, attempt + 1, errstr);
        ss_worker_pg_recover(worker);
        ss_worker_sleep_ms(ss_worker_backoff_ms(worker, attempt));
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
            ss_trace_log_enter(&records[i].trace);
            SS_LOG_WARN(worker->handler.name,
                        "dead letter partition=%" PRId32 " offset=%" PRId64 " reason=\"%s\"",
                        partition, records[i].offset, errstr);
            ss_trace_log_leave();
            slots[i].dead = true;
            slots[i].dead_class = "invalid";
            snprintf(slots[i].reason, sizeof(slots[i].reason), "%s", errstr);
            outcome =
                batch_apply(worker, partition, &records[i], &slots[i], 1, errstr, errstr_size);
        }
    }
    return outcome;
}

/* One partition's records on their own: batches until they commit, poison isolated. */
static ss_batch_outcome_t group_apply(ss_worker_t *worker, const ss_worker_group_t *group,
                                      char *errstr, size_t errstr_size)
{
    ss_worker_record_t *records = worker->records + group->first;
    ss_worker_slot_t *slots = worker->slots + group->first;
    ss_batch_outcome_t outcome =
        batch_apply(worker, group->partition, records, slots, group->count, errstr, errstr_size);
    if (outcome == SS_BATCH_POISON) {
        outcome = batch_isolate(worker, group->partition, records, slots, group->count, errstr,
                                errstr_size);
    }
    return outcome;
}

/*
 * The whole round in one transaction; false when it did not commit (a partition fenced or
 * already applied, a poison record, any failure): everything of it was rolled back and
 * forgotten, and each partition's records go again on their own.
 */
static bool round_try(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    ss_batch_outcome_t outcome =
        batch_attempt(worker, worker->round_groups, worker->round_group_count, worker->records,
                      worker->slots, worker->round_count, errstr, errstr_size);
    (void)attempt_end(worker, outcome, errstr);
    if (outcome == SS_BATCH_COMMITTED) {
        records_applied_log(worker, worker->records, worker->round_count);
        return true;
    }
    SS_LOG_INFO(worker->handler.name,
                "round batch split into partition batches partitions=%zu error=\"%s\"",
                worker->round_group_count, errstr);
    if (outcome != SS_BATCH_FENCED && outcome != SS_BATCH_POISON) {
        ss_worker_pg_recover(worker);
    }
    return false;
}

/* Applies the round's collected records (ss/loop.h records_end), then releases them. */
static ss_err_t round_apply(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    bool done = worker->round_group_count == 0 ||
                (worker->round_group_count > 1 && round_try(worker, errstr, errstr_size));
    ss_err_t err = SS_OK;
    for (size_t g = 0; !done && g < worker->round_group_count && err == SS_OK; g++) {
        if (group_apply(worker, &worker->round_groups[g], errstr, errstr_size) == SS_BATCH_FAILED) {
            err = SS_ERR_FATAL;
        }
    }
    records_release(worker->records, worker->round_count);
    worker->round_count = 0;
    worker->round_group_count = 0;
    worker->round_bytes = 0;
    return err;
}

static ss_err_t round_records_end(void *opaque, char *errstr, size_t errstr_size)
{
    return round_apply(opaque, errstr, errstr_size);
}

/* Whether the group must wait for a batch of its own: its partition or the bytes bound. */
static bool round_full(const ss_worker_t *worker, int32_t partition, long long bytes)
{
    if (worker->round_group_count == 0) {
        return false;
    }
    for (size_t g = 0; g < worker->round_group_count; g++) {
        if (worker->round_groups[g].partition == partition) {
            return true; /* one fence per partition and batch */
        }
    }
    return worker->round_bytes + bytes > worker->config.batch_bytes_max;
}

static long long messages_bytes(ss_kafka_message_t **messages, size_t count)
{
    long long bytes = 0;
    for (size_t i = 0; i < count; i++) {
        bytes += (long long)messages[i]->value_length;
    }
    return bytes;
}

/* loop.h's records hook: one partition's records, decoded into the round's batch. */
static ss_err_t partition_records(void *opaque, int32_t partition, ss_kafka_message_t **messages,
                                  size_t count, char *errstr, size_t errstr_size)
{
    ss_worker_t *worker = opaque;
    if (partition >= SS_WORKER_PARTITIONS_MAX) {
        return SS_OK;
    }
    if (worker->partitions[partition].phase == SS_PARTITION_CLAIMING) {
        worker->seek_on_claim[partition] = true; /* consumed but not applied: seek back */
    }
    if (!ss_partition_accepts(&worker->partitions[partition])) {
        return SS_OK;
    }
    long long bytes = messages_bytes(messages, count);
    if (round_full(worker, partition, bytes)) {
        ss_err_t err = round_apply(worker, errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    const ss_partition_t *state = &worker->partitions[partition];
    static char keys[SS_WORKER_BATCH_RECORDS_LIMIT][64];
    size_t first = worker->round_count, kept = first;
    SS_ASSERT(first + count <= (size_t)worker->config.batch_records_max);
    for (size_t i = 0; i < count; i++) {
        if (ss_partition_already_applied(state, messages[i]->offset)) {
            continue;
        }
        worker->slots[kept] = (ss_worker_slot_t){.message = messages[i]};
        record_decode(worker, &worker->slots[kept], &worker->records[kept], keys[kept],
                      sizeof(keys[kept]));
        kept++;
    }
    if (kept > first) {
        worker->round_groups[worker->round_group_count++] =
            (ss_worker_group_t){.partition = partition,
                                .first = first,
                                .count = kept - first,
                                .next_offset = worker->records[kept - 1].offset + 1};
        worker->round_count = kept;
        worker->round_bytes += bytes;
    }
    return SS_OK;
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

/* The retention job, when due; a failure is logged and tried again after the interval. */
static void retention_run(ss_worker_t *worker)
{
    char errstr[SS_WORKER_ERRSTR_SIZE];
    if (ss_worker_retention_run(worker, errstr, sizeof(errstr)) != SS_OK) {
        SS_LOG_WARN(worker->handler.name, "retention job failed error=\"%s\"", errstr);
        ss_worker_pg_recover(worker);
    }
}

/* What the loop does after a tick (ss_worker_handler_t.tick); false when the worker must stop. */
static bool tick_end(ss_worker_t *worker, int32_t partition, ss_batch_outcome_t outcome,
                     const char *errstr)
{
    if (outcome == SS_BATCH_COMMITTED) {
        if (worker->handler.after_commit != NULL) {
            worker->handler.after_commit(worker->handler.opaque);
        }
        ss_worker_outbox_ticked(worker, partition, true);
        return true;
    }
    ss_worker_partition_forget(worker, partition);
    if (outcome == SS_BATCH_FENCED) {
        partition_fenced(worker, partition, worker->partitions[partition].next_offset, errstr);
        return true;
    }
    SS_LOG_WARN(worker->handler.name, "tick failed partition=%" PRId32 " error=\"%s\"", partition,
                errstr);
    ss_worker_pg_recover(worker);
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

/* loop.h's offsets hook: every owned partition's next offset, for Kafka's lag tools. */
static size_t owned_offsets(void *opaque, int32_t *partitions, int64_t *offsets, size_t max)
{
    const ss_worker_t *worker = opaque;
    size_t count = 0;
    for (int32_t p = 0; p < SS_WORKER_PARTITIONS_MAX && count < max; p++) {
        const ss_partition_t *state = &worker->partitions[p];
        if (state->phase == SS_PARTITION_OWNED && state->next_offset > 0) {
            partitions[count] = p;
            offsets[count++] = state->next_offset;
        }
    }
    return count;
}

/* loop.h's round_begin: the claims that are due, then owed re-sends and retention. */
static ss_err_t round_begin(void *opaque, char *errstr, size_t errstr_size)
{
    ss_worker_t *worker = opaque;
    fault_inject(worker);
    ss_err_t err = ss_worker_claims_run(worker, errstr, errstr_size);
    if (err == SS_OK) {
        ss_worker_outbox_maintain(worker);
        retention_run(worker);
    }
    return err;
}

/* loop.h's round_end: the ticks that are due, then the round's deliveries settled. */
static ss_err_t round_end(void *opaque, ss_err_t result, char *errstr, size_t errstr_size)
{
    ss_worker_t *worker = opaque;
    ss_err_t err = result;
    if (err == SS_OK) {
        err = ticks_run(worker, errstr, errstr_size);
    }
    char settle_error[SS_WORKER_ERRSTR_SIZE];
    ss_err_t settled = ss_worker_outbox_settle(worker, settle_error, sizeof(settle_error));
    if (err == SS_OK && settled != SS_OK) {
        err = ss_err_set(settled, errstr, errstr_size, "%s", settle_error);
    }
    ss_worker_metrics_round(worker);
    return err;
}

ss_err_t ss_worker_run(ss_worker_t *worker, volatile sig_atomic_t *stop, char *errstr,
                       size_t errstr_size)
{
    worker->started_ms = ss_clock_monotonic_ms();
    ss_err_t err = ss_loop_run(worker->loop, stop, errstr, errstr_size);
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

static ss_err_t loop_create(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    const ss_worker_config_t *config = &worker->config;
    ss_loop_config_t loop = {.consumer = worker->consumer,
                             .topic = config->topic,
                             .records_max = (size_t)config->batch_records_max,
                             .bytes_max = config->batch_bytes_max,
                             .record_bytes_max = config->record_bytes_max,
                             .poll_timeout_ms = SS_WORKER_POLL_TIMEOUT_MS,
                             .publish_interval_ms = SS_WORKER_OFFSETS_PUBLISH_MS};
    ss_loop_handler_t handler = {.name = worker->handler.name,
                                 .opaque = worker,
                                 .round_begin = round_begin,
                                 .records = partition_records,
                                 .records_end = round_records_end,
                                 .round_end = round_end,
                                 .offsets = owned_offsets};
    return ss_loop_new(&loop, &handler, &worker->loop, errstr, errstr_size);
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
                                               .on_assign = ss_worker_on_assign,
                                               .on_revoke = ss_worker_on_revoke,
                                               .opaque = worker,
                                               .batch_linger_ms = (int)config->batch_wait_ms,
                                               .fetch_min_bytes = (int)config->fetch_min_bytes,
                                               .fetch_wait_max_ms = (int)config->fetch_wait_max_ms,
                                               .properties = properties,
                                               .property_count = 2};
        err = ss_kafka_consumer_new(&consumer, &worker->consumer, errstr, errstr_size);
    }
    return err;
}

static ss_err_t buffers_create(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    size_t max = (size_t)worker->config.batch_records_max;
    worker->records = calloc(max, sizeof(*worker->records));
    worker->slots = calloc(max, sizeof(*worker->slots));
    if (worker->records == NULL || worker->slots == NULL) {
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
        err = ss_worker_topology_check(worker, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = loop_create(worker, errstr, errstr_size);
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
    ss_loop_destroy(worker->loop);
    free(worker->records);
    free(worker->slots);
    free(worker);
}
