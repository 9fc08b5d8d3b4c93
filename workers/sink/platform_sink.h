/*
 * The data-platform sink (ss-platform-sink): consumes OrderPaid events from ss.events.order and
 * POSTs the orders as JSON to the external data platform, in batches to its batch endpoint or
 * one by one, each with its own idempotency key `order-<id>`.
 * Offsets live in Kafka (group ss-platform-sink) and are committed only after a record was
 * delivered, skipped (OrderFailed) or parked in ss.dlq, so the wire sees every order at least
 * once and the platform, deduplicating by the key, exactly once. docs/data-platform.md is the
 * contract.
 *
 * Pure parts (config table, order body, outcome of an answer, backoff, URL) are separate from
 * the parts that talk to Kafka (sink.c) and HTTP (client.c), so unit tests reach them without a
 * socket. Thread safety: none needed; one sink runs on one thread.
 */
#ifndef SS_PLATFORM_SINK_H
#define SS_PLATFORM_SINK_H

#include "ss/config.h"
#include "ss/error.h"
#include "ss/ops_http.h"
#include "ss/topics.h"
#include "ss/trace.h"

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_SINK_COMPONENT "platform-sink"
/* Where the platform's orders endpoint is when PLATFORM_URL names no path (see url_resolve). */
#define SS_SINK_ORDERS_PATH "/orders"
/* The batch endpoint: the orders endpoint's path with this appended (/orders/batch). */
#define SS_SINK_BATCH_SUFFIX "/batch"
/* Orders one batch POST carries at most (SS_PLATFORM_BATCH_MAX's range is 1..this). */
#define SS_SINK_BATCH_MAX 500
/* The part of a batch answer the client keeps (the results of SS_SINK_BATCH_MAX orders fit). */
#define SS_SINK_ANSWER_BYTES_MAX (1024 * 1024)

/* Buffer sizes, NUL included. */
#define SS_SINK_URL_SIZE 2048
#define SS_SINK_IDEMPOTENCY_KEY_SIZE 32 /* "order-" and up to 20 digits */
#define SS_SINK_EXCERPT_SIZE 256        /* the start of a platform answer, for logs and the DLQ */
#define SS_SINK_REASON_SIZE 512         /* the ss-dlq-reason header */

/* ---- configuration (config.c) ---------------------------------------------------------------- */

typedef struct ss_sink_config {
    char *kafka_bootstrap;
    char *group_id;
    char *client_id;
    char *platform_url;
    char *platform_token;         /* "" for none, else sent as Authorization: Bearer <token> */
    long long timeout_ms;         /* one POST, connection included */
    long long connect_timeout_ms; /* the TCP (and TLS) connect of a POST; at most timeout_ms */
    long long attempts_max;       /* failed POSTs of one order before it is parked */
    long long backoff_base_ms;    /* the first retry waits up to this long */
    long long backoff_max_ms;     /* the doubling stops here; at least backoff_base_ms */
    long long batch_max;          /* orders per POST /orders/batch; 1: one POST /orders each */
    long long fetch_min_bytes;    /* SS_FETCH_MIN_BYTES */
    long long fetch_wait_max_ms;  /* SS_FETCH_WAIT_MAX_MS */
    char *schema_dir;
    char *log_level;
    char *metrics_host;     /* SS_METRICS_HOST */
    long long metrics_port; /* SS_METRICS_PORT: /health, /ready, /metrics (ss/ops_http.h); 0 off */
} ss_sink_config_t;

enum { SS_SINK_CONFIG_OPTION_COUNT = 17 };

/*
 * Fills options[0..SS_SINK_CONFIG_OPTION_COUNT) with the sink's table, targeting config. The
 * caller loads it with ss_config_load() and frees the strings with ss_config_free().
 */
void ss_sink_config_options(ss_config_option_t *options, ss_sink_config_t *config);

/*
 * Checks what one option's range cannot: connect_timeout_ms <= timeout_ms, backoff_base_ms <=
 * backoff_max_ms, a known log level, and a usable PLATFORM_URL. SS_ERR_INVALID says which.
 */
ss_err_t ss_sink_config_validate(const ss_sink_config_t *config, char *errstr, size_t errstr_size);

/*
 * The URL the sink POSTs to: PLATFORM_URL as given when it has a path, else with "/orders"
 * appended (so both the base URL `scripts/stack.sh env` prints and the full endpoint work).
 * Only http and https with a host are accepted; SS_ERR_INVALID otherwise, or when the result
 * does not fit out_size.
 */
ss_err_t ss_sink_url_resolve(const char *url, char *out, size_t out_size, char *errstr,
                             size_t errstr_size);

/*
 * The batch endpoint of the orders URL url (as ss_sink_url_resolve gives it): its path with
 * SS_SINK_BATCH_SUFFIX appended, query kept. SS_ERR_INVALID when it does not fit out_size.
 */
ss_err_t ss_sink_batch_url(const char *url, char *out, size_t out_size, char *errstr,
                           size_t errstr_size);

/* ---- the order body (order.c) --------------------------------------------------------------- */

/*
 * Builds the platform's JSON body from a decoded OrderPaid record (ss/avro.h's JSON mapping):
 * {"orderId","userId","couponId"(null when none),"totalPrice","discountPrice","paidAmount",
 * "paidAt"(ISO 8601 UTC with milliseconds),"lines":[{"productId","quantity","unitPrice"}]}.
 * The record comes from Kafka, so it is checked, not trusted: SS_ERR_INVALID names a missing or
 * ill-typed field, a non-positive id, or a paid_at outside ss/clock.h's range. On SS_OK
 * *order_id_out is the order id and *body_out a compact NUL-terminated text the caller frees
 * with free(); SS_ERR_NOMEM when out of memory.
 */
ss_err_t ss_sink_order_body(const json_t *order_paid, int64_t *order_id_out, char **body_out,
                            char *errstr, size_t errstr_size);

/* Writes "order-<order_id>" into out (at least SS_SINK_IDEMPOTENCY_KEY_SIZE bytes). */
void ss_sink_idempotency_key(int64_t order_id, char *out, size_t out_size);

/* ---- what an answer means, and when to try again (delivery.c) ------------------------------- */

typedef enum ss_sink_outcome {
    SS_SINK_DELIVERED = 0, /* 2xx, or 409: the platform already has the order */
    SS_SINK_RETRY,         /* no answer (refused, timeout, reset), 408, 429, 5xx, 1xx, 3xx */
    SS_SINK_PERMANENT,     /* any other 4xx: sending it again cannot help; park it */
} ss_sink_outcome_t;

/* What an attempt came to: answered false means no HTTP status arrived (status is ignored). */
ss_sink_outcome_t ss_sink_classify(bool answered, long status);

/* "delivered", "retry", "permanent". Never NULL. */
const char *ss_sink_outcome_name(ss_sink_outcome_t outcome);

/*
 * How long to wait after failed attempt number attempt (1, 2, ...): "full jitter" over an
 * exponential ceiling, i.e. random % (ceiling + 1) with ceiling = min(max_ms, base_ms *
 * 2^(attempt-1)). Waits of several partitions' sinks spread out instead of retrying in step.
 * base_ms and max_ms must be positive with base_ms <= max_ms.
 */
int64_t ss_sink_backoff_ms(unsigned attempt, int64_t base_ms, int64_t max_ms, uint64_t random);

/* xorshift64* step: the next pseudo-random number from *state (which must not be 0). */
uint64_t ss_sink_random_next(uint64_t *state);

/*
 * Copies at most out_size - 1 bytes of text[0..length) into out, made safe for a key="value"
 * log line and a header: '"' becomes '\'', '\\' becomes '/', control characters a space, and
 * bytes outside ASCII '?'. out is always NUL-terminated when out_size > 0.
 */
void ss_sink_excerpt(const char *text, size_t length, char *out, size_t out_size);

/* ---- batches (batch.c) ---------------------------------------------------------------------- */

/* One OrderPaid of a round on its way to the platform (sink.c fills it, batch.c reads it). */
typedef struct ss_sink_item {
    int64_t order_id;
    char key[SS_SINK_IDEMPOTENCY_KEY_SIZE]; /* its Idempotency-Key, order-<id> */
    ss_trace_t trace;                       /* the record's request id and traceparent */
    char *order;                            /* its body's text (ss_sink_order_body), owned */
    size_t record;                          /* its record's index among the round's */
    bool done;                              /* delivered or parked */
    /* What the last attempt said for it. */
    ss_sink_outcome_t outcome;
    long status; /* the item's status, 0 when the batch got no per-item answer */
    char detail[SS_SINK_EXCERPT_SIZE];
} ss_sink_item_t;

/*
 * The POST /orders/batch body of the items not done yet, in their order:
 * {"orders":[{"idempotencyKey","requestId"(null when none),"traceparent"(likewise),"order"}]}.
 * *body_out is a NUL-terminated text the caller frees with free(); SS_ERR_NOMEM otherwise.
 */
ss_err_t ss_sink_batch_body(const ss_sink_item_t *items, size_t count, char **body_out,
                            char *errstr, size_t errstr_size);

/*
 * Reads a 2xx answer of the batch endpoint, {"results":[{"idempotencyKey","status","error"?}]},
 * into the outcome, status and detail of each item not done yet: one result per such item, in
 * the same order with the same key (a platform answering otherwise is not trusted with any of
 * them). SS_ERR_INVALID names what is wrong; the items are then left as they were.
 */
ss_err_t ss_sink_batch_results(const char *answer, size_t length, ss_sink_item_t *items,
                               size_t count, char *errstr, size_t errstr_size);

/* ---- the HTTP client (client.c) ------------------------------------------------------------- */

typedef struct ss_sink_client ss_sink_client_t;

/* What one POST came to. */
typedef struct ss_sink_response {
    bool answered;                      /* an HTTP status arrived */
    long status;                        /* when answered */
    char excerpt[SS_SINK_EXCERPT_SIZE]; /* the start of the answer's body, made printable */
    const char *body;                   /* the answer's first SS_SINK_ANSWER_BYTES_MAX bytes, */
    size_t body_length;                 /* as sent; the client's, until its next POST */
    char error[SS_SINK_EXCERPT_SIZE];   /* when not answered: why (libcurl's words) */
} ss_sink_response_t;

/*
 * A libcurl client for one URL (already resolved; borrowed, it must outlive the client), reused
 * across POSTs so the connection is kept alive. token (borrowed; NULL or "" for none) is sent as
 * `Authorization: Bearer <token>`. stop (may be NULL) is looked at during a transfer: once set, the
 * transfer is abandoned (answered false). The caller has called curl_global_init(). Caller frees
 * with ss_sink_client_destroy(). SS_ERR_NOMEM, or SS_ERR_INVALID when libcurl refuses an option.
 */
ss_err_t ss_sink_client_new(const char *url, const char *token, long connect_timeout_ms,
                            long timeout_ms, volatile sig_atomic_t *stop, ss_sink_client_t **out,
                            char *errstr, size_t errstr_size);

/*
 * POSTs body[0..body_length) with Content-Type: application/json and the Idempotency-Key
 * header (and X-Request-Id and traceparent from trace, when it has them; trace may be NULL),
 * and fills *response. Any HTTP answer, and any failure to get one (refused, timeout,
 * reset), is SS_OK: *response says which. Only a local failure (out of memory) is an error.
 */
ss_err_t ss_sink_client_post(ss_sink_client_t *client, const char *idempotency_key,
                             const ss_trace_t *trace, const char *body, size_t body_length,
                             ss_sink_response_t *response, char *errstr, size_t errstr_size);

/*
 * POSTs a batch body (ss_sink_batch_body) to url, the batch endpoint, with neither
 * Idempotency-Key nor trace headers (each item carries its own); otherwise as
 * ss_sink_client_post, on the same connection.
 */
ss_err_t ss_sink_client_post_batch(ss_sink_client_t *client, const char *url, const char *body,
                                   size_t body_length, ss_sink_response_t *response, char *errstr,
                                   size_t errstr_size);

/* NULL is a no-op. */
void ss_sink_client_destroy(ss_sink_client_t *client);

/* ---- the sink (sink.c) ---------------------------------------------------------------------- */

typedef struct ss_sink ss_sink_t;

/*
 * Loads the schemas, creates the consumer (group config->group_id, topic ss.events.order),
 * the dead-letter producer and the HTTP client. config is borrowed and must outlive the sink;
 * so must stop, the flag a signal handler sets to end ss_sink_run() (it also abandons a POST in
 * flight and a wait between attempts). Caller frees with ss_sink_destroy().
 */
ss_err_t ss_sink_new(const ss_sink_config_t *config, volatile sig_atomic_t *stop, ss_sink_t **out,
                     char *errstr, size_t errstr_size);

/*
 * Consumes and delivers until *stop is set (then commits what was delivered and leaves the
 * group) or a fatal error (a failed consumer, a dead-letter topic that stays unreachable).
 * Records of one partition are handled in order, their OrderPaid ones sent in batches of
 * config->batch_max (docs/data-platform.md, "Batches"): a retried batch or order holds its
 * partition back. SS_OK after a requested stop.
 */
ss_err_t ss_sink_run(ss_sink_t *sink, char *errstr, size_t errstr_size);

/* NULL is a no-op. */
void ss_sink_destroy(ss_sink_t *sink);

/*
 * The ops server's readiness callback (ss_ops_ready_fn; opaque is the sink): Kafka answers and
 * the group gave this member an assignment. The platform is not a condition: while it is down
 * the sink keeps retrying, which ss_sink_retries_total shows.
 */
size_t ss_sink_ready(void *opaque, ss_ops_check_t *checks, size_t checks_max);

#endif
