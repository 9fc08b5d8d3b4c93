/*
 * Unit tests for lib/src/pool.c with counting callbacks and real threads: lazy creation and
 * reuse, never more than size_max live resources under contention, timeouts when exhausted,
 * waiters woken by a release, broken resources destroyed, create failures reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The callbacks' view: how many resources exist now and at most, and what happened. */
typedef struct counters {
    atomic_int live;
    atomic_int live_peak;
    atomic_int created;
    atomic_int destroyed;
    atomic_int failures_to_inject; /* create fails while this is positive */
} counters_t;

typedef struct resource {
    int id;
    atomic_int users; /* must never exceed 1: a resource is held by one caller at a time */
} resource_t;

static ss_err_t counting_create(void *opaque, void **resource_out, char *errstr, size_t errstr_size)
{
    counters_t *counters = opaque;
    if (atomic_load(&counters->failures_to_inject) > 0) {
        atomic_fetch_sub(&counters->failures_to_inject, 1);
        return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size, "injected create failure");
    }
    /* Runs on worker threads too, where cmocka's assertions must not be used. */
    resource_t *resource = calloc(1, sizeof(*resource));
    if (resource == NULL) {
        abort();
    }
    resource->id = atomic_fetch_add(&counters->created, 1) + 1;
    int live = atomic_fetch_add(&counters->live, 1) + 1;
    int peak = atomic_load(&counters->live_peak);
    while (live > peak && !atomic_compare_exchange_weak(&counters->live_peak, &peak, live)) {
    }
    *resource_out = resource;
    return SS_OK;
}

static void counting_destroy(void *opaque, void *resource)
{
    counters_t *counters = opaque;
    atomic_fetch_sub(&counters->live, 1);
    atomic_fetch_add(&counters->destroyed, 1);
    free(resource);
}

static ss_pool_t *make_pool(size_t size_max, counters_t *counters)
{
    memset(counters, 0, sizeof(*counters));
    ss_pool_t *pool = NULL;
    char errstr[128];
    assert_int_equal(ss_pool_create(size_max, counting_create, counting_destroy, counters, &pool,
                                    errstr, sizeof(errstr)),
                     SS_OK);
    assert_non_null(pool);
    return pool;
}

static void test_resources_are_created_lazily_and_reused(void **state)
{
    (void)state;
    counters_t counters;
    ss_pool_t *pool = make_pool(4, &counters);
    char errstr[128];
    assert_int_equal(atomic_load(&counters.created), 0);

    void *first = NULL;
    assert_int_equal(ss_pool_acquire(pool, 0, &first, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(atomic_load(&counters.created), 1);
    ss_pool_release(pool, first, false);

    void *again = NULL;
    assert_int_equal(ss_pool_acquire(pool, 0, &again, errstr, sizeof(errstr)), SS_OK);
    assert_ptr_equal(again, first);
    assert_int_equal(atomic_load(&counters.created), 1);

    void *second = NULL;
    assert_int_equal(ss_pool_acquire(pool, 0, &second, errstr, sizeof(errstr)), SS_OK);
    assert_ptr_not_equal(second, first);
    assert_int_equal(atomic_load(&counters.created), 2);

    ss_pool_stats_t stats;
    ss_pool_stats(pool, &stats);
    assert_int_equal(stats.live, 2);
    assert_int_equal(stats.checked_out, 2);
    assert_int_equal(stats.idle, 0);
    assert_int_equal(stats.size_max, 4);

    ss_pool_release(pool, again, false);
    ss_pool_release(pool, second, false);
    ss_pool_stats(pool, &stats);
    assert_int_equal(stats.idle, 2);
    assert_int_equal(stats.checked_out, 0);
    ss_pool_destroy(pool);
    assert_int_equal(atomic_load(&counters.destroyed), 2);
    assert_int_equal(atomic_load(&counters.live), 0);
}

static void test_acquire_times_out_when_every_resource_is_held(void **state)
{
    (void)state;
    counters_t counters;
    ss_pool_t *pool = make_pool(2, &counters);
    char errstr[128];
    void *a = NULL;
    void *b = NULL;
    void *c = NULL;
    assert_int_equal(ss_pool_acquire(pool, 0, &a, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pool_acquire(pool, 0, &b, errstr, sizeof(errstr)), SS_OK);

    assert_int_equal(ss_pool_acquire(pool, 0, &c, errstr, sizeof(errstr)), SS_ERR_TIMEOUT);
    assert_null(c);
    assert_non_null(strstr(errstr, "all 2 resources in use"));
    assert_int_equal(ss_pool_acquire(pool, 20, &c, errstr, sizeof(errstr)), SS_ERR_TIMEOUT);
    assert_null(c);

    ss_pool_stats_t stats;
    ss_pool_stats(pool, &stats);
    assert_int_equal(stats.timeouts_total, 2);
    assert_int_equal(stats.live, 2);
    assert_int_equal(atomic_load(&counters.created), 2);

    ss_pool_release(pool, a, false);
    assert_int_equal(ss_pool_acquire(pool, 0, &c, errstr, sizeof(errstr)), SS_OK);
    assert_ptr_equal(c, a);
    ss_pool_release(pool, b, false);
    ss_pool_release(pool, c, false);
    ss_pool_destroy(pool);
}

typedef struct waiter {
    ss_pool_t *pool;
    void *resource;
    ss_err_t err;
} waiter_t;

static void *waiter_main(void *arg)
{
    waiter_t *waiter = arg;
    char errstr[128];
    waiter->err = ss_pool_acquire(waiter->pool, SS_POOL_TIMEOUT_MS_MAX, &waiter->resource, errstr,
                                  sizeof(errstr));
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* Waits (bounded) until `count` callers are blocked in acquire. */
static void wait_for_waiters(ss_pool_t *pool, size_t count)
{
    ss_pool_stats_t stats;
    for (int attempt = 0; attempt < 60000; attempt++) {
        ss_pool_stats(pool, &stats);
        if (stats.waiting == count) {
            return;
        }
        sleep_ms(1);
    }
    fail_msg("no %zu waiters after a minute", count);
}

static void test_release_wakes_a_waiting_caller(void **state)
{
    (void)state;
    counters_t counters;
    ss_pool_t *pool = make_pool(1, &counters);
    char errstr[128];
    void *held = NULL;
    assert_int_equal(ss_pool_acquire(pool, 0, &held, errstr, sizeof(errstr)), SS_OK);

    waiter_t waiter = {.pool = pool, .resource = NULL, .err = SS_ERR_FATAL};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, waiter_main, &waiter), 0);
    wait_for_waiters(pool, 1);
    ss_pool_release(pool, held, false);
    assert_int_equal(pthread_join(thread, NULL), 0);

    assert_int_equal(waiter.err, SS_OK);
    assert_ptr_equal(waiter.resource, held);
    assert_int_equal(atomic_load(&counters.created), 1);
    ss_pool_release(pool, waiter.resource, false);
    ss_pool_destroy(pool);
}

static void test_broken_release_destroys_it_and_a_waiter_gets_a_new_one(void **state)
{
    (void)state;
    counters_t counters;
    ss_pool_t *pool = make_pool(1, &counters);
    char errstr[128];
    void *held = NULL;
    assert_int_equal(ss_pool_acquire(pool, 0, &held, errstr, sizeof(errstr)), SS_OK);
    int first_id = ((resource_t *)held)->id;

    waiter_t waiter = {.pool = pool, .resource = NULL, .err = SS_ERR_FATAL};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, waiter_main, &waiter), 0);
    wait_for_waiters(pool, 1);
    ss_pool_release(pool, held, true);
    assert_int_equal(pthread_join(thread, NULL), 0);

    assert_int_equal(waiter.err, SS_OK);
    assert_int_equal(atomic_load(&counters.destroyed), 1);
    assert_int_equal(atomic_load(&counters.created), 2);
    assert_int_not_equal(((resource_t *)waiter.resource)->id, first_id);
    assert_int_equal(atomic_load(&counters.live_peak), 1);

    ss_pool_stats_t stats;
    ss_pool_stats(pool, &stats);
    assert_int_equal(stats.destroyed_total, 1);
    assert_int_equal(stats.created_total, 2);
    assert_int_equal(stats.live, 1);
    ss_pool_release(pool, waiter.resource, false);
    ss_pool_destroy(pool);
}

static void test_create_failure_is_reported_and_frees_the_slot(void **state)
{
    (void)state;
    counters_t counters;
    ss_pool_t *pool = make_pool(1, &counters);
    atomic_store(&counters.failures_to_inject, 1);
    char errstr[128] = "";
    void *resource = NULL;
    assert_int_equal(ss_pool_acquire(pool, 0, &resource, errstr, sizeof(errstr)), SS_ERR_RETRIABLE);
    assert_null(resource);
    assert_string_equal(errstr, "injected create failure");

    ss_pool_stats_t stats;
    ss_pool_stats(pool, &stats);
    assert_int_equal(stats.live, 0);
    assert_int_equal(stats.checked_out, 0);

    assert_int_equal(ss_pool_acquire(pool, 0, &resource, errstr, sizeof(errstr)), SS_OK);
    assert_non_null(resource);
    ss_pool_release(pool, resource, false);
    ss_pool_destroy(pool);
}

/* ---- contention -------------------------------------------------------------------------- */

#define CONTENTION_THREADS 8
#define CONTENTION_ROUNDS 300
#define CONTENTION_POOL_SIZE 3

typedef struct worker {
    ss_pool_t *pool;
    atomic_int *holders; /* callers holding any resource now */
    atomic_int *holders_peak;
    int acquired;
    int index;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *worker = arg;
    char errstr[128];
    for (int round = 0; round < CONTENTION_ROUNDS; round++) {
        void *handle = NULL;
        ss_err_t err =
            ss_pool_acquire(worker->pool, SS_POOL_TIMEOUT_MS_MAX, &handle, errstr, sizeof(errstr));
        if (err != SS_OK) {
            continue; /* counted as missing below */
        }
        resource_t *resource = handle;
        int holders = atomic_fetch_add(worker->holders, 1) + 1;
        int peak = atomic_load(worker->holders_peak);
        while (holders > peak &&
               !atomic_compare_exchange_weak(worker->holders_peak, &peak, holders)) {
        }
        if (atomic_fetch_add(&resource->users, 1) != 0) {
            worker->acquired = -1000000; /* two callers share one resource */
        }
        worker->acquired++;
        atomic_fetch_sub(&resource->users, 1);
        atomic_fetch_sub(worker->holders, 1);
        /* Every 7th round reports its resource broken. */
        ss_pool_release(worker->pool, handle, (round + worker->index) % 7 == 0);
    }
    return NULL;
}

static void test_threads_never_see_more_than_size_max_resources(void **state)
{
    (void)state;
    counters_t counters;
    ss_pool_t *pool = make_pool(CONTENTION_POOL_SIZE, &counters);
    atomic_int holders = 0;
    atomic_int holders_peak = 0;
    worker_t workers[CONTENTION_THREADS];
    pthread_t threads[CONTENTION_THREADS];

    for (int i = 0; i < CONTENTION_THREADS; i++) {
        workers[i] = (worker_t){.pool = pool,
                                .holders = &holders,
                                .holders_peak = &holders_peak,
                                .acquired = 0,
                                .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < CONTENTION_THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    }

    for (int i = 0; i < CONTENTION_THREADS; i++) {
        assert_int_equal(workers[i].acquired, CONTENTION_ROUNDS);
    }
    assert_true(atomic_load(&counters.live_peak) <= CONTENTION_POOL_SIZE);
    assert_true(atomic_load(&holders_peak) <= CONTENTION_POOL_SIZE);

    ss_pool_stats_t stats;
    ss_pool_stats(pool, &stats);
    assert_int_equal(stats.checked_out, 0);
    assert_int_equal(stats.live, (size_t)atomic_load(&counters.live));
    assert_int_equal(stats.created_total, (size_t)atomic_load(&counters.created));
    assert_int_equal(stats.destroyed_total, (size_t)atomic_load(&counters.destroyed));
    /* (round + index) % 7 == 0 happens 43 times per thread over 300 rounds at most. */
    assert_true(stats.destroyed_total > 0);
    ss_pool_destroy(pool);
    assert_int_equal(atomic_load(&counters.live), 0);
}

static void test_invalid_arguments_are_refused(void **state)
{
    (void)state;
    counters_t counters;
    memset(&counters, 0, sizeof(counters));
    char errstr[128];
    ss_pool_t *pool = NULL;
    assert_int_equal(ss_pool_create(0, counting_create, counting_destroy, &counters, &pool, errstr,
                                    sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_pool_create(SS_POOL_SIZE_MAX + 1, counting_create, counting_destroy,
                                    &counters, &pool, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(
        ss_pool_create(1, NULL, counting_destroy, &counters, &pool, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_null(pool);

    pool = make_pool(1, &counters);
    void *resource = NULL;
    assert_int_equal(ss_pool_acquire(pool, -1, &resource, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(
        ss_pool_acquire(pool, SS_POOL_TIMEOUT_MS_MAX + 1, &resource, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_int_equal(atomic_load(&counters.created), 0);
    ss_pool_destroy(pool);
    ss_pool_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resources_are_created_lazily_and_reused),
        cmocka_unit_test(test_acquire_times_out_when_every_resource_is_held),
        cmocka_unit_test(test_release_wakes_a_waiting_caller),
        cmocka_unit_test(test_broken_release_destroys_it_and_a_waiter_gets_a_new_one),
        cmocka_unit_test(test_create_failure_is_reported_and_frees_the_slot),
        cmocka_unit_test(test_threads_never_see_more_than_size_max_resources),
        cmocka_unit_test(test_invalid_arguments_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
