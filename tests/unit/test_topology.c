/* ss_topology_offset_check: where a stored offset may stand against a partition's log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_offset_inside_the_log_or_at_its_end_is_fine),
        cmocka_unit_test(test_an_offset_past_the_log_end_is_a_conflict_that_says_why),
        cmocka_unit_test(test_an_offset_before_the_log_start_is_allowed_with_a_warning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
