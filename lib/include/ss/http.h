/*
 * An HTTP server over libmicrohttpd (0.9.75) for the ingress: a route table with `{name}` path
 * parameters, a request object that carries everything a handler needs (method, path
 * parameters, query parameters, headers, the whole body, a per-request arena), JSON responses,
 * and asynchronous responses that hold no thread: a handler suspends its request, another
 * thread completes it later.
 *
 * The wrapper answers by itself, with the API envelope:
 *   404 NOT_FOUND          no route has this path
 *   405 METHOD_NOT_ALLOWED a route has this path but not this method (with an Allow header)
 *   413 PAYLOAD_TOO_LARGE  the body is over the limit (64 KiB), seen from Content-Length before
 *                          any of it is read, or while it streams in (chunked)
 *   400 INVALID_REQUEST    a malformed path or query string (bad %-escape, too many parameters)
 *   500 INTERNAL           a handler returned without responding or suspending, or a response
 *                          could not be built
 *   503 UNAVAILABLE        the server is stopping (suspended requests; Retry-After: 1)
 * libmicrohttpd itself answers 431 (plain text) when the request line and headers together do
 * not fit in a connection's 16 KiB memory pool.
 * and closes, without an answer, a connection over connections_per_address_max (at accept) or
 * one whose request is not received whole within request_read_timeout_ms (see the config).
 *
 * Routing: a pattern is "/" or "/seg/seg/..." where a segment is a literal or `{name}`
 * (a non-empty path segment, captured percent-decoded; validating it, e.g. as a numeric id,
 * is the handler's job, see ss_http_request_param_id()). One trailing slash in the request is
 * ignored ("/products/" is "/products"). When several patterns match, the one whose first
 * literal-versus-parameter difference is a literal wins ("/products/popular" beats
 * "/products/{id}"). HEAD is served by the GET route when there is no HEAD route.
 *
 * Threads and ownership. Handlers run on the server's threads, one request at a time per
 * request. A request is reference-counted: the transport (the connection) holds one reference
 * until the client is answered or gone; ss_http_request_suspend() gives the handler one more,
 * which its holder must give back with ss_http_request_release(); ss_http_request_ref() adds one
 * for every further holder (e.g. a results map AND a deadline timer). The memory is freed when
 * the last reference goes, on whichever thread that is.
 *
 * The suspended-request state machine (guarded by a per-request mutex):
 *
 *   RECEIVING --dispatch--> HANDLING --respond--> READY --queued to MHD--> SENT
 *                              |                    ^
 *                              '--suspend--> SUSPENDED --complete (first caller wins)
 *
 *   and from any state, when the connection ends (MHD_OPTION_NOTIFY_COMPLETED: answered,
 *   client gone, daemon stopped): FINISHED, which drops the transport's reference.
 *
 * Only the first ss_http_request_complete() on a SUSPENDED request stores a response and
 * resumes the connection; every later call, and every call after the connection finished,
 * returns false and does nothing else, so a results thread and a deadline timer may race
 * freely. The libmicrohttpd suspension itself happens after the handler returns, under the
 * same mutex, so a completion that arrives before the handler returned is simply queued.
 * While suspended, libmicrohttpd does not notice a client that disconnects; it notices once the
 * connection is resumed and the response fails to go out, and the request is then FINISHED
 * like any other: the memory still goes exactly once, with the last reference.
 *
 * Request data (method, path, parameters, headers, body) is immutable once the handler runs
 * and copied out of libmicrohttpd, so any holder of a reference may read it from any thread,
 * also after the connection is gone.
 */
#ifndef SS_HTTP_H
#define SS_HTTP_H

#include "ss/error.h"
#include "ss/metrics.h"
#include "ss/trace.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest request body (API.md); a server may be configured lower, never higher. */
#define SS_HTTP_BODY_BYTES_MAX 65536
/* Bounds on what a request or route may carry. */
#define SS_HTTP_PATH_SEGMENTS_MAX 16
#define SS_HTTP_PATH_PARAMS_MAX 8
#define SS_HTTP_QUERY_PARAMS_MAX 32
#define SS_HTTP_REQUEST_HEADERS_MAX 64
#define SS_HTTP_RESPONSE_HEADERS_MAX 8
#define SS_HTTP_ROUTES_MAX 256
#define SS_HTTP_THREADS_MAX 64
/* What one request's arena may hand out in total (ss_http_request_alloc). */
#define SS_HTTP_ARENA_BYTES_MAX (1024 * 1024)

typedef enum ss_http_method {
    SS_HTTP_METHOD_OTHER = 0, /* anything else; never matches a route */
    SS_HTTP_METHOD_GET,
    SS_HTTP_METHOD_HEAD,
    SS_HTTP_METHOD_POST,
    SS_HTTP_METHOD_PUT,
    SS_HTTP_METHOD_PATCH,
    SS_HTTP_METHOD_DELETE,
    SS_HTTP_METHOD_OPTIONS,
} ss_http_method_t;

typedef struct ss_http_request ss_http_request_t;
typedef struct ss_http_router ss_http_router_t;
typedef struct ss_http_server ss_http_server_t;

/*
 * A handler answers with ss_http_respond_json*() or suspends with ss_http_request_suspend()
 * before it returns; returning with neither is a bug, answered 500. context is the pointer given
 * to the router or server (the ingress passes its ss_ingress_t).
 */
typedef void (*ss_http_handler_fn)(ss_http_request_t *req, void *context);

typedef struct ss_http_route {
    ss_http_method_t method;
    const char *pattern; /* "/api/v1/users/{id}/balance"; copied by the router */
    ss_http_handler_fn handler;
} ss_http_route_t;

/* A header name and value, both borrowed for the duration of the call that takes them. */
typedef struct ss_http_header {
    const char *name;
    const char *value;
} ss_http_header_t;

/* "GET", "POST", ...; "OTHER" for SS_HTTP_METHOD_OTHER. Never NULL. */
const char *ss_http_method_name(ss_http_method_t method);

/* The method for an exact, upper-case name; SS_HTTP_METHOD_OTHER for anything else. */
ss_http_method_t ss_http_method_parse(const char *name);

/* ---- router (pure: usable without a socket) ------------------------------------------------ */

/*
 * Compiles routes[0..routes_count) (1..SS_HTTP_ROUTES_MAX). Patterns are copied; context is
 * borrowed and handed to every handler. SS_ERR_INVALID names the first bad route: a malformed
 * pattern (no leading '/', an empty segment, a `{` that is not a whole `{name}` segment, too
 * many segments or parameters), a method of SS_HTTP_METHOD_OTHER, a NULL handler, or the same
 * method and pattern twice. On SS_OK the caller frees *out with ss_http_router_destroy().
 */
ss_err_t ss_http_router_create(const ss_http_route_t *routes, size_t routes_count, void *context,
                               ss_http_router_t **out, char *errstr, size_t errstr_size);

/* NULL is a no-op. */
void ss_http_router_destroy(ss_http_router_t *router);

/*
 * Routes a received request: answers 413, 400, 404 or 405 itself, else runs the matching
 * handler on the calling thread. Afterwards the request is answered (see
 * ss_http_request_response_status()) or suspended. Called by the server for every request,
 * and by tests on requests from ss_http_request_create(). Each request is dispatched once.
 */
void ss_http_router_dispatch(const ss_http_router_t *router, ss_http_request_t *req);

/* ---- server -------------------------------------------------------------------------------- */

typedef struct ss_http_server_config {
    const char *bind_address; /* numeric IPv4 or IPv6 address; NULL means "127.0.0.1" */
    uint16_t port;            /* 0 picks a free port: see ss_http_server_port() */
    unsigned threads;         /* polling threads, 1..SS_HTTP_THREADS_MAX */
    unsigned connections_max; /* open connections (suspended ones count); 0 means 1024 */
    unsigned connections_per_address_max; /* open connections per client address; 0: no cap */
    unsigned idle_timeout_s;              /* a connection idle this long is closed; 0 means 30 */
    /*
     * A request must be received whole (headers and body) within this time of its connection
     * being accepted, or, on a kept-alive connection, of the previous answer going out; else
     * the connection is closed without an answer (every byte restarts the idle timer, not this
     * one, so a client trickling bytes cannot hold a connection). 0 means 10000.
     */
    unsigned request_read_timeout_ms;
    size_t body_bytes_max;         /* 0 means SS_HTTP_BODY_BYTES_MAX, which is also the most */
    unsigned stop_grace_ms;        /* how long stop waits for answers in flight; 0 means 2000 */
    const ss_http_route_t *routes; /* copied, see ss_http_router_create() */
    size_t routes_count;
    void *context; /* borrowed, handed to every handler; must outlive the server */
    /*
     * Where the server counts its requests (ss_http_requests_total{route,method,status},
     * ss_http_request_duration_seconds{route}, ss_http_requests_in_flight,
     * ss_http_requests_suspended; route is the matched pattern or "other", method the known
     * name or "OTHER"); NULL counts nothing. Borrowed; must outlive the server.
     */
    ss_metrics_t *metrics;
    /*
     * Of every 1000 requests, how many get an access-log line when they end (0: none, 1000:
     * all): `component=access method=GET route=/api/v1/users/{id}/balance status=200
     * duration_ms=1.234 request_id=<X-Request-Id of the answer, else of the request, else ->`.
     */
    unsigned access_log_permille;
} ss_http_server_config_t;

/*
 * Binds and starts serving on config->threads threads (epoll when libmicrohttpd has it, keep-
 * alive, suspend/resume enabled), plus one watchdog thread that enforces the read deadline. The
 * config is copied. SS_ERR_INVALID for a bad config or route table, SS_ERR_RETRIABLE when the
 * address cannot be bound (in use), SS_ERR_NOMEM. On SS_OK the caller ends it with
 * ss_http_server_stop() (optional) and ss_http_server_destroy(). libmicrohttpd's own error messages
 * go to ss/log.h (component "http").
 */
ss_err_t ss_http_server_start(const ss_http_server_config_t *config, ss_http_server_t **out,
                              char *errstr, size_t errstr_size);

/* The port actually bound (the chosen one when config->port was 0). */
uint16_t ss_http_server_port(const ss_http_server_t *server);

/*
 * Graceful stop: stops accepting connections; from now on a request that suspends is answered
 * 503 at once; completes every suspended request with 503 UNAVAILABLE and Retry-After: 1 (their
 * holders' later ss_http_request_complete() calls return false); waits up to stop_grace_ms for
 * answers in flight to go out (responses sent meanwhile carry Connection: close); then stops
 * libmicrohttpd, which ends every connection. Holders may keep their references and release
 * them later. Call from one thread, not from a handler. A second call is a no-op.
 */
void ss_http_server_stop(ss_http_server_t *server);

/* Stops (see above) if not stopped, then frees. NULL is a no-op. */
void ss_http_server_destroy(ss_http_server_t *server);

/* ---- the request, for handlers -------------------------------------------------------------- */

ss_http_method_t ss_http_request_method(const ss_http_request_t *req);

/* The method as the client sent it ("GET", "BREW"). */
const char *ss_http_request_method_name(const ss_http_request_t *req);

/* The path as sent, without the query string and still percent-encoded: "/api/v1/orders/7". */
const char *ss_http_request_path(const ss_http_request_t *req);

/* A `{name}` segment of the matched route, percent-decoded; NULL when the route has none. */
const char *ss_http_request_param(const ss_http_request_t *req, const char *name);

/*
 * The `{name}` parameter as an entity id: decimal digits only, 1..INT64_MAX. SS_ERR_NOT_FOUND
 * when the route has no such parameter, SS_ERR_INVALID for anything else than such an id.
 */
ss_err_t ss_http_request_param_id(const ss_http_request_t *req, const char *name, int64_t *id_out);

/*
 * A query parameter, percent-decoded ('+' is a space); "" for `?flag` or `?flag=`. The first
 * occurrence wins. NULL when absent.
 */
const char *ss_http_request_query(const ss_http_request_t *req, const char *name);

/*
 * A query parameter as an integer in [min, max]: absent gives fallback; present, it must be
 * an optional '-' and decimal digits in range, else SS_ERR_INVALID with the reason in errstr
 * (`query parameter limit must be an integer in 1..100`).
 */
ss_err_t ss_http_request_query_int64(const ss_http_request_t *req, const char *name,
                                     int64_t fallback, int64_t min, int64_t max, int64_t *value_out,
                                     char *errstr, size_t errstr_size);

/* The most digits ss_http_request_query_digits() takes: every such number fits an int64_t. */
#define SS_HTTP_QUERY_DIGITS_MAX 18

/*
 * A query parameter that is a string of 1..digits_max decimal digits (leading zeros allowed,
 * nothing else: no sign, no space), as its value; digits_max is at most
 * SS_HTTP_QUERY_DIGITS_MAX. Absent gives fallback. Unlike ss_http_request_query_int64(), the
 * accepted set is exactly what the OpenAPI pattern ^[0-9]{1,18}$ says, with no range check
 * that a pattern cannot state. Else SS_ERR_INVALID with the reason in errstr
 * (`query parameter cursor must be 1 to 18 decimal digits`).
 */
ss_err_t ss_http_request_query_digits(const ss_http_request_t *req, const char *name,
                                      int64_t fallback, size_t digits_max, int64_t *value_out,
                                      char *errstr, size_t errstr_size);

/* A request header by case-insensitive name; the first one when repeated. NULL when absent. */
const char *ss_http_request_header(const ss_http_request_t *req, const char *name);

/*
 * The complete body and its length (0 and "" when none). The bytes are followed by a NUL that
 * is not counted, so text bodies can be used as strings, but a body may contain NULs itself.
 */
const char *ss_http_request_body(const ss_http_request_t *req, size_t *length_out);

/* The context pointer handed to handlers. */
void *ss_http_request_context(const ss_http_request_t *req);

/*
 * Memory that lives as long as the request, aligned for any type; NULL when out of memory or
 * over SS_HTTP_ARENA_BYTES_MAX. Not thread-safe: one thread at a time (the handler, then the
 * holder that completes it).
 */
void *ss_http_request_alloc(ss_http_request_t *req, size_t size);

/* printf into the arena; NULL when out of memory or on a formatting error. */
char *ss_http_request_sprintf(ss_http_request_t *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * One application pointer per request. user_free (may be NULL) is called with it exactly once,
 * when the last reference goes. Setting it again replaces it without freeing the old one.
 */
void ss_http_request_user_set(ss_http_request_t *req, void *user, void (*user_free)(void *user));
void *ss_http_request_user(const ss_http_request_t *req);

/* ---- request id and trace context (ss/trace.h) ---------------------------------------------- */

/*
 * Every answer carries X-Request-Id: the request's id, fixed once during dispatch. It is the
 * client's X-Request-Id when that is well-formed (ss_trace_request_id_valid()); otherwise a
 * read (any method but POST, PATCH, PUT, DELETE) gets a generated one (32 hex digits) as
 * dispatch begins, and a mutation the id its handler offers (the ingress lends its command's
 * request id, so GET /requests/{id} finds it) or, if it offers none, a generated one when the
 * handler returns. A malformed client id is replaced, never refused. A valid `traceparent` is
 * continued with a new parent-id for this hop; an absent or invalid one starts a new trace.
 * While dispatch runs the handler, the thread's log lines name both (ss/log.h context).
 * Thread-safe; once fixed the id never changes, so the returned pointers live as long as req.
 */
const char *ss_http_request_id(ss_http_request_t *req);

/*
 * Offers request_id (valid per ss_trace_request_id_valid(), else a generated one is used) as
 * the request's id unless one is fixed already; returns the request's id either way.
 */
const char *ss_http_request_id_offer(ss_http_request_t *req, const char *request_id);

/* Copies the request id (fixing it, as ss_http_request_id()) and our hop's traceparent. */
void ss_http_request_trace(ss_http_request_t *req, ss_trace_t *out);

/* ---- answering ------------------------------------------------------------------------------ */

/*
 * Answers from inside the handler with status (100..599) and a JSON body (copied; NULL means
 * empty), Content-Type: application/json; charset=utf-8, plus headers[0..headers_count)
 * (at most SS_HTTP_RESPONSE_HEADERS_MAX; copied; names and values must not contain CR or LF).
 * A Content-Type among the headers replaces the JSON one, for the few text answers that are not
 * JSON (the ingress's /docs page); the body is then still a NUL-terminated text.
 * Only the first answer counts: SS_ERR_INVALID when the request is already answered or
 * suspended, or for a bad status or header (the request is then answered 500); SS_ERR_NOMEM
 * when the copy failed (answered 500). Handlers need not act on a failure: the client always
 * gets an answer.
 */
ss_err_t ss_http_respond_json(ss_http_request_t *req, int status, const char *body);
ss_err_t ss_http_respond_json_headers(ss_http_request_t *req, int status, const char *body,
                                      const ss_http_header_t *headers, size_t headers_count);

/*
 * From inside the handler: the answer will come later from ss_http_request_complete(). Gives
 * the caller one reference (see the top of this file): keep req, and release it when done. No
 * thread is held meanwhile. If the server is stopping, the request is answered 503 at once and
 * a later complete returns false; the reference is given all the same.
 */
void ss_http_request_suspend(ss_http_request_t *req);

/*
 * Answers a suspended request from any thread (arguments as ss_http_respond_json_headers()).
 * Returns true when this call delivered the answer, false when someone else already did, the
 * server stopped, or the connection is gone. Never blocks on the network. Does not release the
 * caller's reference. When the copy fails the client gets 500 instead (still true).
 */
bool ss_http_request_complete(ss_http_request_t *req, int status, const char *body,
                              const ss_http_header_t *headers, size_t headers_count);

/* One more reference for another holder. */
void ss_http_request_ref(ss_http_request_t *req);

/* Gives a reference back; the last one frees the request. NULL is a no-op. */
void ss_http_request_release(ss_http_request_t *req);

/* ---- requests without a socket (tests, tools) ------------------------------------------------ */

/*
 * Builds a request as if it had arrived: method as sent ("POST"), target "/path?query",
 * headers and body copied (a body over SS_HTTP_BODY_BYTES_MAX is kept as "too large" and
 * answered 413 by dispatch). The caller holds the transport's reference and ends it with
 * ss_http_request_finish(), which plays the connection going away.
 */
ss_err_t ss_http_request_create(const char *method, const char *target,
                                const ss_http_header_t *headers, size_t headers_count,
                                const void *body, size_t body_length, ss_http_request_t **out,
                                char *errstr, size_t errstr_size);

/*
 * The transport is done with a request from ss_http_request_create() (answered or the client
 * went away): later completions return false; drops the transport's reference. Must not be
 * used on requests of a server. NULL is a no-op.
 */
void ss_http_request_finish(ss_http_request_t *req);

/*
 * The stored answer: its status (0 while there is none), body ("" while none) and headers (and
 * X-Request-Id, which every answer carries).
 */
int ss_http_request_response_status(ss_http_request_t *req);
const char *ss_http_request_response_body(ss_http_request_t *req);
const char *ss_http_request_response_header(ss_http_request_t *req, const char *name);

/* True while the request is suspended and not yet completed. */
bool ss_http_request_is_suspended(ss_http_request_t *req);

#endif
