/*
 * The rank worker against the real broker, PostgreSQL and Redis. Paid and failed orders with
 * their lines are inserted directly in PostgreSQL over three days (products made for this run),
 * and their OrderPaid and OrderFailed events are produced to a topic of this test (RANK_TOPIC,
 * read by the worker under test through SS_TOPIC, so that no sink sees these made-up orders).
 * Covers: scores per UTC day and per line, failed orders never counted, a replay from offset 0,
 * events re-sent with new offsets, kill -9 in mid-stream, the offset compare-and-set (fencing),
 * the daily batch run twice and against a direct aggregation, the catch-up of a missed day at
 * start, the rebuild of Redis from PostgreSQL (command line and at start), and the popular
 * top 5.
 *
 * The worker under test uses its own consumer group and Redis database RANK_TEST_DB, so the
 * stack's own rank worker (group ss-rank-worker, database 0) and other tests are not disturbed
 * and this test never resets shared keys. Only this run's products are read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_kafka.h"
#include "ss_test_stack.h"

#include "ss/clock.h"
#include "ss/kafka.h"
#include "ss/rank.h"
#include "ss/redis.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 90000
#define POLL_US 50000
#define RANK_TEST_DB 13
#define RANK_TEST_GROUP "ss-rank-worker-test"
#define WORKER_PATH "workers/rank/ss-rank-worker"
/* As ss.events.order, but only this test's: its records are made up. */
#define RANK_TOPIC "ss.test.rank-orders"
#define RANK_TOPIC_PARTITIONS 4
/* Order ids of the barrier and burst orders, which exist only as events. */
#define BARRIER_ORDER_BASE INT64_C(9000000000000000)
#define BURST_ORDER_BASE INT64_C(8000000000000000)
#define ERRSTR_SIZE 512
#define PRODUCTS 5
#define BURST_EVENTS 200

/* What every test shares: this run's products, days and connections. */
static struct {
    char redis_url[700];
    char env_redis[720];
    ss_pg_t *pg;
    ss_redis_t *redis;
    pid_t worker;
    int64_t user_id;
    int64_t products[PRODUCTS]; /* p1..p5 */
    int64_t now_ms;
    int64_t day[7]; /* day[k] = today - k */
    int64_t barriers[PRODUCTS];
    json_t *events; /* the OrderPaid and OrderFailed of every fixture order */
} fixture;

/* ---- helpers ----------------------------------------------------------------------------- */

static const char *worker_environment[] = {fixture.env_redis,        "SS_GROUP_ID=" RANK_TEST_GROUP,
                                           "SS_TOPIC=" RANK_TOPIC,   "SS_LOG_LEVEL=info",
                                           "SS_RANK_BATCH_AT=00:00", NULL};

static void worker_start(void)
{
    fixture.worker = ss_test_process_start(WORKER_PATH, worker_environment);
}

static void worker_stop(int signal_number)
{
    ss_test_process_stop(fixture.worker, signal_number);
    fixture.worker = 0;
}

/* Runs the worker with arguments to its end and returns its exit status. */
static int worker_run_once(const char *argument)
{
    char path[1024], log_path[] = "/tmp/ss-test-ss-rank-worker-once.log";
    snprintf(path, sizeof(path), "%s/%s", ss_test_env("SS_BUILD_DIR", SS_BINARY_DIR), WORKER_PATH);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (size_t i = 0; worker_environment[i] != NULL; i++) {
            putenv((char *)worker_environment[i]);
        }
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(path, path, argument, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    for (int waited = 0; waited < WAIT_MS; waited += POLL_US / 1000) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        usleep(POLL_US);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("%s %s did not finish", path, argument);
    return -1;
}

static redisReply *redis_command(int argc, const char **argv)
{
    char errstr[ERRSTR_SIZE];
    redisReply *reply = NULL;
    if (ss_redis_command_argv(fixture.redis, argc, argv, NULL, &reply, errstr, sizeof(errstr)) !=
        SS_OK) {
        fail_msg("redis %s failed: %s", argv[0], errstr);
    }
    return reply;
}

static int64_t zscore(int64_t day, int64_t product_id)
{
    char key[SS_RANK_KEY_SIZE], member[32], errstr[ERRSTR_SIZE];
    assert_int_equal(ss_rank_sell_key(day, key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
    snprintf(member, sizeof(member), "%" PRId64, product_id);
    const char *argv[] = {"ZSCORE", key, member};
    redisReply *reply = redis_command(3, argv);
    int64_t score = reply->type == REDIS_REPLY_STRING ? strtoll(reply->str, NULL, 10) : 0;
    freeReplyObject(reply);
    return score;
}

static int64_t wait_zscore(int64_t day, int64_t product_id, int64_t expected)
{
    int64_t score = zscore(day, product_id);
    for (int waited = 0; score != expected && waited < WAIT_MS; waited += POLL_US / 1000) {
        usleep(POLL_US);
        score = zscore(day, product_id);
    }
    return score;
}

static void day_keys_delete(int64_t day)
{
    char sell[SS_RANK_KEY_SIZE], seen[SS_RANK_KEY_SIZE], errstr[ERRSTR_SIZE];
    assert_int_equal(ss_rank_sell_key(day, sell, sizeof(sell), errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_rank_seen_key(day, seen, sizeof(seen), errstr, sizeof(errstr)), SS_OK);
    const char *argv[] = {"DEL", sell, seen};
    freeReplyObject(redis_command(3, argv));
}

/* A line of an OrderPaid: product, quantity, at 1000 won each. */
static json_t *paid_line(int64_t product_id, int64_t quantity)
{
    return json_pack("{s:I, s:I, s:I}", "product_id", (json_int_t)product_id, "quantity",
                     (json_int_t)quantity, "unit_price", (json_int_t)1000);
}

/* The OrderPaid of order_id with lines (taken), paid at paid_at_ms. */
static json_t *order_paid(int64_t order_id, json_t *lines, int64_t paid_at_ms)
{
    char event_id[64];
    snprintf(event_id, sizeof(event_id), "order-%" PRId64 "-paid", order_id);
    json_int_t total = 0;
    size_t index;
    json_t *line;
    json_array_foreach(lines, index, line)
    {
        total += json_integer_value(json_object_get(line, "quantity")) * 1000;
    }
    return json_pack("{s:s, s:I, s:I, s:n, s:I, s:I, s:I, s:o, s:I}", "event_id", event_id,
                     "order_id", (json_int_t)order_id, "user_id", (json_int_t)fixture.user_id,
                     "coupon_id", "total_price", total, "discount_price", (json_int_t)0,
                     "paid_amount", total, "lines", lines, "paid_at", (json_int_t)paid_at_ms);
}

static json_t *order_failed(int64_t order_id)
{
    char event_id[64];
    snprintf(event_id, sizeof(event_id), "order-%" PRId64 "-failed", order_id);
    return json_pack("{s:s, s:I, s:I, s:s, s:I}", "event_id", event_id, "order_id",
                     (json_int_t)order_id, "user_id", (json_int_t)fixture.user_id, "reason",
                     "INSUFFICIENT_STOCK", "failed_at", (json_int_t)fixture.now_ms);
}

/*
 * Produces an OrderPaid or OrderFailed keyed by the product of its first line (`key_product`),
 * so that a barrier of that product (same partition) comes after it; the rank worker reads no
 * keys.
 */
static void produce_event(const json_t *event, int64_t key_product)
{
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, key_product);
    bool paid = json_object_get(event, "lines") != NULL;
    ss_test_produce(RANK_TOPIC, key, paid ? "OrderPaid" : "OrderFailed", event);
}

/* A fixture event and the product it is keyed by. */
static void event_add(json_t *event, int64_t key_product)
{
    json_array_append_new(fixture.events,
                          json_pack("{s:o, s:I}", "event", event, "key", (json_int_t)key_product));
}

/*
 * Produces a marker sale of product index i for day[6] and waits until it is counted: every
 * record produced earlier with that product's key (same partition) has then been applied.
 */
static void barrier(size_t i)
{
    fixture.barriers[i]++;
    json_t *lines = json_array();
    json_array_append_new(lines, paid_line(fixture.products[i], 1));
    json_t *event = order_paid(BARRIER_ORDER_BASE + fixture.barriers[i], lines,
                               ss_clock_day_start_ms(fixture.day[6]) + 1000);
    produce_event(event, fixture.products[i]);
    json_decref(event);
    assert_int_equal(wait_zscore(fixture.day[6], fixture.products[i], fixture.barriers[i]),
                     fixture.barriers[i]);
}

static void barriers_all(void)
{
    for (size_t i = 0; i < PRODUCTS; i++) {
        barrier(i);
    }
}

static int64_t pg_scalar_text(const char *sql, const char *a, const char *b)
{
    const char *params[] = {a, b};
    return ss_test_pg_scalar(fixture.pg, sql, b != NULL ? 2 : 1, params);
}

static int64_t product_create(const char *suffix)
{
    char name[128];
    snprintf(name, sizeof(name), "rank-%s-%s", ss_test_run_id(), suffix);
    const char *params[] = {name};
    return ss_test_pg_scalar(fixture.pg,
                             "INSERT INTO products (name, price, stock) VALUES ($1, 1000, 100000)"
                             " RETURNING id",
                             1, params);
}

/* Inserts an order with status and paid_at (ms, or -1 for none) and returns its id. */
static int64_t order_create(const char *status, int64_t paid_at_ms)
{
    char user[32], paid_at[SS_CLOCK_ISO8601_MS_SIZE], errstr[ERRSTR_SIZE];
    snprintf(user, sizeof(user), "%" PRId64, fixture.user_id);
    if (paid_at_ms >= 0) {
        assert_int_equal(ss_clock_format_iso8601_ms(paid_at_ms, paid_at, sizeof(paid_at), errstr,
                                                    sizeof(errstr)),
                         SS_OK);
    }
    const char *params[] = {user, status, paid_at_ms >= 0 ? paid_at : NULL};
    return ss_test_pg_scalar(fixture.pg,
                             "INSERT INTO orders (user_id, status, paid_at, failure_reason)"
                             " VALUES ($1, $2, $3::timestamptz,"
                             " CASE WHEN $2 = 'FAILED' THEN 'INSUFFICIENT_STOCK' END)"
                             " RETURNING id",
                             3, params);
}

/* Adds a line to the order in PostgreSQL, and to lines (its event's) when that is not NULL. */
static void order_line(int64_t order_id, size_t product, int quantity, json_t *lines)
{
    char order[32], product_id[32], amount[16];
    snprintf(order, sizeof(order), "%" PRId64, order_id);
    snprintf(product_id, sizeof(product_id), "%" PRId64, fixture.products[product]);
    snprintf(amount, sizeof(amount), "%d", quantity);
    const char *params[] = {order, product_id, amount};
    ss_test_pg_exec(fixture.pg,
                    "INSERT INTO order_items (order_id, product_id, quantity, unit_price)"
                    " VALUES ($1, $2, $3, 1000)",
                    3, params);
    if (lines != NULL) {
        json_array_append_new(lines, paid_line(fixture.products[product], quantity));
    }
}

/* A paid fixture order with one or two lines (quantity 0: no second line), and its OrderPaid. */
static void paid_order_create(int64_t paid_at_ms, size_t product_a, int quantity_a,
                              size_t product_b, int quantity_b)
{
    int64_t id = order_create("PAID", paid_at_ms);
    json_t *lines = json_array();
    order_line(id, product_a, quantity_a, lines);
    if (quantity_b > 0) {
        order_line(id, product_b, quantity_b, lines);
    }
    event_add(order_paid(id, lines, paid_at_ms), fixture.products[product_a]);
}

/* A failed fixture order of one line, and its OrderFailed. */
static void failed_order_create(size_t product, int quantity)
{
    int64_t id = order_create("FAILED", -1);
    order_line(id, product, quantity, NULL);
    event_add(order_failed(id), fixture.products[product]);
}

/*
 * The fixture orders. Expected sums per day (p1..p3; the failed order never counts):
 *   day[2]: p1 3, p2 1        day[1]: p1 2, p3 6        day[0]: p2 4
 */
static void orders_create(void)
{
    int64_t day2_ms = ss_clock_day_start_ms(fixture.day[2]) + 10 * 3600 * 1000;
    int64_t day1_ms = ss_clock_day_start_ms(fixture.day[1]) + 12 * 3600 * 1000;
    int64_t day1_last_ms = ss_clock_day_start_ms(fixture.day[0]) - 1; /* 23:59:59.999 */
    int64_t day0_ms = fixture.now_ms;

    paid_order_create(day2_ms, 0, 3, 1, 1);
    paid_order_create(day1_ms, 0, 2, 2, 5);
    failed_order_create(0, 100);
    paid_order_create(day1_last_ms, 2, 1, 0, 0);
    paid_order_create(day0_ms, 1, 4, 0, 0);
    /* Another failed order, of p3: nothing of it may show anywhere. */
    failed_order_create(2, 50);
}

static void expect_fixture_scores(void)
{
    assert_int_equal(wait_zscore(fixture.day[2], fixture.products[0], 3), 3);
    assert_int_equal(wait_zscore(fixture.day[2], fixture.products[1], 1), 1);
    assert_int_equal(wait_zscore(fixture.day[1], fixture.products[0], 2), 2);
    assert_int_equal(wait_zscore(fixture.day[1], fixture.products[2], 6), 6);
    assert_int_equal(wait_zscore(fixture.day[0], fixture.products[1], 4), 4);
    /* Nothing else of these products on these days. */
    assert_int_equal(zscore(fixture.day[0], fixture.products[0]), 0);
    assert_int_equal(zscore(fixture.day[2], fixture.products[2]), 0);
    assert_int_equal(zscore(fixture.day[0], fixture.products[2]), 0);
    assert_int_equal(zscore(fixture.day[1], fixture.products[1]), 0);
}

static void events_produce_all(void)
{
    size_t index;
    json_t *entry;
    json_array_foreach(fixture.events, index, entry)
    {
        produce_event(json_object_get(entry, "event"),
                      (int64_t)json_integer_value(json_object_get(entry, "key")));
    }
}

static int setup(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_redis_url_t url;
    assert_int_equal(ss_redis_url_parse(ss_test_redis_url(), &url, errstr, sizeof(errstr)), SS_OK);
    if (url.password[0] != '\0') {
        snprintf(fixture.redis_url, sizeof(fixture.redis_url), "redis://%s:%s@%s:%d/%d",
                 url.username, url.password, url.host, url.port, RANK_TEST_DB);
    } else {
        snprintf(fixture.redis_url, sizeof(fixture.redis_url), "redis://%s:%d/%d", url.host,
                 url.port, RANK_TEST_DB);
    }
    snprintf(fixture.env_redis, sizeof(fixture.env_redis), "REDIS_URL=%s", fixture.redis_url);
    if (ss_redis_connect(fixture.redis_url, 5000, &fixture.redis, errstr, sizeof(errstr)) !=
        SS_OK) {
        fail_msg("could not connect to redis: %s", errstr);
    }
    fixture.pg = ss_test_pg_connect();
    fixture.now_ms = ss_clock_now_ms();
    int64_t today = ss_clock_day_from_ms(fixture.now_ms);
    for (int k = 0; k < 7; k++) {
        fixture.day[k] = today - k;
    }
    fixture.user_id = ss_test_user_create(fixture.pg, "rank");
    static const char *const suffixes[PRODUCTS] = {"p1", "p2", "p3", "p4", "p5"};
    for (size_t i = 0; i < PRODUCTS; i++) {
        fixture.products[i] = product_create(suffixes[i]);
    }
    assert_int_equal(ss_kafka_topic_create(ss_test_kafka_bootstrap(), RANK_TOPIC,
                                           RANK_TOPIC_PARTITIONS, 10000, errstr, sizeof(errstr)),
                     SS_OK);
    fixture.events = json_array();
    orders_create();
    worker_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (fixture.worker > 0) {
        worker_stop(SIGTERM);
    }
    json_decref(fixture.events);
    ss_redis_destroy(fixture.redis);
    ss_pg_destroy(fixture.pg);
    return 0;
}

/* ---- live ranking ------------------------------------------------------------------------ */

static void test_sales_count_per_utc_day_and_failed_orders_never_count(void **state)
{
    (void)state;
    events_produce_all();
    barriers_all();
    expect_fixture_scores();
}

/* Sets the stored offset of every partition of the sales topic to 0. */
static void offsets_reset(void)
{
    char errstr[ERRSTR_SIZE];
    int32_t partitions = 0;
    assert_int_equal(ss_kafka_topic_partition_count(ss_test_kafka_bootstrap(), RANK_TOPIC,
                                                    &partitions, 10000, errstr, sizeof(errstr)),
                     SS_OK);
    for (int32_t p = 0; p < partitions; p++) {
        char key[SS_RANK_KEY_SIZE];
        assert_int_equal(ss_rank_offset_key(p, key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
        const char *argv[] = {"SET", key, "0"};
        freeReplyObject(redis_command(3, argv));
    }
}

/* The Redis-held offsets reach the worker's Kafka group, for lag in Kafka's tools. */
static void test_offsets_are_published_to_the_kafka_group_for_lag_tools(void **state)
{
    (void)state;
    barriers_all(); /* the worker holds its partitions and has applied everything */
    char errstr[ERRSTR_SIZE];
    int32_t partitions = 0;
    assert_int_equal(ss_kafka_topic_partition_count(ss_test_kafka_bootstrap(), RANK_TOPIC,
                                                    &partitions, 10000, errstr, sizeof(errstr)),
                     SS_OK);
    for (int32_t p = 0; p < partitions; p++) {
        int64_t stored = SS_RANK_OFFSET_NONE;
        assert_int_equal(ss_rank_offset_read(fixture.redis, p, &stored, errstr, sizeof(errstr)),
                         SS_OK);
        if (stored <= 0) {
            continue; /* nothing consumed there: nothing to publish */
        }
        int64_t committed = -1;
        for (int i = 0; i < 100 && committed != stored; i++) {
            committed = ss_test_group_committed(RANK_TEST_GROUP, RANK_TOPIC, p);
            if (committed != stored) {
                usleep(100 * 1000);
            }
        }
        assert_int_equal(committed, stored);
    }
}

/*
 * A stored offset ahead of the log's end (the sales topic recreated while Redis kept it) halts
 * the worker at assignment instead of skipping every new sale (issue 10, point 10).
 */
static void test_an_offset_past_the_log_end_halts_the_worker(void **state)
{
    (void)state;
    worker_stop(SIGTERM);
    char key[SS_RANK_KEY_SIZE], errstr[ERRSTR_SIZE];
    assert_int_equal(ss_rank_offset_key(0, key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
    const char *set_argv[] = {"SET", key, "1000000000000"};
    freeReplyObject(redis_command(3, set_argv));
    long from = ss_test_log_size("ss-rank-worker");
    worker_start();
    assert_int_not_equal(ss_test_process_exit_wait(fixture.worker, WAIT_MS), 0);
    fixture.worker = 0;
    assert_true(ss_test_log_contains("ss-rank-worker", from, "is past the log's end"));
    offsets_reset();
    worker_start();
    barriers_all(); /* the replay of each partition has reached its end */
    expect_fixture_scores();
}

static void test_replay_from_offset_zero_adds_nothing(void **state)
{
    (void)state;
    worker_stop(SIGTERM);
    offsets_reset();
    worker_start();
    barriers_all(); /* the replay of each partition has reached its end */
    expect_fixture_scores();
}

/*
 * The stored offsets move under a running worker, as when another member wrote them after a
 * rebalance: its next batch of each partition is fenced, and it re-reads the offset and replays
 * from there, counting nothing twice.
 */
static void test_offset_moved_under_a_running_worker_fences_and_resynchronises(void **state)
{
    (void)state;
    barriers_all(); /* the worker holds its partitions and has applied everything */
    offsets_reset();
    barriers_all();
    expect_fixture_scores();
}

static void test_resent_event_ids_with_new_offsets_add_nothing(void **state)
{
    (void)state;
    events_produce_all(); /* the outbox re-sending after a crash */
    barriers_all();
    expect_fixture_scores();
}

static void test_kill_9_in_mid_stream_counts_every_event_once(void **state)
{
    (void)state;
    int64_t paid_at = fixture.now_ms;
    for (int i = 1; i <= BURST_EVENTS; i++) {
        json_t *lines = json_array();
        json_array_append_new(lines, paid_line(fixture.products[3], 1));
        json_t *event = order_paid(BURST_ORDER_BASE + i, lines, paid_at);
        produce_event(event, fixture.products[3]);
        if (i % 3 == 0) {
            produce_event(event, fixture.products[3]); /* and duplicates on the way */
        }
        json_decref(event);
        if (i == BURST_EVENTS / 2) {
            worker_stop(SIGKILL);
            worker_start();
        }
    }
    barrier(3);
    assert_int_equal(wait_zscore(fixture.day[0], fixture.products[3], BURST_EVENTS), BURST_EVENTS);
}

/* ---- the apply script's guarantees ------------------------------------------------------- */

static void test_stale_offset_is_fenced_and_applies_nothing(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE], event_id[128];
    /* A partition number no consumer uses, so only this test moves its offset. */
    int32_t partition = (int32_t)(100000 + getpid() % 100000);
    snprintf(event_id, sizeof(event_id), "fence-%s", ss_test_run_id());
    int64_t day = fixture.day[5];
    char key[SS_RANK_KEY_SIZE];
    assert_int_equal(ss_rank_offset_key(partition, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_OK);
    const char *del[] = {"DEL", key};
    freeReplyObject(redis_command(2, del));
    ss_rank_sale_t sale = {
        .event_id = event_id, .product_id = fixture.products[4], .quantity = 7, .day = day};
    ss_rank_offset_move_t first = {
        .partition = partition, .expected = SS_RANK_OFFSET_NONE, .next = 10};
    size_t counted = 0;
    assert_int_equal(ss_rank_sales_apply(fixture.redis, &sale, 1, &first, ss_clock_now_ms(),
                                         &counted, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(counted, 1);
    /* A worker that still believes the partition is new: fenced, nothing counted. */
    ss_rank_sale_t other = sale;
    other.event_id = "fence-other";
    assert_int_equal(ss_rank_sales_apply(fixture.redis, &other, 1, &first, ss_clock_now_ms(),
                                         &counted, errstr, sizeof(errstr)),
                     SS_ERR_CONFLICT);
    ss_rank_offset_move_t stale = {.partition = partition, .expected = 4, .next = 12};
    assert_int_equal(ss_rank_sales_apply(fixture.redis, &other, 1, &stale, ss_clock_now_ms(),
                                         &counted, errstr, sizeof(errstr)),
                     SS_ERR_CONFLICT);
    assert_int_equal(zscore(day, fixture.products[4]), 7);
    int64_t stored = 0;
    assert_int_equal(ss_rank_offset_read(fixture.redis, partition, &stored, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(stored, 10);
    /* The owner goes on; the same event id again counts nothing. */
    ss_rank_offset_move_t next = {.partition = partition, .expected = 10, .next = 11};
    assert_int_equal(ss_rank_sales_apply(fixture.redis, &sale, 1, &next, ss_clock_now_ms(),
                                         &counted, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(counted, 0);
    assert_int_equal(zscore(day, fixture.products[4]), 7);
    freeReplyObject(redis_command(2, del));
}

/* The largest call one script takes: SS_RANK_APPLY_SALES_MAX sales over as many days as allowed. */
static void test_a_full_chunk_of_sales_applies_in_one_call(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE], key[SS_RANK_KEY_SIZE];
    static char event_ids[SS_RANK_APPLY_SALES_MAX][64];
    static ss_rank_sale_t sales[SS_RANK_APPLY_SALES_MAX];
    int32_t partition = (int32_t)(200000 + getpid() % 100000);
    int64_t first_day = fixture.day[0] + 7000 + (fixture.now_ms / 1000) % 100000;
    for (int64_t day = first_day; day < first_day + SS_RANK_APPLY_DAYS_MAX; day++) {
        day_keys_delete(day);
    }
    assert_int_equal(ss_rank_offset_key(partition, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_OK);
    const char *del[] = {"DEL", key};
    freeReplyObject(redis_command(2, del));
    for (size_t i = 0; i < SS_RANK_APPLY_SALES_MAX; i++) {
        snprintf(event_ids[i], sizeof(event_ids[i]), "chunk-%s-%zu", ss_test_run_id(), i);
        sales[i] = (ss_rank_sale_t){.event_id = event_ids[i],
                                    .product_id = 1 + (int64_t)(i % 7),
                                    .quantity = SS_RANK_QUANTITY_MAX,
                                    .day = first_day + (int64_t)(i % SS_RANK_APPLY_DAYS_MAX)};
    }
    assert_int_equal(ss_rank_sales_chunk(sales, SS_RANK_APPLY_SALES_MAX), SS_RANK_APPLY_SALES_MAX);
    ss_rank_offset_move_t move = {.partition = partition, .expected = 123456789, .next = 987654321};
    const char *set[] = {"SET", key, "123456789"};
    freeReplyObject(redis_command(3, set));
    size_t counted = 0;
    assert_int_equal(ss_rank_sales_apply(fixture.redis, sales, SS_RANK_APPLY_SALES_MAX, &move,
                                         ss_clock_now_ms(), &counted, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(counted, SS_RANK_APPLY_SALES_MAX);
    int64_t total = 0;
    for (int64_t day = first_day; day < first_day + SS_RANK_APPLY_DAYS_MAX; day++) {
        for (int64_t product = 1; product <= 7; product++) {
            total += zscore(day, product);
        }
        day_keys_delete(day);
    }
    assert_int_equal(total, (int64_t)SS_RANK_APPLY_SALES_MAX * SS_RANK_QUANTITY_MAX);
    int64_t stored = 0;
    assert_int_equal(ss_rank_offset_read(fixture.redis, partition, &stored, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(stored, 987654321);
    freeReplyObject(redis_command(2, del));
}

static void test_key_of_another_type_fails_the_script_before_any_write(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE], sell[SS_RANK_KEY_SIZE];
    /* A day far ahead that nothing else writes. */
    int64_t day = fixture.day[0] + 3000 + getpid() % 1000;
    day_keys_delete(day);
    assert_int_equal(ss_rank_sell_key(day, sell, sizeof(sell), errstr, sizeof(errstr)), SS_OK);
    const char *set[] = {"SET", sell, "not a sorted set", "EX", "600"};
    freeReplyObject(redis_command(5, set));
    ss_rank_sale_t sales[] = {
        {.event_id = "wrongtype-a", .product_id = 1, .quantity = 1, .day = fixture.day[5]},
        {.event_id = "wrongtype-b", .product_id = 1, .quantity = 1, .day = day},
    };
    assert_int_equal(ss_rank_sales_apply(fixture.redis, sales, 2, NULL, ss_clock_now_ms(), NULL,
                                         errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "WRONGTYPE"));
    char seen[SS_RANK_KEY_SIZE];
    assert_int_equal(ss_rank_seen_key(fixture.day[5], seen, sizeof(seen), errstr, sizeof(errstr)),
                     SS_OK);
    const char *ismember[] = {"SISMEMBER", seen, "wrongtype-a"};
    redisReply *reply = redis_command(3, ismember);
    assert_int_equal(reply->integer, 0);
    freeReplyObject(reply);
    day_keys_delete(day);
}

static void test_popular_is_the_top_five_of_the_three_days(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    /* Days far ahead that nothing else writes: the window is exactly what is applied here. */
    int64_t today = fixture.day[0] + 5000 + (fixture.now_ms / 1000) % 100000;
    for (int64_t day = today - 3; day <= today; day++) {
        day_keys_delete(day);
    }
    ss_rank_sale_t sales[] = {
        {"pop-1", 11, 5, today - 2}, {"pop-2", 12, 9, today - 2},  {"pop-3", 11, 5, today - 1},
        {"pop-4", 13, 10, today},    {"pop-5", 14, 1, today},      {"pop-6", 15, 2, today},
        {"pop-7", 16, 3, today},     {"pop-8", 17, 50, today - 3}, /* outside the window */
    };
    assert_int_equal(ss_rank_sales_apply(fixture.redis, sales, 8, NULL, ss_clock_now_ms(), NULL,
                                         errstr, sizeof(errstr)),
                     SS_OK);
    ss_rank_score_t top[SS_RANK_POPULAR_MAX];
    size_t count = 0;
    assert_int_equal(ss_rank_popular_read(fixture.redis, today, top, SS_RANK_POPULAR_MAX, &count,
                                          errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(count, 5);
    const int64_t ids[] = {11, 13, 12, 16, 15};
    const int64_t scores[] = {10, 10, 9, 3, 2};
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(top[i].product_id, ids[i]);
        assert_int_equal(top[i].score, scores[i]);
    }
    for (int64_t day = today - 3; day <= today; day++) {
        day_keys_delete(day);
    }
}

/* ---- the daily batch --------------------------------------------------------------------- */

static int64_t rank_row(int64_t day, int64_t product_id)
{
    char date[SS_CLOCK_DAY_SIZE], product[32], errstr[ERRSTR_SIZE];
    assert_int_equal(
        ss_clock_format_day(ss_clock_day_start_ms(day), date, sizeof(date), errstr, sizeof(errstr)),
        SS_OK);
    snprintf(product, sizeof(product), "%" PRId64, product_id);
    return pg_scalar_text("SELECT coalesce(max(score), -1) FROM product_rank WHERE rank_date = $1"
                          " AND rank_type = 'SELL' AND product_id = $2",
                          date, product);
}

/* Rows of this run's products on date that differ from a direct aggregation of paid lines. */
static int64_t rank_mismatches(const char *date)
{
    char first[32], last[32];
    snprintf(first, sizeof(first), "%" PRId64, fixture.products[0]);
    snprintf(last, sizeof(last), "%" PRId64, fixture.products[PRODUCTS - 1]);
    const char *params[] = {date, first, last};
    return ss_test_pg_scalar(
        fixture.pg,
        "SELECT count(*) FROM ("
        " SELECT oi.product_id, sum(oi.quantity) AS score"
        " FROM orders o JOIN order_items oi ON oi.order_id = o.id"
        " WHERE o.status = 'PAID' AND o.paid_at >= ($1::date)::timestamp AT TIME ZONE 'UTC'"
        " AND o.paid_at < ($1::date + 1)::timestamp AT TIME ZONE 'UTC'"
        " AND oi.product_id BETWEEN $2::bigint AND $3::bigint GROUP BY oi.product_id) a"
        " FULL JOIN (SELECT product_id, score FROM product_rank WHERE rank_date = $1::date"
        " AND rank_type = 'SELL' AND product_id BETWEEN $2::bigint AND $3::bigint) r"
        " USING (product_id) WHERE a.score IS DISTINCT FROM r.score",
        3, params);
}

static void test_batch_for_a_date_twice_gives_the_same_rows_as_a_direct_aggregation(void **state)
{
    (void)state;
    char date[SS_CLOCK_DAY_SIZE], argument[64], errstr[ERRSTR_SIZE];
    assert_int_equal(ss_clock_format_day(ss_clock_day_start_ms(fixture.day[1]), date, sizeof(date),
                                         errstr, sizeof(errstr)),
                     SS_OK);
    snprintf(argument, sizeof(argument), "--batch-date=%s", date);
    for (int run = 0; run < 2; run++) {
        assert_int_equal(worker_run_once(argument), 0);
        assert_int_equal(rank_row(fixture.day[1], fixture.products[0]), 2);
        assert_int_equal(rank_row(fixture.day[1], fixture.products[2]), 6);
        assert_int_equal(rank_row(fixture.day[1], fixture.products[1]), -1); /* no row */
        assert_int_equal(rank_mismatches(date), 0);
        assert_int_equal(pg_scalar_text("SELECT count(*) FROM rank_batch_runs"
                                        " WHERE rank_date = $1::date",
                                        date, NULL),
                         1);
    }
    assert_int_equal(worker_run_once("--batch-date=2026-02-30"), 2);
}

static void test_a_missed_day_is_computed_at_start(void **state)
{
    (void)state;
    char date[SS_CLOCK_DAY_SIZE], first[32], last[32], errstr[ERRSTR_SIZE];
    assert_int_equal(ss_clock_format_day(ss_clock_day_start_ms(fixture.day[2]), date, sizeof(date),
                                         errstr, sizeof(errstr)),
                     SS_OK);
    worker_stop(SIGTERM);
    snprintf(first, sizeof(first), "%" PRId64, fixture.products[0]);
    snprintf(last, sizeof(last), "%" PRId64, fixture.products[PRODUCTS - 1]);
    const char *params[] = {date, first, last};
    ss_test_pg_exec(fixture.pg,
                    "DELETE FROM product_rank WHERE rank_date = $1::date"
                    " AND product_id BETWEEN $2::bigint AND $3::bigint",
                    3, params);
    ss_test_pg_exec(fixture.pg, "DELETE FROM rank_batch_runs WHERE rank_date = $1::date", 1,
                    params);
    worker_start();
    const char *date_param[] = {date};
    assert_int_equal(ss_test_wait_scalar(fixture.pg,
                                         "SELECT count(*) FROM rank_batch_runs"
                                         " WHERE rank_date = $1::date",
                                         1, date_param, 1, WAIT_MS),
                     1);
    assert_int_equal(rank_row(fixture.day[2], fixture.products[0]), 3);
    assert_int_equal(rank_row(fixture.day[2], fixture.products[1]), 1);
    assert_int_equal(rank_mismatches(date), 0);
}

/* ---- rebuild ----------------------------------------------------------------------------- */

static void test_rebuild_recomputes_the_window_from_postgresql(void **state)
{
    (void)state;
    worker_stop(SIGTERM);
    for (int k = 0; k < SS_RANK_WINDOW_DAYS; k++) {
        day_keys_delete(fixture.day[k]);
    }
    assert_int_equal(worker_run_once("--rebuild-redis"), 0);
    expect_fixture_scores();
    /* The events of the rebuilt lines were marked seen: producing them again adds nothing. */
    worker_start();
    events_produce_all();
    barriers_all();
    expect_fixture_scores();
}

static void test_missing_day_keys_are_rebuilt_at_start(void **state)
{
    (void)state;
    worker_stop(SIGTERM);
    day_keys_delete(fixture.day[1]);
    assert_int_equal(zscore(fixture.day[1], fixture.products[2]), 0);
    worker_start();
    expect_fixture_scores();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sales_count_per_utc_day_and_failed_orders_never_count),
        cmocka_unit_test(test_replay_from_offset_zero_adds_nothing),
        cmocka_unit_test(test_an_offset_past_the_log_end_halts_the_worker),
        cmocka_unit_test(test_offsets_are_published_to_the_kafka_group_for_lag_tools),
        cmocka_unit_test(test_offset_moved_under_a_running_worker_fences_and_resynchronises),
        cmocka_unit_test(test_resent_event_ids_with_new_offsets_add_nothing),
        cmocka_unit_test(test_kill_9_in_mid_stream_counts_every_event_once),
        cmocka_unit_test(test_stale_offset_is_fenced_and_applies_nothing),
        cmocka_unit_test(test_a_full_chunk_of_sales_applies_in_one_call),
        cmocka_unit_test(test_key_of_another_type_fails_the_script_before_any_write),
        cmocka_unit_test(test_popular_is_the_top_five_of_the_three_days),
        cmocka_unit_test(test_batch_for_a_date_twice_gives_the_same_rows_as_a_direct_aggregation),
        cmocka_unit_test(test_a_missed_day_is_computed_at_start),
        cmocka_unit_test(test_rebuild_recomputes_the_window_from_postgresql),
        cmocka_unit_test(test_missing_day_keys_are_rebuilt_at_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
