/*
 * A generic, thread-safe pool of up to N resources (PostgreSQL or Redis connections for the
 * ingress threads). Resources are created lazily by a callback when none is idle and fewer
 * than N exist; a caller that finds the pool exhausted waits on a condition variable for at
 * most its timeout, then gets SS_ERR_TIMEOUT. A resource released as broken is destroyed, which
 * frees its slot for a fresh one.
 *
 * Typical use:
 *   void *resource;
 *   if (ss_pool_acquire(pool, 100, &resource, errstr, sizeof(errstr)) == SS_OK) {
 *       ss_err_t err = use(resource);
 *       ss_pool_release(pool, resource, err == SS_ERR_RETRIABLE && is_broken(resource));
 *   }
 */
#ifndef SS_POOL_H
#define SS_POOL_H

#include "ss/error.h"

#include <stdbool.h>
#include <stddef.h>

#define SS_POOL_SIZE_MAX 1024
/* The longest an acquire may wait. */
#define SS_POOL_TIMEOUT_MS_MAX 600000

/*
 * Creates one resource into *resource_out (never NULL on SS_OK). Called without the pool's
 * lock held, so it may block (connect). Its error is returned by ss_pool_acquire().
 */
typedef ss_err_t (*ss_pool_create_fn)(void *opaque, void **resource_out, char *errstr,
                                      size_t errstr_size);

/* Destroys one resource. Called without the pool's lock held. */
typedef void (*ss_pool_destroy_fn)(void *opaque, void *resource);

typedef struct ss_pool ss_pool_t;

typedef struct ss_pool_stats {
    size_t size_max;        /* N */
    size_t live;            /* created and not destroyed, including ones being created */
    size_t idle;            /* live and waiting in the pool */
    size_t checked_out;     /* live and held by callers */
    size_t waiting;         /* callers blocked in ss_pool_acquire right now */
    size_t created_total;   /* successful create callbacks since ss_pool_create */
    size_t destroyed_total; /* destroy callbacks since ss_pool_create */
    size_t timeouts_total;  /* acquires that gave up with SS_ERR_TIMEOUT */
} ss_pool_stats_t;

/*
 * Creates an empty pool of at most size_max (1..SS_POOL_SIZE_MAX) resources. opaque is passed
 * to both callbacks and must outlive the pool. On SS_OK the caller frees *out with
 * ss_pool_destroy().
 */
ss_err_t ss_pool_create(size_t size_max, ss_pool_create_fn create, ss_pool_destroy_fn destroy,
                        void *opaque, ss_pool_t **out, char *errstr, size_t errstr_size);

/*
 * Destroys every idle resource and the pool. Every acquired resource must have been released
 * first (a checked-out resource at this point is a programmer error and aborts). NULL is a
 * no-op.
 */
void ss_pool_destroy(ss_pool_t *pool);

/*
 * Checks a resource out: an idle one (most recently released first), else a new one from the
 * create callback when fewer than size_max exist, else waits up to timeout_ms
 * (0..SS_POOL_TIMEOUT_MS_MAX; 0 means do not wait) for a release: SS_ERR_TIMEOUT.
 * A create failure returns the callback's error and frees the slot. On SS_OK *resource_out
 * belongs to the caller until ss_pool_release().
 */
ss_err_t ss_pool_acquire(ss_pool_t *pool, int timeout_ms, void **resource_out, char *errstr,
                         size_t errstr_size);

/*
 * Checks a resource back in. broken: destroy it (its slot is free for a new one) instead of
 * keeping it. Wakes one waiter either way.
 */
void ss_pool_release(ss_pool_t *pool, void *resource, bool broken);

/* A consistent snapshot of the counters. */
void ss_pool_stats(ss_pool_t *pool, ss_pool_stats_t *out);

#endif
