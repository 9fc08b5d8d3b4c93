/*
 * Unit tests for lib/src/retention.c and the worker's retention settings: the check that a
 * result outlives its key, the pruning timer, the id horizon of stock_reservations, and the
 * options as ss_worker_main() parses them (defaults, ranges, the cross-check).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/retention.h"
#include "ss/worker.h"

#include <stdlib.h>
#include <string.h>

static void test_result_retention_shorter_than_key_retention_is_refused(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(ss_retention_check(86400, 3600, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "SS_RESULT_RETENTION_S=3600"));
    assert_non_null(strstr(errstr, "SS_IDEMPOTENCY_RETENTION_S=86400"));
    assert_int_equal(ss_retention_check(86400, 86400, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_retention_check(86400, 604800, errstr, sizeof(errstr)), SS_OK);
}

static void test_retention_below_the_minimum_is_refused(void **state)
{
    (void)state;
    char errstr[256] = "";
    assert_int_equal(ss_retention_check(0, 604800, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_retention_check(59, 604800, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_retention_check(60, 60, errstr, sizeof(errstr)), SS_OK);
}

static void test_timer_is_due_at_once_then_after_the_interval(void **state)
{
    (void)state;
    ss_retention_timer_t timer = {0};
    assert_true(ss_retention_due(&timer, 5));
    ss_retention_ran(&timer, 1000, 60000, false);
    assert_false(ss_retention_due(&timer, 1000));
    assert_false(ss_retention_due(&timer, 60999));
    assert_true(ss_retention_due(&timer, 61000));
}

static void test_timer_after_a_full_batch_is_due_at_once(void **state)
{
    (void)state;
    ss_retention_timer_t timer = {0};
    ss_retention_ran(&timer, 1000, 60000, true);
    assert_true(ss_retention_due(&timer, 1000));
}

static void test_horizon_of_an_empty_scan_stays(void **state)
{
    (void)state;
    assert_int_equal(ss_retention_horizon(7, NULL, NULL, 0, 1000), 7);
}

static void test_horizon_stops_at_the_first_young_row(void **state)
{
    (void)state;
    const int64_t ids[] = {10, 10, 11, 12, 13};
    const bool old[] = {true, true, true, false, true};
    /* 13 is old but lies above a young row: it waits until 12 is old too. */
    assert_int_equal(ss_retention_horizon(10, ids, old, 5, 1000), 12);
}

static void test_horizon_when_the_first_row_is_young_stays(void **state)
{
    (void)state;
    const int64_t ids[] = {10, 11};
    const bool old[] = {false, true};
    assert_int_equal(ss_retention_horizon(10, ids, old, 2, 1000), 10);
}

static void test_horizon_passes_the_last_id_when_the_scan_saw_the_end(void **state)
{
    (void)state;
    const int64_t ids[] = {3, 4, 4};
    const bool old[] = {true, true, true};
    assert_int_equal(ss_retention_horizon(0, ids, old, 3, 1000), 5);
}

static void test_horizon_of_a_full_scan_keeps_the_last_id_whose_rows_may_go_on(void **state)
{
    (void)state;
    /* A third row of order 4 may lie beyond the scan: order 4 must not fall below the horizon. */
    const int64_t ids[] = {3, 4};
    const bool old[] = {true, true};
    assert_int_equal(ss_retention_horizon(0, ids, old, 2, 2), 4);
}

static void test_horizon_never_moves_down(void **state)
{
    (void)state;
    const int64_t ids[] = {3};
    const bool young[] = {false};
    const bool old[] = {true};
    assert_int_equal(ss_retention_horizon(9, ids, young, 1, 10), 9);
    assert_int_equal(ss_retention_horizon(9, ids, old, 1, 10), 9);
}

/* Loads the worker's shared options from an argv, as ss_worker_main() does, and checks them. */
static ss_err_t worker_options_load(int argc, char **argv, ss_worker_config_t *config, char *errstr,
                                    size_t errstr_size)
{
    ss_config_option_t options[SS_WORKER_CONFIG_OPTION_COUNT];
    memset(config, 0, sizeof(*config));
    ss_worker_config_options(options, config, "ss-test-worker", "ss.test");
    ss_err_t err =
        ss_config_load(options, SS_WORKER_CONFIG_OPTION_COUNT, argc, argv, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_worker_config_check(config, errstr, errstr_size);
    }
    ss_config_free(options, SS_WORKER_CONFIG_OPTION_COUNT);
    return err;
}

static void test_worker_retention_defaults_are_documented_values(void **state)
{
    (void)state;
    char *argv[] = {"worker", NULL};
    ss_worker_config_t config;
    char errstr[256] = "";
    assert_int_equal(worker_options_load(1, argv, &config, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(config.idempotency_retention_s, 86400);
    assert_int_equal(config.result_retention_s, 604800);
    assert_int_equal(config.retention_interval_ms, 60000);
    assert_int_equal(config.retention_rows_max, 1000);
}

static void test_worker_result_retention_under_key_retention_is_refused(void **state)
{
    (void)state;
    char *argv[] = {"worker", "--result-retention-s=3600", NULL};
    ss_worker_config_t config;
    char errstr[256] = "";
    assert_int_equal(worker_options_load(2, argv, &config, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "SS_RESULT_RETENTION_S=3600"));
}

static void test_worker_retention_rows_out_of_range_are_refused(void **state)
{
    (void)state;
    char errstr[256] = "";
    ss_worker_config_t config;
    char *zero[] = {"worker", "--retention-rows-max=0", NULL};
    assert_int_equal(worker_options_load(2, zero, &config, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "out of range"));
    char *fast[] = {"worker", "--retention-interval-ms=10", NULL};
    assert_int_equal(worker_options_load(2, fast, &config, errstr, sizeof(errstr)), SS_ERR_INVALID);
    char *ok[] = {"worker", "--retention-interval-ms=200", "--idempotency-retention-s=120",
                  "--result-retention-s=120", NULL};
    assert_int_equal(worker_options_load(4, ok, &config, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(config.retention_interval_ms, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_retention_shorter_than_key_retention_is_refused),
        cmocka_unit_test(test_retention_below_the_minimum_is_refused),
        cmocka_unit_test(test_timer_is_due_at_once_then_after_the_interval),
        cmocka_unit_test(test_timer_after_a_full_batch_is_due_at_once),
        cmocka_unit_test(test_horizon_of_an_empty_scan_stays),
        cmocka_unit_test(test_horizon_stops_at_the_first_young_row),
        cmocka_unit_test(test_horizon_when_the_first_row_is_young_stays),
        cmocka_unit_test(test_horizon_passes_the_last_id_when_the_scan_saw_the_end),
        cmocka_unit_test(test_horizon_of_a_full_scan_keeps_the_last_id_whose_rows_may_go_on),
        cmocka_unit_test(test_horizon_never_moves_down),
        cmocka_unit_test(test_worker_retention_defaults_are_documented_values),
        cmocka_unit_test(test_worker_result_retention_under_key_retention_is_refused),
        cmocka_unit_test(test_worker_retention_rows_out_of_range_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
