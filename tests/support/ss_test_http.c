/*
 * The tests' HTTP client over libcurl (see ss_test_http.h): one kept-alive easy handle for
 * requests one after another, a multi handle with a bounded number of connections for many at
 * once, and the envelope checks every API test repeats.
 */
#include "ss_test_http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/clock.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HTTP_URL_MAX 1024
#define HTTP_TOKEN_HEADER_MAX 320
/* A reply body larger than this is a bug in the server (or the test). */
#define HTTP_BODY_BYTES_MAX (16u * 1024u * 1024u)
/* One request may wait this long for its answer (the ingress deadline is at most 60 s). */
#define HTTP_REQUEST_TIMEOUT_MS 120000L
#define HTTP_CONNECT_TIMEOUT_MS 5000L
#define HTTP_MANY_IN_FLIGHT_DEFAULT 256
/* ss_test_http_send_many gives up after this long without every answer. */
#define HTTP_MANY_TIMEOUT_MS 240000
#define HTTP_MANY_POLL_MS 100
#define HTTP_SETTLE_POLL_US 100000
#define HTTP_ERROR_BODY_SHOWN_MAX 600

struct ss_test_http {
    char base_url[HTTP_URL_MAX];
    char admin_header[HTTP_TOKEN_HEADER_MAX];
    CURL *easy; /* kept alive between requests, so its connection is reused */
};

static bool curl_ready;

ss_test_http_t *ss_test_http_new(const char *base_url, const char *admin_token)
{
    if (!curl_ready) {
        assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
        curl_ready = true;
    }
    ss_test_http_t *http = calloc(1, sizeof(*http));
    assert_non_null(http);
    assert_true(strlen(base_url) < sizeof(http->base_url));
    snprintf(http->base_url, sizeof(http->base_url), "%s", base_url);
    if (admin_token != NULL) {
        snprintf(http->admin_header, sizeof(http->admin_header), "Authorization: Bearer %s",
                 admin_token);
    }
    http->easy = curl_easy_init();
    assert_non_null(http->easy);
    return http;
}

void ss_test_http_destroy(ss_test_http_t *http)
{
    if (http == NULL) {
        return;
    }
    curl_easy_cleanup(http->easy);
    free(http);
}

const char *ss_test_http_base_url(const ss_test_http_t *http)
{
    return http->base_url;
}

const char *ss_test_http_admin_header(const ss_test_http_t *http)
{
    return http->admin_header;
}

static void request_vinit(ss_test_http_request_t *request, const char *method, const char *body,
                          const char *path_format, va_list arguments)
{
    memset(request, 0, sizeof(*request));
    request->method = method;
    int written = vsnprintf(request->path, sizeof(request->path), path_format, arguments);
    assert_true(written >= 0 && (size_t)written < sizeof(request->path));
    if (body != NULL && strlen(body) < sizeof(request->body_text)) {
        memcpy(request->body_text, body, strlen(body) + 1);
    } else {
        request->body = body;
    }
}

void ss_test_http_request_init(ss_test_http_request_t *request, const char *method,
                               const char *body, const char *path_format, ...)
{
    va_list arguments;
    va_start(arguments, path_format);
    request_vinit(request, method, body, path_format, arguments);
    va_end(arguments);
}

void ss_test_http_reply_free(ss_test_http_reply_t *reply)
{
    if (reply == NULL) {
        return;
    }
    free(reply->body);
    json_decref(reply->json);
    memset(reply, 0, sizeof(*reply));
}

/* ---- one exchange -------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t count, void *opaque)
{
    ss_test_http_reply_t *reply = opaque;
    size_t length = size * count;
    if (reply->body_length + length > HTTP_BODY_BYTES_MAX) {
        return 0; /* curl reports CURLE_WRITE_ERROR */
    }
    char *grown = realloc(reply->body, reply->body_length + length + 1);
    if (grown == NULL) {
        return 0;
    }
    memcpy(grown + reply->body_length, data, length);
    reply->body = grown;
    reply->body_length += length;
    reply->body[reply->body_length] = '\0';
    return length;
}

/* Copies the value of "Name: value\r\n" into out when line has that name. */
static void header_take(const char *line, size_t length, const char *name, char *out,
                        size_t out_size)
{
    size_t name_length = strlen(name);
    if (length <= name_length || strncasecmp(line, name, name_length) != 0 ||
        line[name_length] != ':') {
        return;
    }
    const char *value = line + name_length + 1;
    size_t value_length = length - name_length - 1;
    while (value_length > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        value_length--;
    }
    while (value_length > 0 &&
           (value[value_length - 1] == '\r' || value[value_length - 1] == '\n')) {
        value_length--;
    }
    if (value_length >= out_size) {
        value_length = out_size - 1;
    }
    memcpy(out, value, value_length);
    out[value_length] = '\0';
}

static size_t on_header(char *line, size_t size, size_t count, void *opaque)
{
    ss_test_http_reply_t *reply = opaque;
    size_t length = size * count;
    if (length >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue): forget the previous one's headers. */
        reply->location[0] = reply->allow[0] = reply->retry_after[0] = '\0';
        reply->content_type[0] = reply->x_request_id[0] = '\0';
    }
    header_take(line, length, "X-Request-Id", reply->x_request_id, sizeof(reply->x_request_id));
    header_take(line, length, "Location", reply->location, sizeof(reply->location));
    header_take(line, length, "Allow", reply->allow, sizeof(reply->allow));
    header_take(line, length, "Retry-After", reply->retry_after, sizeof(reply->retry_after));
    header_take(line, length, "Content-Type", reply->content_type, sizeof(reply->content_type));
    return length;
}

/* Sets every option of one exchange on easy; *headers_out is for the caller to free. */
static void easy_prepare(const ss_test_http_t *http, CURL *easy,
                         const ss_test_http_request_t *request, ss_test_http_reply_t *reply,
                         struct curl_slist **headers_out)
{
    memset(reply, 0, sizeof(*reply));
    char url[HTTP_URL_MAX + SS_TEST_HTTP_PATH_MAX];
    snprintf(url, sizeof(url), "%s%s", http->base_url, request->path);
    const char *body = request->body != NULL           ? request->body
                       : request->body_text[0] != '\0' ? request->body_text
                                                       : NULL;
    size_t body_length = 0;
    if (body != NULL) {
        body_length =
            request->body != NULL && request->body_length > 0 ? request->body_length : strlen(body);
    }
    struct curl_slist *headers = NULL;
    /* No "Expect: 100-continue": the server answers whatever comes, in one round trip. */
    headers = curl_slist_append(headers, "Expect:");
    assert_non_null(headers);
    if (body != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        assert_non_null(headers);
    }
    for (size_t i = 0; i < SS_TEST_HTTP_HEADERS_MAX && request->headers[i] != NULL; i++) {
        headers = curl_slist_append(headers, request->headers[i]);
        assert_non_null(headers);
    }
    *headers_out = headers;

    assert_int_equal(curl_easy_setopt(easy, CURLOPT_URL, url), CURLE_OK);
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS), CURLE_OK);
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, HTTP_CONNECT_TIMEOUT_MS),
                     CURLE_OK);
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers), CURLE_OK);
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body), CURLE_OK);
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_WRITEDATA, reply), CURLE_OK);
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header), CURLE_OK);
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_HEADERDATA, reply), CURLE_OK);
    const char *method = request->method != NULL ? request->method : "GET";
    if (strcmp(method, "HEAD") == 0) {
        assert_int_equal(curl_easy_setopt(easy, CURLOPT_NOBODY, 1L), CURLE_OK);
    } else if (strcmp(method, "GET") != 0 || body != NULL) {
        if (body != NULL) {
            assert_int_equal(
                curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_length),
                CURLE_OK);
            assert_int_equal(curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body), CURLE_OK);
        }
        if (strcmp(method, "POST") != 0) {
            assert_int_equal(curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method), CURLE_OK);
        } else if (body == NULL) {
            assert_int_equal(curl_easy_setopt(easy, CURLOPT_POST, 1L), CURLE_OK);
            assert_int_equal(curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L), CURLE_OK);
        }
    }
}

/* After the exchange: the status and the JSON of the body. */
static void reply_finish(CURL *easy, CURLcode code, ss_test_http_reply_t *reply)
{
    reply->transport_error = (int)code;
    if (code != CURLE_OK) {
        return;
    }
    assert_int_equal(curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply->status), CURLE_OK);
    if (reply->body != NULL) {
        reply->json = json_loadb(reply->body, reply->body_length, 0, NULL);
    }
}

bool ss_test_http_try(ss_test_http_t *http, const ss_test_http_request_t *request,
                      ss_test_http_reply_t *reply)
{
    curl_easy_reset(http->easy);
    struct curl_slist *headers = NULL;
    easy_prepare(http, http->easy, request, reply, &headers);
    CURLcode code = curl_easy_perform(http->easy);
    reply_finish(http->easy, code, reply);
    curl_slist_free_all(headers);
    if (code == CURLE_COULDNT_CONNECT) {
        return false;
    }
    if (code != CURLE_OK) {
        fail_msg("%s %s%s: %s", request->method, http->base_url, request->path,
                 curl_easy_strerror(code));
    }
    return true;
}

void ss_test_http_send(ss_test_http_t *http, const ss_test_http_request_t *request,
                       ss_test_http_reply_t *reply)
{
    if (!ss_test_http_try(http, request, reply)) {
        fail_msg("%s %s%s: connection refused", request->method, http->base_url, request->path);
    }
}

void ss_test_http_reset_connection(ss_test_http_t *http)
{
    curl_easy_cleanup(http->easy);
    http->easy = curl_easy_init();
    assert_non_null(http->easy);
}

void ss_test_http_get(ss_test_http_t *http, ss_test_http_reply_t *reply, const char *path_format,
                      ...)
{
    ss_test_http_request_t request;
    va_list arguments;
    va_start(arguments, path_format);
    request_vinit(&request, "GET", NULL, path_format, arguments);
    va_end(arguments);
    ss_test_http_send(http, &request, reply);
}

void ss_test_http_post(ss_test_http_t *http, ss_test_http_reply_t *reply, const char *body,
                       const char *path_format, ...)
{
    ss_test_http_request_t request;
    va_list arguments;
    va_start(arguments, path_format);
    request_vinit(&request, "POST", body, path_format, arguments);
    va_end(arguments);
    ss_test_http_send(http, &request, reply);
}

void ss_test_http_admin(ss_test_http_t *http, ss_test_http_reply_t *reply, const char *method,
                        const char *body, const char *path_format, ...)
{
    ss_test_http_request_t request;
    va_list arguments;
    va_start(arguments, path_format);
    request_vinit(&request, method, body, path_format, arguments);
    va_end(arguments);
    request.headers[0] = http->admin_header;
    ss_test_http_send(http, &request, reply);
}

/* ---- checks -------------------------------------------------------------------------------- */

static const char *body_shown(const ss_test_http_reply_t *reply)
{
    return reply->body != NULL ? reply->body : "(no body)";
}

json_t *ss_test_http_expect(const ss_test_http_reply_t *reply, long status, const char *error_code)
{
    char shown[HTTP_ERROR_BODY_SHOWN_MAX];
    snprintf(shown, sizeof(shown), "%s", body_shown(reply));
    if (reply->status != status) {
        fail_msg("expected HTTP %ld%s%s, got %ld: %s", status, error_code ? " " : "",
                 error_code ? error_code : "", reply->status, shown);
    }
    if (!json_is_object(reply->json)) {
        fail_msg("HTTP %ld: the body is not a JSON object: %s", status, shown);
    }
    json_t *code = json_object_get(reply->json, "code");
    if (!json_is_integer(code) || json_integer_value(code) != status) {
        fail_msg("envelope code differs from the HTTP status %ld: %s", status, shown);
    }
    const char *message = json_string_value(json_object_get(reply->json, "message"));
    if (message == NULL || message[0] == '\0') {
        fail_msg("envelope without a message: %s", shown);
    }
    json_t *error = json_object_get(reply->json, "error");
    if (error_code == NULL && error != NULL) {
        fail_msg("a success carries an error code: %s", shown);
    }
    if (error_code != NULL &&
        (!json_is_string(error) || strcmp(json_string_value(error), error_code) != 0)) {
        fail_msg("expected error %s: %s", error_code, shown);
    }
    if (!reply->settled && reply->content_type[0] != '\0' &&
        strncasecmp(reply->content_type, "application/json", 16) != 0) {
        fail_msg("Content-Type is %s, not application/json", reply->content_type);
    }
    return json_object_get(reply->json, "data");
}

int64_t ss_test_json_int(const json_t *object, const char *name)
{
    json_t *value = json_object_get(object, name);
    if (!json_is_integer(value)) {
        char *text = object != NULL ? json_dumps(object, JSON_COMPACT) : NULL;
        char shown[HTTP_ERROR_BODY_SHOWN_MAX];
        snprintf(shown, sizeof(shown), "%s", text != NULL ? text : "(null)");
        free(text);
        fail_msg("no integer \"%s\" in %s", name, shown);
    }
    return (int64_t)json_integer_value(value);
}

const char *ss_test_json_string(const json_t *object, const char *name)
{
    const char *value = json_string_value(json_object_get(object, name));
    if (value == NULL) {
        char *text = object != NULL ? json_dumps(object, JSON_COMPACT) : NULL;
        char shown[HTTP_ERROR_BODY_SHOWN_MAX];
        snprintf(shown, sizeof(shown), "%s", text != NULL ? text : "(null)");
        free(text);
        fail_msg("no string \"%s\" in %s", name, shown);
    }
    return value;
}

void ss_test_http_settle(ss_test_http_t *http, ss_test_http_reply_t *reply, int timeout_ms)
{
    if (reply->status != 202) {
        return;
    }
    json_t *data = ss_test_http_expect(reply, 202, NULL);
    const char *request_id = ss_test_json_string(data, "requestId");
    char expected_location[SS_TEST_HTTP_PATH_MAX];
    snprintf(expected_location, sizeof(expected_location), "/api/v1/requests/%s", request_id);
    if (strcmp(reply->location, expected_location) != 0) {
        fail_msg("202 Location is \"%s\", expected \"%s\"", reply->location, expected_location);
    }
    char location[SS_TEST_HTTP_PATH_MAX];
    snprintf(location, sizeof(location), "%s", reply->location);
    char id[SS_TEST_HTTP_HEADER_VALUE_MAX];
    snprintf(id, sizeof(id), "%s", request_id);
    int64_t deadline_ms = ss_clock_monotonic_ms() + timeout_ms;
    for (;;) {
        ss_test_http_reply_t poll;
        ss_test_http_get(http, &poll, "%s", location);
        json_t *poll_data = ss_test_http_expect(&poll, 200, NULL);
        const char *status = ss_test_json_string(poll_data, "status");
        assert_string_equal(ss_test_json_string(poll_data, "requestId"), id);
        if (strcmp(status, "DONE") == 0) {
            json_t *result = json_object_get(poll_data, "result");
            if (!json_is_object(result) || !json_is_integer(json_object_get(result, "code"))) {
                fail_msg("DONE without a result envelope: %s", body_shown(&poll));
            }
            ss_test_http_reply_free(reply);
            reply->status = (long)json_integer_value(json_object_get(result, "code"));
            reply->json = json_incref(result);
            reply->body = json_dumps(result, JSON_COMPACT);
            assert_non_null(reply->body);
            reply->body_length = strlen(reply->body);
            reply->settled = true;
            snprintf(reply->request_id, sizeof(reply->request_id), "%s", id);
            ss_test_http_reply_free(&poll);
            return;
        }
        if (strcmp(status, "PENDING") != 0 || !json_is_null(json_object_get(poll_data, "result"))) {
            fail_msg("request %s: expected PENDING with a null result or DONE: %s", id,
                     body_shown(&poll));
        }
        ss_test_http_reply_free(&poll);
        if (ss_clock_monotonic_ms() > deadline_ms) {
            fail_msg("request %s still PENDING after %d ms", id, timeout_ms);
        }
        usleep(HTTP_SETTLE_POLL_US);
    }
}

/* ---- fixtures ------------------------------------------------------------------------------- */

static int64_t admin_create(ss_test_http_t *http, const char *path, json_t *body)
{
    assert_non_null(body);
    char *text = json_dumps(body, JSON_COMPACT);
    assert_non_null(text);
    json_decref(body);
    ss_test_http_reply_t reply;
    ss_test_http_admin(http, &reply, "POST", text, "%s", path);
    free(text);
    int64_t id = ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "id");
    assert_true(id > 0);
    ss_test_http_reply_free(&reply);
    return id;
}

int64_t ss_test_http_user_create(ss_test_http_t *http, const char *nickname)
{
    return admin_create(http, "/api/v1/admin/users", json_pack("{s:s}", "nickname", nickname));
}

int64_t ss_test_http_product_create(ss_test_http_t *http, const char *name, int64_t price,
                                    int64_t stock, const char *sell_status)
{
    json_t *body = json_pack("{s:s, s:I, s:I}", "name", name, "price", (json_int_t)price, "stock",
                             (json_int_t)stock);
    if (sell_status != NULL) {
        json_object_set_new(body, "sellStatus", json_string(sell_status));
    }
    return admin_create(http, "/api/v1/admin/products", body);
}

int64_t ss_test_http_coupon_create(ss_test_http_t *http, const char *name,
                                   const char *discount_rate, int64_t quantity,
                                   const char *expired_at, const char *status)
{
    /* The rate goes in as written: JSON number text, so "0.1" is not a binary double. */
    char text[SS_TEST_HTTP_BODY_TEXT_MAX];
    int written = snprintf(
        text, sizeof(text),
        "{\"name\":\"%s\",\"discountRate\":%s,\"quantity\":%" PRId64 ",\"expiredAt\":\"%s\"%s%s%s}",
        name, discount_rate, quantity, expired_at, status != NULL ? ",\"status\":\"" : "",
        status != NULL ? status : "", status != NULL ? "\"" : "");
    assert_true(written > 0 && (size_t)written < sizeof(text));
    ss_test_http_reply_t reply;
    ss_test_http_admin(http, &reply, "POST", text, "/api/v1/admin/coupons");
    int64_t id = ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "id");
    assert_true(id > 0);
    ss_test_http_reply_free(&reply);
    return id;
}

/* ---- many at once -------------------------------------------------------------------------- */

typedef struct many_transfer {
    CURL *easy;
    struct curl_slist *headers;
} many_transfer_t;

static void many_start(ss_test_http_t *http, CURLM *multi, const ss_test_http_request_t *requests,
                       ss_test_http_reply_t *replies, many_transfer_t *transfers, size_t index)
{
    many_transfer_t *transfer = &transfers[index];
    transfer->easy = curl_easy_init();
    assert_non_null(transfer->easy);
    easy_prepare(http, transfer->easy, &requests[index], &replies[index], &transfer->headers);
    assert_int_equal(curl_easy_setopt(transfer->easy, CURLOPT_PRIVATE, (void *)(uintptr_t)index),
                     CURLE_OK);
    assert_int_equal(curl_multi_add_handle(multi, transfer->easy), CURLM_OK);
}

/* Collects finished transfers; returns how many finished. */
static size_t many_collect(CURLM *multi, const ss_test_http_request_t *requests,
                           ss_test_http_reply_t *replies, many_transfer_t *transfers,
                           const ss_test_http_t *http)
{
    size_t finished = 0;
    int queued = 0;
    CURLMsg *message = NULL;
    while ((message = curl_multi_info_read(multi, &queued)) != NULL) {
        if (message->msg != CURLMSG_DONE) {
            continue;
        }
        void *private_data = NULL;
        assert_int_equal(curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &private_data),
                         CURLE_OK);
        size_t index = (size_t)(uintptr_t)private_data;
        CURLcode code = message->data.result;
        reply_finish(message->easy_handle, code, &replies[index]);
        if (code != CURLE_OK) {
            fail_msg("%s %s%s (request %zu): %s", requests[index].method, http->base_url,
                     requests[index].path, index, curl_easy_strerror(code));
        }
        assert_int_equal(curl_multi_remove_handle(multi, message->easy_handle), CURLM_OK);
        curl_easy_cleanup(transfers[index].easy);
        curl_slist_free_all(transfers[index].headers);
        transfers[index].easy = NULL;
        transfers[index].headers = NULL;
        finished++;
    }
    return finished;
}

void ss_test_http_send_many(ss_test_http_t *http, const ss_test_http_request_t *requests,
                            size_t count, const ss_test_http_many_config_t *config,
                            ss_test_http_reply_t *replies, ss_test_http_many_stats_t *stats)
{
    size_t in_flight_max = config != NULL && config->in_flight_max > 0
                               ? config->in_flight_max
                               : HTTP_MANY_IN_FLIGHT_DEFAULT;
    CURLM *multi = curl_multi_init();
    assert_non_null(multi);
    /* No more connections than requests in flight: idle ones would count on the server. */
    assert_int_equal(curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)in_flight_max),
                     CURLM_OK);
    assert_int_equal(curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)in_flight_max), CURLM_OK);
    many_transfer_t *transfers = calloc(count > 0 ? count : 1, sizeof(*transfers));
    assert_non_null(transfers);

    size_t started = 0, completed = 0, in_flight_peak = 0;
    int64_t start_ms = ss_clock_monotonic_ms();
    int64_t deadline_ms = start_ms + HTTP_MANY_TIMEOUT_MS;
    while (completed < count) {
        while (started < count && started - completed < in_flight_max) {
            many_start(http, multi, requests, replies, transfers, started);
            started++;
        }
        if (started - completed > in_flight_peak) {
            in_flight_peak = started - completed;
        }
        int running = 0;
        assert_int_equal(curl_multi_perform(multi, &running), CURLM_OK);
        size_t finished = many_collect(multi, requests, replies, transfers, http);
        for (size_t i = 0; i < finished; i++) {
            completed++;
            if (config != NULL && config->on_progress != NULL) {
                config->on_progress(config->opaque, completed);
            }
        }
        if (completed < count && finished == 0) {
            if (ss_clock_monotonic_ms() > deadline_ms) {
                fail_msg("%zu of %zu requests still unanswered after %d ms", count - completed,
                         count, HTTP_MANY_TIMEOUT_MS);
            }
            assert_int_equal(curl_multi_poll(multi, NULL, 0, HTTP_MANY_POLL_MS, NULL), CURLM_OK);
        }
    }
    if (stats != NULL) {
        stats->elapsed_ms = ss_clock_monotonic_ms() - start_ms;
        stats->in_flight_peak = in_flight_peak;
    }
    free(transfers);
    assert_int_equal(curl_multi_cleanup(multi), CURLM_OK);
}
