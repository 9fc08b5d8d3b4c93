/*
 * The user worker against the real broker and database, without the ingress: charges are
 * produced as Avro commands to ss.cmd.user and their effects read back from PostgreSQL.
 * Covers exactly-once application, the balance limit, unknown users, Idempotency-Key
 * retries, a poison record that must not stop its partition, and kill -9 in mid-stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_stack.h"

#include "ss/clock.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 60000

static pid_t worker_pids[2];

static void workers_start(void)
{
    static const char *const environment[] = {"SS_LOG_LEVEL=warn", NULL};
    for (size_t i = 0; i < 2; i++) {
        worker_pids[i] = ss_test_process_start("workers/user/ss-user-worker", environment);
    }
}

static int setup(void **state)
{
    (void)state;
    workers_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        ss_test_process_stop(worker_pids[i], SIGTERM);
    }
    return 0;
}

/* Produces a ChargeBalance; key is the user id, as the ingress sends it. */
static void charge_send(int64_t user_id, int64_t amount, const char *request_id,
                        const char *idempotency_key, const char *body_hash)
{
    json_t *record = json_pack("{s:s, s:i, s:I, s:I, s:I}", "request_id", request_id,
                               "reply_partition", -1, "user_id", (json_int_t)user_id, "amount",
                               (json_int_t)amount, "requested_at", (json_int_t)ss_clock_now_ms());
    if (idempotency_key != NULL) {
        json_object_set_new(record, "idempotency",
                            json_pack("{s:s, s:s, s:s}", "key", idempotency_key, "scope",
                                      "POST /api/v1/users/x/balance/charge", "body_hash",
                                      body_hash));
    }
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, user_id);
    ss_test_produce("ss.cmd.user", key, "ChargeBalance", record);
    json_decref(record);
}

static int64_t user_scalar(ss_pg_t *pg, const char *sql, int64_t user_id)
{
    char id[32];
    snprintf(id, sizeof(id), "%" PRId64, user_id);
    const char *params[] = {id};
    return ss_test_pg_scalar(pg, sql, 1, params);
}

static int64_t wait_user_scalar(ss_pg_t *pg, const char *sql, int64_t user_id, int64_t expected)
{
    char id[32];
    snprintf(id, sizeof(id), "%" PRId64, user_id);
    const char *params[] = {id};
    return ss_test_wait_scalar(pg, sql, 1, params, expected, WAIT_MS);
}

static int64_t result_status(ss_pg_t *pg, const char *request_id)
{
    const char *params[] = {request_id};
    return ss_test_wait_scalar(
               pg,
               "SELECT coalesce(max(http_status), 0) FROM request_results WHERE request_id = $1", 1,
               params, -1, 0) != 0
               ? ss_test_pg_scalar(
                     pg, "SELECT http_status FROM request_results WHERE request_id = $1", 1, params)
               : 0;
}

static int64_t wait_result_status(ss_pg_t *pg, const char *request_id)
{
    const char *params[] = {request_id};
    ss_test_wait_scalar(pg, "SELECT count(*) FROM request_results WHERE request_id = $1", 1, params,
                        1, WAIT_MS);
    return result_status(pg, request_id);
}

static void test_every_charge_is_applied_once_with_a_history_row(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = ss_test_user_create(pg, "charges");
    char request_id[128];
    for (int i = 1; i <= 50; i++) {
        snprintf(request_id, sizeof(request_id), "test-%s-charge-%d", ss_test_run_id(), i);
        charge_send(user_id, i, request_id, NULL, NULL);
    }
    assert_int_equal(wait_user_scalar(pg, "SELECT balance FROM users WHERE id = $1", user_id, 1275),
                     1275);
    assert_int_equal(user_scalar(pg,
                                 "SELECT count(*) FROM balance_history WHERE user_id = $1"
                                 " AND type = 'CHARGE'",
                                 user_id),
                     50);
    assert_int_equal(user_scalar(pg,
                                 "SELECT max(balance_after) FROM balance_history"
                                 " WHERE user_id = $1",
                                 user_id),
                     1275);
    assert_int_equal(wait_result_status(pg, request_id), 200);
    ss_pg_destroy(pg);
}

static void test_charge_over_the_limit_is_refused_and_changes_nothing(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = ss_test_user_create(pg, "limit");
    char first[128], second[128];
    snprintf(first, sizeof(first), "test-%s-limit-1", ss_test_run_id());
    snprintf(second, sizeof(second), "test-%s-limit-2", ss_test_run_id());
    charge_send(user_id, 9999999, first, NULL, NULL);
    charge_send(user_id, 2, second, NULL, NULL);
    assert_int_equal(wait_result_status(pg, second), 409);
    assert_int_equal(user_scalar(pg, "SELECT balance FROM users WHERE id = $1", user_id), 9999999);
    const char *params[] = {second};
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM request_results WHERE request_id = $1"
                                       " AND body LIKE '%BALANCE_LIMIT_EXCEEDED%'",
                                       1, params),
                     1);
    ss_pg_destroy(pg);
}

static void test_charge_for_an_unknown_user_is_user_not_found(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    char request_id[128];
    snprintf(request_id, sizeof(request_id), "test-%s-unknown", ss_test_run_id());
    charge_send(INT64_C(900000000000), 10, request_id, NULL, NULL);
    assert_int_equal(wait_result_status(pg, request_id), 404);
    ss_pg_destroy(pg);
}

static void test_idempotency_key_retry_applies_once_and_other_body_is_refused(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = ss_test_user_create(pg, "idempotent");
    char key[128], first[128], retry[128], other[128];
    snprintf(key, sizeof(key), "key-%s", ss_test_run_id());
    snprintf(first, sizeof(first), "test-%s-idem-1", ss_test_run_id());
    snprintf(retry, sizeof(retry), "test-%s-idem-2", ss_test_run_id());
    snprintf(other, sizeof(other), "test-%s-idem-3", ss_test_run_id());
    charge_send(user_id, 700, first, key, "hash-a");
    charge_send(user_id, 700, retry, key, "hash-a");
    charge_send(user_id, 800, other, key, "hash-b");
    assert_int_equal(wait_result_status(pg, other), 409);
    assert_int_equal(wait_result_status(pg, retry), 200);
    assert_int_equal(user_scalar(pg, "SELECT balance FROM users WHERE id = $1", user_id), 700);
    assert_int_equal(
        user_scalar(pg, "SELECT count(*) FROM balance_history WHERE user_id = $1", user_id), 1);
    const char *params[] = {first, retry};
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(DISTINCT body) FROM request_results"
                                       " WHERE request_id IN ($1, $2)",
                                       2, params),
                     1);
    ss_pg_destroy(pg);
}

static void test_poison_record_goes_aside_and_the_partition_moves_on(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = ss_test_user_create(pg, "poison");
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, user_id);
    json_t *garbage = json_pack("{s:s, s:s, s:s, s:i}", "event_id", "x", "request_id", "y", "body",
                                "not a command for this topic", "http_status", 200);
    json_object_set_new(garbage, "completed_at", json_integer(0));
    ss_test_produce("ss.cmd.user", key, "CommandResult", garbage);
    json_decref(garbage);
    char request_id[128];
    snprintf(request_id, sizeof(request_id), "test-%s-after-poison", ss_test_run_id());
    charge_send(user_id, 42, request_id, NULL, NULL);
    assert_int_equal(wait_result_status(pg, request_id), 200);
    assert_int_equal(user_scalar(pg, "SELECT balance FROM users WHERE id = $1", user_id), 42);
    ss_pg_destroy(pg);
}

static void test_kill_9_in_mid_stream_applies_every_charge_exactly_once(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = ss_test_user_create(pg, "crash");
    char request_id[128];
    int64_t expected = 0;
    for (int i = 1; i <= 400; i++) {
        snprintf(request_id, sizeof(request_id), "test-%s-crash-%d", ss_test_run_id(), i);
        charge_send(user_id, i, request_id, NULL, NULL);
        expected += i;
        if (i == 150) {
            kill(worker_pids[0], SIGKILL);
            kill(worker_pids[1], SIGKILL);
            ss_test_process_stop(worker_pids[0], SIGKILL);
            ss_test_process_stop(worker_pids[1], SIGKILL);
            workers_start();
        }
    }
    assert_int_equal(wait_user_scalar(pg, "SELECT count(*) FROM balance_history WHERE user_id = $1",
                                      user_id, 400),
                     400);
    sleep(1); /* anything applied twice would show up by now */
    assert_int_equal(
        user_scalar(pg, "SELECT count(*) FROM balance_history WHERE user_id = $1", user_id), 400);
    assert_int_equal(user_scalar(pg, "SELECT balance FROM users WHERE id = $1", user_id), expected);
    ss_pg_destroy(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_charge_is_applied_once_with_a_history_row),
        cmocka_unit_test(test_charge_over_the_limit_is_refused_and_changes_nothing),
        cmocka_unit_test(test_charge_for_an_unknown_user_is_user_not_found),
        cmocka_unit_test(test_idempotency_key_retry_applies_once_and_other_body_is_refused),
        cmocka_unit_test(test_poison_record_goes_aside_and_the_partition_moves_on),
        cmocka_unit_test(test_kill_9_in_mid_stream_applies_every_charge_exactly_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
