/*
 * Unit tests for lib/src/config.c: precedence flag > environment > default, both flag forms,
 * strict integer and boolean parsing, string length ranges, required options, unknown flags,
 * --help, error messages that name the source, and the usage text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Environment variables these tests set; cleared before each test. */
#define TEST_ENV_BATCH "SS_TEST_CONFIG_BATCH_RECORDS_MAX"
#define TEST_ENV_DSN "SS_TEST_CONFIG_PG_DSN"
#define TEST_ENV_VERBOSE "SS_TEST_CONFIG_VERBOSE"

typedef struct test_config {
    long long batch_records_max;
    char *pg_dsn;
    bool verbose;
    char *name;
} test_config_t;

static test_config_t config;

static const ss_config_option_t options[] = {
    {"--batch-records-max", TEST_ENV_BATCH, SS_CONFIG_INT, "500", 1, 10000,
     "most records in one batch", &config.batch_records_max},
    {"--pg-dsn", TEST_ENV_DSN, SS_CONFIG_STRING, NULL, 1, 1024, "PostgreSQL connection string",
     &config.pg_dsn},
    {"--verbose", TEST_ENV_VERBOSE, SS_CONFIG_BOOL, "false", 0, 0, "log more", &config.verbose},
    {"--name", NULL, SS_CONFIG_STRING, "worker", 0, 8, "a short name", &config.name},
};
static const size_t option_count = sizeof(options) / sizeof(options[0]);

static int setup(void **state)
{
    (void)state;
    unsetenv(TEST_ENV_BATCH);
    unsetenv(TEST_ENV_DSN);
    unsetenv(TEST_ENV_VERBOSE);
    memset(&config, 0, sizeof(config));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ss_config_free(options, option_count);
    return 0;
}

/* Loads with a NULL-terminated argument list (program name added in front). */
static ss_err_t load(char *errstr, size_t errstr_size, const char *first, ...)
{
    char *argv[32] = {"program"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *arg = first; arg != NULL && argc < 31; arg = va_arg(ap, const char *)) {
        argv[argc] = (char *)arg;
        argc++;
    }
    va_end(ap);
    return ss_config_load(options, option_count, argc, argv, errstr, errstr_size);
}

static void test_defaults_apply_when_nothing_is_given(void **state)
{
    (void)state;
    char errstr[256] = "";
    setenv(TEST_ENV_DSN, "dbname=x", 1);
    assert_int_equal(load(errstr, sizeof(errstr), NULL), SS_OK);
    assert_int_equal(config.batch_records_max, 500);
    assert_string_equal(config.pg_dsn, "dbname=x");
    assert_false(config.verbose);
    assert_string_equal(config.name, "worker");
}

static void test_environment_overrides_default(void **state)
{
    (void)state;
    char errstr[256] = "";
    setenv(TEST_ENV_BATCH, "42", 1);
    setenv(TEST_ENV_VERBOSE, "yes", 1);
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", NULL), SS_OK);
    assert_int_equal(config.batch_records_max, 42);
    assert_true(config.verbose);
}

static void test_flag_overrides_environment(void **state)
{
    (void)state;
    char errstr[256] = "";
    setenv(TEST_ENV_BATCH, "42", 1);
    setenv(TEST_ENV_DSN, "from-env", 1);
    assert_int_equal(
        load(errstr, sizeof(errstr), "--batch-records-max=7", "--pg-dsn", "from-flag", NULL),
        SS_OK);
    assert_int_equal(config.batch_records_max, 7);
    assert_string_equal(config.pg_dsn, "from-flag");
}

static void test_flag_accepts_separate_value(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(
        load(errstr, sizeof(errstr), "--batch-records-max", "-0", "--pg-dsn", "a", NULL),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "--batch-records-max=-0 is out of range 1..10000");
    assert_int_equal(
        load(errstr, sizeof(errstr), "--batch-records-max", "9", "--pg-dsn", "a", NULL), SS_OK);
    assert_int_equal(config.batch_records_max, 9);
}

static void test_last_occurrence_of_a_flag_wins(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", "--batch-records-max=1",
                          "--batch-records-max=2", NULL),
                     SS_OK);
    assert_int_equal(config.batch_records_max, 2);
}

static void test_value_may_contain_equals_sign(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=host=h port=1", NULL), SS_OK);
    assert_string_equal(config.pg_dsn, "host=h port=1");
}

static void test_environment_out_of_range_names_variable_and_range(void **state)
{
    (void)state;
    char errstr[256] = "";
    setenv(TEST_ENV_BATCH, "0", 1);
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", NULL), SS_ERR_INVALID);
    assert_string_equal(errstr, TEST_ENV_BATCH "=0 is out of range 1..10000");
    setenv(TEST_ENV_BATCH, "10001", 1);
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", NULL), SS_ERR_INVALID);
    assert_string_equal(errstr, TEST_ENV_BATCH "=10001 is out of range 1..10000");
}

static void test_integer_bounds_are_inclusive(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", "--batch-records-max=1", NULL),
                     SS_OK);
    assert_int_equal(config.batch_records_max, 1);
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", "--batch-records-max=+10000", NULL),
                     SS_OK);
    assert_int_equal(config.batch_records_max, 10000);
}

static void test_integer_parsing_is_strict(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "--batch-records-max=",    "--batch-records-max=12x",  "--batch-records-max= 12",
        "--batch-records-max=1.5", "--batch-records-max=0x10", "--batch-records-max=ten",
        "--batch-records-max=-",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char errstr[256] = "";
        assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", bad[i], NULL), SS_ERR_INVALID);
        assert_non_null(strstr(errstr, "is not an integer"));
        assert_non_null(strstr(errstr, "--batch-records-max="));
    }
}

static void test_integer_overflow_is_out_of_range(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a",
                          "--batch-records-max=99999999999999999999", NULL),
                     SS_ERR_INVALID);
    assert_string_equal(errstr,
                        "--batch-records-max=99999999999999999999 is out of range 1..10000");
}

static void test_bool_accepts_all_spellings(void **state)
{
    (void)state;
    static const char *const truthy[] = {"true", "TRUE", "1", "yes", "Yes"};
    static const char *const falsy[] = {"false", "False", "0", "no", "NO"};
    char errstr[256] = "";
    for (size_t i = 0; i < 5; i++) {
        setenv(TEST_ENV_VERBOSE, truthy[i], 1);
        assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", NULL), SS_OK);
        assert_true(config.verbose);
        setenv(TEST_ENV_VERBOSE, falsy[i], 1);
        assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", NULL), SS_OK);
        assert_false(config.verbose);
    }
}

static void test_bare_bool_flag_means_true(void **state)
{
    (void)state;
    char errstr[256] = "";
    setenv(TEST_ENV_VERBOSE, "false", 1);
    assert_int_equal(load(errstr, sizeof(errstr), "--verbose", "--pg-dsn=a", NULL), SS_OK);
    assert_true(config.verbose);
    assert_int_equal(load(errstr, sizeof(errstr), "--verbose=no", "--pg-dsn=a", NULL), SS_OK);
    assert_false(config.verbose);
}

static void test_bad_bool_is_refused(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--verbose=maybe", "--pg-dsn=a", NULL),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "--verbose=maybe is not a boolean (true/false/1/0/yes/no)");
}

static void test_missing_required_option_is_an_error(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), NULL), SS_ERR_INVALID);
    assert_string_equal(errstr, "--pg-dsn (or " TEST_ENV_DSN ") is required");
}

static void test_empty_environment_value_counts_as_given(void **state)
{
    (void)state;
    char errstr[256] = "";
    setenv(TEST_ENV_DSN, "", 1);
    assert_int_equal(load(errstr, sizeof(errstr), NULL), SS_ERR_INVALID);
    assert_string_equal(errstr, TEST_ENV_DSN " has length 0, out of range 1..1024");
}

static void test_string_length_is_checked_without_echoing_the_value(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", "--name=secret-long", NULL),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "--name has length 11, out of range 0..8");
    assert_null(strstr(errstr, "secret"));
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", "--name=", NULL), SS_OK);
    assert_string_equal(config.name, "");
}

static void test_unknown_flag_is_an_error(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", "--batch-record-max=3", NULL),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "unknown flag --batch-record-max (see --help)");
    /* A prefix of a known flag is not that flag. */
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", "--verb", NULL), SS_ERR_INVALID);
    assert_string_equal(errstr, "unknown flag --verb (see --help)");
}

static void test_positional_argument_is_an_error(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", "extra", NULL), SS_ERR_INVALID);
    assert_string_equal(errstr, "unexpected argument 'extra' (options start with --)");
    assert_int_equal(load(errstr, sizeof(errstr), "-x", NULL), SS_ERR_INVALID);
    assert_int_equal(load(errstr, sizeof(errstr), "--", NULL), SS_ERR_INVALID);
}

static void test_flag_without_value_is_an_error(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn", NULL), SS_ERR_INVALID);
    assert_string_equal(errstr, "--pg-dsn needs a value");
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn", "--verbose", NULL), SS_ERR_INVALID);
    assert_string_equal(errstr, "--pg-dsn needs a value");
}

static void test_help_wins_over_every_other_error(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--bogus", "--help", NULL), SS_ERR_HELP);
    assert_int_equal(load(errstr, sizeof(errstr), "-h", NULL), SS_ERR_HELP);
    assert_null(config.pg_dsn);
}

static void test_failed_load_releases_strings(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", NULL), SS_OK);
    assert_non_null(config.pg_dsn);
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", "--verbose=2", NULL),
                     SS_ERR_INVALID);
    assert_null(config.pg_dsn);
    assert_null(config.name);
}

static void test_invalid_default_is_reported_as_default(void **state)
{
    (void)state;
    long long value = 0;
    const ss_config_option_t broken[] = {
        {"--workers", NULL, SS_CONFIG_INT, "0", 1, 8, "worker threads", &value},
    };
    char *argv[] = {"program"};
    char errstr[256] = "";
    assert_int_equal(ss_config_load(broken, 1, 1, argv, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_string_equal(errstr, "default of --workers=0 is out of range 1..8");
}

static void test_required_flag_only_option_names_the_flag(void **state)
{
    (void)state;
    long long value = 0;
    const ss_config_option_t table[] = {
        {"--instance", NULL, SS_CONFIG_INT, NULL, 0, 3, "ingress instance", &value},
    };
    char *argv[] = {"program"};
    char errstr[256] = "";
    assert_int_equal(ss_config_load(table, 1, 1, argv, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_string_equal(errstr, "--instance is required");
}

static void test_free_is_idempotent(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(load(errstr, sizeof(errstr), "--pg-dsn=a", NULL), SS_OK);
    ss_config_free(options, option_count);
    ss_config_free(options, option_count);
    assert_null(config.pg_dsn);
    ss_config_free(NULL, 0);
}

static void test_usage_lists_every_option_with_env_range_and_default(void **state)
{
    (void)state;
    char *text = NULL;
    size_t text_size = 0;
    FILE *out = open_memstream(&text, &text_size);
    assert_non_null(out);
    ss_config_usage(out, "ss-test", "does testing", options, option_count);
    assert_int_equal(fclose(out), 0);
    assert_non_null(strstr(text, "usage: ss-test [options]\ndoes testing\n"));
    assert_non_null(strstr(text, "--help"));
    assert_non_null(strstr(text, "--batch-records-max=<int>  (env " TEST_ENV_BATCH ")\n"
                                 "      most records in one batch; range 1..10000; default 500\n"));
    assert_non_null(strstr(text, "--pg-dsn=<string>  (env " TEST_ENV_DSN ")\n"
                                 "      PostgreSQL connection string; length 1..1024; required\n"));
    assert_non_null(strstr(text, "--verbose=<bool>  (env " TEST_ENV_VERBOSE ")\n"
                                 "      log more; default false\n"));
    assert_non_null(strstr(text, "--name=<string>\n      a short name; default \"worker\"\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_apply_when_nothing_is_given, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_overrides_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_overrides_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_accepts_separate_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_occurrence_of_a_flag_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_may_contain_equals_sign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_out_of_range_names_variable_and_range,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_bounds_are_inclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_parsing_is_strict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_overflow_is_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_accepts_all_spellings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bare_bool_flag_means_true, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bool_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_required_option_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_environment_value_counts_as_given, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_string_length_is_checked_without_echoing_the_value,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_flag_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positional_argument_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_without_value_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_wins_over_every_other_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_load_releases_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_default_is_reported_as_default, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_required_flag_only_option_names_the_flag, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_free_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_lists_every_option_with_env_range_and_default,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
