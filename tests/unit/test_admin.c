/*
 * ss-admin's pure parts (producers/admin): the command line (subcommands, flags split from
 * positional arguments, offsets), topics.tsv, records as JSON, and what a dead letter says
 * about itself and whether it can be replayed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "admin.h"

#include "ss/topics.h"

#include <string.h>

static ss_avro_registry_t *registry;

static int group_setup(void **state)
{
    (void)state;
    char errstr[512];
    return ss_avro_registry_load(NULL, &registry, errstr, sizeof(errstr)) == SS_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    ss_avro_registry_destroy(registry);
    return 0;
}

/* ---- command line ---- */

static void test_two_word_commands_need_both_words(void **state)
{
    (void)state;
    int words = 0;
    char *list[] = {"ss-admin", "dlq", "list"};
    const ss_admin_command_t *command = ss_admin_command_find(3, list, &words);
    assert_non_null(command);
    assert_string_equal(command->name, "dlq list");
    assert_int_equal(words, 2);
    char *replay[] = {"ss-admin", "dlq", "replay", "4"};
    assert_string_equal(ss_admin_command_find(4, replay, &words)->name, "dlq replay");
    char *alone[] = {"ss-admin", "dlq"};
    assert_null(ss_admin_command_find(2, alone, &words));
    char *topics[] = {"ss-admin", "topics"};
    assert_string_equal(ss_admin_command_find(2, topics, &words)->name, "topics");
    assert_int_equal(words, 1);
    char *unknown[] = {"ss-admin", "topic"};
    assert_null(ss_admin_command_find(2, unknown, &words));
}

static bool has_option(const ss_config_option_t *options, size_t count, const char *flag)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(options[i].flag, flag) == 0) {
            return true;
        }
    }
    return false;
}

static void test_each_command_takes_the_common_options_and_only_its_own(void **state)
{
    (void)state;
    int words = 0;
    char *tail_argv[] = {"ss-admin", "tail"};
    char *topics_argv[] = {"ss-admin", "topics"};
    ss_admin_config_t config = {0};
    ss_config_option_t options[SS_CONFIG_OPTIONS_MAX];
    size_t count = 0;
    ss_admin_options(ss_admin_command_find(2, tail_argv, &words), &config, options, &count);
    assert_true(has_option(options, count, "--pg-dsn"));
    assert_true(has_option(options, count, "--count"));
    assert_false(has_option(options, count, "--rank-group"));
    ss_admin_options(ss_admin_command_find(2, topics_argv, &words), &config, options, &count);
    assert_true(has_option(options, count, "--kafka-bootstrap"));
    assert_false(has_option(options, count, "--count"));
}

static void split(char **args, size_t count, char **flags, size_t *flag_count, char **positional,
                  size_t *positional_count, ss_err_t expected)
{
    ss_admin_config_t config = {0};
    ss_config_option_t options[SS_CONFIG_OPTIONS_MAX];
    size_t option_count = 0;
    ss_admin_options(NULL, &config, options, &option_count);
    char errstr[256];
    assert_int_equal(ss_admin_args_split(options, option_count, args, count, flags, flag_count,
                                         positional, positional_count, errstr, sizeof(errstr)),
                     expected);
}

static void test_a_flag_keeps_its_separate_value_and_positionals_stay_in_order(void **state)
{
    (void)state;
    char *args[] = {"--partition", "3", "ss.cmd.user", "--follow", "7", "--count=2"};
    char *flags[6], *positional[6];
    size_t flag_count = 0, positional_count = 0;
    split(args, 6, flags, &flag_count, positional, &positional_count, SS_OK);
    assert_int_equal(flag_count, 4);
    assert_string_equal(flags[0], "--partition");
    assert_string_equal(flags[1], "3");
    assert_string_equal(flags[2], "--follow"); /* a BOOL flag does not take the next word */
    assert_string_equal(flags[3], "--count=2");
    assert_int_equal(positional_count, 2);
    assert_string_equal(positional[0], "ss.cmd.user");
    assert_string_equal(positional[1], "7");
}

static void test_a_flag_without_its_value_is_refused(void **state)
{
    (void)state;
    char *args[] = {"ss.cmd.user", "--last"};
    char *flags[2], *positional[2];
    size_t flag_count = 0, positional_count = 0;
    split(args, 2, flags, &flag_count, positional, &positional_count, SS_ERR_INVALID);
}

static void test_offsets_are_non_negative_decimal_numbers(void **state)
{
    (void)state;
    char errstr[128];
    int64_t offset = -1;
    assert_int_equal(ss_admin_offset_parse("42", &offset, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(offset, 42);
    assert_int_equal(ss_admin_offset_parse("0", &offset, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(offset, 0);
    const char *bad[] = {"", "-1", "4x", "+3", " 5", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ss_admin_offset_parse(bad[i], &offset, errstr, sizeof(errstr)),
                         SS_ERR_INVALID);
    }
}

/* ---- topics.tsv ---- */

static void test_the_topics_file_is_read_without_comments_and_blank_lines(void **state)
{
    (void)state;
    const char *text = "# a comment\n# name\tpartitions\n\nss.cmd.user\t8\t604800000\tcommands\n"
                       "ss.dlq\t1\t2592000000\tdead letters";
    ss_admin_topic_t topics[4];
    size_t count = 0;
    char errstr[256];
    assert_int_equal(ss_admin_topics_parse(text, topics, 4, &count, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(count, 2);
    assert_string_equal(topics[0].name, "ss.cmd.user");
    assert_int_equal(topics[0].partitions, 8);
    assert_string_equal(topics[1].name, "ss.dlq");
    assert_int_equal(topics[1].partitions, 1);
}

static void test_a_malformed_topics_line_is_refused_with_its_number(void **state)
{
    (void)state;
    ss_admin_topic_t topics[4];
    size_t count = 0;
    char errstr[256];
    assert_int_equal(
        ss_admin_topics_parse("# x\nss.a\tmany\t1\n", topics, 4, &count, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "line 2"));
    assert_int_equal(
        ss_admin_topics_parse("ss.a\t0\t1\n", topics, 4, &count, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_int_equal(ss_admin_topics_parse("ss.a\n", topics, 4, &count, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(
        ss_admin_topics_parse("a\t1\nb\t1\n", topics, 1, &count, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
}

static void test_the_project_topics_file_parses(void **state)
{
    (void)state;
    ss_admin_topic_t topics[SS_ADMIN_TOPICS_MAX];
    size_t count = 0;
    char errstr[256];
    assert_int_equal(ss_admin_topics_load(SS_SOURCE_DIR "/schemas/topics.tsv", topics,
                                          SS_ADMIN_TOPICS_MAX, &count, errstr, sizeof(errstr)),
                     SS_OK);
    bool dlq = false;
    for (size_t i = 0; i < count; i++) {
        dlq = dlq || strcmp(topics[i].name, SS_TOPIC_DLQ) == 0;
    }
    assert_true(dlq);
}

/* ---- records ---- */

static ss_avro_buffer_t charge_encode(long long user_id)
{
    json_t *record = json_pack("{s:s, s:i, s:I, s:I, s:I}", "request_id", "0-1-7",
                               "reply_partition", 0, "user_id", (json_int_t)user_id, "amount",
                               (json_int_t)500, "requested_at", (json_int_t)1700000000000);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    char errstr[256];
    assert_int_equal(
        ss_avro_encode(registry, "ChargeBalance", record, &buffer, errstr, sizeof(errstr)), SS_OK);
    json_decref(record);
    return buffer;
}

static void test_a_record_is_one_json_object_with_its_value_decoded(void **state)
{
    (void)state;
    ss_avro_buffer_t value = charge_encode(7);
    ss_kafka_header_t headers[] = {{"traceparent", "00-ab", 5}, {"empty", NULL, 0}};
    ss_admin_record_t record = {.topic = "ss.cmd.user",
                                .partition = 3,
                                .offset = 41,
                                .timestamp_ms = 0,
                                .key = "7",
                                .key_length = 1,
                                .value = value.data,
                                .value_length = value.length,
                                .headers = headers,
                                .header_count = 2};
    json_t *out = ss_admin_record_json(registry, &record);
    char *text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text,
                        "{\"headers\":{\"empty\":null,\"traceparent\":\"00-ab\"},\"key\":\"7\","
                        "\"offset\":41,\"partition\":3,\"schema\":\"ChargeBalance\",\"timestamp\":"
                        "\"1970-01-01T00:00:00.000Z\",\"topic\":\"ss.cmd.user\",\"value\":{"
                        "\"amount\":500,\"idempotency\":null,\"reply_partition\":0,"
                        "\"request_id\":\"0-1-7\",\"requested_at\":1700000000000,\"user_id\":7}}");
    free(text);
    json_decref(out);
    ss_avro_buffer_free(&value);
}

static void test_an_undecodable_record_says_why_and_shows_its_bytes(void **state)
{
    (void)state;
    const unsigned char garbage[] = {0xC3, 0x01, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 1};
    const unsigned char binary_key[] = {0xff, 0x00};
    ss_admin_record_t record = {.topic = "t",
                                .partition = 0,
                                .offset = 1,
                                .timestamp_ms = -1,
                                .key = binary_key,
                                .key_length = 2,
                                .value = garbage,
                                .value_length = sizeof(garbage)};
    json_t *out = ss_admin_record_json(registry, &record);
    assert_true(json_is_null(json_object_get(out, "schema")));
    assert_true(json_is_null(json_object_get(out, "timestamp")));
    assert_non_null(strstr(json_string_value(json_object_get(out, "undecodable")),
                           "unknown schema fingerprint"));
    assert_int_equal(json_integer_value(json_object_get(out, "value_bytes")), sizeof(garbage));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "value_hex"), "hex")),
        "c301deadbeef0000000001");
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "key"), "hex")),
                        "ff00");
    json_decref(out);
}

static void test_a_long_binary_value_is_previewed_with_its_full_length(void **state)
{
    (void)state;
    unsigned char bytes[200];
    memset(bytes, 0xab, sizeof(bytes));
    json_t *out = ss_admin_bytes_json(bytes, sizeof(bytes), 4);
    assert_string_equal(json_string_value(json_object_get(out, "hex")), "abababab");
    assert_int_equal(json_integer_value(json_object_get(out, "bytes")), 200);
    json_decref(out);
}

/* ---- dead letters ---- */

static void test_the_dlq_source_header_is_topic_partition_offset(void **state)
{
    (void)state;
    char topic[64];
    int32_t partition = -1;
    int64_t offset = -1;
    assert_int_equal(
        ss_admin_dlq_source_parse("ss.cmd.user/3/42", topic, sizeof(topic), &partition, &offset),
        SS_OK);
    assert_string_equal(topic, "ss.cmd.user");
    assert_int_equal(partition, 3);
    assert_int_equal(offset, 42);
    const char *bad[] = {"",     "ss.cmd.user", "ss.cmd.user/3", "/3/4",  "t/x/4",
                         "t/3/", "t/3/4x",      "t//4",          "t/-1/4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            ss_admin_dlq_source_parse(bad[i], topic, sizeof(topic), &partition, &offset),
            SS_ERR_INVALID);
    }
}

static void dead_letter(const char *key, const void *value, size_t length,
                        const ss_kafka_header_t *headers, size_t header_count,
                        ss_admin_dead_letter_t *out)
{
    ss_admin_record_t record = {.topic = SS_TOPIC_DLQ,
                                .key = key,
                                .key_length = key != NULL ? strlen(key) : 0,
                                .value = value,
                                .value_length = length,
                                .headers = headers,
                                .header_count = header_count};
    ss_admin_dead_letter_read(registry, &record, out);
}

static void test_a_decodable_command_with_its_own_key_is_replayable(void **state)
{
    (void)state;
    ss_avro_buffer_t value = charge_encode(7);
    ss_kafka_header_t headers[] = {{SS_HEADER_DLQ_REASON, "broker hiccup", 13},
                                   {SS_HEADER_DLQ_SOURCE, "ss.cmd.user/3/41", 16}};
    ss_admin_dead_letter_t letter;
    dead_letter("7", value.data, value.length, headers, 2, &letter);
    assert_true(letter.replayable);
    assert_string_equal(letter.verdict, "");
    assert_string_equal(letter.reason, "broker hiccup");
    assert_string_equal(letter.source_topic, "ss.cmd.user");
    assert_string_equal(letter.schema, "ChargeBalance");
    assert_string_equal(letter.request_id, "0-1-7");
    ss_avro_buffer_free(&value);
}

static void test_a_command_routed_to_the_wrong_owner_is_not_replayable(void **state)
{
    (void)state;
    ss_avro_buffer_t value = charge_encode(7);
    ss_kafka_header_t headers[] = {{SS_HEADER_DLQ_SOURCE, "ss.cmd.user/3/41", 16}};
    ss_admin_dead_letter_t letter;
    dead_letter("8", value.data, value.length, headers, 1, &letter);
    assert_false(letter.replayable);
    assert_non_null(strstr(letter.verdict, "wrong owner"));
    assert_string_equal(letter.request_id, "0-1-7");
    ss_avro_buffer_free(&value);
}

static void test_a_reference_an_undecodable_value_or_a_bad_source_is_not_replayable(void **state)
{
    (void)state;
    ss_admin_dead_letter_t letter;
    ss_kafka_header_t parked[] = {{SS_HEADER_DLQ_SOURCE, "ss.cmd.user/0/5", 15},
                                  {SS_HEADER_DLQ_PARKED_BYTES, "700000", 6}};
    dead_letter("1", NULL, 0, parked, 2, &letter);
    assert_false(letter.replayable);
    assert_true(letter.parked);
    assert_non_null(strstr(letter.verdict, "reference"));
    assert_non_null(strstr(letter.verdict, "700000 bytes"));

    const char garbage[] = "not avro";
    ss_kafka_header_t source[] = {{SS_HEADER_DLQ_SOURCE, "ss.cmd.user/0/5", 15}};
    dead_letter("1", garbage, sizeof(garbage) - 1, source, 1, &letter);
    assert_false(letter.replayable);
    assert_null(letter.schema);
    assert_non_null(strstr(letter.verdict, "does not decode"));

    ss_avro_buffer_t value = charge_encode(1);
    ss_kafka_header_t none[] = {{SS_HEADER_DLQ_REASON, "x", 1}};
    dead_letter("1", value.data, value.length, none, 1, &letter);
    assert_false(letter.replayable);
    assert_non_null(strstr(letter.verdict, SS_HEADER_DLQ_SOURCE));
    ss_kafka_header_t itself[] = {{SS_HEADER_DLQ_SOURCE, "ss.dlq/0/3", 10}};
    dead_letter("1", value.data, value.length, itself, 1, &letter);
    assert_false(letter.replayable);
    assert_non_null(strstr(letter.verdict, "dead-letter topic itself"));
    ss_avro_buffer_free(&value);
}

static void test_only_the_dead_letter_answer_counts_as_not_applied(void **state)
{
    (void)state;
    assert_true(ss_admin_is_dead_letter_answer(SS_DLQ_ANSWER_STATUS, SS_DLQ_ANSWER_BODY));
    assert_false(ss_admin_is_dead_letter_answer(200, SS_DLQ_ANSWER_BODY));
    assert_false(ss_admin_is_dead_letter_answer(
        500, "{\"code\":500,\"message\":\"other\",\"error\":\"INTERNAL\"}"));
    assert_false(ss_admin_is_dead_letter_answer(500, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_word_commands_need_both_words),
        cmocka_unit_test(test_each_command_takes_the_common_options_and_only_its_own),
        cmocka_unit_test(test_a_flag_keeps_its_separate_value_and_positionals_stay_in_order),
        cmocka_unit_test(test_a_flag_without_its_value_is_refused),
        cmocka_unit_test(test_offsets_are_non_negative_decimal_numbers),
        cmocka_unit_test(test_the_topics_file_is_read_without_comments_and_blank_lines),
        cmocka_unit_test(test_a_malformed_topics_line_is_refused_with_its_number),
        cmocka_unit_test(test_the_project_topics_file_parses),
        cmocka_unit_test(test_a_record_is_one_json_object_with_its_value_decoded),
        cmocka_unit_test(test_an_undecodable_record_says_why_and_shows_its_bytes),
        cmocka_unit_test(test_a_long_binary_value_is_previewed_with_its_full_length),
        cmocka_unit_test(test_the_dlq_source_header_is_topic_partition_offset),
        cmocka_unit_test(test_a_decodable_command_with_its_own_key_is_replayable),
        cmocka_unit_test(test_a_command_routed_to_the_wrong_owner_is_not_replayable),
        cmocka_unit_test(test_a_reference_an_undecodable_value_or_a_bad_source_is_not_replayable),
        cmocka_unit_test(test_only_the_dead_letter_answer_counts_as_not_applied),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
