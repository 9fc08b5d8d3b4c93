/*
 * Unit tests for lib/src/clock.c: ISO 8601 formatting and strict parsing (round trips, leap
 * years, refused strings), day numbers and day strings checked against gmtime_r, clock
 * readings, and the id generator (layout, sequence overflow, backwards clock, 4 threads).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TEST_THREADS 4
#define TEST_IDS_PER_THREAD 100000

static int64_t parse_ok(const char *text)
{
    char errstr[256] = "";
    int64_t ms = -1;
    const ss_err_t err = ss_clock_parse_iso8601(text, &ms, errstr, sizeof(errstr));
    if (err != SS_OK) {
        fail_msg("'%s' refused: %s", text, errstr);
    }
    return ms;
}

/* Asserts the text is refused and that the message contains the expected reason. */
static void assert_parse_refused(const char *text, const char *reason)
{
    char errstr[256] = "";
    int64_t ms = 12345;
    const ss_err_t err = ss_clock_parse_iso8601(text, &ms, errstr, sizeof(errstr));
    if (err != SS_ERR_INVALID) {
        fail_msg("'%s' was accepted as %lld", text, (long long)ms);
    }
    assert_int_equal(ms, 12345);
    if (strstr(errstr, reason) == NULL) {
        fail_msg("'%s': message '%s' lacks '%s'", text, errstr, reason);
    }
    assert_non_null(strstr(errstr, "not an ISO 8601 UTC time: "));
}

static void test_format_known_instants(void **state)
{
    (void)state;
    char out[SS_CLOCK_ISO8601_MS_SIZE];
    char errstr[128];
    assert_int_equal(ss_clock_format_iso8601(0, out, sizeof(out), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    assert_int_equal(
        ss_clock_format_iso8601(1798761599999, out, sizeof(out), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(out, "2026-12-31T23:59:59Z");
    assert_int_equal(
        ss_clock_format_iso8601_ms(1798761599999, out, sizeof(out), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(out, "2026-12-31T23:59:59.999Z");
    assert_int_equal(
        ss_clock_format_iso8601_ms(1709208000007, out, sizeof(out), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(out, "2024-02-29T12:00:00.007Z");
    assert_int_equal(
        ss_clock_format_iso8601_ms(SS_CLOCK_MS_MAX, out, sizeof(out), errstr, sizeof(errstr)),
        SS_OK);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
}

static void test_format_refuses_out_of_range_and_small_buffers(void **state)
{
    (void)state;
    char out[SS_CLOCK_ISO8601_MS_SIZE] = "junk";
    char errstr[128];
    assert_int_equal(ss_clock_format_iso8601(-1, out, sizeof(out), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(out, "");
    assert_string_equal(errstr, "timestamp -1 ms is outside years 1970..9999");
    assert_int_equal(
        ss_clock_format_iso8601(SS_CLOCK_MS_MAX + 1, out, sizeof(out), errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_int_equal(
        ss_clock_format_iso8601(0, out, SS_CLOCK_ISO8601_SIZE - 1, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "buffer of 20 bytes is too small, 21 needed");
    assert_int_equal(
        ss_clock_format_iso8601_ms(0, out, SS_CLOCK_ISO8601_SIZE, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_int_equal(ss_clock_format_day(0, out, SS_CLOCK_DAY_SIZE - 1, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_clock_format_day(-5, out, sizeof(out), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

static void test_parse_known_instants(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2026-12-31T23:59:59Z"), 1798761599000);
    assert_int_equal(parse_ok("2026-12-31T23:59:59+00:00"), 1798761599000);
    assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), 951782400000);
    assert_int_equal(parse_ok("9999-12-31T23:59:59.999Z"), SS_CLOCK_MS_MAX);
}

static void test_parse_fraction_is_truncated_to_milliseconds(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00.5Z"), 500);
    assert_int_equal(parse_ok("1970-01-01T00:00:00.05Z"), 50);
    assert_int_equal(parse_ok("1970-01-01T00:00:00.123Z"), 123);
    assert_int_equal(parse_ok("1970-01-01T00:00:00.123999999Z"), 123);
    assert_int_equal(parse_ok("1970-01-01T00:00:01.000+00:00"), 1000);
}

static void test_leap_years_follow_the_gregorian_rules(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2024-02-29T12:00:00Z"), 1709208000000);
    assert_int_equal(parse_ok("2000-02-29T00:00:00Z") + SS_CLOCK_DAY_MS,
                     parse_ok("2000-03-01T00:00:00Z"));
    assert_parse_refused("2025-02-29T00:00:00Z", "day 29 does not exist in 2025-02");
    assert_parse_refused("2100-02-29T00:00:00Z", "day 29 does not exist in 2100-02");
    assert_int_equal(parse_ok("2400-02-29T00:00:00Z") + SS_CLOCK_DAY_MS,
                     parse_ok("2400-03-01T00:00:00Z"));
    assert_int_equal(parse_ok("2026-03-01T00:00:00Z") - parse_ok("2026-02-28T00:00:00Z"),
                     SS_CLOCK_DAY_MS);
}

static void test_parse_refuses_bad_strings(void **state)
{
    (void)state;
    const char *const shape = "expected YYYY-MM-DDTHH:MM:SS and Z or +00:00";
    assert_parse_refused("", shape);
    assert_parse_refused("2026-12-31", shape);
    assert_parse_refused("2026-12-31 23:59:59Z", shape);
    assert_parse_refused("2026-12-31t23:59:59Z", shape);
    assert_parse_refused("2026/12/31T23:59:59Z", shape);
    assert_parse_refused("26-12-31T23:59:59Z", shape);
    assert_parse_refused("2026-1-31T23:59:59Z", shape);
    assert_parse_refused("2026-12-31T23:59Z", shape);
    assert_parse_refused("2026-12-31T23:5a:59Z", shape);
    assert_parse_refused(" 2026-12-31T23:59:59Z", shape);
    assert_parse_refused("2026-12-31T23:59:59", "the offset is missing (Z or +00:00)");
    assert_parse_refused("2026-12-31T23:59:59z", "expected Z or +00:00 after the seconds");
    assert_parse_refused("2026-12-31T23:59:59+09:00", "offset +09:00 is not UTC");
    assert_parse_refused("2026-12-31T23:59:59-00:00", "offset -00:00 is not UTC");
    assert_parse_refused("2026-12-31T23:59:59Z ", "unexpected text after the offset");
    assert_parse_refused("2026-12-31T23:59:59ZZ", "unexpected text after the offset");
    assert_parse_refused("2026-12-31T23:59:59+00:00Z", "unexpected text after the offset");
    assert_parse_refused("2026-12-31T23:59:59.Z", "fraction of a second needs 1 to 9 digits");
    assert_parse_refused("2026-12-31T23:59:59.1234567890Z",
                         "fraction of a second needs 1 to 9 digits");
}

static void test_parse_refuses_out_of_range_fields(void **state)
{
    (void)state;
    assert_parse_refused("1969-12-31T23:59:59Z", "year 1969 is out of range 1970..9999");
    assert_parse_refused("0000-01-01T00:00:00Z", "year 0000 is out of range");
    assert_parse_refused("2026-00-10T00:00:00Z", "month 00 is out of range 01..12");
    assert_parse_refused("2026-13-10T00:00:00Z", "month 13 is out of range 01..12");
    assert_parse_refused("2026-04-31T00:00:00Z", "day 31 does not exist in 2026-04");
    assert_parse_refused("2026-04-00T00:00:00Z", "day 00 does not exist in 2026-04");
    assert_parse_refused("2026-04-10T24:00:00Z", "hour 24 is out of range 00..23");
    assert_parse_refused("2026-04-10T23:60:00Z", "minute 60 is out of range 00..59");
    assert_parse_refused("2016-12-31T23:59:60Z", "second 60 is out of range 00..59");
}

static void test_format_and_parse_round_trip(void **state)
{
    (void)state;
    /* A stride that is prime to every unit walks through all digits of every field. */
    const int64_t stride = 7919LL * 1000003LL + 1;
    for (int64_t ms = 0; ms <= SS_CLOCK_MS_MAX; ms += stride) {
        char text[SS_CLOCK_ISO8601_MS_SIZE];
        char errstr[128];
        assert_int_equal(ss_clock_format_iso8601_ms(ms, text, sizeof(text), errstr, sizeof(errstr)),
                         SS_OK);
        assert_int_equal(parse_ok(text), ms);
        assert_int_equal(ss_clock_format_iso8601(ms, text, sizeof(text), errstr, sizeof(errstr)),
                         SS_OK);
        assert_int_equal(parse_ok(text), ms - ms % 1000);
    }
}

static void test_dates_agree_with_gmtime(void **state)
{
    (void)state;
    /* Every day of 1999..2101 and every 97th day of the whole range. */
    const int64_t dense_first = 10592; /* 1999-01-01 */
    const int64_t dense_last = 48212;  /* 2101-12-31 */
    const int64_t last_day = 2932896;  /* 9999-12-31 */
    for (int64_t day = 0; day <= last_day;
         day += (day >= dense_first && day < dense_last) ? 1 : 97) {
        const time_t seconds = (time_t)(day * 86400 + 43210);
        struct tm tm;
        assert_non_null(gmtime_r(&seconds, &tm));
        char expected[64];
        snprintf(expected, sizeof(expected), "%04d-%02d-%02dT12:00:10Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday);
        char text[SS_CLOCK_ISO8601_SIZE];
        char errstr[128];
        assert_int_equal(ss_clock_format_iso8601((int64_t)seconds * 1000, text, sizeof(text),
                                                 errstr, sizeof(errstr)),
                         SS_OK);
        assert_string_equal(text, expected);
        assert_int_equal(parse_ok(expected), (int64_t)seconds * 1000);
    }
}

static void test_day_number_and_day_string(void **state)
{
    (void)state;
    char out[SS_CLOCK_DAY_SIZE];
    char errstr[128];
    assert_int_equal(ss_clock_day_from_ms(0), 0);
    assert_int_equal(ss_clock_day_from_ms(SS_CLOCK_DAY_MS - 1), 0);
    assert_int_equal(ss_clock_day_from_ms(SS_CLOCK_DAY_MS), 1);
    assert_int_equal(ss_clock_day_from_ms(-1), -1);
    assert_int_equal(ss_clock_day_from_ms(1798761599000), 20818);
    assert_int_equal(ss_clock_day_start_ms(20818), 1798675200000);
    assert_int_equal(ss_clock_format_day(1798761599000, out, sizeof(out), errstr, sizeof(errstr)),
                     SS_OK);
    assert_string_equal(out, "2026-12-31");
    assert_int_equal(ss_clock_format_day(1798761600000, out, sizeof(out), errstr, sizeof(errstr)),
                     SS_OK);
    assert_string_equal(out, "2027-01-01");
}

static void test_parse_day(void **state)
{
    (void)state;
    char errstr[128];
    int64_t day = -1;
    assert_int_equal(ss_clock_parse_day("2026-12-31", &day, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(day, 20818);
    assert_int_equal(ss_clock_parse_day("1970-01-01", &day, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(day, 0);
    assert_int_equal(ss_clock_parse_day("2026-12-31T00:00:00Z", &day, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "not a date: expected YYYY-MM-DD");
    assert_int_equal(ss_clock_parse_day("2026-12-3", &day, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_clock_parse_day("2026-12-3x", &day, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "not a date: expected YYYY-MM-DD");
    assert_int_equal(ss_clock_parse_day("2025-02-29", &day, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "not a date: day 29 does not exist in 2025-02");
    assert_int_equal(day, 0);
}

static void test_clock_readings_are_sane(void **state)
{
    (void)state;
    struct timespec before;
    struct timespec after;
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &before), 0);
    const int64_t now_ms = ss_clock_now_ms();
    const int64_t now_us = ss_clock_now_us();
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &after), 0);
    assert_true(now_ms >= (int64_t)before.tv_sec * 1000);
    assert_true(now_ms <= (int64_t)after.tv_sec * 1000 + 999);
    assert_true(now_us / 1000 >= now_ms);
    assert_true(now_us <= (int64_t)after.tv_sec * 1000000 + after.tv_nsec / 1000);

    int64_t previous_us = ss_clock_monotonic_us();
    for (int i = 0; i < 1000; i++) {
        const int64_t current_us = ss_clock_monotonic_us();
        assert_true(current_us >= previous_us);
        previous_us = current_us;
    }
    assert_true(ss_clock_monotonic_ms() >= previous_us / 1000);
}

static void test_id_layout_and_split(void **state)
{
    (void)state;
    char errstr[128];
    ss_clock_id_t *generator = NULL;
    assert_int_equal(ss_clock_id_create(1023, &generator, errstr, sizeof(errstr)), SS_OK);
    const int64_t at = SS_CLOCK_ID_EPOCH_MS + 5;
    const int64_t first = ss_clock_id_next_at(generator, at);
    assert_int_equal(first, (INT64_C(5) << 22) | (INT64_C(1023) << 12));
    const int64_t second = ss_clock_id_next_at(generator, at);
    int64_t unix_ms = 0;
    unsigned instance = 0;
    unsigned sequence = 0;
    ss_clock_id_split(second, &unix_ms, &instance, &sequence);
    assert_int_equal(unix_ms, at);
    assert_int_equal(instance, 1023);
    assert_int_equal(sequence, 1);
    ss_clock_id_split(second, NULL, NULL, NULL);
    ss_clock_id_destroy(generator);
}

static void test_id_instance_over_1023_is_refused(void **state)
{
    (void)state;
    char errstr[128];
    ss_clock_id_t *generator = (ss_clock_id_t *)&errstr;
    assert_int_equal(ss_clock_id_create(1024, &generator, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_null(generator);
    assert_string_equal(errstr, "id instance 1024 is out of range 0..1023");
    ss_clock_id_destroy(NULL);
}

static void test_id_moves_to_next_millisecond_when_sequence_runs_out(void **state)
{
    (void)state;
    char errstr[128];
    ss_clock_id_t *generator = NULL;
    assert_int_equal(ss_clock_id_create(3, &generator, errstr, sizeof(errstr)), SS_OK);
    const int64_t at = 1798761599000;
    int64_t previous = 0;
    for (unsigned i = 0; i <= SS_CLOCK_ID_SEQUENCE_MAX; i++) {
        const int64_t id = ss_clock_id_next_at(generator, at);
        unsigned sequence = 0;
        ss_clock_id_split(id, NULL, NULL, &sequence);
        assert_int_equal(sequence, i);
        assert_true(id > previous);
        previous = id;
    }
    const int64_t borrowed = ss_clock_id_next_at(generator, at);
    int64_t unix_ms = 0;
    unsigned sequence = 99;
    ss_clock_id_split(borrowed, &unix_ms, NULL, &sequence);
    assert_int_equal(unix_ms, at + 1);
    assert_int_equal(sequence, 0);
    assert_true(borrowed > previous);
    /* The clock reaching the borrowed millisecond continues its sequence. */
    const int64_t next = ss_clock_id_next_at(generator, at + 1);
    ss_clock_id_split(next, &unix_ms, NULL, &sequence);
    assert_int_equal(unix_ms, at + 1);
    assert_int_equal(sequence, 1);
    ss_clock_id_destroy(generator);
}

static void test_id_stays_increasing_when_clock_steps_back(void **state)
{
    (void)state;
    char errstr[128];
    ss_clock_id_t *generator = NULL;
    assert_int_equal(ss_clock_id_create(0, &generator, errstr, sizeof(errstr)), SS_OK);
    const int64_t late = ss_clock_id_next_at(generator, 1798761599000);
    const int64_t early = ss_clock_id_next_at(generator, 1798761599000 - 60000);
    assert_true(early > late);
    const int64_t before_epoch = ss_clock_id_next_at(generator, 0);
    assert_true(before_epoch > early);
    ss_clock_id_destroy(generator);
}

static void test_id_from_the_wall_clock_never_runs_ahead_of_it(void **state)
{
    (void)state;
    char errstr[128];
    ss_clock_id_t *generator = NULL;
    assert_int_equal(ss_clock_id_create(9, &generator, errstr, sizeof(errstr)), SS_OK);
    const int64_t start_ms = ss_clock_now_ms();
    int64_t previous = 0;
    /* Several milliseconds' worth of sequence, so the generator must wait at least once. */
    for (int i = 0; i < 5 * 4096; i++) {
        const int64_t id = ss_clock_id_next(generator);
        assert_true(id > previous);
        previous = id;
    }
    int64_t unix_ms = 0;
    unsigned instance = 0;
    ss_clock_id_split(previous, &unix_ms, &instance, NULL);
    assert_int_equal(instance, 9);
    assert_true(unix_ms >= start_ms + 4);
    assert_true(unix_ms <= ss_clock_now_ms());
    ss_clock_id_destroy(generator);
}

typedef struct id_thread {
    ss_clock_id_t *generator;
    int64_t *ids;
} id_thread_t;

static void *id_thread_main(void *arg)
{
    id_thread_t *thread = arg;
    for (int i = 0; i < TEST_IDS_PER_THREAD; i++) {
        thread->ids[i] = ss_clock_id_next(thread->generator);
    }
    return NULL;
}

static int compare_ids(const void *a, const void *b)
{
    const int64_t left = *(const int64_t *)a;
    const int64_t right = *(const int64_t *)b;
    return (left > right) - (left < right);
}

static void test_ids_are_unique_and_increasing_across_threads(void **state)
{
    (void)state;
    char errstr[128];
    ss_clock_id_t *generator = NULL;
    assert_int_equal(ss_clock_id_create(77, &generator, errstr, sizeof(errstr)), SS_OK);
    int64_t *ids = calloc((size_t)TEST_THREADS * TEST_IDS_PER_THREAD, sizeof(*ids));
    assert_non_null(ids);
    pthread_t threads[TEST_THREADS];
    id_thread_t args[TEST_THREADS];
    for (int t = 0; t < TEST_THREADS; t++) {
        args[t].generator = generator;
        args[t].ids = ids + (size_t)t * TEST_IDS_PER_THREAD;
        assert_int_equal(pthread_create(&threads[t], NULL, id_thread_main, &args[t]), 0);
    }
    for (int t = 0; t < TEST_THREADS; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    }
    for (int t = 0; t < TEST_THREADS; t++) {
        for (int i = 1; i < TEST_IDS_PER_THREAD; i++) {
            assert_true(args[t].ids[i] > args[t].ids[i - 1]);
        }
    }
    const size_t total = (size_t)TEST_THREADS * TEST_IDS_PER_THREAD;
    qsort(ids, total, sizeof(*ids), compare_ids);
    assert_true(ids[0] > 0);
    for (size_t i = 1; i < total; i++) {
        assert_true(ids[i] > ids[i - 1]);
    }
    free(ids);
    ss_clock_id_destroy(generator);
}

static void test_backoff_doubles_from_the_minimum_up_to_the_maximum(void **state)
{
    (void)state;
    assert_int_equal(ss_clock_backoff_ms(100, 5000, -1), 100);
    assert_int_equal(ss_clock_backoff_ms(100, 5000, 0), 100);
    assert_int_equal(ss_clock_backoff_ms(100, 5000, 1), 200);
    assert_int_equal(ss_clock_backoff_ms(100, 5000, 5), 3200);
    assert_int_equal(ss_clock_backoff_ms(100, 5000, 6), 5000);
    assert_int_equal(ss_clock_backoff_ms(100, 5000, 1000000), 5000);
    assert_int_equal(ss_clock_backoff_ms(100, 50, 0), 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known_instants),
        cmocka_unit_test(test_format_refuses_out_of_range_and_small_buffers),
        cmocka_unit_test(test_parse_known_instants),
        cmocka_unit_test(test_parse_fraction_is_truncated_to_milliseconds),
        cmocka_unit_test(test_leap_years_follow_the_gregorian_rules),
        cmocka_unit_test(test_parse_refuses_bad_strings),
        cmocka_unit_test(test_parse_refuses_out_of_range_fields),
        cmocka_unit_test(test_format_and_parse_round_trip),
        cmocka_unit_test(test_dates_agree_with_gmtime),
        cmocka_unit_test(test_day_number_and_day_string),
        cmocka_unit_test(test_parse_day),
        cmocka_unit_test(test_clock_readings_are_sane),
        cmocka_unit_test(test_id_layout_and_split),
        cmocka_unit_test(test_id_instance_over_1023_is_refused),
        cmocka_unit_test(test_id_moves_to_next_millisecond_when_sequence_runs_out),
        cmocka_unit_test(test_id_stays_increasing_when_clock_steps_back),
        cmocka_unit_test(test_id_from_the_wall_clock_never_runs_ahead_of_it),
        cmocka_unit_test(test_ids_are_unique_and_increasing_across_threads),
        cmocka_unit_test(test_backoff_doubles_from_the_minimum_up_to_the_maximum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
