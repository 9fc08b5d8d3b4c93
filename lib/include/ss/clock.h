/*
 * Time: wall-clock and monotonic readings, ISO 8601 UTC formatting and strict parsing, UTC day
 * numbers and `YYYY-MM-DD` strings (the ranking keys its sorted sets by day), and a generator
 * of unique, increasing 63-bit ids for orders and requests.
 *
 * Every timestamp is an int64_t count of milliseconds (or microseconds where the name says
 * so) since 1970-01-01T00:00:00Z, ignoring leap seconds like POSIX time. Formatting and parsing
 * cover years 1970..9999: SS_CLOCK_MS_MIN..SS_CLOCK_MS_MAX.
 */
#ifndef SS_CLOCK_H
#define SS_CLOCK_H

#include "ss/error.h"

#include <stdint.h>

#define SS_CLOCK_DAY_MS INT64_C(86400000)
/* 1970-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z. */
#define SS_CLOCK_MS_MIN INT64_C(0)
#define SS_CLOCK_MS_MAX INT64_C(253402300799999)

/* Buffer sizes, NUL included: "2026-12-31T23:59:59Z", "2026-12-31T23:59:59.123Z", "2026-12-31". */
#define SS_CLOCK_ISO8601_SIZE 21
#define SS_CLOCK_ISO8601_MS_SIZE 25
#define SS_CLOCK_DAY_SIZE 11

/* Wall-clock time (CLOCK_REALTIME): for timestamps that leave the process. */
int64_t ss_clock_now_ms(void);
int64_t ss_clock_now_us(void);

/* Monotonic time (CLOCK_MONOTONIC), arbitrary origin: for deadlines and durations only. */
int64_t ss_clock_monotonic_ms(void);
int64_t ss_clock_monotonic_us(void);

/*
 * An exponential backoff: min_ms doubled `doublings` times, at most max_ms (pure). Negative
 * doublings count as none.
 */
int64_t ss_clock_backoff_ms(int64_t min_ms, int64_t max_ms, int doublings);

/*
 * Writes "YYYY-MM-DDTHH:MM:SSZ" (the milliseconds are dropped, not rounded) or, with _ms,
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" into out. SS_ERR_INVALID when unix_ms is outside
 * SS_CLOCK_MS_MIN..SS_CLOCK_MS_MAX or out_size is below SS_CLOCK_ISO8601_SIZE /
 * SS_CLOCK_ISO8601_MS_SIZE; out is then an empty string when out_size > 0.
 */
ss_err_t ss_clock_format_iso8601(int64_t unix_ms, char *out, size_t out_size, char *errstr,
                                 size_t errstr_size);
ss_err_t ss_clock_format_iso8601_ms(int64_t unix_ms, char *out, size_t out_size, char *errstr,
                                    size_t errstr_size);

/*
 * Strictly parses "YYYY-MM-DDTHH:MM:SS[.f]" followed by "Z" or "+00:00" (upper-case T and Z;
 * 1 to 9 fraction digits, truncated to milliseconds) into *unix_ms_out. Refuses any other
 * offset, missing parts, trailing characters, impossible dates (2025-02-29), hour 24 and leap
 * second 60, and years outside 1970..9999. On SS_ERR_INVALID errstr says why, e.g.
 * `not an ISO 8601 UTC time: day 30 does not exist in 2025-02`; *unix_ms_out is untouched.
 */
ss_err_t ss_clock_parse_iso8601(const char *text, int64_t *unix_ms_out, char *errstr,
                                size_t errstr_size);

/* The UTC day number of a timestamp: days since 1970-01-01 (floor division). */
int64_t ss_clock_day_from_ms(int64_t unix_ms);

/* The first millisecond of a UTC day number. */
int64_t ss_clock_day_start_ms(int64_t day);

/*
 * Writes the UTC date of unix_ms as "YYYY-MM-DD". SS_ERR_INVALID when unix_ms is out of range
 * or out_size is below SS_CLOCK_DAY_SIZE.
 */
ss_err_t ss_clock_format_day(int64_t unix_ms, char *out, size_t out_size, char *errstr,
                             size_t errstr_size);

/* Strictly parses "YYYY-MM-DD" (years 1970..9999) into a UTC day number. */
ss_err_t ss_clock_parse_day(const char *text, int64_t *day_out, char *errstr, size_t errstr_size);

/*
 * Id generator. An id is positive and fits 63 bits:
 *     (unix_ms - SS_CLOCK_ID_EPOCH_MS) << 22 | instance << 12 | sequence
 * with a 10-bit instance (0..1023) and a 12-bit sequence within the millisecond. Ids from one
 * generator are strictly increasing; generators with distinct instances never collide. When
 * the 4096 ids of a millisecond are used up, ss_clock_id_next() waits for the clock's next
 * millisecond; if the wall clock stepped backwards it keeps counting from the last timestamp
 * it used (so ids stay increasing) rather than wait for the clock to catch up.
 * The custom epoch (2024-01-01T00:00:00Z) makes the 41-bit timestamp last until 2093.
 * Thread-safe (an internal mutex).
 */
#define SS_CLOCK_ID_EPOCH_MS INT64_C(1704067200000)
#define SS_CLOCK_ID_INSTANCE_MAX 1023u
#define SS_CLOCK_ID_SEQUENCE_MAX 4095u

typedef struct ss_clock_id ss_clock_id_t;

/* Caller frees with ss_clock_id_destroy(). SS_ERR_INVALID when instance > 1023. */
ss_err_t ss_clock_id_create(unsigned instance, ss_clock_id_t **out, char *errstr,
                            size_t errstr_size);
void ss_clock_id_destroy(ss_clock_id_t *generator);

/* The next id, from the wall clock. */
int64_t ss_clock_id_next(ss_clock_id_t *generator);

/*
 * The next id as if the wall clock read now_unix_ms (tests and replays). Never waits: when the
 * millisecond's sequence is used up it moves on to the next millisecond itself.
 */
int64_t ss_clock_id_next_at(ss_clock_id_t *generator, int64_t now_unix_ms);

/* Splits an id into its Unix time in ms, instance and sequence (any pointer may be NULL). */
void ss_clock_id_split(int64_t id, int64_t *unix_ms_out, unsigned *instance_out,
                       unsigned *sequence_out);

#endif
