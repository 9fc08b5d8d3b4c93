/*
 * The mock data platform's handlers (producers/mock_platform), run without a socket through
 * ss_http_router_dispatch(): storing by Idempotency-Key (first body wins), the fail and stall
 * modes, what /received reports, clearing, the bound on stored keys, and bad input; the batch
 * endpoint (each item stored as its own POST /orders would be, answered item by item), the
 * refuse list and the switch that makes a platform without a batch endpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mock_platform.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ERRSTR_SIZE 512
/* A stalled request is waited for at most this many 10 ms pauses (it is due after 50 ms). */
#define STALL_WAIT_PAUSES_MAX 1000

typedef struct fixture {
    ss_mock_platform_t *mock;
    ss_http_router_t *router;
} fixture_t;

static int fixture_setup_with(void **state, size_t orders_max)
{
    fixture_t *fixture = calloc(1, sizeof(*fixture));
    assert_non_null(fixture);
    char errstr[ERRSTR_SIZE];
    assert_int_equal(ss_mock_platform_new(orders_max, &fixture->mock, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_http_router_create(ss_mock_platform_routes, ss_mock_platform_routes_count,
                                           fixture->mock, &fixture->router, errstr, sizeof(errstr)),
                     SS_OK);
    *state = fixture;
    return 0;
}

static int fixture_setup(void **state)
{
    return fixture_setup_with(state, SS_MOCK_PLATFORM_ORDERS_MAX);
}

static int fixture_setup_two_orders(void **state)
{
    return fixture_setup_with(state, 2);
}

static int fixture_teardown(void **state)
{
    fixture_t *fixture = *state;
    ss_http_router_destroy(fixture->router);
    ss_mock_platform_destroy(fixture->mock);
    free(fixture);
    return 0;
}

/* Dispatches a request and returns it still open (answered or suspended); finish it after. */
static ss_http_request_t *request_open(fixture_t *fixture, const char *method, const char *target,
                                       const char *key, const char *body)
{
    ss_http_header_t headers[] = {{"Content-Type", "application/json"}, {"Idempotency-Key", key}};
    ss_http_request_t *req = NULL;
    char errstr[ERRSTR_SIZE];
    assert_int_equal(ss_http_request_create(method, target, headers, key != NULL ? 2 : 1, body,
                                            body != NULL ? strlen(body) : 0, &req, errstr,
                                            sizeof(errstr)),
                     SS_OK);
    ss_http_router_dispatch(fixture->router, req);
    return req;
}

/* Dispatches a request that is answered at once; returns its status, copies its body. */
static int request(fixture_t *fixture, const char *method, const char *target, const char *key,
                   const char *body, char *answer, size_t answer_size)
{
    ss_http_request_t *req = request_open(fixture, method, target, key, body);
    int status = ss_http_request_response_status(req);
    if (answer != NULL) {
        snprintf(answer, answer_size, "%s", ss_http_request_response_body(req));
    }
    ss_http_request_finish(req);
    return status;
}

static int order_post(fixture_t *fixture, const char *key, const char *body)
{
    return request(fixture, "POST", "/orders", key, body, NULL, 0);
}

/* POST /control with text; it must be accepted. */
static void control(fixture_t *fixture, const char *text)
{
    assert_int_equal(request(fixture, "POST", "/control", NULL, text, NULL, 0), 200);
}

/* Waits (bounded) until a stalled request is answered; fails when it is not. */
static void stall_wait(ss_http_request_t *req)
{
    for (int i = 0; i < STALL_WAIT_PAUSES_MAX && ss_http_request_is_suspended(req); i++) {
        usleep(10000);
    }
    assert_false(ss_http_request_is_suspended(req));
}

static json_t *received(fixture_t *fixture)
{
    ss_http_request_t *req = request_open(fixture, "GET", "/received", NULL, NULL);
    assert_int_equal(ss_http_request_response_status(req), 200);
    json_error_t error;
    json_t *answer = json_loads(ss_http_request_response_body(req), 0, &error);
    ss_http_request_finish(req);
    assert_non_null(answer);
    return answer;
}

static long long received_int(json_t *answer, const char *name)
{
    return json_integer_value(json_object_get(answer, name));
}

static json_t *received_entry(json_t *answer, size_t index)
{
    return json_array_get(json_object_get(answer, "orders"), index);
}

static void test_one_key_is_looked_up_alone(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(order_post(fixture, "order-7", "{\"orderId\":7}"), 201);
    assert_int_equal(order_post(fixture, "order-7", "{\"orderId\":7}"), 200);
    char answer[512];
    assert_int_equal(
        request(fixture, "GET", "/received/order-7", NULL, NULL, answer, sizeof(answer)), 200);
    json_error_t error;
    json_t *entry = json_loads(answer, 0, &error);
    assert_non_null(entry);
    assert_string_equal(json_string_value(json_object_get(entry, "key")), "order-7");
    assert_int_equal(json_integer_value(json_object_get(entry, "deliveries")), 2);
    assert_non_null(json_object_get(entry, "body"));
    json_decref(entry);
    assert_int_equal(
        request(fixture, "GET", "/received/order-8", NULL, NULL, answer, sizeof(answer)), 404);
}

static void test_first_body_per_key_is_stored_and_repeats_are_counted(void **state)
{
    fixture_t *fixture = *state;
    char answer[256];
    assert_int_equal(
        request(fixture, "POST", "/orders", "order-1", "{\"orderId\":1}", answer, sizeof(answer)),
        201);
    assert_string_equal(answer, "{\"duplicate\":false}");
    assert_int_equal(
        request(fixture, "POST", "/orders", "order-1", "{\"orderId\":999}", answer, sizeof(answer)),
        200);
    assert_string_equal(answer, "{\"duplicate\":true}");
    assert_int_equal(order_post(fixture, "order-2", "{\"orderId\":2}"), 201);

    json_t *got = received(fixture);
    assert_int_equal(received_int(got, "unique"), 2);
    assert_int_equal(received_int(got, "total"), 3);
    assert_int_equal(received_int(got, "attempts"), 3);
    json_t *first = received_entry(got, 0);
    assert_string_equal(json_string_value(json_object_get(first, "key")), "order-1");
    assert_int_equal(json_integer_value(json_object_get(first, "deliveries")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(first, "body"), "orderId")),
                     1);
    assert_string_equal(json_string_value(json_object_get(received_entry(got, 1), "key")),
                        "order-2");
    json_decref(got);
}

static void test_an_order_without_idempotency_key_or_json_body_is_refused(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(order_post(fixture, NULL, "{\"orderId\":1}"), 400);
    assert_int_equal(order_post(fixture, "", "{\"orderId\":1}"), 400);
    char long_key[SS_MOCK_PLATFORM_KEY_BYTES_MAX + 2];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(order_post(fixture, long_key, "{\"orderId\":1}"), 400);
    assert_int_equal(order_post(fixture, "order-1", "[1]"), 400);
    assert_int_equal(order_post(fixture, "order-1", "{\"orderId\":"), 400);

    json_t *got = received(fixture);
    assert_int_equal(received_int(got, "unique"), 0);
    assert_int_equal(received_int(got, "total"), 0);
    /* The key was seen twice (bad bodies); nothing was stored for it. */
    assert_int_equal(received_int(got, "attempts"), 2);
    assert_true(json_is_null(json_object_get(received_entry(got, 0), "body")));
    json_decref(got);
}

static void test_fail_mode_answers_the_status_and_stores_nothing(void **state)
{
    fixture_t *fixture = *state;
    char answer[256];
    assert_int_equal(request(fixture, "POST", "/control", NULL,
                             "{\"mode\":\"fail\",\"status\":503}", answer, sizeof(answer)),
                     200);
    assert_non_null(strstr(answer, "\"mode\":\"fail\""));
    assert_int_equal(order_post(fixture, "order-1", "{\"orderId\":1}"), 503);
    assert_int_equal(order_post(fixture, "order-1", "{\"orderId\":1}"), 503);
    json_t *got = received(fixture);
    assert_int_equal(received_int(got, "unique"), 0);
    assert_int_equal(received_int(got, "attempts"), 2);
    json_t *entry = received_entry(got, 0);
    assert_int_equal(json_integer_value(json_object_get(entry, "attempts")), 2);
    assert_int_equal(json_integer_value(json_object_get(entry, "deliveries")), 0);
    json_decref(got);

    control(fixture, "{\"mode\":\"ok\"}");
    assert_int_equal(order_post(fixture, "order-1", "{\"orderId\":1}"), 201);
    got = received(fixture);
    assert_int_equal(received_int(got, "unique"), 1);
    assert_int_equal(json_integer_value(json_object_get(received_entry(got, 0), "attempts")), 3);
    json_decref(got);
}

static void test_stall_mode_answers_later_without_holding_the_thread(void **state)
{
    fixture_t *fixture = *state;
    control(fixture, "{\"mode\":\"stall\",\"stallMs\":50}");
    ss_http_request_t *req = request_open(fixture, "POST", "/orders", "order-1", "{\"orderId\":1}");
    /* dispatch returned: the handler suspended the request instead of sleeping. */
    assert_true(ss_http_request_is_suspended(req));
    stall_wait(req);
    assert_int_equal(ss_http_request_response_status(req), 201);
    ss_http_request_finish(req);
    json_t *got = received(fixture);
    assert_int_equal(received_int(got, "unique"), 1);
    json_decref(got);
}

static void test_a_request_still_stalled_at_destroy_is_answered_503(void **state)
{
    fixture_t *fixture = *state;
    control(fixture, "{\"mode\":\"stall\",\"stallMs\":60000}");
    ss_http_request_t *req = request_open(fixture, "POST", "/orders", "order-1", "{\"orderId\":1}");
    assert_true(ss_http_request_is_suspended(req));
    ss_mock_platform_destroy(fixture->mock);
    fixture->mock = NULL;
    assert_false(ss_http_request_is_suspended(req));
    assert_int_equal(ss_http_request_response_status(req), 503);
    ss_http_request_finish(req);
}

static void test_control_refuses_what_it_does_not_know(void **state)
{
    fixture_t *fixture = *state;
    const char *const bad[] = {
        "{\"mode\":\"slow\"}",
        "{\"status\":503}",
        "{\"mode\":\"fail\",\"status\":200}",
        "{\"mode\":\"fail\",\"status\":600}",
        "{\"mode\":\"stall\",\"stallMs\":-1}",
        "{\"mode\":\"stall\",\"stallMs\":60001}",
        "{\"mode\":\"ok\",\"extra\":1}",
        "{\"mode\":\"ok\",\"refuse\":[1]}",
        "{\"mode\":\"ok\",\"refuse\":\"order-1\"}",
        "{\"mode\":\"ok\",\"batch\":1}",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(request(fixture, "POST", "/control", NULL, bad[i], NULL, 0), 400);
    }
    /* Still mode ok. */
    assert_int_equal(order_post(fixture, "order-1", "{\"orderId\":1}"), 201);
}

#define BATCH_THREE                                                                                \
    "{\"orders\":[{\"idempotencyKey\":\"order-1\",\"order\":{\"orderId\":1},"                      \
    "\"requestId\":\"r-1\",\"traceparent\":null},"                                                 \
    "{\"idempotencyKey\":\"order-2\",\"order\":{\"orderId\":2}},"                                  \
    "{\"idempotencyKey\":\"order-3\",\"order\":{\"orderId\":3},\"requestId\":null}]}"

/* The status results[index] of a batch answer gives its item. */
static long long batch_status(const char *answer, size_t index)
{
    json_error_t error;
    json_t *root = json_loads(answer, 0, &error);
    assert_non_null(root);
    json_t *result = json_array_get(json_object_get(root, "results"), index);
    assert_non_null(result);
    long long status = json_integer_value(json_object_get(result, "status"));
    json_decref(root);
    return status;
}

static void test_batch_items_are_stored_and_answered_one_by_one(void **state)
{
    fixture_t *fixture = *state;
    char answer[1024];
    assert_int_equal(order_post(fixture, "order-2", "{\"orderId\":2}"), 201);
    control(fixture, "{\"mode\":\"ok\",\"refuse\":[\"order-3\"]}");
    assert_int_equal(
        request(fixture, "POST", "/orders/batch", NULL, BATCH_THREE, answer, sizeof(answer)), 200);
    assert_int_equal(batch_status(answer, 0), 201); /* new */
    assert_int_equal(batch_status(answer, 1), 200); /* had it from the POST /orders */
    assert_int_equal(batch_status(answer, 2), 422); /* refused on purpose */
    assert_non_null(strstr(answer, "\"error\":\"refused on purpose"));
    json_t *got = received(fixture);
    assert_int_equal(received_int(got, "unique"), 2);
    assert_int_equal(received_int(got, "total"), 3);
    assert_int_equal(received_int(got, "attempts"), 4);
    assert_int_equal(received_int(got, "batches"), 1);
    json_t *first = json_object_get(received_entry(got, 1), "body");
    assert_int_equal(json_integer_value(json_object_get(first, "orderId")), 1);
    assert_string_equal(json_string_value(json_object_get(received_entry(got, 1), "requestId")),
                        "r-1");
    assert_true(json_is_null(json_object_get(received_entry(got, 2), "body")));
    json_decref(got);
    /* The refusal lasts until the next control. */
    control(fixture, "{\"mode\":\"ok\"}");
    assert_int_equal(
        request(fixture, "POST", "/orders/batch", NULL, BATCH_THREE, answer, sizeof(answer)), 200);
    assert_int_equal(batch_status(answer, 0), 200);
    assert_int_equal(batch_status(answer, 2), 201);
}

static void test_a_malformed_batch_is_refused_whole(void **state)
{
    fixture_t *fixture = *state;
    const char *const bad[] = {
        "{\"orders\":[]}",
        "{\"orders\":{}}",
        "{\"orders\":[{\"idempotencyKey\":\"order-1\",\"order\":{}},{\"order\":{}}]}",
        "{\"orders\":[{\"idempotencyKey\":\"order-1\",\"order\":{}},"
        "{\"idempotencyKey\":\"order-2\",\"order\":5}]}",
        "{\"orders\":[{\"idempotencyKey\":\"order-1\",\"order\":{},\"extra\":1}]}",
        "{\"orders\":[{\"idempotencyKey\":\"order-1\",\"order\":{},\"requestId\":7}]}",
        "{\"items\":[]}",
        "not json",
    };
    char answer[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            request(fixture, "POST", "/orders/batch", NULL, bad[i], answer, sizeof(answer)), 400);
        assert_non_null(strstr(answer, "\"error\""));
    }
    json_t *got = received(fixture);
    assert_int_equal(received_int(got, "attempts"), 0); /* nothing counted, nothing stored */
    json_decref(got);
}

static void test_batch_modes_apply_to_the_whole_batch(void **state)
{
    fixture_t *fixture = *state;
    control(fixture, "{\"mode\":\"fail\",\"status\":500}");
    assert_int_equal(request(fixture, "POST", "/orders/batch", NULL, BATCH_THREE, NULL, 0), 500);
    control(fixture, "{\"mode\":\"stall\",\"stallMs\":50}");
    ss_http_request_t *req = request_open(fixture, "POST", "/orders/batch", NULL, BATCH_THREE);
    assert_true(ss_http_request_is_suspended(req));
    stall_wait(req);
    assert_int_equal(ss_http_request_response_status(req), 200);
    assert_int_equal(batch_status(ss_http_request_response_body(req), 2), 201);
    ss_http_request_finish(req);
    json_t *got = received(fixture);
    assert_int_equal(received_int(got, "unique"), 3);
    assert_int_equal(received_int(got, "attempts"), 6);
    json_decref(got);
}

static void test_batch_off_answers_404_like_a_platform_without_it(void **state)
{
    fixture_t *fixture = *state;
    control(fixture, "{\"mode\":\"ok\",\"batch\":false}");
    assert_int_equal(request(fixture, "POST", "/orders/batch", NULL, BATCH_THREE, NULL, 0), 404);
    assert_int_equal(order_post(fixture, "order-1", "{\"orderId\":1}"), 201);
}

static void test_delete_received_forgets_everything(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(order_post(fixture, "order-1", "{\"orderId\":1}"), 201);
    char answer[128];
    assert_int_equal(request(fixture, "DELETE", "/received", NULL, NULL, answer, sizeof(answer)),
                     200);
    assert_string_equal(answer, "{\"cleared\":1}");
    json_t *got = received(fixture);
    assert_int_equal(received_int(got, "unique"), 0);
    assert_int_equal(received_int(got, "total"), 0);
    assert_int_equal(json_array_size(json_object_get(got, "orders")), 0);
    json_decref(got);
    assert_int_equal(order_post(fixture, "order-1", "{\"orderId\":1}"), 201);
}

static void test_a_new_key_beyond_the_bound_is_refused_with_507(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(order_post(fixture, "order-1", "{\"orderId\":1}"), 201);
    assert_int_equal(order_post(fixture, "order-2", "{\"orderId\":2}"), 201);
    assert_int_equal(order_post(fixture, "order-3", "{\"orderId\":3}"), 507);
    /* Known keys still answer. */
    assert_int_equal(order_post(fixture, "order-2", "{\"orderId\":2}"), 200);
    json_t *got = received(fixture);
    assert_int_equal(received_int(got, "unique"), 2);
    json_decref(got);
}

static void test_health_is_200(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(request(fixture, "GET", "/health", NULL, NULL, NULL, 0), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_body_per_key_is_stored_and_repeats_are_counted,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_an_order_without_idempotency_key_or_json_body_is_refused, fixture_setup,
            fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fail_mode_answers_the_status_and_stores_nothing,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_stall_mode_answers_later_without_holding_the_thread,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_request_still_stalled_at_destroy_is_answered_503,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_items_are_stored_and_answered_one_by_one,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_malformed_batch_is_refused_whole, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_modes_apply_to_the_whole_batch, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_off_answers_404_like_a_platform_without_it,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_control_refuses_what_it_does_not_know, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_delete_received_forgets_everything, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_new_key_beyond_the_bound_is_refused_with_507,
                                        fixture_setup_two_orders, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_health_is_200, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_one_key_is_looked_up_alone, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
