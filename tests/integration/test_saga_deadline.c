/*
 * The order saga's deadline (issue 10, point 12) against the real broker and database: a
 * ReserveStock or a StockReserved that is dead-lettered must not leave an order PENDING
 * forever with its money held and its coupon USED.
 *
 * A dead letter is made the way a rolling upgrade makes one: the worker that should read the
 * record runs with a schema folder that lacks the record's schema, so the record does not
 * decode and goes to ss.dlq. Each test checks that dead letter, then either puts a worker with
 * every schema in its place (the user worker's re-ask is answered: PAID, the stock taken once)
 * or leaves the skew (the order fails at the deadline: the balance refunded, nothing held, the
 * coupon UNUSED, every unit of stock back). Last, a stock worker that comes back only after
 * the order failed: its late StockReserved takes nothing for good. Stock plus what the
 * reservations hold always equals the stock the product started with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_kafka.h"
#include "ss_test_stack.h"

#include "ss/clock.h"
#include "ss/topics.h"

#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_MS 90000
#define PARAMS_MAX 4
#define START_STOCK 10
#define START_BALANCE 10000
#define PRICE 1000
#define QUANTITY 3

/* A re-ask every second and enough of them for a worker to be replaced meanwhile. */
static const char *const patient_settings[] = {
    "SS_LOG_LEVEL=warn",          "SS_SAGA_REASK_INTERVAL_MS=1000", "SS_SAGA_REASKS_MAX=60",
    "SS_SAGA_DEADLINE_MS=120000", "SS_SAGA_SCAN_INTERVAL_MS=200",
};
/* Two re-asks a second apart, then the order fails (about 3 s after it was placed). */
static const char *const impatient_settings[] = {
    "SS_LOG_LEVEL=warn",         "SS_SAGA_REASK_INTERVAL_MS=1000", "SS_SAGA_REASKS_MAX=2",
    "SS_SAGA_DEADLINE_MS=60000", "SS_SAGA_SCAN_INTERVAL_MS=200",
};
#define SETTINGS_COUNT 5

/* ---- workers ------------------------------------------------------------------------------ */

/*
 * A schema folder of this run with every schema but the one whose file is missing_file (the
 * schemas are linked, not copied). Returns the folder's path in out.
 */
static void skewed_schemas_make(const char *missing_file, char *out, size_t out_size)
{
    snprintf(out, out_size, "/tmp/ss-test-skew-%s-%s", ss_test_run_id(), missing_file);
    assert_true(mkdir(out, 0700) == 0 || access(out, F_OK) == 0);
    DIR *source = opendir(SS_AVRO_SCHEMA_DIR_DEFAULT);
    assert_non_null(source);
    size_t linked = 0;
    for (struct dirent *entry = readdir(source); entry != NULL; entry = readdir(source)) {
        size_t length = strlen(entry->d_name);
        if (length < 5 || strcmp(entry->d_name + length - 5, ".avsc") != 0 ||
            strcmp(entry->d_name, missing_file) == 0) {
            continue;
        }
        char target[1024], link_path[1024];
        snprintf(target, sizeof(target), "%s/%s", SS_AVRO_SCHEMA_DIR_DEFAULT, entry->d_name);
        snprintf(link_path, sizeof(link_path), "%s/%s", out, entry->d_name);
        unlink(link_path);
        assert_int_equal(symlink(target, link_path), 0);
        linked++;
    }
    closedir(source);
    assert_true(linked > 1);
}

/* Removes a folder skewed_schemas_make() made (its links only). */
static void skewed_schemas_remove(const char *folder)
{
    DIR *dir = opendir(folder);
    assert_non_null(dir);
    for (struct dirent *entry = readdir(dir); entry != NULL; entry = readdir(dir)) {
        if (entry->d_name[0] != '.') {
            char link_path[1024];
            snprintf(link_path, sizeof(link_path), "%s/%s", folder, entry->d_name);
            unlink(link_path);
        }
    }
    closedir(dir);
    rmdir(folder);
}

/* The workers a test started and has not stopped: the teardown stops them even after a failure. */
#define WORKERS_MAX 4
static pid_t running[WORKERS_MAX];

static void worker_stop(pid_t pid)
{
    for (size_t i = 0; i < WORKERS_MAX; i++) {
        if (running[i] == pid) {
            running[i] = 0;
        }
    }
    ss_test_process_stop(pid, SIGTERM);
}

static int workers_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < WORKERS_MAX; i++) {
        if (running[i] > 0) {
            worker_stop(running[i]);
        }
    }
    return 0;
}

/* Starts a worker with the settings, and with the schema folder when schema_dir is not NULL. */
static pid_t worker_start(const char *binary, const char *const *settings, const char *schema_dir)
{
    static char schema_setting[1100];
    const char *environment[SETTINGS_COUNT + 2];
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        environment[i] = settings[i];
    }
    environment[SETTINGS_COUNT] = NULL;
    environment[SETTINGS_COUNT + 1] = NULL;
    if (schema_dir != NULL) {
        snprintf(schema_setting, sizeof(schema_setting), "SS_SCHEMA_DIR=%s", schema_dir);
        environment[SETTINGS_COUNT] = schema_setting;
    }
    pid_t pid = ss_test_process_start(binary, environment);
    size_t slot = 0;
    while (slot < WORKERS_MAX && running[slot] > 0) {
        slot++;
    }
    assert_true(slot < WORKERS_MAX);
    running[slot] = pid;
    return pid;
}

#define USER_WORKER "workers/user/ss-user-worker"
#define STOCK_WORKER "workers/stock/ss-stock-worker"

/* ---- PostgreSQL helpers ------------------------------------------------------------------ */

/* Runs sql with count int64 parameters and returns its scalar. */
static int64_t scalar(ss_pg_t *pg, const char *sql, int count, ...)
{
    char texts[PARAMS_MAX][32];
    const char *params[PARAMS_MAX];
    va_list args;
    va_start(args, count);
    for (int i = 0; i < count && i < PARAMS_MAX; i++) {
        snprintf(texts[i], sizeof(texts[i]), "%" PRId64, va_arg(args, int64_t));
        params[i] = texts[i];
    }
    va_end(args);
    return ss_test_pg_scalar(pg, sql, count, params);
}

static int64_t wait_scalar(ss_pg_t *pg, const char *sql, int64_t param, int64_t expected)
{
    char text[32];
    snprintf(text, sizeof(text), "%" PRId64, param);
    const char *params[] = {text};
    return ss_test_wait_scalar(pg, sql, 1, params, expected, WAIT_MS);
}

/* A buyer with START_BALANCE, a product with START_STOCK, and a 10 % coupon issued to him. */
typedef struct scene {
    int64_t user_id;
    int64_t product_ids[2];
    int64_t user_coupon_id;
    int64_t coupon_id;
    int64_t order_id;
    char request_id[128];
} scene_t;

static int64_t product_create(ss_pg_t *pg)
{
    return scalar(pg,
                  "INSERT INTO products (name, price, stock, sell_status)"
                  " VALUES ('deadline test', $1, $2, 'SELLING') RETURNING id",
                  2, (int64_t)PRICE, (int64_t)START_STOCK);
}

static void scene_make(ss_pg_t *pg, scene_t *scene, const char *name)
{
    memset(scene, 0, sizeof(*scene));
    scene->user_id = ss_test_user_create(pg, "saga deadline");
    scalar(pg, "UPDATE users SET balance = $2 WHERE id = $1 RETURNING balance", 2, scene->user_id,
           (int64_t)START_BALANCE);
    scene->product_ids[0] = product_create(pg);
    scene->product_ids[1] = product_create(pg);
    scene->coupon_id = scalar(pg,
                              "INSERT INTO coupons (name, discount_rate, quantity, issued_count,"
                              " expired_at) VALUES ('deadline test', 0.1, 100, 1,"
                              " now() + interval '1 day') RETURNING id",
                              0);
    scene->user_coupon_id =
        scalar(pg, "INSERT INTO user_coupons (user_id, coupon_id) VALUES ($1, $2) RETURNING id", 2,
               scene->user_id, scene->coupon_id);
    snprintf(scene->request_id, sizeof(scene->request_id), "test-%s-deadline-%s", ss_test_run_id(),
             name);
}

/* PlaceOrder of QUANTITY units of each of the first line_count products, with the coupon. */
static void order_send(const scene_t *scene, size_t line_count)
{
    json_t *lines = json_array();
    for (size_t i = 0; i < line_count; i++) {
        json_array_append_new(lines, json_pack("{s:I, s:I}", "product_id",
                                               (json_int_t)scene->product_ids[i], "quantity",
                                               (json_int_t)QUANTITY));
    }
    json_t *record = json_pack("{s:s, s:i, s:I, s:I, s:o, s:I}", "request_id", scene->request_id,
                               "reply_partition", -1, "user_id", (json_int_t)scene->user_id,
                               "coupon_id", (json_int_t)scene->coupon_id, "lines", lines,
                               "requested_at", (json_int_t)ss_clock_now_ms());
    assert_non_null(record);
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, scene->user_id);
    ss_test_produce(SS_TOPIC_CMD_USER, key, "PlaceOrder", record);
    json_decref(record);
}

/* Waits until the PlaceOrder made its PENDING (or already decided) order; returns its id. */
static int64_t order_wait(ss_pg_t *pg, const scene_t *scene)
{
    const char *params[] = {scene->request_id};
    assert_int_equal(ss_test_wait_scalar(pg, "SELECT count(*) FROM orders WHERE request_id = $1", 1,
                                         params, 1, WAIT_MS),
                     1);
    return ss_test_pg_scalar(pg, "SELECT id FROM orders WHERE request_id = $1", 1, params);
}

static int64_t order_status_wait(ss_pg_t *pg, int64_t order_id, const char *status)
{
    char id[32];
    snprintf(id, sizeof(id), "%" PRId64, order_id);
    const char *params[] = {id, status};
    return ss_test_wait_scalar(pg, "SELECT count(*) FROM orders WHERE id = $1 AND status = $2", 2,
                               params, 1, WAIT_MS);
}

/* What the buyer's PENDING orders hold (the saga's "held"), as users.held keeps it. */
static int64_t held_of(ss_pg_t *pg, int64_t user_id)
{
    int64_t held = scalar(pg, "SELECT held FROM users WHERE id = $1", 1, user_id);
    assert_int_equal(held, scalar(pg,
                                  "SELECT coalesce(sum(paid_amount), 0)::bigint FROM orders"
                                  " WHERE user_id = $1 AND status = 'PENDING'",
                                  1, user_id));
    return held;
}

/* Stock plus the units its reservations hold: what the product started with, always. */
static int64_t stock_and_reserved(ss_pg_t *pg, int64_t product_id)
{
    return scalar(pg,
                  "SELECT p.stock + coalesce((SELECT sum(quantity) FROM stock_reservations r"
                  " WHERE r.product_id = p.id AND r.status = 'RESERVED'), 0) FROM products p"
                  " WHERE p.id = $1",
                  1, product_id);
}

static int64_t result_status(ss_pg_t *pg, const char *request_id)
{
    const char *params[] = {request_id};
    assert_int_equal(ss_test_wait_scalar(pg,
                                         "SELECT count(*) FROM request_results WHERE"
                                         " request_id = $1",
                                         1, params, 1, WAIT_MS),
                     1);
    return ss_test_pg_scalar(pg, "SELECT http_status FROM request_results WHERE request_id = $1", 1,
                             params);
}

/* ---- dead letters ------------------------------------------------------------------------ */

typedef struct dead_wanted {
    const char *source_topic;
    char key[32];
} dead_wanted_t;

static bool dead_keep(void *opaque, const ss_kafka_message_t *message)
{
    const dead_wanted_t *wanted = opaque;
    char source[256];
    ss_test_header(message, SS_HEADER_DLQ_SOURCE, source, sizeof(source));
    size_t prefix = strlen(wanted->source_topic);
    return strncmp(source, wanted->source_topic, prefix) == 0 && source[prefix] == '/' &&
           message->key_length == strlen(wanted->key) &&
           memcmp(message->key, wanted->key, message->key_length) == 0;
}

/* Waits for a dead letter from source_topic with key (an entity id). */
static void dead_letter_wait(const char *source_topic, int64_t key)
{
    dead_wanted_t wanted = {.source_topic = source_topic};
    snprintf(wanted.key, sizeof(wanted.key), "%" PRId64, key);
    assert_true(ss_test_topic_read(SS_TOPIC_DLQ, 0, dead_keep, &wanted, 1, 0, WAIT_MS) >= 1);
}

typedef struct reply_wanted {
    const char *schema_name;
    int64_t order_id;
    int64_t offset; /* of the StockRejected found, -1: none yet */
} reply_wanted_t;

static bool reply_keep(void *opaque, const ss_kafka_message_t *message)
{
    reply_wanted_t *wanted = opaque;
    const char *schema_name = NULL;
    json_t *value = NULL;
    char errstr[256];
    bool kept = ss_avro_decode(ss_test_registry(), message->value, message->value_length,
                               &schema_name, &value, errstr, sizeof(errstr)) == SS_OK &&
                strcmp(schema_name, wanted->schema_name) == 0 &&
                json_integer_value(json_object_get(value, "order_id")) == wanted->order_id;
    json_decref(value);
    if (kept) {
        wanted->offset = message->offset;
    }
    return kept;
}

/* The buyer's partition of ss.cmd.user. */
static int32_t user_partition(const scene_t *scene)
{
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, scene->user_id);
    return ss_test_partition_of(SS_TOPIC_CMD_USER, key);
}

/* Waits for the stock replies (schema_name) about the scene's order; returns the last offset. */
static int64_t reply_wait(const scene_t *scene, const char *schema_name)
{
    reply_wanted_t wanted = {.schema_name = schema_name, .order_id = scene->order_id, .offset = -1};
    /* A re-asked line has several; 2 s more lets the later ones be seen too. */
    assert_true(ss_test_topic_read(SS_TOPIC_CMD_USER, user_partition(scene), reply_keep, &wanted, 1,
                                   2000, WAIT_MS) >= 1);
    return wanted.offset;
}

/* Waits until the user worker's stored offset of the buyer's partition is past offset. */
static void reply_applied_wait(ss_pg_t *pg, const scene_t *scene, int64_t offset)
{
    char partition[16], after[32];
    snprintf(partition, sizeof(partition), "%" PRId32, user_partition(scene));
    snprintf(after, sizeof(after), "%" PRId64, offset);
    const char *params[] = {partition, after};
    assert_int_equal(ss_test_wait_scalar(pg,
                                         "SELECT count(*) FROM partition_state WHERE"
                                         " consumer_group = 'ss-user-worker' AND topic ="
                                         " 'ss.cmd.user' AND partition = $1 AND next_offset > $2",
                                         2, params, 1, WAIT_MS),
                     1);
}

/* ---- outcomes ---------------------------------------------------------------------------- */

/* PAID: charged once, nothing held, the coupon USED, QUANTITY units taken once. */
static void paid_check(ss_pg_t *pg, const scene_t *scene)
{
    assert_int_equal(order_status_wait(pg, scene->order_id, "PAID"), 1);
    assert_int_equal(result_status(pg, scene->request_id), 200);
    int64_t paid = PRICE * QUANTITY - PRICE * QUANTITY / 10;
    assert_int_equal(scalar(pg, "SELECT balance FROM users WHERE id = $1", 1, scene->user_id),
                     START_BALANCE - paid);
    assert_int_equal(held_of(pg, scene->user_id), 0);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM user_coupons WHERE id = $1 AND status = 'USED'",
                            1, scene->user_coupon_id),
                     1);
    assert_int_equal(
        scalar(pg, "SELECT stock FROM products WHERE id = $1", 1, scene->product_ids[0]),
        START_STOCK - QUANTITY);
    assert_int_equal(stock_and_reserved(pg, scene->product_ids[0]), START_STOCK);
    assert_true(scalar(pg, "SELECT stock_reasks FROM orders WHERE id = $1", 1, scene->order_id) >=
                1);
}

/* FAILED at the deadline: refunded, nothing held, the coupon UNUSED, every unit back. */
static void failed_check(ss_pg_t *pg, const scene_t *scene, size_t line_count)
{
    assert_int_equal(order_status_wait(pg, scene->order_id, "FAILED"), 1);
    assert_int_equal(result_status(pg, scene->request_id), 503);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM orders WHERE id = $1 AND failure_reason ="
                            " 'UNAVAILABLE' AND stock_reasks = 2",
                            1, scene->order_id),
                     1);
    assert_int_equal(scalar(pg, "SELECT balance FROM users WHERE id = $1", 1, scene->user_id),
                     START_BALANCE);
    assert_int_equal(held_of(pg, scene->user_id), 0);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM balance_history WHERE user_id = $1 AND"
                            " type = 'REFUND'",
                            1, scene->user_id),
                     1);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM user_coupons WHERE id = $1 AND status ="
                            " 'UNUSED' AND used_at IS NULL",
                            1, scene->user_coupon_id),
                     1);
    for (size_t i = 0; i < line_count; i++) {
        /* Every line is released: the stock worker holds a RELEASED row for it. */
        assert_int_equal(wait_scalar(pg,
                                     "SELECT count(*) FROM stock_reservations WHERE product_id = $1"
                                     " AND status = 'RELEASED'",
                                     scene->product_ids[i], 1),
                         1);
        assert_int_equal(
            scalar(pg, "SELECT stock FROM products WHERE id = $1", 1, scene->product_ids[i]),
            START_STOCK);
        assert_int_equal(stock_and_reserved(pg, scene->product_ids[i]), START_STOCK);
    }
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM order_items WHERE order_id = $1 AND"
                            " reservation = 'RELEASED'",
                            1, scene->order_id),
                     (int64_t)line_count);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_a_dead_lettered_reserve_stock_is_asked_again_and_the_order_is_paid(void **state)
{
    (void)state;
    char skew[512];
    skewed_schemas_make("reserve_stock.avsc", skew, sizeof(skew));
    pid_t user = worker_start(USER_WORKER, patient_settings, NULL);
    pid_t stock = worker_start(STOCK_WORKER, patient_settings, skew);
    ss_pg_t *pg = ss_test_pg_connect();
    scene_t scene;
    scene_make(pg, &scene, "reserve-dead");
    order_send(&scene, 1);
    scene.order_id = order_wait(pg, &scene);
    dead_letter_wait(SS_TOPIC_CMD_STOCK, scene.product_ids[0]);
    assert_int_equal(scalar(pg, "SELECT count(*) FROM orders WHERE id = $1 AND status = 'PENDING'",
                            1, scene.order_id),
                     1);
    assert_int_equal(held_of(pg, scene.user_id), PRICE * QUANTITY - PRICE * QUANTITY / 10);

    /* The upgrade completes: a stock worker that knows ReserveStock answers the next re-ask. */
    worker_stop(stock);
    stock = worker_start(STOCK_WORKER, patient_settings, NULL);
    paid_check(pg, &scene);

    worker_stop(stock);
    worker_stop(user);
    ss_pg_destroy(pg);
    skewed_schemas_remove(skew);
}

static void test_a_reserve_stock_never_answered_fails_the_order_and_gives_all_back(void **state)
{
    (void)state;
    char skew[512];
    skewed_schemas_make("reserve_stock.avsc", skew, sizeof(skew));
    pid_t user = worker_start(USER_WORKER, impatient_settings, NULL);
    pid_t stock = worker_start(STOCK_WORKER, impatient_settings, skew);
    ss_pg_t *pg = ss_test_pg_connect();
    scene_t scene;
    scene_make(pg, &scene, "reserve-never");
    order_send(&scene, 1);
    scene.order_id = order_wait(pg, &scene);
    failed_check(pg, &scene, 1);
    dead_letter_wait(SS_TOPIC_CMD_STOCK, scene.product_ids[0]);

    /*
     * A ReserveStock that turns up late (say, replayed from the dead-letter topic once the
     * upgrade is done) meets the release and takes nothing.
     */
    worker_stop(stock);
    stock = worker_start(STOCK_WORKER, impatient_settings, NULL);
    json_t *late =
        json_pack("{s:s, s:I, s:I, s:I, s:I}", "event_id", "late-reserve", "order_id",
                  (json_int_t)scene.order_id, "user_id", (json_int_t)scene.user_id, "product_id",
                  (json_int_t)scene.product_ids[0], "quantity", (json_int_t)QUANTITY);
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, scene.product_ids[0]);
    ss_test_produce(SS_TOPIC_CMD_STOCK, key, "ReserveStock", late);
    json_decref(late);
    /* Its answer, StockRejected, reaches the user worker, which changes nothing either. */
    int64_t reply_offset = reply_wait(&scene, "StockRejected");
    reply_applied_wait(pg, &scene, reply_offset);
    failed_check(pg, &scene, 1);

    worker_stop(stock);
    worker_stop(user);
    ss_pg_destroy(pg);
    skewed_schemas_remove(skew);
}

static void test_a_dead_lettered_stock_reserved_is_asked_again_and_the_order_is_paid(void **state)
{
    (void)state;
    char skew[512];
    skewed_schemas_make("stock_reserved.avsc", skew, sizeof(skew));
    pid_t user = worker_start(USER_WORKER, patient_settings, skew);
    pid_t stock = worker_start(STOCK_WORKER, patient_settings, NULL);
    ss_pg_t *pg = ss_test_pg_connect();
    scene_t scene;
    scene_make(pg, &scene, "reserved-dead");
    order_send(&scene, 1);
    scene.order_id = order_wait(pg, &scene);
    dead_letter_wait(SS_TOPIC_CMD_USER, scene.user_id);
    assert_int_equal(wait_scalar(pg,
                                 "SELECT count(*) FROM stock_reservations WHERE product_id = $1"
                                 " AND status = 'RESERVED'",
                                 scene.product_ids[0], 1),
                     1);
    assert_int_equal(scalar(pg, "SELECT count(*) FROM orders WHERE id = $1 AND status = 'PENDING'",
                            1, scene.order_id),
                     1);

    /* A user worker that knows StockReserved re-asks; the stock worker answers the same. */
    worker_stop(user);
    user = worker_start(USER_WORKER, patient_settings, NULL);
    paid_check(pg, &scene);

    worker_stop(stock);
    worker_stop(user);
    ss_pg_destroy(pg);
    skewed_schemas_remove(skew);
}

static void
test_a_stock_reserved_never_received_fails_the_order_and_releases_the_stock(void **state)
{
    (void)state;
    char skew[512];
    skewed_schemas_make("stock_reserved.avsc", skew, sizeof(skew));
    pid_t user = worker_start(USER_WORKER, impatient_settings, skew);
    pid_t stock = worker_start(STOCK_WORKER, impatient_settings, NULL);
    ss_pg_t *pg = ss_test_pg_connect();
    scene_t scene;
    scene_make(pg, &scene, "reserved-never");
    /* Two lines: both reserved at the stock worker, neither reply heard: both given back. */
    order_send(&scene, 2);
    scene.order_id = order_wait(pg, &scene);
    dead_letter_wait(SS_TOPIC_CMD_USER, scene.user_id);
    failed_check(pg, &scene, 2);

    worker_stop(stock);
    worker_stop(user);
    ss_pg_destroy(pg);
    skewed_schemas_remove(skew);
}

static void test_stock_reserved_after_the_deadline_takes_nothing_for_good(void **state)
{
    (void)state;
    /* No stock worker until the order has failed: its ReserveStock waits in Kafka. */
    pid_t user = worker_start(USER_WORKER, impatient_settings, NULL);
    ss_pg_t *pg = ss_test_pg_connect();
    scene_t scene;
    scene_make(pg, &scene, "reserved-late");
    order_send(&scene, 1);
    scene.order_id = order_wait(pg, &scene);
    assert_int_equal(order_status_wait(pg, scene.order_id, "FAILED"), 1);

    /*
     * The stock worker comes back: it reserves for the first ReserveStock, answers the re-asks
     * the same, then applies the deadline's ReleaseStock. Its late StockReserved replies
     * change nothing at the user worker, and every unit is back.
     */
    pid_t stock = worker_start(STOCK_WORKER, impatient_settings, NULL);
    assert_int_equal(wait_scalar(pg,
                                 "SELECT count(*) FROM stock_reservations WHERE product_id = $1"
                                 " AND status = 'RELEASED' AND quantity > 0",
                                 scene.product_ids[0], 1),
                     1);
    reply_applied_wait(pg, &scene, reply_wait(&scene, "StockReserved"));
    failed_check(pg, &scene, 1);

    worker_stop(stock);
    worker_stop(user);
    ss_pg_destroy(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            test_a_dead_lettered_reserve_stock_is_asked_again_and_the_order_is_paid,
            workers_teardown),
        cmocka_unit_test_teardown(
            test_a_reserve_stock_never_answered_fails_the_order_and_gives_all_back,
            workers_teardown),
        cmocka_unit_test_teardown(
            test_a_dead_lettered_stock_reserved_is_asked_again_and_the_order_is_paid,
            workers_teardown),
        cmocka_unit_test_teardown(
            test_a_stock_reserved_never_received_fails_the_order_and_releases_the_stock,
            workers_teardown),
        cmocka_unit_test_teardown(test_stock_reserved_after_the_deadline_takes_nothing_for_good,
                                  workers_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
