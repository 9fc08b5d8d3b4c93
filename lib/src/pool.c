/*
 * A bounded pool of lazily created resources shared by threads. One mutex guards the counters
 * and the stack of idle resources; a condition variable on the monotonic clock wakes callers
 * waiting for a release. The create and destroy callbacks run without the lock (they connect
 * and disconnect), and a slot is only given back after its resource is destroyed, so no more
 * than size_max resources ever exist at once.
 */
#include "ss/pool.h"

#include "ss/assert.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* Wake-ups an acquire tolerates before giving up; only spurious wake-ups could reach it. */
#define POOL_WAKEUPS_MAX 1000000

struct ss_pool {
    pthread_mutex_t mutex;
    pthread_cond_t released;
    ss_pool_create_fn create;
    ss_pool_destroy_fn destroy;
    void *opaque;
    void **idle; /* stack of idle resources, size_max entries */
    size_t idle_count;
    size_t size_max;
    size_t live;
    size_t checked_out;
    size_t waiting;
    size_t created_total;
    size_t destroyed_total;
    size_t timeouts_total;
};

ss_err_t ss_pool_create(size_t size_max, ss_pool_create_fn create, ss_pool_destroy_fn destroy,
                        void *opaque, ss_pool_t **out, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_pool_t *pool = NULL;
    pthread_condattr_t condattr;
    bool condattr_ready = false;
    bool mutex_ready = false;

    if (out == NULL || create == NULL || destroy == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not create pool: out, create and destroy are required");
    }
    *out = NULL;
    if (size_max < 1 || size_max > SS_POOL_SIZE_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not create pool: size %zu is outside 1..%d", size_max,
                          SS_POOL_SIZE_MAX);
    }

    pool = calloc(1, sizeof(*pool));
    if (pool == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not create pool: no memory");
        goto cleanup;
    }
    pool->idle = calloc(size_max, sizeof(*pool->idle));
    if (pool->idle == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not create pool: no memory");
        goto cleanup;
    }
    if (pthread_mutex_init(&pool->mutex, NULL) != 0) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                         "could not create pool: mutex initialisation failed");
        goto cleanup;
    }
    mutex_ready = true;
    if (pthread_condattr_init(&condattr) != 0) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                         "could not create pool: condattr initialisation failed");
        goto cleanup;
    }
    condattr_ready = true;
    if (pthread_condattr_setclock(&condattr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&pool->released, &condattr) != 0) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                         "could not create pool: condition variable initialisation failed");
        goto cleanup;
    }
    pool->create = create;
    pool->destroy = destroy;
    pool->opaque = opaque;
    pool->size_max = size_max;
    *out = pool;
    pool = NULL;

cleanup:
    if (condattr_ready) {
        pthread_condattr_destroy(&condattr);
    }
    if (pool != NULL) {
        if (mutex_ready) {
            pthread_mutex_destroy(&pool->mutex);
        }
        free(pool->idle);
        free(pool);
    }
    return err;
}

void ss_pool_destroy(ss_pool_t *pool)
{
    if (pool == NULL) {
        return;
    }
    pthread_mutex_lock(&pool->mutex);
    SS_ASSERT(pool->checked_out == 0);
    pthread_mutex_unlock(&pool->mutex);

    for (size_t i = 0; i < pool->idle_count; i++) {
        pool->destroy(pool->opaque, pool->idle[i]);
    }
    pthread_cond_destroy(&pool->released);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->idle);
    free(pool);
}

/* now + timeout_ms on the monotonic clock, for pthread_cond_timedwait. */
static struct timespec pool_deadline(int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

ss_err_t ss_pool_acquire(ss_pool_t *pool, int timeout_ms, void **resource_out, char *errstr,
                         size_t errstr_size)
{
    SS_ASSERT(pool != NULL);
    SS_ASSERT(resource_out != NULL);
    *resource_out = NULL;
    if (timeout_ms < 0 || timeout_ms > SS_POOL_TIMEOUT_MS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not acquire from pool: timeout %d ms is outside 0..%d", timeout_ms,
                          SS_POOL_TIMEOUT_MS_MAX);
    }

    struct timespec deadline = pool_deadline(timeout_ms);
    bool may_create = false;
    bool timed_out = false;

    pthread_mutex_lock(&pool->mutex);
    for (int wakeups = 0;; wakeups++) {
        if (pool->idle_count > 0) {
            pool->idle_count--;
            *resource_out = pool->idle[pool->idle_count];
            pool->idle[pool->idle_count] = NULL;
            pool->checked_out++;
            break;
        }
        if (pool->live < pool->size_max) {
            /* Reserve the slot now; create without the lock below. */
            pool->live++;
            pool->checked_out++;
            may_create = true;
            break;
        }
        if (timed_out || timeout_ms == 0 || wakeups >= POOL_WAKEUPS_MAX) {
            pool->timeouts_total++;
            pthread_mutex_unlock(&pool->mutex);
            return ss_err_set(SS_ERR_TIMEOUT, errstr, errstr_size,
                              "could not acquire from pool: all %zu resources in use after %d ms",
                              pool->size_max, timeout_ms);
        }
        pool->waiting++;
        int rc = pthread_cond_timedwait(&pool->released, &pool->mutex, &deadline);
        pool->waiting--;
        if (rc == ETIMEDOUT) {
            /* One more look: a release may have raced with the deadline. */
            timed_out = true;
        }
    }
    pthread_mutex_unlock(&pool->mutex);

    if (!may_create) {
        return SS_OK;
    }

    void *resource = NULL;
    ss_err_t err = pool->create(pool->opaque, &resource, errstr, errstr_size);
    if (err == SS_OK && resource == NULL) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                         "could not acquire from pool: create callback returned no resource");
    }

    pthread_mutex_lock(&pool->mutex);
    if (err == SS_OK) {
        pool->created_total++;
    } else {
        pool->live--;
        pool->checked_out--;
        pthread_cond_signal(&pool->released);
    }
    pthread_mutex_unlock(&pool->mutex);

    if (err == SS_OK) {
        *resource_out = resource;
    }
    return err;
}

void ss_pool_release(ss_pool_t *pool, void *resource, bool broken)
{
    SS_ASSERT(pool != NULL);
    SS_ASSERT(resource != NULL);

    if (broken) {
        /* Destroy before freeing the slot, so a waiter's new resource never makes N + 1. */
        pool->destroy(pool->opaque, resource);
        pthread_mutex_lock(&pool->mutex);
        SS_ASSERT(pool->checked_out > 0);
        pool->checked_out--;
        pool->live--;
        pool->destroyed_total++;
        pthread_cond_signal(&pool->released);
        pthread_mutex_unlock(&pool->mutex);
        return;
    }

    pthread_mutex_lock(&pool->mutex);
    SS_ASSERT(pool->checked_out > 0);
    SS_ASSERT(pool->idle_count < pool->size_max);
    pool->checked_out--;
    pool->idle[pool->idle_count] = resource;
    pool->idle_count++;
    pthread_cond_signal(&pool->released);
    pthread_mutex_unlock(&pool->mutex);
}

void ss_pool_stats(ss_pool_t *pool, ss_pool_stats_t *out)
{
    SS_ASSERT(pool != NULL);
    SS_ASSERT(out != NULL);
    pthread_mutex_lock(&pool->mutex);
    out->size_max = pool->size_max;
    out->live = pool->live;
    out->idle = pool->idle_count;
    out->checked_out = pool->checked_out;
    out->waiting = pool->waiting;
    out->created_total = pool->created_total;
    out->destroyed_total = pool->destroyed_total;
    out->timeouts_total = pool->timeouts_total;
    pthread_mutex_unlock(&pool->mutex);
}
