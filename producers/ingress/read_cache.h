/*
 * How the read endpoints (products.c, popular.c) use Redis: as a cache that may fail at any
 * moment. A request borrows a pooled connection only while Redis has not failed in the last
 * SS_INGRESS_CACHE_REST_MS; a connection failure or timeout starts such a rest, during which
 * every request goes straight to PostgreSQL instead of waiting for a timeout of its own. An
 * error reply (a key of another type) is the data's problem, not Redis's, and starts no rest.
 *
 * Thread-safe: the rest is one atomic deadline shared by the process's HTTP threads.
 */
#ifndef SS_INGRESS_READ_CACHE_H
#define SS_INGRESS_READ_CACHE_H

#include "ingress.h"

/* How long Redis is left alone after a connection failure or timeout. */
#define SS_INGRESS_CACHE_REST_MS 1000

/*
 * A pooled Redis connection, or NULL when Redis is resting or cannot be reached now (then the
 * caller reads PostgreSQL). Give a connection back with ss_ingress_cache_release().
 */
ss_redis_t *ss_ingress_cache_acquire(ss_ingress_t *ingress);

/*
 * Gives redis back (NULL is a no-op). A connection that broke while it was borrowed (a lost
 * connection or a timeout, see ss/redis.h) starts a rest.
 */
void ss_ingress_cache_release(ss_ingress_t *ingress, ss_redis_t *redis);

/* True while Redis is resting (for tests and logs). */
bool ss_ingress_cache_resting(void);

#endif
