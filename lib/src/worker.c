/*
 * The worker loop: join the group, claim each assigned partition in PostgreSQL (bumping its
 * epoch and reading its next offset), poll batches, split them by partition and hand each
 * partition's records to ss_worker_batch_run() until they commit, are fenced, or prove poison.
 * Retries have a bound; past it the worker exits and its supervisor restarts it, and the
 * group gives the partitions to someone who can make progress.
 */
#include "worker_internal.h"

#include "ss/log.h"

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

#define SQL_CLAIM                                                                                  \
    "INSERT INTO partition_state (consumer_group, topic, partition, next_offset, epoch)"           \
    " VALUES ($1, $2, $3, 0, 1) ON CONFLICT (consumer_group, topic, partition)"                    \
    " DO UPDATE SET epoch = partition_state.epoch + 1 RETURNING next_offset, epoch"

void ss_worker_config_options(ss_config_option_t *options, ss_worker_config_t *config,
                              const char *default_group_id, const char *default_topic)
{
    const ss_config_option_t shared[SS_WORKER_CONFIG_OPTION_COUNT] = {
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
    };
    memcpy(options, shared, sizeof(shared));
}

static void sleep_ms(long long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

static long long backoff_ms(const ss_worker_t *worker, int attempt)
{
    long long ms = SS_WORKER_BACKOFF_MIN_MS;
    for (int i = 0; i < attempt && ms < worker->config.retry_backoff_max_ms; i++) {
        ms *= 2;
    }
    return ms < worker->config.retry_backoff_max_ms ? ms : worker->config.retry_backoff_max_ms;
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

static ss_err_t claim_once(ss_worker_t *worker, ss_kafka_partition_t *partition, char *errstr,
                           size_t errstr_size)
{
    char partition_text[16];
    snprintf(partition_text, sizeof(partition_text), "%" PRId32, partition->partition);
    const char *params[] = {worker->config.group_id, partition->topic, partition_text};
    PGresult *result = NULL;
    int64_t next_offset = 0, epoch = 0;
    ss_err_t err =
        ss_pg_query(worker->pg, NULL, SQL_CLAIM, 3, params, &result, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_get_int64(result, 0, 0, &next_offset, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(result, 0, 1, &epoch, errstr, errstr_size);
    }
    PQclear(result);
    if (err != SS_OK) {
        return err;
    }
    worker->partitions[partition->partition] = (ss_worker_partition_t){
        .owned = true, .epoch = epoch, .next_offset = next_offset, .outbox_recovery = true};
    partition->offset = next_offset;
    SS_LOG_INFO(worker->handler.name,
                "partition claimed topic=%s partition=%" PRId32 " epoch=%" PRId64
                " offset=%" PRId64,
                partition->topic, partition->partition, epoch, next_offset);
    return SS_OK;
}

static ss_err_t claim(ss_worker_t *worker, ss_kafka_partition_t *partition, char *errstr,
                      size_t errstr_size)
{
    if (partition->partition < 0 || partition->partition >= SS_WORKER_PARTITIONS_MAX) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "partition %" PRId32 " of %s is beyond the %d a worker can hold",
                          partition->partition, partition->topic, SS_WORKER_PARTITIONS_MAX);
    }
    ss_err_t err = SS_ERR_RETRIABLE;
    for (int attempt = 0; attempt < SS_WORKER_CLAIM_ATTEMPTS_MAX && ss_err_is_retriable(err);
         attempt++) {
        err = claim_once(worker, partition, errstr, errstr_size);
        if (ss_err_is_retriable(err)) {
            pg_recover(worker);
            sleep_ms(backoff_ms(worker, attempt));
        }
    }
    partition_forget(worker, partition->partition);
    return err;
}

static ss_err_t on_assign(void *opaque, ss_kafka_partition_t *partitions, size_t count,
                          char *errstr, size_t errstr_size)
{
    ss_worker_t *worker = opaque;
    for (size_t i = 0; i < count; i++) {
        ss_err_t err = claim(worker, &partitions[i], errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    for (size_t i = 0; i < count; i++) {
        char recovery_error[SS_WORKER_ERRSTR_SIZE];
        if (ss_worker_outbox_recover(worker, partitions[i].partition, recovery_error,
                                     sizeof(recovery_error)) != SS_OK) {
            SS_LOG_WARN(worker->handler.name,
                        "outbox recovery postponed partition=%" PRId32 " error=\"%s\"",
                        partitions[i].partition, recovery_error);
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
            worker->partitions[partition].owned = false;
            partition_forget(worker, partition);
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
    if (ss_avro_decode(worker->registry, message->value, message->value_length,
                       &record->schema_name, &record->value, slot->reason,
                       sizeof(slot->reason)) != SS_OK) {
        slot->dead = true;
        record->schema_name = NULL;
        return;
    }
    record->request_id = json_string_value(json_object_get(record->value, "request_id"));
}

static void records_release(ss_worker_record_t *records, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        json_decref(records[i].value);
        records[i].value = NULL;
    }
}

typedef enum batch_outcome {
    BATCH_COMMITTED,
    BATCH_FENCED,
    BATCH_POISON, /* the batch holds a record that can never be applied */
} batch_outcome_t;

/* Runs records[0..count) to an outcome, retrying transient failures with backoff. */
static ss_err_t batch_apply(ss_worker_t *worker, int32_t partition, ss_worker_record_t *records,
                            ss_worker_slot_t *slots, size_t count, batch_outcome_t *outcome,
                            char *errstr, size_t errstr_size)
{
    ss_worker_partition_t *state = &worker->partitions[partition];
    int64_t next_offset = records[count - 1].offset + 1;
    for (int attempt = 0; attempt < SS_WORKER_BATCH_ATTEMPTS_MAX; attempt++) {
        for (size_t i = 0; i < count; i++) {
            records[i].handled = slots[i].dead;
        }
        bool already_applied = false, fenced = false;
        ss_err_t err =
            ss_worker_batch_run(worker, partition, records, slots, count, state->next_offset,
                                next_offset, &already_applied, &fenced, errstr, errstr_size);
        if (err == SS_OK && fenced) {
            partition_forget(worker, partition);
            *outcome = BATCH_FENCED;
            return SS_OK;
        }
        if (err == SS_OK) {
            *outcome = BATCH_COMMITTED;
            state->next_offset = next_offset;
            if (worker->batch.outbox_deleting_id > state->deleted_outbox_id) {
                state->deleted_outbox_id = worker->batch.outbox_deleting_id;
            }
            if (worker->handler.after_commit != NULL) {
                worker->handler.after_commit(worker->handler.opaque, partition);
            }
            if (already_applied) {
                state->outbox_recovery = true;
            } else if (ss_worker_outbox_publish(worker, errstr, errstr_size) != SS_OK) {
                /* outbox_recovery is set: the rows go out again before this partition's next batch
                 */
                SS_LOG_WARN(worker->handler.name,
                            "outbox publish failed partition=%" PRId32 " error=\"%s\"", partition,
                            errstr);
            }
            return SS_OK;
        }
        partition_forget(worker, partition);
        if (err == SS_ERR_INVALID) {
            *outcome = BATCH_POISON;
            return SS_OK;
        }
        if (!ss_err_is_retriable(err) && err != SS_ERR_CONFLICT) {
            return err;
        }
        SS_LOG_WARN(worker->handler.name,
                    "batch failed, retrying partition=%" PRId32 " attempt=%d error=\"%s\"",
                    partition, attempt + 1, errstr);
        pg_recover(worker);
        sleep_ms(backoff_ms(worker, attempt));
    }
    return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                      "batch of partition %" PRId32 " failed %d times", partition,
                      SS_WORKER_BATCH_ATTEMPTS_MAX);
}

/* Applies a poison batch one record at a time; the record that fails alone is set aside. */
static ss_err_t batch_isolate(ss_worker_t *worker, int32_t partition, ss_worker_record_t *records,
                              ss_worker_slot_t *slots, size_t count, char *errstr,
                              size_t errstr_size)
{
    for (size_t i = 0; i < count; i++) {
        batch_outcome_t outcome;
        ss_err_t err = batch_apply(worker, partition, &records[i], &slots[i], 1, &outcome, errstr,
                                   errstr_size);
        if (err == SS_OK && outcome == BATCH_POISON) {
            SS_LOG_WARN(worker->handler.name,
                        "dead letter partition=%" PRId32 " offset=%" PRId64 " reason=\"%s\"",
                        partition, records[i].offset, errstr);
            slots[i].dead = true;
            snprintf(slots[i].reason, sizeof(slots[i].reason), "%s", errstr);
            err = batch_apply(worker, partition, &records[i], &slots[i], 1, &outcome, errstr,
                              errstr_size);
        }
        if (err != SS_OK) {
            return err;
        }
        if (outcome == BATCH_FENCED) {
            return SS_OK;
        }
    }
    return SS_OK;
}

static ss_err_t partition_process(ss_worker_t *worker, int32_t partition, size_t count,
                                  char *errstr, size_t errstr_size)
{
    ss_worker_partition_t *state = &worker->partitions[partition];
    if (state->outbox_recovery &&
        ss_worker_outbox_recover(worker, partition, errstr, errstr_size) != SS_OK) {
        SS_LOG_WARN(worker->handler.name,
                    "outbox recovery failed partition=%" PRId32 " error=\"%s\"", partition, errstr);
    }
    static char keys[SS_WORKER_BATCH_RECORDS_LIMIT][64];
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        ss_worker_slot_t slot = worker->slots[i];
        if (slot.message->offset < state->next_offset) {
            continue; /* applied by an earlier batch already */
        }
        worker->slots[kept] = slot;
        record_decode(worker, &worker->slots[kept], &worker->records[kept], keys[kept],
                      sizeof(keys[kept]));
        kept++;
    }
    if (kept == 0) {
        return SS_OK;
    }
    batch_outcome_t outcome;
    ss_err_t err = batch_apply(worker, partition, worker->records, worker->slots, kept, &outcome,
                               errstr, errstr_size);
    if (err == SS_OK && outcome == BATCH_POISON) {
        err = batch_isolate(worker, partition, worker->records, worker->slots, kept, errstr,
                            errstr_size);
    }
    if (err == SS_OK && outcome == BATCH_FENCED) {
        SS_LOG_WARN(worker->handler.name, "partition fenced partition=%" PRId32 " reason=\"%s\"",
                    partition, errstr);
        state->owned = false;
    }
    records_release(worker->records, kept);
    return err;
}

/* Moves the messages of the first unhandled partition into worker->slots. */
static size_t partition_gather(ss_worker_t *worker, ss_kafka_message_t **messages, size_t count,
                               bool *taken, int32_t *partition_out)
{
    size_t gathered = 0;
    int32_t partition = -1;
    for (size_t i = 0; i < count; i++) {
        if (taken[i] || (partition >= 0 && messages[i]->partition != partition)) {
            continue;
        }
        partition = messages[i]->partition;
        taken[i] = true;
        worker->slots[gathered++] = (ss_worker_slot_t){.message = messages[i]};
    }
    *partition_out = partition;
    return gathered;
}

static bool partition_usable(const ss_worker_t *worker, const ss_kafka_message_t *message)
{
    return message->partition >= 0 && message->partition < SS_WORKER_PARTITIONS_MAX &&
           worker->partitions[message->partition].owned &&
           ss_kafka_consumer_is_current(worker->consumer, message);
}

static ss_err_t poll_round(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    size_t count = 0;
    ss_err_t err = ss_kafka_consumer_poll_batch(
        worker->consumer, worker->messages, (size_t)worker->config.batch_records_max,
        SS_WORKER_POLL_TIMEOUT_MS, &count, errstr, errstr_size);
    if (err == SS_ERR_FATAL) {
        return err;
    }
    if (err != SS_OK) {
        SS_LOG_WARN(worker->handler.name, "poll failed error=\"%s\"", errstr);
        return SS_OK;
    }
    bool taken[SS_WORKER_BATCH_RECORDS_LIMIT] = {false};
    for (size_t done = 0; done < count && err == SS_OK;) {
        int32_t partition;
        size_t gathered = partition_gather(worker, worker->messages, count, taken, &partition);
        done += gathered;
        if (gathered > 0 && partition_usable(worker, worker->slots[0].message)) {
            err = partition_process(worker, partition, gathered, errstr, errstr_size);
        }
    }
    ss_kafka_messages_release(worker->messages, count);
    ss_worker_outbox_settle(worker);
    return err;
}

ss_err_t ss_worker_run(ss_worker_t *worker, volatile sig_atomic_t *stop, char *errstr,
                       size_t errstr_size)
{
    ss_err_t err = SS_OK;
    while (!*stop && err == SS_OK) {
        err = poll_round(worker, errstr, errstr_size);
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

static ss_err_t clients_create(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    const ss_worker_config_t *config = &worker->config;
    ss_err_t err =
        ss_pg_connect(config->pg_dsn, config->client_id, 10, &worker->pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_worker_batch_prepare_statements(worker, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_avro_registry_load(config->schema_dir, &worker->registry, errstr, errstr_size);
    }
    if (err == SS_OK) {
        ss_kafka_producer_config_t producer = {.bootstrap = config->kafka_bootstrap,
                                               .client_id = config->client_id,
                                               .linger_ms = (int)config->linger_ms,
                                               .on_delivery = ss_worker_on_delivery,
                                               .opaque = worker};
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
    ss_worker_t *worker = calloc(1, sizeof(*worker));
    if (worker == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the worker");
    }
    worker->config = *config;
    worker->handler = *handler;
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
    ss_err_t err = buffers_create(worker, errstr, errstr_size);
    if (err == SS_OK) {
        err = clients_create(worker, errstr, errstr_size);
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
