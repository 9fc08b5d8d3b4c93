/*
 * ss-admin against the real stack: topics against topics.tsv (and a declaration that differs),
 * tail of records produced here (decoded and undecodable), dead letters (one set aside by a
 * running user worker, routed to the wrong owner; one produced to ss.dlq as a worker would)
 * listed with their reasons, a replay applied exactly once with its request id and a second one
 * refused, outbox depth and age, lag per partition, and the daily rank batch for a date.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_kafka.h"
#include "ss_test_stack.h"

#include "ss/clock.h"
#include "ss/kafka.h"
#include "ss/topics.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 60000
#define ADMIN_OUTPUT_MAX (256 * 1024)
#define ADMIN_LOG "/tmp/ss-test-ss-admin.log"

static pid_t worker_pid;
static ss_pg_t *pg;
static char output[ADMIN_OUTPUT_MAX];

static int setup(void **state)
{
    (void)state;
    static const char *const environment[] = {"SS_LOG_LEVEL=warn", NULL};
    pg = ss_test_pg_connect();
    worker_pid = ss_test_process_start("workers/user/ss-user-worker", environment);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ss_test_process_stop(worker_pid, SIGTERM);
    ss_pg_destroy(pg);
    return 0;
}

/* Runs `ss-admin <arguments>` (stderr to ADMIN_LOG), stdout into output; returns its status. */
static int admin_run(const char *fmt, ...)
{
    char arguments[2048], command[4096];
    va_list args;
    va_start(args, fmt);
    vsnprintf(arguments, sizeof(arguments), fmt, args);
    va_end(args);
    snprintf(command, sizeof(command), "%s/producers/admin/ss-admin %s 2>>" ADMIN_LOG,
             ss_test_env("SS_BUILD_DIR", SS_BINARY_DIR), arguments);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    size_t length = fread(output, 1, sizeof(output) - 1, pipe);
    output[length] = '\0';
    int status = pclose(pipe);
    assert_true(WIFEXITED(status));
    print_message("$ ss-admin %s -> %d\n%s", arguments, WEXITSTATUS(status), output);
    return WEXITSTATUS(status);
}

/* The line of output containing text, copied into line; false when none. */
static bool output_line(const char *text, char *line, size_t line_size)
{
    const char *found = strstr(output, text);
    if (found == NULL) {
        return false;
    }
    const char *start = found;
    while (start > output && start[-1] != '\n') {
        start--;
    }
    size_t length = strcspn(start, "\n");
    snprintf(line, line_size, "%.*s", (int)(length < line_size ? length : line_size - 1), start);
    return true;
}

static size_t output_lines(void)
{
    size_t count = 0;
    for (const char *c = output; *c != '\0'; c++) {
        count += *c == '\n';
    }
    return count;
}

static json_t *charge_record(const char *request_id, int64_t user_id, int64_t amount)
{
    return json_pack("{s:s, s:i, s:I, s:I, s:I}", "request_id", request_id, "reply_partition", -1,
                     "user_id", (json_int_t)user_id, "amount", (json_int_t)amount, "requested_at",
                     (json_int_t)ss_clock_now_ms());
}

static int64_t scalar_1(const char *sql, const char *param)
{
    const char *params[] = {param};
    return ss_test_pg_scalar(pg, sql, 1, params);
}

static void test_topics_match_the_declarations_and_a_difference_fails(void **state)
{
    (void)state;
    assert_int_equal(admin_run("topics"), 0);
    char line[512];
    assert_true(output_line("ss.cmd.user ", line, sizeof(line)));
    assert_non_null(strstr(line, " 4 ")); /* as schemas/topics.tsv declares it */
    assert_non_null(strstr(line, "ok"));
    assert_true(output_line("ss.dlq ", line, sizeof(line)));
    assert_non_null(strstr(line, "ok"));

    const char *path = "/tmp/ss-test-admin-topics.tsv";
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs("# name\tpartitions\nss.results\t5\t1\tgrown by mistake\nss.cmd.user\t4\t1\tx\n"
          "ss.nowhere\t1\t1\tnever created\n",
          file);
    fclose(file);
    assert_int_equal(admin_run("topics --topics-file %s", path), 1);
    assert_true(output_line("ss.results", line, sizeof(line)));
    assert_non_null(strstr(line, "MISMATCH live"));
    assert_true(output_line("ss.nowhere", line, sizeof(line)));
    assert_non_null(strstr(line, "MISSING"));
    assert_true(output_line("ss.cmd.user", line, sizeof(line)));
    assert_non_null(strstr(line, "ok"));
}

static void test_tail_prints_the_records_decoded_and_the_undecodable_as_such(void **state)
{
    (void)state;
    /* A key no user has: the worker answers these USER_NOT_FOUND and dead-letters the garbage. */
    char key[32], request_a[64], request_b[64];
    snprintf(key, sizeof(key), "%" PRId64, (int64_t)900000000 + (int64_t)(getpid() % 100000));
    snprintf(request_a, sizeof(request_a), "tail-a-%s", ss_test_run_id());
    snprintf(request_b, sizeof(request_b), "tail-b-%s", ss_test_run_id());
    int32_t partition = ss_test_partition_of(SS_TOPIC_CMD_USER, key);
    json_t *a = charge_record(request_a, atoll(key), 10);
    json_t *b = charge_record(request_b, atoll(key), 20);
    ss_test_produce(SS_TOPIC_CMD_USER, key, "ChargeBalance", a);
    ss_test_produce(SS_TOPIC_CMD_USER, key, "ChargeBalance", b);
    ss_test_produce_raw(SS_TOPIC_CMD_USER, key, "\xc3\x01garbage!", 10);
    json_decref(a);
    json_decref(b);

    assert_int_equal(admin_run("tail ss.cmd.user --partition %" PRId32 " --last 3", partition), 0);
    assert_int_equal(output_lines(), 3);
    char line[4096];
    assert_true(output_line(request_a, line, sizeof(line)));
    assert_non_null(strstr(line, "\"schema\":\"ChargeBalance\""));
    assert_non_null(strstr(line, "\"amount\":10"));
    char expected_key[64];
    snprintf(expected_key, sizeof(expected_key), "\"key\":\"%s\"", key);
    assert_non_null(strstr(line, expected_key));
    assert_true(output_line(request_b, line, sizeof(line)));
    assert_true(output_line("\"undecodable\"", line, sizeof(line)));
    assert_non_null(strstr(line, "\"schema\":null"));
    assert_non_null(strstr(line, "\"value_bytes\":10"));

    assert_int_equal(
        admin_run("tail ss.cmd.user --partition=%" PRId32 " --last 3 --count 2", partition), 0);
    assert_int_equal(output_lines(), 2);
    assert_null(strstr(output, "undecodable"));
}

/* The OFFSET column ("0/17") of the dlq list line that mentions text (waited for). */
static int64_t listed_offset(const char *text)
{
    char line[2048];
    /* A worker produces its dead letters from the outbox after its batch commits: wait. */
    bool found = false;
    for (int attempt = 0; attempt < 150 && !found; attempt++) {
        if (attempt > 0) {
            usleep(200 * 1000);
        }
        assert_int_equal(admin_run("dlq list --last 300"), 0);
        found = output_line(text, line, sizeof(line));
    }
    assert_true(found);
    const char *slash = strchr(line, '/');
    assert_non_null(slash);
    return atoll(slash + 1);
}

/*
 * A source offset no earlier run of this test used (dlq replays are remembered per source
 * record, and the dev stack keeps them between runs).
 */
static int64_t source_offset_new(void)
{
    static int64_t taken;
    taken++;
    return (int64_t)time(NULL) * 1000 + taken;
}

/*
 * A ChargeBalance sent to ss.dlq with the headers a worker sets, as if it had been set aside
 * from ss.cmd.user at source_offset.
 */
static void dead_letter_produce(const char *request_id, int64_t user_id, int64_t amount,
                                const char *reason, int64_t source_offset)
{
    json_t *record = charge_record(request_id, user_id, amount);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    char errstr[256], key[32], source[64];
    assert_int_equal(ss_avro_encode(ss_test_registry(), "ChargeBalance", record, &buffer, errstr,
                                    sizeof(errstr)),
                     SS_OK);
    snprintf(key, sizeof(key), "%" PRId64, user_id);
    snprintf(source, sizeof(source), "ss.cmd.user/%" PRId32 "/%" PRId64,
             ss_test_partition_of(SS_TOPIC_CMD_USER, key), source_offset);
    const ss_kafka_header_t headers[] = {
        {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 55},
        {SS_HEADER_DLQ_REASON, reason, strlen(reason)},
        {SS_HEADER_DLQ_SOURCE, source, strlen(source)},
    };
    ss_test_produce_raw_headers(SS_TOPIC_DLQ, key, buffer.data, buffer.length, headers, 3);
    ss_avro_buffer_free(&buffer);
    json_decref(record);
}

/*
 * Another dead letter of request_id's charge, from source_offset (its reason names what): listed
 * with state, and its replay refused with a message holding refusal.
 */
static void another_dead_letter_refused(const char *request_id, int64_t user_id, const char *what,
                                        int64_t source_offset, const char *state,
                                        const char *refusal)
{
    char reason[96], line[2048];
    snprintf(reason, sizeof(reason), "test: %s %s", what, ss_test_run_id());
    dead_letter_produce(request_id, user_id, 700, reason, source_offset);
    int64_t offset = listed_offset(reason);
    assert_true(output_line(reason, line, sizeof(line)));
    assert_non_null(strstr(line, state));
    assert_int_equal(admin_run("dlq replay %" PRId64, offset), 1);
    assert_non_null(strstr(output, refusal));
}

static void test_a_wrongly_routed_command_is_listed_with_its_reason_and_not_replayed(void **state)
{
    (void)state;
    int64_t user_id = ss_test_user_create(pg, "admin-wrong-owner");
    char request_id[64], wrong_key[32], id_text[32];
    snprintf(request_id, sizeof(request_id), "wrong-%s", ss_test_run_id());
    snprintf(wrong_key, sizeof(wrong_key), "%" PRId64, user_id + 1);
    snprintf(id_text, sizeof(id_text), "%" PRId64, user_id);
    json_t *record = charge_record(request_id, user_id, 300);
    ss_test_produce(SS_TOPIC_CMD_USER, wrong_key, "ChargeBalance", record);
    json_decref(record);
    const char *params[] = {request_id};
    assert_int_equal(ss_test_wait_scalar(pg,
                                         "SELECT count(*) FROM request_results WHERE request_id ="
                                         " $1 AND http_status = 500",
                                         1, params, 1, WAIT_MS),
                     1);
    /* The worker's answer is the one dlq replay recognises as "not applied". */
    const char *answer[] = {request_id, SS_DLQ_ANSWER_BODY};
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM request_results WHERE request_id ="
                                       " $1 AND body = $2",
                                       2, answer),
                     1);

    int64_t offset = listed_offset(request_id);
    char line[2048];
    assert_true(output_line(request_id, line, sizeof(line)));
    assert_non_null(strstr(line, "ChargeBalance"));
    assert_non_null(strstr(line, "routed to the wrong owner"));
    assert_non_null(strstr(output, "not replayable"));
    /* The garbage of the tail test, set aside by the worker too, is listed as undecodable. */
    for (int attempt = 0; attempt < 100 && strstr(output, "does not decode") == NULL; attempt++) {
        usleep(200 * 1000);
        assert_int_equal(admin_run("dlq list --last 300"), 0);
    }
    assert_non_null(strstr(output, "does not decode"));

    assert_int_equal(admin_run("dlq replay %" PRId64, offset), 1);
    assert_non_null(strstr(output, "refused"));
    assert_non_null(strstr(output, "wrong owner"));
    assert_int_equal(
        scalar_1("SELECT coalesce(sum(balance), 0) FROM users WHERE id = $1::bigint", id_text), 0);
}

static void test_a_replayed_dead_letter_applies_once_and_a_second_replay_is_refused(void **state)
{
    (void)state;
    int64_t user_id = ss_test_user_create(pg, "admin-replay");
    char request_id[64], id_text[32];
    snprintf(request_id, sizeof(request_id), "replay-%s", ss_test_run_id());
    snprintf(id_text, sizeof(id_text), "%" PRId64, user_id);
    /* As a worker would: the dead letter and its 500 answer. */
    const char *answer[] = {request_id, SS_DLQ_ANSWER_BODY};
    ss_test_pg_exec(pg,
                    "INSERT INTO request_results (request_id, http_status, body) VALUES ($1, 500,"
                    " $2)",
                    2, answer);
    int64_t source_offset = source_offset_new();
    dead_letter_produce(request_id, user_id, 700, "test: set aside by hand", source_offset);
    int64_t offset = listed_offset(request_id);
    char line[2048];
    assert_true(output_line(request_id, line, sizeof(line)));
    assert_non_null(strstr(line, "replayable"));
    assert_non_null(strstr(line, "test: set aside by hand"));

    assert_int_equal(admin_run("dlq replay %" PRId64, offset), 0);
    assert_non_null(strstr(output, "replayed"));
    assert_non_null(strstr(output, request_id));
    const char *id_param[] = {id_text};
    assert_int_equal(ss_test_wait_scalar(pg, "SELECT balance FROM users WHERE id = $1::bigint", 1,
                                         id_param, 700, WAIT_MS),
                     700);
    const char *request_param[] = {request_id};
    assert_int_equal(ss_test_wait_scalar(pg,
                                         "SELECT http_status FROM request_results WHERE"
                                         " request_id = $1",
                                         1, request_param, 200, WAIT_MS),
                     200);

    /* What went back: the original key, headers without ss-dlq-*, the original request id. */
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, user_id);
    assert_int_equal(admin_run("tail ss.cmd.user --partition %" PRId32 " --last 1",
                               ss_test_partition_of(SS_TOPIC_CMD_USER, key)),
                     0);
    assert_non_null(strstr(output, request_id));
    assert_non_null(strstr(output, "\"traceparent\""));
    assert_null(strstr(output, "ss-dlq-"));

    assert_int_equal(admin_run("dlq replay %" PRId64, offset), 1);
    assert_non_null(strstr(output, "already replayed"));
    /* A second dead letter of the same, already answered request is refused as well. */
    another_dead_letter_refused(request_id, user_id, "a copy", source_offset_new(), "answered",
                                "already has its answer (status 200)");
    /*
     * The same dead letter again, as the outbox sends it after a worker is killed between the
     * produce and its row's delete: the same source record, another ss.dlq offset. It is listed
     * as replayed and refused as such, before any answer is looked at.
     */
    another_dead_letter_refused(request_id, user_id, "re-sent", source_offset, "replayed",
                                "already replayed");
    char as_first[64];
    snprintf(as_first, sizeof(as_first), "as dead letter 0/%" PRId64 " ", offset);
    assert_non_null(strstr(output, as_first));
    assert_int_equal(admin_run("dlq list --last 300"), 0);
    char where[32];
    snprintf(where, sizeof(where), "0/%" PRId64 " ", offset);
    assert_true(output_line(where, line, sizeof(line)));
    assert_non_null(strstr(line, "replayed"));

    usleep(2000 * 1000); /* a second application would have landed by now */
    assert_int_equal(scalar_1("SELECT balance FROM users WHERE id = $1::bigint", id_text), 700);
    assert_int_equal(
        scalar_1("SELECT count(*) FROM balance_history WHERE user_id = $1::bigint", id_text), 1);
}

/* The sum of the LAG column over the ss-user-worker lines of the last `lag` output. */
static int64_t user_lag_sum(void)
{
    int64_t sum = 0;
    size_t rows = 0;
    for (const char *line = output; *line != '\0';) {
        char group[64], topic[64], stored[32], end[32], lag[32];
        int partition = 0;
        if (sscanf(line, "%63s %63s %d %31s %31s %31s", group, topic, &partition, stored, end,
                   lag) == 6 &&
            strcmp(group, "ss-user-worker") == 0 && strcmp(topic, SS_TOPIC_CMD_USER) == 0) {
            assert_int_equal(atoll(lag), atoll(end) - atoll(stored));
            sum += atoll(lag);
            rows++;
        }
        line += strcspn(line, "\n");
        line += *line == '\n';
    }
    assert_true(rows > 0);
    return sum;
}

static void test_outbox_and_lag_show_depth_age_and_offsets(void **state)
{
    (void)state;
    char source[96];
    snprintf(source, sizeof(source), "test-admin-%s/ss.cmd.user/0", ss_test_run_id());
    const char *params[] = {source};
    ss_test_pg_exec(pg,
                    "INSERT INTO outbox (source, topic, record_keys, record_values,"
                    " record_headers, created_at) VALUES"
                    " ($1, 'ss.results', '{k}', '{\\\\x00}', '{NULL}',"
                    " now() - interval '5 seconds'),"
                    " ($1, 'ss.results', '{k}', '{\\\\x00}', '{NULL}', now())",
                    1, params);
    assert_int_equal(admin_run("outbox"), 0);
    char line[1024];
    assert_true(output_line(source, line, sizeof(line)));
    int64_t rows = 0, age_ms = 0;
    assert_int_equal(sscanf(line + strlen(source), "%" SCNd64 " %" SCNd64, &rows, &age_ms), 2);
    assert_int_equal(rows, 2);
    assert_true(age_ms >= 5000 && age_ms < 60000);
    ss_test_pg_exec(pg, "DELETE FROM outbox WHERE source = $1", 1, params);

    assert_int_equal(admin_run("lag"), 0);
    assert_true(output_line("ss-user-worker", line, sizeof(line)));
    assert_non_null(strstr(line, "ss.cmd.user"));
    assert_true(output_line("ss-rank-worker", line, sizeof(line)));
    assert_non_null(strstr(line, "ss.events.order"));
    /* Every user partition drains to lag 0 once the worker has applied what was produced. */
    int64_t lag = -1;
    for (int attempt = 0; attempt < 100 && lag != 0; attempt++) {
        if (attempt > 0) {
            usleep(200 * 1000);
        }
        assert_int_equal(admin_run("lag"), 0);
        lag = user_lag_sum();
    }
    assert_int_equal(lag, 0);
}

static void test_rank_batch_recomputes_a_day(void **state)
{
    (void)state;
    int64_t user_id = ss_test_user_create(pg, "admin-rank");
    char user_text[32], name[64];
    snprintf(user_text, sizeof(user_text), "%" PRId64, user_id);
    snprintf(name, sizeof(name), "admin-rank-%s", ss_test_run_id());
    const char *name_param[] = {name};
    int64_t product_id = ss_test_pg_scalar(
        pg, "INSERT INTO products (name, price, stock) VALUES ($1, 1000, 10) RETURNING id", 1,
        name_param);
    const char *order_params[] = {user_text};
    int64_t order_id = ss_test_pg_scalar(
        pg,
        "INSERT INTO orders (user_id, status, paid_at) VALUES ($1::bigint, 'PAID',"
        " '2026-11-20T10:00:00Z') RETURNING id",
        1, order_params);
    char order_text[32], product_text[32];
    snprintf(order_text, sizeof(order_text), "%" PRId64, order_id);
    snprintf(product_text, sizeof(product_text), "%" PRId64, product_id);
    const char *item_params[] = {order_text, product_text};
    ss_test_pg_exec(pg,
                    "INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES"
                    " ($1::bigint, $2::bigint, 4, 1000)",
                    2, item_params);
    assert_int_equal(admin_run("rank-batch 2026-11-20"), 0);
    assert_non_null(strstr(output, "rank-batch 2026-11-20:"));
    assert_int_equal(scalar_1("SELECT coalesce(max(score), -1) FROM product_rank WHERE rank_date ="
                              " '2026-11-20' AND product_id = $1::bigint",
                              product_text),
                     4);
    assert_int_equal(admin_run("rank-batch 2026-02-30"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics_match_the_declarations_and_a_difference_fails),
        cmocka_unit_test(test_tail_prints_the_records_decoded_and_the_undecodable_as_such),
        cmocka_unit_test(test_a_wrongly_routed_command_is_listed_with_its_reason_and_not_replayed),
        cmocka_unit_test(test_a_replayed_dead_letter_applies_once_and_a_second_replay_is_refused),
        cmocka_unit_test(test_outbox_and_lag_show_depth_age_and_offsets),
        cmocka_unit_test(test_rank_batch_recomputes_a_day),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
