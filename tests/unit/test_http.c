/*
 * Unit tests for lib/src/http.c. The first half needs no socket: routing, parsing, the body
 * limit and the suspend/complete state machine, on requests made by ss_http_request_create().
 * The second half runs a real server on 127.0.0.1 with a free port and talks to it with
 * libcurl (and one raw socket): the 413 envelope over the wire, completion from another
 * thread, 200 concurrent suspended requests, stop answering 503, a client that leaves while
 * its request is suspended. No assertion depends on timing: waits are on condition variables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TEST_PARKED_MAX 256
#define TEST_CONCURRENT_REQUESTS 200
#define TEST_BODY_CAPTURE_MAX 4096

static const char not_found_envelope[] =
    "{\"code\":404,\"message\":\"no such endpoint\",\"error\":\"NOT_FOUND\"}";

/* ---- handlers and the shared test context ---------------------------------------------------- */

typedef struct test_context {
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    ss_http_request_t *parked[TEST_PARKED_MAX];
    size_t parked_count;
    size_t freed_count; /* user_free calls: one per request whose last reference went */
    size_t last_body_length;
} test_context_t;

static void context_init(test_context_t *context)
{
    memset(context, 0, sizeof(*context));
    assert_int_equal(pthread_mutex_init(&context->mutex, NULL), 0);
    assert_int_equal(pthread_cond_init(&context->changed, NULL), 0);
}

static void context_destroy(test_context_t *context)
{
    pthread_cond_destroy(&context->changed);
    pthread_mutex_destroy(&context->mutex);
}

static void context_wait_parked(test_context_t *context, size_t count)
{
    pthread_mutex_lock(&context->mutex);
    while (context->parked_count < count) {
        pthread_cond_wait(&context->changed, &context->mutex);
    }
    pthread_mutex_unlock(&context->mutex);
}

static void context_wait_freed(test_context_t *context, size_t count)
{
    pthread_mutex_lock(&context->mutex);
    while (context->freed_count < count) {
        pthread_cond_wait(&context->changed, &context->mutex);
    }
    pthread_mutex_unlock(&context->mutex);
}

static void on_user_free(void *user)
{
    test_context_t *context = user;
    pthread_mutex_lock(&context->mutex);
    context->freed_count++;
    pthread_cond_broadcast(&context->changed);
    pthread_mutex_unlock(&context->mutex);
}

static void handle_user_balance(ss_http_request_t *req, void *context)
{
    (void)context;
    const char *body = ss_http_request_sprintf(req, "{\"route\":\"balance\",\"id\":\"%s\"}",
                                               ss_http_request_param(req, "id"));
    ss_http_respond_json(req, 200, body);
}

static void handle_charge(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_http_respond_json(req, 200, "{\"route\":\"charge\"}");
}

static void handle_products(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_http_respond_json(req, 200, "{\"route\":\"products\"}");
}

static void handle_popular(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_http_respond_json(req, 200, "{\"route\":\"popular\"}");
}

static void handle_product(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_http_respond_json(req, 200, "{\"route\":\"product\"}");
}

static void handle_root(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_http_respond_json(req, 200, "{\"route\":\"root\"}");
}

static void handle_silently(ss_http_request_t *req, void *context)
{
    (void)req;
    (void)context;
}

static void handle_body_length(ss_http_request_t *req, void *context)
{
    test_context_t *test = context;
    size_t length = 0;
    (void)ss_http_request_body(req, &length);
    if (test != NULL) {
        test->last_body_length = length;
    }
    ss_http_respond_json(req, 200, ss_http_request_sprintf(req, "{\"length\":%zu}", length));
}

/* Suspends and hands the request (with the reference suspend gave) to the test. */
static void handle_park(ss_http_request_t *req, void *context)
{
    test_context_t *test = context;
    ss_http_request_user_set(req, test, on_user_free);
    ss_http_request_suspend(req);
    pthread_mutex_lock(&test->mutex);
    assert_true(test->parked_count < TEST_PARKED_MAX);
    test->parked[test->parked_count++] = req;
    pthread_cond_broadcast(&test->changed);
    pthread_mutex_unlock(&test->mutex);
}

/* Suspends, then completes before returning, as a very fast results thread would. */
static void handle_suspend_and_complete_at_once(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_http_request_suspend(req);
    assert_true(ss_http_request_complete(req, 201, "{\"fast\":true}", NULL, 0));
    ss_http_request_release(req);
}

static void handle_answer_twice(ss_http_request_t *req, void *context)
{
    (void)context;
    assert_int_equal(ss_http_respond_json(req, 200, "{\"first\":true}"), SS_OK);
    assert_int_equal(ss_http_respond_json(req, 200, "{\"second\":true}"), SS_ERR_INVALID);
}

static void handle_bad_header(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_http_header_t header = {"Location", "/x\r\nSet-Cookie: evil=1"};
    assert_int_equal(ss_http_respond_json_headers(req, 202, "{}", &header, 1), SS_ERR_INVALID);
}

static void handle_created(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_http_header_t header = {"Location", "/api/v1/requests/7"};
    ss_http_respond_json_headers(req, 202, "{\"code\":202}", &header, 1);
}

static void handle_html(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_http_header_t headers[] = {{"content-type", "text/html; charset=utf-8"},
                                  {"Cache-Control", "no-cache"}};
    ss_http_respond_json_headers(req, 200, "<!DOCTYPE html><p>hi</p>", headers, 2);
}

/* A mutation that lends its own id, as the ingress's commands do. */
static void handle_lend(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_http_request_id_offer(req, "7-1700000000000-42");
    ss_http_respond_json(req, 200, "{}");
}

static const ss_http_route_t test_routes[] = {
    {SS_HTTP_METHOD_POST, "/lend", handle_lend},
    {SS_HTTP_METHOD_GET, "/api/v1/users/{id}/balance", handle_user_balance},
    {SS_HTTP_METHOD_POST, "/api/v1/users/{id}/balance/charge", handle_charge},
    {SS_HTTP_METHOD_GET, "/api/v1/products", handle_products},
    {SS_HTTP_METHOD_GET, "/api/v1/products/{id}", handle_product},
    {SS_HTTP_METHOD_GET, "/api/v1/products/popular", handle_popular},
    {SS_HTTP_METHOD_PATCH, "/api/v1/products/{id}", handle_product},
    {SS_HTTP_METHOD_GET, "/", handle_root},
    {SS_HTTP_METHOD_GET, "/silent", handle_silently},
    {SS_HTTP_METHOD_POST, "/echo-length", handle_body_length},
    {SS_HTTP_METHOD_GET, "/park", handle_park},
    {SS_HTTP_METHOD_POST, "/park", handle_park},
    {SS_HTTP_METHOD_GET, "/fast", handle_suspend_and_complete_at_once},
    {SS_HTTP_METHOD_GET, "/twice", handle_answer_twice},
    {SS_HTTP_METHOD_GET, "/bad-header", handle_bad_header},
    {SS_HTTP_METHOD_POST, "/created", handle_created},
    {SS_HTTP_METHOD_GET, "/page", handle_html},
};
#define TEST_ROUTES_COUNT (sizeof(test_routes) / sizeof(test_routes[0]))

/* ---- requests without a socket ------------------------------------------------------------------
 */

typedef struct router_fixture {
    ss_http_router_t *router;
    test_context_t context;
} router_fixture_t;

static int router_setup(void **state)
{
    router_fixture_t *fixture = calloc(1, sizeof(*fixture));
    assert_non_null(fixture);
    context_init(&fixture->context);
    char errstr[256];
    assert_int_equal(ss_http_router_create(test_routes, TEST_ROUTES_COUNT, &fixture->context,
                                           &fixture->router, errstr, sizeof(errstr)),
                     SS_OK);
    *state = fixture;
    return 0;
}

static int router_teardown(void **state)
{
    router_fixture_t *fixture = *state;
    ss_http_router_destroy(fixture->router);
    context_destroy(&fixture->context);
    free(fixture);
    return 0;
}

static ss_http_request_t *dispatch_full(router_fixture_t *fixture, const char *method,
                                        const char *target, const ss_http_header_t *headers,
                                        size_t headers_count, const char *body, size_t body_length)
{
    ss_http_request_t *req = NULL;
    char errstr[256];
    assert_int_equal(ss_http_request_create(method, target, headers, headers_count, body,
                                            body_length, &req, errstr, sizeof(errstr)),
                     SS_OK);
    ss_http_router_dispatch(fixture->router, req);
    return req;
}

static ss_http_request_t *dispatch(router_fixture_t *fixture, const char *method,
                                   const char *target)
{
    return dispatch_full(fixture, method, target, NULL, 0, NULL, 0);
}

static void test_route_parameter_is_captured(void **state)
{
    ss_http_request_t *req = dispatch(*state, "GET", "/api/v1/users/42/balance");
    assert_int_equal(ss_http_request_response_status(req), 200);
    assert_string_equal(ss_http_request_response_body(req),
                        "{\"route\":\"balance\",\"id\":\"42\"}");
    int64_t id = 0;
    assert_int_equal(ss_http_request_param_id(req, "id", &id), SS_OK);
    assert_int_equal(id, 42);
    assert_string_equal(ss_http_request_path(req), "/api/v1/users/42/balance");
    ss_http_request_finish(req);
}

static void test_trailing_slash_matches_the_route_without_it(void **state)
{
    ss_http_request_t *req = dispatch(*state, "GET", "/api/v1/products/");
    assert_int_equal(ss_http_request_response_status(req), 200);
    assert_string_equal(ss_http_request_response_body(req), "{\"route\":\"products\"}");
    ss_http_request_finish(req);

    req = dispatch(*state, "GET", "/api/v1/products//");
    assert_int_equal(ss_http_request_response_status(req), 404);
    ss_http_request_finish(req);
}

static void test_root_path_matches_only_the_root_route(void **state)
{
    ss_http_request_t *req = dispatch(*state, "GET", "/");
    assert_string_equal(ss_http_request_response_body(req), "{\"route\":\"root\"}");
    ss_http_request_finish(req);
    req = dispatch(*state, "GET", "/?x=1");
    assert_string_equal(ss_http_request_response_body(req), "{\"route\":\"root\"}");
    ss_http_request_finish(req);
}

static void test_literal_segment_beats_a_parameter(void **state)
{
    ss_http_request_t *req = dispatch(*state, "GET", "/api/v1/products/popular");
    assert_string_equal(ss_http_request_response_body(req), "{\"route\":\"popular\"}");
    ss_http_request_finish(req);

    req = dispatch(*state, "GET", "/api/v1/products/17");
    assert_string_equal(ss_http_request_response_body(req), "{\"route\":\"product\"}");
    ss_http_request_finish(req);
}

static void test_unknown_path_is_404_with_the_envelope(void **state)
{
    const char *targets[] = {"/api/v1/nothing", "/api/v1/users//balance", "/api/v1/users/1",
                             "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        ss_http_request_t *req = dispatch(*state, "GET", targets[i]);
        assert_int_equal(ss_http_request_response_status(req), 404);
        assert_string_equal(ss_http_request_response_body(req), not_found_envelope);
        ss_http_request_finish(req);
    }
}

static void test_known_path_with_wrong_method_is_405_with_allow(void **state)
{
    ss_http_request_t *req = dispatch(*state, "DELETE", "/api/v1/products/9");
    assert_int_equal(ss_http_request_response_status(req), 405);
    assert_string_equal(
        ss_http_request_response_body(req),
        "{\"code\":405,\"message\":\"method not allowed\",\"error\":\"METHOD_NOT_ALLOWED\"}");
    assert_string_equal(ss_http_request_response_header(req, "allow"), "GET, HEAD, PATCH");
    ss_http_request_finish(req);

    req = dispatch(*state, "BREW", "/api/v1/users/3/balance/charge");
    assert_int_equal(ss_http_request_response_status(req), 405);
    assert_string_equal(ss_http_request_response_header(req, "Allow"), "POST");
    assert_int_equal(ss_http_request_method(req), SS_HTTP_METHOD_OTHER);
    assert_string_equal(ss_http_request_method_name(req), "BREW");
    ss_http_request_finish(req);
}

static void test_head_is_served_by_the_get_route(void **state)
{
    ss_http_request_t *req = dispatch(*state, "HEAD", "/api/v1/products");
    assert_int_equal(ss_http_request_response_status(req), 200);
    assert_int_equal(ss_http_request_method(req), SS_HTTP_METHOD_HEAD);
    ss_http_request_finish(req);
}

static void test_encoded_segment_is_decoded_into_the_parameter(void **state)
{
    ss_http_request_t *req = dispatch(*state, "GET", "/api/v1/users/a%2Fb%20c/balance");
    assert_int_equal(ss_http_request_response_status(req), 200);
    assert_string_equal(ss_http_request_param(req, "id"), "a/b c");
    int64_t id = 0;
    assert_int_equal(ss_http_request_param_id(req, "id", &id), SS_ERR_INVALID);
    ss_http_request_finish(req);
}

static void test_query_parameters_are_parsed_and_decoded(void **state)
{
    ss_http_request_t *req =
        dispatch(*state, "GET", "/api/v1/products?limit=20&cursor=a%2Bb+c&flag&&limit=99&e=");
    assert_int_equal(ss_http_request_response_status(req), 200);
    assert_string_equal(ss_http_request_query(req, "limit"), "20");
    assert_string_equal(ss_http_request_query(req, "cursor"), "a+b c");
    assert_string_equal(ss_http_request_query(req, "flag"), "");
    assert_string_equal(ss_http_request_query(req, "e"), "");
    assert_null(ss_http_request_query(req, "missing"));
    assert_string_equal(ss_http_request_path(req), "/api/v1/products");
    ss_http_request_finish(req);
}

static void test_malformed_escape_or_too_many_query_parameters_is_400(void **state)
{
    const char *targets[] = {"/api/v1/products?limit=%zz", "/api/v1/products?x=%4",
                             "/api/v1/users/%00/balance", "no-leading-slash"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        ss_http_request_t *req = dispatch(*state, "GET", targets[i]);
        assert_int_equal(ss_http_request_response_status(req), 400);
        assert_non_null(strstr(ss_http_request_response_body(req), "\"INVALID_REQUEST\""));
        ss_http_request_finish(req);
    }
    char target[512] = "/api/v1/products?";
    for (int i = 0; i <= SS_HTTP_QUERY_PARAMS_MAX; i++) {
        char piece[16];
        snprintf(piece, sizeof(piece), "p%d=1&", i);
        strcat(target, piece);
    }
    ss_http_request_t *req = dispatch(*state, "GET", target);
    assert_int_equal(ss_http_request_response_status(req), 400);
    ss_http_request_finish(req);
}

static void test_query_int64_uses_the_fallback_and_checks_the_range(void **state)
{
    char errstr[128];
    int64_t value = 0;
    ss_http_request_t *req = dispatch(*state, "GET", "/api/v1/products?limit=100&bad=1x&neg=-5");
    assert_int_equal(
        ss_http_request_query_int64(req, "absent", 20, 1, 100, &value, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(value, 20);
    assert_int_equal(
        ss_http_request_query_int64(req, "limit", 20, 1, 100, &value, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(value, 100);
    assert_int_equal(
        ss_http_request_query_int64(req, "limit", 20, 1, 99, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "query parameter limit must be an integer in 1..99");
    assert_int_equal(
        ss_http_request_query_int64(req, "bad", 20, 1, 100, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_int_equal(
        ss_http_request_query_int64(req, "neg", 0, -10, 10, &value, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(value, -5);
    ss_http_request_finish(req);
}

/* Exactly the document's pattern ^[0-9]{1,18}$: no sign, no empty value, no 19th digit. */
static void test_query_digits_accepts_exactly_one_to_n_digits(void **state)
{
    char errstr[128];
    int64_t value = 0;
    ss_http_request_t *req = dispatch(*state, "GET",
                                      "/api/v1/products?a=007&b=999999999999999999&c=&d=-1&e=%2B1"
                                      "&f=1000000000000000000&g=1%20&h=0");
    assert_int_equal(
        ss_http_request_query_digits(req, "absent", 5, 18, &value, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(value, 5);
    assert_int_equal(ss_http_request_query_digits(req, "a", 0, 18, &value, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(value, 7);
    assert_int_equal(ss_http_request_query_digits(req, "b", 0, 18, &value, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(value, INT64_C(999999999999999999));
    assert_int_equal(ss_http_request_query_digits(req, "h", 9, 18, &value, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(value, 0);
    const char *refused[] = {"c", "d", "e", "f", "g"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        value = 42;
        assert_int_equal(
            ss_http_request_query_digits(req, refused[i], 0, 18, &value, errstr, sizeof(errstr)),
            SS_ERR_INVALID);
        assert_int_equal(value, 42);
    }
    assert_string_equal(errstr, "query parameter g must be 1 to 18 decimal digits");
    ss_http_request_finish(req);
}

static void test_param_id_accepts_only_positive_decimal_ids(void **state)
{
    struct {
        const char *id;
        ss_err_t expected;
        int64_t value;
    } cases[] = {
        {"1", SS_OK, 1},
        {"9223372036854775807", SS_OK, INT64_MAX},
        {"0", SS_ERR_INVALID, 0},
        {"-1", SS_ERR_INVALID, 0},
        {"+1", SS_ERR_INVALID, 0},
        {"1.5", SS_ERR_INVALID, 0},
        {"12a", SS_ERR_INVALID, 0},
        {"9223372036854775808", SS_ERR_INVALID, 0},
        {"99999999999999999999", SS_ERR_INVALID, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char target[128];
        snprintf(target, sizeof(target), "/api/v1/users/%s/balance", cases[i].id);
        ss_http_request_t *req = dispatch(*state, "GET", target);
        int64_t id = 0;
        assert_int_equal(ss_http_request_param_id(req, "id", &id), cases[i].expected);
        if (cases[i].expected == SS_OK) {
            assert_int_equal(id, cases[i].value);
        }
        assert_int_equal(ss_http_request_param_id(req, "other", &id), SS_ERR_NOT_FOUND);
        ss_http_request_finish(req);
    }
}

static void test_headers_are_found_case_insensitively(void **state)
{
    ss_http_header_t headers[] = {
        {"Idempotency-Key", "k-1"}, {"X-Twice", "first"}, {"x-twice", "second"}};
    ss_http_request_t *req = dispatch_full(*state, "GET", "/", headers, 3, NULL, 0);
    assert_string_equal(ss_http_request_header(req, "idempotency-key"), "k-1");
    assert_string_equal(ss_http_request_header(req, "X-TWICE"), "first");
    assert_null(ss_http_request_header(req, "Authorization"));
    ss_http_request_finish(req);
}

/* ---- request ids and trace context ---- */

static bool hex_only(const char *text, size_t length)
{
    if (strlen(text) != length) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

static void test_well_formed_client_request_id_is_kept_on_the_answer(void **state)
{
    ss_http_header_t headers[] = {{"X-Request-Id", "client-7.a_b:c"}};
    ss_http_request_t *req = dispatch_full(*state, "GET", "/", headers, 1, NULL, 0);
    assert_string_equal(ss_http_request_id(req), "client-7.a_b:c");
    assert_string_equal(ss_http_request_response_header(req, "x-request-id"), "client-7.a_b:c");
    ss_http_request_finish(req);
}

static void test_malformed_client_request_id_is_replaced_by_a_generated_one(void **state)
{
    char long_id[SS_TRACE_REQUEST_ID_MAX + 2];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    const char *malformed[] = {"has space", "", "quote\"", long_id, "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        ss_http_header_t headers[] = {{"X-Request-Id", malformed[i]}};
        ss_http_request_t *req = dispatch_full(*state, "GET", "/", headers, 1, NULL, 0);
        assert_int_equal(ss_http_request_response_status(req), 200);
        assert_true(hex_only(ss_http_request_response_header(req, "X-Request-Id"),
                             SS_TRACE_GENERATED_ID_HEX));
        ss_http_request_finish(req);
    }
}

static void test_wrapper_answers_404_and_405_carry_a_request_id(void **state)
{
    ss_http_request_t *req = dispatch(*state, "GET", "/no/such/path");
    assert_int_equal(ss_http_request_response_status(req), 404);
    assert_true(hex_only(ss_http_request_response_header(req, "X-Request-Id"), 32));
    ss_http_request_finish(req);
    ss_http_header_t headers[] = {{"X-Request-Id", "mine"}};
    req = dispatch_full(*state, "DELETE", "/api/v1/products", headers, 1, NULL, 0);
    assert_int_equal(ss_http_request_response_status(req), 405);
    assert_string_equal(ss_http_request_response_header(req, "X-Request-Id"), "mine");
    ss_http_request_finish(req);
}

static void test_mutation_takes_the_id_its_handler_lends_unless_the_client_sent_one(void **state)
{
    ss_http_request_t *req = dispatch(*state, "POST", "/lend");
    assert_string_equal(ss_http_request_response_header(req, "X-Request-Id"), "7-1700000000000-42");
    ss_http_request_finish(req);
    ss_http_header_t headers[] = {{"X-Request-Id", "from-client"}};
    req = dispatch_full(*state, "POST", "/lend", headers, 1, NULL, 0);
    assert_string_equal(ss_http_request_response_header(req, "X-Request-Id"), "from-client");
    ss_http_request_finish(req);
    /* A mutation whose handler lends nothing still gets one. */
    req = dispatch(*state, "POST", "/created");
    assert_true(hex_only(ss_http_request_response_header(req, "X-Request-Id"), 32));
    ss_http_request_finish(req);
}

static void test_valid_traceparent_is_continued_with_a_new_parent_id(void **state)
{
    const char *incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    ss_http_header_t headers[] = {{"traceparent", incoming}};
    ss_http_request_t *req = dispatch_full(*state, "GET", "/", headers, 1, NULL, 0);
    ss_trace_t trace;
    ss_http_request_trace(req, &trace);
    assert_int_equal(strlen(trace.traceparent), SS_TRACE_PARENT_LENGTH);
    assert_memory_equal(trace.traceparent, incoming, 36); /* version and trace-id */
    assert_memory_not_equal(trace.traceparent + 36, incoming + 36, 16);
    assert_string_equal(trace.traceparent + 52, "-01");
    ss_http_request_finish(req);
}

static void test_invalid_traceparent_starts_a_new_trace(void **state)
{
    const char *incoming = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
    ss_http_header_t headers[] = {{"traceparent", incoming}};
    ss_http_request_t *req = dispatch_full(*state, "GET", "/", headers, 1, NULL, 0);
    ss_trace_t trace;
    ss_http_request_trace(req, &trace);
    ss_traceparent_t parsed;
    assert_int_equal(ss_trace_parent_parse(trace.traceparent, &parsed), SS_OK);
    assert_string_not_equal(parsed.trace_id, "00000000000000000000000000000000");
    assert_int_equal(parsed.flags, 0);
    ss_http_request_finish(req);
}

static void test_body_at_the_limit_is_accepted_and_one_byte_more_is_413(void **state)
{
    router_fixture_t *fixture = *state;
    char *body = malloc(SS_HTTP_BODY_BYTES_MAX + 1);
    assert_non_null(body);
    memset(body, 'x', SS_HTTP_BODY_BYTES_MAX + 1);

    ss_http_request_t *req =
        dispatch_full(fixture, "POST", "/echo-length", NULL, 0, body, SS_HTTP_BODY_BYTES_MAX);
    assert_int_equal(ss_http_request_response_status(req), 200);
    assert_int_equal(fixture->context.last_body_length, SS_HTTP_BODY_BYTES_MAX);
    ss_http_request_finish(req);

    req = dispatch_full(fixture, "POST", "/echo-length", NULL, 0, body, SS_HTTP_BODY_BYTES_MAX + 1);
    assert_int_equal(ss_http_request_response_status(req), 413);
    assert_string_equal(ss_http_request_response_body(req),
                        "{\"code\":413,\"message\":\"request body is larger than 65536 bytes\","
                        "\"error\":\"PAYLOAD_TOO_LARGE\"}");
    ss_http_request_finish(req);

    /* Over the limit on an unknown path: still 413, the body is the problem. */
    req = dispatch_full(fixture, "POST", "/nowhere", NULL, 0, body, SS_HTTP_BODY_BYTES_MAX + 1);
    assert_int_equal(ss_http_request_response_status(req), 413);
    ss_http_request_finish(req);
    free(body);
}

static void test_body_is_kept_whole_and_terminated(void **state)
{
    ss_http_request_t *req =
        dispatch_full(*state, "POST", "/echo-length", NULL, 0, "{\"amount\":5}", 12);
    size_t length = 0;
    const char *body = ss_http_request_body(req, &length);
    assert_int_equal(length, 12);
    assert_string_equal(body, "{\"amount\":5}");
    ss_http_request_finish(req);

    req = dispatch(*state, "GET", "/");
    assert_string_equal(ss_http_request_body(req, &length), "");
    assert_int_equal(length, 0);
    ss_http_request_finish(req);
}

static void test_handler_that_neither_answers_nor_suspends_gets_500(void **state)
{
    ss_http_request_t *req = dispatch(*state, "GET", "/silent");
    assert_int_equal(ss_http_request_response_status(req), 500);
    assert_non_null(strstr(ss_http_request_response_body(req), "\"INTERNAL\""));
    ss_http_request_finish(req);
}

static void test_second_answer_is_refused_and_the_first_kept(void **state)
{
    ss_http_request_t *req = dispatch(*state, "GET", "/twice");
    assert_string_equal(ss_http_request_response_body(req), "{\"first\":true}");
    ss_http_request_finish(req);
}

static void test_header_with_line_break_turns_into_500(void **state)
{
    ss_http_request_t *req = dispatch(*state, "GET", "/bad-header");
    assert_int_equal(ss_http_request_response_status(req), 500);
    assert_null(ss_http_request_response_header(req, "Location"));
    ss_http_request_finish(req);
}

static void test_extra_headers_are_kept_with_the_answer(void **state)
{
    ss_http_request_t *req = dispatch(*state, "POST", "/created");
    assert_int_equal(ss_http_request_response_status(req), 202);
    assert_string_equal(ss_http_request_response_header(req, "location"), "/api/v1/requests/7");
    ss_http_request_finish(req);
}

static void test_complete_delivers_the_answer_exactly_once(void **state)
{
    router_fixture_t *fixture = *state;
    ss_http_request_t *req = dispatch(fixture, "GET", "/park");
    assert_int_equal(fixture->context.parked_count, 1);
    ss_http_request_t *held = fixture->context.parked[0];
    assert_ptr_equal(held, req);
    assert_true(ss_http_request_is_suspended(req));
    assert_int_equal(ss_http_request_response_status(req), 0);

    ss_http_header_t retry = {"Retry-After", "2"};
    assert_true(ss_http_request_complete(held, 200, "{\"winner\":1}", &retry, 1));
    assert_false(ss_http_request_complete(held, 504, "{\"winner\":2}", NULL, 0));
    assert_false(ss_http_request_is_suspended(req));
    assert_int_equal(ss_http_request_response_status(req), 200);
    assert_string_equal(ss_http_request_response_body(req), "{\"winner\":1}");
    assert_string_equal(ss_http_request_response_header(req, "retry-after"), "2");

    ss_http_request_release(held);
    assert_int_equal(fixture->context.freed_count, 0); /* the transport still holds it */
    ss_http_request_finish(req);
    assert_int_equal(fixture->context.freed_count, 1);
}

static void test_completion_before_the_handler_returns_is_kept(void **state)
{
    ss_http_request_t *req = dispatch(*state, "GET", "/fast");
    assert_false(ss_http_request_is_suspended(req));
    assert_int_equal(ss_http_request_response_status(req), 201);
    assert_string_equal(ss_http_request_response_body(req), "{\"fast\":true}");
    ss_http_request_finish(req);
}

static void test_client_gone_while_suspended_frees_everything_once(void **state)
{
    router_fixture_t *fixture = *state;
    ss_http_request_t *req = dispatch(fixture, "POST", "/park");
    ss_http_request_t *held = fixture->context.parked[0];
    ss_http_request_ref(held); /* a second holder, like a deadline timer */

    ss_http_request_finish(req); /* the connection ends while suspended */
    assert_int_equal(fixture->context.freed_count, 0);
    assert_false(ss_http_request_is_suspended(held));
    assert_false(ss_http_request_complete(held, 200, "{}", NULL, 0));
    ss_http_request_release(held);
    assert_int_equal(fixture->context.freed_count, 0);
    assert_false(ss_http_request_complete(held, 202, "{}", NULL, 0));
    /* Request data stays readable by holders after the connection is gone. */
    assert_string_equal(ss_http_request_path(held), "/park");
    ss_http_request_release(held);
    assert_int_equal(fixture->context.freed_count, 1);
}

static void test_holder_releasing_first_leaves_the_request_to_the_transport(void **state)
{
    router_fixture_t *fixture = *state;
    ss_http_request_t *req = dispatch(fixture, "GET", "/park");
    ss_http_request_t *held = fixture->context.parked[0];
    ss_http_request_release(held); /* gives up without completing */
    assert_int_equal(fixture->context.freed_count, 0);
    assert_true(ss_http_request_is_suspended(req));
    ss_http_request_finish(req);
    assert_int_equal(fixture->context.freed_count, 1);
}

static void test_arena_allocations_and_user_pointer(void **state)
{
    ss_http_request_t *req = dispatch(*state, "GET", "/");
    char *small = ss_http_request_alloc(req, 10);
    char *big = ss_http_request_alloc(req, 100000);
    char *after = ss_http_request_alloc(req, 10);
    assert_non_null(small);
    assert_non_null(big);
    assert_non_null(after);
    memset(big, 1, 100000);
    assert_int_equal(((uintptr_t)after) % _Alignof(max_align_t), 0);
    assert_null(ss_http_request_alloc(req, SS_HTTP_ARENA_BYTES_MAX + 1));
    assert_string_equal(ss_http_request_sprintf(req, "%s-%d", "id", 7), "id-7");
    int marker = 0;
    ss_http_request_user_set(req, &marker, NULL);
    assert_ptr_equal(ss_http_request_user(req), &marker);
    ss_http_request_finish(req);
}

static void test_invalid_route_tables_are_refused(void **state)
{
    (void)state;
    struct {
        ss_http_route_t route;
        const char *message_part;
    } cases[] = {
        {{SS_HTTP_METHOD_GET, "no-slash", handle_root}, "must start with '/'"},
        {{SS_HTTP_METHOD_GET, "/a//b", handle_root}, "empty segment"},
        {{SS_HTTP_METHOD_GET, "/a/", handle_root}, "empty segment"},
        {{SS_HTTP_METHOD_GET, "/a/{}", handle_root}, "whole segment"},
        {{SS_HTTP_METHOD_GET, "/a/x{id}", handle_root}, "whole segment"},
        {{SS_HTTP_METHOD_GET, "/a/{i-d}", handle_root}, "whole segment"},
        {{SS_HTTP_METHOD_OTHER, "/a", handle_root}, "known method"},
        {{SS_HTTP_METHOD_GET, "/a", NULL}, "handler"},
        {{SS_HTTP_METHOD_GET, "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", handle_root},
         "segments"},
        {{SS_HTTP_METHOD_GET, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", handle_root}, "parameters"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ss_http_router_t *router = NULL;
        char errstr[256] = "";
        assert_int_equal(
            ss_http_router_create(&cases[i].route, 1, NULL, &router, errstr, sizeof(errstr)),
            SS_ERR_INVALID);
        assert_null(router);
        assert_non_null(strstr(errstr, cases[i].message_part));
    }
    ss_http_route_t twice[] = {{SS_HTTP_METHOD_GET, "/a/{id}", handle_root},
                               {SS_HTTP_METHOD_GET, "/a/{id}", handle_product}};
    ss_http_router_t *router = NULL;
    char errstr[256] = "";
    assert_int_equal(ss_http_router_create(twice, 2, NULL, &router, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "duplicate route GET /a/{id}");
    assert_int_equal(ss_http_router_create(twice, 0, NULL, &router, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

static void test_method_names_round_trip(void **state)
{
    (void)state;
    for (int m = SS_HTTP_METHOD_GET; m <= SS_HTTP_METHOD_OPTIONS; m++) {
        assert_int_equal(ss_http_method_parse(ss_http_method_name((ss_http_method_t)m)), m);
    }
    assert_int_equal(ss_http_method_parse("get"), SS_HTTP_METHOD_OTHER);
    assert_int_equal(ss_http_method_parse(NULL), SS_HTTP_METHOD_OTHER);
    assert_string_equal(ss_http_method_name((ss_http_method_t)99), "OTHER");
}

/* ---- over the wire ------------------------------------------------------------------------------
 */

typedef struct server_fixture {
    ss_http_server_t *server;
    test_context_t context;
    char base_url[64];
} server_fixture_t;

/* Limits of the limits fixture: small, so the tests are quick. */
#define TEST_READ_TIMEOUT_MS 300
#define TEST_PER_ADDRESS_MAX 2

static int server_setup_config(void **state, unsigned threads, unsigned read_timeout_ms,
                               unsigned per_address_max)
{
    server_fixture_t *fixture = calloc(1, sizeof(*fixture));
    assert_non_null(fixture);
    context_init(&fixture->context);
    ss_http_server_config_t config = {
        .bind_address = "127.0.0.1",
        .port = 0,
        .threads = threads,
        .request_read_timeout_ms = read_timeout_ms,
        .connections_per_address_max = per_address_max,
        .routes = test_routes,
        .routes_count = TEST_ROUTES_COUNT,
        .context = &fixture->context,
    };
    char errstr[256];
    ss_err_t err = ss_http_server_start(&config, &fixture->server, errstr, sizeof(errstr));
    if (err != SS_OK) {
        fail_msg("could not start server: %s", errstr);
    }
    assert_int_not_equal(ss_http_server_port(fixture->server), 0);
    snprintf(fixture->base_url, sizeof(fixture->base_url), "http://127.0.0.1:%u",
             (unsigned)ss_http_server_port(fixture->server));
    *state = fixture;
    return 0;
}

static int server_setup(void **state)
{
    return server_setup_config(state, 4, 0, 0);
}

static int server_setup_one_thread(void **state)
{
    return server_setup_config(state, 1, 0, 0);
}

static int server_setup_limits(void **state)
{
    return server_setup_config(state, 2, TEST_READ_TIMEOUT_MS, TEST_PER_ADDRESS_MAX);
}

static int server_teardown(void **state)
{
    server_fixture_t *fixture = *state;
    ss_http_server_destroy(fixture->server);
    context_destroy(&fixture->context);
    free(fixture);
    return 0;
}

typedef struct http_result {
    long status;
    char body[TEST_BODY_CAPTURE_MAX];
    size_t body_length;
    char content_type[128];
    int content_type_count; /* Content-Type headers seen */
    char retry_after[32];
    char allow[128];
} http_result_t;

static size_t on_body(char *data, size_t size, size_t count, void *user)
{
    http_result_t *result = user;
    size_t length = size * count;
    size_t room = sizeof(result->body) - 1 - result->body_length;
    size_t copy = length < room ? length : room;
    memcpy(result->body + result->body_length, data, copy);
    result->body_length += copy;
    result->body[result->body_length] = '\0';
    return length;
}

static void header_capture(const char *line, size_t length, const char *name, char *out,
                           size_t out_size)
{
    size_t name_length = strlen(name);
    if (length <= name_length + 1 || strncasecmp(line, name, name_length) != 0 ||
        line[name_length] != ':') {
        return;
    }
    const char *value = line + name_length + 1;
    size_t value_length = length - name_length - 1;
    while (value_length > 0 && *value == ' ') {
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

static size_t on_header(char *line, size_t size, size_t count, void *user)
{
    http_result_t *result = user;
    size_t length = size * count;
    header_capture(line, length, "Content-Type", result->content_type,
                   sizeof(result->content_type));
    result->content_type_count += strncasecmp(line, "Content-Type:", 13) == 0;
    header_capture(line, length, "Retry-After", result->retry_after, sizeof(result->retry_after));
    header_capture(line, length, "Allow", result->allow, sizeof(result->allow));
    return length;
}

typedef struct upload {
    size_t left;
} upload_t;

static size_t on_read(char *buffer, size_t size, size_t count, void *user)
{
    upload_t *upload = user;
    size_t room = size * count;
    size_t length = upload->left < room ? upload->left : room;
    memset(buffer, 'y', length);
    upload->left -= length;
    return length;
}

/* A configured easy handle; the caller performs and cleans it up. */
static CURL *easy_new(const char *url, const char *method, http_result_t *result)
{
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    memset(result, 0, sizeof(*result));
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_URL, url), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_WRITEDATA, result), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_HEADERDATA, result), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
    return curl;
}

static void easy_perform(CURL *curl, http_result_t *result)
{
    CURLcode code = curl_easy_perform(curl);
    if (code != CURLE_OK) {
        fail_msg("curl: %s", curl_easy_strerror(code));
    }
    assert_int_equal(curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result->status), CURLE_OK);
    curl_easy_cleanup(curl);
}

static void http_get(server_fixture_t *fixture, const char *path, http_result_t *result)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", fixture->base_url, path);
    easy_perform(easy_new(url, "GET", result), result);
}

static void test_server_answers_unknown_path_with_json_404(void **state)
{
    http_result_t result;
    http_get(*state, "/api/v1/nothing", &result);
    assert_int_equal(result.status, 404);
    assert_string_equal(result.body, not_found_envelope);
    assert_string_equal(result.content_type, "application/json; charset=utf-8");

    http_get(*state, "/api/v1/users/5/balance?x=1", &result);
    assert_int_equal(result.status, 200);
    assert_string_equal(result.body, "{\"route\":\"balance\",\"id\":\"5\"}");
}

static void test_a_handler_content_type_replaces_the_json_one(void **state)
{
    http_result_t result;
    http_get(*state, "/page", &result);
    assert_int_equal(result.status, 200);
    assert_string_equal(result.body, "<!DOCTYPE html><p>hi</p>");
    assert_string_equal(result.content_type, "text/html; charset=utf-8");
    assert_int_equal(result.content_type_count, 1);

    http_get(*state, "/api/v1/users/5/balance", &result);
    assert_string_equal(result.content_type, "application/json; charset=utf-8");
    assert_int_equal(result.content_type_count, 1);
}

static void test_server_answers_wrong_method_with_405_and_allow(void **state)
{
    server_fixture_t *fixture = *state;
    http_result_t result;
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/products", fixture->base_url);
    easy_perform(easy_new(url, "POST", &result), &result);
    assert_int_equal(result.status, 405);
    assert_string_equal(result.allow, "GET, HEAD");
}

static void test_keep_alive_connection_serves_requests_one_after_another(void **state)
{
    server_fixture_t *fixture = *state;
    http_result_t result;
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/users/1/balance", fixture->base_url);
    CURL *curl = easy_new(url, "GET", &result);
    for (int i = 1; i <= 3; i++) {
        snprintf(url, sizeof(url), "%s/api/v1/users/%d/balance", fixture->base_url, i);
        memset(&result, 0, sizeof(result));
        assert_int_equal(curl_easy_setopt(curl, CURLOPT_URL, url), CURLE_OK);
        assert_int_equal(curl_easy_perform(curl), CURLE_OK);
        long connects = -1;
        assert_int_equal(curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects), CURLE_OK);
        assert_int_equal(connects, i == 1 ? 1 : 0); /* the later ones reuse the connection */
        char expected[64];
        snprintf(expected, sizeof(expected), "{\"route\":\"balance\",\"id\":\"%d\"}", i);
        assert_string_equal(result.body, expected);
    }
    curl_easy_cleanup(curl);
}

/* GET of a route with one X-Pad header of pad_length bytes. */
static void get_with_header(server_fixture_t *fixture, size_t pad_length, http_result_t *result)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/users/7/balance", fixture->base_url);
    char *header = malloc(pad_length + 8);
    assert_non_null(header);
    memcpy(header, "X-Pad: ", 7);
    memset(header + 7, 'p', pad_length);
    header[7 + pad_length] = '\0';
    struct curl_slist *headers = curl_slist_append(NULL, header);
    CURL *curl = easy_new(url, "GET", result);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers), CURLE_OK);
    easy_perform(curl, result);
    curl_slist_free_all(headers);
    free(header);
}

/* The connection pool (16 KiB) bounds the headers: 12 KiB pass, 20 KiB get MHD's 431. */
static void test_headers_up_to_the_pool_pass_and_larger_ones_are_431(void **state)
{
    http_result_t result;
    get_with_header(*state, 12 * 1024, &result);
    assert_int_equal(result.status, 200);
    assert_string_equal(result.body, "{\"route\":\"balance\",\"id\":\"7\"}");
    get_with_header(*state, 20 * 1024, &result);
    assert_int_equal(result.status, 431);
    http_get(*state, "/api/v1/users/8/balance", &result); /* and the server still serves */
    assert_int_equal(result.status, 200);
}

static void post_body(server_fixture_t *fixture, size_t length, bool chunked, http_result_t *result)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/echo-length", fixture->base_url);
    CURL *curl = easy_new(url, "POST", result);
    upload_t upload = {.left = length};
    struct curl_slist *headers = NULL;
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_POST, 1L), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_READDATA, &upload), CURLE_OK);
    if (chunked) {
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
        assert_non_null(headers);
        assert_int_equal(curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers), CURLE_OK);
    } else {
        assert_int_equal(curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)length),
                         CURLE_OK);
    }
    easy_perform(curl, result);
    curl_slist_free_all(headers);
}

static void test_oversized_body_with_content_length_is_413_envelope(void **state)
{
    http_result_t result;
    post_body(*state, SS_HTTP_BODY_BYTES_MAX + 1, false, &result);
    assert_int_equal(result.status, 413);
    assert_string_equal(result.body,
                        "{\"code\":413,\"message\":\"request body is larger than 65536 bytes\","
                        "\"error\":\"PAYLOAD_TOO_LARGE\"}");
    assert_string_equal(result.content_type, "application/json; charset=utf-8");
}

static void test_oversized_chunked_body_is_413_envelope(void **state)
{
    server_fixture_t *fixture = *state;
    http_result_t result;
    post_body(fixture, SS_HTTP_BODY_BYTES_MAX + 4000, true, &result);
    assert_int_equal(result.status, 413);
    assert_non_null(strstr(result.body, "\"PAYLOAD_TOO_LARGE\""));

    /* The server is still fine, and a body exactly at the limit goes through whole. */
    post_body(fixture, SS_HTTP_BODY_BYTES_MAX, true, &result);
    assert_int_equal(result.status, 200);
    assert_string_equal(result.body, "{\"length\":65536}");
    post_body(fixture, SS_HTTP_BODY_BYTES_MAX, false, &result);
    assert_int_equal(result.status, 200);
    assert_string_equal(result.body, "{\"length\":65536}");
}

typedef struct client_call {
    server_fixture_t *fixture;
    const char *path;
    http_result_t result;
} client_call_t;

static void *client_thread(void *arg)
{
    client_call_t *call = arg;
    http_get(call->fixture, call->path, &call->result);
    return NULL;
}

typedef struct completer {
    test_context_t *context;
    size_t count;
    bool eager; /* complete each request as soon as it parks, instead of after all parked */
    size_t won;
} completer_t;

/* Waits for count parked requests, then completes each with a body naming its index. */
static void *completer_thread(void *arg)
{
    completer_t *completer = arg;
    if (!completer->eager) {
        context_wait_parked(completer->context, completer->count);
    }
    for (size_t i = 0; i < completer->count; i++) {
        context_wait_parked(completer->context, i + 1);
        pthread_mutex_lock(&completer->context->mutex);
        ss_http_request_t *req = completer->context->parked[i];
        pthread_mutex_unlock(&completer->context->mutex);
        const char *n = ss_http_request_query(req, "n");
        char body[128];
        snprintf(body, sizeof(body), "{\"code\":200,\"message\":\"OK\",\"data\":{\"n\":%s}}",
                 n != NULL ? n : "null");
        if (ss_http_request_complete(req, 200, body, NULL, 0)) {
            completer->won++;
        }
        ss_http_request_release(req);
    }
    return NULL;
}

static void test_suspended_request_is_completed_from_another_thread(void **state)
{
    server_fixture_t *fixture = *state;
    client_call_t call = {.fixture = fixture, .path = "/park?n=7"};
    completer_t completer = {.context = &fixture->context, .count = 1};
    pthread_t client;
    pthread_t other;
    assert_int_equal(pthread_create(&client, NULL, client_thread, &call), 0);
    assert_int_equal(pthread_create(&other, NULL, completer_thread, &completer), 0);
    assert_int_equal(pthread_join(other, NULL), 0);
    assert_int_equal(pthread_join(client, NULL), 0);
    assert_int_equal(completer.won, 1);
    assert_int_equal(call.result.status, 200);
    assert_string_equal(call.result.body, "{\"code\":200,\"message\":\"OK\",\"data\":{\"n\":7}}");
    context_wait_freed(&fixture->context, 1);
}

static void concurrent_suspended_requests_complete(server_fixture_t *fixture, bool eager)
{
    enum { count = TEST_CONCURRENT_REQUESTS };
    static http_result_t results[count];
    CURL *handles[count];
    CURLM *multi = curl_multi_init();
    assert_non_null(multi);
    for (size_t i = 0; i < count; i++) {
        char url[256];
        snprintf(url, sizeof(url), "%s/park?n=%zu", fixture->base_url, i);
        handles[i] = easy_new(url, "GET", &results[i]);
        assert_int_equal(curl_multi_add_handle(multi, handles[i]), CURLM_OK);
    }
    completer_t completer = {.context = &fixture->context, .count = count, .eager = eager};
    pthread_t other;
    assert_int_equal(pthread_create(&other, NULL, completer_thread, &completer), 0);

    int running = 1;
    /* Bounded: each round waits up to a second for activity; the completer ends every call. */
    for (int round = 0; running > 0 && round < 100000; round++) {
        assert_int_equal(curl_multi_perform(multi, &running), CURLM_OK);
        if (running > 0) {
            assert_int_equal(curl_multi_poll(multi, NULL, 0, 1000, NULL), CURLM_OK);
        }
    }
    assert_int_equal(running, 0);
    assert_int_equal(pthread_join(other, NULL), 0);
    assert_int_equal(completer.won, count);

    for (size_t i = 0; i < count; i++) {
        assert_int_equal(curl_easy_getinfo(handles[i], CURLINFO_RESPONSE_CODE, &results[i].status),
                         CURLE_OK);
        assert_int_equal(results[i].status, 200);
        char expected[128];
        snprintf(expected, sizeof(expected),
                 "{\"code\":200,\"message\":\"OK\",\"data\":{\"n\":%zu}}", i);
        assert_string_equal(results[i].body, expected);
        assert_int_equal(curl_multi_remove_handle(multi, handles[i]), CURLM_OK);
        curl_easy_cleanup(handles[i]);
    }
    assert_int_equal(curl_multi_cleanup(multi), CURLM_OK);
    context_wait_freed(&fixture->context, count);
}

static void test_200_concurrent_suspended_requests_all_complete(void **state)
{
    concurrent_suspended_requests_complete(*state, false);
}

/* Completions that race with the suspension itself (right after the handler returns). */
static void test_requests_completed_as_soon_as_they_park_all_get_their_answer(void **state)
{
    concurrent_suspended_requests_complete(*state, true);
}

static void test_stop_answers_pending_requests_with_503(void **state)
{
    server_fixture_t *fixture = *state;
    client_call_t calls[2] = {{.fixture = fixture, .path = "/park?n=1"},
                              {.fixture = fixture, .path = "/park?n=2"}};
    pthread_t clients[2];
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&clients[i], NULL, client_thread, &calls[i]), 0);
    }
    context_wait_parked(&fixture->context, 2);

    ss_http_server_stop(fixture->server);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(clients[i], NULL), 0);
        assert_int_equal(calls[i].result.status, 503);
        assert_string_equal(
            calls[i].result.body,
            "{\"code\":503,\"message\":\"server is shutting down\",\"error\":\"UNAVAILABLE\"}");
        assert_string_equal(calls[i].result.retry_after, "1");
    }
    /* The holders learn that they lost, and may still release after the stop. */
    for (size_t i = 0; i < 2; i++) {
        ss_http_request_t *req = fixture->context.parked[i];
        assert_false(ss_http_request_complete(req, 200, "{}", NULL, 0));
        ss_http_request_release(req);
    }
    assert_int_equal(fixture->context.freed_count, 2);
    ss_http_server_stop(fixture->server); /* a second stop is a no-op */
}

static void test_client_gone_while_suspended_is_freed_exactly_once(void **state)
{
    server_fixture_t *fixture = *state;
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sock >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons(ss_http_server_port(fixture->server))};
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &address.sin_addr), 1);
    assert_int_equal(connect(sock, (struct sockaddr *)&address, sizeof(address)), 0);
    const char request[] = "GET /park HTTP/1.1\r\nHost: test\r\n\r\n";
    assert_int_equal(send(sock, request, sizeof(request) - 1, 0), (ssize_t)(sizeof(request) - 1));
    context_wait_parked(&fixture->context, 1);
    close(sock);

    ss_http_request_t *req = fixture->context.parked[0];
    /* MHD cannot see the disconnect while suspended: this completion wins and resumes it. */
    assert_true(ss_http_request_complete(req, 200, "{\"late\":true}", NULL, 0));
    ss_http_request_release(req);
    context_wait_freed(&fixture->context, 1);
    ss_http_server_stop(fixture->server);
    assert_int_equal(fixture->context.freed_count, 1);
}

/* ---- limits: the read deadline and the per-address cap ------------------------------------ */

static int64_t test_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int raw_connect(const server_fixture_t *fixture)
{
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sock >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons(ss_http_server_port(fixture->server))};
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &address.sin_addr), 1);
    assert_int_equal(connect(sock, (struct sockaddr *)&address, sizeof(address)), 0);
    return sock;
}

static bool raw_send(int sock, const char *text)
{
    size_t length = strlen(text);
    return send(sock, text, length, MSG_NOSIGNAL) == (ssize_t)length;
}

/* Waits up to wait_ms for the server to end sock: true when it did (EOF or reset). */
static bool raw_closed_within(int sock, int wait_ms)
{
    struct pollfd pollfd = {.fd = sock, .events = POLLIN};
    if (poll(&pollfd, 1, wait_ms) <= 0) {
        return false;
    }
    char buffer[1024];
    ssize_t n = recv(sock, buffer, sizeof(buffer), MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static void test_a_trickled_request_is_cut_at_the_read_deadline(void **state)
{
    server_fixture_t *fixture = *state;
    int sock = raw_connect(fixture);
    int64_t start_ms = test_now_ms();
    assert_true(raw_send(sock, "GET / HTTP/1.1\r\nHost: test\r\nX-Slow: "));
    int64_t cut_ms = -1;
    while (cut_ms < 0 && test_now_ms() - start_ms < TEST_READ_TIMEOUT_MS * 10) {
        /* A byte every 50 ms: the idle timer never fires, only the deadline can. */
        if (raw_closed_within(sock, 50) || !raw_send(sock, "a")) {
            cut_ms = test_now_ms() - start_ms;
        }
    }
    close(sock);
    assert_true(cut_ms >= TEST_READ_TIMEOUT_MS - 50);
    assert_true(cut_ms < TEST_READ_TIMEOUT_MS + 500);
}

static void test_a_kept_alive_connection_gets_a_new_deadline_per_request(void **state)
{
    server_fixture_t *fixture = *state;
    int sock = raw_connect(fixture);
    const char request[] = "GET / HTTP/1.1\r\nHost: test\r\n\r\n";
    /* Three requests spread over more than one deadline, each one quick. */
    for (int i = 0; i < 3; i++) {
        assert_true(raw_send(sock, request));
        char answer[2048];
        ssize_t n = recv(sock, answer, sizeof(answer) - 1, 0);
        assert_true(n > 0);
        answer[n] = '\0';
        assert_non_null(strstr(answer, "HTTP/1.1 200"));
        struct timespec pause = {0, (TEST_READ_TIMEOUT_MS / 2) * 1000000L};
        nanosleep(&pause, NULL);
    }
    /* Then idle past the deadline: the connection is closed. */
    assert_true(raw_closed_within(sock, TEST_READ_TIMEOUT_MS + 500));
    close(sock);
}

static void test_a_suspended_request_outlives_the_read_deadline(void **state)
{
    server_fixture_t *fixture = *state;
    int sock = raw_connect(fixture);
    assert_true(raw_send(sock, "GET /park HTTP/1.1\r\nHost: test\r\n\r\n"));
    context_wait_parked(&fixture->context, 1);
    /* Read whole, now waiting for its answer: the deadline no longer applies. */
    assert_false(raw_closed_within(sock, TEST_READ_TIMEOUT_MS * 2));
    ss_http_request_t *req = fixture->context.parked[0];
    assert_true(ss_http_request_complete(req, 200, "{\"late\":true}", NULL, 0));
    ss_http_request_release(req);
    char answer[2048];
    ssize_t n = recv(sock, answer, sizeof(answer) - 1, 0);
    assert_true(n > 0);
    answer[n] = '\0';
    assert_non_null(strstr(answer, "HTTP/1.1 200"));
    assert_non_null(strstr(answer, "{\"late\":true}"));
    close(sock);
}

static void test_connections_over_the_per_address_cap_are_closed_at_accept(void **state)
{
    server_fixture_t *fixture = *state;
    int held[TEST_PER_ADDRESS_MAX];
    char answer[256];
    for (int i = 0; i < TEST_PER_ADDRESS_MAX; i++) {
        /*
         * Each held connection is answered before the next connects: that proves the server
         * accepted it. (With a partial request only, the two threads' accepts could take the
         * connections in another order, and close a held one instead of the one over the cap.)
         */
        held[i] = raw_connect(fixture);
        assert_true(raw_send(held[i], "GET / HTTP/1.1\r\nHost: test\r\n\r\n"));
        struct pollfd pollfd = {.fd = held[i], .events = POLLIN};
        assert_int_equal(poll(&pollfd, 1, 5000), 1);
        assert_true(recv(held[i], answer, sizeof(answer), 0) > 0);
    }
    int over = raw_connect(fixture);
    assert_true(raw_closed_within(over, 200));
    close(over);
    for (int i = 0; i < TEST_PER_ADDRESS_MAX; i++) {
        assert_false(raw_closed_within(held[i], 0));
        close(held[i]);
    }
}

static void test_start_refuses_a_bad_config(void **state)
{
    (void)state;
    ss_http_server_t *server = NULL;
    char errstr[256];
    ss_http_server_config_t config = {
        .bind_address = "localhost",
        .threads = 1,
        .routes = test_routes,
        .routes_count = TEST_ROUTES_COUNT,
    };
    assert_int_equal(ss_http_server_start(&config, &server, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "numeric"));
    config.bind_address = "127.0.0.1";
    config.threads = 0;
    assert_int_equal(ss_http_server_start(&config, &server, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    config.threads = 1;
    config.body_bytes_max = SS_HTTP_BODY_BYTES_MAX + 1;
    assert_int_equal(ss_http_server_start(&config, &server, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_null(server);
    ss_http_server_destroy(NULL);
    ss_http_router_destroy(NULL);
    ss_http_request_release(NULL);
    ss_http_request_finish(NULL);
}

static void test_a_port_in_use_is_a_retriable_error(void **state)
{
    server_fixture_t *fixture = *state;
    ss_http_server_t *second = NULL;
    char errstr[256];
    ss_http_server_config_t config = {
        .bind_address = "127.0.0.1",
        .port = ss_http_server_port(fixture->server),
        .threads = 1,
        .routes = test_routes,
        .routes_count = TEST_ROUTES_COUNT,
    };
    assert_int_equal(ss_http_server_start(&config, &second, errstr, sizeof(errstr)),
                     SS_ERR_RETRIABLE);
    assert_null(second);
}

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_route_parameter_is_captured, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_trailing_slash_matches_the_route_without_it,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_root_path_matches_only_the_root_route, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_literal_segment_beats_a_parameter, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_path_is_404_with_the_envelope, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_known_path_with_wrong_method_is_405_with_allow,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_head_is_served_by_the_get_route, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_encoded_segment_is_decoded_into_the_parameter,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_query_parameters_are_parsed_and_decoded, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_escape_or_too_many_query_parameters_is_400,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_query_digits_accepts_exactly_one_to_n_digits,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_query_int64_uses_the_fallback_and_checks_the_range,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_param_id_accepts_only_positive_decimal_ids,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_well_formed_client_request_id_is_kept_on_the_answer,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(
            test_malformed_client_request_id_is_replaced_by_a_generated_one, router_setup,
            router_teardown),
        cmocka_unit_test_setup_teardown(test_wrapper_answers_404_and_405_carry_a_request_id,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(
            test_mutation_takes_the_id_its_handler_lends_unless_the_client_sent_one, router_setup,
            router_teardown),
        cmocka_unit_test_setup_teardown(test_valid_traceparent_is_continued_with_a_new_parent_id,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_traceparent_starts_a_new_trace, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_headers_are_found_case_insensitively, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_body_at_the_limit_is_accepted_and_one_byte_more_is_413,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_body_is_kept_whole_and_terminated, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_handler_that_neither_answers_nor_suspends_gets_500,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_second_answer_is_refused_and_the_first_kept,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_header_with_line_break_turns_into_500, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_extra_headers_are_kept_with_the_answer, router_setup,
                                        router_teardown),
        cmocka_unit_test_setup_teardown(test_complete_delivers_the_answer_exactly_once,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_completion_before_the_handler_returns_is_kept,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_while_suspended_frees_everything_once,
                                        router_setup, router_teardown),
        cmocka_unit_test_setup_teardown(
            test_holder_releasing_first_leaves_the_request_to_the_transport, router_setup,
            router_teardown),
        cmocka_unit_test_setup_teardown(test_arena_allocations_and_user_pointer, router_setup,
                                        router_teardown),
        cmocka_unit_test(test_invalid_route_tables_are_refused),
        cmocka_unit_test(test_method_names_round_trip),
        cmocka_unit_test(test_start_refuses_a_bad_config),
        cmocka_unit_test_setup_teardown(test_a_trickled_request_is_cut_at_the_read_deadline,
                                        server_setup_limits, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_kept_alive_connection_gets_a_new_deadline_per_request, server_setup_limits,
            server_teardown),
        cmocka_unit_test_setup_teardown(test_a_suspended_request_outlives_the_read_deadline,
                                        server_setup_limits, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_connections_over_the_per_address_cap_are_closed_at_accept, server_setup_limits,
            server_teardown),
        cmocka_unit_test_setup_teardown(test_server_answers_unknown_path_with_json_404,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_a_handler_content_type_replaces_the_json_one,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_server_answers_wrong_method_with_405_and_allow,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_headers_up_to_the_pool_pass_and_larger_ones_are_431,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_keep_alive_connection_serves_requests_one_after_another, server_setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_body_with_content_length_is_413_envelope,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_chunked_body_is_413_envelope, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_suspended_request_is_completed_from_another_thread,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_suspended_request_is_completed_from_another_thread,
                                        server_setup_one_thread, server_teardown),
        cmocka_unit_test_setup_teardown(test_200_concurrent_suspended_requests_all_complete,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_requests_completed_as_soon_as_they_park_all_get_their_answer, server_setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(test_stop_answers_pending_requests_with_503, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_while_suspended_is_freed_exactly_once,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_a_port_in_use_is_a_retriable_error, server_setup,
                                        server_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
