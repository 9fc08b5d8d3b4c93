/*
 * More ingress instances than ss.results has partitions (issue 9: the number of ingress
 * instances is not capped by a topic's partition count), against the real stack. Instance 5
 * reads partition 5 % 4 = 1, the partition of instance 1. Both take charges at once; every
 * request must be answered by its own ingress straight from its CommandResult (200, never a
 * 202 at the deadline), with that ingress's request id, and the balances must add up. A result
 * routed to the wrong instance, or dropped by the instance that shares the partition, would show
 * as a 202 at the deadline or as a lost charge. (Before, instance 5 read partition 5, which
 * does not exist, and the workers could not answer it at all.)
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERS_PER_INGRESS 8
#define CHARGES_PER_INGRESS 240
/* A deadline far longer than a charge takes: a reply that has to wait for it went astray. */
#define REQUEST_DEADLINE_MS 20000

static ss_test_services_t first;  /* instance 1, with the user worker */
static ss_test_services_t second; /* instance 5: the same ss.results partition, no workers */

static int setup(void **state)
{
    (void)state;
    ss_test_services_config_t config = {
        .instance = 1, .port = 18176, .request_deadline_ms = REQUEST_DEADLINE_MS};
    config.workers[SS_TEST_SERVICE_USER] = 1;
    ss_test_services_start(&first, &config);
    ss_test_services_config_t config_second = {
        .instance = 5, .port = 18177, .request_deadline_ms = REQUEST_DEADLINE_MS};
    ss_test_services_start(&second, &config_second);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ss_test_services_stop(&second);
    ss_test_services_stop(&first);
    return 0;
}

typedef struct load {
    ss_test_services_t *services;
    int64_t users[USERS_PER_INGRESS];
    ss_test_http_request_t requests[CHARGES_PER_INGRESS];
    ss_test_http_reply_t replies[CHARGES_PER_INGRESS];
} load_t;

/* Charge i goes to user i % USERS_PER_INGRESS with amount i + 1. */
static void load_prepare(load_t *load, ss_test_services_t *services, const char *name)
{
    load->services = services;
    for (int u = 0; u < USERS_PER_INGRESS; u++) {
        char nickname[96];
        snprintf(nickname, sizeof(nickname), "instances-%s-%d-%s", name, u, ss_test_run_id());
        load->users[u] = ss_test_http_user_create(services->http, nickname);
    }
    for (int i = 0; i < CHARGES_PER_INGRESS; i++) {
        ss_test_http_request_init(&load->requests[i], "POST", NULL,
                                  "/api/v1/users/%" PRId64 "/balance/charge",
                                  load->users[i % USERS_PER_INGRESS]);
        snprintf(load->requests[i].body_text, sizeof(load->requests[i].body_text),
                 "{\"amount\":%d}", i + 1);
    }
}

static void *load_send(void *opaque)
{
    load_t *load = opaque;
    ss_test_http_many_config_t config = {.in_flight_max = 32};
    ss_test_http_send_many(load->services->http, load->requests, CHARGES_PER_INGRESS, &config,
                           load->replies, NULL);
    return NULL;
}

/* Every reply a direct 200 for its own user with this ingress's request id; frees them. */
static void load_check(load_t *load, int instance)
{
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "%d-", instance);
    for (int i = 0; i < CHARGES_PER_INGRESS; i++) {
        ss_test_http_reply_t *reply = &load->replies[i];
        assert_int_equal(reply->status, 200);
        assert_int_equal(strncmp(reply->x_request_id, prefix, strlen(prefix)), 0);
        json_t *data = ss_test_http_expect(reply, 200, NULL);
        assert_int_equal(ss_test_json_int(data, "userId"), load->users[i % USERS_PER_INGRESS]);
        ss_test_http_reply_free(reply);
    }
    for (int u = 0; u < USERS_PER_INGRESS; u++) {
        int64_t expected = 0;
        for (int i = u; i < CHARGES_PER_INGRESS; i += USERS_PER_INGRESS) {
            expected += i + 1;
        }
        char id[24];
        snprintf(id, sizeof(id), "%" PRId64, load->users[u]);
        const char *params[] = {id};
        assert_int_equal(
            ss_test_pg_scalar(first.pg, "SELECT balance FROM users WHERE id = $1", 1, params),
            expected);
    }
}

static void test_two_instances_on_one_results_partition_each_answer_their_own(void **state)
{
    (void)state;
    static load_t loads[2];
    load_prepare(&loads[0], &first, "first");
    load_prepare(&loads[1], &second, "second");
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, load_send, &loads[1]), 0);
    load_send(&loads[0]);
    assert_int_equal(pthread_join(thread, NULL), 0);
    load_check(&loads[0], 1);
    load_check(&loads[1], 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_instances_on_one_results_partition_each_answer_their_own),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
