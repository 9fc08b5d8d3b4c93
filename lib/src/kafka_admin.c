/*
 * Admin helpers for tests, tools and readiness checks (see ss/kafka.h): the partition count of
 * a topic, idempotent topic creation and a reachability ping. Each call opens a short-lived
 * client handle, asks, and closes it; none of them is on a hot path.
 */
#include "kafka_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ss/kafka.h"

/* Extra time the admin result wait gets over the broker-side operation timeout. */
#define SS_KAFKA_ADMIN_MARGIN_MS 5000

/* A throw-away client for one admin question. */
static ss_err_t admin_client_new(const char *bootstrap, rd_kafka_t **out, char *errstr,
                                 size_t errstr_size)
{
    ss_err_t err = SS_OK;
    char cause[512];
    rd_kafka_conf_t *conf = NULL;

    *out = NULL;
    if (bootstrap == NULL || bootstrap[0] == '\0') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka admin needs bootstrap servers");
    }
    conf = rd_kafka_conf_new();
    if (conf == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for kafka admin");
    }
    err = ss_kafka_internal_conf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_kafka_internal_conf_set(conf, "client.id", SS_KAFKA_CLIENT_ID_DEFAULT ".admin",
                                         errstr, errstr_size);
    }
    if (err == SS_OK) {
        /* Asking about a topic must never create it. */
        err = ss_kafka_internal_conf_set(conf, "allow.auto.create.topics", "false", errstr,
                                         errstr_size);
    }
    if (err != SS_OK) {
        goto cleanup;
    }
    ss_kafka_internal_conf_logging(conf);

    *out = rd_kafka_new(RD_KAFKA_PRODUCER, conf, cause, sizeof(cause));
    if (*out == NULL) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "could not create kafka admin client for %s: %s", bootstrap, cause);
        goto cleanup;
    }
    conf = NULL; /* rd_kafka_new took it */

cleanup:
    if (conf != NULL) {
        rd_kafka_conf_destroy(conf);
    }
    return err;
}

ss_err_t ss_kafka_topic_partition_count(const char *bootstrap, const char *topic,
                                        int32_t *count_out, int timeout_ms, char *errstr,
                                        size_t errstr_size)
{
    ss_err_t err = SS_OK;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_t *rkt = NULL;
    const struct rd_kafka_metadata *metadata = NULL;

    if (topic == NULL || topic[0] == '\0' || count_out == NULL || timeout_ms < 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "partition count needs a topic, an out pointer and timeout_ms >= 0");
    }
    *count_out = 0;
    err = admin_client_new(bootstrap, &rk, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rkt == NULL) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "invalid topic name %s: %s", topic,
                         rd_kafka_err2str(rd_kafka_last_error()));
        goto cleanup;
    }
    const rd_kafka_resp_err_t code = rd_kafka_metadata(rk, 0, rkt, &metadata, timeout_ms);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                         "could not read metadata of topic %s from %s: %s", topic, bootstrap,
                         rd_kafka_err2str(code));
        goto cleanup;
    }
    if (metadata->topic_cnt != 1 || strcmp(metadata->topics[0].topic, topic) != 0) {
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "metadata of topic %s from %s did not describe it", topic, bootstrap);
        goto cleanup;
    }
    if (metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = ss_err_set(ss_kafka_internal_err_kind(metadata->topics[0].err), errstr, errstr_size,
                         "topic %s at %s: %s", topic, bootstrap,
                         rd_kafka_err2str(metadata->topics[0].err));
        goto cleanup;
    }
    *count_out = metadata->topics[0].partition_cnt;

cleanup:
    if (metadata != NULL) {
        rd_kafka_metadata_destroy(metadata);
    }
    if (rkt != NULL) {
        rd_kafka_topic_destroy(rkt);
    }
    if (rk != NULL) {
        rd_kafka_destroy(rk);
    }
    return err;
}

ss_err_t ss_kafka_topic_create(const char *bootstrap, const char *topic, int32_t partitions,
                               int timeout_ms, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    char cause[512];
    rd_kafka_t *rk = NULL;
    rd_kafka_NewTopic_t *new_topic = NULL;
    rd_kafka_AdminOptions_t *options = NULL;
    rd_kafka_queue_t *queue = NULL;
    rd_kafka_event_t *event = NULL;

    if (topic == NULL || topic[0] == '\0' || partitions <= 0 || timeout_ms < 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "topic create needs a topic, partitions > 0 and timeout_ms >= 0");
    }
    err = admin_client_new(bootstrap, &rk, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    new_topic = rd_kafka_NewTopic_new(topic, partitions, -1, cause, sizeof(cause));
    if (new_topic == NULL) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "invalid new topic %s: %s", topic,
                         cause);
        goto cleanup;
    }
    options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    queue = rd_kafka_queue_new(rk);
    if (options == NULL || queue == NULL) {
        err =
            ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory creating topic %s", topic);
        goto cleanup;
    }
    if (rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, cause, sizeof(cause)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, cause, sizeof(cause)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "invalid admin timeout %d ms creating topic %s: %s", timeout_ms, topic,
                         cause);
        goto cleanup;
    }

    rd_kafka_CreateTopics(rk, &new_topic, 1, options, queue);
    event = rd_kafka_queue_poll(queue, timeout_ms + SS_KAFKA_ADMIN_MARGIN_MS);
    if (event == NULL) {
        err = ss_err_set(SS_ERR_TIMEOUT, errstr, errstr_size,
                         "creating topic %s at %s timed out after %d ms", topic, bootstrap,
                         timeout_ms);
        goto cleanup;
    }
    if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = ss_err_set(ss_kafka_internal_err_kind(rd_kafka_event_error(event)), errstr,
                         errstr_size, "could not create topic %s at %s: %s", topic, bootstrap,
                         rd_kafka_event_error_string(event));
        goto cleanup;
    }
    const rd_kafka_CreateTopics_result_t *result = rd_kafka_event_CreateTopics_result(event);
    size_t result_count = 0;
    const rd_kafka_topic_result_t **results =
        result != NULL ? rd_kafka_CreateTopics_result_topics(result, &result_count) : NULL;
    if (results == NULL || result_count != 1) {
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "creating topic %s at %s gave no result", topic, bootstrap);
        goto cleanup;
    }
    const rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[0]);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char *text = rd_kafka_topic_result_error_string(results[0]);
        err = ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                         "could not create topic %s at %s: %s", topic, bootstrap,
                         text != NULL ? text : rd_kafka_err2str(code));
        goto cleanup;
    }

cleanup:
    if (event != NULL) {
        rd_kafka_event_destroy(event);
    }
    if (queue != NULL) {
        rd_kafka_queue_destroy(queue);
    }
    if (options != NULL) {
        rd_kafka_AdminOptions_destroy(options);
    }
    if (new_topic != NULL) {
        rd_kafka_NewTopic_destroy(new_topic);
    }
    if (rk != NULL) {
        rd_kafka_destroy(rk);
    }
    return err;
}

ss_err_t ss_kafka_ping(const char *bootstrap, int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = NULL;
    if (timeout_ms < 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "kafka ping needs timeout_ms >= 0");
    }
    ss_err_t err = admin_client_new(bootstrap, &rk, errstr, errstr_size);
    if (err == SS_OK) {
        char what[512];
        snprintf(what, sizeof(what), "kafka at %s", bootstrap);
        err = ss_kafka_internal_ping(rk, what, timeout_ms, errstr, errstr_size);
        rd_kafka_destroy(rk);
    }
    return err;
}
