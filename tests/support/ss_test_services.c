/*
 * Starting and stopping the ingress and the workers of one HTTP-level test
 * (see ss_test_services.h), and the probes that say the path through Kafka works.
 */
#include "ss_test_services.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_stack.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVICES_INGRESS_BINARY "producers/ingress/ss-ingress"
#define SERVICES_ADMIN_TOKEN_DEFAULT "ss-httptests-admin-token-0123456789"
#define SERVICES_ADMIN_TOKEN_LENGTH_MIN 16
/* Waiting for /health and /ready: every 100 ms, this many times. */
#define SERVICES_LISTEN_POLLS_MAX 300
#define SERVICES_POLL_US 100000
#define SERVICES_ENTRY_MAX 1100
#define SERVICES_ENTRIES_MAX 12

static const char *const worker_binaries[SS_TEST_SERVICE_KINDS] = {
    "workers/user/ss-user-worker",
    "workers/coupon/ss-coupon-worker",
    "workers/stock/ss-stock-worker",
};
static const char *const worker_names[SS_TEST_SERVICE_KINDS] = {"user", "coupon", "stock"};

/* True when nothing listens on port of 127.0.0.1 (and we could take it). */
static bool port_is_free(int port)
{
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sock >= 0);
    int one = 1;
    assert_int_equal(setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &address.sin_addr), 1);
    bool free_now = bind(sock, (struct sockaddr *)&address, sizeof(address)) == 0;
    close(sock);
    return free_now;
}

/* A port that was free a moment ago (the kernel's pick for port 0). */
static int port_any(void)
{
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sock >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &address.sin_addr), 1);
    assert_int_equal(bind(sock, (struct sockaddr *)&address, sizeof(address)), 0);
    socklen_t length = sizeof(address);
    assert_int_equal(getsockname(sock, (struct sockaddr *)&address, &length), 0);
    close(sock);
    return ntohs(address.sin_port);
}

/* The stack's addresses as "NAME=value" entries for a child (the child copies them). */
typedef struct services_environment {
    char entries[SERVICES_ENTRIES_MAX][SERVICES_ENTRY_MAX];
    const char *list[SERVICES_ENTRIES_MAX + 1];
    size_t count;
} services_environment_t;

__attribute__((format(printf, 2, 3))) static void environment_add(services_environment_t *env,
                                                                  const char *format, ...)
{
    assert_true(env->count < SERVICES_ENTRIES_MAX);
    va_list arguments;
    va_start(arguments, format);
    int written = vsnprintf(env->entries[env->count], SERVICES_ENTRY_MAX, format, arguments);
    va_end(arguments);
    assert_true(written > 0 && written < SERVICES_ENTRY_MAX);
    env->list[env->count] = env->entries[env->count];
    env->count++;
    env->list[env->count] = NULL;
}

static void environment_stack(services_environment_t *env)
{
    memset(env, 0, sizeof(*env));
    environment_add(env, "KAFKA_BOOTSTRAP=%s", ss_test_kafka_bootstrap());
    environment_add(env, "PG_DSN=%s", ss_test_pg_dsn());
    environment_add(env, "REDIS_URL=%s", ss_test_redis_url());
    environment_add(env, "SS_LOG_LEVEL=%s", ss_test_env("SS_TEST_LOG_LEVEL", "warn"));
}

void ss_test_services_worker_start(ss_test_services_t *services, ss_test_service_kind_t kind,
                                   int index)
{
    assert_true(kind < SS_TEST_SERVICE_KINDS && index >= 0 && index < SS_TEST_SERVICES_WORKERS_MAX);
    services_environment_t env;
    environment_stack(&env);
    environment_add(&env, "SS_CLIENT_ID=httptests-%d-%s-%d", services->config.instance,
                    worker_names[kind], index);
    for (size_t i = 0; services->config.worker_environment != NULL &&
                       services->config.worker_environment[i] != NULL;
         i++) {
        environment_add(&env, "%s", services->config.worker_environment[i]);
    }
    services->worker_pids[kind][index] = ss_test_process_start(worker_binaries[kind], env.list);
}

void ss_test_services_worker_stop(ss_test_services_t *services, ss_test_service_kind_t kind,
                                  int index, int signal_number)
{
    assert_true(kind < SS_TEST_SERVICE_KINDS && index >= 0 && index < SS_TEST_SERVICES_WORKERS_MAX);
    pid_t pid = services->worker_pids[kind][index];
    services->worker_pids[kind][index] = 0;
    ss_test_process_stop(pid, signal_number);
}

static void ingress_start(ss_test_services_t *services)
{
    services_environment_t env;
    environment_stack(&env);
    environment_add(&env, "SS_INGRESS_PORT=%d", services->port);
    environment_add(&env, "SS_INGRESS_INSTANCE=%d", services->config.instance);
    environment_add(&env, "ADMIN_TOKEN=%s", services->admin_token);
    if (services->config.request_deadline_ms > 0) {
        environment_add(&env, "SS_REQUEST_DEADLINE_MS=%d", services->config.request_deadline_ms);
    }
    for (size_t i = 0; services->config.ingress_environment != NULL &&
                       services->config.ingress_environment[i] != NULL;
         i++) {
        environment_add(&env, "%s", services->config.ingress_environment[i]);
    }
    services->ingress_pid = ss_test_process_start(SERVICES_INGRESS_BINARY, env.list);
}

/* Polls path until it answers 200 (the listener is up and, for /ready, every dependency). */
static void ingress_wait(ss_test_services_t *services, const char *path)
{
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "GET", NULL, "%s", path);
    ss_test_http_reply_t reply = {0};
    for (int poll = 0; poll < SERVICES_LISTEN_POLLS_MAX; poll++) {
        bool answered = ss_test_http_try(services->http, &request, &reply);
        long status = reply.status;
        ss_test_http_reply_free(&reply);
        if (answered && status == 200) {
            return;
        }
        int exit_status = 0;
        if (waitpid(services->ingress_pid, &exit_status, WNOHANG) == services->ingress_pid) {
            services->ingress_pid = 0;
            fail_msg("ss-ingress exited early with status %d (see /tmp/ss-test-ss-ingress.log)",
                     exit_status);
        }
        usleep(SERVICES_POLL_US);
    }
    fail_msg("ss-ingress on port %d did not answer 200 on %s", services->port, path);
}

void ss_test_services_send(ss_test_services_t *services, const ss_test_http_request_t *request,
                           ss_test_http_reply_t *reply)
{
    ss_test_http_send(services->http, request, reply);
    ss_test_http_settle(services->http, reply, SS_TEST_SERVICES_SETTLE_MS);
}

/*
 * Sends a probe with `Prefer: respond-async` and follows it to DONE, so the wait ends as soon as
 * a worker has applied it (a first group join can outlast any request deadline).
 */
static void probe_send(ss_test_services_t *services, ss_test_http_request_t *request,
                       ss_test_http_reply_t *reply)
{
    for (size_t i = 0; i < SS_TEST_HTTP_HEADERS_MAX; i++) {
        if (request->headers[i] == NULL) {
            request->headers[i] = "Prefer: respond-async";
            break;
        }
    }
    ss_test_http_send(services->http, request, reply);
    ss_test_http_expect(reply, 202, NULL);
    ss_test_http_settle(services->http, reply, SS_TEST_SERVICES_SETTLE_MS);
}

/* One mutation through each started kind of worker, answered 200. */
static void workers_probe(ss_test_services_t *services)
{
    ss_test_http_t *http = services->http;
    char name[96];
    snprintf(name, sizeof(name), "probe-%s", ss_test_run_id());
    ss_test_http_request_t request;
    ss_test_http_reply_t reply;
    if (services->config.workers[SS_TEST_SERVICE_USER] > 0 ||
        services->config.workers[SS_TEST_SERVICE_COUPON] > 0) {
        int64_t user_id = ss_test_http_user_create(http, name);
        if (services->config.workers[SS_TEST_SERVICE_USER] > 0) {
            ss_test_http_request_init(&request, "POST", "{\"amount\":1}",
                                      "/api/v1/users/%" PRId64 "/balance/charge", user_id);
            probe_send(services, &request, &reply);
            ss_test_http_expect(&reply, 200, NULL);
            ss_test_http_reply_free(&reply);
        }
        if (services->config.workers[SS_TEST_SERVICE_COUPON] > 0) {
            int64_t coupon_id =
                ss_test_http_coupon_create(http, name, "0.1", 1, "2099-12-31T23:59:59Z", NULL);
            char body[64];
            snprintf(body, sizeof(body), "{\"couponId\":%" PRId64 "}", coupon_id);
            ss_test_http_request_init(&request, "POST", body, "/api/v1/users/%" PRId64 "/coupons",
                                      user_id);
            probe_send(services, &request, &reply);
            ss_test_http_expect(&reply, 200, NULL);
            ss_test_http_reply_free(&reply);
        }
    }
    if (services->config.workers[SS_TEST_SERVICE_STOCK] > 0) {
        int64_t product_id = ss_test_http_product_create(http, name, 1, 0, "HOLD");
        ss_test_http_request_init(&request, "PATCH", "{\"stockDelta\":1}",
                                  "/api/v1/admin/products/%" PRId64, product_id);
        request.headers[0] = ss_test_http_admin_header(http);
        probe_send(services, &request, &reply);
        ss_test_http_expect(&reply, 200, NULL);
        ss_test_http_reply_free(&reply);
    }
}

void ss_test_services_start(ss_test_services_t *services, const ss_test_services_config_t *config)
{
    memset(services, 0, sizeof(*services));
    services->config = *config;
    /* ss.results has 4 partitions; instance % 4 is the one read, and partition 0 is run.sh's. */
    assert_true(config->instance >= 1 && config->instance <= 1023 && config->instance % 4 != 0);
    services->port = config->port > 0 && port_is_free(config->port) ? config->port : port_any();
    const char *token = ss_test_env("ADMIN_TOKEN", SERVICES_ADMIN_TOKEN_DEFAULT);
    if (strlen(token) < SERVICES_ADMIN_TOKEN_LENGTH_MIN || strlen(token) >= 100) {
        token = SERVICES_ADMIN_TOKEN_DEFAULT;
    }
    snprintf(services->admin_token, sizeof(services->admin_token), "%s", token);
    snprintf(services->base_url, sizeof(services->base_url), "http://127.0.0.1:%d", services->port);
    services->http = ss_test_http_new(services->base_url, services->admin_token);

    for (int kind = 0; kind < SS_TEST_SERVICE_KINDS; kind++) {
        assert_true(config->workers[kind] >= 0 &&
                    config->workers[kind] <= SS_TEST_SERVICES_WORKERS_MAX);
        for (int i = 0; i < config->workers[kind]; i++) {
            ss_test_services_worker_start(services, (ss_test_service_kind_t)kind, i);
        }
    }
    ingress_start(services);
    ingress_wait(services, "/health");
    ingress_wait(services, "/ready");
    workers_probe(services);
    services->pg = ss_test_pg_connect();
}

void ss_test_services_stop(ss_test_services_t *services)
{
    if (services == NULL) {
        return;
    }
    /* Everyone gets SIGTERM first, so the workers leave the group together. */
    for (int kind = 0; kind < SS_TEST_SERVICE_KINDS; kind++) {
        for (int i = 0; i < SS_TEST_SERVICES_WORKERS_MAX; i++) {
            if (services->worker_pids[kind][i] > 0) {
                (void)kill(services->worker_pids[kind][i], SIGTERM);
            }
        }
    }
    if (services->ingress_pid > 0) {
        ss_test_process_stop(services->ingress_pid, SIGTERM);
        services->ingress_pid = 0;
    }
    for (int kind = 0; kind < SS_TEST_SERVICE_KINDS; kind++) {
        for (int i = 0; i < SS_TEST_SERVICES_WORKERS_MAX; i++) {
            if (services->worker_pids[kind][i] > 0) {
                ss_test_services_worker_stop(services, (ss_test_service_kind_t)kind, i, SIGTERM);
            }
        }
    }
    ss_test_http_destroy(services->http);
    services->http = NULL;
    ss_pg_destroy(services->pg);
    services->pg = NULL;
}

int ss_test_services_teardown(void **state)
{
    ss_test_services_stop(*state);
    return 0;
}
