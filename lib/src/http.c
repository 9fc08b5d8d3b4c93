/*
 * The HTTP server wrapper over libmicrohttpd: routing, the request object, JSON responses and
 * the suspend/complete state machine described in ss/http.h.
 *
 * How a request flows through libmicrohttpd (MHD):
 *  1. The URI log callback sees the raw request target first and creates our request object
 *     (refcount 1: the transport's reference); MHD keeps it as the connection's con_cls.
 *  2. The access handler's first call (headers received) copies the method and headers and
 *     answers 413 at once when Content-Length is over the limit.
 *  3. Further calls deliver the body, which is accumulated (or, once over the limit, counted
 *     and dropped, since MHD cannot take an answer in the middle of an upload).
 *  4. The last call dispatches: the router answers or runs the handler. A suspended request
 *     has its MHD connection suspended here, after the handler returned, under the request's
 *     mutex, so a completion racing with the handler is never lost.
 *  5. ss_http_request_complete() stores the answer and resumes the connection; MHD calls the
 *     access handler again and the stored answer is queued.
 *  6. The completion callback (answered, client gone, daemon stopped) drops the transport's
 *     reference.
 *
 * The read deadline (ss_http_server_config_t.request_read_timeout_ms) is not built into MHD,
 * whose connection timeout restarts with every byte. MHD_OPTION_NOTIFY_CONNECTION gives each
 * connection an entry in a watch table (its socket and the deadline of the request it is
 * reading); the access handler clears the deadline once the request is read whole, the
 * completion callback arms it again for the next request of a kept-alive connection, and a
 * watchdog thread shutdown()s the socket of an entry past its deadline. shutdown, not close:
 * the socket stays MHD's, its thread sees end-of-stream and closes the connection the usual way
 * (so every callback still runs once). The entry is removed by the CLOSED notification, which
 * MHD sends before it closes the socket, under the table's mutex, so the watchdog never touches
 * a socket number that could already belong to another connection.
 *
 * Locks: each request has a mutex guarding its state, answer and suspension flags; the server
 * has a mutex guarding the list of suspended requests and the stopping flag. The order is
 * request, then server. MHD_suspend_connection and MHD_resume_connection are called with these
 * held: they take only MHD's internal cleanup mutex and call none of our callbacks, and MHD
 * never calls our callbacks with that mutex held, so no cycle can form. Resuming under the
 * server mutex is what lets ss_http_server_stop() know that, once the list is empty, every
 * resume has happened (MHD_stop_daemon must never see a suspended connection).
 */
#include "ss/http.h"

#include "http_internal.h"

#include "ss/assert.h"
#include "ss/log.h"
#include "ss/trace.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Arena chunks; bigger allocations get a chunk of their own. */
#define HTTP_ARENA_CHUNK_BYTES 4096
/* After a body went over the limit, how much more we read and drop before closing. */
#define HTTP_DISCARD_BYTES_MAX (1024 * 1024)
/* Longest method name we keep ("OPTIONS" is 7). */
#define HTTP_METHOD_NAME_MAX 16
/* One poll of the stop drain. */
#define HTTP_STOP_POLL_MS 10
#define HTTP_LOG_LINE_MAX 512

#define HTTP_CONTENT_TYPE_JSON "application/json; charset=utf-8"
#define HTTP_HEADER_REQUEST_ID "X-Request-Id"
#define HTTP_HEADER_TRACEPARENT "traceparent"
#define HTTP_DEFAULT_BIND_ADDRESS "127.0.0.1"
#define HTTP_DEFAULT_CONNECTIONS_MAX 1024u
#define HTTP_DEFAULT_IDLE_TIMEOUT_S 30u
#define HTTP_DEFAULT_STOP_GRACE_MS 2000u
#define HTTP_DEFAULT_REQUEST_READ_TIMEOUT_MS 10000u
/*
 * Each connection's memory pool in libmicrohttpd: the request line and headers must fit in it
 * (over it MHD answers 431 itself), bodies do not (they are copied out as they arrive). MHD
 * clears the whole pool after every request of a kept-alive connection; at its default of
 * 32 KiB that memset was 7.8% of the ingress's CPU (docs/performance.md, "The ingress's
 * connection pool"). 16 KiB of headers is what Node.js allows by default.
 */
#define HTTP_CONNECTION_MEMORY_BYTES ((size_t)16 * 1024)
/* The watchdog looks this often at most (and a quarter of the deadline when that is shorter). */
#define HTTP_WATCHDOG_TICK_MS_MAX 100u

static const char http_body_not_found[] =
    "{\"code\":404,\"message\":\"no such endpoint\",\"error\":\"NOT_FOUND\"}";
static const char http_body_method_not_allowed[] =
    "{\"code\":405,\"message\":\"method not allowed\",\"error\":\"METHOD_NOT_ALLOWED\"}";
static const char http_body_internal[] =
    "{\"code\":500,\"message\":\"internal error\",\"error\":\"INTERNAL\"}";
static const char http_body_stopping[] =
    "{\"code\":503,\"message\":\"server is shutting down\",\"error\":\"UNAVAILABLE\"}";

typedef struct http_pair {
    const char *name;
    const char *value;
} http_pair_t;

typedef struct http_arena_chunk {
    struct http_arena_chunk *next;
    size_t used;
    size_t capacity;
    max_align_t data[];
} http_arena_chunk_t;

typedef struct http_arena {
    http_arena_chunk_t *head; /* the chunk being filled; older ones follow */
    size_t total_bytes;
} http_arena_t;

/* A stored answer. block owns the body and the header strings; NULL when they are static. */
typedef struct http_response {
    int status;
    char *block;
    const char *body;
    size_t body_length;
    ss_http_header_t headers[SS_HTTP_RESPONSE_HEADERS_MAX];
    size_t headers_count;
} http_response_t;

typedef enum http_state {
    HTTP_STATE_RECEIVING = 0,
    HTTP_STATE_HANDLING,
    HTTP_STATE_SUSPENDED,
    HTTP_STATE_READY,
    HTTP_STATE_SENT,
} http_state_t;

struct ss_http_request {
    atomic_int refs;
    pthread_mutex_t mutex;
    /* Guarded by mutex. */
    http_state_t state;
    bool finished;            /* the transport is done: never touch connection again */
    bool mhd_suspended;       /* MHD_suspend_connection was called and not yet resumed */
    http_response_t response; /* written once, on entering READY; immutable afterwards */
    /*
     * The request id and our hop's traceparent (ss_http_request_id()). The traceparent is set
     * at dispatch; the id once (request_id_fixed), during dispatch, and never changes after.
     */
    ss_trace_t trace;
    bool request_id_fixed;
    bool dispatching; /* dispatch_thread runs the router for it (and owns its log context) */
    pthread_t dispatch_thread;
    /* Guarded by the server's mutex. */
    bool listed;
    ss_http_request_t *list_prev;
    ss_http_request_t *list_next;
    /* Fixed at creation. */
    ss_http_server_t *server; /* NULL for requests made by ss_http_request_create() */
    struct MHD_Connection *connection;
    size_t body_bytes_max;
    /* Written by the transport thread before dispatch; read-only afterwards. */
    bool headers_seen;
    bool headers_overflow;
    bool receive_failed; /* out of memory while copying headers */
    bool too_large;
    size_t discarded_bytes;
    ss_http_method_t method;
    char *method_name;
    char *target;
    const char *path;
    http_pair_t params[SS_HTTP_PATH_PARAMS_MAX];
    size_t params_count;
    http_pair_t *query;
    size_t query_count;
    http_pair_t *headers;
    size_t headers_count;
    char *body;
    size_t body_length;
    size_t body_capacity;
    void *context;
    const char *route;  /* the matched route's pattern (the router's), or "other" */
    int64_t started_us; /* monotonic, when the transport created it */
    /* Used by one thread at a time. */
    http_arena_t arena;
    void *user;
    void (*user_free)(void *user);
};

typedef struct http_route {
    ss_http_method_t method;
    ss_http_handler_fn handler;
    char *pattern; /* as given, for messages */
    char *storage; /* the pattern split into NUL-terminated segments */
    const char *segments[SS_HTTP_PATH_SEGMENTS_MAX];
    bool is_param[SS_HTTP_PATH_SEGMENTS_MAX];
    size_t segments_count;
    uint32_t literal_mask; /* bit (31 - i) set when segment i is a literal */
} http_route_t;

struct ss_http_router {
    http_route_t *routes;
    size_t routes_count;
    void *context;
};

/* One open connection in the watch table. */
typedef struct http_watch {
    bool in_use;
    MHD_socket socket;
    int64_t deadline_ms; /* monotonic; 0 while no request is being read (handled, answered) */
} http_watch_t;

struct ss_http_server {
    struct MHD_Daemon *daemon;
    /* The watch table (connections_max entries), under watch_mutex. */
    pthread_mutex_t watch_mutex;
    http_watch_t *watches;
    size_t watches_count;
    unsigned request_read_timeout_ms;
    pthread_t watchdog;
    bool watchdog_started;
    atomic_bool watchdog_stopping;
    atomic_long read_deadline_cuts; /* connections closed by the watchdog */
    ss_http_router_t *router;
    size_t body_bytes_max;
    unsigned connections_max;
    unsigned stop_grace_ms;
    uint16_t port;
    pthread_mutex_t mutex; /* guards the suspended list and orders stopping with suspend */
    ss_http_request_t *suspended_head;
    size_t suspended_count;
    atomic_bool stopping;
    atomic_long live_requests; /* created by the URI callback, not yet completed by MHD */
    MHD_socket quiesced_socket;
    bool stopped;
    ss_http_observer_t observer; /* metrics and access log (http_observe.c) */
};

/* ---- methods -------------------------------------------------------------------------------- */

static const char *const http_method_names[] = {"OTHER", "GET",   "HEAD",   "POST",
                                                "PUT",   "PATCH", "DELETE", "OPTIONS"};
#define HTTP_METHODS_COUNT (sizeof(http_method_names) / sizeof(http_method_names[0]))

const char *ss_http_method_name(ss_http_method_t method)
{
    if ((size_t)method >= HTTP_METHODS_COUNT) {
        return http_method_names[SS_HTTP_METHOD_OTHER];
    }
    return http_method_names[method];
}

ss_http_method_t ss_http_method_parse(const char *name)
{
    if (name == NULL) {
        return SS_HTTP_METHOD_OTHER;
    }
    for (size_t i = 1; i < HTTP_METHODS_COUNT; i++) {
        if (strcmp(name, http_method_names[i]) == 0) {
            return (ss_http_method_t)i;
        }
    }
    return SS_HTTP_METHOD_OTHER;
}

/* ---- arena ---------------------------------------------------------------------------------- */

static void *arena_alloc(http_arena_t *arena, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size == 0) {
        size = 1;
    }
    if (size > SS_HTTP_ARENA_BYTES_MAX) {
        return NULL;
    }
    size = (size + align - 1) / align * align;
    http_arena_chunk_t *chunk = arena->head;
    if (chunk != NULL && chunk->capacity - chunk->used >= size) {
        void *memory = (char *)chunk->data + chunk->used;
        chunk->used += size;
        return memory;
    }
    size_t capacity = size > HTTP_ARENA_CHUNK_BYTES ? size : HTTP_ARENA_CHUNK_BYTES;
    if (arena->total_bytes + capacity > SS_HTTP_ARENA_BYTES_MAX) {
        return NULL;
    }
    chunk = malloc(sizeof(*chunk) + capacity);
    if (chunk == NULL) {
        return NULL;
    }
    chunk->used = size;
    chunk->capacity = capacity;
    arena->total_bytes += capacity;
    /*
     * Keep filling the fuller-looking chunk: a big one-off allocation goes behind the head so
     * the small remainder of the current chunk stays usable.
     */
    if (arena->head != NULL && capacity > HTTP_ARENA_CHUNK_BYTES) {
        chunk->next = arena->head->next;
        arena->head->next = chunk;
    } else {
        chunk->next = arena->head;
        arena->head = chunk;
    }
    return chunk->data;
}

static char *arena_strndup(http_arena_t *arena, const char *text, size_t length)
{
    char *copy = arena_alloc(arena, length + 1);
    if (copy != NULL) {
        memcpy(copy, text, length);
        copy[length] = '\0';
    }
    return copy;
}

static void arena_free(http_arena_t *arena)
{
    http_arena_chunk_t *chunk = arena->head;
    while (chunk != NULL) {
        http_arena_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    arena->head = NULL;
    arena->total_bytes = 0;
}

/* ---- responses ------------------------------------------------------------------------------ */

static void response_set_static(http_response_t *response, int status, const char *body,
                                const ss_http_header_t *headers, size_t headers_count)
{
    memset(response, 0, sizeof(*response));
    response->status = status;
    response->body = body;
    response->body_length = strlen(body);
    for (size_t i = 0; i < headers_count && i < SS_HTTP_RESPONSE_HEADERS_MAX; i++) {
        response->headers[i] = headers[i];
    }
    response->headers_count =
        headers_count < SS_HTTP_RESPONSE_HEADERS_MAX ? headers_count : SS_HTTP_RESPONSE_HEADERS_MAX;
}

static void response_free(http_response_t *response)
{
    free(response->block);
    memset(response, 0, sizeof(*response));
}

static bool header_text_valid(const char *text, bool is_name)
{
    if (text == NULL || (is_name && text[0] == '\0')) {
        return false;
    }
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '\r' || *c == '\n' || (is_name && (*c == ':' || *c == ' '))) {
            return false;
        }
    }
    return true;
}

/*
 * Copies status, body and headers into one allocation. On failure the response is the static
 * 500 answer and the error says why (SS_ERR_INVALID or SS_ERR_NOMEM).
 */
static ss_err_t response_build(http_response_t *response, int status, const char *body,
                               const ss_http_header_t *headers, size_t headers_count)
{
    if (body == NULL) {
        body = "";
    }
    ss_err_t err = SS_OK;
    if (status < 100 || status > 599 || headers_count > SS_HTTP_RESPONSE_HEADERS_MAX ||
        (headers_count > 0 && headers == NULL)) {
        err = SS_ERR_INVALID;
        goto fallback;
    }
    size_t body_length = strlen(body);
    size_t total = body_length + 1;
    for (size_t i = 0; i < headers_count; i++) {
        if (!header_text_valid(headers[i].name, true) ||
            !header_text_valid(headers[i].value, false)) {
            err = SS_ERR_INVALID;
            goto fallback;
        }
        total += strlen(headers[i].name) + 1 + strlen(headers[i].value) + 1;
    }
    char *block = malloc(total);
    if (block == NULL) {
        err = SS_ERR_NOMEM;
        goto fallback;
    }
    memset(response, 0, sizeof(*response));
    response->status = status;
    response->block = block;
    memcpy(block, body, body_length + 1);
    response->body = block;
    response->body_length = body_length;
    char *cursor = block + body_length + 1;
    for (size_t i = 0; i < headers_count; i++) {
        size_t name_length = strlen(headers[i].name) + 1;
        size_t value_length = strlen(headers[i].value) + 1;
        memcpy(cursor, headers[i].name, name_length);
        response->headers[i].name = cursor;
        cursor += name_length;
        memcpy(cursor, headers[i].value, value_length);
        response->headers[i].value = cursor;
        cursor += value_length;
    }
    response->headers_count = headers_count;
    return SS_OK;

fallback:
    response_set_static(response, 500, http_body_internal, NULL, 0);
    return err;
}

/* ---- request lifetime ----------------------------------------------------------------------- */

static ss_http_request_t *request_new(const char *target, size_t body_bytes_max)
{
    ss_http_request_t *req = calloc(1, sizeof(*req));
    if (req == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&req->mutex, NULL) != 0) {
        free(req);
        return NULL;
    }
    atomic_init(&req->refs, 1);
    req->state = HTTP_STATE_RECEIVING;
    req->body_bytes_max = body_bytes_max;
    req->method = SS_HTTP_METHOD_OTHER;
    req->target = arena_strndup(&req->arena, target, strlen(target));
    req->method_name = arena_strndup(&req->arena, "", 0);
    if (req->target == NULL || req->method_name == NULL) {
        arena_free(&req->arena);
        pthread_mutex_destroy(&req->mutex);
        free(req);
        return NULL;
    }
    req->path = req->target;
    req->route = "other";
    return req;
}

static void request_free(ss_http_request_t *req)
{
    if (req->user_free != NULL) {
        req->user_free(req->user);
    }
    response_free(&req->response);
    free(req->body);
    arena_free(&req->arena);
    pthread_mutex_destroy(&req->mutex);
    free(req);
}

void ss_http_request_ref(ss_http_request_t *req)
{
    SS_ASSERT(req != NULL);
    int before = atomic_fetch_add(&req->refs, 1);
    SS_ASSERT(before > 0);
}

void ss_http_request_release(ss_http_request_t *req)
{
    if (req == NULL) {
        return;
    }
    int before = atomic_fetch_sub(&req->refs, 1);
    SS_ASSERT(before > 0);
    if (before == 1) {
        request_free(req);
    }
}

static void request_lock(ss_http_request_t *req)
{
    int rc = pthread_mutex_lock(&req->mutex);
    SS_ASSERT(rc == 0);
}

static void request_unlock(ss_http_request_t *req)
{
    int rc = pthread_mutex_unlock(&req->mutex);
    SS_ASSERT(rc == 0);
}

static void server_lock(ss_http_server_t *server)
{
    int rc = pthread_mutex_lock(&server->mutex);
    SS_ASSERT(rc == 0);
}

static void server_unlock(ss_http_server_t *server)
{
    int rc = pthread_mutex_unlock(&server->mutex);
    SS_ASSERT(rc == 0);
}

/* Both locks held (request, then server). */
static void server_list_add(ss_http_server_t *server, ss_http_request_t *req)
{
    SS_ASSERT(!req->listed);
    req->list_prev = NULL;
    req->list_next = server->suspended_head;
    if (server->suspended_head != NULL) {
        server->suspended_head->list_prev = req;
    }
    server->suspended_head = req;
    server->suspended_count++;
    req->listed = true;
    ss_http_observer_suspended(&server->observer, 1);
}

/* Both locks held (request, then server). */
static void server_list_remove(ss_http_server_t *server, ss_http_request_t *req)
{
    if (!req->listed) {
        return;
    }
    if (req->list_prev != NULL) {
        req->list_prev->list_next = req->list_next;
    } else {
        server->suspended_head = req->list_next;
    }
    if (req->list_next != NULL) {
        req->list_next->list_prev = req->list_prev;
    }
    req->list_prev = NULL;
    req->list_next = NULL;
    req->listed = false;
    SS_ASSERT(server->suspended_count > 0);
    server->suspended_count--;
    ss_http_observer_suspended(&server->observer, -1);
}

/* The transport is done with req: later completions lose; drops the transport's reference. */
static void request_finish_transport(ss_http_request_t *req)
{
    request_lock(req);
    req->finished = true;
    req->connection = NULL;
    req->mhd_suspended = false;
    if (req->server != NULL) {
        server_lock(req->server);
        server_list_remove(req->server, req);
        server_unlock(req->server);
    }
    request_unlock(req);
    ss_http_request_release(req);
}

void ss_http_request_finish(ss_http_request_t *req)
{
    if (req == NULL) {
        return;
    }
    SS_ASSERT(req->server == NULL);
    request_finish_transport(req);
}

/* ---- receiving ------------------------------------------------------------------------------ */

static ss_err_t request_set_method(ss_http_request_t *req, const char *method)
{
    size_t length = strnlen(method, HTTP_METHOD_NAME_MAX);
    char *copy = arena_strndup(&req->arena, method, length);
    if (copy == NULL) {
        return SS_ERR_NOMEM;
    }
    req->method_name = copy;
    req->method = ss_http_method_parse(copy);
    return SS_OK;
}

static ss_err_t request_add_header(ss_http_request_t *req, const char *name, const char *value)
{
    if (req->headers == NULL) {
        req->headers = arena_alloc(&req->arena, sizeof(http_pair_t) * SS_HTTP_REQUEST_HEADERS_MAX);
        if (req->headers == NULL) {
            return SS_ERR_NOMEM;
        }
    }
    if (req->headers_count == SS_HTTP_REQUEST_HEADERS_MAX) {
        req->headers_overflow = true;
        return SS_OK;
    }
    if (value == NULL) {
        value = "";
    }
    char *name_copy = arena_strndup(&req->arena, name, strlen(name));
    char *value_copy = arena_strndup(&req->arena, value, strlen(value));
    if (name_copy == NULL || value_copy == NULL) {
        return SS_ERR_NOMEM;
    }
    req->headers[req->headers_count].name = name_copy;
    req->headers[req->headers_count].value = value_copy;
    req->headers_count++;
    return SS_OK;
}

/*
 * Appends body bytes. Past the limit the body is marked too large and further bytes are only
 * counted; SS_ERR_INVALID once more than HTTP_DISCARD_BYTES_MAX were dropped.
 */
static ss_err_t request_body_append(ss_http_request_t *req, const char *data, size_t size)
{
    if (!req->too_large && size > req->body_bytes_max - req->body_length) {
        req->too_large = true;
    }
    if (req->too_large) {
        req->discarded_bytes += size;
        return req->discarded_bytes > HTTP_DISCARD_BYTES_MAX ? SS_ERR_INVALID : SS_OK;
    }
    size_t needed = req->body_length + size + 1;
    if (needed > req->body_capacity) {
        size_t capacity = req->body_capacity == 0 ? 1024 : req->body_capacity;
        while (capacity < needed) {
            capacity *= 2;
        }
        if (capacity > req->body_bytes_max + 1) {
            capacity = req->body_bytes_max + 1;
        }
        char *grown = realloc(req->body, capacity);
        if (grown == NULL) {
            return SS_ERR_NOMEM;
        }
        req->body = grown;
        req->body_capacity = capacity;
    }
    memcpy(req->body + req->body_length, data, size);
    req->body_length += size;
    req->body[req->body_length] = '\0';
    return SS_OK;
}

ss_err_t ss_http_request_create(const char *method, const char *target,
                                const ss_http_header_t *headers, size_t headers_count,
                                const void *body, size_t body_length, ss_http_request_t **out,
                                char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_http_request_t *req = NULL;
    if (method == NULL || target == NULL || out == NULL || (headers_count > 0 && headers == NULL) ||
        (body_length > 0 && body == NULL)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not create request: missing argument");
    }
    req = request_new(target, SS_HTTP_BODY_BYTES_MAX);
    if (req == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not create request");
    }
    err = request_set_method(req, method);
    for (size_t i = 0; err == SS_OK && i < headers_count; i++) {
        err = request_add_header(req, headers[i].name, headers[i].value);
    }
    if (err == SS_OK && body_length > 0) {
        err = request_body_append(req, body, body_length);
        if (err == SS_ERR_INVALID) {
            err = SS_OK; /* far over the limit: still just "too large" here */
        }
    }
    req->headers_seen = true;
    if (err != SS_OK) {
        ss_err_set(err, errstr, errstr_size, "could not create request: out of memory");
        goto cleanup;
    }
    *out = req;
    req = NULL;

cleanup:
    if (req != NULL) {
        ss_http_request_release(req);
    }
    return err;
}

/* ---- request accessors ------------------------------------------------------------------------
 */

ss_http_method_t ss_http_request_method(const ss_http_request_t *req)
{
    return req->method;
}

const char *ss_http_request_method_name(const ss_http_request_t *req)
{
    return req->method_name;
}

const char *ss_http_request_path(const ss_http_request_t *req)
{
    return req->path;
}

void *ss_http_request_context(const ss_http_request_t *req)
{
    return req->context;
}

const char *ss_http_request_param(const ss_http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->params_count; i++) {
        if (strcmp(req->params[i].name, name) == 0) {
            return req->params[i].value;
        }
    }
    return NULL;
}

/* Parses optional '-' and 1..19 decimal digits into *value_out without overflow. */
static bool parse_int64(const char *text, bool allow_negative, int64_t *value_out)
{
    const char *c = text;
    bool negative = false;
    if (allow_negative && *c == '-') {
        negative = true;
        c++;
    }
    if (*c == '\0') {
        return false;
    }
    /* Accumulate as a negative number: its range includes INT64_MIN. */
    int64_t value = 0;
    for (size_t digits = 0; *c != '\0'; c++, digits++) {
        if (*c < '0' || *c > '9' || digits >= 19) {
            return false;
        }
        int digit = *c - '0';
        if (value < (INT64_MIN + digit) / 10) {
            return false;
        }
        value = value * 10 - digit;
    }
    if (!negative) {
        if (value == INT64_MIN) {
            return false;
        }
        value = -value;
    }
    *value_out = value;
    return true;
}

ss_err_t ss_http_request_param_id(const ss_http_request_t *req, const char *name, int64_t *id_out)
{
    const char *text = ss_http_request_param(req, name);
    if (text == NULL) {
        return SS_ERR_NOT_FOUND;
    }
    int64_t id = 0;
    if (!parse_int64(text, false, &id) || id < 1) {
        return SS_ERR_INVALID;
    }
    *id_out = id;
    return SS_OK;
}

const char *ss_http_request_query(const ss_http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->query_count; i++) {
        if (strcmp(req->query[i].name, name) == 0) {
            return req->query[i].value;
        }
    }
    return NULL;
}

ss_err_t ss_http_request_query_int64(const ss_http_request_t *req, const char *name,
                                     int64_t fallback, int64_t min, int64_t max, int64_t *value_out,
                                     char *errstr, size_t errstr_size)
{
    const char *text = ss_http_request_query(req, name);
    if (text == NULL) {
        *value_out = fallback;
        return SS_OK;
    }
    int64_t value = 0;
    if (!parse_int64(text, true, &value) || value < min || value > max) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "query parameter %s must be an integer in %lld..%lld", name,
                          (long long)min, (long long)max);
    }
    *value_out = value;
    return SS_OK;
}

ss_err_t ss_http_request_query_digits(const ss_http_request_t *req, const char *name,
                                      int64_t fallback, size_t digits_max, int64_t *value_out,
                                      char *errstr, size_t errstr_size)
{
    SS_ASSERT(digits_max >= 1 && digits_max <= SS_HTTP_QUERY_DIGITS_MAX);
    const char *text = ss_http_request_query(req, name);
    if (text == NULL) {
        *value_out = fallback;
        return SS_OK;
    }
    size_t length = strlen(text);
    int64_t value = 0;
    if (length == 0 || length > digits_max || strspn(text, "0123456789") != length ||
        !parse_int64(text, false, &value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "query parameter %s must be 1 to %zu decimal digits", name, digits_max);
    }
    *value_out = value;
    return SS_OK;
}

const char *ss_http_request_header(const ss_http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->headers_count; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value;
        }
    }
    return NULL;
}

const char *ss_http_request_body(const ss_http_request_t *req, size_t *length_out)
{
    if (length_out != NULL) {
        *length_out = req->body_length;
    }
    return req->body != NULL ? req->body : "";
}

void *ss_http_request_alloc(ss_http_request_t *req, size_t size)
{
    return arena_alloc(&req->arena, size);
}

char *ss_http_request_sprintf(ss_http_request_t *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int length = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (length < 0) {
        return NULL;
    }
    char *text = arena_alloc(&req->arena, (size_t)length + 1);
    if (text == NULL) {
        return NULL;
    }
    va_start(ap, fmt);
    int written = vsnprintf(text, (size_t)length + 1, fmt, ap);
    va_end(ap);
    return written == length ? text : NULL;
}

void ss_http_request_user_set(ss_http_request_t *req, void *user, void (*user_free)(void *user))
{
    req->user = user;
    req->user_free = user_free;
}

void *ss_http_request_user(const ss_http_request_t *req)
{
    return req->user;
}

int ss_http_request_response_status(ss_http_request_t *req)
{
    request_lock(req);
    int status = req->state >= HTTP_STATE_READY ? req->response.status : 0;
    request_unlock(req);
    return status;
}

const char *ss_http_request_response_body(ss_http_request_t *req)
{
    request_lock(req);
    const char *body = req->state >= HTTP_STATE_READY ? req->response.body : "";
    request_unlock(req);
    return body;
}

const char *ss_http_request_response_header(ss_http_request_t *req, const char *name)
{
    const char *value = NULL;
    request_lock(req);
    if (req->state >= HTTP_STATE_READY) {
        for (size_t i = 0; i < req->response.headers_count; i++) {
            if (strcasecmp(req->response.headers[i].name, name) == 0) {
                value = req->response.headers[i].value;
                break;
            }
        }
    }
    if (value == NULL && req->state >= HTTP_STATE_READY && req->request_id_fixed &&
        strcasecmp(name, HTTP_HEADER_REQUEST_ID) == 0) {
        value = req->trace.request_id; /* added to every answer when it is sent */
    }
    request_unlock(req);
    return value;
}

bool ss_http_request_is_suspended(ss_http_request_t *req)
{
    request_lock(req);
    bool suspended = req->state == HTTP_STATE_SUSPENDED && !req->finished;
    request_unlock(req);
    return suspended;
}

/* ---- request id and trace context ------------------------------------------------------------ */

/* Request locked: fixes the id to offered (when valid) or a new random one, once. */
static void request_id_fix_locked(ss_http_request_t *req, const char *offered)
{
    if (req->request_id_fixed) {
        return;
    }
    if (offered != NULL && ss_trace_request_id_valid(offered, strlen(offered))) {
        snprintf(req->trace.request_id, sizeof(req->trace.request_id), "%s", offered);
    } else if (ss_trace_random_hex(req->trace.request_id, SS_TRACE_GENERATED_ID_HEX) != SS_OK) {
        snprintf(req->trace.request_id, sizeof(req->trace.request_id), "unavailable");
    }
    req->request_id_fixed = true;
    if (req->dispatching && pthread_equal(req->dispatch_thread, pthread_self())) {
        ss_trace_log_enter(&req->trace);
    }
}

const char *ss_http_request_id_offer(ss_http_request_t *req, const char *request_id)
{
    request_lock(req);
    request_id_fix_locked(req, request_id);
    request_unlock(req);
    return req->trace.request_id;
}

const char *ss_http_request_id(ss_http_request_t *req)
{
    return ss_http_request_id_offer(req, NULL);
}

void ss_http_request_trace(ss_http_request_t *req, ss_trace_t *out)
{
    request_lock(req);
    request_id_fix_locked(req, NULL);
    *out = req->trace;
    request_unlock(req);
}

/*
 * Dispatch begins: a well-formed X-Request-Id of the client is the id; otherwise a read's id is
 * made now and a mutation's waits for a command to lend its own (ss_http_request_id_offer()).
 * A valid traceparent is continued with a new parent-id for our hop, else a trace is started.
 */
static void request_trace_begin(ss_http_request_t *req)
{
    const char *client_id = ss_http_request_header(req, HTTP_HEADER_REQUEST_ID);
    bool mutation = req->method == SS_HTTP_METHOD_POST || req->method == SS_HTTP_METHOD_PATCH ||
                    req->method == SS_HTTP_METHOD_PUT || req->method == SS_HTTP_METHOD_DELETE;
    char traceparent[SS_TRACE_PARENT_SIZE];
    if (ss_trace_parent_continue(ss_http_request_header(req, HTTP_HEADER_TRACEPARENT),
                                 traceparent) != SS_OK) {
        traceparent[0] = '\0';
    }
    request_lock(req);
    req->dispatching = true;
    req->dispatch_thread = pthread_self();
    memcpy(req->trace.traceparent, traceparent, sizeof(traceparent));
    if (client_id != NULL && ss_trace_request_id_valid(client_id, strlen(client_id))) {
        request_id_fix_locked(req, client_id);
    } else if (!mutation) {
        request_id_fix_locked(req, NULL);
    }
    ss_trace_log_enter(&req->trace);
    request_unlock(req);
}

/* Dispatch ends: the id is fixed by now, whatever the handler did; the log context goes. */
static void request_trace_end(ss_http_request_t *req)
{
    request_lock(req);
    request_id_fix_locked(req, NULL);
    req->dispatching = false;
    request_unlock(req);
    ss_trace_log_leave();
}

/* ---- answering --------------------------------------------------------------------------------
 */

ss_err_t ss_http_respond_json_headers(ss_http_request_t *req, int status, const char *body,
                                      const ss_http_header_t *headers, size_t headers_count)
{
    http_response_t built;
    ss_err_t err = response_build(&built, status, body, headers, headers_count);
    request_lock(req);
    if (req->state != HTTP_STATE_HANDLING) {
        request_unlock(req);
        response_free(&built);
        return SS_ERR_INVALID;
    }
    req->response = built;
    req->state = HTTP_STATE_READY;
    request_unlock(req);
    return err;
}

ss_err_t ss_http_respond_json(ss_http_request_t *req, int status, const char *body)
{
    return ss_http_respond_json_headers(req, status, body, NULL, 0);
}

/* The wrapper's own answers: static bodies, or copied ones with headers. */
static void request_answer_static(ss_http_request_t *req, int status, const char *body,
                                  const ss_http_header_t *headers, size_t headers_count)
{
    request_lock(req);
    SS_ASSERT(req->state == HTTP_STATE_HANDLING);
    response_set_static(&req->response, status, body, headers, headers_count);
    req->state = HTTP_STATE_READY;
    request_unlock(req);
}

void ss_http_request_suspend(ss_http_request_t *req)
{
    static const ss_http_header_t retry_after[] = {{"Retry-After", "1"}};
    SS_ASSERT(req != NULL);
    request_lock(req);
    SS_ASSERT(req->state == HTTP_STATE_HANDLING);
    ss_http_request_ref(req);
    bool stopping = false;
    if (req->server != NULL) {
        server_lock(req->server);
        stopping = atomic_load(&req->server->stopping);
        if (!stopping) {
            server_list_add(req->server, req);
        }
        server_unlock(req->server);
    }
    if (stopping) {
        response_set_static(&req->response, 503, http_body_stopping, retry_after, 1);
        req->state = HTTP_STATE_READY;
    } else {
        req->state = HTTP_STATE_SUSPENDED;
    }
    request_unlock(req);
}

/* Request locked, state SUSPENDED: store the answer and wake the connection. */
static void request_complete_locked(ss_http_request_t *req, http_response_t *response)
{
    req->response = *response;
    memset(response, 0, sizeof(*response));
    req->state = HTTP_STATE_READY;
    if (req->server != NULL) {
        server_lock(req->server);
        server_list_remove(req->server, req);
        if (req->mhd_suspended) {
            req->mhd_suspended = false;
            MHD_resume_connection(req->connection);
        }
        server_unlock(req->server);
    }
}

bool ss_http_request_complete(ss_http_request_t *req, int status, const char *body,
                              const ss_http_header_t *headers, size_t headers_count)
{
    SS_ASSERT(req != NULL);
    http_response_t built;
    (void)response_build(&built, status, body, headers, headers_count); /* 500 on failure */
    bool won = false;
    request_lock(req);
    if (req->state == HTTP_STATE_SUSPENDED && !req->finished) {
        request_complete_locked(req, &built);
        won = true;
    }
    request_unlock(req);
    response_free(&built);
    return won;
}

/* ---- routing ----------------------------------------------------------------------------------
 */

static bool pattern_name_valid(const char *name, size_t length)
{
    if (length == 0) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static ss_err_t route_compile(http_route_t *route, const ss_http_route_t *spec, char *errstr,
                              size_t errstr_size)
{
    const char *pattern = spec->pattern;
    if (pattern == NULL || spec->handler == NULL || spec->method == SS_HTTP_METHOD_OTHER ||
        (size_t)spec->method >= HTTP_METHODS_COUNT) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "invalid route %s: needs a known method, a pattern and a handler",
                          pattern != NULL ? pattern : "(null)");
    }
    route->method = spec->method;
    route->handler = spec->handler;
    route->pattern = strdup(pattern);
    route->storage = strdup(pattern);
    if (route->pattern == NULL || route->storage == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not copy route %s", pattern);
    }
    if (pattern[0] != '/') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "invalid route pattern \"%s\": must start with '/'", pattern);
    }
    if (pattern[1] == '\0') {
        route->segments_count = 0;
        return SS_OK;
    }
    size_t params = 0;
    char *segment = route->storage + 1;
    for (size_t i = 0;; i++) {
        if (i == SS_HTTP_PATH_SEGMENTS_MAX) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "invalid route pattern \"%s\": more than %d segments", pattern,
                              SS_HTTP_PATH_SEGMENTS_MAX);
        }
        char *slash = strchr(segment, '/');
        if (slash != NULL) {
            *slash = '\0';
        }
        size_t length = strlen(segment);
        if (length == 0) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "invalid route pattern \"%s\": empty segment", pattern);
        }
        if (segment[0] == '{') {
            if (segment[length - 1] != '}' || !pattern_name_valid(segment + 1, length - 2)) {
                return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                  "invalid route pattern \"%s\": a parameter is a whole segment "
                                  "{name} of letters, digits and '_'",
                                  pattern);
            }
            if (++params > SS_HTTP_PATH_PARAMS_MAX) {
                return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                  "invalid route pattern \"%s\": more than %d parameters", pattern,
                                  SS_HTTP_PATH_PARAMS_MAX);
            }
            segment[length - 1] = '\0';
            route->segments[i] = segment + 1;
            route->is_param[i] = true;
        } else {
            if (strchr(segment, '{') != NULL || strchr(segment, '}') != NULL) {
                return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                  "invalid route pattern \"%s\": a parameter is a whole segment",
                                  pattern);
            }
            route->segments[i] = segment;
            route->is_param[i] = false;
            route->literal_mask |= 1u << (31 - i);
        }
        route->segments_count = i + 1;
        if (slash == NULL) {
            break;
        }
        segment = slash + 1;
    }
    return SS_OK;
}

static void route_free(http_route_t *route)
{
    free(route->pattern);
    free(route->storage);
}

ss_err_t ss_http_router_create(const ss_http_route_t *routes, size_t routes_count, void *context,
                               ss_http_router_t **out, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_http_router_t *router = NULL;
    if (routes == NULL || routes_count == 0 || routes_count > SS_HTTP_ROUTES_MAX || out == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "a router needs 1..%d routes, got %zu", SS_HTTP_ROUTES_MAX, routes_count);
    }
    router = calloc(1, sizeof(*router));
    if (router == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate router");
        goto cleanup;
    }
    router->context = context;
    router->routes = calloc(routes_count, sizeof(*router->routes));
    if (router->routes == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate routes");
        goto cleanup;
    }
    for (size_t i = 0; i < routes_count; i++) {
        router->routes_count = i + 1;
        err = route_compile(&router->routes[i], &routes[i], errstr, errstr_size);
        if (err != SS_OK) {
            goto cleanup;
        }
        for (size_t j = 0; j < i; j++) {
            if (router->routes[j].method == routes[i].method &&
                strcmp(router->routes[j].pattern, routes[i].pattern) == 0) {
                err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "duplicate route %s %s",
                                 ss_http_method_name(routes[i].method), routes[i].pattern);
                goto cleanup;
            }
        }
    }
    *out = router;
    router = NULL;

cleanup:
    ss_http_router_destroy(router);
    return err;
}

void ss_http_router_destroy(ss_http_router_t *router)
{
    if (router == NULL) {
        return;
    }
    for (size_t i = 0; i < router->routes_count; i++) {
        route_free(&router->routes[i]);
    }
    free(router->routes);
    free(router);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes %XX (and '+' when asked) in place. False on a malformed escape or an encoded NUL. */
static bool percent_decode(char *text, bool plus_is_space)
{
    char *out = text;
    for (const char *in = text; *in != '\0'; in++) {
        if (*in == '%') {
            int high = hex_value(in[1]);
            int low = high < 0 ? -1 : hex_value(in[2]);
            if (low < 0 || (high == 0 && low == 0)) {
                return false;
            }
            *out++ = (char)(high * 16 + low);
            in += 2;
        } else if (*in == '+' && plus_is_space) {
            *out++ = ' ';
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
    return true;
}

static ss_err_t request_parse_query(ss_http_request_t *req, const char *raw)
{
    char *copy = arena_strndup(&req->arena, raw, strlen(raw));
    req->query = arena_alloc(&req->arena, sizeof(http_pair_t) * SS_HTTP_QUERY_PARAMS_MAX);
    if (copy == NULL || req->query == NULL) {
        return SS_ERR_NOMEM;
    }
    char *piece = copy;
    size_t rounds_max = strlen(raw) + 1; /* one piece per '&', plus one */
    for (size_t round = 0; round < rounds_max; round++) {
        char *amp = strchr(piece, '&');
        if (amp != NULL) {
            *amp = '\0';
        }
        if (piece[0] != '\0') {
            if (req->query_count == SS_HTTP_QUERY_PARAMS_MAX) {
                return SS_ERR_INVALID;
            }
            char *equals = strchr(piece, '=');
            char *value = piece + strlen(piece); /* "" inside our copy: decoding writes to it */
            if (equals != NULL) {
                *equals = '\0';
                value = equals + 1;
            }
            if (!percent_decode(piece, true) || !percent_decode(value, true)) {
                return SS_ERR_INVALID;
            }
            req->query[req->query_count].name = piece;
            req->query[req->query_count].value = value;
            req->query_count++;
        }
        if (amp == NULL) {
            break;
        }
        piece = amp + 1;
    }
    return SS_OK;
}

/*
 * Splits the target into path segments (decoded) and query parameters. SS_ERR_INVALID for a
 * malformed target (400), SS_ERR_NOT_FOUND when it has more segments than any route (404).
 */
static ss_err_t request_parse_target(ss_http_request_t *req, char **segments, size_t *count_out)
{
    *count_out = 0;
    const char *target = req->target;
    if (target[0] != '/') {
        return SS_ERR_INVALID;
    }
    const char *question = strchr(target, '?');
    size_t path_length = question != NULL ? (size_t)(question - target) : strlen(target);
    char *path = arena_strndup(&req->arena, target, path_length);
    char *split = arena_strndup(&req->arena, target + 1, path_length - 1);
    if (path == NULL || split == NULL) {
        return SS_ERR_NOMEM;
    }
    req->path = path;
    if (question != NULL) {
        ss_err_t err = request_parse_query(req, question + 1);
        if (err != SS_OK) {
            return err;
        }
    }
    if (split[0] == '\0') {
        return SS_OK; /* "/" */
    }
    size_t count = 0;
    char *segment = split;
    for (size_t round = 0; round <= SS_HTTP_PATH_SEGMENTS_MAX + 1; round++) {
        char *slash = strchr(segment, '/');
        if (slash != NULL) {
            *slash = '\0';
        }
        bool trailing_empty = slash == NULL && segment[0] == '\0';
        if (!trailing_empty) {
            if (count == SS_HTTP_PATH_SEGMENTS_MAX) {
                return SS_ERR_NOT_FOUND;
            }
            if (!percent_decode(segment, false)) {
                return SS_ERR_INVALID;
            }
            segments[count++] = segment;
        }
        if (slash == NULL) {
            *count_out = count;
            return SS_OK;
        }
        segment = slash + 1;
    }
    return SS_ERR_NOT_FOUND;
}

static bool route_matches(const http_route_t *route, char *const *segments, size_t count)
{
    if (route->segments_count != count) {
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        if (route->is_param[i] ? segments[i][0] == '\0'
                               : strcmp(route->segments[i], segments[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* The most specific route with this path and method, or NULL; *methods_out gets every method. */
static const http_route_t *router_find(const ss_http_router_t *router, ss_http_method_t method,
                                       char *const *segments, size_t count, unsigned *methods_out)
{
    const http_route_t *best = NULL;
    unsigned methods = 0;
    for (size_t i = 0; i < router->routes_count; i++) {
        const http_route_t *route = &router->routes[i];
        if (!route_matches(route, segments, count)) {
            continue;
        }
        methods |= 1u << route->method;
        if (route->method == method && (best == NULL || route->literal_mask > best->literal_mask)) {
            best = route;
        }
    }
    *methods_out = methods;
    return best;
}

static void allow_header_format(unsigned methods, char *out, size_t out_size)
{
    if ((methods & (1u << SS_HTTP_METHOD_GET)) != 0) {
        methods |= 1u << SS_HTTP_METHOD_HEAD;
    }
    size_t used = 0;
    out[0] = '\0';
    for (size_t m = 1; m < HTTP_METHODS_COUNT; m++) {
        if ((methods & (1u << m)) == 0) {
            continue;
        }
        int n = snprintf(out + used, out_size - used, "%s%s", used > 0 ? ", " : "",
                         http_method_names[m]);
        if (n < 0 || (size_t)n >= out_size - used) {
            return;
        }
        used += (size_t)n;
    }
}

static void router_route(const ss_http_router_t *router, ss_http_request_t *req);

void ss_http_router_dispatch(const ss_http_router_t *router, ss_http_request_t *req)
{
    SS_ASSERT(router != NULL && req != NULL);
    request_lock(req);
    SS_ASSERT(req->state == HTTP_STATE_RECEIVING);
    req->state = HTTP_STATE_HANDLING;
    req->context = router->context;
    request_unlock(req);
    request_trace_begin(req);
    router_route(router, req);
    request_trace_end(req);
}

/* Answers 413, 400, 404 or 405 itself, or runs the route's handler. */
static void router_route(const ss_http_router_t *router, ss_http_request_t *req)
{
    if (req->too_large) {
        char body[128];
        snprintf(body, sizeof(body),
                 "{\"code\":413,\"message\":\"request body is larger than %zu bytes\","
                 "\"error\":\"PAYLOAD_TOO_LARGE\"}",
                 req->body_bytes_max);
        (void)ss_http_respond_json(req, 413, body);
        return;
    }
    char *segments[SS_HTTP_PATH_SEGMENTS_MAX] = {0};
    size_t count = 0;
    ss_err_t err =
        req->headers_overflow ? SS_ERR_INVALID : request_parse_target(req, segments, &count);
    if (err == SS_ERR_INVALID) {
        (void)ss_http_respond_json(req, 400,
                                   "{\"code\":400,\"message\":\"malformed request target or too "
                                   "many parameters or headers\",\"error\":\"INVALID_REQUEST\"}");
        return;
    }
    if (err == SS_ERR_NOT_FOUND) {
        request_answer_static(req, 404, http_body_not_found, NULL, 0);
        return;
    }
    if (err != SS_OK) {
        request_answer_static(req, 500, http_body_internal, NULL, 0);
        return;
    }
    unsigned methods = 0;
    const http_route_t *route = router_find(router, req->method, segments, count, &methods);
    if (route == NULL && req->method == SS_HTTP_METHOD_HEAD) {
        route = router_find(router, SS_HTTP_METHOD_GET, segments, count, &methods);
    }
    if (route == NULL && methods == 0) {
        request_answer_static(req, 404, http_body_not_found, NULL, 0);
        return;
    }
    if (route == NULL) {
        char allow[96];
        allow_header_format(methods, allow, sizeof(allow));
        ss_http_header_t header = {"Allow", allow};
        (void)ss_http_respond_json_headers(req, 405, http_body_method_not_allowed, &header, 1);
        return;
    }
    req->route = route->pattern;
    for (size_t i = 0; i < count; i++) {
        if (route->is_param[i]) {
            SS_ASSERT(req->params_count < SS_HTTP_PATH_PARAMS_MAX);
            req->params[req->params_count].name = route->segments[i];
            req->params[req->params_count].value = segments[i];
            req->params_count++;
        }
    }
    route->handler(req, router->context);

    request_lock(req);
    bool unanswered = req->state == HTTP_STATE_HANDLING;
    if (unanswered) {
        response_set_static(&req->response, 500, http_body_internal, NULL, 0);
        req->state = HTTP_STATE_READY;
    }
    request_unlock(req);
    if (unanswered) {
        SS_LOG_ERROR("http", "handler returned without answering method=%s route=%s",
                     ss_http_method_name(route->method), route->pattern);
    }
}

/* ---- the read deadline -------------------------------------------------------------------------
 */

static int64_t http_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int64_t http_now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* NOTIFY_CONNECTION: a connection was accepted (an entry, deadline armed) or closed (freed). */
static void server_on_connection(void *cls, struct MHD_Connection *connection,
                                 void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
    ss_http_server_t *server = cls;
    pthread_mutex_lock(&server->watch_mutex);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        http_watch_t *free_watch = NULL;
        for (size_t i = 0; info != NULL && i < server->watches_count && free_watch == NULL; i++) {
            free_watch = server->watches[i].in_use ? NULL : &server->watches[i];
        }
        if (free_watch != NULL) {
            *free_watch =
                (http_watch_t){.in_use = true,
                               .socket = info->connect_fd,
                               .deadline_ms = http_now_ms() + server->request_read_timeout_ms};
        }
        *socket_context = free_watch;
    } else if (*socket_context != NULL) {
        http_watch_t *watch = *socket_context;
        watch->in_use = false;
        watch->socket = MHD_INVALID_SOCKET;
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&server->watch_mutex);
}

/* Arms (a request is being read from now on) or clears the deadline of connection. */
static void server_watch_set(ss_http_server_t *server, struct MHD_Connection *connection,
                             bool armed)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (info == NULL || info->socket_context == NULL) {
        return;
    }
    http_watch_t *watch = info->socket_context;
    pthread_mutex_lock(&server->watch_mutex);
    if (watch->in_use) {
        watch->deadline_ms = armed ? http_now_ms() + server->request_read_timeout_ms : 0;
    }
    pthread_mutex_unlock(&server->watch_mutex);
}

/* Shuts down the socket of every connection past its read deadline; returns how many. */
static size_t server_watch_sweep(ss_http_server_t *server, int64_t now_ms)
{
    size_t cut = 0;
    pthread_mutex_lock(&server->watch_mutex);
    for (size_t i = 0; i < server->watches_count; i++) {
        http_watch_t *watch = &server->watches[i];
        if (watch->in_use && watch->deadline_ms != 0 && now_ms >= watch->deadline_ms) {
            (void)shutdown(watch->socket, SHUT_RDWR);
            watch->deadline_ms = 0;
            cut++;
        }
    }
    pthread_mutex_unlock(&server->watch_mutex);
    return cut;
}

static void *server_watchdog_main(void *opaque)
{
    ss_http_server_t *server = opaque;
    unsigned tick_ms = server->request_read_timeout_ms / 4;
    tick_ms = tick_ms < 1                           ? 1
              : tick_ms > HTTP_WATCHDOG_TICK_MS_MAX ? HTTP_WATCHDOG_TICK_MS_MAX
                                                    : tick_ms;
    while (!atomic_load(&server->watchdog_stopping)) {
        struct timespec pause = {.tv_sec = 0, .tv_nsec = (long)tick_ms * 1000000L};
        nanosleep(&pause, NULL);
        size_t cut = server_watch_sweep(server, http_now_ms());
        if (cut > 0) {
            atomic_fetch_add(&server->read_deadline_cuts, (long)cut);
            SS_LOG_WARN("http",
                        "closed connections that did not send a whole request in time "
                        "count=%zu timeout_ms=%u",
                        cut, server->request_read_timeout_ms);
        }
    }
    return NULL;
}

/* ---- libmicrohttpd glue ------------------------------------------------------------------------
 */

static void *server_on_uri(void *cls, const char *uri, struct MHD_Connection *connection)
{
    ss_http_server_t *server = cls;
    ss_http_request_t *req = request_new(uri != NULL ? uri : "", server->body_bytes_max);
    if (req == NULL) {
        return NULL;
    }
    req->server = server;
    req->connection = connection;
    req->started_us = http_now_us();
    atomic_fetch_add(&server->live_requests, 1);
    ss_http_observer_began(&server->observer);
    return req;
}

/* Tells the observer how req ended; on the connection's thread, before the transport lets go. */
static void request_observe(ss_http_server_t *server, ss_http_request_t *req)
{
    const char *request_id = ss_http_request_response_header(req, "X-Request-Id");
    if (request_id == NULL) {
        request_id = ss_http_request_header(req, "X-Request-Id");
    }
    const ss_http_observation_t seen = {
        .method = ss_http_method_name(req->method),
        .route = req->route,
        .status = ss_http_request_response_status(req),
        .duration_us = http_now_us() - req->started_us,
        .request_id = request_id,
    };
    ss_http_observer_ended(&server->observer, &seen);
}

static void server_on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                                enum MHD_RequestTerminationCode toe)
{
    ss_http_server_t *server = cls;
    (void)toe;
    ss_http_request_t *req = *con_cls;
    if (req == NULL) {
        return;
    }
    *con_cls = NULL;
    request_observe(server, req);
    request_finish_transport(req);
    atomic_fetch_sub(&server->live_requests, 1);
    /* A kept-alive connection's next request must arrive whole within the deadline too. */
    server_watch_set(server, connection, true);
}

static enum MHD_Result header_iterator(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    ss_http_request_t *req = cls;
    if (key == NULL) {
        return MHD_YES;
    }
    if (request_add_header(req, key, value) != SS_OK) {
        req->receive_failed = true;
        return MHD_NO;
    }
    return MHD_YES;
}

/* Hands the stored answer to MHD. Called on the connection's thread, state READY. */
static enum MHD_Result request_queue(ss_http_request_t *req, struct MHD_Connection *connection)
{
    request_lock(req);
    SS_ASSERT(req->state == HTTP_STATE_READY);
    req->state = HTTP_STATE_SENT;
    request_unlock(req);

    const http_response_t *answer = &req->response;
    struct MHD_Response *response = MHD_create_response_from_buffer(
        answer->body_length, (void *)answer->body, MHD_RESPMEM_MUST_COPY);
    if (response == NULL) {
        return MHD_NO;
    }
    /* JSON unless the handler named another Content-Type (GET /docs serves HTML and JS). */
    bool typed = false;
    enum MHD_Result result = MHD_YES;
    for (size_t i = 0; result == MHD_YES && i < answer->headers_count; i++) {
        typed |= strcasecmp(answer->headers[i].name, MHD_HTTP_HEADER_CONTENT_TYPE) == 0;
        result =
            MHD_add_response_header(response, answer->headers[i].name, answer->headers[i].value);
    }
    if (result == MHD_YES && !typed) {
        result =
            MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, HTTP_CONTENT_TYPE_JSON);
    }
    if (result == MHD_YES) {
        result = MHD_add_response_header(response, HTTP_HEADER_REQUEST_ID, ss_http_request_id(req));
    }
    if (result == MHD_YES && req->server != NULL && atomic_load(&req->server->stopping)) {
        result = MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    if (result == MHD_YES) {
        result = MHD_queue_response(connection, (unsigned int)answer->status, response);
    }
    MHD_destroy_response(response);
    return result;
}

static uint64_t content_length_parse(const char *text, bool *valid)
{
    uint64_t value = 0;
    *valid = text != NULL && text[0] != '\0';
    for (const char *c = text; *valid && *c != '\0'; c++) {
        if (*c < '0' || *c > '9' || value > (UINT64_MAX - 9) / 10) {
            *valid = false;
        } else {
            value = value * 10 + (uint64_t)(*c - '0');
        }
    }
    return value;
}

/* First call: headers are in. Copies them; answers 413 at once for a declared oversize body. */
static enum MHD_Result request_on_headers(ss_http_server_t *server, ss_http_request_t *req,
                                          struct MHD_Connection *connection, const char *method)
{
    req->headers_seen = true;
    if (request_set_method(req, method != NULL ? method : "") != SS_OK) {
        return MHD_NO;
    }
    int seen = MHD_get_connection_values(connection, MHD_HEADER_KIND, header_iterator, req);
    if (seen < 0 || req->receive_failed) {
        return MHD_NO; /* out of memory: close the connection */
    }
    bool valid = false;
    uint64_t declared =
        content_length_parse(ss_http_request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH), &valid);
    if (valid && declared > req->body_bytes_max) {
        req->too_large = true;
        ss_http_router_dispatch(server->router, req);
        return request_queue(req, connection);
    }
    if (valid && declared > 0) {
        req->body = malloc((size_t)declared + 1);
        if (req->body == NULL) {
            return MHD_NO;
        }
        req->body_capacity = (size_t)declared + 1;
        req->body[0] = '\0';
    }
    return MHD_YES;
}

static enum MHD_Result server_on_access(void *cls, struct MHD_Connection *connection,
                                        const char *url, const char *method, const char *version,
                                        const char *upload_data, size_t *upload_data_size,
                                        void **con_cls)
{
    ss_http_server_t *server = cls;
    ss_http_request_t *req = *con_cls;
    (void)url;
    (void)version;
    if (req == NULL) {
        return MHD_NO; /* the URI callback could not allocate: close the connection */
    }
    if (!req->headers_seen) {
        return request_on_headers(server, req, connection, method);
    }
    if (*upload_data_size > 0) {
        ss_err_t err = request_body_append(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return err == SS_OK ? MHD_YES : MHD_NO;
    }
    request_lock(req);
    http_state_t state = req->state;
    request_unlock(req);
    if (state == HTTP_STATE_RECEIVING) {
        server_watch_set(server, connection, false); /* read whole: the deadline is met */
        ss_http_router_dispatch(server->router, req);
        request_lock(req);
        if (req->state == HTTP_STATE_SUSPENDED) {
            MHD_suspend_connection(connection);
            req->mhd_suspended = true;
            request_unlock(req);
            return MHD_YES;
        }
        state = req->state;
        request_unlock(req);
    }
    if (state == HTTP_STATE_READY) {
        return request_queue(req, connection);
    }
    SS_LOG_ERROR("http", "unexpected call for a request in state %d", (int)state);
    return MHD_NO;
}

__attribute__((format(printf, 2, 0))) static void server_on_log(void *cls, const char *fmt,
                                                                va_list ap)
{
    (void)cls;
    char line[HTTP_LOG_LINE_MAX];
    int length = vsnprintf(line, sizeof(line), fmt, ap);
    if (length < 0) {
        return;
    }
    size_t end = strnlen(line, sizeof(line));
    while (end > 0 && (line[end - 1] == '\n' || line[end - 1] == '\r')) {
        line[--end] = '\0';
    }
    SS_LOG_WARN("http", "microhttpd: %s", line);
}

/* ---- server ------------------------------------------------------------------------------------
 */

typedef union http_sockaddr {
    struct sockaddr any;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
} http_sockaddr_t;

static ss_err_t sockaddr_parse(const char *address, uint16_t port, http_sockaddr_t *out,
                               bool *ipv6_out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, address, &out->v4.sin_addr) == 1) {
        out->v4.sin_family = AF_INET;
        out->v4.sin_port = htons(port);
        *ipv6_out = false;
        return SS_OK;
    }
    if (inet_pton(AF_INET6, address, &out->v6.sin6_addr) == 1) {
        out->v6.sin6_family = AF_INET6;
        out->v6.sin6_port = htons(port);
        *ipv6_out = true;
        return SS_OK;
    }
    return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                      "invalid bind address \"%s\": expected a numeric IPv4 or IPv6 address",
                      address);
}

ss_err_t ss_http_server_start(const ss_http_server_config_t *config, ss_http_server_t **out,
                              char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_http_server_t *server = NULL;
    bool mutex_ready = false;
    if (config == NULL || out == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "missing http server config");
    }
    if (config->threads < 1 || config->threads > SS_HTTP_THREADS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "http server threads %u is out of range 1..%d", config->threads,
                          SS_HTTP_THREADS_MAX);
    }
    if (config->body_bytes_max > SS_HTTP_BODY_BYTES_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "http body limit %zu is over the maximum %d", config->body_bytes_max,
                          SS_HTTP_BODY_BYTES_MAX);
    }
    const char *address =
        config->bind_address != NULL ? config->bind_address : HTTP_DEFAULT_BIND_ADDRESS;
    http_sockaddr_t sockaddr;
    bool ipv6 = false;
    err = sockaddr_parse(address, config->port, &sockaddr, &ipv6, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }

    server = calloc(1, sizeof(*server));
    if (server == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate http server");
        goto cleanup;
    }
    server->quiesced_socket = MHD_INVALID_SOCKET;
    ss_http_observer_init(&server->observer, config->metrics, config->access_log_permille);
    server->body_bytes_max =
        config->body_bytes_max != 0 ? config->body_bytes_max : SS_HTTP_BODY_BYTES_MAX;
    server->connections_max =
        config->connections_max != 0 ? config->connections_max : HTTP_DEFAULT_CONNECTIONS_MAX;
    server->stop_grace_ms =
        config->stop_grace_ms != 0 ? config->stop_grace_ms : HTTP_DEFAULT_STOP_GRACE_MS;
    server->request_read_timeout_ms = config->request_read_timeout_ms != 0
                                          ? config->request_read_timeout_ms
                                          : HTTP_DEFAULT_REQUEST_READ_TIMEOUT_MS;
    atomic_init(&server->watchdog_stopping, false);
    atomic_init(&server->read_deadline_cuts, 0);
    server->watches_count = server->connections_max;
    server->watches = calloc(server->watches_count, sizeof(*server->watches));
    if (server->watches == NULL || pthread_mutex_init(&server->watch_mutex, NULL) != 0) {
        free(server->watches);
        server->watches = NULL;
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the watch table");
        goto cleanup;
    }
    atomic_init(&server->stopping, false);
    atomic_init(&server->live_requests, 0);
    if (pthread_mutex_init(&server->mutex, NULL) != 0) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not create http server mutex");
        goto cleanup;
    }
    mutex_ready = true;
    err = ss_http_router_create(config->routes, config->routes_count, config->context,
                                &server->router, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }

    unsigned int flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (ipv6) {
        flags |= MHD_USE_IPv6;
    }
    unsigned int idle_timeout_s =
        config->idle_timeout_s != 0 ? config->idle_timeout_s : HTTP_DEFAULT_IDLE_TIMEOUT_S;
    /* A pool of one is no pool: MHD then polls on its single internal thread. */
    struct MHD_OptionItem pool_options[] = {
        {config->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
         (intptr_t)config->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    errno = 0;
    /* The logger goes first so that MHD never prints on its own. */
    server->daemon = MHD_start_daemon(
        flags, config->port, NULL, NULL, server_on_access, server, MHD_OPTION_EXTERNAL_LOGGER,
        server_on_log, server, MHD_OPTION_SOCK_ADDR, &sockaddr.any, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)server->connections_max, MHD_OPTION_CONNECTION_TIMEOUT, idle_timeout_s,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, config->connections_per_address_max,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONNECTION_MEMORY_BYTES,
        MHD_OPTION_NOTIFY_COMPLETED, server_on_completed, server, MHD_OPTION_NOTIFY_CONNECTION,
        server_on_connection, server, MHD_OPTION_URI_LOG_CALLBACK, server_on_uri, server,
        MHD_OPTION_ARRAY, pool_options, MHD_OPTION_END);
    if (server->daemon == NULL) {
        int saved = errno;
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "could not start http server on %s port %u: %s", address,
                         (unsigned)config->port,
                         saved != 0 ? strerror(saved) : "address in use or not available");
        goto cleanup;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info != NULL && info->port != 0 ? info->port : config->port;
    server->watchdog_started =
        pthread_create(&server->watchdog, NULL, server_watchdog_main, server) == 0;
    if (!server->watchdog_started) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "could not start the http watchdog");
        goto cleanup;
    }
    *out = server;
    server = NULL;

cleanup:
    if (server != NULL) {
        if (server->daemon != NULL) {
            MHD_stop_daemon(server->daemon);
        }
        ss_http_router_destroy(server->router);
        if (mutex_ready) {
            pthread_mutex_destroy(&server->mutex);
        }
        if (server->watches != NULL) {
            pthread_mutex_destroy(&server->watch_mutex);
            free(server->watches);
        }
        free(server);
    }
    return err;
}

uint16_t ss_http_server_port(const ss_http_server_t *server)
{
    return server->port;
}

static void sleep_ms(unsigned ms)
{
    struct timespec delay = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
    }
}

void ss_http_server_stop(ss_http_server_t *server)
{
    static const ss_http_header_t retry_after[] = {{"Retry-After", "1"}};
    if (server == NULL || server->stopped) {
        return;
    }
    server_lock(server);
    atomic_store(&server->stopping, true);
    server_unlock(server);
    server->quiesced_socket = MHD_quiesce_daemon(server->daemon);

    /*
     * Each round removes the head of the list: our completion wins and unlinks it, or someone
     * else's won and unlinked it before releasing the request's mutex, which ours then waits
     * for. No request joins the list once stopping is set. So the list drains within its
     * length, which the connection limit bounds.
     */
    size_t rounds_max = (size_t)server->connections_max + 1;
    size_t round = 0;
    for (; round < rounds_max; round++) {
        server_lock(server);
        ss_http_request_t *req = server->suspended_head;
        if (req != NULL) {
            ss_http_request_ref(req);
        }
        server_unlock(server);
        if (req == NULL) {
            break;
        }
        (void)ss_http_request_complete(req, 503, http_body_stopping, retry_after, 1);
        ss_http_request_release(req);
    }
    SS_ASSERT(round < rounds_max);

    /* Let the answers just queued reach their clients before the connections are closed. */
    unsigned polls_max = server->stop_grace_ms / HTTP_STOP_POLL_MS + 1;
    for (unsigned poll = 0; poll < polls_max; poll++) {
        if (atomic_load(&server->live_requests) == 0) {
            break;
        }
        sleep_ms(HTTP_STOP_POLL_MS);
    }
    long left = atomic_load(&server->live_requests);
    if (left > 0) {
        SS_LOG_WARN("http", "stopping with requests still in flight count=%ld", left);
    }
    MHD_stop_daemon(server->daemon);
    server->daemon = NULL;
    atomic_store(&server->watchdog_stopping, true);
    if (server->watchdog_started) {
        pthread_join(server->watchdog, NULL);
        server->watchdog_started = false;
    }
    if (server->quiesced_socket != MHD_INVALID_SOCKET) {
        close(server->quiesced_socket);
        server->quiesced_socket = MHD_INVALID_SOCKET;
    }
    server->stopped = true;
}

void ss_http_server_destroy(ss_http_server_t *server)
{
    if (server == NULL) {
        return;
    }
    ss_http_server_stop(server);
    ss_http_router_destroy(server->router);
    pthread_mutex_destroy(&server->mutex);
    pthread_mutex_destroy(&server->watch_mutex);
    free(server->watches);
    free(server);
}
