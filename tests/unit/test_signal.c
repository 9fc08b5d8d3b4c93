/* Unit tests for lib/src/signal.c: the stop flag and SIGPIPE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/signal.h"

#include <unistd.h>

static void test_sigterm_and_sigint_set_the_stop_flag(void **state)
{
    (void)state;
    assert_int_equal(ss_signal_install(NULL, 0), SS_OK);
    ss_signal_stop_requested = 0;
    raise(SIGTERM);
    assert_int_equal(ss_signal_stop_requested, 1);
    ss_signal_stop_requested = 0;
    raise(SIGINT);
    assert_int_equal(ss_signal_stop_requested, 1);
}

static void test_writing_to_a_closed_pipe_is_an_error_not_death(void **state)
{
    (void)state;
    assert_int_equal(ss_signal_install(NULL, 0), SS_OK);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    assert_int_equal(write(fds[1], "x", 1), -1);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_and_sigint_set_the_stop_flag),
        cmocka_unit_test(test_writing_to_a_closed_pipe_is_an_error_not_death),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
