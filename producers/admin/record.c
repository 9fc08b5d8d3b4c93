/*
 * How ss-admin shows a record and what it reads from a dead letter, pure (no I/O): a record as
 * one JSON object with its Avro value decoded, a dead letter's headers and the verdict on
 * whether it can be replayed to its source.
 */
#include "admin.h"

#include "ss/clock.h"
#include "ss/topics.h"
#include "ss/topology.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

json_t *ss_admin_bytes_json(const void *data, size_t length, size_t max_bytes)
{
    if (data == NULL) {
        return json_null();
    }
    if (memchr(data, '\0', length) == NULL) {
        json_t *text = json_stringn(data, length); /* NULL when not valid UTF-8 */
        if (text != NULL) {
            return text;
        }
    }
    size_t shown = max_bytes > 0 && length > max_bytes ? max_bytes : length;
    char *hex = malloc(shown * 2 + 1);
    if (hex == NULL) {
        return NULL;
    }
    static const char digits[] = "0123456789abcdef";
    const unsigned char *bytes = data;
    for (size_t i = 0; i < shown; i++) {
        hex[2 * i] = digits[bytes[i] >> 4];
        hex[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    hex[shown * 2] = '\0';
    json_t *out = json_pack("{s:s, s:I}", "hex", hex, "bytes", (json_int_t)length);
    free(hex);
    return out;
}

static json_t *headers_json(const ss_admin_record_t *record)
{
    json_t *headers = json_object();
    for (size_t i = 0; headers != NULL && i < record->header_count; i++) {
        const ss_kafka_header_t *header = &record->headers[i];
        json_object_set_new(headers, header->name,
                            ss_admin_bytes_json(header->value, header->value_length, 0));
    }
    return headers;
}

static json_t *timestamp_json(int64_t timestamp_ms)
{
    char text[SS_CLOCK_ISO8601_MS_SIZE], errstr[128];
    if (timestamp_ms < 0 || ss_clock_format_iso8601_ms(timestamp_ms, text, sizeof(text), errstr,
                                                       sizeof(errstr)) != SS_OK) {
        return json_null();
    }
    return json_string(text);
}

/* Sets schema and value, or the reason the value does not decode and a preview of its bytes. */
static void value_set(json_t *out, const ss_avro_registry_t *registry,
                      const ss_admin_record_t *record)
{
    if (record->value == NULL) {
        json_object_set_new(out, "schema", json_null());
        json_object_set_new(out, "value", json_null());
        return;
    }
    const char *schema = NULL;
    json_t *value = NULL;
    char errstr[256];
    if (ss_avro_decode(registry, record->value, record->value_length, &schema, &value, errstr,
                       sizeof(errstr)) == SS_OK) {
        json_object_set_new(out, "schema", json_string(schema));
        json_object_set_new(out, "value", value);
        return;
    }
    json_object_set_new(out, "schema", json_null());
    json_object_set_new(out, "value", json_null());
    json_object_set_new(out, "undecodable", json_string(errstr));
    json_object_set_new(out, "value_bytes", json_integer((json_int_t)record->value_length));
    json_object_set_new(
        out, "value_hex",
        ss_admin_bytes_json(record->value, record->value_length, SS_ADMIN_HEX_PREVIEW_BYTES));
}

json_t *ss_admin_record_json(const ss_avro_registry_t *registry, const ss_admin_record_t *record)
{
    json_t *out = json_pack("{s:s, s:i, s:I}", "topic", record->topic, "partition",
                            (int)record->partition, "offset", (json_int_t)record->offset);
    if (out == NULL) {
        return NULL;
    }
    json_object_set_new(out, "timestamp", timestamp_json(record->timestamp_ms));
    json_object_set_new(out, "key", ss_admin_bytes_json(record->key, record->key_length, 0));
    json_object_set_new(out, "headers", headers_json(record));
    value_set(out, registry, record);
    return out;
}

bool ss_admin_record_header(const ss_admin_record_t *record, const char *name, char *out,
                            size_t out_size)
{
    out[0] = '\0';
    for (size_t i = record->header_count; i > 0; i--) {
        const ss_kafka_header_t *header = &record->headers[i - 1];
        if (strcmp(header->name, name) != 0) {
            continue;
        }
        size_t length = header->value_length < out_size - 1 ? header->value_length : out_size - 1;
        if (header->value != NULL) {
            memcpy(out, header->value, length);
        }
        out[header->value != NULL ? length : 0] = '\0';
        return true;
    }
    return false;
}

ss_err_t ss_admin_dlq_source_parse(const char *text, char *topic, size_t topic_size,
                                   int32_t *partition_out, int64_t *offset_out)
{
    const char *second = strrchr(text, '/');
    if (second == NULL || second == text) {
        return SS_ERR_INVALID;
    }
    const char *first = second - 1;
    while (first > text && *first != '/') {
        first--;
    }
    size_t topic_length = (size_t)(first - text);
    if (*first != '/' || topic_length == 0 || topic_length >= topic_size) {
        return SS_ERR_INVALID;
    }
    char *end = NULL;
    errno = 0;
    long partition = strtol(first + 1, &end, 10);
    if (errno != 0 || end != second || first[1] < '0' || first[1] > '9' || partition > INT32_MAX) {
        return SS_ERR_INVALID;
    }
    long long offset = strtoll(second + 1, &end, 10);
    if (errno != 0 || *end != '\0' || second[1] < '0' || second[1] > '9') {
        return SS_ERR_INVALID;
    }
    memcpy(topic, text, topic_length);
    topic[topic_length] = '\0';
    *partition_out = (int32_t)partition;
    *offset_out = (int64_t)offset;
    return SS_OK;
}

/* Decodes the value: schema, request id, and whether its key fits its command topic. */
static void dead_letter_decode(const ss_avro_registry_t *registry, const ss_admin_record_t *record,
                               ss_admin_dead_letter_t *out)
{
    json_t *value = NULL;
    if (ss_avro_decode(registry, record->value, record->value_length, &out->schema, &value,
                       out->decode_error, sizeof(out->decode_error)) != SS_OK) {
        out->schema = NULL;
        if (out->verdict[0] != '\0') {
            return;
        }
        snprintf(out->verdict, sizeof(out->verdict),
                 "its value does not decode (%s): the worker would set it aside again",
                 out->decode_error);
        return;
    }
    const char *request_id = json_string_value(json_object_get(value, "request_id"));
    if (request_id != NULL) {
        snprintf(out->request_id, sizeof(out->request_id), "%s", request_id);
    }
    const char *field = ss_topology_key_field(out->source_topic);
    char key[64] = "", reason[256] = "";
    size_t key_length = record->key_length < sizeof(key) - 1 ? record->key_length : sizeof(key) - 1;
    if (record->key != NULL) {
        memcpy(key, record->key, key_length);
    }
    if (field != NULL && out->verdict[0] == '\0' &&
        !ss_topology_key_matches(value, field, key, reason, sizeof(reason))) {
        snprintf(out->verdict, sizeof(out->verdict),
                 "%s; replayed with that key it would be set aside again", reason);
    }
    json_decref(value);
}

void ss_admin_dead_letter_read(const ss_avro_registry_t *registry, const ss_admin_record_t *record,
                               ss_admin_dead_letter_t *out)
{
    memset(out, 0, sizeof(*out));
    out->source_partition = -1;
    ss_admin_record_header(record, SS_HEADER_DLQ_REASON, out->reason, sizeof(out->reason));
    ss_admin_record_header(record, SS_HEADER_DLQ_SOURCE, out->source, sizeof(out->source));
    ss_admin_record_header(record, SS_HEADER_DLQ_DESTINATION, out->destination,
                           sizeof(out->destination));
    out->parked = ss_admin_record_header(record, SS_HEADER_DLQ_PARKED_BYTES, out->parked_bytes,
                                         sizeof(out->parked_bytes));
    bool source_ok =
        ss_admin_dlq_source_parse(out->source, out->source_topic, sizeof(out->source_topic),
                                  &out->source_partition, &out->source_offset) == SS_OK;
    if (out->parked) {
        snprintf(out->verdict, sizeof(out->verdict),
                 "it is a reference: the record (%s bytes) was too large to copy and is not in"
                 " the dead letter; find it at its source %s",
                 out->parked_bytes, out->source[0] != '\0' ? out->source : out->destination);
    } else if (!source_ok) {
        out->source_partition = -1;
        snprintf(out->verdict, sizeof(out->verdict),
                 "its " SS_HEADER_DLQ_SOURCE " header \"%s\" is not <topic>/<partition>/<offset>",
                 out->source);
    } else if (strcmp(out->source_topic, SS_TOPIC_DLQ) == 0) {
        snprintf(out->verdict, sizeof(out->verdict), "its source is the dead-letter topic itself");
    } else if (record->value == NULL || record->value_length == 0) {
        snprintf(out->verdict, sizeof(out->verdict), "it has no value");
    }
    if (!out->parked && record->value != NULL && record->value_length > 0) {
        dead_letter_decode(registry, record, out);
    }
    out->replayable = out->verdict[0] == '\0';
}

bool ss_admin_is_dead_letter_answer(int http_status, const char *body)
{
    return http_status == SS_DLQ_ANSWER_STATUS && body != NULL &&
           strcmp(body, SS_DLQ_ANSWER_BODY) == 0;
}
