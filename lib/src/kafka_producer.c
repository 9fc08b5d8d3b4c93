/*
 * The idempotent producer (see ss/kafka.h). Every record goes out with acks=all and
 * enable.idempotence=true, so a retried batch is never duplicated or reordered within a
 * partition; keys are placed by librdkafka's murmur2_random partitioner, which agrees with
 * Java clients and with ss_kafka_partition_for_key(). Delivery reports are served on the thread
 * that calls poll or flush and handed to the caller's on_delivery with an ss_err_t.
 */
#include "kafka_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ss/kafka.h"
#include "ss/log.h"

/* The largest linger librdkafka accepts (linger.ms range). */
#define SS_KAFKA_LINGER_MS_MAX 900000
/* How long purged records may take to report at destroy. */
#define SS_KAFKA_PRODUCER_PURGE_POLL_MS 1000
/* Fixed parts of one produceva call: topic, partition, key, value, opaque, flags. */
#define SS_KAFKA_PRODUCE_FIELDS_MAX (6 + SS_KAFKA_HEADERS_MAX)

struct ss_kafka_producer {
    rd_kafka_t *rk;
    ss_kafka_delivery_fn on_delivery;
    void *opaque;
};

static ss_kafka_persistence_t persistence_of(const rd_kafka_message_t *message)
{
    switch (rd_kafka_message_status(message)) {
    case RD_KAFKA_MSG_STATUS_PERSISTED:
        return SS_KAFKA_PERSISTED;
    case RD_KAFKA_MSG_STATUS_NOT_PERSISTED:
        return SS_KAFKA_NOT_PERSISTED;
    default:
        return SS_KAFKA_POSSIBLY_PERSISTED;
    }
}

/*
 * What a producer error means: shared_kind (the library's reading of code), except that a
 * partition the topic does not have is the record's own fault (partition counts only grow, and
 * a new partition is known after a metadata refresh), so it is SS_ERR_INVALID, never retried as
 * it is; an unknown topic may still be created (NOT_FOUND). Both the send and the delivery
 * report go through here.
 */
static ss_err_t producer_err_kind(rd_kafka_resp_err_t code, ss_err_t shared_kind)
{
    return code == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ? SS_ERR_INVALID : shared_kind;
}

/* Delivery report: one per accepted record, served by rd_kafka_poll()/rd_kafka_flush(). */
static void producer_delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque)
{
    ss_kafka_producer_t *producer = opaque;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ss_kafka_internal_count_produced(rd_kafka_topic_name(message->rkt));
    }
    if (producer == NULL || producer->on_delivery == NULL) {
        return;
    }
    ss_kafka_delivery_t delivery = {
        .result = producer_err_kind(message->err, ss_kafka_internal_err_kind(message->err)),
        .persistence = persistence_of(message),
        .partition = message->partition,
        .offset = message->offset};
    char text[512];
    if (message->err == RD_KAFKA_RESP_ERR__FATAL) {
        char cause[256];
        (void)rd_kafka_fatal_error(rk, cause, sizeof(cause));
        snprintf(text, sizeof(text), "could not deliver to topic %s: fatal producer error: %s",
                 rd_kafka_topic_name(message->rkt), cause);
        delivery.result = SS_ERR_FATAL;
        delivery.error_text = text;
    } else if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(text, sizeof(text), "could not deliver to topic %s: %s",
                 rd_kafka_topic_name(message->rkt), rd_kafka_err2str(message->err));
        delivery.error_text = text;
    }
    producer->on_delivery(producer->opaque, message->_private, &delivery);
}

static ss_err_t producer_conf_build(const ss_kafka_producer_config_t *config,
                                    ss_kafka_producer_t *producer, rd_kafka_conf_t *conf,
                                    char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    char number[32];

    if (config->linger_ms < 0 || config->linger_ms > SS_KAFKA_LINGER_MS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka producer linger_ms %d out of range 0..%d", config->linger_ms,
                          SS_KAFKA_LINGER_MS_MAX);
    }
    if (config->batch_size_bytes < 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka producer batch_size_bytes %d is negative",
                          config->batch_size_bytes);
    }

    /* Defaults the extra properties may change. */
    err = ss_kafka_internal_conf_set(conf, "bootstrap.servers", config->bootstrap, errstr,
                                     errstr_size);
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set(conf, "client.id",
                                         config->client_id != NULL ? config->client_id
                                                                   : SS_KAFKA_CLIENT_ID_DEFAULT,
                                         errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set(conf, "compression.type", "lz4", errstr, errstr_size);
    }
    if (err == SS_OK) {
        /* A typo in a topic name must fail, not create a topic with broker defaults. */
        err = ss_kafka_internal_conf_set(conf, "allow.auto.create.topics", "false", errstr,
                                         errstr_size);
    }
    if (err == SS_OK) {
        snprintf(number, sizeof(number), "%d", config->linger_ms);
        err = ss_kafka_internal_conf_set(conf, "linger.ms", number, errstr, errstr_size);
    }
    if (err == SS_OK && config->batch_size_bytes > 0) {
        snprintf(number, sizeof(number), "%d", config->batch_size_bytes);
        err = ss_kafka_internal_conf_set(conf, "batch.size", number, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set_all(conf, config->properties, config->property_count,
                                             errstr, errstr_size);
    }

    /* The guarantees: applied last so no extra property can weaken them. */
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set(conf, "acks", "all", errstr, errstr_size);
    }
    if (err == SS_OK) {
        err =
            ss_kafka_internal_conf_set(conf, "partitioner", "murmur2_random", errstr, errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }

    rd_kafka_conf_set_opaque(conf, producer);
    rd_kafka_conf_set_dr_msg_cb(conf, producer_delivery_cb);
    ss_kafka_internal_conf_logging(conf);
    return SS_OK;
}

ss_err_t ss_kafka_producer_new(const ss_kafka_producer_config_t *config, ss_kafka_producer_t **out,
                               char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_kafka_producer_t *producer = NULL;
    rd_kafka_conf_t *conf = NULL;
    char cause[512];

    if (out == NULL || config == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka producer needs a config and an out pointer");
    }
    *out = NULL;
    if (config->bootstrap == NULL || config->bootstrap[0] == '\0') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka producer config has no bootstrap servers");
    }

    producer = calloc(1, sizeof(*producer));
    conf = rd_kafka_conf_new();
    if (producer == NULL || conf == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for kafka producer");
        goto cleanup;
    }
    producer->on_delivery = config->on_delivery;
    producer->opaque = config->opaque;

    err = producer_conf_build(config, producer, conf, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }

    producer->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, cause, sizeof(cause));
    if (producer->rk == NULL) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "could not create kafka producer for %s: %s", config->bootstrap, cause);
        goto cleanup;
    }
    conf = NULL; /* rd_kafka_new took it */

    *out = producer;
    producer = NULL;

cleanup:
    if (conf != NULL) {
        rd_kafka_conf_destroy(conf);
    }
    if (producer != NULL) {
        free(producer);
    }
    return err;
}

void ss_kafka_producer_fail_fatally(ss_kafka_producer_t *producer, const char *reason)
{
    (void)rd_kafka_test_fatal_error(producer->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                    reason);
}

/* The error for a producer that raised a fatal error, with librdkafka's cause. */
static ss_err_t producer_fatal(ss_kafka_producer_t *producer, char *errstr, size_t errstr_size)
{
    char cause[256];
    const rd_kafka_resp_err_t code = rd_kafka_fatal_error(producer->rk, cause, sizeof(cause));
    return ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "kafka producer failed fatally: %s: %s",
                      rd_kafka_err2name(code), cause);
}

ss_err_t ss_kafka_producer_send(ss_kafka_producer_t *producer, const char *topic, int32_t partition,
                                const void *key, size_t key_length, const void *value,
                                size_t value_length, const ss_kafka_header_t *headers,
                                size_t header_count, void *message_opaque, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_vu_t fields[SS_KAFKA_PRODUCE_FIELDS_MAX];
    size_t field_count = 0;

    if (producer == NULL || topic == NULL || topic[0] == '\0') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka send needs a producer and a topic");
    }
    if (partition < SS_KAFKA_PARTITION_BY_KEY) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "invalid partition %" PRId32 " for topic %s", partition, topic);
    }
    if ((key == NULL && key_length > 0) || (value == NULL && value_length > 0)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka send to topic %s: NULL key or value with a non-zero length",
                          topic);
    }
    if (header_count > SS_KAFKA_HEADERS_MAX || (header_count > 0 && headers == NULL)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka send to topic %s: %zu headers (at most %d)", topic, header_count,
                          SS_KAFKA_HEADERS_MAX);
    }

    fields[field_count].vtype = RD_KAFKA_VTYPE_TOPIC;
    fields[field_count++].u.cstr = topic;
    fields[field_count].vtype = RD_KAFKA_VTYPE_PARTITION;
    fields[field_count++].u.i32 =
        partition == SS_KAFKA_PARTITION_BY_KEY ? RD_KAFKA_PARTITION_UA : partition;
    fields[field_count].vtype = RD_KAFKA_VTYPE_KEY;
    fields[field_count].u.mem.ptr = (void *)key;
    fields[field_count++].u.mem.size = key_length;
    fields[field_count].vtype = RD_KAFKA_VTYPE_VALUE;
    fields[field_count].u.mem.ptr = (void *)value;
    fields[field_count++].u.mem.size = value_length;
    fields[field_count].vtype = RD_KAFKA_VTYPE_OPAQUE;
    fields[field_count++].u.ptr = message_opaque;
    fields[field_count].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    fields[field_count++].u.i = RD_KAFKA_MSG_F_COPY;
    /*
     * The headers go as one list the application owns (VTYPE_HEADERS), not one VTYPE_HEADER
     * each: librdkafka 2.0.2 frees a list it built itself twice when the partition does not
     * exist (confluentinc/librdkafka#4627), which crashed a worker answering a reply_partition
     * beyond ss.results. A list of ours passes to the message on success and stays ours on
     * failure, whatever failed.
     */
    rd_kafka_headers_t *list = NULL;
    if (header_count > 0) {
        list = rd_kafka_headers_new(header_count);
        for (size_t i = 0; i < header_count; i++) {
            if (headers[i].name == NULL ||
                (headers[i].value == NULL && headers[i].value_length > 0)) {
                rd_kafka_headers_destroy(list);
                return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                  "kafka send to topic %s: header %zu has no name or no value",
                                  topic, i);
            }
            (void)rd_kafka_header_add(list, headers[i].name, -1, headers[i].value,
                                      (ssize_t)headers[i].value_length);
        }
        fields[field_count].vtype = RD_KAFKA_VTYPE_HEADERS;
        fields[field_count++].u.headers = list;
    }

    rd_kafka_error_t *error = rd_kafka_produceva(producer->rk, fields, field_count);
    if (error == NULL) {
        return SS_OK;
    }
    if (list != NULL) {
        rd_kafka_headers_destroy(list);
    }

    const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    ss_err_t err;
    if (code == RD_KAFKA_RESP_ERR__FATAL || rd_kafka_error_is_fatal(error)) {
        err = producer_fatal(producer, errstr, errstr_size);
    } else if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "kafka producer queue full sending to topic %s: %s", topic,
                         rd_kafka_error_string(error));
    } else {
        err = ss_err_set(producer_err_kind(code, ss_kafka_internal_error_kind(error)), errstr,
                         errstr_size, "could not send to topic %s partition %" PRId32 ": %s", topic,
                         partition, rd_kafka_error_string(error));
    }
    rd_kafka_error_destroy(error);
    return err;
}

int ss_kafka_producer_poll(ss_kafka_producer_t *producer, int timeout_ms)
{
    if (producer == NULL) {
        return 0;
    }
    return rd_kafka_poll(producer->rk, timeout_ms);
}

ss_err_t ss_kafka_producer_check(ss_kafka_producer_t *producer, char *errstr, size_t errstr_size)
{
    if (rd_kafka_fatal_error(producer->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return producer_fatal(producer, errstr, errstr_size);
    }
    return SS_OK;
}

ss_err_t ss_kafka_producer_flush(ss_kafka_producer_t *producer, int timeout_ms, char *errstr,
                                 size_t errstr_size)
{
    if (producer == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "kafka flush needs a producer");
    }
    const rd_kafka_resp_err_t code = rd_kafka_flush(producer->rk, timeout_ms);
    if (rd_kafka_fatal_error(producer->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return producer_fatal(producer, errstr, errstr_size);
    }
    if (code == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        return ss_err_set(SS_ERR_TIMEOUT, errstr, errstr_size,
                          "kafka flush timed out after %d ms with %d records outstanding",
                          timeout_ms, rd_kafka_outq_len(producer->rk));
    }
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                          "kafka flush failed: %s", rd_kafka_err2str(code));
    }
    return SS_OK;
}

int ss_kafka_producer_outstanding(ss_kafka_producer_t *producer)
{
    if (producer == NULL) {
        return 0;
    }
    return rd_kafka_outq_len(producer->rk);
}

ss_err_t ss_kafka_producer_ping(ss_kafka_producer_t *producer, int timeout_ms, char *errstr,
                                size_t errstr_size)
{
    if (producer == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "kafka ping needs a producer");
    }
    return ss_kafka_internal_ping(producer->rk, "kafka", timeout_ms, errstr, errstr_size);
}

void ss_kafka_producer_destroy(ss_kafka_producer_t *producer)
{
    if (producer == NULL) {
        return;
    }
    if (rd_kafka_flush(producer->rk, SS_KAFKA_PRODUCER_DESTROY_FLUSH_MS) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        /*
         * Give up on what is left, but still report it: the caller's message_opaque may own
         * memory, and an outbox row that was not acknowledged must stay for the next run.
         */
        const rd_kafka_resp_err_t code =
            rd_kafka_purge(producer->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
            SS_LOG_WARN("kafka", "client=%s could not purge undelivered records: %s",
                        rd_kafka_name(producer->rk), rd_kafka_err2str(code));
        }
        (void)rd_kafka_flush(producer->rk, SS_KAFKA_PRODUCER_PURGE_POLL_MS);
    }
    rd_kafka_destroy(producer->rk);
    free(producer);
}
