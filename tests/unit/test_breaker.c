/*
 * Unit tests for lib/src/breaker.c: closed until a failure, refusing for retry_ms after it,
 * then one probe per retry_ms, closed again by a success.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/breaker.h"

static void test_a_new_breaker_allows_everyone(void **state)
{
    (void)state;
    ss_breaker_t breaker;
    ss_breaker_init(&breaker, 1000);
    for (int i = 0; i < 10; i++) {
        assert_true(ss_breaker_allow(&breaker, 5));
    }
    assert_true(ss_breaker_is_available(&breaker, 5));
    assert_int_equal(ss_breaker_failures(&breaker), 0);
    ss_breaker_destroy(&breaker);
}

static void test_after_a_failure_callers_are_refused_until_the_retry_time(void **state)
{
    (void)state;
    ss_breaker_t breaker;
    ss_breaker_init(&breaker, 1000);
    ss_breaker_failure(&breaker, 10000);
    assert_false(ss_breaker_allow(&breaker, 10000));
    assert_false(ss_breaker_allow(&breaker, 10999));
    assert_false(ss_breaker_is_available(&breaker, 10999));
    assert_true(ss_breaker_is_available(&breaker, 11000));
    assert_int_equal(ss_breaker_failures(&breaker), 1);
    ss_breaker_destroy(&breaker);
}

static void test_one_probe_goes_per_retry_period(void **state)
{
    (void)state;
    ss_breaker_t breaker;
    ss_breaker_init(&breaker, 1000);
    ss_breaker_failure(&breaker, 0);
    assert_true(ss_breaker_allow(&breaker, 1000)); /* the probe */
    assert_false(ss_breaker_allow(&breaker, 1000));
    assert_false(ss_breaker_allow(&breaker, 1999));
    assert_false(ss_breaker_is_available(&breaker, 1500));
    /* The probe never reported: the next one goes a period later. */
    assert_true(ss_breaker_allow(&breaker, 2000));
    assert_false(ss_breaker_allow(&breaker, 2001));
    ss_breaker_destroy(&breaker);
}

static void test_a_probe_that_fails_opens_it_for_another_period(void **state)
{
    (void)state;
    ss_breaker_t breaker;
    ss_breaker_init(&breaker, 1000);
    ss_breaker_failure(&breaker, 0);
    assert_true(ss_breaker_allow(&breaker, 1500));
    ss_breaker_failure(&breaker, 2100);
    assert_false(ss_breaker_allow(&breaker, 3000));
    assert_true(ss_breaker_allow(&breaker, 3100));
    assert_int_equal(ss_breaker_failures(&breaker), 2);
    ss_breaker_destroy(&breaker);
}

static void test_a_success_closes_it(void **state)
{
    (void)state;
    ss_breaker_t breaker;
    ss_breaker_init(&breaker, 1000);
    ss_breaker_failure(&breaker, 0);
    assert_true(ss_breaker_allow(&breaker, 1000));
    ss_breaker_success(&breaker);
    assert_true(ss_breaker_allow(&breaker, 1001));
    assert_true(ss_breaker_allow(&breaker, 1001));
    assert_true(ss_breaker_is_available(&breaker, 1001));
    ss_breaker_destroy(&breaker);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_new_breaker_allows_everyone),
        cmocka_unit_test(test_after_a_failure_callers_are_refused_until_the_retry_time),
        cmocka_unit_test(test_one_probe_goes_per_retry_period),
        cmocka_unit_test(test_a_probe_that_fails_opens_it_for_another_period),
        cmocka_unit_test(test_a_success_closes_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
