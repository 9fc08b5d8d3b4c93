/*
 * The guards of single-writer-per-key against Kafka topology changes (issue 10, points 9-10),
 * against the real stack:
 *   - a command topic whose partition count differs from the one recorded in PostgreSQL
 *     (topic_partitions) stops a worker and an ingress from starting, with an error that says
 *     how to migrate;
 *   - a stored offset ahead of the log's end (the topic recreated or truncated while
 *     PostgreSQL kept the offset) halts the worker at the claim instead of skipping every new
 *     command as already applied;
 *   - the topic script (scripts/kafka/CreateTopics.java) refuses to grow a command topic;
 *   - a command whose record key is not its entity's id (routed to the wrong owner) is
 *     dead-lettered and answered, never applied;
 *   - a balance changed by another writer between a batch's load and its write (what two
 *     owners of one user would do) rolls the batch back and applies it again on the stored
 *     value, instead of overwriting the other write.
 * Each test puts back what it changed, also when it fails (the teardown).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_stack.h"

#include "ss/clock.h"
#include "ss/kafka.h"
#include "ss/topics.h"
#include "ss/topology.h"

#include <inttypes.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define USER_WORKER "workers/user/ss-user-worker"
#define USER_WORKER_LOG "ss-user-worker"
#define USER_GROUP "ss-user-worker"
#define EXIT_WAIT_MS 60000

static ss_pg_t *pg;
static pid_t worker_pid; /* a user worker a test started, stopped by worker_teardown */
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

static void test_the_topic_script_refuses_to_grow_a_command_topic(void **state)
{
    (void)state;
    char errstr[512];
    int32_t before = 0, after = 0;
    assert_int_equal(ss_kafka_topic_partition_count(ss_test_kafka_bootstrap(), SS_TOPIC_CMD_USER,
                                                    &before, 10000, errstr, sizeof(errstr)),
                     SS_OK);
    char tsv[] = "/tmp/ss-test-topics-XXXXXX";
    int fd = mkstemp(tsv);
    assert_true(fd >= 0);
    dprintf(fd, "%s\t%d\t604800000\tgrown by the test\n", SS_TOPIC_CMD_USER, before * 2);
    close(fd);
    char command[2048];
    snprintf(command, sizeof(command),
             "java -cp '%s/*' '%s/scripts/kafka/CreateTopics.java' '%s' '%s'"
             " >>/tmp/ss-test-topics.log 2>&1",
             ss_test_env("SS_KAFKA_LIBS", ""), SS_SOURCE_DIR, ss_test_kafka_bootstrap(), tsv);
    long from = ss_test_log_size("topics");
    int status = system(command);
    unlink(tsv);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_true(ss_test_log_contains("topics", from, "never grown automatically"));
    assert_int_equal(ss_kafka_topic_partition_count(ss_test_kafka_bootstrap(), SS_TOPIC_CMD_USER,
                                                    &after, 10000, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(after, before);
}

/* Produces a ChargeBalance of amount to user_id under record key key_id. */
static void charge_produce(int64_t user_id, int64_t key_id, int64_t amount, const char *request_id)
{
    json_t *record = json_pack("{s:s, s:i, s:I, s:I, s:I}", "request_id", request_id,
                               "reply_partition", -1, "user_id", (json_int_t)user_id, "amount",
                               (json_int_t)amount, "requested_at", (json_int_t)ss_clock_now_ms());
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, key_id);
    ss_test_produce(SS_TOPIC_CMD_USER, key, "ChargeBalance", record);
    json_decref(record);
}

static int64_t result_wait(const char *request_id)
{
    const char *params[] = {request_id};
    ss_test_wait_scalar(pg, "SELECT count(*) FROM request_results WHERE request_id = $1", 1, params,
                        1, EXIT_WAIT_MS);
    return ss_test_pg_scalar(pg, "SELECT http_status FROM request_results WHERE request_id = $1", 1,
                             params);
}

static int64_t balance_of(int64_t user)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, user);
    const char *params[] = {text};
    return ss_test_pg_scalar(pg, "SELECT balance FROM users WHERE id = $1", 1, params);
}

static void request_id_make(char *out, size_t out_size, const char *what)
{
    snprintf(out, out_size, "topology-%s-%s", what, ss_test_run_id());
}

static void test_a_command_keyed_for_another_entity_is_dead_lettered(void **state)
{
    (void)state;
    int64_t owner = ss_test_user_create(pg, "topology-owner");
    int64_t other = ss_test_user_create(pg, "topology-other");
    const char *const worker_env[] = {"SS_LOG_LEVEL=warn", NULL};
    long from = ss_test_log_size(USER_WORKER_LOG);
    worker_pid = ss_test_process_start(USER_WORKER, worker_env);
    char misrouted[128], fine[128];
    request_id_make(misrouted, sizeof(misrouted), "misrouted");
    request_id_make(fine, sizeof(fine), "fine");
    charge_produce(owner, other, 100, misrouted);
    charge_produce(owner, owner, 7, fine);
    assert_int_equal(result_wait(misrouted), 500);
    assert_int_equal(result_wait(fine), 200);
    assert_int_equal(balance_of(owner), 7);
    assert_int_equal(balance_of(other), 0);
    assert_true(ss_test_log_contains(USER_WORKER_LOG, from, "routed to the wrong owner"));
}

static void test_a_balance_written_by_another_writer_is_not_overwritten(void **state)
{
    (void)state;
    int64_t user = ss_test_user_create(pg, "topology-two-writers");
    const char *const worker_env[] = {"SS_LOG_LEVEL=warn", NULL};
    long from = ss_test_log_size(USER_WORKER_LOG);
    worker_pid = ss_test_process_start(USER_WORKER, worker_env);
    char warm[128], charge[128];
    request_id_make(warm, sizeof(warm), "warm");
    request_id_make(charge, sizeof(charge), "raced");
    charge_produce(user, user, 1, warm);
    assert_int_equal(result_wait(warm), 200); /* the worker owns the user's partition */
    /* The other writer: holds the row while the worker loads 1 and tries to write 1001. */
    ss_pg_t *other = ss_test_pg_connect();
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, user);
    const char *params[] = {text};
    ss_test_pg_exec(other, "BEGIN", 0, NULL);
    ss_test_pg_exec(other, "UPDATE users SET balance = balance + 500 WHERE id = $1", 1, params);
    charge_produce(user, user, 1000, charge);
    /* Commit only once the worker's conditional UPDATE waits for the row. */
    ss_test_wait_scalar(pg,
                        "SELECT least(count(*), 1) FROM pg_stat_activity WHERE wait_event_type ="
                        " 'Lock' AND query LIKE 'UPDATE users u SET balance%'",
                        0, NULL, 1, EXIT_WAIT_MS);
    ss_test_pg_exec(other, "COMMIT", 0, NULL);
    ss_pg_destroy(other);
    assert_int_equal(result_wait(charge), 200);
    assert_int_equal(balance_of(user), 1 + 500 + 1000);
    assert_true(ss_test_log_contains(USER_WORKER_LOG, from, "changed under this batch"));
}

static int worker_teardown(void **state)
{
    (void)state;
    if (worker_pid > 0) {
        ss_test_process_stop(worker_pid, SIGTERM);
        worker_pid = 0;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_a_changed_partition_count_stops_workers_and_ingress,
                                  restore),
        cmocka_unit_test_teardown(test_a_stored_offset_past_the_log_end_halts_the_worker, restore),
        cmocka_unit_test(test_the_topic_script_refuses_to_grow_a_command_topic),
        cmocka_unit_test_teardown(test_a_command_keyed_for_another_entity_is_dead_lettered,
                                  worker_teardown),
        cmocka_unit_test_teardown(test_a_balance_written_by_another_writer_is_not_overwritten,
                                  worker_teardown),
    };
    return cmocka_run_group_tests(tests, setup, group_teardown);
}
