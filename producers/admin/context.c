/*
 * ss-admin's connections, opened when a subcommand first needs them and closed at exit, and
 * reading a range of one partition record by record.
 */
#include "admin.h"

#include "ss/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#define ADMIN_CLIENT_ID "ss-admin"
/* How long one poll waits for the next record of a range. */
#define ADMIN_POLL_MS 200

void ss_admin_note(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fputs(SS_ADMIN_PROGRAM ": ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
}

ss_err_t ss_admin_pg(ss_admin_t *admin, char *errstr, size_t errstr_size)
{
    if (admin->pg != NULL) {
        return SS_OK;
    }
    int timeout_s = (int)(admin->config.timeout_ms + 999) / 1000;
    return ss_pg_connect(admin->config.pg_dsn, ADMIN_CLIENT_ID, timeout_s, &admin->pg, errstr,
                         errstr_size);
}

ss_err_t ss_admin_redis(ss_admin_t *admin, char *errstr, size_t errstr_size)
{
    if (admin->redis != NULL) {
        return SS_OK;
    }
    return ss_redis_connect(admin->config.redis_url, (int)admin->config.timeout_ms, &admin->redis,
                            errstr, errstr_size);
}

ss_err_t ss_admin_registry(ss_admin_t *admin, char *errstr, size_t errstr_size)
{
    if (admin->registry != NULL) {
        return SS_OK;
    }
    return ss_avro_registry_load(admin->config.schema_dir, &admin->registry, errstr, errstr_size);
}

ss_err_t ss_admin_consumer(ss_admin_t *admin, const char *topic, int32_t partition,
                           int64_t start_offset, ss_kafka_consumer_t **out, char *errstr,
                           size_t errstr_size)
{
    ss_kafka_consumer_config_t config = {
        .bootstrap = admin->config.kafka_bootstrap,
        .client_id = ADMIN_CLIENT_ID,
    };
    return ss_kafka_consumer_new_assigned(&config, topic, partition, start_offset, out, errstr,
                                          errstr_size);
}

/*
 * Watermarks are asked through one consumer handle, whatever the topic: librdkafka's query
 * needs a handle, not an assignment. It is assigned the first partition asked about, at its end,
 * so it fetches only what is produced meanwhile (tail closes it before it follows a topic).
 */
ss_err_t ss_admin_watermarks(ss_admin_t *admin, const char *topic, int32_t partition,
                             int64_t *low_out, int64_t *high_out, char *errstr, size_t errstr_size)
{
    if (admin->metadata == NULL) {
        ss_err_t err = ss_admin_consumer(admin, topic, partition, SS_KAFKA_OFFSET_END,
                                         &admin->metadata, errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    return ss_kafka_consumer_watermarks(admin->metadata, topic, partition,
                                        (int)admin->config.timeout_ms, low_out, high_out, errstr,
                                        errstr_size);
}

void ss_admin_record_view(const ss_kafka_message_t *message, ss_kafka_header_t *headers,
                          ss_admin_record_t *record)
{
    size_t count = ss_kafka_message_header_count(message);
    size_t kept = 0;
    for (size_t i = 0; i < count && kept < SS_ADMIN_HEADERS_MAX; i++) {
        ss_kafka_header_t *header = &headers[kept];
        if (ss_kafka_message_header_at(message, i, &header->name, &header->value,
                                       &header->value_length) == SS_OK) {
            kept++;
        }
    }
    *record = (ss_admin_record_t){
        .topic = message->topic,
        .partition = message->partition,
        .offset = message->offset,
        .timestamp_ms = message->timestamp_ms,
        .key = message->key,
        .key_length = message->key_length,
        .value = message->value,
        .value_length = message->value_length,
        .headers = headers,
        .header_count = kept,
    };
}

/* Polls one record; SS_OK with *message_out NULL when none came in ADMIN_POLL_MS. */
static ss_err_t poll_one(ss_kafka_consumer_t *consumer, ss_kafka_message_t **message_out,
                         char *errstr, size_t errstr_size)
{
    size_t count = 0;
    *message_out = NULL;
    ss_err_t err = ss_kafka_consumer_poll_batch(consumer, message_out, 1, ADMIN_POLL_MS, &count,
                                                errstr, errstr_size);
    if (err == SS_ERR_RETRIABLE) {
        SS_LOG_WARN("admin", "kafka poll error=\"%s\"", errstr);
        return SS_OK;
    }
    return err;
}

ss_err_t ss_admin_read_range(ss_admin_t *admin, const char *topic, int32_t partition, int64_t from,
                             int64_t to, ss_admin_each_fn each, void *opaque, char *errstr,
                             size_t errstr_size)
{
    if (from >= to) {
        return SS_OK;
    }
    ss_kafka_consumer_t *consumer = NULL;
    ss_err_t err = ss_admin_consumer(admin, topic, partition, from, &consumer, errstr, errstr_size);
    int64_t idle_ms = 0, next = from;
    while (err == SS_OK && next < to && !*admin->stop) {
        ss_kafka_message_t *message = NULL;
        err = poll_one(consumer, &message, errstr, errstr_size);
        if (err != SS_OK) {
            break;
        }
        if (message == NULL) {
            idle_ms += ADMIN_POLL_MS;
            if (idle_ms >= admin->config.timeout_ms) {
                err = ss_err_set(SS_ERR_TIMEOUT, errstr, errstr_size,
                                 "no record of %s/%" PRId32 " at offset %" PRId64
                                 " came within %lld ms (the log ends at %" PRId64 ")",
                                 topic, partition, next, admin->config.timeout_ms, to);
            }
            continue;
        }
        idle_ms = 0;
        next = message->offset + 1;
        bool more = message->offset < to ? each(opaque, message) : false;
        ss_kafka_message_release(message);
        if (!more) {
            break;
        }
    }
    ss_kafka_consumer_destroy(consumer);
    return err;
}

void ss_admin_close(ss_admin_t *admin)
{
    ss_kafka_consumer_destroy(admin->metadata);
    admin->metadata = NULL;
    ss_avro_registry_destroy(admin->registry);
    admin->registry = NULL;
    ss_redis_destroy(admin->redis);
    admin->redis = NULL;
    ss_pg_destroy(admin->pg);
    admin->pg = NULL;
}
