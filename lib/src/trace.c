/*
 * Request ids and W3C Trace Context: validation, parsing, generation, the Kafka headers and the
 * log context (see ss/trace.h).
 */
#include "ss/trace.h"

#include "ss/log.h"
#include "ss/topics.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static bool request_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

bool ss_trace_request_id_valid(const char *text, size_t length)
{
    if (text == NULL || length == 0 || length > SS_TRACE_REQUEST_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (!request_id_char(text[i])) {
            return false;
        }
    }
    return true;
}

static int hex_lower_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies digits lower-case hex digits of text into out (NUL-terminated); false if any is not. */
static bool hex_field(const char *text, size_t digits, char *out, bool *all_zero)
{
    *all_zero = true;
    for (size_t i = 0; i < digits; i++) {
        if (hex_lower_value(text[i]) < 0) {
            return false;
        }
        *all_zero &= text[i] == '0';
        out[i] = text[i];
    }
    out[digits] = '\0';
    return true;
}

ss_err_t ss_trace_parent_parse(const char *text, ss_traceparent_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t length = text != NULL ? strnlen(text, SS_TRACE_PARENT_LENGTH + 1) : 0;
    if (length < SS_TRACE_PARENT_LENGTH) {
        return SS_ERR_INVALID;
    }
    char version[3];
    bool zero = false;
    if (!hex_field(text, 2, version, &zero) || strcmp(version, "ff") == 0) {
        return SS_ERR_INVALID;
    }
    /* Version 00 is exactly 55 characters; a later one may add fields after a '-'. */
    if (zero ? length != SS_TRACE_PARENT_LENGTH
             : length > SS_TRACE_PARENT_LENGTH && text[SS_TRACE_PARENT_LENGTH] != '-') {
        return SS_ERR_INVALID;
    }
    if (text[2] != '-' || text[35] != '-' || text[52] != '-') {
        return SS_ERR_INVALID;
    }
    char flags[3];
    bool trace_zero = false, parent_zero = false, flags_zero = false;
    if (!hex_field(text + 3, SS_TRACE_ID_HEX, out->trace_id, &trace_zero) || trace_zero ||
        !hex_field(text + 36, SS_TRACE_SPAN_ID_HEX, out->parent_id, &parent_zero) || parent_zero ||
        !hex_field(text + 53, 2, flags, &flags_zero)) {
        memset(out, 0, sizeof(*out));
        return SS_ERR_INVALID;
    }
    out->flags = (uint8_t)(hex_lower_value(flags[0]) * 16 + hex_lower_value(flags[1]));
    return SS_OK;
}

void ss_trace_parent_format(const ss_traceparent_t *parent, char *out)
{
    snprintf(out, SS_TRACE_PARENT_SIZE, "00-%.32s-%.16s-%02x", parent->trace_id, parent->parent_id,
             (unsigned)parent->flags);
}

ss_err_t ss_trace_random_hex(char *out, size_t digits)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[SS_TRACE_ID_HEX];
    size_t byte_count = (digits + 1) / 2;
    if (byte_count > sizeof(bytes)) {
        return SS_ERR_INVALID;
    }
    bool zero = true;
    /* All zeros is the one invalid id; 2^-128 (or 2^-64) a draw, so retrying once is plenty. */
    for (int attempt = 0; attempt < 4 && zero; attempt++) {
        if (getrandom(bytes, byte_count, 0) != (ssize_t)byte_count) {
            return SS_ERR_FATAL;
        }
        for (size_t i = 0; i < digits; i++) {
            unsigned char byte = bytes[i / 2];
            out[i] = hex[i % 2 == 0 ? byte >> 4 : byte & 0x0f];
            zero &= out[i] == '0';
        }
    }
    out[digits] = '\0';
    return zero ? SS_ERR_FATAL : SS_OK;
}

ss_err_t ss_trace_parent_continue(const char *incoming, char *out)
{
    ss_traceparent_t parent;
    ss_err_t err = SS_OK;
    if (ss_trace_parent_parse(incoming, &parent) == SS_OK) {
        parent.flags &= 0x01; /* the sampled flag, the one version 00 defines */
    } else {
        parent.flags = 0;
        err = ss_trace_random_hex(parent.trace_id, SS_TRACE_ID_HEX);
    }
    if (err == SS_OK) {
        err = ss_trace_random_hex(parent.parent_id, SS_TRACE_SPAN_ID_HEX);
    }
    if (err != SS_OK) {
        out[0] = '\0';
        return err;
    }
    ss_trace_parent_format(&parent, out);
    return SS_OK;
}

void ss_trace_id_of(const char *traceparent, char *out)
{
    out[0] = '\0';
    if (traceparent != NULL && strlen(traceparent) == SS_TRACE_PARENT_LENGTH) {
        memcpy(out, traceparent + 3, SS_TRACE_ID_HEX);
        out[SS_TRACE_ID_HEX] = '\0';
    }
}

void ss_trace_from_text(const char *request_id, size_t request_id_length, const char *traceparent,
                        size_t traceparent_length, ss_trace_t *out)
{
    memset(out, 0, sizeof(*out));
    if (request_id != NULL && ss_trace_request_id_valid(request_id, request_id_length)) {
        memcpy(out->request_id, request_id, request_id_length);
        out->request_id[request_id_length] = '\0';
    }
    char text[SS_TRACE_PARENT_LENGTH * 4];
    ss_traceparent_t parent;
    if (traceparent != NULL && traceparent_length < sizeof(text)) {
        memcpy(text, traceparent, traceparent_length);
        text[traceparent_length] = '\0';
        if (strlen(text) == traceparent_length && ss_trace_parent_parse(text, &parent) == SS_OK) {
            ss_trace_parent_format(&parent, out->traceparent);
        }
    }
}

void ss_trace_from_kafka(const ss_kafka_message_t *message, ss_trace_t *out)
{
    const void *request_id = NULL, *traceparent = NULL;
    size_t request_id_length = 0, traceparent_length = 0;
    if (ss_kafka_message_header(message, SS_HEADER_REQUEST_ID, &request_id, &request_id_length) !=
        SS_OK) {
        request_id = NULL;
    }
    if (ss_kafka_message_header(message, SS_HEADER_TRACEPARENT, &traceparent,
                                &traceparent_length) != SS_OK) {
        traceparent = NULL;
    }
    ss_trace_from_text(request_id, request_id_length, traceparent, traceparent_length, out);
}

size_t ss_trace_kafka_headers(const ss_trace_t *trace, ss_kafka_header_t *headers)
{
    size_t count = 0;
    if (trace->request_id[0] != '\0') {
        headers[count++] =
            (ss_kafka_header_t){SS_HEADER_REQUEST_ID, trace->request_id, strlen(trace->request_id)};
    }
    if (trace->traceparent[0] != '\0') {
        headers[count++] = (ss_kafka_header_t){SS_HEADER_TRACEPARENT, trace->traceparent,
                                               strlen(trace->traceparent)};
    }
    return count;
}

void ss_trace_headers_json(const ss_trace_t *trace, char *out, size_t out_size)
{
    const char *separator =
        trace->request_id[0] != '\0' && trace->traceparent[0] != '\0' ? "," : "";
    if (trace->request_id[0] == '\0' && trace->traceparent[0] == '\0') {
        out[0] = '\0';
        return;
    }
    snprintf(out, out_size, "{%s%s%s%s%s%s%s}",
             trace->request_id[0] != '\0' ? "\"" SS_HEADER_REQUEST_ID "\":\"" : "",
             trace->request_id, trace->request_id[0] != '\0' ? "\"" : "", separator,
             trace->traceparent[0] != '\0' ? "\"" SS_HEADER_TRACEPARENT "\":\"" : "",
             trace->traceparent, trace->traceparent[0] != '\0' ? "\"" : "");
}

void ss_trace_log_enter(const ss_trace_t *trace)
{
    if (trace == NULL) {
        ss_log_context_clear();
        return;
    }
    char trace_id[SS_TRACE_ID_HEX + 1];
    ss_trace_id_of(trace->traceparent, trace_id);
    ss_log_context_set(trace->request_id, trace_id);
}

void ss_trace_log_leave(void)
{
    ss_log_context_clear();
}
