/*
 * The consumer (see ss/kafka.h): a group member whose partitions start wherever the
 * application's on_assign hook says (offsets live in PostgreSQL, next to the effects they
 * describe), or a consumer of one manually assigned partition. Nothing is committed or stored
 * automatically. The consumer keeps its own table of assigned partitions with a generation per
 * partition, bumped on every assign and seek, so a caller can tell whether records it still
 * holds belong to the current ownership of their partition.
 *
 * Used from one thread: the rebalance callback runs inside rd_kafka_consumer_poll() (and inside
 * close), on the caller's thread, so the table needs no lock.
 */
#include "kafka_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ss/kafka.h"
#include "ss/log.h"

/* Partitions one consumer may hold at once. */
#define SS_KAFKA_ASSIGNMENT_MAX 4096
/* Longest batch_linger_ms accepted. */
#define SS_KAFKA_BATCH_LINGER_MS_MAX 60000
/* How long a seek may take to be applied by librdkafka's partition thread. */
#define SS_KAFKA_SEEK_TIMEOUT_MS 10000
/* One wait while serving the close queue. */
#define SS_KAFKA_CLOSE_POLL_MS 100
/* Non-record events (rebalances, errors, timeouts) one poll_batch call serves at most. */
#define SS_KAFKA_POLL_EVENTS_MAX 1024
/* Length of the texts kept for a held or fatal error. */
#define SS_KAFKA_ERROR_TEXT_MAX 512
/* How long new_assigned waits for the leader's log end when asked to start there. */
#define SS_KAFKA_END_RESOLVE_MS 5000

typedef struct consumer_partition {
    char *topic;
    int32_t partition;
    uint64_t generation;
    int64_t start_offset; /* as assigned or last sought: where fetching restarts on re-assign */
} consumer_partition_t;

struct ss_kafka_consumer {
    rd_kafka_t *rk;
    ss_kafka_assign_fn on_assign;
    ss_kafka_revoke_fn on_revoke;
    void *opaque;
    int batch_linger_ms;
    bool closed;

    consumer_partition_t *assigned;
    size_t assigned_count;
    size_t assigned_capacity;
    uint64_t generation_last;

    /* Set once an assignment could not be honoured; every later poll reports it. */
    bool failed;
    char failed_text[SS_KAFKA_ERROR_TEXT_MAX];
    /* An error met after records were collected, reported by the next poll. */
    ss_err_t held_err;
    char held_text[SS_KAFKA_ERROR_TEXT_MAX];

    /* The caller's array while poll_batch fills it, so a revoke can drop its records. */
    ss_kafka_message_t **collecting;
    size_t collecting_count;
};

static consumer_partition_t *consumer_find(const ss_kafka_consumer_t *consumer, const char *topic,
                                           int32_t partition)
{
    for (size_t i = 0; i < consumer->assigned_count; i++) {
        consumer_partition_t *entry = &consumer->assigned[i];
        if (entry->partition == partition && strcmp(entry->topic, topic) == 0) {
            return entry;
        }
    }
    return NULL;
}

static void consumer_fail(ss_kafka_consumer_t *consumer, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void consumer_fail(ss_kafka_consumer_t *consumer, const char *fmt, ...)
{
    if (consumer->failed) {
        return; /* keep the first cause */
    }
    va_list args;
    va_start(args, fmt);
    vsnprintf(consumer->failed_text, sizeof(consumer->failed_text), fmt, args);
    va_end(args);
    consumer->failed = true;
}

/* Adds (or renews) a partition in the table with a fresh generation. */
static ss_err_t consumer_table_add(ss_kafka_consumer_t *consumer, const char *topic,
                                   int32_t partition, int64_t start_offset)
{
    consumer_partition_t *entry = consumer_find(consumer, topic, partition);
    if (entry == NULL) {
        if (consumer->assigned_count == consumer->assigned_capacity) {
            if (consumer->assigned_capacity >= SS_KAFKA_ASSIGNMENT_MAX) {
                return SS_ERR_INVALID;
            }
            size_t capacity =
                consumer->assigned_capacity == 0 ? 16 : consumer->assigned_capacity * 2;
            if (capacity > SS_KAFKA_ASSIGNMENT_MAX) {
                capacity = SS_KAFKA_ASSIGNMENT_MAX;
            }
            consumer_partition_t *grown =
                realloc(consumer->assigned, capacity * sizeof(*consumer->assigned));
            if (grown == NULL) {
                return SS_ERR_NOMEM;
            }
            consumer->assigned = grown;
            consumer->assigned_capacity = capacity;
        }
        char *topic_copy = strdup(topic);
        if (topic_copy == NULL) {
            return SS_ERR_NOMEM;
        }
        entry = &consumer->assigned[consumer->assigned_count++];
        entry->topic = topic_copy;
        entry->partition = partition;
    }
    entry->generation = ++consumer->generation_last;
    entry->start_offset = start_offset;
    return SS_OK;
}

static void consumer_table_remove(ss_kafka_consumer_t *consumer, const char *topic,
                                  int32_t partition)
{
    consumer_partition_t *entry = consumer_find(consumer, topic, partition);
    if (entry == NULL) {
        return;
    }
    free(entry->topic);
    *entry = consumer->assigned[--consumer->assigned_count];
}

static void consumer_table_clear(ss_kafka_consumer_t *consumer)
{
    for (size_t i = 0; i < consumer->assigned_count; i++) {
        free(consumer->assigned[i].topic);
    }
    consumer->assigned_count = 0;
}

/* Releases records poll_batch collected from partitions that are no longer ours. */
static void consumer_drop_unowned(ss_kafka_consumer_t *consumer)
{
    size_t kept = 0;
    for (size_t i = 0; i < consumer->collecting_count; i++) {
        ss_kafka_message_t *message = consumer->collecting[i];
        if (ss_kafka_consumer_is_current(consumer, message)) {
            consumer->collecting[kept++] = message;
        } else {
            ss_kafka_message_release(message);
        }
    }
    for (size_t i = kept; i < consumer->collecting_count; i++) {
        consumer->collecting[i] = NULL;
    }
    consumer->collecting_count = kept;
}

static bool offset_is_valid(int64_t offset)
{
    return offset >= 0 || offset == SS_KAFKA_OFFSET_BEGINNING || offset == SS_KAFKA_OFFSET_END ||
           offset == SS_KAFKA_OFFSET_COMMITTED;
}

static bool consumer_is_cooperative(rd_kafka_t *rk)
{
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    return protocol != NULL && strcmp(protocol, "COOPERATIVE") == 0;
}

/* Applies an assignment change (add or remove) the way the group protocol demands. */
static ss_err_t consumer_assign_call(ss_kafka_consumer_t *consumer,
                                     rd_kafka_topic_partition_list_t *partitions, bool add,
                                     char *errstr, size_t errstr_size)
{
    if (consumer_is_cooperative(consumer->rk)) {
        rd_kafka_error_t *error = add ? rd_kafka_incremental_assign(consumer->rk, partitions)
                                      : rd_kafka_incremental_unassign(consumer->rk, partitions);
        if (error == NULL) {
            return SS_OK;
        }
        ss_err_t err = ss_err_set(ss_kafka_internal_error_kind(error), errstr, errstr_size,
                                  "could not %s partitions: %s", add ? "assign" : "unassign",
                                  rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return err;
    }
    const rd_kafka_resp_err_t code = rd_kafka_assign(consumer->rk, add ? partitions : NULL);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                          "could not %s partitions: %s", add ? "assign" : "unassign",
                          rd_kafka_err2str(code));
    }
    return SS_OK;
}

static void consumer_on_assign(ss_kafka_consumer_t *consumer,
                               rd_kafka_topic_partition_list_t *partitions)
{
    char errstr[SS_KAFKA_ERROR_TEXT_MAX] = "";
    ss_kafka_partition_t *view = NULL;
    const size_t count = (size_t)partitions->cnt;

    if (consumer->failed) {
        goto refuse;
    }
    if (count > 0) {
        view = calloc(count, sizeof(*view));
        if (view == NULL) {
            consumer_fail(consumer, "out of memory for an assignment of %zu partitions", count);
            goto refuse;
        }
    }
    for (size_t i = 0; i < count; i++) {
        view[i].topic = partitions->elems[i].topic;
        view[i].partition = partitions->elems[i].partition;
        view[i].offset = SS_KAFKA_OFFSET_COMMITTED;
    }
    if (consumer->on_assign != NULL) {
        const ss_err_t err =
            consumer->on_assign(consumer->opaque, view, count, errstr, sizeof(errstr));
        if (err != SS_OK) {
            consumer_fail(consumer, "partition assignment hook failed (%s): %s", ss_err_name(err),
                          errstr);
            goto refuse;
        }
    }
    for (size_t i = 0; i < count; i++) {
        if (!offset_is_valid(view[i].offset)) {
            consumer_fail(consumer,
                          "partition assignment hook set invalid offset %" PRId64
                          " for topic %s partition %" PRId32,
                          view[i].offset, view[i].topic, view[i].partition);
            goto refuse;
        }
        partitions->elems[i].offset = view[i].offset;
    }
    if (consumer_assign_call(consumer, partitions, true, errstr, sizeof(errstr)) != SS_OK) {
        consumer_fail(consumer, "%s", errstr);
        goto refuse;
    }
    for (size_t i = 0; i < count; i++) {
        const ss_err_t err =
            consumer_table_add(consumer, view[i].topic, view[i].partition, view[i].offset);
        if (err != SS_OK) {
            consumer_fail(consumer, "could not track assigned topic %s partition %" PRId32 ": %s",
                          view[i].topic, view[i].partition, ss_err_name(err));
            goto cleanup;
        }
    }
    goto cleanup;

refuse:
    /*
     * Consume nothing rather than start anywhere but where the application said. Under the
     * eager protocol the assign call must still be made; an empty one keeps fetching off.
     */
    if (!consumer_is_cooperative(consumer->rk)) {
        (void)rd_kafka_assign(consumer->rk, NULL);
    }
cleanup:
    free(view);
}

static void consumer_on_revoke(ss_kafka_consumer_t *consumer,
                               rd_kafka_topic_partition_list_t *partitions)
{
    char errstr[SS_KAFKA_ERROR_TEXT_MAX] = "";
    ss_kafka_partition_t *view = NULL;
    const size_t count = (size_t)partitions->cnt;

    if (count > 0) {
        view = calloc(count, sizeof(*view));
    }
    if (view != NULL && consumer->on_revoke != NULL) {
        for (size_t i = 0; i < count; i++) {
            view[i].topic = partitions->elems[i].topic;
            view[i].partition = partitions->elems[i].partition;
            view[i].offset = partitions->elems[i].offset;
        }
        consumer->on_revoke(consumer->opaque, view, count);
    } else if (count > 0 && consumer->on_revoke != NULL) {
        SS_LOG_ERROR("kafka", "out of memory: on_revoke skipped for %zu partitions", count);
    }
    free(view);

    for (size_t i = 0; i < count; i++) {
        consumer_table_remove(consumer, partitions->elems[i].topic, partitions->elems[i].partition);
    }
    consumer_drop_unowned(consumer);

    if (consumer_assign_call(consumer, partitions, false, errstr, sizeof(errstr)) != SS_OK) {
        consumer_fail(consumer, "%s", errstr);
    }
}

static void consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t *partitions, void *opaque)
{
    ss_kafka_consumer_t *consumer = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        consumer_on_assign(consumer, partitions);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        consumer_on_revoke(consumer, partitions);
    } else {
        /* librdkafka's documented answer to a rebalance error: drop the assignment. */
        SS_LOG_WARN("kafka", "client=%s rebalance error: %s", rd_kafka_name(rk),
                    rd_kafka_err2str(err));
        consumer_table_clear(consumer);
        consumer_drop_unowned(consumer);
        (void)rd_kafka_assign(rk, NULL);
    }
}

/* fetch.min.bytes and fetch.wait.max.ms where the config sets them; librdkafka checks ranges. */
static ss_err_t consumer_conf_fetch(const ss_kafka_consumer_config_t *config, rd_kafka_conf_t *conf,
                                    char *errstr, size_t errstr_size)
{
    char number[16];
    ss_err_t err = SS_OK;
    if (config->fetch_min_bytes != 0) {
        snprintf(number, sizeof(number), "%d", config->fetch_min_bytes);
        err = ss_kafka_internal_conf_set(conf, "fetch.min.bytes", number, errstr, errstr_size);
    }
    if (err == SS_OK && config->fetch_wait_max_ms != 0) {
        snprintf(number, sizeof(number), "%d", config->fetch_wait_max_ms);
        err = ss_kafka_internal_conf_set(conf, "fetch.wait.max.ms", number, errstr, errstr_size);
    }
    return err;
}

static ss_err_t consumer_conf_build(const ss_kafka_consumer_config_t *config,
                                    ss_kafka_consumer_t *consumer, const char *group_id,
                                    rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
    ss_err_t err = ss_kafka_internal_conf_set(conf, "bootstrap.servers", config->bootstrap, errstr,
                                              errstr_size);
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set(conf, "group.id", group_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set(conf, "client.id",
                                         config->client_id != NULL ? config->client_id
                                                                   : SS_KAFKA_CLIENT_ID_DEFAULT,
                                         errstr, errstr_size);
    }
    if (err == SS_OK) {
        err =
            ss_kafka_internal_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size);
    }
    if (err == SS_OK) {
        err =
            ss_kafka_internal_conf_set(conf, "enable.partition.eof", "false", errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = consumer_conf_fetch(config, conf, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set_all(conf, config->properties, config->property_count,
                                             errstr, errstr_size);
    }
    /* The guarantees, last: offsets move only when the application says so. */
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set(conf, "enable.auto.offset.store", "false", errstr,
                                         errstr_size);
    }
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set(conf, "isolation.level", "read_committed", errstr,
                                         errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    rd_kafka_conf_set_opaque(conf, consumer);
    rd_kafka_conf_set_rebalance_cb(conf, consumer_rebalance_cb);
    ss_kafka_internal_conf_logging(conf);
    return SS_OK;
}

/* Everything the two constructors share: validation, the handle, the consumer queue. */
static ss_err_t consumer_create(const ss_kafka_consumer_config_t *config, const char *group_id,
                                ss_kafka_consumer_t **out, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_kafka_consumer_t *consumer = NULL;
    rd_kafka_conf_t *conf = NULL;
    char cause[512];

    if (config->bootstrap == NULL || config->bootstrap[0] == '\0') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka consumer config has no bootstrap servers");
    }
    if (config->batch_linger_ms < 0 || config->batch_linger_ms > SS_KAFKA_BATCH_LINGER_MS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka consumer batch_linger_ms %d out of range 0..%d",
                          config->batch_linger_ms, SS_KAFKA_BATCH_LINGER_MS_MAX);
    }

    consumer = calloc(1, sizeof(*consumer));
    conf = rd_kafka_conf_new();
    if (consumer == NULL || conf == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for kafka consumer");
        goto cleanup;
    }
    consumer->on_assign = config->on_assign;
    consumer->on_revoke = config->on_revoke;
    consumer->opaque = config->opaque;
    consumer->batch_linger_ms = config->batch_linger_ms;

    err = consumer_conf_build(config, consumer, group_id, conf, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    consumer->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, cause, sizeof(cause));
    if (consumer->rk == NULL) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "could not create kafka consumer for %s: %s", config->bootstrap, cause);
        goto cleanup;
    }
    conf = NULL; /* rd_kafka_new took it */

    /* One queue for records, rebalances and errors, served by rd_kafka_consumer_poll(). */
    const rd_kafka_resp_err_t code = rd_kafka_poll_set_consumer(consumer->rk);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                         "could not route kafka events to the consumer queue: %s",
                         rd_kafka_err2str(code));
        goto cleanup;
    }

    *out = consumer;
    consumer = NULL;

cleanup:
    if (conf != NULL) {
        rd_kafka_conf_destroy(conf);
    }
    if (consumer != NULL) {
        if (consumer->rk != NULL) {
            rd_kafka_destroy_flags(consumer->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        }
        free(consumer);
    }
    return err;
}

ss_err_t ss_kafka_consumer_new(const ss_kafka_consumer_config_t *config, ss_kafka_consumer_t **out,
                               char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_kafka_consumer_t *consumer = NULL;
    rd_kafka_topic_partition_list_t *topics = NULL;

    if (out == NULL || config == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka consumer needs a config and an out pointer");
    }
    *out = NULL;
    if (config->group_id == NULL || config->group_id[0] == '\0') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka consumer config has no group id");
    }
    if (config->topic_count == 0 || config->topic_count > SS_KAFKA_TOPICS_MAX ||
        config->topics == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka consumer needs 1..%d topics, got %zu", SS_KAFKA_TOPICS_MAX,
                          config->topic_count);
    }
    for (size_t i = 0; i < config->topic_count; i++) {
        if (config->topics[i] == NULL || config->topics[i][0] == '\0') {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "kafka consumer topic %zu is empty", i);
        }
    }

    err = consumer_create(config, config->group_id, &consumer, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }

    topics = rd_kafka_topic_partition_list_new((int)config->topic_count);
    if (topics == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for kafka topics");
        goto cleanup;
    }
    for (size_t i = 0; i < config->topic_count; i++) {
        (void)rd_kafka_topic_partition_list_add(topics, config->topics[i], RD_KAFKA_PARTITION_UA);
    }
    const rd_kafka_resp_err_t code = rd_kafka_subscribe(consumer->rk, topics);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                         "could not subscribe to %s (%zu topics): %s", config->topics[0],
                         config->topic_count, rd_kafka_err2str(code));
        goto cleanup;
    }

    *out = consumer;
    consumer = NULL;

cleanup:
    if (topics != NULL) {
        rd_kafka_topic_partition_list_destroy(topics);
    }
    ss_kafka_consumer_destroy(consumer);
    return err;
}

/*
 * SS_KAFKA_OFFSET_END made absolute: the log end the leader reports now. Left symbolic,
 * librdkafka resolves it at the partition's first fetch, which on a broker still starting comes
 * late, after records produced once the caller went on (the ingress lost its first answers so).
 * When the leader does not answer in time the symbolic end stays, and that is logged.
 */
static int64_t end_resolve(ss_kafka_consumer_t *consumer, const char *topic, int32_t partition)
{
    char errstr[256] = "the leader reported no log end";
    int64_t low = -1, high = -1;
    if (ss_kafka_consumer_watermarks(consumer, topic, partition, SS_KAFKA_END_RESOLVE_MS, &low,
                                     &high, errstr, sizeof(errstr)) == SS_OK &&
        high >= 0) {
        return high;
    }
    SS_LOG_WARN("kafka", "client=%s %s: starting at the end the first fetch finds",
                rd_kafka_name(consumer->rk), errstr);
    return SS_KAFKA_OFFSET_END;
}

ss_err_t ss_kafka_consumer_new_assigned(const ss_kafka_consumer_config_t *config, const char *topic,
                                        int32_t partition, int64_t start_offset,
                                        ss_kafka_consumer_t **out, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_kafka_consumer_t *consumer = NULL;
    rd_kafka_topic_partition_list_t *partitions = NULL;
    char group_id[256];

    if (out == NULL || config == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka consumer needs a config and an out pointer");
    }
    *out = NULL;
    if (topic == NULL || topic[0] == '\0' || partition < 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka assigned consumer needs a topic and a partition >= 0");
    }
    if (!offset_is_valid(start_offset)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "invalid start offset %" PRId64 " for topic %s partition %" PRId32,
                          start_offset, topic, partition);
    }

    /*
     * librdkafka's high-level consumer wants a group id even when it never joins the group
     * (assign() without subscribe() sends no JoinGroup); it is only used by commit.
     */
    if (config->group_id != NULL && config->group_id[0] != '\0') {
        snprintf(group_id, sizeof(group_id), "%s", config->group_id);
    } else {
        snprintf(group_id, sizeof(group_id), "%s.assigned",
                 config->client_id != NULL ? config->client_id : SS_KAFKA_CLIENT_ID_DEFAULT);
    }

    ss_kafka_consumer_config_t manual = *config;
    manual.on_assign = NULL;
    manual.on_revoke = NULL;
    err = consumer_create(&manual, group_id, &consumer, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }

    partitions = rd_kafka_topic_partition_list_new(1);
    if (partitions == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for kafka assignment");
        goto cleanup;
    }
    if (start_offset == SS_KAFKA_OFFSET_END) {
        start_offset = end_resolve(consumer, topic, partition);
    }
    rd_kafka_topic_partition_list_add(partitions, topic, partition)->offset = start_offset;
    const rd_kafka_resp_err_t code = rd_kafka_assign(consumer->rk, partitions);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                         "could not assign topic %s partition %" PRId32 ": %s", topic, partition,
                         rd_kafka_err2str(code));
        goto cleanup;
    }
    err = consumer_table_add(consumer, topic, partition, start_offset);
    if (err != SS_OK) {
        err = ss_err_set(err, errstr, errstr_size, "could not track topic %s partition %" PRId32,
                         topic, partition);
        goto cleanup;
    }

    *out = consumer;
    consumer = NULL;

cleanup:
    if (partitions != NULL) {
        rd_kafka_topic_partition_list_destroy(partitions);
    }
    ss_kafka_consumer_destroy(consumer);
    return err;
}

/* Wraps one librdkafka record; takes it over (destroys it on failure). */
static ss_kafka_message_t *consumer_wrap(const ss_kafka_consumer_t *consumer,
                                         rd_kafka_message_t *record)
{
    ss_kafka_message_t *message = malloc(sizeof(*message));
    if (message == NULL) {
        rd_kafka_message_destroy(record);
        return NULL;
    }
    rd_kafka_timestamp_type_t timestamp_type;
    message->topic = rd_kafka_topic_name(record->rkt);
    message->partition = record->partition;
    message->offset = record->offset;
    message->key = record->key;
    message->key_length = record->key != NULL ? record->key_len : 0;
    message->value = record->payload;
    message->value_length = record->payload != NULL ? record->len : 0;
    message->timestamp_ms = rd_kafka_message_timestamp(record, &timestamp_type);
    const consumer_partition_t *entry = consumer_find(consumer, message->topic, message->partition);
    message->generation = entry != NULL ? entry->generation : 0;
    message->internal = record;
    return message;
}

/* Hands back everything collected so far and turns a record error into the call's result. */
static ss_err_t consumer_record_error(ss_kafka_consumer_t *consumer, rd_kafka_message_t *record,
                                      char *errstr, size_t errstr_size)
{
    char text[SS_KAFKA_ERROR_TEXT_MAX];
    const rd_kafka_resp_err_t code = record->err;
    ss_err_t kind = ss_kafka_internal_err_kind(code);

    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char cause[256];
        (void)rd_kafka_fatal_error(consumer->rk, cause, sizeof(cause));
        consumer_fail(consumer, "kafka consumer failed fatally: %s", cause);
        rd_kafka_message_destroy(record);
        return SS_ERR_FATAL;
    }
    if (record->rkt != NULL) {
        snprintf(text, sizeof(text), "kafka consumer error on topic %s partition %" PRId32 ": %s",
                 rd_kafka_topic_name(record->rkt), record->partition,
                 rd_kafka_message_errstr(record));
    } else {
        snprintf(text, sizeof(text), "kafka consumer error: %s", rd_kafka_message_errstr(record));
    }
    rd_kafka_message_destroy(record);
    if (kind != SS_ERR_NOT_FOUND && kind != SS_ERR_FATAL) {
        kind = SS_ERR_RETRIABLE;
    }
    if (kind == SS_ERR_FATAL) {
        consumer_fail(consumer, "%s", text);
        return SS_ERR_FATAL;
    }
    if (consumer->collecting_count > 0) {
        consumer->held_err = kind;
        snprintf(consumer->held_text, sizeof(consumer->held_text), "%s", text);
        return SS_OK;
    }
    return ss_err_set(kind, errstr, errstr_size, "%s", text);
}

ss_err_t ss_kafka_consumer_poll_batch(ss_kafka_consumer_t *consumer, ss_kafka_message_t **messages,
                                      size_t max_count, int timeout_ms, size_t *count_out,
                                      char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;

    if (count_out != NULL) {
        *count_out = 0;
    }
    if (consumer == NULL || messages == NULL || count_out == NULL || max_count == 0 ||
        timeout_ms < 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka poll needs a consumer, room for messages and timeout_ms >= 0");
    }
    if (consumer->closed) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "kafka consumer is closed");
    }
    if (!consumer->failed) {
        /* Fatal errors raised outside a record (e.g. a fenced static member) stop us too. */
        char cause[256];
        if (rd_kafka_fatal_error(consumer->rk, cause, sizeof(cause)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            consumer_fail(consumer, "kafka consumer failed fatally: %s", cause);
        }
    }
    if (consumer->failed) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "%s", consumer->failed_text);
    }
    if (consumer->held_err != SS_OK) {
        err = ss_err_set(consumer->held_err, errstr, errstr_size, "%s", consumer->held_text);
        consumer->held_err = SS_OK;
        return err;
    }

    consumer->collecting = messages;
    consumer->collecting_count = 0;
    const int64_t first_deadline_ms = ss_kafka_internal_now_ms() + timeout_ms;
    int64_t linger_deadline_ms = -1;
    size_t events = 0;

    while (consumer->collecting_count < max_count && events < SS_KAFKA_POLL_EVENTS_MAX) {
        const int64_t now_ms = ss_kafka_internal_now_ms();
        int64_t wait_ms;
        if (consumer->collecting_count == 0) {
            wait_ms = first_deadline_ms - now_ms;
        } else {
            if (linger_deadline_ms < 0) {
                linger_deadline_ms = now_ms + consumer->batch_linger_ms;
            }
            wait_ms = linger_deadline_ms - now_ms;
        }
        if (wait_ms < 0) {
            wait_ms = 0;
        }

        rd_kafka_message_t *record = rd_kafka_consumer_poll(consumer->rk, (int)wait_ms);
        /* A rebalance may have run inside that call and failed or dropped records. */
        if (consumer->failed) {
            if (record != NULL) {
                rd_kafka_message_destroy(record);
            }
            err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "%s", consumer->failed_text);
            break;
        }
        if (record == NULL) {
            events++;
            if (wait_ms == 0 ||
                ss_kafka_internal_now_ms() >=
                    (consumer->collecting_count == 0 ? first_deadline_ms : linger_deadline_ms)) {
                break;
            }
            continue;
        }
        if (record->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            events++;
            if (record->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                rd_kafka_message_destroy(record);
                continue;
            }
            err = consumer_record_error(consumer, record, errstr, errstr_size);
            if (err == SS_ERR_FATAL) {
                (void)ss_err_set(err, errstr, errstr_size, "%s", consumer->failed_text);
            }
            break;
        }
        ss_kafka_message_t *message = consumer_wrap(consumer, record);
        if (message == NULL) {
            err =
                ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for a kafka message");
            break;
        }
        if (message->generation == 0) {
            /* Not (or no longer) ours: fetched before a revoke librdkafka did not filter. */
            ss_kafka_message_release(message);
            continue;
        }
        messages[consumer->collecting_count++] = message;
    }

    if (err != SS_OK && consumer->collecting_count > 0) {
        if (err == SS_ERR_FATAL || err == SS_ERR_NOMEM) {
            ss_kafka_messages_release(messages, consumer->collecting_count);
            consumer->collecting_count = 0;
        }
    }
    *count_out = consumer->collecting_count;
    ss_kafka_internal_count_consumed(messages, consumer->collecting_count);
    consumer->collecting = NULL;
    consumer->collecting_count = 0;
    return err;
}

ss_err_t ss_kafka_message_header(const ss_kafka_message_t *message, const char *name,
                                 const void **value, size_t *length)
{
    rd_kafka_headers_t *headers = NULL;
    const void *found = NULL;
    size_t found_length = 0;

    if (message == NULL || name == NULL || message->internal == NULL) {
        return SS_ERR_INVALID;
    }
    if (rd_kafka_message_headers(message->internal, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return SS_ERR_NOT_FOUND;
    }
    if (rd_kafka_header_get_last(headers, name, &found, &found_length) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        return SS_ERR_NOT_FOUND;
    }
    if (value != NULL) {
        *value = found;
    }
    if (length != NULL) {
        *length = found_length;
    }
    return SS_OK;
}

size_t ss_kafka_message_header_count(const ss_kafka_message_t *message)
{
    rd_kafka_headers_t *headers = NULL;
    if (message == NULL || message->internal == NULL ||
        rd_kafka_message_headers(message->internal, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return 0;
    }
    return rd_kafka_header_cnt(headers);
}

ss_err_t ss_kafka_message_header_at(const ss_kafka_message_t *message, size_t index,
                                    const char **name, const void **value, size_t *length)
{
    rd_kafka_headers_t *headers = NULL;
    const char *found_name = NULL;
    const void *found = NULL;
    size_t found_length = 0;

    if (message == NULL || message->internal == NULL) {
        return SS_ERR_INVALID;
    }
    if (rd_kafka_message_headers(message->internal, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_all(headers, index, &found_name, &found, &found_length) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
        return SS_ERR_NOT_FOUND;
    }
    *name = found_name;
    *value = found;
    *length = found_length;
    return SS_OK;
}

void ss_kafka_message_release(ss_kafka_message_t *message)
{
    if (message == NULL) {
        return;
    }
    if (message->internal != NULL) {
        rd_kafka_message_destroy(message->internal);
    }
    free(message);
}

void ss_kafka_messages_release(ss_kafka_message_t **messages, size_t count)
{
    if (messages == NULL) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        ss_kafka_message_release(messages[i]);
        messages[i] = NULL;
    }
}

bool ss_kafka_consumer_owns(const ss_kafka_consumer_t *consumer, const char *topic,
                            int32_t partition)
{
    if (consumer == NULL || topic == NULL) {
        return false;
    }
    return consumer_find(consumer, topic, partition) != NULL;
}

bool ss_kafka_consumer_is_current(const ss_kafka_consumer_t *consumer,
                                  const ss_kafka_message_t *message)
{
    if (consumer == NULL || message == NULL) {
        return false;
    }
    const consumer_partition_t *entry = consumer_find(consumer, message->topic, message->partition);
    return entry != NULL && entry->generation == message->generation;
}

/*
 * The fallback when librdkafka will not seek a partition (it only seeks partitions that are
 * fetching): assign the partition again with the wanted start offset. Under the eager (or no)
 * protocol assign() replaces the whole assignment, so the other partitions are re-assigned at
 * their current positions and lose nothing.
 */
static ss_err_t consumer_reassign(ss_kafka_consumer_t *consumer, const char *topic,
                                  int32_t partition, int64_t offset, char *errstr,
                                  size_t errstr_size)
{
    ss_err_t err = SS_OK;
    rd_kafka_topic_partition_list_t *partitions = NULL;

    if (consumer_is_cooperative(consumer->rk)) {
        partitions = rd_kafka_topic_partition_list_new(1);
        if (partitions == NULL) {
            return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for a seek");
        }
        rd_kafka_topic_partition_list_add(partitions, topic, partition)->offset = offset;
        err = consumer_assign_call(consumer, partitions, false, errstr, errstr_size);
        if (err == SS_OK) {
            err = consumer_assign_call(consumer, partitions, true, errstr, errstr_size);
        }
        goto cleanup;
    }

    rd_kafka_resp_err_t code = rd_kafka_assignment(consumer->rk, &partitions);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
        code = rd_kafka_position(consumer->rk, partitions);
    }
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                         "could not read the assignment to seek topic %s partition %" PRId32 ": %s",
                         topic, partition, rd_kafka_err2str(code));
        goto cleanup;
    }
    for (int i = 0; i < partitions->cnt; i++) {
        rd_kafka_topic_partition_t *element = &partitions->elems[i];
        const consumer_partition_t *entry =
            consumer_find(consumer, element->topic, element->partition);
        if (element->partition == partition && strcmp(element->topic, topic) == 0) {
            element->offset = offset;
        } else if (element->offset < 0 && entry != NULL) {
            element->offset = entry->start_offset; /* nothing consumed yet */
        }
    }
    err = consumer_assign_call(consumer, partitions, true, errstr, errstr_size);

cleanup:
    if (partitions != NULL) {
        rd_kafka_topic_partition_list_destroy(partitions);
    }
    return err;
}

ss_err_t ss_kafka_consumer_seek(ss_kafka_consumer_t *consumer, const char *topic, int32_t partition,
                                int64_t offset, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    rd_kafka_topic_partition_list_t *partitions = NULL;

    if (consumer == NULL || topic == NULL || !offset_is_valid(offset)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka seek needs a consumer, a topic and a valid offset");
    }
    consumer_partition_t *entry = consumer_find(consumer, topic, partition);
    if (entry == NULL) {
        return ss_err_set(SS_ERR_NOT_FOUND, errstr, errstr_size,
                          "cannot seek topic %s partition %" PRId32 ": not assigned here", topic,
                          partition);
    }

    partitions = rd_kafka_topic_partition_list_new(1);
    if (partitions == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for a seek");
    }
    rd_kafka_topic_partition_list_add(partitions, topic, partition)->offset = offset;
    rd_kafka_error_t *error =
        rd_kafka_seek_partitions(consumer->rk, partitions, SS_KAFKA_SEEK_TIMEOUT_MS);
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (error != NULL) {
        code = rd_kafka_error_code(error);
        rd_kafka_error_destroy(error);
    } else {
        code = partitions->elems[0].err;
    }

    if (code == RD_KAFKA_RESP_ERR__STATE) {
        err = consumer_reassign(consumer, topic, partition, offset, errstr, errstr_size);
    } else if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                         "could not seek topic %s partition %" PRId32 " to offset %" PRId64 ": %s",
                         topic, partition, offset, rd_kafka_err2str(code));
    }
    if (err == SS_OK) {
        /* Records already handed out from this partition are now stale. */
        entry->generation = ++consumer->generation_last;
        entry->start_offset = offset;
    }

    rd_kafka_topic_partition_list_destroy(partitions);
    return err;
}

ss_err_t ss_kafka_consumer_commit(ss_kafka_consumer_t *consumer, const char *topic,
                                  int32_t partition, int64_t next_offset, char *errstr,
                                  size_t errstr_size)
{
    if (consumer == NULL || topic == NULL || partition < 0 || next_offset < 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka commit needs a consumer, a topic, a partition and an offset");
    }
    rd_kafka_topic_partition_list_t *partitions = rd_kafka_topic_partition_list_new(1);
    if (partitions == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for a commit");
    }
    rd_kafka_topic_partition_list_add(partitions, topic, partition)->offset = next_offset;
    rd_kafka_resp_err_t code = rd_kafka_commit(consumer->rk, partitions, 0);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
        code = partitions->elems[0].err;
    }
    rd_kafka_topic_partition_list_destroy(partitions);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                          "could not commit offset %" PRId64 " for topic %s partition %" PRId32
                          ": %s",
                          next_offset, topic, partition, rd_kafka_err2str(code));
    }
    return SS_OK;
}

ss_err_t ss_kafka_consumer_close(ss_kafka_consumer_t *consumer, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    rd_kafka_queue_t *queue = NULL;

    if (consumer == NULL || consumer->closed) {
        return SS_OK;
    }
    consumer->closed = true;

    queue = rd_kafka_queue_new(consumer->rk);
    if (queue == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory closing consumer");
    }
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(consumer->rk, queue);
    if (error != NULL) {
        err = ss_err_set(ss_kafka_internal_error_kind(error), errstr, errstr_size,
                         "could not close kafka consumer: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        goto cleanup;
    }
    /*
     * The final rebalance arrives here as an event (rd_kafka_queue_poll() does not run the
     * rebalance callback itself), so on_revoke runs on this thread. Records and errors that
     * were still in flight are discarded.
     */
    /*
     * Bounded by time only: a burst of events that are ready at once (errors of an offset
     * reset, say) must not use up the wait in a millisecond, which left the close abandoned
     * and the process hanging in its destroy.
     */
    const int64_t deadline_ms = ss_kafka_internal_now_ms() + SS_KAFKA_CONSUMER_CLOSE_MS;
    long events = 0;
    const char *last_event = "none";
    while (!rd_kafka_consumer_closed(consumer->rk) && ss_kafka_internal_now_ms() < deadline_ms) {
        rd_kafka_event_t *event = rd_kafka_queue_poll(queue, SS_KAFKA_CLOSE_POLL_MS);
        if (event == NULL) {
            continue;
        }
        events++;
        last_event = rd_kafka_event_name(event); /* a static string */
        if (rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE) {
            consumer_rebalance_cb(consumer->rk, rd_kafka_event_error(event),
                                  rd_kafka_event_topic_partition_list(event), consumer);
        }
        rd_kafka_event_destroy(event);
    }
    if (!rd_kafka_consumer_closed(consumer->rk)) {
        err = ss_err_set(SS_ERR_TIMEOUT, errstr, errstr_size,
                         "kafka consumer did not close within %d ms (%ld events, the last %s)",
                         SS_KAFKA_CONSUMER_CLOSE_MS, events, last_event);
    }

cleanup:
    rd_kafka_queue_destroy(queue);
    return err;
}

void ss_kafka_consumer_destroy(ss_kafka_consumer_t *consumer)
{
    if (consumer == NULL) {
        return;
    }
    if (consumer->rk != NULL) {
        char errstr[SS_KAFKA_ERROR_TEXT_MAX];
        if (ss_kafka_consumer_close(consumer, errstr, sizeof(errstr)) != SS_OK) {
            SS_LOG_WARN("kafka", "closing consumer: %s", errstr);
        }
        /* close already ran (or gave up): do not let destroy block on another one. */
        rd_kafka_destroy_flags(consumer->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    consumer_table_clear(consumer);
    free(consumer->assigned);
    free(consumer);
}

ss_err_t ss_kafka_consumer_commit_async(ss_kafka_consumer_t *consumer, const char *topic,
                                        const int32_t *partitions, const int64_t *next_offsets,
                                        size_t count, char *errstr, size_t errstr_size)
{
    if (consumer == NULL || topic == NULL || count == 0 || count > SS_KAFKA_PARTITIONS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka commit needs a consumer, a topic and 1 to %d partitions",
                          SS_KAFKA_PARTITIONS_MAX);
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)count);
    if (list == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for a commit");
    }
    for (size_t i = 0; i < count; i++) {
        rd_kafka_topic_partition_list_add(list, topic, partitions[i])->offset = next_offsets[i];
    }
    rd_kafka_resp_err_t code = rd_kafka_commit(consumer->rk, list, 1);
    rd_kafka_topic_partition_list_destroy(list);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                          "could not commit offsets for topic %s: %s", topic,
                          rd_kafka_err2str(code));
    }
    return SS_OK;
}

ss_err_t ss_kafka_consumer_committed(ss_kafka_consumer_t *consumer, const char *topic,
                                     int32_t partition, int timeout_ms, int64_t *next_offset_out,
                                     char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    if (list == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for a query");
    }
    rd_kafka_topic_partition_list_add(list, topic, partition);
    rd_kafka_resp_err_t code = rd_kafka_committed(consumer->rk, list, timeout_ms);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
        code = list->elems[0].err;
    }
    int64_t offset = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                          "could not read the committed offset of topic %s partition %" PRId32
                          ": %s",
                          topic, partition, rd_kafka_err2str(code));
    }
    *next_offset_out = offset >= 0 ? offset : -1;
    return SS_OK;
}

ss_err_t ss_kafka_consumer_watermarks(ss_kafka_consumer_t *consumer, const char *topic,
                                      int32_t partition, int timeout_ms, int64_t *low_out,
                                      int64_t *high_out, char *errstr, size_t errstr_size)
{
    int64_t low = -1, high = -1;
    rd_kafka_resp_err_t code =
        rd_kafka_query_watermark_offsets(consumer->rk, topic, partition, &low, &high, timeout_ms);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                          "could not read the log watermarks of topic %s partition %" PRId32 ": %s",
                          topic, partition, rd_kafka_err2str(code));
    }
    *low_out = low;
    *high_out = high;
    return SS_OK;
}

ss_err_t ss_kafka_consumer_watermarks_cached(ss_kafka_consumer_t *consumer, const char *topic,
                                             int32_t partition, int64_t *low_out, int64_t *high_out)
{
    int64_t low = -1, high = -1;
    rd_kafka_resp_err_t code =
        rd_kafka_get_watermark_offsets(consumer->rk, topic, partition, &low, &high);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR || high < 0) {
        return SS_ERR_NOT_FOUND;
    }
    *low_out = low;
    *high_out = high;
    return SS_OK;
}
