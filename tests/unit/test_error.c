/* Unit tests for lib/src/error.c: names and the retriable classification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/error.h"

#include <string.h>

static void test_every_kind_has_a_stable_name(void **state)
{
    (void)state;
    assert_string_equal(ss_err_name(SS_OK), "ok");
    assert_string_equal(ss_err_name(SS_ERR_RETRIABLE), "retriable");
    assert_string_equal(ss_err_name(SS_ERR_CONFLICT), "conflict");
    assert_string_equal(ss_err_name((ss_err_t)-99), "unknown");
}

static void test_only_transient_kinds_are_retriable(void **state)
{
    (void)state;
    assert_true(ss_err_is_retriable(SS_ERR_RETRIABLE));
    assert_true(ss_err_is_retriable(SS_ERR_TIMEOUT));
    assert_false(ss_err_is_retriable(SS_ERR_INVALID));
    assert_false(ss_err_is_retriable(SS_ERR_FATAL));
    assert_false(ss_err_is_retriable(SS_OK));
}

static void test_err_set_formats_and_returns_the_kind(void **state)
{
    (void)state;
    char errstr[32];
    assert_int_equal(ss_err_set(SS_ERR_INVALID, errstr, sizeof(errstr), "bad amount %d", 7),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "bad amount 7");
    assert_int_equal(ss_err_set(SS_ERR_FATAL, NULL, 0, "ignored"), SS_ERR_FATAL);
}

static void test_err_set_truncates_to_the_buffer(void **state)
{
    (void)state;
    char errstr[8];
    ss_err_set(SS_ERR_INVALID, errstr, sizeof(errstr), "%s", "a much longer message");
    assert_int_equal(strlen(errstr), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_has_a_stable_name),
        cmocka_unit_test(test_only_transient_kinds_are_retriable),
        cmocka_unit_test(test_err_set_formats_and_returns_the_kind),
        cmocka_unit_test(test_err_set_truncates_to_the_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
