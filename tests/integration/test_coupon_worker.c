/*
 * The coupon worker against the real broker and database, without the ingress: IssueCoupon and
 * ChangeCouponStatus are produced as Avro commands to ss.cmd.coupon (key coupon id) and their
 * effects read back from PostgreSQL (user_coupons, coupons, request_results). Covers issuance,
 * every refusal code, the same user twice in one burst, 5,000 users racing for 100 coupons
 * (exactly 100 winners, the first 100 in partition order), status changes, a poison record, and
 * kill -9 in mid-stream. Two worker processes share the partitions, as in production.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_stack.h"

#include "ss/clock.h"
#include "ss/kafka.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 60000
#define WORKERS 2
/* The race: this many users ask for a coupon of RACE_QUANTITY. */
#define RACE_USERS 5000
#define RACE_QUANTITY 100
/* How often a full local producer queue is served before the test gives up on one record. */
#define PRODUCE_RETRIES_MAX 600
#define PRODUCE_FLUSH_MS 60000

static pid_t worker_pids[WORKERS];

static void workers_start(void)
{
    static const char *const environment[] = {"SS_LOG_LEVEL=warn", NULL};
    for (size_t i = 0; i < WORKERS; i++) {
        worker_pids[i] = ss_test_process_start("workers/coupon/ss-coupon-worker", environment);
    }
}

static void workers_stop(int signal_number)
{
    for (size_t i = 0; i < WORKERS; i++) {
        ss_test_process_stop(worker_pids[i], signal_number);
        worker_pids[i] = 0;
    }
}

/* ---- producing ------------------------------------------------------------------------------ */

/*
 * Many records through one producer without a flush per record, so a burst reaches the
 * partition as fast as a busy ingress would send it. Order within a partition is kept by the
 * idempotent producer.
 */
static ss_kafka_producer_t *burst_producer;
static ss_avro_buffer_t burst_buffer;

static void burst_send(const char *topic, const char *key, const char *schema_name,
                       const json_t *record)
{
    char errstr[512];
    if (burst_producer == NULL) {
        ss_kafka_producer_config_t config = {
            .bootstrap = ss_test_kafka_bootstrap(), .client_id = "ss-test-coupon", .linger_ms = 5};
        if (ss_kafka_producer_new(&config, &burst_producer, errstr, sizeof(errstr)) != SS_OK) {
            fail_msg("could not create a producer: %s", errstr);
        }
        ss_avro_buffer_init(&burst_buffer);
    }
    if (ss_avro_encode(ss_test_registry(), schema_name, record, &burst_buffer, errstr,
                       sizeof(errstr)) != SS_OK) {
        fail_msg("could not encode %s: %s", schema_name, errstr);
    }
    ss_err_t err = SS_ERR_RETRIABLE;
    for (int attempt = 0; attempt < PRODUCE_RETRIES_MAX && err == SS_ERR_RETRIABLE; attempt++) {
        err = ss_kafka_producer_send(burst_producer, topic, SS_KAFKA_PARTITION_BY_KEY, key,
                                     strlen(key), burst_buffer.data, burst_buffer.length, NULL, 0,
                                     NULL, errstr, sizeof(errstr));
        if (err == SS_ERR_RETRIABLE) {
            ss_kafka_producer_poll(burst_producer, 100);
        }
    }
    if (err != SS_OK) {
        fail_msg("could not produce to %s: %s", topic, errstr);
    }
}

static void burst_flush(void)
{
    char errstr[512];
    if (burst_producer != NULL && ss_kafka_producer_flush(burst_producer, PRODUCE_FLUSH_MS, errstr,
                                                          sizeof(errstr)) != SS_OK) {
        fail_msg("could not flush the burst: %s", errstr);
    }
}

static json_t *issue_record(int64_t coupon_id, int64_t user_id, const char *request_id)
{
    return json_pack("{s:s, s:i, s:I, s:I, s:I}", "request_id", request_id, "reply_partition", -1,
                     "coupon_id", (json_int_t)coupon_id, "user_id", (json_int_t)user_id,
                     "requested_at", (json_int_t)ss_clock_now_ms());
}

/* Produces an IssueCoupon keyed by the coupon id, as the ingress sends it; waits for delivery. */
static void issue_send(int64_t coupon_id, int64_t user_id, const char *request_id)
{
    json_t *record = issue_record(coupon_id, user_id, request_id);
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, coupon_id);
    ss_test_produce("ss.cmd.coupon", key, "IssueCoupon", record);
    json_decref(record);
}

static void issue_burst(int64_t coupon_id, int64_t user_id, const char *request_id)
{
    json_t *record = issue_record(coupon_id, user_id, request_id);
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, coupon_id);
    burst_send("ss.cmd.coupon", key, "IssueCoupon", record);
    json_decref(record);
}

static void status_send(int64_t coupon_id, const char *status, const char *request_id)
{
    json_t *record = json_pack("{s:s, s:i, s:I, s:s}", "request_id", request_id, "reply_partition",
                               -1, "coupon_id", (json_int_t)coupon_id, "status", status);
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, coupon_id);
    ss_test_produce("ss.cmd.coupon", key, "ChangeCouponStatus", record);
    json_decref(record);
}

/* ---- reading back ---------------------------------------------------------------------------- */

/* A coupon of rate 0.1 that expires in expires_in_days (negative: expired already). */
static int64_t coupon_create(ss_pg_t *pg, int64_t quantity, const char *status, int expires_in_days)
{
    char quantity_text[32], days_text[32];
    snprintf(quantity_text, sizeof(quantity_text), "%" PRId64, quantity);
    snprintf(days_text, sizeof(days_text), "%d", expires_in_days);
    const char *params[] = {quantity_text, status, days_text};
    return ss_test_pg_scalar(pg,
                             "INSERT INTO coupons (name, discount_rate, quantity, status,"
                             " expired_at) VALUES ('test coupon', 0.1, $1::bigint, $2,"
                             " now() + $3::int * interval '1 day') RETURNING id",
                             3, params);
}

static int64_t coupon_scalar(ss_pg_t *pg, const char *sql, int64_t coupon_id)
{
    char id[32];
    snprintf(id, sizeof(id), "%" PRId64, coupon_id);
    const char *params[] = {id};
    return ss_test_pg_scalar(pg, sql, 1, params);
}

static void request_id_make(char *out, size_t out_size, const char *label, int number)
{
    snprintf(out, out_size, "test-%s-coupon-%s-%05d", ss_test_run_id(), label, number);
}

/* Waits for the request's result; 1 when it has this status and error code (NULL: none). */
static int64_t result_is(ss_pg_t *pg, const char *request_id, int http_status,
                         const char *error_code)
{
    const char *wait_params[] = {request_id};
    assert_int_equal(ss_test_wait_scalar(pg,
                                         "SELECT count(*) FROM request_results"
                                         " WHERE request_id = $1",
                                         1, wait_params, 1, WAIT_MS),
                     1);
    char status_text[16];
    snprintf(status_text, sizeof(status_text), "%d", http_status);
    const char *params[] = {request_id, status_text, error_code != NULL ? error_code : ""};
    return ss_test_pg_scalar(
        pg,
        "SELECT count(*) FROM request_results WHERE request_id = $1"
        " AND http_status = $2::int AND ((body::jsonb)->>'code')::int = $2::int"
        " AND coalesce((body::jsonb)->>'error', '') = $3",
        3, params);
}

/* A field of the result's data as text, compared in SQL: 1 when equal. */
static int64_t result_data_is(ss_pg_t *pg, const char *request_id, const char *field,
                              const char *expected)
{
    const char *params[] = {request_id, field, expected};
    return ss_test_pg_scalar(pg,
                             "SELECT count(*) FROM request_results WHERE request_id = $1"
                             " AND (body::jsonb)->'data'->>$2 = $3",
                             3, params);
}

/* ---- tests --------------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    workers_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    workers_stop(SIGTERM);
    ss_kafka_producer_destroy(burst_producer);
    burst_producer = NULL;
    ss_avro_buffer_free(&burst_buffer);
    return 0;
}

static void test_issue_gives_an_unused_coupon_and_a_second_issue_is_already_issued(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = ss_test_user_create(pg, "coupon-issue");
    int64_t coupon_id = coupon_create(pg, 10, "PUBLISHABLE", 7);
    char first[128], second[128];
    request_id_make(first, sizeof(first), "issue", 1);
    request_id_make(second, sizeof(second), "issue", 2);
    issue_send(coupon_id, user_id, first);
    assert_int_equal(result_is(pg, first, 200, NULL), 1);
    issue_send(coupon_id, user_id, second);
    assert_int_equal(result_is(pg, second, 409, "COUPON_ALREADY_ISSUED"), 1);

    char user_text[32], coupon_text[32];
    snprintf(user_text, sizeof(user_text), "%" PRId64, user_id);
    snprintf(coupon_text, sizeof(coupon_text), "%" PRId64, coupon_id);
    const char *pair[] = {coupon_text, user_text};
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM user_coupons WHERE coupon_id = $1"
                                       " AND user_id = $2 AND status = 'UNUSED'",
                                       2, pair),
                     1);
    assert_int_equal(coupon_scalar(pg, "SELECT issued_count FROM coupons WHERE id = $1", coupon_id),
                     1);
    /* The answer names the row that was inserted, and the time it was issued. */
    assert_int_equal(result_data_is(pg, first, "couponId", coupon_text), 1);
    const char *answer[] = {first, coupon_text, user_text};
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM request_results r JOIN user_coupons uc"
                                       " ON uc.id = ((r.body::jsonb)->'data'->>'userCouponId')"
                                       "::bigint WHERE r.request_id = $1 AND uc.coupon_id = $2"
                                       " AND uc.user_id = $3 AND (r.body::jsonb)->'data'->>"
                                       "'issuedAt' = to_char(uc.issued_at AT TIME ZONE 'UTC',"
                                       " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                                       3, answer),
                     1);
    ss_pg_destroy(pg);
}

static void test_each_refusal_carries_its_code(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = ss_test_user_create(pg, "coupon-refusals");
    int64_t registered = coupon_create(pg, 10, "REGISTERED", 7);
    int64_t expired = coupon_create(pg, 10, "PUBLISHABLE", -1);
    int64_t sold_out = coupon_create(pg, 0, "PUBLISHABLE", 7);
    int64_t open = coupon_create(pg, 10, "PUBLISHABLE", 7);
    char not_issuable[128], too_late[128], none_left[128], no_coupon[128], no_user[128];
    request_id_make(not_issuable, sizeof(not_issuable), "registered", 1);
    request_id_make(too_late, sizeof(too_late), "expired", 1);
    request_id_make(none_left, sizeof(none_left), "sold-out", 1);
    request_id_make(no_coupon, sizeof(no_coupon), "no-coupon", 1);
    request_id_make(no_user, sizeof(no_user), "no-user", 1);
    issue_send(registered, user_id, not_issuable);
    issue_send(expired, user_id, too_late);
    issue_send(sold_out, user_id, none_left);
    issue_send(INT64_C(900000000000), user_id, no_coupon);
    issue_send(open, INT64_C(900000000000), no_user);
    assert_int_equal(result_is(pg, not_issuable, 409, "COUPON_NOT_ISSUABLE"), 1);
    assert_int_equal(result_is(pg, too_late, 409, "COUPON_EXPIRED"), 1);
    assert_int_equal(result_is(pg, none_left, 409, "COUPON_SOLD_OUT"), 1);
    assert_int_equal(result_is(pg, no_coupon, 404, "COUPON_NOT_FOUND"), 1);
    assert_int_equal(result_is(pg, no_user, 404, "USER_NOT_FOUND"), 1);
    char user_text[32];
    snprintf(user_text, sizeof(user_text), "%" PRId64, user_id);
    const char *params[] = {user_text};
    assert_int_equal(
        ss_test_pg_scalar(pg, "SELECT count(*) FROM user_coupons WHERE user_id = $1", 1, params),
        0);
    assert_int_equal(coupon_scalar(pg, "SELECT issued_count FROM coupons WHERE id = $1", open), 0);
    /* No foreign key refuses a row of a missing user or coupon (migration 015): the worker must. */
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM user_coupons"
                                       " WHERE user_id = 900000000000 OR coupon_id = 900000000000",
                                       0, NULL),
                     0);
    ss_pg_destroy(pg);
}

static void test_same_user_twice_in_one_burst_is_issued_once(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = ss_test_user_create(pg, "coupon-twice");
    int64_t coupon_id = coupon_create(pg, 10, "PUBLISHABLE", 7);
    char first[128], second[128];
    request_id_make(first, sizeof(first), "twice", 1);
    request_id_make(second, sizeof(second), "twice", 2);
    issue_burst(coupon_id, user_id, first);
    issue_burst(coupon_id, user_id, second);
    burst_flush();
    assert_int_equal(result_is(pg, first, 200, NULL), 1);
    assert_int_equal(result_is(pg, second, 409, "COUPON_ALREADY_ISSUED"), 1);
    assert_int_equal(
        coupon_scalar(pg, "SELECT count(*) FROM user_coupons WHERE coupon_id = $1", coupon_id), 1);
    assert_int_equal(coupon_scalar(pg, "SELECT issued_count FROM coupons WHERE id = $1", coupon_id),
                     1);
    ss_pg_destroy(pg);
}

/* Creates count users in one statement; the caller frees the ids with free(). */
static int64_t *users_create(ss_pg_t *pg, size_t count)
{
    char count_text[32];
    snprintf(count_text, sizeof(count_text), "%zu", count);
    const char *params[] = {count_text};
    PGresult *rows = NULL;
    char errstr[512];
    if (ss_pg_query(pg, NULL,
                    "INSERT INTO users (nickname) SELECT 'racer-' || n"
                    " FROM generate_series(1, $1::int) AS n RETURNING id",
                    1, params, &rows, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("could not create users: %s", errstr);
    }
    assert_int_equal(PQntuples(rows), (int)count);
    int64_t *ids = calloc(count, sizeof(*ids));
    assert_non_null(ids);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(ss_pg_get_int64(rows, (int)i, 0, &ids[i], errstr, sizeof(errstr)), SS_OK);
    }
    PQclear(rows);
    return ids;
}

static void test_5000_users_racing_for_100_coupons_get_exactly_100_first_come(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t *user_ids = users_create(pg, RACE_USERS);
    int64_t coupon_id = coupon_create(pg, RACE_QUANTITY, "PUBLISHABLE", 7);
    char request_id[128], prefix[128], first_loser[128];
    request_id_make(prefix, sizeof(prefix), "race", 0);
    prefix[strlen(prefix) - 5] = '\0'; /* "...-race-" */
    request_id_make(first_loser, sizeof(first_loser), "race", RACE_QUANTITY);

    int64_t started_us = ss_clock_monotonic_us();
    for (int i = 0; i < RACE_USERS; i++) {
        request_id_make(request_id, sizeof(request_id), "race", i);
        issue_burst(coupon_id, user_ids[i], request_id);
    }
    burst_flush();
    int64_t produced_us = ss_clock_monotonic_us();
    char pattern[160];
    snprintf(pattern, sizeof(pattern), "%s%%", prefix);
    const char *like[] = {pattern};
    assert_int_equal(ss_test_wait_scalar(pg,
                                         "SELECT count(*) FROM request_results"
                                         " WHERE request_id LIKE $1",
                                         1, like, RACE_USERS, WAIT_MS),
                     RACE_USERS);
    int64_t done_us = ss_clock_monotonic_us();
    print_message("race: %d IssueCoupon produced in %.1f ms, all answered after %.1f ms"
                  " (%.0f records/s end to end)\n",
                  RACE_USERS, (double)(produced_us - started_us) / 1000.0,
                  (double)(done_us - started_us) / 1000.0,
                  RACE_USERS * 1e6 / (double)(done_us - started_us));

    assert_int_equal(
        coupon_scalar(pg, "SELECT count(*) FROM user_coupons WHERE coupon_id = $1", coupon_id),
        RACE_QUANTITY);
    assert_int_equal(coupon_scalar(pg,
                                   "SELECT count(DISTINCT user_id) FROM user_coupons"
                                   " WHERE coupon_id = $1",
                                   coupon_id),
                     RACE_QUANTITY);
    assert_int_equal(coupon_scalar(pg, "SELECT issued_count FROM coupons WHERE id = $1", coupon_id),
                     RACE_QUANTITY);
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM request_results WHERE request_id"
                                       " LIKE $1 AND http_status = 409"
                                       " AND (body::jsonb)->>'error' = 'COUPON_SOLD_OUT'",
                                       1, like),
                     RACE_USERS - RACE_QUANTITY);
    /* First come, first served: the winners are exactly the first 100 sent. */
    const char *winners[] = {pattern, first_loser};
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM request_results WHERE request_id"
                                       " LIKE $1 AND request_id < $2 AND http_status = 200",
                                       2, winners),
                     RACE_QUANTITY);
    free(user_ids);
    ss_pg_destroy(pg);
}

static void test_canceled_coupon_answers_itself_and_is_no_longer_issuable(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = ss_test_user_create(pg, "coupon-cancel");
    int64_t coupon_id = coupon_create(pg, 10, "PUBLISHABLE", 7);
    char cancel[128], issue[128];
    request_id_make(cancel, sizeof(cancel), "cancel", 1);
    request_id_make(issue, sizeof(issue), "cancel", 2);
    status_send(coupon_id, "CANCELED", cancel);
    issue_send(coupon_id, user_id, issue);
    assert_int_equal(result_is(pg, cancel, 200, NULL), 1);
    assert_int_equal(result_is(pg, issue, 409, "COUPON_NOT_ISSUABLE"), 1);
    assert_int_equal(coupon_scalar(pg,
                                   "SELECT count(*) FROM coupons WHERE id = $1"
                                   " AND status = 'CANCELED'",
                                   coupon_id),
                     1);
    char coupon_text[32];
    snprintf(coupon_text, sizeof(coupon_text), "%" PRId64, coupon_id);
    assert_int_equal(result_data_is(pg, cancel, "id", coupon_text), 1);
    assert_int_equal(result_data_is(pg, cancel, "name", "test coupon"), 1);
    assert_int_equal(result_data_is(pg, cancel, "discountRate", "0.1"), 1);
    assert_int_equal(result_data_is(pg, cancel, "quantity", "10"), 1);
    assert_int_equal(result_data_is(pg, cancel, "issuedCount", "0"), 1);
    assert_int_equal(result_data_is(pg, cancel, "status", "CANCELED"), 1);
    const char *expiry[] = {cancel, coupon_text};
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM request_results r, coupons c"
                                       " WHERE r.request_id = $1 AND c.id = $2::bigint AND"
                                       " (r.body::jsonb)->'data'->>'expiredAt' ="
                                       " to_char(c.expired_at AT TIME ZONE 'UTC',"
                                       " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                                       2, expiry),
                     1);
    ss_pg_destroy(pg);
}

static void test_unknown_status_is_invalid_and_unknown_coupon_is_not_found(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t coupon_id = coupon_create(pg, 10, "REGISTERED", 7);
    char paused[128], missing[128], publish[128];
    request_id_make(paused, sizeof(paused), "status", 1);
    request_id_make(missing, sizeof(missing), "status", 2);
    request_id_make(publish, sizeof(publish), "status", 3);
    status_send(coupon_id, "PAUSED", paused);
    status_send(INT64_C(900000000000), "CANCELED", missing);
    status_send(coupon_id, "PUBLISHABLE", publish);
    assert_int_equal(result_is(pg, paused, 400, "INVALID_REQUEST"), 1);
    assert_int_equal(result_is(pg, missing, 404, "COUPON_NOT_FOUND"), 1);
    assert_int_equal(result_is(pg, publish, 200, NULL), 1);
    assert_int_equal(coupon_scalar(pg,
                                   "SELECT count(*) FROM coupons WHERE id = $1"
                                   " AND status = 'PUBLISHABLE'",
                                   coupon_id),
                     1);
    ss_pg_destroy(pg);
}

static void test_poison_record_goes_aside_and_the_partition_moves_on(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = ss_test_user_create(pg, "coupon-poison");
    int64_t coupon_id = coupon_create(pg, 10, "PUBLISHABLE", 7);
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, coupon_id);
    /* A ChargeBalance decodes fine but is not a coupon command. */
    json_t *garbage = json_pack("{s:s, s:i, s:I, s:I, s:I}", "request_id", "not-a-coupon-command",
                                "reply_partition", -1, "user_id", (json_int_t)user_id, "amount",
                                (json_int_t)1, "requested_at", (json_int_t)ss_clock_now_ms());
    ss_test_produce("ss.cmd.coupon", key, "ChargeBalance", garbage);
    json_decref(garbage);
    char request_id[128];
    request_id_make(request_id, sizeof(request_id), "after-poison", 1);
    issue_send(coupon_id, user_id, request_id);
    assert_int_equal(result_is(pg, request_id, 200, NULL), 1);
    assert_int_equal(coupon_scalar(pg, "SELECT issued_count FROM coupons WHERE id = $1", coupon_id),
                     1);
    ss_pg_destroy(pg);
}

static void test_kill_9_in_mid_stream_issues_every_coupon_exactly_once(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    enum { crash_users = 400, crash_quantity = 1000, crash_at = 150 };
    int64_t *user_ids = users_create(pg, crash_users);
    int64_t coupon_id = coupon_create(pg, crash_quantity, "PUBLISHABLE", 7);
    char request_id[128];
    for (int i = 0; i < crash_users; i++) {
        request_id_make(request_id, sizeof(request_id), "crash", i);
        issue_send(coupon_id, user_ids[i], request_id);
        if (i == crash_at) {
            workers_stop(SIGKILL);
            workers_start();
        }
    }
    char coupon_text[32];
    snprintf(coupon_text, sizeof(coupon_text), "%" PRId64, coupon_id);
    const char *params[] = {coupon_text};
    assert_int_equal(ss_test_wait_scalar(pg,
                                         "SELECT count(*) FROM user_coupons WHERE coupon_id = $1",
                                         1, params, crash_users, WAIT_MS),
                     crash_users);
    sleep(1); /* anything applied twice would show up by now */
    assert_int_equal(
        coupon_scalar(pg, "SELECT count(*) FROM user_coupons WHERE coupon_id = $1", coupon_id),
        crash_users);
    assert_int_equal(coupon_scalar(pg, "SELECT issued_count FROM coupons WHERE id = $1", coupon_id),
                     crash_users);
    free(user_ids);
    ss_pg_destroy(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_gives_an_unused_coupon_and_a_second_issue_is_already_issued),
        cmocka_unit_test(test_each_refusal_carries_its_code),
        cmocka_unit_test(test_same_user_twice_in_one_burst_is_issued_once),
        cmocka_unit_test(test_5000_users_racing_for_100_coupons_get_exactly_100_first_come),
        cmocka_unit_test(test_canceled_coupon_answers_itself_and_is_no_longer_issuable),
        cmocka_unit_test(test_unknown_status_is_invalid_and_unknown_coupon_is_not_found),
        cmocka_unit_test(test_poison_record_goes_aside_and_the_partition_moves_on),
        cmocka_unit_test(test_kill_9_in_mid_stream_issues_every_coupon_exactly_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
