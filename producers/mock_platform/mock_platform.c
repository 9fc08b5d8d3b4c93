/*
 * The mock data platform: an in-memory store of received orders by Idempotency-Key, the
 * failure modes tests switch between, the HTTP handlers, and the timer thread that answers
 * stalled requests. See mock_platform.h for the endpoints.
 *
 * The store is a jansson array of entries in first-seen order plus an object indexing the same
 * entries by key; both are touched only under the mutex, and GET /received serialises under it
 * too, so no reader sees a half-updated entry.
 */
#include "mock_internal.h"

#include "ss/clock.h"
#include "ss/json.h"
#include "ss/log.h"
#include "ss/ops_http.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const mock_mode_names[3] = {"ok", "fail", "stall"};

void ss_mock_platform_config_options(ss_config_option_t *options, ss_mock_platform_config_t *config)
{
    const ss_config_option_t table[SS_MOCK_PLATFORM_CONFIG_OPTION_COUNT] = {
        {"--host", "SS_MOCK_PLATFORM_HOST", SS_CONFIG_STRING, "127.0.0.1", 2, 64,
         "numeric IPv4 or IPv6 address to listen on", &config->host},
        {"--port", "SS_MOCK_PLATFORM_PORT", SS_CONFIG_INT, "18090", 1, 65535, "HTTP port",
         &config->port},
        {"--threads", "SS_MOCK_PLATFORM_THREADS", SS_CONFIG_INT, "2", 1, SS_HTTP_THREADS_MAX,
         "HTTP threads (a stalled request holds none)", &config->threads},
        {"--orders-max", "SS_MOCK_PLATFORM_ORDERS_MAX", SS_CONFIG_INT, "1000000", 1,
         SS_MOCK_PLATFORM_ORDERS_MAX, "keys kept at most; a new key beyond is answered 507",
         &config->orders_max},
        {"--log-level", "SS_LOG_LEVEL", SS_CONFIG_STRING, "info", 1, 10,
         "debug, info, warn, error or off", &config->log_level},
    };
    memcpy(options, table, sizeof(table));
}

/* ---- answers --------------------------------------------------------------------------------- */

char *mock_error_body(const char *message)
{
    json_t *object = json_pack("{s:s}", "error", message);
    char *text = object != NULL ? json_dumps(object, JSON_COMPACT) : NULL;
    json_decref(object);
    return text;
}

void mock_respond(ss_http_request_t *req, int status, char *body)
{
    if (body == NULL) {
        (void)ss_http_respond_json(req, 500, "{\"error\":\"out of memory\"}");
        return;
    }
    (void)ss_http_respond_json(req, status, body);
    free(body);
}

/* ---- the store (callers hold mock->mutex) ------------------------------------------------------
 */

/* The entry of key, created when absent; NULL when the store is full or memory ran out. */
static json_t *store_entry(ss_mock_platform_t *mock, const char *key, bool *full)
{
    *full = false;
    json_t *entry = json_object_get(mock->index, key);
    if (entry != NULL) {
        return entry;
    }
    if (json_array_size(mock->orders) >= mock->orders_max) {
        *full = true;
        return NULL;
    }
    entry = json_pack("{s:s, s:i, s:i, s:n, s:n, s:n}", "key", key, "deliveries", 0, "attempts", 0,
                      "body", "requestId", "traceparent");
    if (entry == NULL) {
        return NULL;
    }
    if (json_object_set(mock->index, key, entry) != 0) {
        json_decref(entry);
        return NULL;
    }
    if (json_array_append_new(mock->orders, entry) != 0) {
        json_object_del(mock->index, key);
        return NULL;
    }
    return entry;
}

static void entry_increment(json_t *entry, const char *field)
{
    json_t *counter = json_object_get(entry, field);
    (void)json_integer_set(counter, json_integer_value(counter) + 1);
}

/* value (NULL for none) into the entry's field, as sent (null when absent). */
static void entry_text_keep(json_t *entry, const char *field, const char *value)
{
    json_t *text = value != NULL ? json_string(value) : NULL; /* NULL for non-UTF-8 too */
    (void)json_object_set_new(entry, field, text != NULL ? text : json_null());
}

bool mock_attempt_count(ss_mock_platform_t *mock, const char *key, bool *full)
{
    json_t *entry = store_entry(mock, key, full);
    if (entry != NULL) {
        entry_increment(entry, "attempts");
        mock->attempts++;
    }
    return entry != NULL;
}

int mock_item_accept(ss_mock_platform_t *mock, const char *key, json_t *body,
                     const char *request_id, const char *traceparent)
{
    int status = 0;
    bool full = false;
    pthread_mutex_lock(&mock->mutex);
    /* Looked up again: DELETE /received may have cleared the store during a stall. */
    json_t *entry = store_entry(mock, key, &full);
    if (entry == NULL) {
        status = full ? 507 : 500;
    } else if (json_object_get(mock->refused, key) != NULL) {
        status = 422;
    } else if (json_is_null(json_object_get(entry, "body"))) {
        status = json_object_set_new(entry, "body", body) == 0 ? 201 : 500;
        body = NULL; /* stolen, also on failure */
        if (status == 201) {
            entry_text_keep(entry, "requestId", request_id);
            entry_text_keep(entry, "traceparent", traceparent);
            entry_increment(entry, "deliveries");
            mock->unique++;
            mock->total++;
        }
    } else {
        entry_increment(entry, "deliveries");
        mock->total++;
        status = 200;
    }
    pthread_mutex_unlock(&mock->mutex);
    json_decref(body);
    return status;
}

const char *mock_item_error(int status)
{
    switch (status) {
    case 422:
        return "refused on purpose (control refuse)";
    case 507:
        return "the mock platform stores no more orders";
    default:
        return "out of memory";
    }
}

/*
 * Accepts the body of a POST /orders whose key was counted on arrival. Returns the status and
 * sets *body_out to a malloc'd answer.
 */
static int orders_accept(ss_mock_platform_t *mock, ss_http_request_t *req, char **body_out)
{
    char errstr[MOCK_ERRSTR_SIZE];
    size_t length = 0;
    const char *text = ss_http_request_body(req, &length);
    json_t *body = NULL;
    if (ss_json_parse_object(text, length, &body, errstr, sizeof(errstr)) != SS_OK) {
        *body_out = mock_error_body(errstr);
        return 400;
    }
    int status = mock_item_accept(mock, ss_http_request_header(req, "Idempotency-Key"), body,
                                  ss_http_request_header(req, "X-Request-Id"),
                                  ss_http_request_header(req, "traceparent"));
    *body_out = status == 201   ? strdup("{\"duplicate\":false}")
                : status == 200 ? strdup("{\"duplicate\":true}")
                                : mock_error_body(mock_item_error(status));
    return status;
}

/* ---- stalls ------------------------------------------------------------------------------------
 */

bool mock_stall_enqueue(ss_mock_platform_t *mock, ss_http_request_t *req, int stall_ms, bool batch)
{
    bool queued = false;
    pthread_mutex_lock(&mock->stall_mutex);
    if (!mock->stopping && mock->stalled_count < SS_MOCK_PLATFORM_STALLED_MAX) {
        mock->stalled[mock->stalled_count++] =
            (mock_stalled_t){req, ss_clock_monotonic_ms() + stall_ms, batch};
        queued = true;
        pthread_cond_signal(&mock->stall_cond);
    }
    pthread_mutex_unlock(&mock->stall_mutex);
    return queued;
}

/* Answers a stalled request as mode ok would, then gives our reference back. */
static void stall_finish(ss_mock_platform_t *mock, ss_http_request_t *req)
{
    char *body = NULL;
    int status = orders_accept(mock, req, &body);
    if (body == NULL) {
        (void)ss_http_request_complete(req, 500, "{\"error\":\"out of memory\"}", NULL, 0);
    } else {
        (void)ss_http_request_complete(req, status, body, NULL, 0);
        free(body);
    }
    ss_http_request_release(req);
}

static void *stall_timer_main(void *opaque)
{
    ss_mock_platform_t *mock = opaque;
    pthread_mutex_lock(&mock->stall_mutex);
    while (!mock->stopping) {
        if (mock->stalled_count == 0) {
            pthread_cond_wait(&mock->stall_cond, &mock->stall_mutex);
            continue;
        }
        size_t earliest = 0;
        for (size_t i = 1; i < mock->stalled_count; i++) {
            if (mock->stalled[i].due_ms < mock->stalled[earliest].due_ms) {
                earliest = i;
            }
        }
        int64_t due_ms = mock->stalled[earliest].due_ms;
        if (due_ms > ss_clock_monotonic_ms()) {
            struct timespec until = {.tv_sec = (time_t)(due_ms / 1000),
                                     .tv_nsec = (long)(due_ms % 1000) * 1000000L};
            pthread_cond_timedwait(&mock->stall_cond, &mock->stall_mutex, &until);
            continue;
        }
        mock_stalled_t due = mock->stalled[earliest];
        mock->stalled[earliest] = mock->stalled[--mock->stalled_count];
        pthread_mutex_unlock(&mock->stall_mutex);
        if (due.batch) {
            mock_batch_finish(mock, due.req);
        } else {
            stall_finish(mock, due.req);
        }
        pthread_mutex_lock(&mock->stall_mutex);
    }
    pthread_mutex_unlock(&mock->stall_mutex);
    return NULL;
}

/* ---- handlers ----------------------------------------------------------------------------------
 */

bool mock_mode_answer(ss_mock_platform_t *mock, ss_http_request_t *req, bool counted, bool full,
                      bool batch)
{
    pthread_mutex_lock(&mock->mutex);
    mock_mode_t mode = mock->mode;
    int fail_status = mock->fail_status;
    int stall_ms = mock->stall_ms;
    pthread_mutex_unlock(&mock->mutex);
    if (!counted) {
        mock_respond(
            req, full ? 507 : 500,
            mock_error_body(full ? "the mock platform stores no more orders" : "out of memory"));
        return false;
    }
    if (mode == MOCK_MODE_FAIL) {
        mock_respond(req, fail_status, mock_error_body("failing on purpose (mode fail)"));
        return false;
    }
    if (mode == MOCK_MODE_STALL && stall_ms > 0) {
        ss_http_request_suspend(req);
        if (!mock_stall_enqueue(mock, req, stall_ms, batch)) {
            (void)ss_http_request_complete(req, 503, "{\"error\":\"too many stalled requests\"}",
                                           NULL, 0);
            ss_http_request_release(req);
        }
        return false;
    }
    return true;
}

static void orders_post(ss_http_request_t *req, void *context)
{
    ss_mock_platform_t *mock = context;
    const char *key = ss_http_request_header(req, "Idempotency-Key");
    if (key == NULL || key[0] == '\0' || strlen(key) > SS_MOCK_PLATFORM_KEY_BYTES_MAX) {
        mock_respond(req, 400,
                     mock_error_body("an Idempotency-Key header of 1 to 256 bytes is required"));
        return;
    }
    bool full = false;
    pthread_mutex_lock(&mock->mutex);
    bool counted = mock_attempt_count(mock, key, &full);
    pthread_mutex_unlock(&mock->mutex);
    SS_LOG_DEBUG(SS_MOCK_PLATFORM_COMPONENT, "order key=%s", key);
    if (!mock_mode_answer(mock, req, counted, full, false)) {
        return;
    }
    char *body = NULL;
    int status = orders_accept(mock, req, &body);
    mock_respond(req, status, body);
}

/* control's "refuse": an array of keys as a set (NULL when absent, an empty set then). */
static ss_err_t refused_read(const json_t *control, json_t **refused_out, char *errstr,
                             size_t errstr_size)
{
    json_t *keys = NULL;
    *refused_out = NULL;
    ss_err_t err = ss_json_get_array(control, "refuse", false, 0, SS_MOCK_PLATFORM_REFUSE_MAX,
                                     &keys, errstr, errstr_size);
    json_t *refused = err == SS_OK ? json_object() : NULL;
    if (err == SS_OK && refused == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    for (size_t i = 0; err == SS_OK && i < json_array_size(keys); i++) {
        const char *key = json_string_value(json_array_get(keys, i));
        if (key == NULL || key[0] == '\0') {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                             "refuse[%zu] must be a non-empty string", i);
        } else if (json_object_set_new(refused, key, json_true()) != 0) {
            err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
    }
    if (err != SS_OK) {
        json_decref(refused);
        return err;
    }
    *refused_out = refused;
    return SS_OK;
}

/* What a POST /control asks for, checked. */
typedef struct mock_control {
    size_t mode;
    long long status;
    long long stall_ms;
    bool batch;
    json_t *refused;
} mock_control_t;

static ss_err_t control_read(const json_t *control, mock_control_t *out, char *errstr,
                             size_t errstr_size)
{
    static const char *const fields[] = {"mode", "status", "stallMs", "refuse", "batch"};
    *out = (mock_control_t){
        .status = MOCK_FAIL_STATUS_DEFAULT, .stall_ms = MOCK_STALL_MS_DEFAULT, .batch = true};
    ss_err_t err = ss_json_check_fields(control, fields, sizeof(fields) / sizeof(fields[0]), errstr,
                                        errstr_size);
    if (err == SS_OK) {
        err = ss_json_get_enum(control, "mode", true, mock_mode_names,
                               sizeof(mock_mode_names) / sizeof(mock_mode_names[0]), &out->mode,
                               errstr, errstr_size);
    }
    if (err == SS_OK) {
        err =
            ss_json_get_int(control, "status", false, 400, 599, &out->status, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(control, "stallMs", false, 0, SS_MOCK_PLATFORM_STALL_MS_MAX,
                              &out->stall_ms, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_bool(control, "batch", false, &out->batch, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = refused_read(control, &out->refused, errstr, errstr_size);
    }
    return err;
}

static void control_post(ss_http_request_t *req, void *context)
{
    ss_mock_platform_t *mock = context;
    char errstr[MOCK_ERRSTR_SIZE];
    size_t length = 0;
    const char *text = ss_http_request_body(req, &length);
    json_t *control = NULL;
    mock_control_t asked;
    ss_err_t err = ss_json_parse_object(text, length, &control, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = control_read(control, &asked, errstr, sizeof(errstr));
    }
    json_decref(control);
    if (err != SS_OK) {
        mock_respond(req, 400, mock_error_body(errstr));
        return;
    }
    pthread_mutex_lock(&mock->mutex);
    mock->mode = (mock_mode_t)asked.mode;
    mock->fail_status = (int)asked.status;
    mock->stall_ms = (int)asked.stall_ms;
    mock->batch_off = !asked.batch;
    json_decref(mock->refused);
    mock->refused = asked.refused;
    pthread_mutex_unlock(&mock->mutex);
    SS_LOG_INFO(SS_MOCK_PLATFORM_COMPONENT,
                "control mode=%s status=%lld stall_ms=%lld batch=%s refused=%zu",
                mock_mode_names[asked.mode], asked.status, asked.stall_ms,
                asked.batch ? "on" : "off", json_object_size(asked.refused));
    json_t *answer =
        json_pack("{s:s, s:I, s:I, s:b, s:I}", "mode", mock_mode_names[asked.mode], "status",
                  (json_int_t)asked.status, "stallMs", (json_int_t)asked.stall_ms, "batch",
                  asked.batch, "refused", (json_int_t)json_object_size(asked.refused));
    char *body = answer != NULL ? json_dumps(answer, JSON_COMPACT) : NULL;
    json_decref(answer);
    mock_respond(req, 200, body);
}

static void received_get(ss_http_request_t *req, void *context)
{
    ss_mock_platform_t *mock = context;
    char *body = NULL;
    pthread_mutex_lock(&mock->mutex);
    json_t *answer =
        json_pack("{s:O, s:I, s:I, s:I, s:I}", "orders", mock->orders, "unique",
                  (json_int_t)mock->unique, "total", (json_int_t)mock->total, "attempts",
                  (json_int_t)mock->attempts, "batches", (json_int_t)mock->batches);
    if (answer != NULL) {
        body = json_dumps(answer, JSON_COMPACT);
    }
    pthread_mutex_unlock(&mock->mutex);
    json_decref(answer);
    mock_respond(req, 200, body);
}

/* One key's entry (what /received lists for it), or 404: a check that needs no whole list. */
static void received_one(ss_http_request_t *req, void *context)
{
    ss_mock_platform_t *mock = context;
    const char *key = ss_http_request_param(req, "key");
    char *body = NULL;
    pthread_mutex_lock(&mock->mutex);
    json_t *entry = key != NULL ? json_object_get(mock->index, key) : NULL;
    if (entry != NULL) {
        body = json_dumps(entry, JSON_COMPACT);
    }
    pthread_mutex_unlock(&mock->mutex);
    mock_respond(req, entry != NULL ? 200 : 404,
                 entry != NULL ? body : mock_error_body("nothing received under that key"));
}

static void received_delete(ss_http_request_t *req, void *context)
{
    ss_mock_platform_t *mock = context;
    pthread_mutex_lock(&mock->mutex);
    size_t cleared = json_array_size(mock->orders);
    (void)json_array_clear(mock->orders);
    (void)json_object_clear(mock->index);
    mock->unique = 0;
    mock->total = 0;
    mock->attempts = 0;
    mock->batches = 0;
    pthread_mutex_unlock(&mock->mutex);
    SS_LOG_INFO(SS_MOCK_PLATFORM_COMPONENT, "cleared orders=%zu", cleared);
    json_t *answer = json_pack("{s:I}", "cleared", (json_int_t)cleared);
    char *body = answer != NULL ? json_dumps(answer, JSON_COMPACT) : NULL;
    json_decref(answer);
    mock_respond(req, 200, body);
}

static void health_get(ss_http_request_t *req, void *context)
{
    (void)context;
    (void)ss_http_respond_json(req, 200, "{\"status\":\"UP\"}");
}

/* No dependency to wait for: ready while it runs. */
static void ready_get(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_ops_http_respond_ready(req, NULL, NULL);
}

static void metrics_get(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_ops_http_respond_metrics(req);
}

const ss_http_route_t ss_mock_platform_routes[] = {
    {SS_HTTP_METHOD_POST, "/orders", orders_post},
    {SS_HTTP_METHOD_POST, "/orders/batch", mock_batch_post},
    {SS_HTTP_METHOD_POST, "/control", control_post},
    {SS_HTTP_METHOD_GET, "/received", received_get},
    {SS_HTTP_METHOD_GET, "/received/{key}", received_one},
    {SS_HTTP_METHOD_DELETE, "/received", received_delete},
    {SS_HTTP_METHOD_GET, "/health", health_get},
    {SS_HTTP_METHOD_GET, "/ready", ready_get},
    {SS_HTTP_METHOD_GET, "/metrics", metrics_get},
};
const size_t ss_mock_platform_routes_count =
    sizeof(ss_mock_platform_routes) / sizeof(ss_mock_platform_routes[0]);

/* ---- life cycle --------------------------------------------------------------------------------
 */

ss_err_t ss_mock_platform_new(size_t orders_max, ss_mock_platform_t **out, char *errstr,
                              size_t errstr_size)
{
    *out = NULL;
    if (orders_max < 1 || orders_max > SS_MOCK_PLATFORM_ORDERS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "orders_max must be between 1 and %d", SS_MOCK_PLATFORM_ORDERS_MAX);
    }
    ss_mock_platform_t *mock = calloc(1, sizeof(*mock));
    if (mock == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for the mock");
    }
    mock->orders_max = orders_max;
    mock->mode = MOCK_MODE_OK;
    mock->fail_status = MOCK_FAIL_STATUS_DEFAULT;
    mock->stall_ms = MOCK_STALL_MS_DEFAULT;
    pthread_mutex_init(&mock->mutex, NULL);
    pthread_mutex_init(&mock->stall_mutex, NULL);
    mock->orders = json_array();
    mock->index = json_object();
    mock->refused = json_object();
    if (mock->orders == NULL || mock->index == NULL || mock->refused == NULL) {
        ss_mock_platform_destroy(mock);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for the store");
    }
    pthread_condattr_t attributes;
    int rc = pthread_condattr_init(&attributes);
    if (rc == 0) {
        rc = pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
        if (rc == 0) {
            rc = pthread_cond_init(&mock->stall_cond, &attributes);
        }
        pthread_condattr_destroy(&attributes);
    }
    if (rc != 0) {
        ss_mock_platform_destroy(mock);
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "could not create a condition variable: %s", strerror(rc));
    }
    mock->stall_cond_ready = true;
    rc = pthread_create(&mock->timer, NULL, stall_timer_main, mock);
    if (rc != 0) {
        ss_mock_platform_destroy(mock);
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "could not start the stall timer thread: %s", strerror(rc));
    }
    mock->timer_started = true;
    *out = mock;
    return SS_OK;
}

void ss_mock_platform_destroy(ss_mock_platform_t *mock)
{
    if (mock == NULL) {
        return;
    }
    if (mock->timer_started) {
        pthread_mutex_lock(&mock->stall_mutex);
        mock->stopping = true;
        pthread_cond_signal(&mock->stall_cond);
        pthread_mutex_unlock(&mock->stall_mutex);
        pthread_join(mock->timer, NULL);
    }
    /* The thread is gone: the queue is ours alone now. */
    for (size_t i = 0; i < mock->stalled_count; i++) {
        (void)ss_http_request_complete(mock->stalled[i].req, 503,
                                       "{\"error\":\"the mock platform is stopping\"}", NULL, 0);
        ss_http_request_release(mock->stalled[i].req);
    }
    mock->stalled_count = 0;
    if (mock->stall_cond_ready) {
        pthread_cond_destroy(&mock->stall_cond);
    }
    json_decref(mock->orders);
    json_decref(mock->index);
    json_decref(mock->refused);
    pthread_mutex_destroy(&mock->stall_mutex);
    pthread_mutex_destroy(&mock->mutex);
    free(mock);
}
