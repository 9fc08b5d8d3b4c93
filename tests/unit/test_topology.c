/* ss_topology_offset_check: where a stored offset may stand against a partition's log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/topics.h"
#include "ss/topology.h"

#include <string.h>

static void test_an_offset_inside_the_log_or_at_its_end_is_fine(void **state)
{
    (void)state;
    char errstr[512] = "stale";
    assert_int_equal(ss_topology_offset_check("t", 0, 0, 0, 0, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(errstr, "");
    assert_int_equal(ss_topology_offset_check("t", 0, 5, 0, 10, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_topology_offset_check("t", 0, 10, 0, 10, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(errstr, "");
}

static void test_an_offset_past_the_log_end_is_a_conflict_that_says_why(void **state)
{
    (void)state;
    char errstr[512];
    assert_int_equal(ss_topology_offset_check("ss.cmd.user", 3, 11, 0, 10, errstr, sizeof(errstr)),
                     SS_ERR_CONFLICT);
    assert_non_null(strstr(errstr, "stored offset 11 of ss.cmd.user partition 3"));
    assert_non_null(strstr(errstr, "past the log's end 10"));
    assert_non_null(strstr(errstr, "recreated or its log truncated"));
}

static void test_an_offset_before_the_log_start_is_allowed_with_a_warning(void **state)
{
    (void)state;
    char errstr[512];
    assert_int_equal(ss_topology_offset_check("t", 1, 2, 7, 9, errstr, sizeof(errstr)), SS_OK);
    assert_non_null(strstr(errstr, "before the log's start 7"));
}

static void test_each_command_topic_names_the_field_its_keys_must_equal(void **state)
{
    (void)state;
    assert_string_equal(ss_topology_key_field(SS_TOPIC_CMD_USER), "user_id");
    assert_string_equal(ss_topology_key_field(SS_TOPIC_CMD_STOCK), "product_id");
    assert_string_equal(ss_topology_key_field(SS_TOPIC_CMD_COUPON), "coupon_id");
    assert_null(ss_topology_key_field(SS_TOPIC_RESULTS));
    assert_null(ss_topology_key_field(NULL));
}

static void test_a_key_must_be_the_text_of_the_entity_id(void **state)
{
    (void)state;
    char reason[256] = "";
    json_t *value = json_pack("{s:I, s:I}", "user_id", (json_int_t)42, "coupon_id", (json_int_t)7);
    assert_true(ss_topology_key_matches(value, "user_id", "42", reason, sizeof(reason)));
    assert_false(ss_topology_key_matches(value, "user_id", "43", reason, sizeof(reason)));
    assert_non_null(strstr(reason, "record key \"43\" is not its user_id (42)"));
    assert_false(ss_topology_key_matches(value, "user_id", "042", reason, sizeof(reason)));
    assert_false(ss_topology_key_matches(value, "user_id", "", reason, sizeof(reason)));
    assert_false(ss_topology_key_matches(value, "product_id", "42", reason, sizeof(reason)));
    assert_non_null(strstr(reason, "(missing)"));
    json_decref(value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_offset_inside_the_log_or_at_its_end_is_fine),
        cmocka_unit_test(test_an_offset_past_the_log_end_is_a_conflict_that_says_why),
        cmocka_unit_test(test_an_offset_before_the_log_start_is_allowed_with_a_warning),
        cmocka_unit_test(test_each_command_topic_names_the_field_its_keys_must_equal),
        cmocka_unit_test(test_a_key_must_be_the_text_of_the_entity_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
