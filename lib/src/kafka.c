/*
 * The parts of lib/kafka that every handle shares: Kafka's murmur2 partitioner in plain C (so
 * the ingress and tests can tell where a key lands without a broker), the mapping of
 * librdkafka's error codes onto ss_err_t, property setting with clear messages, and forwarding
 * of librdkafka's own log lines to ss/log.h. The producer, consumer and admin helpers live in
 * kafka_producer.c, kafka_consumer.c and kafka_admin.c.
 */
#include "kafka_internal.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "ss/log.h"

/* Constants of Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2). */
#define SS_KAFKA_MURMUR2_SEED 0x9747b28cU
#define SS_KAFKA_MURMUR2_M 0x5bd1e995U
#define SS_KAFKA_MURMUR2_R 24

int32_t ss_kafka_murmur2(const void *key, size_t key_length)
{
    const uint8_t *data = key;
    const uint32_t m = SS_KAFKA_MURMUR2_M;
    /* Java hashes an int length; keys are far below 2 GiB, so the truncation never bites. */
    uint32_t h = SS_KAFKA_MURMUR2_SEED ^ (uint32_t)key_length;
    const size_t block_count = key_length / 4;

    for (size_t i = 0; i < block_count; i++) {
        const uint8_t *block = data + i * 4;
        uint32_t k = (uint32_t)block[0] | ((uint32_t)block[1] << 8) | ((uint32_t)block[2] << 16) |
                     ((uint32_t)block[3] << 24);
        k *= m;
        k ^= k >> SS_KAFKA_MURMUR2_R;
        k *= m;
        h *= m;
        h ^= k;
    }

    const uint8_t *tail = data + block_count * 4;
    const size_t tail_length = key_length % 4;
    if (tail_length >= 3) {
        h ^= (uint32_t)tail[2] << 16;
    }
    if (tail_length >= 2) {
        h ^= (uint32_t)tail[1] << 8;
    }
    if (tail_length >= 1) {
        h ^= (uint32_t)tail[0];
        h *= m;
    }

    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;

    /* Reinterpret as Java's signed int without relying on implementation-defined conversion. */
    if (h <= (uint32_t)INT32_MAX) {
        return (int32_t)h;
    }
    return -(int32_t)(~h) - 1;
}

int32_t ss_kafka_partition_for_key(const void *key, size_t key_length, int32_t partition_count)
{
    if (partition_count <= 0) {
        return -1;
    }
    /* Java's Utils.toPositive: clear the sign bit (not abs, which differs for MIN_VALUE). */
    const uint32_t positive = (uint32_t)ss_kafka_murmur2(key, key_length) & 0x7fffffffU;
    return (int32_t)(positive % (uint32_t)partition_count);
}

ss_err_t ss_kafka_internal_ping(rd_kafka_t *rk, const char *what, int timeout_ms, char *errstr,
                                size_t errstr_size)
{
    const struct rd_kafka_metadata *metadata = NULL;
    const rd_kafka_resp_err_t code = rd_kafka_metadata(rk, 0, NULL, &metadata, timeout_ms);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return ss_err_set(ss_kafka_internal_err_kind(code), errstr, errstr_size,
                          "%s is not reachable: %s", what, rd_kafka_err2str(code));
    }
    rd_kafka_metadata_destroy(metadata);
    return SS_OK;
}

ss_err_t ss_kafka_internal_err_kind(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return SS_OK;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return SS_ERR_TIMEOUT;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__NOENT:
        return SS_ERR_NOT_FOUND;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
        return SS_ERR_INVALID;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
    case RD_KAFKA_RESP_ERR__CONFLICT:
        return SS_ERR_CONFLICT;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__RETRY:
    case RD_KAFKA_RESP_ERR__OUTDATED:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REASSIGNMENT_IN_PROGRESS:
        return SS_ERR_RETRIABLE;
    default:
        /* Authorization, fatal idempotence errors, unsupported features: not transient. */
        return SS_ERR_FATAL;
    }
}

ss_err_t ss_kafka_internal_error_kind(const rd_kafka_error_t *error)
{
    if (error == NULL) {
        return SS_OK;
    }
    if (rd_kafka_error_is_fatal(error)) {
        return SS_ERR_FATAL;
    }
    const ss_err_t kind = ss_kafka_internal_err_kind(rd_kafka_error_code(error));
    if (rd_kafka_error_is_retriable(error) && kind != SS_ERR_TIMEOUT) {
        return SS_ERR_RETRIABLE;
    }
    return kind;
}

ss_err_t ss_kafka_internal_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                                    char *errstr, size_t errstr_size)
{
    char cause[256];
    if (rd_kafka_conf_set(conf, name, value, cause, sizeof(cause)) != RD_KAFKA_CONF_OK) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "invalid kafka property %s=%s: %s",
                          name, value, cause);
    }
    return SS_OK;
}

ss_err_t ss_kafka_internal_conf_set_all(rd_kafka_conf_t *conf,
                                        const ss_kafka_property_t *properties, size_t count,
                                        char *errstr, size_t errstr_size)
{
    if (count > SS_KAFKA_PROPERTIES_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "too many kafka properties: %zu (at most %d)", count,
                          SS_KAFKA_PROPERTIES_MAX);
    }
    if (count > 0 && properties == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "kafka properties missing: property_count is %zu", count);
    }
    for (size_t i = 0; i < count; i++) {
        if (properties[i].name == NULL || properties[i].value == NULL) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "kafka property %zu has no name or no value", i);
        }
        const ss_err_t err = ss_kafka_internal_conf_set(conf, properties[i].name,
                                                        properties[i].value, errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    return SS_OK;
}

/* librdkafka's syslog levels onto ours; its debug output only appears when `debug` is set. */
static ss_log_level_t kafka_log_level(int syslog_level)
{
    if (syslog_level <= 3) {
        return SS_LOG_LEVEL_ERROR;
    }
    if (syslog_level == 4) {
        return SS_LOG_LEVEL_WARN;
    }
    if (syslog_level <= 6) {
        return SS_LOG_LEVEL_INFO;
    }
    return SS_LOG_LEVEL_DEBUG;
}

/* Runs on librdkafka's threads: only formats and writes, as the log_cb contract demands. */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *facility, const char *text)
{
    SS_LOG_AT(kafka_log_level(level), "rdkafka", "client=%s facility=%s %s", rd_kafka_name(rk),
              facility, text);
}

/*
 * Errors librdkafka raises outside any request (brokers down, a fatal idempotence error).
 * It retries transient ones itself; they are logged here so an operator sees them, and the
 * calls that care check rd_kafka_fatal_error() themselves.
 */
static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    const rd_kafka_resp_err_t code = (rd_kafka_resp_err_t)err;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        SS_LOG_ERROR("kafka", "client=%s fatal error: %s", rd_kafka_name(rk), reason);
    } else {
        SS_LOG_WARN("kafka", "client=%s error=%s %s", rd_kafka_name(rk), rd_kafka_err2name(code),
                    reason);
    }
}

void ss_kafka_internal_conf_logging(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
}

int64_t ss_kafka_internal_now_ms(void)
{
    struct timespec now;
    /* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer. */
    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
