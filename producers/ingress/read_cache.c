/*
 * The read endpoints' access to Redis (read_cache.h): the pool, plus a process-wide rest after
 * a connection failure so that a Redis that hangs costs one timeout a second, not one a request.
 */
#include "read_cache.h"

#include "ss/clock.h"
#include "ss/log.h"

#include <stdatomic.h>

/* Monotonic ms until which Redis is left alone; 0 when it is not resting. */
static _Atomic int64_t read_cache_rest_until_ms = 0;

static bool read_cache_connection_failure(ss_err_t err)
{
    return err == SS_ERR_RETRIABLE || err == SS_ERR_TIMEOUT;
}

static void read_cache_rest(const char *errstr)
{
    int64_t until = ss_clock_monotonic_ms() + SS_INGRESS_CACHE_REST_MS;
    int64_t previous = atomic_exchange(&read_cache_rest_until_ms, until);
    if (previous < ss_clock_monotonic_ms()) {
        SS_LOG_WARN(SS_INGRESS_COMPONENT,
                    "redis cache unavailable, reading postgresql error=\"%s\"", errstr);
    }
}

bool ss_ingress_cache_resting(void)
{
    return ss_clock_monotonic_ms() < atomic_load(&read_cache_rest_until_ms);
}

ss_redis_t *ss_ingress_cache_acquire(ss_ingress_t *ingress)
{
    if (ss_ingress_cache_resting()) {
        return NULL;
    }
    ss_redis_t *redis = NULL;
    char errstr[256];
    ss_err_t err = ss_ingress_redis_acquire(ingress, &redis, errstr, sizeof(errstr));
    if (err != SS_OK) {
        if (read_cache_connection_failure(err)) {
            read_cache_rest(errstr);
        }
        return NULL;
    }
    return redis;
}

void ss_ingress_cache_release(ss_ingress_t *ingress, ss_redis_t *redis)
{
    if (redis == NULL) {
        return;
    }
    if (ss_redis_is_broken(redis)) {
        read_cache_rest("the connection broke during a request");
    }
    ss_ingress_redis_release(ingress, redis);
}
