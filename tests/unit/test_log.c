/* Unit tests for lib/src/log.c: level parsing, the format of a line, lazy arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int evaluations;

static int counted(void)
{
    evaluations++;
    return 1;
}

static void read_line(int fd, char *out, size_t out_size)
{
    ssize_t got = read(fd, out, out_size - 1);
    assert_true(got > 0);
    out[got] = '\0';
}

static void test_disabled_level_does_not_evaluate_arguments(void **state)
{
    (void)state;
    ss_log_level_set(SS_LOG_LEVEL_WARN);
    evaluations = 0;
    SS_LOG_DEBUG("test", "value=%d", counted());
    SS_LOG_INFO("test", "value=%d", counted());
    assert_int_equal(evaluations, 0);
    ss_log_level_set(SS_LOG_LEVEL_INFO);
}

static void test_line_has_level_component_and_context(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    ss_log_fd_set(fds[1]);
    SS_LOG_WARN("worker", "fenced topic=%s partition=%d", "cmd.user", 3);
    ss_log_fd_set(2);
    char line[512];
    read_line(fds[0], line, sizeof(line));
    assert_non_null(
        strstr(line, "level=warn component=worker fenced topic=cmd.user partition=3\n"));
    assert_true(strncmp(line, "ts=", 3) == 0);
    close(fds[0]);
    close(fds[1]);
}

static void test_level_names_parse_and_unknown_is_refused(void **state)
{
    (void)state;
    ss_log_level_t level;
    char errstr[128];
    assert_int_equal(ss_log_level_parse("DEBUG", &level, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(level, SS_LOG_LEVEL_DEBUG);
    assert_int_equal(ss_log_level_parse("off", &level, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(level, SS_LOG_LEVEL_OFF);
    assert_int_equal(ss_log_level_parse("loud", &level, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "loud"));
}

static void test_overlong_line_is_cut_and_still_ends_with_newline(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    ss_log_fd_set(fds[1]);
    char big[4096];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    SS_LOG_ERROR("test", "%s", big);
    ss_log_fd_set(2);
    char line[8192];
    read_line(fds[0], line, sizeof(line));
    size_t length = strlen(line);
    assert_true(length < 2048);
    assert_int_equal(line[length - 1], '\n');
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_level_does_not_evaluate_arguments),
        cmocka_unit_test(test_line_has_level_component_and_context),
        cmocka_unit_test(test_level_names_parse_and_unknown_is_refused),
        cmocka_unit_test(test_overlong_line_is_cut_and_still_ends_with_newline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
