/*
 * A circuit breaker for a dependency (the ingress's PostgreSQL): after a failure that says the
 * server is unreachable or hangs (a connect that failed, a connection lost, a wait that timed
 * out), callers are refused at once for retry_ms instead of each waiting out its own timeout,
 * so a dead dependency cannot hold the HTTP threads. Once retry_ms has passed one caller is let
 * through as a probe (and the next one retry_ms later, if it never reports); its success closes
 * the breaker, its failure opens it for another retry_ms.
 *
 *   CLOSED --failure--> OPEN (until now + retry_ms) --allow after the deadline--> one probe
 *     ^                   |  (the deadline moves retry_ms on, so one caller per retry_ms)
 *     '----success--------'
 *
 * The logic is pure: every call takes the monotonic time in ms from the caller. Thread-safe
 * (one mutex). The struct is caller-owned (embedded or static); its fields are private.
 */
#ifndef SS_BREAKER_H
#define SS_BREAKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define SS_BREAKER_RETRY_MS_MAX 600000

typedef struct ss_breaker {
    pthread_mutex_t mutex;
    bool open;
    int64_t retry_at_ms; /* while open: when the next probe may go */
    int64_t retry_ms;
    uint64_t failures_total;
} ss_breaker_t;

/* A closed breaker that stays open retry_ms (1..SS_BREAKER_RETRY_MS_MAX) after a failure. */
void ss_breaker_init(ss_breaker_t *breaker, int64_t retry_ms);
void ss_breaker_destroy(ss_breaker_t *breaker);

/*
 * Whether a caller may use the dependency now: true when closed, or when open and the retry
 * time has come (this caller is the probe; the next probe is retry_ms later). The caller then
 * reports the outcome with ss_breaker_success() or ss_breaker_failure().
 */
bool ss_breaker_allow(ss_breaker_t *breaker, int64_t now_ms);

/* Like ss_breaker_allow() without taking the probe: false while open and not yet due. */
bool ss_breaker_is_available(ss_breaker_t *breaker, int64_t now_ms);

/* The dependency answered: closed. */
void ss_breaker_success(ss_breaker_t *breaker);

/* The dependency is unreachable or hangs: open until now_ms + retry_ms. */
void ss_breaker_failure(ss_breaker_t *breaker, int64_t now_ms);

/* Failures reported since init (for logs and tests). */
uint64_t ss_breaker_failures(ss_breaker_t *breaker);

#endif
