/*
 * Request ids end to end (docs/architecture.md, "Request ids and trace context"), on the real
 * stack: an ss-ingress of this test (instance 3), a user and a stock worker, and a mock data
 * platform (port 18092) with a platform sink of its own group. A charge and an order sent with
 * a client X-Request-Id and a valid traceparent: the answer echoes the id; the command on
 * ss.cmd.user, the saga's ReserveStock, StockReserved and OrderPaid all carry both headers
 * (the trace-id kept, our hop's parent-id), its outcome in a CommandResults record both
 * fields; the ingress's,
 * the workers' and the sink's log lines name them; the platform received them. Without a
 * client id a mutation's X-Request-Id is its command's request id (GET /requests/{id} finds
 * it), a malformed one is replaced, an invalid traceparent starts a new trace, a dead letter
 * keeps its command's ids (a replay sends them again), and the wrapper's own 404 carries an id
 * too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_kafka.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include "ss/clock.h"
#include "ss/kafka.h"
#include "ss/topics.h"
#include "ss/trace.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 90000
#define POLL_PAUSE_US 200000
#define MOCK_PORT "18092"
#define MOCK_URL "http://127.0.0.1:" MOCK_PORT
#define CLIENT_TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"
#define CLIENT_PARENT_ID "00f067aa0ba902b7"
#define CLIENT_TRACEPARENT "00-" CLIENT_TRACE_ID "-" CLIENT_PARENT_ID "-01"

static ss_test_services_t services;
static pid_t mock_pid;
static pid_t sink_pid;

static const char *const debug_environment[] = {"SS_LOG_LEVEL=debug", NULL};
static const char *const mock_environment[] = {"SS_MOCK_PLATFORM_PORT=" MOCK_PORT,
                                               "SS_MOCK_PLATFORM_HOST=127.0.0.1",
                                               "SS_LOG_LEVEL=debug", NULL};
static const char *const sink_environment[] = {"PLATFORM_URL=" MOCK_URL,
                                               "SS_GROUP_ID=ss-platform-sink-reqid-test",
                                               "SS_CLIENT_ID=ss-platform-sink-reqid-test",
                                               "SS_PLATFORM_BACKOFF_BASE_MS=50",
                                               "SS_PLATFORM_BACKOFF_MAX_MS=400",
                                               "SS_LOG_LEVEL=debug",
                                               NULL};

/* ---- the mock platform ------------------------------------------------------------------- */

static size_t on_data(char *data, size_t size, size_t count, void *opaque)
{
    char *buffer = opaque;
    size_t used = strlen(buffer), length = size * count;
    size_t room = 8191 - used;
    memcpy(buffer + used, data, length < room ? length : room);
    buffer[used + (length < room ? length : room)] = '\0';
    return length;
}

/* GET path of the mock; the status (0: no answer) and up to 8 KiB of the body in body. */
static long mock_get(const char *path, char *body)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", MOCK_URL, path);
    body[0] = '\0';
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    long status = 0;
    if (curl_easy_setopt(curl, CURLOPT_URL, url) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, body) == CURLE_OK &&
        curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(curl);
    return status;
}

static int setup(void **state)
{
    ss_test_services_config_t config = {
        .instance = 3,
        .port = 18183,
        .workers = {[SS_TEST_SERVICE_USER] = 1, [SS_TEST_SERVICE_STOCK] = 1},
        .ingress_environment = debug_environment,
        .worker_environment = debug_environment};
    ss_test_services_start(&services, &config);
    mock_pid = ss_test_process_start("producers/mock_platform/ss-mock-platform", mock_environment);
    char body[8192];
    for (int waited = 0; mock_get("/health", body) != 200 && waited < WAIT_MS;
         waited += POLL_PAUSE_US / 1000) {
        usleep(POLL_PAUSE_US);
    }
    sink_pid = ss_test_process_start("workers/sink/ss-platform-sink", sink_environment);
    *state = &services;
    return 0;
}

static int teardown(void **state)
{
    ss_test_process_stop(sink_pid, SIGTERM);
    ss_test_process_stop(mock_pid, SIGTERM);
    return ss_test_services_teardown(state);
}

/* ---- records ------------------------------------------------------------------------------ */

/* What a test looks for on a partition: records of schema (NULL: any) carrying request id. */
typedef struct wanted {
    const char *schema_name;
    const char *request_id;
    char traceparent[128]; /* of the first one kept */
    json_t *value;         /* of the first one kept (owned) */
} wanted_t;

static bool wanted_keep(void *opaque, const ss_kafka_message_t *message)
{
    wanted_t *wanted = opaque;
    char request_id[SS_TRACE_REQUEST_ID_SIZE + 8];
    ss_test_header(message, SS_HEADER_REQUEST_ID, request_id, sizeof(request_id));
    if (strcmp(request_id, wanted->request_id) != 0) {
        return false;
    }
    const char *schema_name = NULL;
    json_t *value = NULL;
    char errstr[256];
    bool kept = wanted->schema_name == NULL ||
                (ss_avro_decode(ss_test_registry(), message->value, message->value_length,
                                &schema_name, &value, errstr, sizeof(errstr)) == SS_OK &&
                 strcmp(schema_name, wanted->schema_name) == 0);
    if (kept && wanted->traceparent[0] == '\0') {
        ss_test_header(message, SS_HEADER_TRACEPARENT, wanted->traceparent,
                       sizeof(wanted->traceparent));
        wanted->value = value;
        value = NULL;
    }
    json_decref(value);
    return kept;
}

/*
 * The first record of schema with request_id on topic's partition (key's, or partition when
 * key is NULL); fails unless it carries a traceparent of trace_id (NULL: any valid one).
 * Returns its decoded value (caller frees) and its traceparent in traceparent_out.
 */
static json_t *record_find(const char *topic, const char *key, int32_t partition,
                           const char *schema_name, const char *request_id, const char *trace_id,
                           char *traceparent_out)
{
    wanted_t wanted = {.schema_name = schema_name, .request_id = request_id};
    int32_t where = key != NULL ? ss_test_partition_of(topic, key) : partition;
    if (ss_test_topic_read(topic, where, wanted_keep, &wanted, 1, 0, WAIT_MS) < 1) {
        fail_msg("no %s with ss-request-id %s on %s/%d", schema_name ? schema_name : "record",
                 request_id, topic, where);
    }
    ss_traceparent_t parent;
    assert_int_equal(ss_trace_parent_parse(wanted.traceparent, &parent), SS_OK);
    if (trace_id != NULL) {
        assert_string_equal(parent.trace_id, trace_id);
        assert_string_not_equal(parent.parent_id, CLIENT_PARENT_ID); /* our hop's span */
    }
    if (traceparent_out != NULL) {
        /* Parsed above, so it fits; the bound keeps -O0 builds' truncation check quiet. */
        snprintf(traceparent_out, SS_TRACE_PARENT_SIZE, "%.*s", SS_TRACE_PARENT_SIZE - 1,
                 wanted.traceparent);
    }
    return wanted.value;
}

/* A CommandResults record holding the outcome whose trace_request_id is wanted's. */
static bool outcome_keep(void *opaque, const ss_kafka_message_t *message)
{
    wanted_t *wanted = opaque;
    json_t *outcomes = wanted->value == NULL ? ss_test_outcomes(message) : NULL;
    for (size_t i = 0; i < json_array_size(outcomes) && wanted->value == NULL; i++) {
        json_t *outcome = json_array_get(outcomes, i);
        if (strcmp(ss_test_json_string(outcome, "trace_request_id"), wanted->request_id) == 0) {
            snprintf(wanted->traceparent, sizeof(wanted->traceparent), "%s",
                     ss_test_json_string(outcome, "traceparent"));
            wanted->value = json_incref(outcome);
        }
    }
    json_decref(outcomes);
    return wanted->value != NULL;
}

/* The outcome on ss.results/partition of the command the client's request_id asked for. */
static json_t *outcome_find(int32_t partition, const char *request_id, char *traceparent_out)
{
    wanted_t wanted = {.schema_name = SS_SCHEMA_COMMAND_RESULTS, .request_id = request_id};
    if (ss_test_topic_read(SS_TOPIC_RESULTS, partition, outcome_keep, &wanted, 1, 0, WAIT_MS) < 1) {
        fail_msg("no outcome of %s on %s/%d", request_id, SS_TOPIC_RESULTS, partition);
    }
    snprintf(traceparent_out, SS_TRACE_PARENT_SIZE, "%.*s", SS_TRACE_PARENT_SIZE - 1,
             wanted.traceparent);
    return wanted.value;
}

/* Waits until /tmp/ss-test-<name>.log holds text past from. */
static void log_wait(const char *name, long from, const char *text)
{
    for (int waited = 0; !ss_test_log_contains(name, from, text); waited += POLL_PAUSE_US / 1000) {
        if (waited > WAIT_MS) {
            fail_msg("/tmp/ss-test-%s.log has no \"%s\"", name, text);
        }
        usleep(POLL_PAUSE_US);
    }
}

/* ---- requests ------------------------------------------------------------------------------ */

static void send_with(ss_test_http_reply_t *reply, const char *method, const char *body,
                      const char *request_id_header, const char *traceparent_header,
                      const char *path)
{
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, method, body, "%s", path);
    size_t count = 0;
    if (request_id_header != NULL) {
        request.headers[count++] = request_id_header;
    }
    if (traceparent_header != NULL) {
        request.headers[count++] = traceparent_header;
    }
    request.headers[count] = NULL;
    ss_test_http_send(services.http, &request, reply);
}

#define PATH_SIZE 96

static const char *charge_path(char *out, int64_t user_id)
{
    snprintf(out, PATH_SIZE, "/api/v1/users/%" PRId64 "/balance/charge", user_id);
    return out;
}

static const char *balance_path(char *out, int64_t user_id)
{
    snprintf(out, PATH_SIZE, "/api/v1/users/%" PRId64 "/balance", user_id);
    return out;
}

#define CLIENT_ID_SIZE 64

/* A client X-Request-Id unique to this run into id, and its header line into header. */
static void client_id_new(const char *what, char *id, char *header)
{
    snprintf(id, CLIENT_ID_SIZE, "it-%s-%" PRId64 "-%d", what, ss_clock_now_ms(), (int)getpid());
    snprintf(header, CLIENT_ID_SIZE + 16, "X-Request-Id: %s", id);
}

/* Waits until the log of name, past from, has a line naming the client's request and trace. */
static void log_names_request(const char *name, long from, const char *request_id)
{
    char expected[256];
    snprintf(expected, sizeof(expected), "request_id=%s trace_id=%s", request_id, CLIENT_TRACE_ID);
    log_wait(name, from, expected);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_charge_keeps_the_client_ids_through_command_result_and_logs(void **state)
{
    (void)state;
    char path[PATH_SIZE];
    long ingress_from = ss_test_log_size("ss-ingress");
    long worker_from = ss_test_log_size("ss-user-worker");
    int64_t user_id = ss_test_http_user_create(services.http, "request ids");
    char request_id[CLIENT_ID_SIZE], id_header[CLIENT_ID_SIZE + 16];
    client_id_new("charge", request_id, id_header);
    ss_test_http_reply_t reply = {0};
    send_with(&reply, "POST", "{\"amount\":1000}", id_header, "traceparent: " CLIENT_TRACEPARENT,
              charge_path(path, user_id));
    ss_test_http_expect(&reply, 200, NULL);
    assert_string_equal(reply.x_request_id, request_id);
    ss_test_http_reply_free(&reply);

    char key[32], command_parent[SS_TRACE_PARENT_SIZE], result_parent[SS_TRACE_PARENT_SIZE];
    snprintf(key, sizeof(key), "%" PRId64, user_id);
    json_t *command = record_find(SS_TOPIC_CMD_USER, key, 0, SS_SCHEMA_CHARGE_BALANCE, request_id,
                                  CLIENT_TRACE_ID, command_parent);
    /* The client's id is a correlation id: the command keeps an id of the ingress's own. */
    const char *command_id = ss_test_json_string(command, "request_id");
    assert_string_not_equal(command_id, request_id);
    /* Its outcome, in a CommandResults record with the outcomes of its batch, carries both. */
    json_t *result = outcome_find(3, request_id, result_parent);
    assert_string_equal(ss_test_json_string(result, "request_id"), command_id);
    assert_int_equal(ss_test_json_int(result, "http_status"), 200);
    assert_string_equal(result_parent, command_parent); /* the worker passes it on unchanged */

    log_names_request("ss-ingress", ingress_from, request_id);
    log_names_request("ss-user-worker", worker_from, request_id);
    json_decref(command);
    json_decref(result);
}

static void test_order_saga_and_platform_carry_the_orders_ids(void **state)
{
    (void)state;
    char path[PATH_SIZE];
    long stock_from = ss_test_log_size("ss-stock-worker");
    long sink_from = ss_test_log_size("ss-platform-sink");
    int64_t user_id = ss_test_http_user_create(services.http, "request ids order");
    int64_t product_id = ss_test_http_product_create(services.http, "traced", 700, 10, NULL);
    ss_test_http_reply_t reply = {0};
    send_with(&reply, "POST", "{\"amount\":5000}", NULL, NULL, charge_path(path, user_id));
    ss_test_http_expect(&reply, 200, NULL);
    ss_test_http_reply_free(&reply);

    char request_id[CLIENT_ID_SIZE], id_header[CLIENT_ID_SIZE + 16], body[128];
    client_id_new("order", request_id, id_header);
    snprintf(body, sizeof(body),
             "{\"userId\":%" PRId64 ",\"products\":[{\"id\":%" PRId64 ",\"quantity\":2}]}", user_id,
             product_id);
    send_with(&reply, "POST", body, id_header, "traceparent: " CLIENT_TRACEPARENT,
              "/api/v1/orders");
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_string_equal(ss_test_json_string(data, "status"), "PAID");
    int64_t order_id = ss_test_json_int(data, "orderId");
    assert_string_equal(reply.x_request_id, request_id);
    ss_test_http_reply_free(&reply);

    char user_key[32], product_key[32], parent[SS_TRACE_PARENT_SIZE];
    snprintf(user_key, sizeof(user_key), "%" PRId64, user_id);
    snprintf(product_key, sizeof(product_key), "%" PRId64, product_id);
    json_t *found[] = {
        record_find(SS_TOPIC_CMD_USER, user_key, 0, SS_SCHEMA_PLACE_ORDER, request_id,
                    CLIENT_TRACE_ID, parent),
        record_find(SS_TOPIC_CMD_STOCK, product_key, 0, SS_SCHEMA_RESERVE_STOCK, request_id,
                    CLIENT_TRACE_ID, NULL),
        record_find(SS_TOPIC_CMD_USER, user_key, 0, SS_SCHEMA_STOCK_RESERVED, request_id,
                    CLIENT_TRACE_ID, NULL),
        record_find(SS_TOPIC_EVENTS_ORDER, user_key, 0, SS_SCHEMA_ORDER_PAID, request_id,
                    CLIENT_TRACE_ID, NULL),
    };
    assert_int_equal(ss_test_json_int(found[3], "order_id"), order_id);
    for (size_t i = 0; i < sizeof(found) / sizeof(found[0]); i++) {
        json_decref(found[i]);
    }

    /* The platform got both as headers, with the order. */
    char answer[8192];
    snprintf(path, sizeof(path), "/received/order-%" PRId64, order_id);
    for (int waited = 0; mock_get(path, answer) != 200; waited += POLL_PAUSE_US / 1000) {
        if (waited > WAIT_MS) {
            fail_msg("the mock platform never received order %" PRId64, order_id);
        }
        usleep(POLL_PAUSE_US);
    }
    json_t *entry = json_loads(answer, 0, NULL);
    assert_non_null(entry);
    assert_string_equal(ss_test_json_string(entry, "requestId"), request_id);
    assert_string_equal(ss_test_json_string(entry, "traceparent"), parent);
    json_decref(entry);

    log_names_request("ss-stock-worker", stock_from, request_id);
    log_names_request("ss-platform-sink", sink_from, request_id);
}

static void test_without_a_client_id_a_mutation_answers_with_its_command_id(void **state)
{
    (void)state;
    char path[PATH_SIZE];
    int64_t user_id = ss_test_http_user_create(services.http, "request ids own");
    ss_test_http_reply_t reply = {0};
    send_with(&reply, "POST", "{\"amount\":10}", NULL, NULL, charge_path(path, user_id));
    ss_test_http_expect(&reply, 200, NULL);
    char request_id[SS_TEST_HTTP_HEADER_VALUE_MAX];
    snprintf(request_id, sizeof(request_id), "%s", reply.x_request_id);
    ss_test_http_reply_free(&reply);
    /* <instance>-<start ms>-<sequence>: what GET /requests/{id} takes. */
    assert_true(strncmp(request_id, "3-", 2) == 0);
    ss_test_http_get(services.http, &reply, "/api/v1/requests/%s", request_id);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_string_equal(ss_test_json_string(data, "status"), "DONE");
    assert_int_equal(strlen(reply.x_request_id), SS_TRACE_GENERATED_ID_HEX);
    ss_test_http_reply_free(&reply);
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, user_id);
    json_t *command =
        record_find(SS_TOPIC_CMD_USER, key, 0, SS_SCHEMA_CHARGE_BALANCE, request_id, NULL, NULL);
    assert_string_equal(ss_test_json_string(command, "request_id"), request_id);
    json_decref(command);
}

static void test_malformed_id_is_replaced_and_invalid_traceparent_starts_a_trace(void **state)
{
    (void)state;
    char path[PATH_SIZE];
    int64_t user_id = ss_test_http_user_create(services.http, "request ids malformed");
    ss_test_http_reply_t reply = {0};
    send_with(&reply, "GET", NULL, "X-Request-Id: not/a valid=id", NULL,
              balance_path(path, user_id));
    ss_test_http_expect(&reply, 200, NULL);
    assert_int_equal(strlen(reply.x_request_id), SS_TRACE_GENERATED_ID_HEX);
    assert_true(ss_trace_request_id_valid(reply.x_request_id, strlen(reply.x_request_id)));
    ss_test_http_reply_free(&reply);

    const char *zero_trace =
        "traceparent: 00-00000000000000000000000000000000-" CLIENT_PARENT_ID "-01";
    send_with(&reply, "POST", "{\"amount\":10}", "X-Request-Id: x y", zero_trace,
              charge_path(path, user_id));
    ss_test_http_expect(&reply, 200, NULL);
    char request_id[SS_TEST_HTTP_HEADER_VALUE_MAX];
    snprintf(request_id, sizeof(request_id), "%s", reply.x_request_id);
    ss_test_http_reply_free(&reply);
    assert_true(strncmp(request_id, "3-", 2) == 0); /* replaced by the command's id */
    char key[32], parent_text[SS_TRACE_PARENT_SIZE];
    snprintf(key, sizeof(key), "%" PRId64, user_id);
    json_t *command = record_find(SS_TOPIC_CMD_USER, key, 0, SS_SCHEMA_CHARGE_BALANCE, request_id,
                                  NULL, parent_text);
    ss_traceparent_t parent;
    assert_int_equal(ss_trace_parent_parse(parent_text, &parent), SS_OK);
    assert_string_not_equal(parent.trace_id, "00000000000000000000000000000000");
    assert_string_not_equal(parent.trace_id, CLIENT_TRACE_ID);
    assert_int_equal(parent.flags, 0);
    json_decref(command);
}

static void test_a_dead_letter_keeps_the_commands_ids(void **state)
{
    (void)state;
    long worker_from = ss_test_log_size("ss-user-worker");
    char request_id[CLIENT_ID_SIZE], unused[CLIENT_ID_SIZE + 16];
    client_id_new("dead", request_id, unused);
    const char *traceparent = "00-" CLIENT_TRACE_ID "-b7ad6b7169203331-01";
    const ss_kafka_header_t headers[] = {
        {SS_HEADER_REQUEST_ID, request_id, strlen(request_id)},
        {SS_HEADER_TRACEPARENT, traceparent, strlen(traceparent)},
    };
    ss_test_produce_raw_headers(SS_TOPIC_CMD_USER, "7", "\xc3\x01garbage!", 10, headers, 2);
    char kept[SS_TRACE_PARENT_SIZE];
    json_t *none = record_find(SS_TOPIC_DLQ, "7", 0, NULL, request_id, NULL, kept);
    assert_null(none);
    assert_string_equal(kept, traceparent); /* so ss-admin dlq replay sends them again */
    log_names_request("ss-user-worker", worker_from, request_id);
}

static void test_wrapper_answers_carry_a_request_id(void **state)
{
    (void)state;
    ss_test_http_reply_t reply = {0};
    send_with(&reply, "GET", NULL, "X-Request-Id: lost-1", NULL, "/no/such/path");
    ss_test_http_expect(&reply, 404, "NOT_FOUND");
    assert_string_equal(reply.x_request_id, "lost-1");
    ss_test_http_reply_free(&reply);
    send_with(&reply, "DELETE", NULL, NULL, NULL, "/api/v1/orders");
    ss_test_http_expect(&reply, 405, "METHOD_NOT_ALLOWED");
    assert_int_equal(strlen(reply.x_request_id), SS_TRACE_GENERATED_ID_HEX);
    ss_test_http_reply_free(&reply);
    send_with(&reply, "GET", NULL, NULL, NULL, "/api/v1/orders/999999999999");
    ss_test_http_expect(&reply, 404, "ORDER_NOT_FOUND");
    assert_int_equal(strlen(reply.x_request_id), SS_TRACE_GENERATED_ID_HEX);
    ss_test_http_reply_free(&reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_charge_keeps_the_client_ids_through_command_result_and_logs),
        cmocka_unit_test(test_order_saga_and_platform_carry_the_orders_ids),
        cmocka_unit_test(test_without_a_client_id_a_mutation_answers_with_its_command_id),
        cmocka_unit_test(test_malformed_id_is_replaced_and_invalid_traceparent_starts_a_trace),
        cmocka_unit_test(test_a_dead_letter_keeps_the_commands_ids),
        cmocka_unit_test(test_wrapper_answers_carry_a_request_id),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
