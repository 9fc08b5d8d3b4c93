/*
 * An HTTP client for the integration tests that talk to a running ss-ingress (libcurl).
 *
 * One request at a time over a kept-alive connection (ss_test_http_send and its shorthands),
 * or many at once over the curl multi interface (ss_test_http_send_many: hundreds of
 * connections in flight, the replies kept in request order). Replies keep the status, the
 * body, the body parsed as JSON and the headers the API defines (Location, Allow,
 * Retry-After, X-Request-Id). ss_test_http_expect() checks the API envelope (code equals the HTTP
 * status, a non-empty message, the stable error code) and ss_test_http_settle() turns a 202 into
 * the final outcome by following its Location to GET /api/v1/requests/{id} until DONE.
 *
 * Every helper fails the running cmocka test on a transport error or a malformed answer, except
 * ss_test_http_try(), which reports a refused connection so a caller can wait for a listener.
 *
 * Ownership: ss_test_http_new() returns a client the caller frees with ss_test_http_destroy();
 * a reply's body and JSON belong to the reply and go with ss_test_http_reply_free(), which also
 * accepts a zeroed reply. Request strings (method, body, headers) are borrowed for the call.
 */
#ifndef SS_TEST_HTTP_H
#define SS_TEST_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_TEST_HTTP_PATH_MAX 512
#define SS_TEST_HTTP_BODY_TEXT_MAX 512
#define SS_TEST_HTTP_HEADERS_MAX 8
#define SS_TEST_HTTP_HEADER_VALUE_MAX 256

typedef struct ss_test_http ss_test_http_t;

typedef struct ss_test_http_request {
    const char *method;               /* "GET", "POST", "PATCH", "DELETE", "HEAD" */
    char path[SS_TEST_HTTP_PATH_MAX]; /* "/api/v1/users/7/balance", after the base URL */
    const char *body;                 /* borrowed; NULL: body_text, or no body when empty */
    size_t body_length;               /* with body: 0 means strlen(body) */
    char body_text[SS_TEST_HTTP_BODY_TEXT_MAX];        /* an inline body, for arrays of requests */
    const char *headers[SS_TEST_HTTP_HEADERS_MAX + 1]; /* "Name: value", NULL-terminated */
} ss_test_http_request_t;

typedef struct ss_test_http_reply {
    long status; /* HTTP status; 0 when no answer came */
    char *body;  /* NUL-terminated, or NULL when empty */
    size_t body_length;
    json_t *json; /* the body parsed, NULL when it is not JSON */
    char location[SS_TEST_HTTP_HEADER_VALUE_MAX];
    char allow[SS_TEST_HTTP_HEADER_VALUE_MAX];
    char retry_after[SS_TEST_HTTP_HEADER_VALUE_MAX];
    char content_type[SS_TEST_HTTP_HEADER_VALUE_MAX];
    char x_request_id[SS_TEST_HTTP_HEADER_VALUE_MAX]; /* the answer's X-Request-Id */
    int transport_error; /* the CURLcode; 0 when the exchange completed */
    bool settled;        /* a 202 replaced by its final result (ss_test_http_settle) */
    char request_id[SS_TEST_HTTP_HEADER_VALUE_MAX]; /* of a settled 202 */
} ss_test_http_reply_t;

/*
 * A client of base_url ("http://127.0.0.1:18181"); admin_token is what ss_test_http_admin()
 * sends as the bearer token (copied; may be NULL). Free with ss_test_http_destroy().
 */
ss_test_http_t *ss_test_http_new(const char *base_url, const char *admin_token);
void ss_test_http_destroy(ss_test_http_t *http);
const char *ss_test_http_base_url(const ss_test_http_t *http);
/* "Authorization: Bearer <admin token>", for request headers. */
const char *ss_test_http_admin_header(const ss_test_http_t *http);

/* Fills request: method, the path from a printf format, body (copied into body_text, or
 * borrowed when longer), no headers. */
void ss_test_http_request_init(ss_test_http_request_t *request, const char *method,
                               const char *body, const char *path_format, ...)
    __attribute__((format(printf, 4, 5)));

/* Sends one request. False (reply status 0) when the connection was refused; fails the test
 * on any other transport error. */
bool ss_test_http_try(ss_test_http_t *http, const ss_test_http_request_t *request,
                      ss_test_http_reply_t *reply);
/* Sends one request; fails the test when no answer comes. */
void ss_test_http_send(ss_test_http_t *http, const ss_test_http_request_t *request,
                       ss_test_http_reply_t *reply);

/* Drops the kept-alive connection; the next request opens a new one. */
void ss_test_http_reset_connection(ss_test_http_t *http);

/* Shorthands: GET; POST with a JSON body (no extra header); an admin call (bearer token). */
void ss_test_http_get(ss_test_http_t *http, ss_test_http_reply_t *reply, const char *path_format,
                      ...) __attribute__((format(printf, 3, 4)));
void ss_test_http_post(ss_test_http_t *http, ss_test_http_reply_t *reply, const char *body,
                       const char *path_format, ...) __attribute__((format(printf, 4, 5)));
void ss_test_http_admin(ss_test_http_t *http, ss_test_http_reply_t *reply, const char *method,
                        const char *body, const char *path_format, ...)
    __attribute__((format(printf, 5, 6)));

void ss_test_http_reply_free(ss_test_http_reply_t *reply);

/*
 * Checks the envelope: HTTP status, "code" equal to it, a non-empty "message", and "error"
 * equal to error_code (NULL: a success, which must carry no "error"). Returns "data"
 * (borrowed from the reply, NULL when absent). Fails the test, showing the body, otherwise.
 */
json_t *ss_test_http_expect(const ss_test_http_reply_t *reply, long status, const char *error_code);

/*
 * When reply is a 202: checks it (data.requestId, Location to /api/v1/requests/{requestId}),
 * polls that location until it says DONE (bounded; fails the test after timeout_ms), and
 * replaces the reply's status and JSON with the final envelope, setting settled. Any other
 * reply is left as it is.
 */
void ss_test_http_settle(ss_test_http_t *http, ss_test_http_reply_t *reply, int timeout_ms);

/* ---- fixtures through the admin API (each fails the test unless answered 200) ---------- */

/* POST /api/v1/admin/users; returns the new id. */
int64_t ss_test_http_user_create(ss_test_http_t *http, const char *nickname);
/* POST /api/v1/admin/products; sell_status NULL leaves the default (SELLING). */
int64_t ss_test_http_product_create(ss_test_http_t *http, const char *name, int64_t price,
                                    int64_t stock, const char *sell_status);
/* POST /api/v1/admin/coupons; discount_rate is JSON number text ("0.1"), expired_at ISO 8601,
 * status NULL leaves the default (PUBLISHABLE). */
int64_t ss_test_http_coupon_create(ss_test_http_t *http, const char *name,
                                   const char *discount_rate, int64_t quantity,
                                   const char *expired_at, const char *status);

/* Convenience for tests: reads an integer member of a JSON object, failing when absent. */
int64_t ss_test_json_int(const json_t *object, const char *name);
/* A string member, failing when absent. Borrowed from object. */
const char *ss_test_json_string(const json_t *object, const char *name);

/* ---- many requests at once ---------------------------------------------------------------- */

/* Called after each completion with how many are complete; may kill or start processes. */
typedef void (*ss_test_http_progress_fn)(void *opaque, size_t completed);

typedef struct ss_test_http_many_config {
    size_t in_flight_max;                 /* connections at once; 0: 256 */
    ss_test_http_progress_fn on_progress; /* NULL: none */
    void *opaque;
} ss_test_http_many_config_t;

typedef struct ss_test_http_many_stats {
    int64_t elapsed_ms;    /* from the first request out to the last reply in */
    size_t in_flight_peak; /* the most requests that were outstanding together */
} ss_test_http_many_stats_t;

/*
 * Sends requests[0..count) with up to in_flight_max outstanding at once; replies[i] gets the
 * answer to requests[i] (the caller frees each). Fails the test when one gets no answer.
 * stats may be NULL.
 */
void ss_test_http_send_many(ss_test_http_t *http, const ss_test_http_request_t *requests,
                            size_t count, const ss_test_http_many_config_t *config,
                            ss_test_http_reply_t *replies, ss_test_http_many_stats_t *stats);

#endif
