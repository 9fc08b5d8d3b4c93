/*
 * The contract test: docs/openapi.json against the running system. An ss-ingress of this test
 * (instance 3) and one user, coupon and stock worker serve real requests; every answer is
 * checked against the document (status documented for the operation, body conforming to the
 * response schema, documented headers such as Location and Retry-After present, envelope code
 * equal to the HTTP status). Each operation is exercised with its success and its main error
 * answers; a final test asserts that every operation got at least a 2xx and, where it documents
 * any, a 4xx.
 *
 * Routing, both ways: every documented method and path reaches a handler (never the router's
 * own NOT_FOUND or METHOD_NOT_ALLOWED), and an undocumented method on a documented path gets 405
 * with an Allow header naming exactly the documented methods (plus HEAD for GET). The routes
 * the ingress declares are read from the route tables in the .c files of producers/ingress (this
 * binary does not link the ingress core), and each must be in the document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_openapi.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include <ctype.h>
#include <glob.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONTRACT_DOCUMENT SS_SOURCE_DIR "/docs/openapi.json"
#define CONTRACT_ROUTE_SOURCES SS_SOURCE_DIR "/producers/ingress/*.c"
#define CONTRACT_INSTANCE 3
#define CONTRACT_PORT 18187
/* Statuses remembered per operation, for the coverage check. */
#define CONTRACT_STATUSES_MAX 16
#define CONTRACT_SOURCE_BYTES_MAX (1024 * 1024)
#define CONTRACT_ROUTES_MAX 256
/* A body over the 64 KiB limit. */
#define CONTRACT_LARGE_BODY_BYTES (70 * 1024)
/* Far beyond any id the test creates. */
#define CONTRACT_UNKNOWN_ID "9000000000000000000"

static ss_test_services_t services;
static ss_test_openapi_t *openapi;

/* Which statuses each documented operation has been seen answering (index as in the document). */
typedef struct coverage {
    int statuses[CONTRACT_STATUSES_MAX];
    size_t count;
} coverage_t;
static coverage_t coverage[SS_TEST_OPENAPI_OPERATIONS_MAX];

static int setup(void **state)
{
    (void)state;
    char errstr[512];
    if (ss_test_openapi_load(CONTRACT_DOCUMENT, &openapi, errstr, sizeof(errstr)) != SS_OK) {
        fprintf(stderr, "%s\n", errstr);
        return -1;
    }
    ss_test_services_config_t config = {.instance = CONTRACT_INSTANCE, .port = CONTRACT_PORT};
    config.workers[SS_TEST_SERVICE_USER] = 1;
    config.workers[SS_TEST_SERVICE_COUPON] = 1;
    config.workers[SS_TEST_SERVICE_STOCK] = 1;
    ss_test_services_start(&services, &config);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ss_test_services_stop(&services);
    ss_test_openapi_destroy(openapi);
    return 0;
}

static void coverage_note(const char *method, const char *path_template, int status)
{
    size_t count = ss_test_openapi_operation_count(openapi);
    for (size_t i = 0; i < count; i++) {
        const char *m, *p;
        assert_int_equal(ss_test_openapi_operation(openapi, i, &m, &p), SS_OK);
        if (strcasecmp(m, method) != 0 || strcmp(p, path_template) != 0) {
            continue;
        }
        for (size_t s = 0; s < coverage[i].count; s++) {
            if (coverage[i].statuses[s] == status) {
                return;
            }
        }
        if (coverage[i].count < CONTRACT_STATUSES_MAX) {
            coverage[i].statuses[coverage[i].count++] = status;
        }
        return;
    }
    fail_msg("%s %s is not in the document", method, path_template);
}

/* The value of a documented response header in the reply ("" when the client does not keep it). */
static const char *reply_header(const ss_test_http_reply_t *reply, const char *name)
{
    if (strcasecmp(name, "Location") == 0) {
        return reply->location;
    }
    if (strcasecmp(name, "Retry-After") == 0) {
        return reply->retry_after;
    }
    if (strcasecmp(name, "Allow") == 0) {
        return reply->allow;
    }
    return NULL;
}

/*
 * The heart of the test: reply must have status, conform to the document's response of
 * method path_template for it, carry its documented headers, and (error_code given or
 * envelope true) be an envelope with that error code (NULL: a success). Returns data.
 */
static json_t *contract_check(const ss_test_http_reply_t *reply, const char *method,
                              const char *path_template, long status, const char *error_code)
{
    if (reply->status != status) {
        fail_msg("%s %s: expected %ld, got %ld: %s", method, path_template, status, reply->status,
                 reply->body != NULL ? reply->body : "");
    }
    char errstr[1024];
    if (ss_test_openapi_check_response(openapi, method, path_template, (int)reply->status,
                                       reply->body != NULL ? reply->body : "", reply->body_length,
                                       errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("%s\nbody: %s", errstr, reply->body != NULL ? reply->body : "");
    }
    const char *headers[SS_TEST_HTTP_HEADERS_MAX];
    size_t header_count = ss_test_openapi_response_headers(
        openapi, method, path_template, (int)status, headers, SS_TEST_HTTP_HEADERS_MAX);
    for (size_t i = 0; i < header_count && i < SS_TEST_HTTP_HEADERS_MAX; i++) {
        const char *value = reply_header(reply, headers[i]);
        if (value != NULL && value[0] == '\0') {
            fail_msg("%s %s %ld: the documented header %s is missing", method, path_template,
                     status, headers[i]);
        }
    }
    coverage_note(method, path_template, (int)status);
    return ss_test_http_expect(reply, status, error_code);
}

/* ---- requests -------------------------------------------------------------------------------- */

static void request_send(const char *method, const char *body, const char *header_one,
                         const char *header_two, ss_test_http_reply_t *reply, const char *path)
{
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, method, body, "%s", path);
    size_t count = 0;
    if (header_one != NULL) {
        request.headers[count++] = header_one;
    }
    if (header_two != NULL) {
        request.headers[count++] = header_two;
    }
    request.headers[count] = NULL;
    ss_test_http_send(services.http, &request, reply);
}

/* An admin call (bearer token) checked against the document; a 202 is settled first. */
static json_t *admin_call(ss_test_http_reply_t *reply, const char *method, const char *path,
                          const char *path_template, const char *body, long status,
                          const char *error_code)
{
    request_send(method, body, ss_test_http_admin_header(services.http), NULL, reply, path);
    ss_test_http_settle(services.http, reply, SS_TEST_SERVICES_SETTLE_MS);
    return contract_check(reply, method, path_template, status, error_code);
}

/* A plain call checked against the document; a 202 is settled first (the final outcome). */
static json_t *call(ss_test_http_reply_t *reply, const char *method, const char *path,
                    const char *path_template, const char *body, long status,
                    const char *error_code)
{
    request_send(method, body, NULL, NULL, reply, path);
    ss_test_http_settle(services.http, reply, SS_TEST_SERVICES_SETTLE_MS);
    return contract_check(reply, method, path_template, status, error_code);
}

static int64_t user_new(const char *what)
{
    char body[160], path[] = "/api/v1/admin/users";
    snprintf(body, sizeof(body), "{\"nickname\":\"%s-%s\"}", what, ss_test_run_id());
    ss_test_http_reply_t reply = {0};
    int64_t id = ss_test_json_int(
        admin_call(&reply, "POST", path, "/api/v1/admin/users", body, 200, NULL), "id");
    ss_test_http_reply_free(&reply);
    return id;
}

static int64_t product_new(int64_t price, int64_t stock, const char *status)
{
    char body[200];
    snprintf(body, sizeof(body),
             "{\"name\":\"contract-%s\",\"price\":%" PRId64 ",\"stock\":%" PRId64 "%s%s%s}",
             ss_test_run_id(), price, stock, status != NULL ? ",\"sellStatus\":\"" : "",
             status != NULL ? status : "", status != NULL ? "\"" : "");
    ss_test_http_reply_t reply = {0};
    int64_t id = ss_test_json_int(admin_call(&reply, "POST", "/api/v1/admin/products",
                                             "/api/v1/admin/products", body, 200, NULL),
                                  "id");
    ss_test_http_reply_free(&reply);
    return id;
}

static int64_t coupon_new(const char *rate, int64_t quantity, const char *expired_at,
                          const char *status)
{
    char body[300];
    snprintf(body, sizeof(body),
             "{\"name\":\"contract-%s\",\"discountRate\":%s,\"quantity\":%" PRId64
             ",\"expiredAt\":\"%s\"%s%s%s}",
             ss_test_run_id(), rate, quantity, expired_at, status != NULL ? ",\"status\":\"" : "",
             status != NULL ? status : "", status != NULL ? "\"" : "");
    ss_test_http_reply_t reply = {0};
    int64_t id = ss_test_json_int(admin_call(&reply, "POST", "/api/v1/admin/coupons",
                                             "/api/v1/admin/coupons", body, 200, NULL),
                                  "id");
    ss_test_http_reply_free(&reply);
    return id;
}

static void charge(int64_t user_id, int64_t amount)
{
    char path[96], body[64];
    snprintf(path, sizeof(path), "/api/v1/users/%" PRId64 "/balance/charge", user_id);
    snprintf(body, sizeof(body), "{\"amount\":%" PRId64 "}", amount);
    ss_test_http_reply_t reply = {0};
    call(&reply, "POST", path, "/api/v1/users/{id}/balance/charge", body, 200, NULL);
    ss_test_http_reply_free(&reply);
}

static void issue(int64_t user_id, int64_t coupon_id, long status, const char *error_code)
{
    char path[96], body[64];
    snprintf(path, sizeof(path), "/api/v1/users/%" PRId64 "/coupons", user_id);
    snprintf(body, sizeof(body), "{\"couponId\":%" PRId64 "}", coupon_id);
    ss_test_http_reply_t reply = {0};
    call(&reply, "POST", path, "/api/v1/users/{id}/coupons", body, status, error_code);
    ss_test_http_reply_free(&reply);
}

/* ---- the endpoints ----------------------------------------------------------------------------
 */

static void test_health_ready_and_the_document_itself_conform(void **state)
{
    (void)state;
    ss_test_http_reply_t reply = {0};
    call(&reply, "GET", "/health", "/health", NULL, 200, NULL);
    ss_test_http_reply_free(&reply);
    call(&reply, "GET", "/ready", "/ready", NULL, 200, NULL);
    ss_test_http_reply_free(&reply);

    /* /openapi.json is the document itself, not an envelope */
    request_send("GET", NULL, NULL, NULL, &reply, "/openapi.json");
    assert_int_equal(reply.status, 200);
    char errstr[512];
    if (ss_test_openapi_check_response(openapi, "GET", "/openapi.json", 200, reply.body,
                                       reply.body_length, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("%s", errstr);
    }
    assert_non_null(reply.json);
    assert_true(json_equal(reply.json, ss_test_openapi_document(openapi)));
    assert_non_null(strstr(reply.content_type, "application/json"));
    coverage_note("GET", "/openapi.json", 200);
    ss_test_http_reply_free(&reply);

    /* /docs and its script are HTML and JavaScript (tests/docs/check_docs_page.sh renders them) */
    request_send("GET", NULL, NULL, NULL, &reply, "/docs");
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr(reply.body, "<redoc spec-url=\"/openapi.json\""));
    coverage_note("GET", "/docs", 200);
    ss_test_http_reply_free(&reply);
    request_send("GET", NULL, NULL, NULL, &reply, "/docs/redoc.standalone.js");
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "text/javascript; charset=utf-8");
    assert_true(reply.body_length > 100000);
    coverage_note("GET", "/docs/redoc.standalone.js", 200);
    ss_test_http_reply_free(&reply);
    /* /metrics is Prometheus's text format (tests/integration/test_metrics.c checks its grammar) */
    request_send("GET", NULL, NULL, NULL, &reply, "/metrics");
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(reply.body, "\nss_up 1\n"));
    coverage_note("GET", "/metrics", 200);
    ss_test_http_reply_free(&reply);
    request_send("GET", NULL, NULL, NULL, &reply, "/docs/swagger-ui.js");
    ss_test_http_expect(&reply, 404, "NOT_FOUND");
    ss_test_http_reply_free(&reply);
}

static void test_admin_endpoints_conform(void **state)
{
    (void)state;
    ss_test_http_reply_t reply = {0};
    const char *users = "/api/v1/admin/users";
    user_new("contract-admin");
    admin_call(&reply, "POST", users, users, "{\"nickname\":\"\"}", 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    request_send("POST", "{\"nickname\":\"x\"}", NULL, NULL, &reply, users);
    contract_check(&reply, "POST", users, 401, "UNAUTHORIZED");
    ss_test_http_reply_free(&reply);
    request_send("POST", "{\"nickname\":\"x\"}", "Authorization: Bearer not-the-admin-token", NULL,
                 &reply, users);
    contract_check(&reply, "POST", users, 403, "FORBIDDEN");
    ss_test_http_reply_free(&reply);
    char *large = malloc(CONTRACT_LARGE_BODY_BYTES + 1);
    assert_non_null(large);
    memset(large, ' ', CONTRACT_LARGE_BODY_BYTES);
    large[0] = '{';
    large[CONTRACT_LARGE_BODY_BYTES - 1] = '}';
    large[CONTRACT_LARGE_BODY_BYTES] = '\0';
    request_send("POST", large, ss_test_http_admin_header(services.http), NULL, &reply, users);
    contract_check(&reply, "POST", users, 413, "PAYLOAD_TOO_LARGE");
    ss_test_http_reply_free(&reply);
    free(large);

    const char *products = "/api/v1/admin/products";
    const char *product = "/api/v1/admin/products/{id}";
    int64_t product_id = product_new(1000, 10, NULL);
    admin_call(&reply, "POST", products, products, "{\"name\":\"p\",\"price\":\"1\",\"stock\":1}",
               400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/admin/products/%" PRId64, product_id);
    json_t *data = admin_call(&reply, "PATCH", path, product, "{\"stockDelta\":5}", 200, NULL);
    assert_int_equal(ss_test_json_int(data, "stock"), 15);
    ss_test_http_reply_free(&reply);
    admin_call(&reply, "PATCH", path, product, "{}", 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    admin_call(&reply, "PATCH", "/api/v1/admin/products/" CONTRACT_UNKNOWN_ID, product,
               "{\"sellStatus\":\"HOLD\"}", 404, "PRODUCT_NOT_FOUND");
    ss_test_http_reply_free(&reply);

    const char *coupons = "/api/v1/admin/coupons";
    const char *coupon = "/api/v1/admin/coupons/{id}";
    int64_t coupon_id = coupon_new("0.1", 5, "2099-12-31T23:59:59Z", "REGISTERED");
    admin_call(&reply, "POST", coupons, coupons,
               "{\"name\":\"c\",\"discountRate\":1.5,\"quantity\":1,"
               "\"expiredAt\":\"2099-12-31T23:59:59Z\"}",
               400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    snprintf(path, sizeof(path), "/api/v1/admin/coupons/%" PRId64, coupon_id);
    data = admin_call(&reply, "PATCH", path, coupon, "{\"status\":\"PUBLISHABLE\"}", 200, NULL);
    assert_string_equal(ss_test_json_string(data, "status"), "PUBLISHABLE");
    ss_test_http_reply_free(&reply);
    admin_call(&reply, "PATCH", "/api/v1/admin/coupons/" CONTRACT_UNKNOWN_ID, coupon,
               "{\"status\":\"CANCELED\"}", 404, "COUPON_NOT_FOUND");
    ss_test_http_reply_free(&reply);
}

static void test_balance_endpoints_conform(void **state)
{
    (void)state;
    const char *balance = "/api/v1/users/{id}/balance";
    const char *charge_template = "/api/v1/users/{id}/balance/charge";
    int64_t user_id = user_new("contract-balance");
    char path[96], charge_path[96];
    snprintf(path, sizeof(path), "/api/v1/users/%" PRId64 "/balance", user_id);
    snprintf(charge_path, sizeof(charge_path), "/api/v1/users/%" PRId64 "/balance/charge", user_id);
    ss_test_http_reply_t reply = {0};
    json_t *data = call(&reply, "GET", path, balance, NULL, 200, NULL);
    assert_int_equal(ss_test_json_int(data, "amount"), 0);
    ss_test_http_reply_free(&reply);
    call(&reply, "GET", "/api/v1/users/abc/balance", balance, NULL, 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    call(&reply, "GET", "/api/v1/users/" CONTRACT_UNKNOWN_ID "/balance", balance, NULL, 404,
         "USER_NOT_FOUND");
    ss_test_http_reply_free(&reply);

    data = call(&reply, "POST", charge_path, charge_template, "{\"amount\":9999999}", 200, NULL);
    assert_int_equal(ss_test_json_int(data, "amount"), 9999999);
    ss_test_http_reply_free(&reply);
    call(&reply, "POST", charge_path, charge_template, "{\"amount\":2}", 409,
         "BALANCE_LIMIT_EXCEEDED");
    ss_test_http_reply_free(&reply);
    call(&reply, "POST", charge_path, charge_template, "{\"amount\":0}", 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    call(&reply, "POST", "/api/v1/users/" CONTRACT_UNKNOWN_ID "/balance/charge", charge_template,
         "{\"amount\":1}", 404, "USER_NOT_FOUND");
    ss_test_http_reply_free(&reply);

    /* the same Idempotency-Key with another body */
    char key[128];
    snprintf(key, sizeof(key), "Idempotency-Key: contract-%s", ss_test_run_id());
    request_send("POST", "{\"amount\":1}", key, NULL, &reply, charge_path);
    ss_test_http_settle(services.http, &reply, SS_TEST_SERVICES_SETTLE_MS);
    contract_check(&reply, "POST", charge_template, 200, NULL);
    ss_test_http_reply_free(&reply);
    request_send("POST", "{\"amount\":2}", key, NULL, &reply, charge_path);
    ss_test_http_settle(services.http, &reply, SS_TEST_SERVICES_SETTLE_MS);
    contract_check(&reply, "POST", charge_template, 409, "IDEMPOTENCY_KEY_REUSED");
    ss_test_http_reply_free(&reply);
}

static void test_async_answers_and_the_requests_endpoint_conform(void **state)
{
    (void)state;
    int64_t user_id = user_new("contract-async");
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/users/%" PRId64 "/balance/charge", user_id);
    ss_test_http_reply_t reply = {0};
    request_send("POST", "{\"amount\":5}", "Prefer: respond-async", NULL, &reply, path);
    json_t *data = contract_check(&reply, "POST", "/api/v1/users/{id}/balance/charge", 202, NULL);
    char request_id[SS_TEST_HTTP_HEADER_VALUE_MAX];
    snprintf(request_id, sizeof(request_id), "%s", ss_test_json_string(data, "requestId"));
    ss_test_http_reply_free(&reply);

    /* PENDING or DONE, both must conform; then wait for DONE */
    const char *requests = "/api/v1/requests/{id}";
    char request_path[SS_TEST_HTTP_PATH_MAX];
    snprintf(request_path, sizeof(request_path), "/api/v1/requests/%s", request_id);
    request_send("GET", NULL, NULL, NULL, &reply, request_path);
    contract_check(&reply, "GET", requests, 200, NULL);
    ss_test_http_reply_free(&reply);
    int64_t done = 0;
    for (int poll = 0; poll < SS_TEST_SERVICES_SETTLE_MS / 100 && done == 0; poll++) {
        request_send("GET", NULL, NULL, NULL, &reply, request_path);
        data = contract_check(&reply, "GET", requests, 200, NULL);
        done = strcmp(ss_test_json_string(data, "status"), "DONE") == 0;
        if (done) {
            /* the stored result is the charge's own final envelope */
            json_t *schema = json_pack("{s:s}", "$ref", "#/components/schemas/BalanceEnvelope");
            assert_non_null(schema);
            char errstr[512];
            if (ss_test_openapi_check_value(openapi, schema, json_object_get(data, "result"),
                                            errstr, sizeof(errstr)) != SS_OK) {
                fail_msg("the result of a DONE charge: %s", errstr);
            }
            json_decref(schema);
        }
        ss_test_http_reply_free(&reply);
        if (!done) {
            usleep(100000);
        }
    }
    assert_true(done);
    call(&reply, "GET", "/api/v1/requests/no-such-request", requests, NULL, 404,
         "REQUEST_NOT_FOUND");
    ss_test_http_reply_free(&reply);
}

static void test_product_endpoints_conform(void **state)
{
    (void)state;
    const char *products = "/api/v1/products";
    product_new(500, 3, NULL);
    product_new(600, 4, NULL);
    product_new(700, 5, "HOLD");
    ss_test_http_reply_t reply = {0};
    json_t *data = call(&reply, "GET", "/api/v1/products?limit=1", products, NULL, 200, NULL);
    const char *cursor = json_string_value(json_object_get(data, "nextCursor"));
    assert_non_null(cursor);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/products?limit=100&cursor=%s", cursor);
    ss_test_http_reply_free(&reply);
    call(&reply, "GET", path, products, NULL, 200, NULL);
    ss_test_http_reply_free(&reply);
    call(&reply, "GET", "/api/v1/products?limit=0", products, NULL, 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    call(&reply, "GET", "/api/v1/products/popular", "/api/v1/products/popular", NULL, 200, NULL);
    ss_test_http_reply_free(&reply);
}

static void test_coupon_endpoints_conform(void **state)
{
    (void)state;
    const char *user_coupons = "/api/v1/users/{id}/coupons";
    int64_t first = user_new("contract-coupon-1");
    int64_t second = user_new("contract-coupon-2");
    int64_t single = coupon_new("0.25", 1, "2099-12-31T23:59:59Z", NULL);
    issue(first, single, 200, NULL);
    issue(first, single, 409, "COUPON_ALREADY_ISSUED");
    issue(second, single, 409, "COUPON_SOLD_OUT");
    issue(second, coupon_new("0.1", 5, "2099-12-31T23:59:59Z", "REGISTERED"), 409,
          "COUPON_NOT_ISSUABLE");
    issue(second, coupon_new("0.1", 5, "2001-01-01T00:00:00Z", NULL), 409, "COUPON_EXPIRED");
    char unknown_coupon[] = CONTRACT_UNKNOWN_ID;
    issue(second, strtoll(unknown_coupon, NULL, 10), 404, "COUPON_NOT_FOUND");

    char path[96];
    snprintf(path, sizeof(path), "/api/v1/users/%" PRId64 "/coupons", first);
    ss_test_http_reply_t reply = {0};
    call(&reply, "POST", path, user_coupons, "{\"couponId\":\"1\"}", 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    json_t *data = call(&reply, "GET", path, user_coupons, NULL, 200, NULL);
    json_t *coupons = json_object_get(data, "coupons");
    assert_int_equal(json_array_size(coupons), 1);
    assert_int_equal(ss_test_json_int(json_array_get(coupons, 0), "id"), single);
    ss_test_http_reply_free(&reply);
    call(&reply, "GET", "/api/v1/users/" CONTRACT_UNKNOWN_ID "/coupons", user_coupons, NULL, 404,
         "USER_NOT_FOUND");
    ss_test_http_reply_free(&reply);
}

static void test_order_endpoints_conform(void **state)
{
    (void)state;
    const char *orders = "/api/v1/orders";
    const char *order = "/api/v1/orders/{id}";
    int64_t user_id = user_new("contract-order");
    charge(user_id, 100000);
    int64_t product_id = product_new(1000, 5, NULL);
    int64_t coupon_id = coupon_new("0.1", 10, "2099-12-31T23:59:59Z", NULL);
    issue(user_id, coupon_id, 200, NULL);

    char body[256], path[96];
    snprintf(body, sizeof(body),
             "{\"userId\":%" PRId64 ",\"couponId\":%" PRId64 ",\"products\":[{\"id\":%" PRId64
             ",\"quantity\":2}]}",
             user_id, coupon_id, product_id);
    ss_test_http_reply_t reply = {0};
    json_t *data = call(&reply, "POST", "/api/v1/orders", orders, body, 200, NULL);
    int64_t paid_id = ss_test_json_int(data, "orderId");
    assert_int_equal(ss_test_json_int(data, "totalPrice"), 2000);
    assert_int_equal(ss_test_json_int(data, "discountPrice"), 200);
    assert_int_equal(ss_test_json_int(data, "paidAmount"), 1800);
    ss_test_http_reply_free(&reply);
    snprintf(path, sizeof(path), "/api/v1/orders/%" PRId64, paid_id);
    data = call(&reply, "GET", path, order, NULL, 200, NULL);
    assert_string_equal(ss_test_json_string(data, "status"), "PAID");
    ss_test_http_reply_free(&reply);

    /* more than the stock: refused with the order's id, which reads back as FAILED */
    snprintf(body, sizeof(body),
             "{\"userId\":%" PRId64 ",\"products\":[{\"id\":%" PRId64 ",\"quantity\":4}]}", user_id,
             product_id);
    data = call(&reply, "POST", "/api/v1/orders", orders, body, 409, "INSUFFICIENT_STOCK");
    int64_t failed_id = ss_test_json_int(data, "orderId");
    ss_test_http_reply_free(&reply);
    snprintf(path, sizeof(path), "/api/v1/orders/%" PRId64, failed_id);
    data = call(&reply, "GET", path, order, NULL, 200, NULL);
    assert_string_equal(ss_test_json_string(data, "status"), "FAILED");
    assert_string_equal(ss_test_json_string(data, "failureReason"), "INSUFFICIENT_STOCK");
    ss_test_http_reply_free(&reply);

    int64_t poor = user_new("contract-order-poor");
    snprintf(body, sizeof(body),
             "{\"userId\":%" PRId64 ",\"products\":[{\"id\":%" PRId64 ",\"quantity\":1}]}", poor,
             product_id);
    call(&reply, "POST", "/api/v1/orders", orders, body, 409, "INSUFFICIENT_BALANCE");
    ss_test_http_reply_free(&reply);
    snprintf(body, sizeof(body), "{\"userId\":%" PRId64 ",\"products\":[]}", user_id);
    call(&reply, "POST", "/api/v1/orders", orders, body, 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    snprintf(body, sizeof(body),
             "{\"userId\":%" PRId64 ",\"products\":[{\"id\":" CONTRACT_UNKNOWN_ID
             ",\"quantity\":1}]}",
             user_id);
    call(&reply, "POST", "/api/v1/orders", orders, body, 404, "PRODUCT_NOT_FOUND");
    ss_test_http_reply_free(&reply);
    call(&reply, "GET", "/api/v1/orders/" CONTRACT_UNKNOWN_ID, order, NULL, 404, "ORDER_NOT_FOUND");
    ss_test_http_reply_free(&reply);
}

/* ---- routing, both ways -------------------------------------------------------------------------
 */

/* The template with every {param} replaced by 1: a concrete path the router must match. */
static void path_concrete(const char *path_template, char *out, size_t out_size)
{
    size_t used = 0;
    for (const char *c = path_template; *c != '\0' && used + 2 < out_size; c++) {
        if (*c == '{') {
            const char *close = strchr(c, '}');
            assert_non_null(close);
            out[used++] = '1';
            c = close;
        } else {
            out[used++] = *c;
        }
    }
    out[used] = '\0';
}

static void test_every_documented_operation_is_routed(void **state)
{
    (void)state;
    size_t count = ss_test_openapi_operation_count(openapi);
    assert_true(count > 0);
    for (size_t i = 0; i < count; i++) {
        const char *method, *path_template;
        assert_int_equal(ss_test_openapi_operation(openapi, i, &method, &path_template), SS_OK);
        char path[SS_TEST_HTTP_PATH_MAX];
        path_concrete(path_template, path, sizeof(path));
        ss_test_http_reply_t reply = {0};
        /* A malformed body: a routed mutation answers 400 or 401 and changes nothing. */
        bool has_body = strcmp(method, "GET") != 0;
        request_send(method, has_body ? "{" : NULL, "Prefer: respond-async", NULL, &reply, path);
        const char *error = json_string_value(json_object_get(reply.json, "error"));
        if (reply.status == 0 || (error != NULL && (strcmp(error, "NOT_FOUND") == 0 ||
                                                    strcmp(error, "METHOD_NOT_ALLOWED") == 0))) {
            fail_msg("%s %s (documented as %s) is not routed: %ld %s", method, path, path_template,
                     reply.status, reply.body != NULL ? reply.body : "");
        }
        ss_test_http_reply_free(&reply);
    }
}

/* Whether a comma-separated Allow value names method. */
static bool allow_names(const char *allow, const char *method)
{
    char copy[SS_TEST_HTTP_HEADER_VALUE_MAX];
    snprintf(copy, sizeof(copy), "%s", allow);
    char *saved = NULL;
    for (char *token = strtok_r(copy, ", ", &saved); token != NULL;
         token = strtok_r(NULL, ", ", &saved)) {
        if (strcmp(token, method) == 0) {
            return true;
        }
    }
    return false;
}

static size_t allow_count(const char *allow)
{
    char copy[SS_TEST_HTTP_HEADER_VALUE_MAX];
    snprintf(copy, sizeof(copy), "%s", allow);
    char *saved = NULL;
    size_t count = 0;
    for (char *token = strtok_r(copy, ", ", &saved); token != NULL;
         token = strtok_r(NULL, ", ", &saved)) {
        count++;
    }
    return count;
}

static void test_documented_paths_allow_exactly_the_documented_methods(void **state)
{
    (void)state;
    const json_t *paths = json_object_get(ss_test_openapi_document(openapi), "paths");
    const char *path_template;
    json_t *item;
    json_object_foreach((json_t *)paths, path_template, item)
    {
        char path[SS_TEST_HTTP_PATH_MAX];
        path_concrete(path_template, path, sizeof(path));
        ss_test_http_reply_t reply = {0};
        /* DELETE is documented nowhere, so every documented path must answer 405 with Allow. */
        request_send("DELETE", NULL, NULL, NULL, &reply, path);
        if (reply.status != 405) {
            fail_msg("DELETE %s: expected 405, got %ld: %s", path, reply.status,
                     reply.body != NULL ? reply.body : "");
        }
        size_t documented = 0;
        static const char *const methods[] = {"get", "post", "put", "patch", "delete"};
        for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
            if (json_object_get(item, methods[m]) == NULL) {
                continue;
            }
            char upper[8];
            for (size_t c = 0; c <= strlen(methods[m]); c++) {
                upper[c] = (char)toupper((unsigned char)methods[m][c]);
            }
            if (!allow_names(reply.allow, upper)) {
                fail_msg("%s documents %s but Allow is \"%s\"", path_template, upper, reply.allow);
            }
            documented += 1 + (strcmp(methods[m], "get") == 0); /* GET brings HEAD */
        }
        if (allow_count(reply.allow) != documented) {
            fail_msg("%s: Allow \"%s\" routes methods the document does not have", path_template,
                     reply.allow);
        }
        ss_test_http_reply_free(&reply);
    }
}

static void test_every_route_of_the_ingress_is_documented(void **state)
{
    (void)state;
    glob_t sources;
    assert_int_equal(glob(CONTRACT_ROUTE_SOURCES, 0, NULL, &sources), 0);
    regex_t route;
    assert_int_equal(
        regcomp(&route, "SS_HTTP_METHOD_([A-Z]+),[[:space:]]*\"([^\"]+)\"", REG_EXTENDED), 0);
    char *text = malloc(CONTRACT_SOURCE_BYTES_MAX + 1);
    assert_non_null(text);
    size_t routes_found = 0;
    for (size_t f = 0; f < sources.gl_pathc; f++) {
        FILE *file = fopen(sources.gl_pathv[f], "rb");
        assert_non_null(file);
        size_t length = fread(text, 1, CONTRACT_SOURCE_BYTES_MAX, file);
        fclose(file);
        text[length] = '\0';
        const char *cursor = text;
        regmatch_t match[3];
        for (size_t r = 0; r < CONTRACT_ROUTES_MAX && regexec(&route, cursor, 3, match, 0) == 0;
             r++) {
            char method[16], path[SS_TEST_HTTP_PATH_MAX];
            snprintf(method, sizeof(method), "%.*s", (int)(match[1].rm_eo - match[1].rm_so),
                     cursor + match[1].rm_so);
            snprintf(path, sizeof(path), "%.*s", (int)(match[2].rm_eo - match[2].rm_so),
                     cursor + match[2].rm_so);
            cursor += match[0].rm_eo;
            const json_t *response = NULL;
            char errstr[256];
            /* Every documented operation documents a 200 (checked by the unit test). */
            if (ss_test_openapi_response(openapi, method, path, 200, &response, errstr,
                                         sizeof(errstr)) == SS_ERR_NOT_FOUND &&
                strstr(errstr, "documents no response") == NULL) {
                fail_msg("%s routes %s %s, which docs/openapi.json does not document",
                         sources.gl_pathv[f], method, path);
            }
            routes_found++;
        }
    }
    free(text);
    regfree(&route);
    globfree(&sources);
    /* The scan must have seen the route tables at all, or it proves nothing. */
    assert_true(routes_found >= ss_test_openapi_operation_count(openapi) / 2);
}

static void test_every_operation_was_exercised(void **state)
{
    (void)state;
    size_t count = ss_test_openapi_operation_count(openapi);
    char missing[4096] = "";
    for (size_t i = 0; i < count; i++) {
        const char *method, *path_template;
        assert_int_equal(ss_test_openapi_operation(openapi, i, &method, &path_template), SS_OK);
        bool success = false, client_error = false;
        for (size_t s = 0; s < coverage[i].count; s++) {
            success |= coverage[i].statuses[s] / 100 == 2;
            client_error |= coverage[i].statuses[s] / 100 == 4;
        }
        /* Operations that document a 400 (or any 4xx) must have been seen answering one. */
        const json_t *response = NULL;
        bool documents_client_error = ss_test_openapi_response(openapi, method, path_template, 400,
                                                               &response, NULL, 0) == SS_OK ||
                                      ss_test_openapi_response(openapi, method, path_template, 404,
                                                               &response, NULL, 0) == SS_OK;
        if (!success || (documents_client_error && !client_error)) {
            size_t used = strlen(missing);
            snprintf(missing + used, sizeof(missing) - used, "\n  %s %s:%s%s", method,
                     path_template, success ? "" : " no 2xx",
                     documents_client_error && !client_error ? " no 4xx" : "");
        }
    }
    if (missing[0] != '\0') {
        fail_msg("operations not exercised fully:%s", missing);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_ready_and_the_document_itself_conform),
        cmocka_unit_test(test_admin_endpoints_conform),
        cmocka_unit_test(test_balance_endpoints_conform),
        cmocka_unit_test(test_async_answers_and_the_requests_endpoint_conform),
        cmocka_unit_test(test_product_endpoints_conform),
        cmocka_unit_test(test_coupon_endpoints_conform),
        cmocka_unit_test(test_order_endpoints_conform),
        cmocka_unit_test(test_every_documented_operation_is_routed),
        cmocka_unit_test(test_documented_paths_allow_exactly_the_documented_methods),
        cmocka_unit_test(test_every_route_of_the_ingress_is_documented),
        cmocka_unit_test(test_every_operation_was_exercised),
    };
    return cmocka_run_group_tests_name("openapi contract", tests, setup, teardown);
}
