/*
 * Concurrency over HTTP, against the real stack: an ss-ingress of this test (instance 3, a
 * deadline of 30 s so that few answers are 202) with two user workers and two coupon workers.
 * Requests are fired together with the curl multi interface, hundreds in flight at once, and
 * their final outcomes (202s followed to DONE) are counted by status.
 *
 * - 1,000 charges to one user, asking for about twice the limit: the balance never passes
 *   10,000,000; the final balance equals the sum of the accepted charges and of the history
 *   rows; the accepted charges form one chain (sorted by the balance each answered, every
 *   balance is the previous one plus its own amount); every refused amount would not have fit
 *   even into the final balance.
 * - 5,000 issuance requests from distinct users for a coupon of quantity 100: exactly 100 are
 *   issued, to 100 distinct users, and the other 4,900 are COUPON_SOLD_OUT.
 *
 * Each test prints the throughput it observed; nothing asserts on time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BALANCE_LIMIT INT64_C(10000000)
#define CHARGES 1000
#define ISSUANCE_USERS 5000
#define COUPON_QUANTITY 100
#define IN_FLIGHT 500

static ss_test_services_t services;

static int setup(void **state)
{
    ss_test_services_config_t config = {.instance = 3, .port = 18186, .request_deadline_ms = 30000};
    config.workers[SS_TEST_SERVICE_USER] = 2;
    config.workers[SS_TEST_SERVICE_COUPON] = 2;
    ss_test_services_start(&services, &config);
    *state = &services;
    return 0;
}

/* The first column of every row of sql as integers; the caller frees the array. */
static int64_t *pg_column(const char *sql, int param_count, const char *const *params,
                          size_t *count_out)
{
    PGresult *rows = NULL;
    char errstr[256];
    if (ss_pg_query(services.pg, NULL, sql, param_count, params, &rows, errstr, sizeof(errstr)) !=
        SS_OK) {
        fail_msg("query failed: %s: %s", sql, errstr);
    }
    size_t count = (size_t)PQntuples(rows);
    int64_t *values = calloc(count > 0 ? count : 1, sizeof(*values));
    assert_non_null(values);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(ss_pg_get_int64(rows, (int)i, 0, &values[i], errstr, sizeof(errstr)),
                         SS_OK);
    }
    PQclear(rows);
    *count_out = count;
    return values;
}

static int64_t scalar_id(const char *sql, int64_t id)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, id);
    const char *params[] = {text};
    return ss_test_pg_scalar(services.pg, sql, 1, params);
}

static int int64_compare(const void *left, const void *right)
{
    int64_t a = *(const int64_t *)left, b = *(const int64_t *)right;
    return (a > b) - (a < b);
}

typedef struct accepted_charge {
    int64_t balance_after; /* what the 200 answered */
    int64_t amount;
} accepted_charge_t;

static int accepted_compare(const void *left, const void *right)
{
    const accepted_charge_t *a = left, *b = right;
    return (a->balance_after > b->balance_after) - (a->balance_after < b->balance_after);
}

/* Follows every 202 to its final outcome; returns how many were 202. */
static size_t replies_settle(ss_test_http_reply_t *replies, size_t count)
{
    size_t accepted_later = 0;
    for (size_t i = 0; i < count; i++) {
        if (replies[i].status == 202) {
            accepted_later++;
            ss_test_http_settle(services.http, &replies[i], SS_TEST_SERVICES_SETTLE_MS);
        }
    }
    return accepted_later;
}

static void test_thousand_concurrent_charges_never_pass_the_limit_and_add_up(void **state)
{
    (void)state;
    char nickname[100];
    snprintf(nickname, sizeof(nickname), "concurrent-charges-%s", ss_test_run_id());
    int64_t user_id = ss_test_http_user_create(services.http, nickname);

    /* 15,000..24,999 each, about 20,000,000 asked in all: roughly half can fit. */
    static ss_test_http_request_t requests[CHARGES];
    static ss_test_http_reply_t replies[CHARGES];
    static int64_t amounts[CHARGES];
    for (size_t i = 0; i < CHARGES; i++) {
        amounts[i] = 15000 + (int64_t)((i * 37) % 10000);
        char body[64];
        snprintf(body, sizeof(body), "{\"amount\":%" PRId64 "}", amounts[i]);
        ss_test_http_request_init(&requests[i], "POST", body,
                                  "/api/v1/users/%" PRId64 "/balance/charge", user_id);
    }
    ss_test_http_many_config_t config = {.in_flight_max = IN_FLIGHT};
    ss_test_http_many_stats_t stats;
    ss_test_http_send_many(services.http, requests, CHARGES, &config, replies, &stats);
    size_t late = replies_settle(replies, CHARGES);

    static accepted_charge_t accepted[CHARGES];
    size_t accepted_count = 0, refused_count = 0;
    int64_t accepted_sum = 0, refused_min = INT64_MAX;
    for (size_t i = 0; i < CHARGES; i++) {
        if (replies[i].status == 200) {
            json_t *data = ss_test_http_expect(&replies[i], 200, NULL);
            assert_int_equal(ss_test_json_int(data, "userId"), user_id);
            int64_t balance_after = ss_test_json_int(data, "amount");
            assert_true(balance_after >= amounts[i] && balance_after <= BALANCE_LIMIT);
            accepted[accepted_count++] =
                (accepted_charge_t){.balance_after = balance_after, .amount = amounts[i]};
            accepted_sum += amounts[i];
        } else {
            ss_test_http_expect(&replies[i], 409, "BALANCE_LIMIT_EXCEEDED");
            refused_count++;
            refused_min = amounts[i] < refused_min ? amounts[i] : refused_min;
        }
        ss_test_http_reply_free(&replies[i]);
    }
    print_message("1000 charges: %zu accepted, %zu refused, %zu answered 202 first;"
                  " %" PRId64 " ms, %.0f requests/s, %zu in flight at most\n",
                  accepted_count, refused_count, late, stats.elapsed_ms,
                  stats.elapsed_ms > 0 ? CHARGES * 1000.0 / (double)stats.elapsed_ms : 0.0,
                  stats.in_flight_peak);
    assert_true(stats.in_flight_peak >= 100);
    assert_true(accepted_count > 0 && refused_count > 0);
    assert_true(accepted_sum <= BALANCE_LIMIT);

    /* The balance is the sum of the accepted charges, through the API and in the table. */
    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/users/%" PRId64 "/balance", user_id);
    int64_t final_balance = ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "amount");
    ss_test_http_reply_free(&reply);
    assert_int_equal(final_balance, accepted_sum);
    assert_int_equal(scalar_id("SELECT balance FROM users WHERE id = $1", user_id), accepted_sum);
    assert_int_equal(scalar_id("SELECT count(*) FROM balance_history WHERE user_id = $1", user_id),
                     accepted_count);
    assert_int_equal(
        scalar_id("SELECT coalesce(sum(amount), 0) FROM balance_history WHERE user_id = $1",
                  user_id),
        accepted_sum);

    /* One chain: each accepted charge moved the balance from the previous answer by itself. */
    qsort(accepted, accepted_count, sizeof(accepted[0]), accepted_compare);
    int64_t previous = 0;
    for (size_t i = 0; i < accepted_count; i++) {
        if (accepted[i].balance_after != previous + accepted[i].amount) {
            fail_msg("accepted charge of %" PRId64 " answered %" PRId64 ", the one before %" PRId64,
                     accepted[i].amount, accepted[i].balance_after, previous);
        }
        previous = accepted[i].balance_after;
    }
    assert_int_equal(previous, final_balance);

    /* History rows are that same chain. */
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, user_id);
    const char *params[] = {id};
    size_t history_count = 0;
    int64_t *history = pg_column("SELECT balance_after FROM balance_history WHERE user_id = $1"
                                 " ORDER BY balance_after",
                                 1, params, &history_count);
    assert_int_equal(history_count, accepted_count);
    for (size_t i = 0; i < history_count; i++) {
        assert_int_equal(history[i], accepted[i].balance_after);
    }
    free(history);

    /* A refusal was right: the balance only grew, so the amount did not fit at the end either. */
    assert_true(refused_min > BALANCE_LIMIT - final_balance);
}

static void test_five_thousand_issuance_requests_issue_exactly_the_quantity(void **state)
{
    (void)state;
    char prefix[100];
    snprintf(prefix, sizeof(prefix), "burst-%s-", ss_test_run_id());
    const char *user_params[] = {prefix};
    size_t user_count = 0;
    int64_t *user_ids = pg_column("INSERT INTO users (nickname)"
                                  " SELECT $1 || g FROM generate_series(1, 5000) AS g"
                                  " RETURNING id",
                                  1, user_params, &user_count);
    assert_int_equal(user_count, ISSUANCE_USERS);
    int64_t coupon_id = ss_test_http_coupon_create(services.http, prefix, "0.1", COUPON_QUANTITY,
                                                   "2099-12-31T23:59:59Z", NULL);

    static ss_test_http_request_t requests[ISSUANCE_USERS];
    static ss_test_http_reply_t replies[ISSUANCE_USERS];
    char body[64];
    snprintf(body, sizeof(body), "{\"couponId\":%" PRId64 "}", coupon_id);
    for (size_t i = 0; i < ISSUANCE_USERS; i++) {
        ss_test_http_request_init(&requests[i], "POST", body, "/api/v1/users/%" PRId64 "/coupons",
                                  user_ids[i]);
    }
    ss_test_http_many_config_t config = {.in_flight_max = IN_FLIGHT};
    ss_test_http_many_stats_t stats;
    ss_test_http_send_many(services.http, requests, ISSUANCE_USERS, &config, replies, &stats);
    size_t late = replies_settle(replies, ISSUANCE_USERS);

    static int64_t issued_users[ISSUANCE_USERS], user_coupon_ids[ISSUANCE_USERS];
    size_t issued = 0, sold_out = 0;
    for (size_t i = 0; i < ISSUANCE_USERS; i++) {
        if (replies[i].status == 200) {
            json_t *data = ss_test_http_expect(&replies[i], 200, NULL);
            assert_int_equal(ss_test_json_int(data, "couponId"), coupon_id);
            assert_true(issued < ISSUANCE_USERS);
            user_coupon_ids[issued] = ss_test_json_int(data, "userCouponId");
            issued_users[issued++] = user_ids[i];
        } else {
            ss_test_http_expect(&replies[i], 409, "COUPON_SOLD_OUT");
            sold_out++;
        }
        ss_test_http_reply_free(&replies[i]);
    }
    print_message("5000 issuance requests: %zu issued, %zu sold out, %zu answered 202 first;"
                  " %" PRId64 " ms, %.0f requests/s, %zu in flight at most\n",
                  issued, sold_out, late, stats.elapsed_ms,
                  stats.elapsed_ms > 0 ? ISSUANCE_USERS * 1000.0 / (double)stats.elapsed_ms : 0.0,
                  stats.in_flight_peak);
    assert_true(stats.in_flight_peak >= 100);
    assert_int_equal(issued, COUPON_QUANTITY);
    assert_int_equal(sold_out, ISSUANCE_USERS - COUPON_QUANTITY);

    /* 100 different user coupons (users are distinct by construction). */
    qsort(user_coupon_ids, issued, sizeof(user_coupon_ids[0]), int64_compare);
    for (size_t i = 1; i < issued; i++) {
        assert_true(user_coupon_ids[i] != user_coupon_ids[i - 1]);
    }

    /* The table agrees: 100 rows, 100 users, exactly the ones that were answered 200. */
    assert_int_equal(scalar_id("SELECT issued_count FROM coupons WHERE id = $1", coupon_id),
                     COUPON_QUANTITY);
    assert_int_equal(scalar_id("SELECT count(*) FROM user_coupons WHERE coupon_id = $1", coupon_id),
                     COUPON_QUANTITY);
    assert_int_equal(
        scalar_id("SELECT count(DISTINCT user_id) FROM user_coupons WHERE coupon_id = $1",
                  coupon_id),
        COUPON_QUANTITY);
    char coupon_text[24];
    snprintf(coupon_text, sizeof(coupon_text), "%" PRId64, coupon_id);
    const char *params[] = {coupon_text};
    size_t row_count = 0;
    int64_t *rows = pg_column("SELECT user_id FROM user_coupons WHERE coupon_id = $1"
                              " ORDER BY user_id",
                              1, params, &row_count);
    qsort(issued_users, issued, sizeof(issued_users[0]), int64_compare);
    assert_int_equal(row_count, issued);
    for (size_t i = 0; i < row_count; i++) {
        assert_int_equal(rows[i], issued_users[i]);
    }
    free(rows);
    free(user_ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thousand_concurrent_charges_never_pass_the_limit_and_add_up),
        cmocka_unit_test(test_five_thousand_issuance_requests_issue_exactly_the_quantity),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}
