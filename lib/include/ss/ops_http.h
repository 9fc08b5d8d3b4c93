/*
 * The operator's endpoints of a process without an API port of its own (the workers, the sink,
 * the rank worker): a small ss/http.h server on --metrics-port serving
 *   GET /health   200 {"code":200,"message":"OK","data":{"status":"UP"}} while the process runs
 *   GET /ready    200 when every readiness check passes, else 503 UNAVAILABLE naming the failed
 *                 checks, data {"<check>":"UP"|"DOWN",...} either way
 *   GET /metrics  the process registry (ss/metrics.h) in the text format
 * and the pieces the ingress and the mock platform put into their own route tables.
 *
 * Readiness is the binary's: a callback that fills checks (a name, passed or not, and why not).
 * It runs on the server's thread, concurrently with the binary's loop, so it may only read what
 * the loop publishes thread-safely (atomics) and use thread-safe handles (a librdkafka client)
 * or connections of its own.
 */
#ifndef SS_OPS_HTTP_H
#define SS_OPS_HTTP_H

#include "ss/config.h"
#include "ss/error.h"
#include "ss/http.h"
#include "ss/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_OPS_CHECKS_MAX 8
#define SS_OPS_DETAIL_BYTES_MAX 256
/* How long one readiness probe of a dependency may take (a connect, a ping). */
#define SS_OPS_PROBE_TIMEOUT_MS 1000
/* The two options every binary with an ops server takes (ss_ops_http_options). */
#define SS_OPS_HTTP_OPTION_COUNT 2

typedef struct ss_ops_check {
    const char *name;                     /* "postgres", "kafka", "partitions"; static text */
    bool ok;                              /* passed */
    char detail[SS_OPS_DETAIL_BYTES_MAX]; /* why not, one line; "" when ok */
} ss_ops_check_t;

/* Fills checks[0..checks_max) and returns how many it filled. */
typedef size_t (*ss_ops_ready_fn)(void *opaque, ss_ops_check_t *checks, size_t checks_max);

typedef struct ss_ops_http ss_ops_http_t;

typedef struct ss_ops_http_config {
    const char *bind_address; /* numeric; NULL means "127.0.0.1" */
    uint16_t port;            /* 1..65535 (0 picks a free one: tests) */
    ss_ops_ready_fn ready;    /* NULL: always ready */
    void *opaque;             /* handed to ready; must outlive the server */
} ss_ops_http_config_t;

/*
 * --metrics-host / SS_METRICS_HOST and --metrics-port / SS_METRICS_PORT (0, the default: no
 * ops server) into options[0..SS_OPS_HTTP_OPTION_COUNT), targeting *host and *port.
 */
void ss_ops_http_options(ss_config_option_t *options, char **host, long long *port);

/*
 * Starts the server (one thread; it counts its own requests in ss_http_requests_total too).
 * The config is copied. Errors as ss_http_server_start(). The caller ends it with
 * ss_ops_http_destroy(), before whatever the ready callback reads goes away.
 */
ss_err_t ss_ops_http_start(const ss_ops_http_config_t *config, ss_ops_http_t **out, char *errstr,
                           size_t errstr_size);

uint16_t ss_ops_http_port(const ss_ops_http_t *ops);

/* Stops and frees. NULL is a no-op. */
void ss_ops_http_destroy(ss_ops_http_t *ops);

/*
 * The /ready answer for checks[0..count) (pure): 200 OK with data {"name":"UP",...}, or 503
 * UNAVAILABLE with message "not ready: <name>: <detail>; <name>: <detail>" and the same data.
 * Returns a malloc'd body the caller frees; NULL when out of memory.
 */
char *ss_ops_http_ready_body(const ss_ops_check_t *checks, size_t count, int *status_out);

/* Answers req with the process registry's rendering (500 when it cannot be made). */
void ss_ops_http_respond_metrics(ss_http_request_t *req);

/* Answers req with the /ready body of the callback's checks (Retry-After: 5 on 503). */
void ss_ops_http_respond_ready(ss_http_request_t *req, ss_ops_ready_fn ready, void *opaque);

/* Writes "<what> could not be reached: <why>" style details: printf into check->detail. */
void ss_ops_check_fail(ss_ops_check_t *check, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
