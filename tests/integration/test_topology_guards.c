/*
 * The guards of single-writer-per-key against Kafka topology changes (issue 10, points 9-10),
 * against the real stack:
 *   - a command topic whose partition count differs from the one recorded in PostgreSQL
 *     (topic_partitions) stops a worker and an ingress from starting, with an error that says
 *     how to migrate;
 *   - a stored offset ahead of the log's end (the topic recreated or truncated while
 *     PostgreSQL kept the offset) halts the worker at the claim instead of skipping every new
 *     command as already applied.
 * Each test puts back what it changed, also when it fails (the teardown).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_stack.h"

#include "ss/topics.h"
#include "ss/topology.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define USER_WORKER "workers/user/ss-user-worker"
#define USER_WORKER_LOG "ss-user-worker"
#define USER_GROUP "ss-user-worker"
#define EXIT_WAIT_MS 60000

static ss_pg_t *pg;
static int64_t saved_offset = -1;

static int setup(void **state)
{
    (void)state;
    pg = ss_test_pg_connect();
    char errstr[512];
    /* Records the live count if no one did yet, so the tests can change it. */
    ss_err_t err = ss_topology_partitions_check(pg, ss_test_kafka_bootstrap(), SS_TOPIC_CMD_USER,
                                                10000, errstr, sizeof(errstr));
    if (err != SS_OK) {
        fprintf(stderr, "topology check failed: %s\n", errstr);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ss_pg_destroy(pg);
    return 0;
}

/* Puts back the live partition count and the saved offset. */
static int restore(void **state)
{
    (void)state;
    ss_test_pg_exec(pg, "DELETE FROM topic_partitions WHERE topic = '" SS_TOPIC_CMD_USER "'", 0,
                    NULL);
    char errstr[512];
    assert_int_equal(ss_topology_partitions_check(pg, ss_test_kafka_bootstrap(), SS_TOPIC_CMD_USER,
                                                  10000, errstr, sizeof(errstr)),
                     SS_OK);
    if (saved_offset >= 0) {
        char text[24];
        snprintf(text, sizeof(text), "%" PRId64, saved_offset);
        const char *params[] = {text};
        ss_test_pg_exec(
            pg,
            "UPDATE partition_state SET next_offset = $1 WHERE consumer_group = '" USER_GROUP
            "' AND topic = '" SS_TOPIC_CMD_USER "' AND partition = 0",
            1, params);
        saved_offset = -1;
    }
    return 0;
}

static void test_a_changed_partition_count_stops_workers_and_ingress(void **state)
{
    (void)state;
    ss_test_pg_exec(
        pg,
        "UPDATE topic_partitions SET partitions = partitions * 2 WHERE topic = '" SS_TOPIC_CMD_USER
        "'",
        0, NULL);
    const char *const worker_env[] = {"SS_LOG_LEVEL=warn", NULL};
    long from = ss_test_log_size(USER_WORKER_LOG);
    pid_t worker = ss_test_process_start(USER_WORKER, worker_env);
    assert_int_not_equal(ss_test_process_exit_wait(worker, EXIT_WAIT_MS), 0);
    assert_true(ss_test_log_contains(USER_WORKER_LOG, from, "Refusing to start"));
    assert_true(ss_test_log_contains(USER_WORKER_LOG, from, "UPDATE topic_partitions"));

    const char *const ingress_env[] = {"SS_INGRESS_PORT=18188", "SS_INGRESS_INSTANCE=3",
                                       "ADMIN_TOKEN=topology-guard-token-0123", NULL};
    from = ss_test_log_size("ss-ingress");
    pid_t ingress = ss_test_process_start("producers/ingress/ss-ingress", ingress_env);
    assert_int_not_equal(ss_test_process_exit_wait(ingress, EXIT_WAIT_MS), 0);
    assert_true(ss_test_log_contains("ss-ingress", from, "Refusing to start"));
}

static void test_a_stored_offset_past_the_log_end_halts_the_worker(void **state)
{
    (void)state;
    ss_test_pg_exec(
        pg,
        "INSERT INTO partition_state (consumer_group, topic, partition) VALUES ('" USER_GROUP
        "', '" SS_TOPIC_CMD_USER "', 0) ON CONFLICT DO NOTHING",
        0, NULL);
    saved_offset = ss_test_pg_scalar(pg,
                                     "SELECT next_offset FROM partition_state WHERE"
                                     " consumer_group = '" USER_GROUP
                                     "' AND topic = '" SS_TOPIC_CMD_USER "' AND partition = 0",
                                     0, NULL);
    /* As if ss.cmd.user had been recreated: the kept offset is far beyond the new log. */
    ss_test_pg_exec(pg,
                    "UPDATE partition_state SET next_offset = next_offset + 1000000000 WHERE"
                    " consumer_group = '" USER_GROUP "' AND topic = '" SS_TOPIC_CMD_USER
                    "' AND partition = 0",
                    0, NULL);
    const char *const worker_env[] = {"SS_LOG_LEVEL=warn", NULL};
    long from = ss_test_log_size(USER_WORKER_LOG);
    pid_t worker = ss_test_process_start(USER_WORKER, worker_env);
    assert_int_not_equal(ss_test_process_exit_wait(worker, EXIT_WAIT_MS), 0);
    assert_true(ss_test_log_contains(USER_WORKER_LOG, from, "is past the log's end"));
    /* Nothing was moved: the offset is still the forged one, for an operator to fix. */
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT next_offset FROM partition_state WHERE"
                                       " consumer_group = '" USER_GROUP
                                       "' AND topic = '" SS_TOPIC_CMD_USER "' AND partition = 0",
                                       0, NULL),
                     saved_offset + 1000000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_a_changed_partition_count_stops_workers_and_ingress,
                                  restore),
        cmocka_unit_test_teardown(test_a_stored_offset_past_the_log_end_halts_the_worker, restore),
    };
    return cmocka_run_group_tests(tests, setup, group_teardown);
}
