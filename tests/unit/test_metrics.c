/*
 * Unit tests of ss/metrics.h: values, labels and their escaping, histogram buckets, the bounds
 * on series and families, re-registration, hiding, exact totals under concurrent updates, and
 * an exposition that the text format's grammar accepts (tests/support/ss_test_prom.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_prom.h"

#include "ss/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define ADDS_PER_THREAD 50000

static char *render(ss_metrics_t *metrics)
{
    char *text = NULL;
    size_t length = 0;
    char errstr[256];
    assert_int_equal(ss_metrics_render(metrics, &text, &length, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(strlen(text), length);
    if (ss_test_prom_check(text, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("%s\n%s", errstr, text);
    }
    return text;
}

static ss_metrics_t *registry(void)
{
    ss_metrics_t *metrics = NULL;
    assert_int_equal(ss_metrics_create(&metrics, NULL, 0), SS_OK);
    return metrics;
}

static void test_counter_with_labels_renders_help_type_and_one_line_per_series(void **state)
{
    (void)state;
    ss_metrics_t *metrics = registry();
    static const char *const labels[] = {"route", "status"};
    const ss_metrics_spec_t spec = {
        "ss_requests_total", "Requests", SS_METRICS_COUNTER, labels, 2, NULL, 0};
    ss_metrics_family_t *family = ss_metrics_family(metrics, &spec);
    const char *const ok[] = {"/orders", "200"};
    const char *const refused[] = {"/orders", "409"};
    ss_metrics_add(ss_metrics_series(family, ok), 2);
    ss_metrics_add(ss_metrics_series(family, ok), 1);
    ss_metrics_add(ss_metrics_series(family, refused), 1);
    char *text = render(metrics);
    assert_non_null(strstr(text, "# HELP ss_requests_total Requests\n"
                                 "# TYPE ss_requests_total counter\n"
                                 "ss_requests_total{route=\"/orders\",status=\"200\"} 3\n"
                                 "ss_requests_total{route=\"/orders\",status=\"409\"} 1\n"));
    bool found = false;
    assert_true(ss_test_prom_value(text, "ss_requests_total", "status=\"200\"", &found) == 3);
    assert_true(found);
    assert_true(ss_test_prom_value(text, "ss_requests_total", "", &found) == 4);
    free(text);
    ss_metrics_destroy(metrics);
}

static void test_a_family_without_labels_is_rendered_as_zero_before_any_update(void **state)
{
    (void)state;
    ss_metrics_t *metrics = registry();
    const ss_metrics_spec_t spec = {"ss_rows", "Rows", SS_METRICS_GAUGE, NULL, 0, NULL, 0};
    assert_non_null(ss_metrics_family(metrics, &spec));
    char *text = render(metrics);
    assert_non_null(strstr(text, "\nss_rows 0\n"));
    free(text);
    ss_metrics_destroy(metrics);
}

static void test_gauge_set_add_and_fractions_read_back_exactly(void **state)
{
    (void)state;
    ss_metrics_t *metrics = registry();
    const ss_metrics_spec_t spec = {"ss_age_seconds", "Age", SS_METRICS_GAUGE, NULL, 0, NULL, 0};
    ss_metrics_series_t *age = ss_metrics_series(ss_metrics_family(metrics, &spec), NULL);
    ss_metrics_set(age, 10);
    ss_metrics_add(age, -2.5);
    assert_true(ss_metrics_value(age) == 7.5);
    ss_metrics_set(age, 0.1);
    char *text = render(metrics);
    assert_non_null(strstr(text, "\nss_age_seconds 0.1\n"));
    free(text);
    ss_metrics_destroy(metrics);
}

static void test_histogram_buckets_are_cumulative_with_inf_sum_and_count(void **state)
{
    (void)state;
    ss_metrics_t *metrics = registry();
    static const double buckets[] = {0.005, 0.1, 1};
    const ss_metrics_spec_t spec = {
        "ss_duration_seconds", "Duration", SS_METRICS_HISTOGRAM, NULL, 0, buckets, 3};
    ss_metrics_series_t *series = ss_metrics_series(ss_metrics_family(metrics, &spec), NULL);
    ss_metrics_observe(series, 0.005); /* on a bound: counts in that bucket */
    ss_metrics_observe(series, 0.05);
    ss_metrics_observe(series, 0.5);
    ss_metrics_observe(series, 7);
    assert_int_equal(ss_metrics_count(series), 4);
    char *text = render(metrics);
    assert_non_null(strstr(text, "ss_duration_seconds_bucket{le=\"0.005\"} 1\n"
                                 "ss_duration_seconds_bucket{le=\"0.1\"} 2\n"
                                 "ss_duration_seconds_bucket{le=\"1\"} 3\n"
                                 "ss_duration_seconds_bucket{le=\"+Inf\"} 4\n"
                                 "ss_duration_seconds_sum 7.555\n"
                                 "ss_duration_seconds_count 4\n"));
    free(text);
    ss_metrics_destroy(metrics);
}

static void test_label_values_are_escaped_and_cut_to_the_bound(void **state)
{
    (void)state;
    ss_metrics_t *metrics = registry();
    static const char *const labels[] = {"reason"};
    const ss_metrics_spec_t spec = {
        "ss_odd_total", "Back\\slash\nand newline", SS_METRICS_COUNTER, labels, 1, NULL, 0};
    ss_metrics_family_t *family = ss_metrics_family(metrics, &spec);
    const char *const odd[] = {"a \"quoted\" \\ value\nnext"};
    ss_metrics_add(ss_metrics_series(family, odd), 1);
    char long_value[SS_METRICS_LABEL_VALUE_BYTES_MAX * 2];
    memset(long_value, 'x', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    const char *const long_values[] = {long_value};
    ss_metrics_add(ss_metrics_series(family, long_values), 1);
    char *text = render(metrics);
    assert_non_null(strstr(text, "# HELP ss_odd_total Back\\\\slash\\nand newline\n"));
    assert_non_null(strstr(text, "{reason=\"a \\\"quoted\\\" \\\\ value\\nnext\"} 1\n"));
    char cut[SS_METRICS_LABEL_VALUE_BYTES_MAX + 32];
    snprintf(cut, sizeof(cut), "{reason=\"%.*s\"} 1\n", SS_METRICS_LABEL_VALUE_BYTES_MAX - 1,
             long_value);
    assert_non_null(strstr(text, cut));
    free(text);
    ss_metrics_destroy(metrics);
}

static void test_a_full_family_drops_new_series_and_counts_the_drops(void **state)
{
    (void)state;
    ss_metrics_t *metrics = registry();
    static const char *const labels[] = {"partition"};
    const ss_metrics_spec_t spec = {"ss_lag", "Lag", SS_METRICS_GAUGE, labels, 1, NULL, 0};
    ss_metrics_family_t *family = ss_metrics_family(metrics, &spec);
    char number[16];
    const char *const values[] = {number};
    for (int i = 0; i < SS_METRICS_SERIES_MAX; i++) {
        snprintf(number, sizeof(number), "%d", i);
        assert_non_null(ss_metrics_series(family, values));
    }
    snprintf(number, sizeof(number), "%d", SS_METRICS_SERIES_MAX);
    assert_null(ss_metrics_series(family, values));
    ss_metrics_set(ss_metrics_series(family, values), 5); /* a no-op, not a crash */
    snprintf(number, sizeof(number), "%d", 7);
    assert_non_null(ss_metrics_series(family, values)); /* existing ones still answer */
    char *text = render(metrics);
    assert_non_null(strstr(text, "\nss_metrics_series_dropped_total 2\n"));
    free(text);
    ss_metrics_destroy(metrics);
}

static void test_registering_a_name_again_returns_the_same_family(void **state)
{
    (void)state;
    ss_metrics_t *metrics = registry();
    const ss_metrics_spec_t spec = {"ss_once_total", "Once", SS_METRICS_COUNTER, NULL, 0, NULL, 0};
    ss_metrics_family_t *first = ss_metrics_family(metrics, &spec);
    assert_ptr_equal(ss_metrics_family(metrics, &spec), first);
    ss_metrics_add(ss_metrics_series(first, NULL), 1);
    assert_true(ss_metrics_value(ss_metrics_series(ss_metrics_family(metrics, &spec), NULL)) == 1);
    ss_metrics_destroy(metrics);
}

static void test_a_hidden_series_is_left_out_until_updated_again(void **state)
{
    (void)state;
    ss_metrics_t *metrics = registry();
    static const char *const labels[] = {"partition"};
    const ss_metrics_spec_t spec = {"ss_lag_records", "Lag", SS_METRICS_GAUGE, labels, 1, NULL, 0};
    const char *const three[] = {"3"};
    ss_metrics_series_t *series = ss_metrics_series(ss_metrics_family(metrics, &spec), three);
    ss_metrics_set(series, 9);
    ss_metrics_hide(series);
    char *text = render(metrics);
    assert_null(strstr(text, "ss_lag_records{"));
    free(text);
    ss_metrics_set(series, 4);
    text = render(metrics);
    assert_non_null(strstr(text, "ss_lag_records{partition=\"3\"} 4\n"));
    free(text);
    ss_metrics_destroy(metrics);
}

typedef struct adder {
    ss_metrics_family_t *counter;
    ss_metrics_series_t *histogram;
} adder_t;

static void *adder_main(void *opaque)
{
    adder_t *adder = opaque;
    const char *const values[] = {"shared"};
    for (int i = 0; i < ADDS_PER_THREAD; i++) {
        ss_metrics_add(ss_metrics_series(adder->counter, values), 1);
        ss_metrics_observe(adder->histogram, 1);
    }
    return NULL;
}

static void test_concurrent_updates_lose_nothing(void **state)
{
    (void)state;
    ss_metrics_t *metrics = registry();
    static const char *const labels[] = {"name"};
    static const double buckets[] = {1};
    const ss_metrics_spec_t counter = {
        "ss_adds_total", "Adds", SS_METRICS_COUNTER, labels, 1, NULL, 0};
    const ss_metrics_spec_t histogram = {"ss_obs", "Obs", SS_METRICS_HISTOGRAM, NULL, 0,
                                         buckets,  1};
    adder_t adder = {ss_metrics_family(metrics, &counter),
                     ss_metrics_series(ss_metrics_family(metrics, &histogram), NULL)};
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, adder_main, &adder), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    const char *const values[] = {"shared"};
    assert_true(ss_metrics_value(ss_metrics_series(adder.counter, values)) ==
                (double)THREADS * ADDS_PER_THREAD);
    assert_int_equal(ss_metrics_count(adder.histogram), THREADS * ADDS_PER_THREAD);
    assert_true(ss_metrics_value(adder.histogram) == (double)THREADS * ADDS_PER_THREAD);
    ss_metrics_destroy(metrics);
}

static void test_the_process_registry_says_up_and_its_build(void **state)
{
    (void)state;
    ss_metrics_t *process = ss_metrics_process();
    assert_non_null(process);
    assert_ptr_equal(ss_metrics_process(), process);
    char *text = render(process);
    assert_non_null(strstr(text, "\nss_up 1\n"));
    assert_non_null(strstr(text, "\nss_build_info{version=\""));
    free(text);
}

static void test_null_handles_are_no_ops(void **state)
{
    (void)state;
    const ss_metrics_spec_t spec = {"ss_none", "None", SS_METRICS_GAUGE, NULL, 0, NULL, 0};
    assert_null(ss_metrics_family(NULL, &spec));
    assert_null(ss_metrics_series(NULL, NULL));
    ss_metrics_add(NULL, 1);
    ss_metrics_set(NULL, 1);
    ss_metrics_observe(NULL, 1);
    ss_metrics_hide(NULL);
    assert_true(ss_metrics_value(NULL) == 0);
    assert_int_equal(ss_metrics_count(NULL), 0);
    ss_metrics_destroy(NULL);
}

static void test_the_grammar_check_refuses_malformed_lines(void **state)
{
    (void)state;
    char errstr[256];
    assert_int_equal(ss_test_prom_check("ss_x 1\n", errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(
        ss_test_prom_check("# TYPE ss_x gauge\nss_x{a=\"b} 1\n", errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_int_equal(ss_test_prom_check("# TYPE ss_x gauge\nss_x one\n", errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_test_prom_check("# TYPE ss_x gauge\nss_x 1", errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(
        ss_test_prom_check("# TYPE ss_x gauge\nss_x{a=\"\\q\"} 1\n", errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_int_equal(
        ss_test_prom_check("# TYPE ss_x gauge\nss_x{a=\"b\"} +Inf\n", errstr, sizeof(errstr)),
        SS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_with_labels_renders_help_type_and_one_line_per_series),
        cmocka_unit_test(test_a_family_without_labels_is_rendered_as_zero_before_any_update),
        cmocka_unit_test(test_gauge_set_add_and_fractions_read_back_exactly),
        cmocka_unit_test(test_histogram_buckets_are_cumulative_with_inf_sum_and_count),
        cmocka_unit_test(test_label_values_are_escaped_and_cut_to_the_bound),
        cmocka_unit_test(test_a_full_family_drops_new_series_and_counts_the_drops),
        cmocka_unit_test(test_registering_a_name_again_returns_the_same_family),
        cmocka_unit_test(test_a_hidden_series_is_left_out_until_updated_again),
        cmocka_unit_test(test_concurrent_updates_lose_nothing),
        cmocka_unit_test(test_the_process_registry_says_up_and_its_build),
        cmocka_unit_test(test_null_handles_are_no_ops),
        cmocka_unit_test(test_the_grammar_check_refuses_malformed_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
