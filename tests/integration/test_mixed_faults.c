/*
 * The whole product under mixed load and faults (issue 8's mixed run), against the real stack:
 * charges, coupon issues and orders (some with the coupon) from 48 HTTP clients through an
 * ingress of this test, two user workers, two stock workers and a coupon worker, with the data
 * platform sink (its own group, a mock platform on its own port) and a rank worker (its own
 * group and Redis database). Mid-run, 48 poison records (half of them 1,040,000 bytes) are
 * written to the three command topics, and each kind of worker and the sink is killed with -9
 * and started again. Afterwards:
 *   - every request has its final answer, and no order is left PENDING;
 *   - money: each balance is the start plus the charges answered 200 minus the PAID orders;
 *   - stock: each product's stock plus its PAID units is the initial stock;
 *   - the coupon: issued = issues answered 200, USED = PAID orders that named it;
 *   - every PAID order reached the platform exactly once, the ranking counts every PAID unit;
 *   - the 48 poison records are in ss.dlq, each with its reason (a copy re-sent by the outbox
 *     after a kill is the same dead letter).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_kafka.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include "ss/clock.h"
#include "ss/rank.h"
#include "ss/redis.h"
#include "ss/topics.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USERS 16
#define PRODUCTS 10
#define REQUESTS 480
#define CLIENTS 48
#define POISON_PER_TOPIC 16
#define POISON_BYTES 1040000
#define POISON_SMALL_BYTES 64
#define START_BALANCE 1000000
#define START_STOCK 1000
#define PRICE 100
#define CHARGE 100
#define WAIT_MS 120000
#define MOCK_PORT "18093"
#define RANK_DB 12

static ss_test_services_t services;
static struct {
    int64_t users[USERS];
    int64_t products[PRODUCTS];
    char users_literal[USERS * 24 + 3]; /* "{1,2,...}" for = ANY($1) */
    int64_t coupon;
    pid_t mock, sink, rank;
    char env_redis[700];
    ss_test_http_t *mock_http;
} run;

static const char *const mock_env[] = {"SS_MOCK_PLATFORM_PORT=" MOCK_PORT,
                                       "SS_MOCK_PLATFORM_HOST=127.0.0.1", NULL};
static const char *const sink_env[] = {"PLATFORM_URL=http://127.0.0.1:" MOCK_PORT,
                                       "SS_GROUP_ID=ss-platform-sink-mixed",
                                       "SS_PLATFORM_BACKOFF_MAX_MS=400", NULL};
static const char *rank_env[] = {run.env_redis, "SS_GROUP_ID=ss-rank-worker-mixed", NULL};

static void side_processes_start(void)
{
    run.mock = ss_test_process_start("producers/mock_platform/ss-mock-platform", mock_env);
    run.sink = ss_test_process_start("workers/sink/ss-platform-sink", sink_env);
    run.rank = ss_test_process_start("workers/rank/ss-rank-worker", rank_env);
}

static int setup(void **state)
{
    ss_redis_url_t url;
    char errstr[512];
    assert_int_equal(ss_redis_url_parse(ss_test_redis_url(), &url, errstr, sizeof(errstr)), SS_OK);
    if (url.password[0] != '\0') {
        snprintf(run.env_redis, sizeof(run.env_redis), "REDIS_URL=redis://%s:%s@%s:%d/%d",
                 url.username, url.password, url.host, url.port, RANK_DB);
    } else {
        snprintf(run.env_redis, sizeof(run.env_redis), "REDIS_URL=redis://%s:%d/%d", url.host,
                 url.port, RANK_DB);
    }
    ss_test_services_config_t config = {.instance = 1, .port = 18194};
    config.workers[SS_TEST_SERVICE_USER] = 2;
    config.workers[SS_TEST_SERVICE_STOCK] = 2;
    config.workers[SS_TEST_SERVICE_COUPON] = 1;
    ss_test_services_start(&services, &config);
    side_processes_start();
    run.mock_http = ss_test_http_new("http://127.0.0.1:" MOCK_PORT, NULL);
    *state = &services;
    return 0;
}

static int teardown(void **state)
{
    ss_test_process_stop(run.rank, SIGTERM);
    ss_test_process_stop(run.sink, SIGTERM);
    ss_test_process_stop(run.mock, SIGTERM);
    ss_test_http_destroy(run.mock_http);
    return ss_test_services_teardown(state);
}

/* ---- the load ------------------------------------------------------------------------------ */

static void fixtures_create(void)
{
    char name[96], balance[24];
    snprintf(balance, sizeof(balance), "%d", START_BALANCE);
    for (int i = 0; i < USERS; i++) {
        snprintf(name, sizeof(name), "mixed-%d-%s", i, ss_test_run_id());
        run.users[i] = ss_test_http_user_create(services.http, name);
        char id[24];
        snprintf(id, sizeof(id), "%" PRId64, run.users[i]);
        const char *params[] = {id, balance};
        ss_test_pg_exec(services.pg, "UPDATE users SET balance = $2 WHERE id = $1", 2, params);
        size_t length = strlen(run.users_literal);
        snprintf(run.users_literal + length, sizeof(run.users_literal) - length, "%s%s",
                 i == 0 ? "{" : ",", id);
    }
    size_t length = strlen(run.users_literal);
    snprintf(run.users_literal + length, sizeof(run.users_literal) - length, "}");
    for (int i = 0; i < PRODUCTS; i++) {
        snprintf(name, sizeof(name), "mixed-%d-%s", i, ss_test_run_id());
        run.products[i] =
            ss_test_http_product_create(services.http, name, PRICE, START_STOCK, NULL);
    }
    run.coupon = ss_test_http_coupon_create(services.http, "mixed", "0.1", USERS / 2,
                                            "2099-01-01T00:00:00Z", NULL);
}

/* Request i: a charge, a coupon issue, an order (every fourth order names the coupon). */
static void request_make(int i, ss_test_http_request_t *request)
{
    int64_t user = run.users[i % USERS];
    switch (i % 3) {
    case 0:
        ss_test_http_request_init(request, "POST", NULL, "/api/v1/users/%" PRId64 "/balance/charge",
                                  user);
        snprintf(request->body_text, sizeof(request->body_text), "{\"amount\":%d}", CHARGE);
        break;
    case 1:
        ss_test_http_request_init(request, "POST", NULL, "/api/v1/users/%" PRId64 "/coupons", user);
        snprintf(request->body_text, sizeof(request->body_text), "{\"couponId\":%" PRId64 "}",
                 run.coupon);
        break;
    default:
        ss_test_http_request_init(request, "POST", NULL, "/api/v1/orders");
        int used =
            snprintf(request->body_text, sizeof(request->body_text),
                     "{\"userId\":%" PRId64 ",\"products\":[{\"id\":%" PRId64
                     ",\"quantity\":%d},{\"id\":%" PRId64 ",\"quantity\":1}]",
                     user, run.products[i % PRODUCTS], 1 + i % 3, run.products[(i + 3) % PRODUCTS]);
        if (i % 4 == 2) {
            used += snprintf(request->body_text + used, sizeof(request->body_text) - (size_t)used,
                             ",\"couponId\":%" PRId64, run.coupon);
        }
        snprintf(request->body_text + used, sizeof(request->body_text) - (size_t)used, "}");
        break;
    }
}

/* 16 poison records per command topic, keyed by real entities, half of them too large. */
static void poison_produce(void)
{
    unsigned char *poison = malloc(POISON_BYTES);
    assert_non_null(poison);
    memset(poison, 0xff, POISON_BYTES);
    const char *topics[] = {SS_TOPIC_CMD_USER, SS_TOPIC_CMD_STOCK, SS_TOPIC_CMD_COUPON};
    for (int t = 0; t < 3; t++) {
        for (int k = 0; k < POISON_PER_TOPIC; k++) {
            int64_t id = t == 0   ? run.users[k % USERS]
                         : t == 1 ? run.products[k % PRODUCTS]
                                  : run.coupon;
            char key[24];
            snprintf(key, sizeof(key), "%" PRId64, id);
            ss_test_produce_raw(topics[t], key, poison,
                                k % 2 == 0 ? POISON_BYTES : POISON_SMALL_BYTES);
        }
    }
    free(poison);
}

/* The faults, at a quarter, half and three quarters of the answers. */
static void on_progress(void *opaque, size_t completed)
{
    (void)opaque;
    if (completed == REQUESTS / 4) {
        poison_produce();
        ss_test_services_worker_stop(&services, SS_TEST_SERVICE_USER, 0, SIGKILL);
        ss_test_services_worker_start(&services, SS_TEST_SERVICE_USER, 0);
    } else if (completed == REQUESTS / 2) {
        ss_test_services_worker_stop(&services, SS_TEST_SERVICE_STOCK, 1, SIGKILL);
        ss_test_services_worker_start(&services, SS_TEST_SERVICE_STOCK, 1);
        ss_test_process_stop(run.sink, SIGKILL);
        run.sink = ss_test_process_start("workers/sink/ss-platform-sink", sink_env);
    } else if (completed == REQUESTS * 3 / 4) {
        ss_test_services_worker_stop(&services, SS_TEST_SERVICE_COUPON, 0, SIGKILL);
        ss_test_services_worker_start(&services, SS_TEST_SERVICE_COUPON, 0);
        ss_test_process_stop(run.rank, SIGKILL);
        run.rank = ss_test_process_start("workers/rank/ss-rank-worker", rank_env);
    }
}

/* ---- the checks ---------------------------------------------------------------------------- */

static int64_t scalar_of(const char *sql, int64_t id)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, id);
    const char *params[] = {text};
    return ss_test_pg_scalar(services.pg, sql, 1, params);
}

static void money_and_stock_check(const ss_test_http_reply_t *replies)
{
    for (int u = 0; u < USERS; u++) {
        int64_t charged = 0;
        for (int i = u; i < REQUESTS; i += USERS) {
            charged += i % 3 == 0 && replies[i].status == 200 ? CHARGE : 0;
        }
        int64_t paid = scalar_of("SELECT coalesce(sum(paid_amount), 0) FROM orders"
                                 " WHERE user_id = $1 AND status = 'PAID'",
                                 run.users[u]);
        assert_int_equal(scalar_of("SELECT balance FROM users WHERE id = $1", run.users[u]),
                         START_BALANCE + charged - paid);
        /* users.held is what the user's PENDING orders hold: nothing, once all settled. */
        assert_int_equal(scalar_of("SELECT held FROM users WHERE id = $1", run.users[u]), 0);
        assert_int_equal(
            scalar_of("SELECT count(*) FROM orders WHERE user_id = $1 AND status = 'PENDING'",
                      run.users[u]),
            0);
    }
    for (int p = 0; p < PRODUCTS; p++) {
        assert_int_equal(scalar_of("SELECT stock + (SELECT coalesce(sum(i.quantity), 0)"
                                   " FROM order_items i JOIN orders o ON o.id = i.order_id"
                                   " WHERE i.product_id = $1 AND o.status = 'PAID')"
                                   " FROM products WHERE id = $1",
                                   run.products[p]),
                         START_STOCK);
    }
}

static void coupon_check(const ss_test_http_reply_t *replies)
{
    int64_t issued = 0;
    for (int i = 1; i < REQUESTS; i += 3) {
        issued += replies[i].status == 200 ? 1 : 0;
    }
    assert_int_equal(
        scalar_of("SELECT count(*) FROM user_coupons WHERE coupon_id = $1", run.coupon), issued);
    assert_int_equal(scalar_of("SELECT issued_count FROM coupons WHERE id = $1", run.coupon),
                     issued);
    assert_int_equal(
        scalar_of("SELECT count(*) FROM user_coupons WHERE coupon_id = $1 AND status = 'USED'",
                  run.coupon),
        scalar_of("SELECT count(*) FROM orders WHERE coupon_id = $1 AND status = 'PAID'",
                  run.coupon));
}

/*
 * No row anywhere names a user, coupon or order that does not exist: migration 015 dropped the
 * foreign keys, so the single writers keep these references (every test run before this one
 * wrote into the same database).
 */
static void references_check(void)
{
    static const char *const orphans[] = {
        "SELECT count(*) FROM balance_history h WHERE NOT EXISTS"
        " (SELECT FROM users u WHERE u.id = h.user_id)",
        "SELECT count(*) FROM user_coupons c WHERE NOT EXISTS"
        " (SELECT FROM users u WHERE u.id = c.user_id)"
        " OR NOT EXISTS (SELECT FROM coupons k WHERE k.id = c.coupon_id)",
        "SELECT count(*) FROM order_items i WHERE NOT EXISTS"
        " (SELECT FROM orders o WHERE o.id = i.order_id)",
        "SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT FROM users u WHERE u.id = "
        "o.user_id)",
    };
    for (size_t i = 0; i < sizeof(orphans) / sizeof(orphans[0]); i++) {
        assert_int_equal(ss_test_pg_scalar(services.pg, orphans[i], 0, NULL), 0);
    }
}

/* Whether the platform holds order_id's body, received under its key exactly once. */
static bool platform_has(int64_t order_id)
{
    ss_test_http_reply_t reply = {0};
    ss_test_http_get(run.mock_http, &reply, "/received/order-%" PRId64, order_id);
    bool held = reply.status == 200 && json_is_object(json_object_get(reply.json, "body"));
    ss_test_http_reply_free(&reply);
    return held;
}

/* Every PAID order of the run reached the platform (which keeps one body per key). */
static void platform_check(void)
{
    PGresult *rows = NULL;
    char errstr[256];
    const char *params[] = {run.users_literal};
    assert_int_equal(ss_pg_query(services.pg, NULL,
                                 "SELECT id FROM orders WHERE status = 'PAID'"
                                 " AND user_id = ANY($1::bigint[]) ORDER BY id",
                                 1, params, &rows, errstr, sizeof(errstr)),
                     SS_OK);
    assert_true(PQntuples(rows) > 0);
    for (int row = 0; row < PQntuples(rows); row++) {
        int64_t order_id = atoll(PQgetvalue(rows, row, 0));
        bool held = false;
        for (int waited = 0; waited < WAIT_MS && !held; waited += 250) {
            held = platform_has(order_id);
            if (!held) {
                usleep(250 * 1000);
            }
        }
        assert_true(held);
    }
    PQclear(rows);
}

/* The units sold of product today and yesterday (a run across midnight), from Redis. */
static int64_t ranked_units(ss_redis_t *redis, int64_t product_id)
{
    int64_t today = ss_clock_day_from_ms(ss_clock_now_ms()), units = 0;
    for (int64_t day = today - 1; day <= today; day++) {
        char key[SS_RANK_KEY_SIZE], member[24], errstr[256];
        assert_int_equal(ss_rank_sell_key(day, key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
        snprintf(member, sizeof(member), "%" PRId64, product_id);
        const char *argv[] = {"ZSCORE", key, member};
        redisReply *reply = NULL;
        assert_int_equal(
            ss_redis_command_argv(redis, 3, argv, NULL, &reply, errstr, sizeof(errstr)), SS_OK);
        units += reply->type == REDIS_REPLY_STRING ? atoll(reply->str) : 0;
        freeReplyObject(reply);
    }
    return units;
}

static void ranking_check(void)
{
    ss_redis_t *redis = NULL;
    char errstr[256];
    assert_int_equal(ss_redis_connect(run.env_redis + strlen("REDIS_URL="), 5000, &redis, errstr,
                                      sizeof(errstr)),
                     SS_OK);
    for (int p = 0; p < PRODUCTS; p++) {
        int64_t sold = scalar_of("SELECT coalesce(sum(i.quantity), 0) FROM order_items i"
                                 " JOIN orders o ON o.id = i.order_id"
                                 " WHERE i.product_id = $1 AND o.status = 'PAID'",
                                 run.products[p]);
        int64_t ranked = -1;
        for (int waited = 0; waited < WAIT_MS && ranked != sold; waited += 500) {
            ranked = ranked_units(redis, run.products[p]);
            if (ranked != sold) {
                usleep(500 * 1000);
            }
        }
        assert_int_equal(ranked, sold);
    }
    ss_redis_destroy(redis);
}

/* ---- dead letters -------------------------------------------------------------------------- */

/*
 * The dead letters of this run's poison records, one entry per source record. The outbox
 * delivers at least once, so a worker killed between producing its dead letters and deleting
 * their row leaves the row to the next owner, which sends it again: a source record may be in
 * ss.dlq twice (ss-admin dlq replay replays a source record once). Every copy must be the same
 * dead letter: same reason and bytes.
 */
typedef struct dead_seen {
    char sources[3 * POISON_PER_TOPIC][128];
    char reasons[3 * POISON_PER_TOPIC][128];
    size_t lengths[3 * POISON_PER_TOPIC];
    size_t count, copies, strangers;
} dead_seen_t;

static bool key_is_ours(const ss_kafka_message_t *message, const char *source)
{
    char key[32] = "";
    if (message->key != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)message->key_length, (const char *)message->key);
    }
    int64_t id = atoll(key);
    if (strncmp(source, SS_TOPIC_CMD_COUPON "/", strlen(SS_TOPIC_CMD_COUPON) + 1) == 0) {
        return id == run.coupon;
    }
    bool user_topic = strncmp(source, SS_TOPIC_CMD_USER "/", strlen(SS_TOPIC_CMD_USER) + 1) == 0;
    const int64_t *ids = user_topic ? run.users : run.products;
    for (int i = 0; i < (user_topic ? USERS : PRODUCTS); i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* One of this run's poison records: 64 bytes of 0xff, or a reference to 1,040,000 of them. */
static bool dead_keep(void *opaque, const ss_kafka_message_t *message)
{
    dead_seen_t *seen = opaque;
    char source[128], parked[32];
    ss_test_header(message, SS_HEADER_DLQ_SOURCE, source, sizeof(source));
    ss_test_header(message, SS_HEADER_DLQ_PARKED_BYTES, parked, sizeof(parked));
    bool small = message->value_length == POISON_SMALL_BYTES &&
                 ((const unsigned char *)message->value)[0] == 0xff;
    bool reference = strcmp(parked, "1040000") == 0;
    if (!(small || reference) || !key_is_ours(message, source)) {
        return false;
    }
    char reason[128];
    ss_test_header(message, SS_HEADER_DLQ_REASON, reason, sizeof(reason));
    for (size_t i = 0; i < seen->count; i++) {
        if (strcmp(seen->sources[i], source) == 0) {
            seen->copies++;
            seen->strangers +=
                strcmp(seen->reasons[i], reason) != 0 || seen->lengths[i] != message->value_length;
            return false;
        }
    }
    if (seen->count == 3 * POISON_PER_TOPIC) {
        seen->strangers++;
        return false;
    }
    snprintf(seen->sources[seen->count], sizeof(seen->sources[0]), "%s", source);
    snprintf(seen->reasons[seen->count], sizeof(seen->reasons[0]), "%s", reason);
    seen->lengths[seen->count] = message->value_length;
    seen->count++;
    return true;
}

/* ---- the run ------------------------------------------------------------------------------- */

static void test_mixed_load_with_poison_and_kills_loses_nothing(void **state)
{
    (void)state;
    fixtures_create();
    static ss_test_http_request_t requests[REQUESTS];
    static ss_test_http_reply_t replies[REQUESTS];
    for (int i = 0; i < REQUESTS; i++) {
        request_make(i, &requests[i]);
    }
    ss_test_http_many_config_t config = {.in_flight_max = CLIENTS, .on_progress = on_progress};
    ss_test_http_send_many(services.http, requests, REQUESTS, &config, replies, NULL);
    for (int i = 0; i < REQUESTS; i++) {
        ss_test_http_settle(services.http, &replies[i], SS_TEST_SERVICES_SETTLE_MS);
        assert_true(replies[i].status >= 200 && replies[i].status < 500);
    }
    assert_int_equal(ss_test_wait_scalar(services.pg,
                                         "SELECT count(*) FROM orders WHERE status = 'PENDING'"
                                         " AND user_id = ANY($1::bigint[])",
                                         1, (const char *const[]){run.users_literal}, 0, WAIT_MS),
                     0);
    money_and_stock_check(replies);
    coupon_check(replies);
    platform_check();
    ranking_check();
    references_check();
    dead_seen_t dead = {0};
    ss_test_topic_read(SS_TOPIC_DLQ, 0, dead_keep, &dead, 3 * POISON_PER_TOPIC, 2000, WAIT_MS);
    assert_int_equal(dead.count, 3 * POISON_PER_TOPIC);
    assert_int_equal(dead.strangers, 0);
    printf("dead letters: %zu source records, %zu copies re-sent after a kill\n", dead.count,
           dead.copies);
    for (int i = 0; i < REQUESTS; i++) {
        ss_test_http_reply_free(&replies[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_load_with_poison_and_kills_loses_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
