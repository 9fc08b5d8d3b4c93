/*
 * ss-mock-platform: a test double of the external data platform the sink delivers paid orders
 * to (docs/data-platform.md). It keeps what it receives in memory, by Idempotency-Key, and can
 * be told to fail or to answer slowly, so tests can watch the sink retry, park and dedupe.
 *
 *   POST   /orders    Idempotency-Key required (400 without). The first body for a key is
 *                     stored (201 {"duplicate":false}); a repeat answers 200 {"duplicate":true}.
 *                     Beyond orders_max keys: 507. A body that is not a JSON object: 400.
 *   POST   /orders/batch  {"orders":[{"idempotencyKey","order":{...},"requestId","traceparent"}]}
 *                     (1..SS_MOCK_PLATFORM_BATCH_MAX items; requestId and traceparent may be
 *                     null or absent): each item is accepted as a POST /orders with that key
 *                     would be, and the answer is 200 {"results":[{"idempotencyKey","status",
 *                     "error"?}]} in the items' order (201 stored, 200 duplicate, 422 refused,
 *                     507 full). A malformed batch: 400 and nothing stored. Modes fail and stall
 *                     apply to the whole batch.
 *   POST   /control   {"mode":"ok"|"fail"|"stall","status":503,"stallMs":5000,
 *                     "refuse":["order-7"],"batch":true}: fail answers every /orders and
 *                     /orders/batch with status (400..599) without storing; stall answers each
 *                     as ok would, but stallMs later (without holding an HTTP thread); refuse
 *                     lists keys answered 422 (in a batch, that item) until the next control;
 *                     batch false makes /orders/batch answer 404 (a platform without it).
 *   GET    /received  {"orders":[{"key","deliveries","attempts","body","requestId",
 *                     "traceparent"}],"unique","total","attempts","batches"}: per key in
 *                     first-seen order, deliveries = sends answered 2xx (alone or as a batch
 *                     item), attempts = every send (also those failed on purpose); body is null
 *                     until one was accepted, and requestId and traceparent are what came with
 *                     the stored body (X-Request-Id and traceparent headers, or the batch
 *                     item's fields; null when none). unique counts keys with a body, total the
 *                     deliveries, batches the POST /orders/batch received.
 *   GET    /received/{key}  that key's entry as in the list, or 404.
 *   DELETE /received  forgets everything received.
 *   GET    /health    200.
 *   GET    /ready     200 (it depends on nothing).
 *   GET    /metrics   the process's metrics in Prometheus's text format (ss/ops_http.h).
 *
 * Thread safety: handlers run on any HTTP thread; one mutex guards the store and the mode. A
 * stalled request is suspended and completed by the mock's own timer thread.
 */
#ifndef SS_MOCK_PLATFORM_H
#define SS_MOCK_PLATFORM_H

#include "ss/config.h"
#include "ss/error.h"
#include "ss/http.h"

#include <stddef.h>

#define SS_MOCK_PLATFORM_COMPONENT "mock-platform"
/* Keys stored at most (each one seen, accepted or not). */
#define SS_MOCK_PLATFORM_ORDERS_MAX 1000000
/* Requests waiting out a stall at once; more are answered 503 at once. */
#define SS_MOCK_PLATFORM_STALLED_MAX 1024
#define SS_MOCK_PLATFORM_STALL_MS_MAX 60000
#define SS_MOCK_PLATFORM_KEY_BYTES_MAX 256
/* Items of one POST /orders/batch at most, and keys control's "refuse" lists at most. */
#define SS_MOCK_PLATFORM_BATCH_MAX 1000
#define SS_MOCK_PLATFORM_REFUSE_MAX 1000

typedef struct ss_mock_platform_config {
    char *host;
    long long port;
    long long threads;
    long long orders_max;
    char *log_level;
} ss_mock_platform_config_t;

enum { SS_MOCK_PLATFORM_CONFIG_OPTION_COUNT = 5 };

/* Fills options[0..SS_MOCK_PLATFORM_CONFIG_OPTION_COUNT) targeting config (see ss/config.h). */
void ss_mock_platform_config_options(ss_config_option_t *options,
                                     ss_mock_platform_config_t *config);

typedef struct ss_mock_platform ss_mock_platform_t;

/*
 * Creates an empty store in mode ok and starts the stall timer thread. orders_max is
 * 1..SS_MOCK_PLATFORM_ORDERS_MAX. Caller frees with ss_mock_platform_destroy().
 */
ss_err_t ss_mock_platform_new(size_t orders_max, ss_mock_platform_t **out, char *errstr,
                              size_t errstr_size);

/*
 * Stops the timer thread, answers every request still stalled with 503 (a stopped server has
 * answered them already; then nothing more happens) and gives back their references, then
 * frees. With a server, call it after ss_http_server_stop() and before
 * ss_http_server_destroy(). NULL is a no-op.
 */
void ss_mock_platform_destroy(ss_mock_platform_t *mock);

/* The route table; the context handed to the router or server is the ss_mock_platform_t. */
extern const ss_http_route_t ss_mock_platform_routes[];
extern const size_t ss_mock_platform_routes_count;

#endif
