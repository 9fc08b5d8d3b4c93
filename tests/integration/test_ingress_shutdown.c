/*
 * What a client is told when the ingress stops with commands in flight (issue 10, point 5),
 * against the real stack. 200 charges of 1 to 200 users are in flight while the user worker is
 * stopped (so none can be answered by its result), and the ingress gets SIGTERM. Every charge
 * was handed to Kafka, so every one may apply: each must be answered 202 with its status URL,
 * never 503 (a client that follows a 503 and retries without a key would be charged twice).
 * The worker is then started again: each charge applies exactly once, and the ingress exited 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHARGES 200
#define STOP_AFTER_MS 2000
#define SETTLE_MS 120000

static ss_test_services_t services;

static int setup(void **state)
{
    /* A long deadline: nothing is answered 202 by the deadline before the SIGTERM. */
    ss_test_services_config_t config = {.instance = 3, .port = 18183, .request_deadline_ms = 60000};
    config.workers[SS_TEST_SERVICE_USER] = 1;
    ss_test_services_start(&services, &config);
    *state = &services;
    return 0;
}

static void *ingress_stop_later(void *opaque)
{
    pid_t pid = *(pid_t *)opaque;
    usleep(STOP_AFTER_MS * 1000);
    kill(pid, SIGTERM);
    return NULL;
}

/* Reaps the stopped ingress; its exit status. */
static int ingress_reap(void)
{
    int status = -1;
    for (int i = 0; i < 600; i++) {
        if (waitpid(services.ingress_pid, &status, WNOHANG) == services.ingress_pid) {
            services.ingress_pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(100 * 1000);
    }
    fail_msg("the ingress did not stop after SIGTERM");
    return -1;
}

static void test_sigterm_answers_commands_in_flight_202_and_each_applies_once(void **state)
{
    (void)state;
    static int64_t users[CHARGES];
    static ss_test_http_request_t requests[CHARGES];
    static ss_test_http_reply_t replies[CHARGES];
    char literal[CHARGES * 24 + 3] = "{";
    size_t used = 1;
    for (int i = 0; i < CHARGES; i++) {
        char nickname[100];
        snprintf(nickname, sizeof(nickname), "shutdown-%d-%s", i, ss_test_run_id());
        users[i] = ss_test_http_user_create(services.http, nickname);
        used += (size_t)snprintf(literal + used, sizeof(literal) - used, "%s%" PRId64,
                                 i > 0 ? "," : "", users[i]);
        ss_test_http_request_init(&requests[i], "POST", "{\"amount\":1}",
                                  "/api/v1/users/%" PRId64 "/balance/charge", users[i]);
    }
    snprintf(literal + used, sizeof(literal) - used, "}");
    ss_test_services_worker_stop(&services, SS_TEST_SERVICE_USER, 0, SIGTERM);

    pthread_t stopper;
    pid_t ingress = services.ingress_pid;
    assert_int_equal(pthread_create(&stopper, NULL, ingress_stop_later, &ingress), 0);
    ss_test_http_many_config_t config = {.in_flight_max = CHARGES};
    ss_test_http_send_many(services.http, requests, CHARGES, &config, replies, NULL);
    pthread_join(stopper, NULL);
    assert_int_equal(ingress_reap(), 0);

    static char ids[CHARGES * 48 + 3];
    size_t ids_used = (size_t)snprintf(ids, sizeof(ids), "{");
    for (int i = 0; i < CHARGES; i++) {
        assert_int_equal(replies[i].status, 202);
        assert_non_null(strstr(replies[i].location, "/api/v1/requests/"));
        json_t *data = json_object_get(replies[i].json, "data");
        ids_used += (size_t)snprintf(ids + ids_used, sizeof(ids) - ids_used, "%s%s",
                                     i > 0 ? "," : "", ss_test_json_string(data, "requestId"));
        ss_test_http_reply_free(&replies[i]);
    }
    snprintf(ids + ids_used, sizeof(ids) - ids_used, "}");
    /* Each 202 was sent after its pending row existed: GET /requests/{id} says PENDING. */
    const char *id_params[] = {ids};
    assert_int_equal(ss_test_pg_scalar(services.pg,
                                       "SELECT count(*) FROM request_pending"
                                       " WHERE request_id = ANY($1::text[])",
                                       1, id_params),
                     CHARGES);
    ss_test_services_worker_start(&services, SS_TEST_SERVICE_USER, 0);
    const char *params[] = {literal};
    assert_int_equal(ss_test_wait_scalar(services.pg,
                                         "SELECT sum(balance) FROM users WHERE id = ANY($1)", 1,
                                         params, CHARGES, SETTLE_MS),
                     CHARGES);
    assert_int_equal(ss_test_pg_scalar(services.pg,
                                       "SELECT count(*) FROM users"
                                       " WHERE id = ANY($1) AND balance = 1",
                                       1, params),
                     CHARGES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_answers_commands_in_flight_202_and_each_applies_once),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}
