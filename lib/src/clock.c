/*
 * Clock readings, ISO 8601 UTC conversion and the id generator. Dates are converted with the
 * proleptic Gregorian day-count arithmetic (Howard Hinnant's days_from_civil and
 * civil_from_days), which needs no tables, no time zone and no libc state (gmtime/timegm).
 */
#include "ss/clock.h"

#include "ss/assert.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLOCK_YEAR_MIN 1970
#define CLOCK_YEAR_MAX 9999
#define CLOCK_FRACTION_DIGITS_MAX 9

/* How long ss_clock_id_next() waits for the next millisecond before borrowing it. */
#define CLOCK_ID_WAIT_STEP_US 100
#define CLOCK_ID_WAITS_MAX 50
#define CLOCK_ID_TIMESTAMP_BITS 41

static int64_t clock_read_us(clockid_t id)
{
    struct timespec now;
    /* clock_gettime only fails for an unknown clock id, which would be a bug here. */
    const int rc = clock_gettime(id, &now);
    SS_ASSERT(rc == 0);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

int64_t ss_clock_now_ms(void)
{
    return clock_read_us(CLOCK_REALTIME) / 1000;
}

int64_t ss_clock_now_us(void)
{
    return clock_read_us(CLOCK_REALTIME);
}

int64_t ss_clock_monotonic_ms(void)
{
    return clock_read_us(CLOCK_MONOTONIC) / 1000;
}

int64_t ss_clock_monotonic_us(void)
{
    return clock_read_us(CLOCK_MONOTONIC);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (year >= 0). */
static int64_t clock_days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2 ? 1 : 0;
    const int64_t era = year / 400;
    const int64_t year_of_era = year - era * 400;
    const int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const int64_t day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* The date of a day number >= 0 (days since 1970-01-01). */
static void clock_civil_from_days(int64_t days, int *year_out, int *month_out, int *day_out)
{
    days += 719468;
    const int64_t era = days / 146097;
    const int64_t day_of_era = days - era * 146097;
    const int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const int64_t day_of_year =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const int64_t month_shifted = (5 * day_of_year + 2) / 153;
    const int month = (int)(month_shifted < 10 ? month_shifted + 3 : month_shifted - 9);
    *day_out = (int)(day_of_year - (153 * month_shifted + 2) / 5 + 1);
    *month_out = month;
    *year_out = (int)(year_of_era + era * 400 + (month <= 2 ? 1 : 0));
}

static bool clock_is_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int clock_days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && clock_is_leap_year(year)) {
        return 29;
    }
    return days[month - 1];
}

int64_t ss_clock_day_from_ms(int64_t unix_ms)
{
    int64_t day = unix_ms / SS_CLOCK_DAY_MS;
    if (unix_ms % SS_CLOCK_DAY_MS < 0) {
        day--;
    }
    return day;
}

int64_t ss_clock_day_start_ms(int64_t day)
{
    return day * SS_CLOCK_DAY_MS;
}

/* Checks range and buffer size shared by the formatters; clears out on failure. */
static ss_err_t clock_format_check(int64_t unix_ms, char *out, size_t out_size, size_t needed,
                                   char *errstr, size_t errstr_size)
{
    SS_ASSERT(out != NULL || out_size == 0);
    if (out_size > 0) {
        out[0] = '\0';
    }
    if (unix_ms < SS_CLOCK_MS_MIN || unix_ms > SS_CLOCK_MS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "timestamp %lld ms is outside years 1970..9999", (long long)unix_ms);
    }
    if (out_size < needed) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "buffer of %zu bytes is too small, %zu needed", out_size, needed);
    }
    return SS_OK;
}

static ss_err_t clock_format(int64_t unix_ms, bool with_ms, char *out, size_t out_size,
                             char *errstr, size_t errstr_size)
{
    const size_t needed = with_ms ? SS_CLOCK_ISO8601_MS_SIZE : SS_CLOCK_ISO8601_SIZE;
    const ss_err_t err = clock_format_check(unix_ms, out, out_size, needed, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    int year = 0;
    int month = 0;
    int day = 0;
    clock_civil_from_days(ss_clock_day_from_ms(unix_ms), &year, &month, &day);
    const int64_t ms_of_day = unix_ms % SS_CLOCK_DAY_MS;
    const int hour = (int)(ms_of_day / 3600000);
    const int minute = (int)(ms_of_day / 60000 % 60);
    const int second = (int)(ms_of_day / 1000 % 60);
    const int millisecond = (int)(ms_of_day % 1000);
    if (with_ms) {
        snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month, day, hour,
                 minute, second, millisecond);
    } else {
        snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, day, hour, minute,
                 second);
    }
    return SS_OK;
}

ss_err_t ss_clock_format_iso8601(int64_t unix_ms, char *out, size_t out_size, char *errstr,
                                 size_t errstr_size)
{
    return clock_format(unix_ms, false, out, out_size, errstr, errstr_size);
}

ss_err_t ss_clock_format_iso8601_ms(int64_t unix_ms, char *out, size_t out_size, char *errstr,
                                    size_t errstr_size)
{
    return clock_format(unix_ms, true, out, out_size, errstr, errstr_size);
}

ss_err_t ss_clock_format_day(int64_t unix_ms, char *out, size_t out_size, char *errstr,
                             size_t errstr_size)
{
    const ss_err_t err =
        clock_format_check(unix_ms, out, out_size, SS_CLOCK_DAY_SIZE, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    int year = 0;
    int month = 0;
    int day = 0;
    clock_civil_from_days(ss_clock_day_from_ms(unix_ms), &year, &month, &day);
    snprintf(out, out_size, "%04d-%02d-%02d", year, month, day);
    return SS_OK;
}

/* Reads exactly count decimal digits at text; false when any of them is not a digit. */
static bool clock_digits(const char *text, int count, int *value_out)
{
    int value = 0;
    for (int i = 0; i < count; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        value = value * 10 + (text[i] - '0');
    }
    *value_out = value;
    return true;
}

/* Parses and checks "YYYY-MM-DD" at text (10 characters); the day number goes to day_out. */
static ss_err_t clock_parse_date(const char *text, bool with_time, int64_t *day_out, char *errstr,
                                 size_t errstr_size)
{
    const char *what = with_time ? "an ISO 8601 UTC time" : "a date";
    int year = 0;
    int month = 0;
    int day = 0;
    if (!clock_digits(text, 4, &year) || text[4] != '-' || !clock_digits(text + 5, 2, &month) ||
        text[7] != '-' || !clock_digits(text + 8, 2, &day)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "not %s: expected YYYY-MM-DD%s",
                          what, with_time ? "THH:MM:SS and Z or +00:00" : "");
    }
    if (year < CLOCK_YEAR_MIN || year > CLOCK_YEAR_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: year %04d is out of range 1970..9999", what, year);
    }
    if (month < 1 || month > 12) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: month %02d is out of range 01..12", what, month);
    }
    if (day < 1 || day > clock_days_in_month(year, month)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: day %02d does not exist in %04d-%02d", what, day, year, month);
    }
    *day_out = clock_days_from_civil(year, month, day);
    return SS_OK;
}

ss_err_t ss_clock_parse_iso8601(const char *text, int64_t *unix_ms_out, char *errstr,
                                size_t errstr_size)
{
    static const char what[] = "an ISO 8601 UTC time";
    SS_ASSERT(text != NULL && unix_ms_out != NULL);
    /* Check the length of the fixed part first so that no read passes the terminator. */
    if (strnlen(text, 19) < 19) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: expected YYYY-MM-DDTHH:MM:SS and Z or +00:00", what);
    }
    int64_t day = 0;
    ss_err_t err = clock_parse_date(text, true, &day, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    int hour = 0;
    int minute = 0;
    int second = 0;
    if (text[10] != 'T' || !clock_digits(text + 11, 2, &hour) || text[13] != ':' ||
        !clock_digits(text + 14, 2, &minute) || text[16] != ':' ||
        !clock_digits(text + 17, 2, &second)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: expected YYYY-MM-DDTHH:MM:SS and Z or +00:00", what);
    }
    if (hour > 23) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: hour %02d is out of range 00..23", what, hour);
    }
    if (minute > 59) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: minute %02d is out of range 00..59", what, minute);
    }
    if (second > 59) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: second %02d is out of range 00..59", what, second);
    }

    const char *rest = text + 19;
    int millisecond = 0;
    if (*rest == '.') {
        rest++;
        int digits = 0;
        while (digits <= CLOCK_FRACTION_DIGITS_MAX && rest[digits] >= '0' && rest[digits] <= '9') {
            if (digits < 3) {
                millisecond = millisecond * 10 + (rest[digits] - '0');
            }
            digits++;
        }
        if (digits == 0 || digits > CLOCK_FRACTION_DIGITS_MAX) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "not %s: the fraction of a second needs 1 to 9 digits", what);
        }
        for (int i = digits; i < 3; i++) {
            millisecond *= 10;
        }
        rest += digits;
    }

    if (rest[0] == 'Z') {
        rest += 1;
    } else if (strncmp(rest, "+00:00", 6) == 0) {
        rest += 6;
    } else if (rest[0] == '\0') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: the offset is missing (Z or +00:00)", what);
    } else if (rest[0] == '+' || rest[0] == '-') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: offset %.6s is not UTC (use Z or +00:00)", what, rest);
    } else {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: expected Z or +00:00 after the seconds", what);
    }
    if (rest[0] != '\0') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not %s: unexpected text after the offset", what);
    }
    *unix_ms_out = day * SS_CLOCK_DAY_MS + (int64_t)hour * 3600000 + (int64_t)minute * 60000 +
                   (int64_t)second * 1000 + millisecond;
    return SS_OK;
}

ss_err_t ss_clock_parse_day(const char *text, int64_t *day_out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(text != NULL && day_out != NULL);
    if (strnlen(text, 11) != 10) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "not a date: expected YYYY-MM-DD");
    }
    return clock_parse_date(text, false, day_out, errstr, errstr_size);
}

struct ss_clock_id {
    pthread_mutex_t mutex;
    unsigned instance;
    bool started;       /* false until the first id */
    int64_t last_ticks; /* ms since SS_CLOCK_ID_EPOCH_MS of the last id */
    unsigned last_sequence;
};

ss_err_t ss_clock_id_create(unsigned instance, ss_clock_id_t **out, char *errstr,
                            size_t errstr_size)
{
    SS_ASSERT(out != NULL);
    *out = NULL;
    if (instance > SS_CLOCK_ID_INSTANCE_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "id instance %u is out of range 0..%u", instance,
                          SS_CLOCK_ID_INSTANCE_MAX);
    }
    ss_clock_id_t *generator = calloc(1, sizeof(*generator));
    if (generator == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate id generator");
    }
    const int rc = pthread_mutex_init(&generator->mutex, NULL);
    if (rc != 0) {
        free(generator);
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "could not initialise id generator mutex: %s", strerror(rc));
    }
    generator->instance = instance;
    *out = generator;
    return SS_OK;
}

void ss_clock_id_destroy(ss_clock_id_t *generator)
{
    if (generator == NULL) {
        return;
    }
    pthread_mutex_destroy(&generator->mutex);
    free(generator);
}

static void clock_id_lock(ss_clock_id_t *generator)
{
    const int rc = pthread_mutex_lock(&generator->mutex);
    SS_ASSERT(rc == 0);
}

static void clock_id_unlock(ss_clock_id_t *generator)
{
    const int rc = pthread_mutex_unlock(&generator->mutex);
    SS_ASSERT(rc == 0);
}

static int64_t clock_id_ticks(int64_t unix_ms)
{
    return unix_ms > SS_CLOCK_ID_EPOCH_MS ? unix_ms - SS_CLOCK_ID_EPOCH_MS : 0;
}

/* With the mutex held: advances the state to the next id for the given time. */
static int64_t clock_id_next_locked(ss_clock_id_t *generator, int64_t now_unix_ms)
{
    const int64_t ticks = clock_id_ticks(now_unix_ms);
    if (!generator->started || ticks > generator->last_ticks) {
        generator->started = true;
        generator->last_ticks = ticks;
        generator->last_sequence = 0;
    } else if (generator->last_sequence < SS_CLOCK_ID_SEQUENCE_MAX) {
        generator->last_sequence++;
    } else {
        /* This millisecond is used up and the clock has not moved on: borrow the next one. */
        generator->last_ticks++;
        generator->last_sequence = 0;
    }
    SS_ASSERT(generator->last_ticks < (INT64_C(1) << CLOCK_ID_TIMESTAMP_BITS));
    return generator->last_ticks << 22 | (int64_t)generator->instance << 12 |
           (int64_t)generator->last_sequence;
}

int64_t ss_clock_id_next_at(ss_clock_id_t *generator, int64_t now_unix_ms)
{
    SS_ASSERT(generator != NULL);
    clock_id_lock(generator);
    const int64_t id = clock_id_next_locked(generator, now_unix_ms);
    clock_id_unlock(generator);
    return id;
}

int64_t ss_clock_id_next(ss_clock_id_t *generator)
{
    SS_ASSERT(generator != NULL);
    clock_id_lock(generator);
    int64_t now = ss_clock_now_ms();
    /*
     * Only when the current millisecond is used up and the clock still shows it, wait for it
     * to tick; a clock that stepped backwards is not waited for (next_locked borrows).
     */
    for (int wait = 0; wait < CLOCK_ID_WAITS_MAX; wait++) {
        const bool exhausted = generator->started &&
                               generator->last_sequence == SS_CLOCK_ID_SEQUENCE_MAX &&
                               clock_id_ticks(now) == generator->last_ticks;
        if (!exhausted) {
            break;
        }
        const struct timespec step = {.tv_sec = 0, .tv_nsec = CLOCK_ID_WAIT_STEP_US * 1000};
        (void)nanosleep(&step, NULL); /* an early wake-up only means one more check */
        now = ss_clock_now_ms();
    }
    const int64_t id = clock_id_next_locked(generator, now);
    clock_id_unlock(generator);
    return id;
}

void ss_clock_id_split(int64_t id, int64_t *unix_ms_out, unsigned *instance_out,
                       unsigned *sequence_out)
{
    if (unix_ms_out != NULL) {
        *unix_ms_out = (id >> 22) + SS_CLOCK_ID_EPOCH_MS;
    }
    if (instance_out != NULL) {
        *instance_out = (unsigned)(id >> 12) & SS_CLOCK_ID_INSTANCE_MAX;
    }
    if (sequence_out != NULL) {
        *sequence_out = (unsigned)id & SS_CLOCK_ID_SEQUENCE_MAX;
    }
}

int64_t ss_clock_backoff_ms(int64_t min_ms, int64_t max_ms, int doublings)
{
    int64_t ms = min_ms;
    for (int i = 0; i < doublings && ms < max_ms; i++) {
        ms *= 2;
    }
    return ms < max_ms ? ms : max_ms;
}
