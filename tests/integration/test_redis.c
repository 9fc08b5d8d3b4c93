/*
 * Integration tests for lib/src/redis.c against the real Redis at $REDIS_URL: commands and
 * error replies, pipelines of 100 commands, MULTI/EXEC all-or-nothing (queueing errors, WATCH
 * conflicts), reconnecting after CLIENT KILL of our own connection (with the database selected
 * again) and after a command timeout. Keys carry a per-run prefix and expire, so runs never see
 * each other's data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ERRSTR_SIZE 512
#define TIMEOUT_MS 5000

static const char *redis_url(void)
{
    const char *url = getenv("REDIS_URL");
    if (url == NULL || url[0] == '\0') {
        fail_msg("REDIS_URL is not set: run eval \"$(scripts/stack.sh env)\" first");
    }
    return url;
}

static ss_redis_t *connect_url_or_fail(const char *url, int timeout_ms)
{
    ss_redis_t *redis = NULL;
    char errstr[ERRSTR_SIZE];
    if (ss_redis_connect(url, timeout_ms, &redis, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("connect: %s", errstr);
    }
    return redis;
}

static ss_redis_t *connect_or_fail(void)
{
    return connect_url_or_fail(redis_url(), TIMEOUT_MS);
}

/* "it:redis:<pid>:<time>:<suffix>", unique per run. */
static void make_key(char *key, size_t key_size, const char *suffix)
{
    snprintf(key, key_size, "it:redis:%d:%ld:%s", (int)getpid(), (long)time(NULL), suffix);
}

/* Runs a command of NUL-terminated words and returns its reply (caller frees). */
static redisReply *command_or_fail(ss_redis_t *redis, int argc, const char **argv)
{
    char errstr[ERRSTR_SIZE];
    redisReply *reply = NULL;
    if (ss_redis_command_argv(redis, argc, argv, NULL, &reply, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("%s: %s", argv[0], errstr);
    }
    return reply;
}

static void expire_soon(ss_redis_t *redis, const char *key)
{
    const char *argv[] = {"EXPIRE", key, "300"};
    freeReplyObject(command_or_fail(redis, 3, argv));
}

/* GET key as a string; "" when missing. */
static void get_or_fail(ss_redis_t *redis, const char *key, char *value, size_t value_size)
{
    const char *argv[] = {"GET", key};
    redisReply *reply = command_or_fail(redis, 2, argv);
    if (reply->type == REDIS_REPLY_NIL) {
        value[0] = '\0';
    } else {
        assert_int_equal(reply->type, REDIS_REPLY_STRING);
        snprintf(value, value_size, "%.*s", (int)reply->len, reply->str);
    }
    freeReplyObject(reply);
}

static long long client_id(ss_redis_t *redis)
{
    const char *argv[] = {"CLIENT", "ID"};
    redisReply *reply = command_or_fail(redis, 2, argv);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    long long id = reply->integer;
    freeReplyObject(reply);
    return id;
}

/* ---- commands ---------------------------------------------------------------------------- */

static void test_ping_set_and_get_round_trip_binary_values(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char key[128];
    ss_redis_t *redis = connect_or_fail();
    assert_int_equal(ss_redis_ping(redis, errstr, sizeof(errstr)), SS_OK);
    assert_false(ss_redis_is_broken(redis));

    make_key(key, sizeof(key), "binary");
    static const char value[] = {'a', '\0', 'b', '\r', '\n', 'c'};
    const char *set_argv[] = {"SET", key, value, "EX", "300"};
    size_t set_argvlen[] = {3, strlen(key), sizeof(value), 2, 3};
    redisReply *reply = NULL;
    assert_int_equal(
        ss_redis_command_argv(redis, 5, set_argv, set_argvlen, &reply, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(reply->type, REDIS_REPLY_STATUS);
    assert_string_equal(reply->str, "OK");
    freeReplyObject(reply);

    const char *get_argv[] = {"GET", key};
    reply = command_or_fail(redis, 2, get_argv);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_int_equal(reply->len, sizeof(value));
    assert_memory_equal(reply->str, value, sizeof(value));
    freeReplyObject(reply);
    ss_redis_destroy(redis);
}

static void test_error_reply_is_invalid_with_its_text_and_keeps_the_connection(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char key[128];
    ss_redis_t *redis = connect_or_fail();
    make_key(key, sizeof(key), "not-a-number");
    const char *set_argv[] = {"SET", key, "abc", "EX", "300"};
    freeReplyObject(command_or_fail(redis, 5, set_argv));

    const char *incr_argv[] = {"INCR", key};
    redisReply *reply = (redisReply *)&errstr; /* must be overwritten with NULL */
    assert_int_equal(
        ss_redis_command_argv(redis, 2, incr_argv, NULL, &reply, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_null(reply);
    assert_non_null(strstr(errstr, "INCR"));
    assert_non_null(strstr(errstr, "not an integer"));
    assert_false(ss_redis_is_broken(redis));

    const char *unknown_argv[] = {"NOSUCHCOMMAND"};
    assert_int_equal(
        ss_redis_command_argv(redis, 1, unknown_argv, NULL, NULL, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_int_equal(ss_redis_ping(redis, errstr, sizeof(errstr)), SS_OK);
    ss_redis_destroy(redis);
}

/* ---- pipelining -------------------------------------------------------------------------- */

static void test_pipeline_of_100_commands_returns_every_reply_in_order(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char key[128];
    ss_redis_t *redis = connect_or_fail();
    make_key(key, sizeof(key), "counter");
    const char *incr_argv[] = {"INCR", key};
    for (int i = 0; i < 100; i++) {
        assert_int_equal(
            ss_redis_pipeline_append_argv(redis, 2, incr_argv, NULL, errstr, sizeof(errstr)),
            SS_OK);
    }
    assert_int_equal(ss_redis_pipeline_pending(redis), 100);
    /* Nothing is sent before collect. */
    ss_redis_t *observer = connect_or_fail();
    char value[64];
    get_or_fail(observer, key, value, sizeof(value));
    assert_string_equal(value, "");

    redisReply *replies[100];
    assert_int_equal(ss_redis_pipeline_collect(redis, replies, 100, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_redis_pipeline_pending(redis), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(replies[i]->type, REDIS_REPLY_INTEGER);
        assert_int_equal(replies[i]->integer, i + 1);
        freeReplyObject(replies[i]);
    }
    expire_soon(redis, key);
    get_or_fail(observer, key, value, sizeof(value));
    assert_string_equal(value, "100");

    /* A single command is refused while a pipeline is pending. */
    assert_int_equal(
        ss_redis_pipeline_append_argv(redis, 2, incr_argv, NULL, errstr, sizeof(errstr)), SS_OK);
    const char *ping_argv[] = {"PING"};
    assert_int_equal(ss_redis_command_argv(redis, 1, ping_argv, NULL, NULL, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_redis_pipeline_collect(redis, NULL, 0, errstr, sizeof(errstr)), SS_OK);
    get_or_fail(observer, key, value, sizeof(value));
    assert_string_equal(value, "101");
    ss_redis_destroy(observer);
    ss_redis_destroy(redis);
}

static void test_pipeline_error_reply_is_reported_and_all_replies_freed(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char key[128];
    ss_redis_t *redis = connect_or_fail();
    make_key(key, sizeof(key), "pipeline-error");
    const char *set_argv[] = {"SET", key, "text", "EX", "300"};
    const char *incr_argv[] = {"INCR", key};
    const char *get_argv[] = {"GET", key};
    assert_int_equal(
        ss_redis_pipeline_append_argv(redis, 5, set_argv, NULL, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(
        ss_redis_pipeline_append_argv(redis, 2, incr_argv, NULL, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(
        ss_redis_pipeline_append_argv(redis, 2, get_argv, NULL, errstr, sizeof(errstr)), SS_OK);
    redisReply *replies[3];
    assert_int_equal(ss_redis_pipeline_collect(redis, replies, 3, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "pipeline command 1"));
    for (int i = 0; i < 3; i++) {
        assert_null(replies[i]);
    }
    /* The replies were all read: the connection is in step. */
    assert_false(ss_redis_is_broken(redis));
    char value[64];
    get_or_fail(redis, key, value, sizeof(value));
    assert_string_equal(value, "text");
    ss_redis_destroy(redis);
}

static void test_pipeline_with_wrong_reply_count_sends_nothing(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char key[128];
    ss_redis_t *redis = connect_or_fail();
    make_key(key, sizeof(key), "pipeline-count");
    const char *set_argv[] = {"SET", key, "1", "EX", "300"};
    assert_int_equal(
        ss_redis_pipeline_append_argv(redis, 5, set_argv, NULL, errstr, sizeof(errstr)), SS_OK);
    redisReply *replies[2];
    assert_int_equal(ss_redis_pipeline_collect(redis, replies, 2, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "2 reply slots for 1 commands"));
    /* The next call reconnects and the SET never ran. */
    char value[64];
    get_or_fail(redis, key, value, sizeof(value));
    assert_string_equal(value, "");
    ss_redis_destroy(redis);
}

/* ---- MULTI/EXEC -------------------------------------------------------------------------- */

static void test_transaction_applies_scores_and_offset_together(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char scores[128];
    char offset[128];
    ss_redis_t *redis = connect_or_fail();
    make_key(scores, sizeof(scores), "rank");
    make_key(offset, sizeof(offset), "rank-offset");

    const char *zincr_a[] = {"ZINCRBY", scores, "3", "product:1"};
    const char *zincr_b[] = {"ZINCRBY", scores, "5", "product:2"};
    const char *expire[] = {"EXPIRE", scores, "300"};
    const char *set_offset[] = {"SET", offset, "42", "EX", "300"};
    ss_redis_command_t commands[] = {
        {.argc = 4, .argv = zincr_a, .argvlen = NULL},
        {.argc = 4, .argv = zincr_b, .argvlen = NULL},
        {.argc = 3, .argv = expire, .argvlen = NULL},
        {.argc = 5, .argv = set_offset, .argvlen = NULL},
    };
    redisReply *exec_reply = NULL;
    assert_int_equal(ss_redis_transaction(redis, commands, 4, &exec_reply, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(exec_reply->type, REDIS_REPLY_ARRAY);
    assert_int_equal(exec_reply->elements, 4);
    assert_int_equal(exec_reply->element[0]->type, REDIS_REPLY_STRING);
    assert_string_equal(exec_reply->element[0]->str, "3");
    assert_string_equal(exec_reply->element[1]->str, "5");
    assert_int_equal(exec_reply->element[2]->integer, 1);
    assert_string_equal(exec_reply->element[3]->str, "OK");
    freeReplyObject(exec_reply);

    char value[64];
    get_or_fail(redis, offset, value, sizeof(value));
    assert_string_equal(value, "42");
    const char *zscore[] = {"ZSCORE", scores, "product:2"};
    redisReply *reply = command_or_fail(redis, 3, zscore);
    assert_string_equal(reply->str, "5");
    freeReplyObject(reply);
    ss_redis_destroy(redis);
}

static void test_transaction_with_a_refused_command_applies_nothing(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char key[128];
    ss_redis_t *redis = connect_or_fail();
    make_key(key, sizeof(key), "atomic");
    const char *set_first[] = {"SET", key, "before", "EX", "300"};
    freeReplyObject(command_or_fail(redis, 5, set_first));

    const char *set_after[] = {"SET", key, "after", "EX", "300"};
    const char *wrong_arity[] = {"ZINCRBY", key};
    ss_redis_command_t commands[] = {
        {.argc = 5, .argv = set_after, .argvlen = NULL},
        {.argc = 2, .argv = wrong_arity, .argvlen = NULL},
    };
    redisReply *exec_reply = (redisReply *)&errstr; /* must be overwritten with NULL */
    assert_int_equal(ss_redis_transaction(redis, commands, 2, &exec_reply, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_null(exec_reply);
    assert_non_null(strstr(errstr, "command 1 (ZINCRBY)"));
    assert_non_null(strstr(errstr, "nothing applied"));
    assert_false(ss_redis_is_broken(redis));

    char value[64];
    get_or_fail(redis, key, value, sizeof(value));
    assert_string_equal(value, "before");
    ss_redis_destroy(redis);
}

static void test_transaction_after_a_watched_key_changed_is_a_conflict(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char key[128];
    char offset[128];
    ss_redis_t *redis = connect_or_fail();
    ss_redis_t *other = connect_or_fail();
    make_key(key, sizeof(key), "watched");
    make_key(offset, sizeof(offset), "watched-offset");

    const char *watch[] = {"WATCH", offset};
    freeReplyObject(command_or_fail(redis, 2, watch));
    const char *steal[] = {"SET", offset, "7", "EX", "300"};
    freeReplyObject(command_or_fail(other, 5, steal));

    const char *set_key[] = {"SET", key, "mine", "EX", "300"};
    const char *set_offset[] = {"SET", offset, "8", "EX", "300"};
    ss_redis_command_t commands[] = {
        {.argc = 5, .argv = set_key, .argvlen = NULL},
        {.argc = 5, .argv = set_offset, .argvlen = NULL},
    };
    assert_int_equal(ss_redis_transaction(redis, commands, 2, NULL, errstr, sizeof(errstr)),
                     SS_ERR_CONFLICT);
    char value[64];
    get_or_fail(other, key, value, sizeof(value));
    assert_string_equal(value, "");
    get_or_fail(other, offset, value, sizeof(value));
    assert_string_equal(value, "7");

    /* EXEC ended the WATCH: the same transaction now goes through. */
    assert_int_equal(ss_redis_transaction(redis, commands, 2, NULL, errstr, sizeof(errstr)), SS_OK);
    get_or_fail(other, offset, value, sizeof(value));
    assert_string_equal(value, "8");
    ss_redis_destroy(other);
    ss_redis_destroy(redis);
}

static void test_transaction_runtime_error_names_the_failed_command(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char key[128];
    char other_key[128];
    ss_redis_t *redis = connect_or_fail();
    make_key(key, sizeof(key), "runtime");
    make_key(other_key, sizeof(other_key), "runtime-other");
    const char *set_string[] = {"SET", key, "text", "EX", "300"};
    freeReplyObject(command_or_fail(redis, 5, set_string));

    const char *wrong_type[] = {"ZINCRBY", key, "1", "member"};
    const char *set_other[] = {"SET", other_key, "applied", "EX", "300"};
    ss_redis_command_t commands[] = {
        {.argc = 4, .argv = wrong_type, .argvlen = NULL},
        {.argc = 5, .argv = set_other, .argvlen = NULL},
    };
    assert_int_equal(ss_redis_transaction(redis, commands, 2, NULL, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "command 0 (ZINCRBY) failed"));
    assert_non_null(strstr(errstr, "WRONGTYPE"));
    /* Redis has no rollback: the other command was applied, as documented. */
    char value[64];
    get_or_fail(redis, other_key, value, sizeof(value));
    assert_string_equal(value, "applied");
    ss_redis_destroy(redis);
}

/* ---- reconnecting ------------------------------------------------------------------------ */

static void test_reconnects_once_after_client_kill_and_selects_the_database_again(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char key[128];
    char url_text[600];
    ss_redis_url_t url;
    assert_int_equal(ss_redis_url_parse(redis_url(), &url, errstr, sizeof(errstr)), SS_OK);
    /* Another database than the default, to see that the reconnect selects it again. */
    int db = url.db == 0 ? 1 : 0;
    snprintf(url_text, sizeof(url_text), "redis://%s:%d/%d", url.host, url.port, db);
    ss_redis_t *redis = connect_url_or_fail(url_text, TIMEOUT_MS);
    ss_redis_t *killer = connect_or_fail();

    make_key(key, sizeof(key), "reconnect");
    const char *set_argv[] = {"SET", key, "in-other-db", "EX", "300"};
    freeReplyObject(command_or_fail(redis, 5, set_argv));
    char value[64];
    get_or_fail(killer, key, value, sizeof(value));
    assert_string_equal(value, ""); /* the killer lives in the URL's database */

    char id_text[32];
    snprintf(id_text, sizeof(id_text), "%lld", client_id(redis));
    const char *kill_argv[] = {"CLIENT", "KILL", "ID", id_text};
    redisReply *reply = command_or_fail(killer, 4, kill_argv);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    assert_int_equal(reply->integer, 1);
    freeReplyObject(reply);

    const char *get_argv[] = {"GET", key};
    assert_int_equal(ss_redis_command_argv(redis, 2, get_argv, NULL, NULL, errstr, sizeof(errstr)),
                     SS_ERR_RETRIABLE);
    assert_true(ss_redis_is_broken(redis));

    /* The next call reconnects, in the right database. */
    get_or_fail(redis, key, value, sizeof(value));
    assert_string_equal(value, "in-other-db");
    assert_false(ss_redis_is_broken(redis));
    const char *del_argv[] = {"DEL", key};
    freeReplyObject(command_or_fail(redis, 2, del_argv));
    ss_redis_destroy(killer);
    ss_redis_destroy(redis);
}

static void test_command_timeout_is_retriable_and_the_connection_recovers(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char key[128];
    ss_redis_t *redis = connect_url_or_fail(redis_url(), 200);
    make_key(key, sizeof(key), "empty-list");
    /* BLPOP blocks for 5 s on an empty list; our timeout is 200 ms. */
    const char *blpop_argv[] = {"BLPOP", key, "5"};
    assert_int_equal(
        ss_redis_command_argv(redis, 3, blpop_argv, NULL, NULL, errstr, sizeof(errstr)),
        SS_ERR_RETRIABLE);
    assert_true(ss_redis_is_broken(redis));
    /* A fresh connection: the late BLPOP answer can never be read as this PING's. */
    assert_int_equal(ss_redis_ping(redis, errstr, sizeof(errstr)), SS_OK);
    ss_redis_destroy(redis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_set_and_get_round_trip_binary_values),
        cmocka_unit_test(test_error_reply_is_invalid_with_its_text_and_keeps_the_connection),
        cmocka_unit_test(test_pipeline_of_100_commands_returns_every_reply_in_order),
        cmocka_unit_test(test_pipeline_error_reply_is_reported_and_all_replies_freed),
        cmocka_unit_test(test_pipeline_with_wrong_reply_count_sends_nothing),
        cmocka_unit_test(test_transaction_applies_scores_and_offset_together),
        cmocka_unit_test(test_transaction_with_a_refused_command_applies_nothing),
        cmocka_unit_test(test_transaction_after_a_watched_key_changed_is_a_conflict),
        cmocka_unit_test(test_transaction_runtime_error_names_the_failed_command),
        cmocka_unit_test(test_reconnects_once_after_client_kill_and_selects_the_database_again),
        cmocka_unit_test(test_command_timeout_is_retriable_and_the_connection_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
