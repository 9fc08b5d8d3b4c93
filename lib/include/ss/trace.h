/*
 * Request correlation across processes (docs/architecture.md, "Request ids and trace context"):
 * the request id a client sees in X-Request-Id and the W3C Trace Context `traceparent`
 * (https://www.w3.org/TR/trace-context/), validated, generated, carried as Kafka headers
 * (SS_HEADER_REQUEST_ID, SS_HEADER_TRACEPARENT in ss/topics.h) and named in every log line of a
 * thread that works on the request (ss_trace_log_enter()).
 *
 * A request id is 1..SS_TRACE_REQUEST_ID_MAX characters of [A-Za-z0-9._:-]: safe in a header,
 * a log line's key=value and a JSON string without escaping. A traceparent is kept only in its
 * version-00 form, "00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>", lower case.
 *
 * Pure functions, no allocation; the random ids come from getrandom(2). Thread-safe.
 */
#ifndef SS_TRACE_H
#define SS_TRACE_H

#include "ss/error.h"
#include "ss/kafka.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_TRACE_REQUEST_ID_MAX 128
#define SS_TRACE_REQUEST_ID_SIZE (SS_TRACE_REQUEST_ID_MAX + 1)
/* "00-" 32 "-" 16 "-" 2 */
#define SS_TRACE_PARENT_LENGTH 55
#define SS_TRACE_PARENT_SIZE (SS_TRACE_PARENT_LENGTH + 1)
#define SS_TRACE_ID_HEX 32
#define SS_TRACE_SPAN_ID_HEX 16
/* The X-Request-Id a generated id has: 32 lower-case hex digits. */
#define SS_TRACE_GENERATED_ID_HEX 32
/* Longest headers JSON object ss_trace_headers_json() writes, with its NUL. */
#define SS_TRACE_HEADERS_JSON_SIZE 256
/* Headers ss_trace_kafka_headers() fills at most. */
#define SS_TRACE_KAFKA_HEADERS_MAX 2

/* What travels with a request; "" means none. */
typedef struct ss_trace {
    char request_id[SS_TRACE_REQUEST_ID_SIZE];
    char traceparent[SS_TRACE_PARENT_SIZE];
} ss_trace_t;

/* The parts of a traceparent, each NUL-terminated lower-case hex. */
typedef struct ss_traceparent {
    char trace_id[SS_TRACE_ID_HEX + 1];
    char parent_id[SS_TRACE_SPAN_ID_HEX + 1];
    uint8_t flags;
} ss_traceparent_t;

/* Whether text[0..length) is a request id as defined above. */
bool ss_trace_request_id_valid(const char *text, size_t length);

/*
 * Parses a traceparent header value as W3C Trace Context says a receiver must: version 2
 * lower-case hex digits other than "ff"; version 00 is exactly 55 characters; a later version
 * is at least 55, and after the flags comes "-" or the end. trace-id and parent-id lower-case
 * hex, not all zeros; flags 2 hex digits. SS_ERR_INVALID otherwise (the caller starts a new
 * trace, as the specification asks). text may be NULL (SS_ERR_INVALID).
 */
ss_err_t ss_trace_parent_parse(const char *text, ss_traceparent_t *out);

/* The version-00 header value of parent into out (SS_TRACE_PARENT_SIZE bytes). */
void ss_trace_parent_format(const ss_traceparent_t *parent, char *out);

/*
 * Fills out with digits random lower-case hex digits that are not all zeros, and a NUL
 * (out holds digits + 1). SS_ERR_FATAL when the system has no randomness to give.
 */
ss_err_t ss_trace_random_hex(char *out, size_t digits);

/*
 * Our hop of a trace: when incoming (may be NULL) is a valid traceparent, its trace-id and
 * sampled flag with a new parent-id (the span of this hop); otherwise a new trace (random
 * trace-id and parent-id, flags 00). Writes the version-00 value into out.
 */
ss_err_t ss_trace_parent_continue(const char *incoming, char *out);

/* The trace-id of a version-00 traceparent (its characters 3..35) into out (33 bytes); "" if none.
 */
void ss_trace_id_of(const char *traceparent, char *out);

/*
 * A trace from a request id and a traceparent (either may be NULL; neither needs a NUL), each
 * checked as ss_trace_from_kafka() checks its header: what is absent or not valid is left "".
 */
void ss_trace_from_text(const char *request_id, size_t request_id_length, const char *traceparent,
                        size_t traceparent_length, ss_trace_t *out);

/*
 * Reads SS_HEADER_REQUEST_ID and SS_HEADER_TRACEPARENT of a consumed record into out; a header
 * that is absent or not valid (a request id as above, a traceparent that parses) is left "".
 * A later-version traceparent is kept in its version-00 form.
 */
void ss_trace_from_kafka(const ss_kafka_message_t *message, ss_trace_t *out);

/*
 * The Kafka headers of trace (at most SS_TRACE_KAFKA_HEADERS_MAX, borrowing trace's strings):
 * how many were filled; none for "" fields.
 */
size_t ss_trace_kafka_headers(const ss_trace_t *trace, ss_kafka_header_t *headers);

/*
 * trace as a JSON object of string headers (the outbox's headers column) into out; "" when the
 * trace carries nothing. Needs no escaping: both values are of restricted characters.
 */
void ss_trace_headers_json(const ss_trace_t *trace, char *out, size_t out_size);

/*
 * Names trace's request id and trace-id in every log line of the calling thread until
 * ss_trace_log_leave() (ss_log_context_set()). NULL or an empty trace clears.
 */
void ss_trace_log_enter(const ss_trace_t *trace);
void ss_trace_log_leave(void);

#endif
