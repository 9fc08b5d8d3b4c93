/*
 * The circuit breaker of ss/breaker.h: a flag and a retry time under one mutex.
 */
#include "ss/breaker.h"

#include "ss/assert.h"

void ss_breaker_init(ss_breaker_t *breaker, int64_t retry_ms)
{
    SS_ASSERT(breaker != NULL);
    SS_ASSERT(retry_ms >= 1 && retry_ms <= SS_BREAKER_RETRY_MS_MAX);
    int rc = pthread_mutex_init(&breaker->mutex, NULL);
    SS_ASSERT(rc == 0);
    breaker->open = false;
    breaker->retry_at_ms = 0;
    breaker->retry_ms = retry_ms;
    breaker->failures_total = 0;
}

void ss_breaker_destroy(ss_breaker_t *breaker)
{
    if (breaker != NULL) {
        pthread_mutex_destroy(&breaker->mutex);
    }
}

bool ss_breaker_allow(ss_breaker_t *breaker, int64_t now_ms)
{
    pthread_mutex_lock(&breaker->mutex);
    bool allowed = !breaker->open || now_ms >= breaker->retry_at_ms;
    if (breaker->open && allowed) {
        /* This caller probes; should it never report, the next one goes retry_ms later. */
        breaker->retry_at_ms = now_ms + breaker->retry_ms;
    }
    pthread_mutex_unlock(&breaker->mutex);
    return allowed;
}

bool ss_breaker_is_available(ss_breaker_t *breaker, int64_t now_ms)
{
    pthread_mutex_lock(&breaker->mutex);
    bool available = !breaker->open || now_ms >= breaker->retry_at_ms;
    pthread_mutex_unlock(&breaker->mutex);
    return available;
}

void ss_breaker_success(ss_breaker_t *breaker)
{
    pthread_mutex_lock(&breaker->mutex);
    breaker->open = false;
    pthread_mutex_unlock(&breaker->mutex);
}

void ss_breaker_failure(ss_breaker_t *breaker, int64_t now_ms)
{
    pthread_mutex_lock(&breaker->mutex);
    breaker->open = true;
    breaker->retry_at_ms = now_ms + breaker->retry_ms;
    breaker->failures_total++;
    pthread_mutex_unlock(&breaker->mutex);
}

uint64_t ss_breaker_failures(ss_breaker_t *breaker)
{
    pthread_mutex_lock(&breaker->mutex);
    uint64_t failures = breaker->failures_total;
    pthread_mutex_unlock(&breaker->mutex);
    return failures;
}
