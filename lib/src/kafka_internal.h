/*
 * Private helpers shared by kafka_producer.c, kafka_consumer.c and kafka_admin.c: mapping
 * librdkafka error codes onto ss_err_t, setting configuration properties with a clear error,
 * forwarding librdkafka's log lines to ss/log.h, and a monotonic clock for deadlines.
 * Not part of the public API (lib/include/ss/kafka.h is).
 */
#ifndef SS_KAFKA_INTERNAL_H
#define SS_KAFKA_INTERNAL_H

#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "ss/error.h"
#include "ss/kafka.h"

/* The client.id used when the config leaves it out. */
#define SS_KAFKA_CLIENT_ID_DEFAULT "shopstream"

/* The ss_err_t kind for a librdkafka error code (transient codes are SS_ERR_RETRIABLE). */
ss_err_t ss_kafka_internal_err_kind(rd_kafka_resp_err_t err);

/*
 * Asks for broker metadata on rk's own connections (all_topics=0, no topic: the cheapest
 * request that needs a live broker). what names the cluster in the error ("kafka", or "kafka at
 * <bootstrap>"). Every ping of ss/kafka.h is this one.
 */
ss_err_t ss_kafka_internal_ping(rd_kafka_t *rk, const char *what, int timeout_ms, char *errstr,
                                size_t errstr_size);

/* The kind for an rd_kafka_error_t, using its fatal and retriable flags first. */
ss_err_t ss_kafka_internal_error_kind(const rd_kafka_error_t *error);

/*
 * Sets name=value on conf. SS_ERR_INVALID with "invalid kafka property name=value: <cause>"
 * when librdkafka refuses it.
 */
ss_err_t ss_kafka_internal_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                                    char *errstr, size_t errstr_size);

/* Applies properties[0..count) in order; SS_ERR_INVALID for a NULL name or value. */
ss_err_t ss_kafka_internal_conf_set_all(rd_kafka_conf_t *conf,
                                        const ss_kafka_property_t *properties, size_t count,
                                        char *errstr, size_t errstr_size);

/* Installs the log and error callbacks that forward to ss/log.h. */
void ss_kafka_internal_conf_logging(rd_kafka_conf_t *conf);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t ss_kafka_internal_now_ms(void);

/* kafka_metrics.c: one record of topic acknowledged; messages[0..count) handed out by a poll. */
void ss_kafka_internal_count_produced(const char *topic);
void ss_kafka_internal_count_consumed(ss_kafka_message_t *const *messages, size_t count);

#endif
